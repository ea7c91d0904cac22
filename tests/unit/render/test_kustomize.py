"""kustomize renders of the example app, Application options, and refused remote bases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.adapters.render import RenderError, load_directory, render
from tether.adapters.render.kustomize import _image_entry

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "finance-app"


@pytest.fixture(scope="module")
def example_files() -> dict[str, bytes]:
    return load_directory(EXAMPLES)


def by_kind(objects: list[dict]) -> dict[str, dict]:
    return {o["kind"]: o for o in objects}


def test_base(example_files) -> None:
    objects = by_kind(render(example_files, {"path": "kustomize/base"}))
    assert set(objects) == {"ConfigMap", "Deployment", "Service"}
    assert objects["Deployment"]["metadata"]["name"] == "finance-api"


def test_dev_overlay_reaches_the_base(example_files) -> None:
    objects = by_kind(render(example_files, {"path": "kustomize/overlays/dev"}))
    deploy = objects["Deployment"]
    assert deploy["metadata"]["name"] == "finance-api-dev"
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        "finance-api:1.5-rc1"
    )
    assert objects["ConfigMap"]["data"]["LOG_LEVEL"] == "debug"


def test_prod_overlay(example_files) -> None:
    deploy = by_kind(render(example_files, {"path": "kustomize/overlays/prod"}))["Deployment"]
    assert deploy["spec"]["replicas"] == 3
    assert deploy["metadata"]["labels"]["environment"] == "prod"


def test_application_options_are_applied(example_files) -> None:
    spec = {
        "path": "kustomize/overlays/prod",
        "kustomize": {
            "namePrefix": "acme-",
            "nameSuffix": "-blue",
            "images": ["123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance-api:2.0"],
            "commonLabels": {"team": "money"},
        },
    }
    objects = by_kind(render(example_files, spec))
    deploy = objects["Deployment"]
    assert deploy["metadata"]["name"] == "acme-finance-api-blue"
    assert deploy["metadata"]["labels"]["team"] == "money"
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2.0")
    assert objects["ConfigMap"]["metadata"]["name"] == "acme-finance-api-config-blue"


def test_kustomize_is_detected_and_also_selectable() -> None:
    files = {
        "app/kustomization.yml": b"resources: [cm.yaml]\n",
        "app/cm.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    }
    assert render(files, {"path": "app"})[0]["metadata"]["name"] == "x"
    assert render(files, {"path": "app", "kustomize": {}})[0]["kind"] == "ConfigMap"
    with pytest.raises(RenderError, match=r"no kustomization\.yaml in other"):
        render({"other/a.yaml": b""}, {"path": "other", "kustomize": {}})


@pytest.mark.parametrize(
    "entry",
    [
        "https://github.com/org/repo//base?ref=v1",
        "github.com/org/repo/base?ref=main",
        "git@github.com:org/repo.git",
    ],
)
def test_remote_resources_are_refused(entry: str) -> None:
    files = {
        "app/kustomization.yaml": b"resources: [../base]\n",
        "base/kustomization.yaml": f"resources:\n- {entry}\n".encode(),
    }
    with pytest.raises(RenderError, match=r"resources entry .* remote reference") as info:
        render(files, {"path": "app"})
    assert info.value.file == "base/kustomization.yaml"


def test_files_outside_the_kustomization_root_are_refused() -> None:
    files = {
        "app/kustomization.yaml": b"resources: [../secret.yaml]\n",
        "secret.yaml": b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n",
    }
    with pytest.raises(RenderError, match="kustomize build failed") as info:
        render(files, {"path": "app"})
    assert "/tmp/" not in str(info.value)


def test_image_override_syntax() -> None:
    assert _image_entry("nginx:1.25") == {"name": "nginx", "newTag": "1.25"}
    assert _image_entry("nginx=registry.local:5000/nginx:1.25") == {
        "name": "nginx",
        "newName": "registry.local:5000/nginx",
        "newTag": "1.25",
    }
    assert _image_entry("nginx@sha256:abc") == {"name": "nginx", "digest": "sha256:abc"}
