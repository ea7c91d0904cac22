"""Every file-reference field of every kustomization is checked before kustomize runs.

Each case is an attack a repository writer could push: a field that makes
kustomize read a URL (a cloud metadata endpoint into a ConfigMap, say), an
absolute path, or a path leaving the repository. The render fails before any
tool runs, naming the kustomization file, the field and the entry.
"""

from __future__ import annotations

import pytest

from tether.adapters.render import RenderError, render
from tether.adapters.render.kustomize_refs import check_references

URL = "http://169.254.169.254/latest/meta-data/iam"
CM = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"


def app(kustomization: str, **extra: bytes) -> dict[str, bytes]:
    files = {"app/kustomization.yaml": kustomization.encode(), "app/cm.yaml": CM}
    files.update({f"app/{name.replace('__', '.')}": data for name, data in extra.items()})
    return files


ATTACKS = {
    "configMapGenerator files": f"configMapGenerator:\n- name: x\n  files: [{URL}]\n",
    "configMapGenerator files with a key": f"configMapGenerator:\n- name: x\n  files: [k={URL}]\n",
    "configMapGenerator envs": f"configMapGenerator:\n- name: x\n  envs: [{URL}]\n",
    "secretGenerator files": f"secretGenerator:\n- name: x\n  files: [{URL}]\n",
    "secretGenerator env": f"secretGenerator:\n- name: x\n  env: {URL}\n",
    "patches path": f"resources: [cm.yaml]\npatches:\n- path: {URL}\n",
    "patchesStrategicMerge": f"resources: [cm.yaml]\npatchesStrategicMerge: [{URL}]\n",
    "patchesJson6902 path": (
        f"resources: [cm.yaml]\npatchesJson6902:\n- target: {{kind: ConfigMap, name: cm}}\n"
        f"  path: {URL}\n"
    ),
    "replacements path": f"resources: [cm.yaml]\nreplacements:\n- path: {URL}\n",
    "openapi path": f"resources: [cm.yaml]\nopenapi:\n  path: {URL}\n",
    "crds": f"resources: [cm.yaml]\ncrds: [{URL}]\n",
    "configurations": f"resources: [cm.yaml]\nconfigurations: [{URL}]\n",
    "generators": f"generators: [{URL}]\n",
    "transformers": f"resources: [cm.yaml]\ntransformers: [{URL}]\n",
    "validators": f"resources: [cm.yaml]\nvalidators: [{URL}]\n",
    "components": f"resources: [cm.yaml]\ncomponents: [{URL}]\n",
    "upper-case scheme": "resources: [HTTP://169.254.169.254/cm.yaml]\n",
    "upper-case field name": f"ConfigMapGenerator:\n- name: x\n  FILES: [{URL}]\n",
    "git@ remote": "resources: ['git@github.com:org/repo.git']\n",
    "ssh:// remote": "resources: ['ssh://git@example.com/org/repo.git']\n",
    "github.com/ shorthand": "resources: [github.com/org/repo/base]\n",
    "go-getter forced scheme": "resources: ['git::https://example.com/org/repo']\n",
    "absolute path": "resources: [/etc/passwd]\n",
    "absolute generator file": "configMapGenerator:\n- name: x\n  files: [/etc/passwd]\n",
    "escaping the repository": "resources: [../../../etc]\n",
    "escaping generator file": "configMapGenerator:\n- name: x\n  files: [../../etc/passwd]\n",
    "unknown entry kustomize would try remotely": "resources: [example.com/org/repo]\n",
    "helmCharts": "helmCharts:\n- name: x\n  repo: https://charts.example.com\n",
    "HelmCharts in another case": "HELMCHARTS:\n- name: x\n",
    "inline helm generator": (
        "generators:\n- |\n  apiVersion: builtin\n  kind: HelmChartInflationGenerator\n"
        "  metadata: {name: x}\n  repo: https://charts.example.com\n"
    ),
}


@pytest.mark.parametrize("kustomization", ATTACKS.values(), ids=list(ATTACKS))
def test_reference_attack_is_refused_before_kustomize_runs(kustomization: str) -> None:
    with pytest.raises(RenderError) as info:
        render(app(kustomization), {"path": "app"}, kubectl_path="/nonexistent/kubectl")
    assert info.value.file == "app/kustomization.yaml"
    assert "kustomize build" not in str(info.value)


def test_the_error_names_the_field_and_the_entry() -> None:
    with pytest.raises(RenderError) as info:
        check_references(app(ATTACKS["configMapGenerator files"]), "app")
    assert f"configMapGenerator[0] files entry '{URL}' is a remote reference" in str(info.value)


def test_userinfo_in_a_refused_entry_is_not_repeated() -> None:
    files = app("resources: ['https://user:hunter22@example.com/x.yaml']\n")
    with pytest.raises(RenderError) as info:
        check_references(files, "app")
    assert "hunter22" not in str(info.value)


def test_a_nested_base_is_checked_too() -> None:
    files = {
        "app/kustomization.yaml": b"resources: [../base]\n",
        "base/kustomization.yaml": b"resources: [../lib]\n",
        "lib/kustomization.yaml": f"configMapGenerator:\n- name: x\n  files: [{URL}]\n".encode(),
    }
    with pytest.raises(RenderError, match="remote reference") as info:
        check_references(files, "app")
    assert info.value.file == "lib/kustomization.yaml"


def test_a_generator_config_file_is_checked_too() -> None:
    config = (
        f"apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: x\nfiles: [{URL}]\n"
    )
    files = app("generators: [gen.yaml]\n", gen__yaml=config.encode())
    with pytest.raises(RenderError, match="remote reference") as info:
        check_references(files, "app")
    assert info.value.file == "app/gen.yaml"


def test_a_generator_directory_is_checked_as_configs() -> None:
    config = f"apiVersion: builtin\nkind: SecretGenerator\nmetadata:\n  name: x\nenvs: [{URL}]\n"
    files = app(
        "generators: [gens]\n",
        **{
            "gens/kustomization__yaml": b"resources: [gen.yaml]\n",
            "gens/gen__yaml": config.encode(),
        },
    )
    with pytest.raises(RenderError, match="remote reference"):
        check_references(files, "app")


def test_local_references_of_every_kind_still_render() -> None:
    kustomization = """\
resources: [cm.yaml]
configMapGenerator:
- name: settings
  files: [conf/app.properties, extra=conf/app.properties]
  envs: [conf/env.txt]
patches:
- path: patch.yaml
patchesStrategicMerge:
- |-
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: cm
  data:
    inline: "yes"
"""
    files = app(
        kustomization,
        **{
            "conf/app__properties": b"a=1\n",
            "conf/env__txt": b"B=2\n",
            "patch__yaml": (
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  p: x\n"
            ),
        },
    )
    objects = {o["metadata"]["name"]: o for o in render(files, {"path": "app"})}
    assert objects["cm"]["data"] == {"p": "x", "inline": "yes"}
    assert any(name.startswith("settings-") for name in objects)
