"""Test-wide setup: make ``tests/`` importable and register shared fixture modules."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

pytest_plugins = ["fixtures.gitserver", "fixtures.cluster", "fixtures.tether", "fixtures.server"]
