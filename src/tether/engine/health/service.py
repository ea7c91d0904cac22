"""Service health: only a LoadBalancer Service can be waiting (for its address)."""

from tether.engine.health.status import HealthResult, healthy, progressing
from tether.engine.objects import Obj, spec_of, status_of


def lb_addresses(obj: Obj) -> list[str]:
    ingress = (status_of(obj).get("loadBalancer") or {}).get("ingress") or []
    return [str(i.get("ip") or i.get("hostname") or "") for i in ingress if isinstance(i, dict)]


def assess_service(obj: Obj) -> HealthResult:
    if spec_of(obj).get("type") != "LoadBalancer":
        return healthy()
    addresses = lb_addresses(obj)
    if addresses:
        return healthy(f"load balancer at {', '.join(addresses)}", "Ready")
    return progressing("Waiting for the load balancer to get an address", "WaitingForAddress")
