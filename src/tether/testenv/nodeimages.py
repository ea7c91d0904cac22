"""Getting images onto real nodes: import archives, or trust a loopback registry.

Real nodes never pull from the internet. An image reaches them either as an
OCI archive imported into each node's containerd, or from the local registry,
which serves plain HTTP on loopback: containerd is told so per registry with a
``hosts.toml``, and only for loopback addresses, so pull credentials never
cross a network in clear.
"""

from __future__ import annotations

from pathlib import Path

from tether.testenv import realnode
from tether.testenv.cluster import ClusterError, ClusterState, default_dir
from tether.testenv.nodebinaries import NodeBinaries


def _real_node_count(directory: Path | None) -> tuple[Path, int]:
    directory = (directory or default_dir()).resolve()
    state = ClusterState.load(directory)
    if state is None or not state.real_nodes:
        raise ClusterError(f"no cluster with real nodes in {directory}")
    return directory, state.real_nodes


def import_images(directory: Path | None, archives: list[Path]) -> int:
    """Import OCI archives into every real node's containerd; returns the node count."""
    directory, count = _real_node_count(directory)
    bins = NodeBinaries.locate()
    try:
        for node in realnode.layouts(directory, count):
            for archive in archives:
                realnode.import_image(node, bins, archive)
    except realnode.RealNodeError as exc:
        raise ClusterError(str(exc)) from None
    return count


def trust_registry(directory: Path | None, registry: str) -> int:
    """Let every real node of the cluster pull from a loopback registry over plain HTTP."""
    directory, count = _real_node_count(directory)
    try:
        for node in realnode.layouts(directory, count):
            realnode.trust_plain_http_registry(node, registry)
    except realnode.RealNodeError as exc:
        raise ClusterError(str(exc)) from None
    return count
