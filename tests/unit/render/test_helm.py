"""helm template renders of the example chart: values precedence and value-file errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tether.adapters.render import RenderError, load_directory, render
from tether.adapters.render.helm import find_helm

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "finance-app"
CHART = "helm/finance-app"


@pytest.fixture(scope="module")
def helm_path() -> str:
    try:
        return find_helm()
    except RenderError:
        pytest.skip("helm not installed: run make tools")


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return load_directory(EXAMPLES)


def deployment(objects: list[dict]) -> dict:
    return next(o for o in objects if o["kind"] == "Deployment")


def test_default_values(files, helm_path: str) -> None:
    objects = render(files, {"path": CHART}, app_name="finance", helm_path=helm_path)
    assert {o["kind"] for o in objects} == {"ConfigMap", "Deployment", "Service"}
    deploy = deployment(objects)
    pod = deploy["spec"]["template"]["spec"]
    assert deploy["spec"]["replicas"] == 1
    assert pod["containers"][0]["image"] == (
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance-api:1.4"
    )
    assert pod["imagePullSecrets"] == [{"name": "ecr-pull"}]
    assert deploy["metadata"]["labels"]["app.kubernetes.io/instance"] == "finance"


def test_value_files_then_values_then_parameters(files, helm_path: str) -> None:
    spec = {
        "path": CHART,
        "helm": {
            "releaseName": "fin",
            "valueFiles": ["values-prod.yaml"],
            "values": "image:\n  tag: '2.0'\nreplicas: 4\n",
            "parameters": [
                {"name": "replicas", "value": "5"},
                {"name": "config.CURRENCY", "value": "123", "forceString": True},
            ],
        },
    }
    objects = render(files, spec, helm_path=helm_path)
    deploy = deployment(objects)
    assert deploy["spec"]["replicas"] == 5
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2.0")
    assert deploy["metadata"]["labels"]["app.kubernetes.io/instance"] == "fin"
    config = next(o for o in objects if o["kind"] == "ConfigMap")
    assert config["data"]["LOG_LEVEL"] == "warn" and config["data"]["CURRENCY"] == "123"


def test_values_object(files, helm_path: str) -> None:
    spec = {"path": CHART, "helm": {"valuesObject": {"replicas": 2}}}
    assert deployment(render(files, spec, helm_path=helm_path))["spec"]["replicas"] == 2


def test_missing_value_file_is_named(files, helm_path: str) -> None:
    spec = {"path": CHART, "helm": {"valueFiles": ["values-prod.yaml", "values-nope.yaml"]}}
    with pytest.raises(RenderError, match=r"value file 'values-nope\.yaml' not found"):
        render(files, spec, helm_path=helm_path)
    spec["helm"]["ignoreMissingValueFiles"] = True  # type: ignore[index]
    assert deployment(render(files, spec, helm_path=helm_path))["spec"]["replicas"] == 3


def test_value_file_escaping_the_repository(files, helm_path: str) -> None:
    spec = {"path": CHART, "helm": {"valueFiles": ["../../../../etc/passwd"]}}
    with pytest.raises(RenderError, match="escapes the repository"):
        render(files, spec, helm_path=helm_path)


def test_helm_failure_is_trimmed_and_hides_parameter_values(helm_path: str) -> None:
    files = {
        "chart/Chart.yaml": b"apiVersion: v2\nname: broken\nversion: 0.1.0\n",
        "chart/templates/cm.yaml": b'{{ required "a password is required" .Values.pw }}\n'
        b"{{ fail .Values.token }}\n",
    }
    spec = {
        "path": "chart",
        "helm": {
            "parameters": [
                {"name": "pw", "value": "x"},
                {"name": "token", "value": "hunter2-secret"},
            ]
        },
    }
    with pytest.raises(RenderError, match="helm template failed") as info:
        render(files, spec, helm_path=helm_path)
    assert "hunter2-secret" not in str(info.value)


def test_helm_is_looked_up_from_the_environment(monkeypatch, helm_path: str, files) -> None:
    monkeypatch.setenv("TETHER_HELM", helm_path)
    assert find_helm() == helm_path
    assert os.access(find_helm(), os.X_OK)
    assert len(render(files, {"path": CHART})) == 3


def test_explicit_helm_without_chart() -> None:
    with pytest.raises(RenderError, match=r"no Chart\.yaml in plain"):
        render({"plain/a.yaml": b""}, {"path": "plain", "helm": {}})
