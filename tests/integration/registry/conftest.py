"""Registry-credential fixtures: a real docker-registry, moto's ECR, a kubelet plugin.

tests/conftest.py puts ``tests/`` on sys.path, so fixture modules import as
``fixtures.*``; importing the fixtures here registers them for this directory.
"""

from fixtures.moto_ecr import moto_ecr, moto_ecr_strict
from fixtures.registry import registry_server

__all__ = ["moto_ecr", "moto_ecr_strict", "registry_server"]
