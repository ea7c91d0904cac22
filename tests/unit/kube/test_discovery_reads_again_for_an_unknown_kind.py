"""Discovery: read once, read again for a kind it does not know, and a group version
that fails hides only its own kinds."""

from __future__ import annotations

from typing import Any

import pytest

from tether.adapters.kube import errors
from tether.adapters.kube.discovery import Discovery


def _namespaced(plural: str, kind: str) -> dict[str, Any]:
    return {"name": plural, "kind": kind, "namespaced": True}


class FakeServer:
    def __init__(self) -> None:
        self.crd_installed = False
        self.reads: list[str] = []

    async def get(self, path: str) -> Any:
        self.reads.append(path)
        if path == "/api":
            return {"versions": ["v1"]}
        if path == "/apis":
            groups = [{"name": "apps", "versions": [{"version": "v1"}]}]
            groups.append({"name": "metrics.k8s.io", "versions": [{"version": "v1beta1"}]})
            if self.crd_installed:
                groups.append({"name": "tether.dev", "versions": [{"version": "v1alpha1"}]})
            return {"groups": groups}
        if path == "/api/v1":
            return {
                "resources": [
                    {"name": "pods", "kind": "Pod", "namespaced": True, "verbs": ["get"]},
                    {"name": "pods/log", "kind": "Pod", "namespaced": True, "verbs": ["get"]},
                    {"name": "namespaces", "kind": "Namespace", "verbs": ["get"]},
                ]
            }
        if path == "/apis/apps/v1":
            return {"resources": [_namespaced("deployments", "Deployment")]}
        if path == "/apis/metrics.k8s.io/v1beta1":
            raise errors.from_status(503, {"message": "service unavailable"})
        if path == "/apis/tether.dev/v1alpha1":
            return {"resources": [_namespaced("applications", "Application")]}
        raise AssertionError(path)


async def test_resources_are_read_once_and_paths_built_from_them() -> None:
    server = FakeServer()
    discovery = Discovery(server.get)
    pod = await discovery.resource_for("v1", "Pod")
    namespace = await discovery.resource_for("v1", "Namespace")
    deployment = await discovery.resource_for("apps/v1", "Deployment")
    assert pod.path("team a", "web-0") == "/api/v1/namespaces/team%20a/pods/web-0"
    assert namespace.path("ignored", "prod") == "/api/v1/namespaces/prod"
    assert deployment.path("prod") == "/apis/apps/v1/namespaces/prod/deployments"
    assert server.reads.count("/api") == 1, "known kinds are answered from what was read"


async def test_a_kind_installed_later_is_found_by_one_more_read() -> None:
    server = FakeServer()
    discovery = Discovery(server.get)
    await discovery.resources()
    server.crd_installed = True
    app = await discovery.resource_for("tether.dev/v1alpha1", "Application")
    assert app.plural == "applications"
    assert server.reads.count("/api") == 2


async def test_an_unknown_kind_is_refused_after_reading_again() -> None:
    discovery = Discovery(FakeServer().get)
    with pytest.raises(errors.UnknownKind):
        await discovery.resource_for("example.com/v1", "Widget")


async def test_a_failing_group_version_hides_only_its_own_kinds() -> None:
    discovery = Discovery(FakeServer().get)
    kinds = {api.kind for api in await discovery.preferred()}
    assert kinds == {"Pod", "Namespace", "Deployment"}
