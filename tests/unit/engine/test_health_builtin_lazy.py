"""Built-in health rules cost nothing until an object they cover shows up.

Compiling a rule file loads the CEL runtime (about 10 MiB of the controller's
memory), so judging core kinds and CRDs no file covers must not load it. Run
in a fresh interpreter: other tests in this process may have loaded it already.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from tether.engine.health import builtin
core = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}}
unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
assert builtin.evaluate_builtin(core) is None
assert builtin.evaluate_builtin(unknown) is None
print("celpy" in sys.modules)
bucket = {
    "apiVersion": "s3.aws.upbound.io/v1beta1",
    "kind": "Bucket",
    "metadata": {"name": "b"},
    "status": {"conditions": [{"type": "Ready", "status": "True"},
                              {"type": "Synced", "status": "True"}]},
}
print(builtin.evaluate_builtin(bucket).status.value)
"""


def test_objects_no_rule_file_covers_do_not_load_the_cel_runtime() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out[0] == "False"
    assert out[1] == "Healthy"  # a family file (crossplane) still judges what it covers
