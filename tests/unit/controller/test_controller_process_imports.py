"""A `tether controller` process carries no other command's imports.

The controller's idle memory is most of its footprint at 1,000 apps. rich (the
other commands' tables), pygments (httpx's own command line) and ruamel.yaml (image
write-back edits) cost it about 6 MiB together while it serves nothing of theirs.
Run in a fresh interpreter: other tests in this process may have loaded them.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from click.testing import CliRunner
from tether.cli.main import cli
assert CliRunner().invoke(cli, ["controller", "--help"]).exit_code == 0
import tether.controller.server, tether.cli.http, tether.cli.serve  # what controller runs
print(" ".join(sorted(m for m in ("rich", "pygments", "ruamel") if m in sys.modules)) or "-")
assert CliRunner().invoke(cli, ["cluster", "--help"]).exit_code == 0
print("rich" in sys.modules)
"""


def test_the_controller_imports_no_table_printer_nor_yaml_editor() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split("\n")
    assert out[0] == "-"
    assert out[1] == "True"  # the commands that print tables still load rich when they run
