"""What the benchmark's control plane and waits need at thousands of Applications.

etcd already runs with an 8 GiB quota (``tether.testenv.startup``): 10,000
apps leave about 40,000 objects plus every Application's status, well under
it. kube-apiserver's default inflight limits (400 reads, 200 writes, which
also size API Priority and Fairness) are raised for large runs only, so the
tests keep the defaults a real cluster would have; several replicas each
keep their own list-watches and workers, and the benchmark's own creators and
watchers share the same limits.
"""

from __future__ import annotations

LARGE = 2000  # from here on the control plane gets the raised limits


def apiserver_flags(n: int) -> tuple[str, ...]:
    if n < LARGE:
        return ()
    return ("--max-requests-inflight=1600", "--max-mutating-requests-inflight=800")


def reconciled_timeout(n: int) -> float:
    """Until every new Application has been reconciled once (the path does not exist yet)."""
    return 60 + 0.2 * n


def phase_timeout(n: int) -> float:
    """Generous: on a 2-core machine shared with other control planes (load 15-20) a push
    has taken 0.7 s per app at 100 apps; the stall check ends a run that is truly stuck."""
    return 120 + 0.6 * n


def stall_seconds(n: int) -> float:
    """No app finished for this long means stuck. The first app of a 10,000-app push waits
    behind a bigger fetch and render than at 1,000, so the allowance grows with N."""
    return max(45.0, 0.02 * n)
