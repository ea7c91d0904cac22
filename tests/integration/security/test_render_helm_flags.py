"""Helm never reads a value from the Application as a flag.

The attack: ``releaseName: --output-dir=/some/host/dir`` made ``helm template``
write the rendered chart onto the controller's filesystem. Release names are
now validated (DNS-1123, at most 53 characters), every flag is passed as
``--flag=value`` and the positional arguments come after ``--``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.adapters.render import RenderError, render
from tether.adapters.render.helm import MAX_RELEASE_NAME, check_release_name
from tether.testenv.binaries import helm_path

CHART = {
    "chart/Chart.yaml": b"apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    "chart/templates/cm.yaml": (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        b"data:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
    ),
}


@pytest.fixture
def helm() -> str:
    path = helm_path()
    if not path.exists():
        pytest.skip("helm not installed: run make tools")
    return str(path)


@pytest.mark.parametrize(
    "name",
    ["--output-dir=/tmp/x", "-o", "Upper", "a_b", "x" * (MAX_RELEASE_NAME + 1), "-", "a..b"],
)
def test_a_release_name_that_is_not_dns_1123_is_refused(name: str) -> None:
    with pytest.raises(RenderError, match="not a valid release name"):
        check_release_name(name)


def test_release_name_output_dir_attack_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "written-by-helm"
    spec = {"path": "chart", "helm": {"releaseName": f"--output-dir={target}"}}
    with pytest.raises(RenderError, match=r"source\.helm\.releaseName .* not a valid release name"):
        render(CHART, spec, helm_path="/nonexistent/helm")
    assert not target.exists()


def test_flag_values_are_never_read_as_flags(helm: str, tmp_path: Path) -> None:
    target = tmp_path / "written-by-helm"
    spec = {
        "path": "chart",
        "helm": {"releaseName": "demo", "kubeVersion": f"--output-dir={target}"},
    }
    with pytest.raises(RenderError, match="helm template failed"):
        render(CHART, spec, helm_path=helm)
    assert not target.exists()


def test_a_valid_release_name_renders(helm: str) -> None:
    objects = render(CHART, {"path": "chart", "helm": {"releaseName": "demo.v1-a"}}, helm_path=helm)
    assert objects[0]["metadata"]["name"] == "demo.v1-a"
