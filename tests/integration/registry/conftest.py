"""Registry-credential fixtures: a real docker-registry, moto's ECR, a kubelet plugin.

tests/conftest.py puts ``tests/`` on sys.path, so fixture modules import as
``fixtures.*``; importing the fixtures here registers them for this directory.
The cluster-side helpers (``regcreds``, ``reconciler``) live in
``fixtures.registry`` beside the registry server they are used with.
"""

from fixtures.moto_ecr import moto_ecr, moto_ecr_strict
from fixtures.registry import reconciler, regcreds, registry_policy, registry_server

__all__ = [
    "moto_ecr",
    "moto_ecr_strict",
    "reconciler",
    "regcreds",
    "registry_policy",
    "registry_server",
]
