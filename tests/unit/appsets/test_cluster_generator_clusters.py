"""The clusters generator's input: registered cluster Secrets, in-cluster first."""

from __future__ import annotations

from typing import Any

from tether.controller.appset_clusters import from_secrets, uses_clusters
from tether.engine import clusters as registry
from tether.engine.appsets import generators as g
from tether.engine.appsets.spec import Generator


def secret(name: str, server: str, labels: dict[str, str] | None = None, **extra: Any) -> Any:
    obj = registry.to_secret(
        registry.Cluster(name=name, server=server, labels=tuple((labels or {}).items())), "tether"
    )
    obj["metadata"].update(extra)
    return obj


def test_registered_clusters_come_after_in_cluster_with_labels_and_annotations() -> None:
    found = from_secrets(
        [
            secret("west", "https://west:6443", {"env": "prod"}),
            secret("east", "https://east:6443", {"env": "prod"}, annotations={"region": "us"}),
            {"metadata": {"name": "not-a-cluster", "labels": {}}, "data": {}},
        ]
    )
    assert [c.name for c in found] == ["in-cluster", "east", "west"]
    east = found[1]
    assert east.server == "https://east:6443"
    assert east.labels["env"] == "prod"
    assert east.labels[registry.SECRET_TYPE_LABEL] == registry.SECRET_TYPE
    assert east.annotations == {"region": "us"}
    assert found[0] == g.IN_CLUSTER


def test_a_secret_for_the_home_cluster_names_and_labels_it() -> None:
    found = from_secrets([secret("home", registry.IN_CLUSTER, {"env": "mgmt"})])
    assert len(found) == 1
    assert (found[0].name, found[0].server, found[0].labels["env"]) == (
        "home",
        registry.IN_CLUSTER,
        "mgmt",
    )


def test_an_unreadable_cluster_secret_is_skipped() -> None:
    broken = secret("bad", "https://bad:6443")
    broken["data"]["config"] = "bm90IGpzb24="  # "not json"
    assert [c.name for c in from_secrets([broken])] == ["in-cluster"]


def test_a_selector_matches_only_labelled_clusters_and_an_empty_one_all() -> None:
    clusters = from_secrets(
        [
            secret("east", "https://east:6443", {"env": "prod"}),
            secret("lab", "https://lab:6443", {"env": "dev"}),
        ]
    )
    prod = Generator.model_validate({"clusters": {"selector": {"matchLabels": {"env": "prod"}}}})
    every = Generator.model_validate({"clusters": {}})
    names = [p["name"] for p in g.generate([prod], go=True, trees={}, clusters=clusters)]
    assert names == ["east"]
    names = [p["name"] for p in g.generate([every], go=True, trees={}, clusters=clusters)]
    assert names == ["in-cluster", "east", "lab"]


def test_only_sets_with_a_clusters_generator_list_cluster_secrets() -> None:
    listed = Generator.model_validate({"list": {"elements": [{"a": "b"}]}})
    nested = Generator.model_validate({"matrix": {"generators": [{"clusters": {}}, {"list": {}}]}})
    assert uses_clusters([listed, nested])
    assert not uses_clusters([listed])
