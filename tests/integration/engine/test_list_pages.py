"""Lists a page at a time: every item once, across pages, with the list's resourceVersion."""

from __future__ import annotations

from tether.adapters.kube import KubeClient


async def test_pages_hold_every_item_once_and_the_last_gives_the_list_version(
    kube: KubeClient, namespace: str
) -> None:
    for i in range(5):
        await kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"page-{i}", "namespace": namespace},
                "data": {"i": str(i)},
            },
            field_manager="test",
        )
    api = await kube.resource_for("v1", "ConfigMap")
    pages = [page async for page in kube.pages(api, namespace, limit=2)]
    names = [o["metadata"]["name"] for page in pages for o in page.items]
    assert len(pages) >= 3
    assert sorted(n for n in names if n.startswith("page-")) == [f"page-{i}" for i in range(5)]
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for p in pages for o in p.items)
    assert pages[-1].resource_version
    listed, version = await kube.list(api, namespace)
    assert sorted(o["metadata"]["name"] for o in listed) == sorted(names)
    assert version
