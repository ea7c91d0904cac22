"""``tether install``: the CRDs and the namespace Applications live in."""

from __future__ import annotations

import asyncio
from importlib import resources

import yaml

from tether.adapters.kube import KubeClient
from tether.engine.application import FIELD_MANAGER
from tether.engine.objects import Obj, conditions

CRD_FILES = ("application.yaml", "registrycredential.yaml")


def crds() -> list[Obj]:
    folder = resources.files("tether.engine") / "crds"
    return [yaml.safe_load((folder / name).read_text()) for name in CRD_FILES]


async def install(kube: KubeClient, namespace: str = "tether", timeout: float = 60.0) -> list[str]:
    done = []
    for crd in crds():
        await kube.apply(crd, field_manager=FIELD_MANAGER)
        done.append(f"CustomResourceDefinition {crd['metadata']['name']}")
    await kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        field_manager=FIELD_MANAGER,
    )
    done.append(f"Namespace {namespace}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for crd in crds():
        while loop.time() < deadline:
            live = await kube.get(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"]
            )
            if conditions(live).get("Established", {}).get("status") == "True":
                break
            await asyncio.sleep(0.2)
    await kube.discover(refresh=True)
    return done
