"""Ingress health: the ingress controller publishes an address when it has taken the Ingress.

Argo CD reports Progressing until ``status.loadBalancer.ingress`` is set, and
so do we. On a local cluster without an ingress controller that means an
Ingress stays Progressing forever: that is accurate (no controller serves
it), and the message says what is being waited for.
"""

from tether.engine.health.service import lb_addresses
from tether.engine.health.status import HealthResult, healthy, progressing
from tether.engine.objects import Obj


def assess_ingress(obj: Obj) -> HealthResult:
    addresses = lb_addresses(obj)
    if addresses:
        return healthy(f"served at {', '.join(addresses)}", "Ready")
    return progressing(
        "Waiting for an ingress controller to publish an address", "WaitingForAddress"
    )
