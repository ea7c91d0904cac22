"""Cluster routes: the clusters Applications may deploy to, and whether they answer.

Clusters are registered for the whole control plane (``tether clusters add``),
so, as registry credentials, they are for tokens that are not limited to a
project. The answer names clusters and servers only, never a credential.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import APIRouter, Request

from tether.api.auth import GlobalReader


class ClusterService(Protocol):
    """``clusters()``: one dict per cluster (the one Tether runs in first) with
    ``name``, ``server``, ``secret``, ``apps`` (how many deploy there),
    ``reachable``, ``version`` and ``message`` (why it does not answer)."""

    async def clusters(self) -> list[dict[str, object]]: ...


router = APIRouter(prefix="/api/v1", tags=["clusters"])


@router.get("/clusters")
async def list_clusters(request: Request, _: GlobalReader) -> list[dict[str, object]]:
    service: ClusterService = request.app.state.service
    return await service.clusters()
