"""OCI artifacts of plain manifests, pushed with skopeo to the local authenticated registry.

Each artifact is an OCI image layout written here (Flux's media types, or the
generic OCI layer type) and copied to the registry with ``skopeo copy``, the
way a CI job would push ``flux push artifact`` output.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fixtures.tether import Apps, condition
from tether.adapters.charts import artifacts, signatures
from tether.engine import application as appmodel
from tether.testenv.ocilayout import digest_bytes

APP_NS = "tether"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: web-settings
data:
  greeting: {greeting}
"""


def tarball(entries: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, body in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(body), 0o644, 0
            tar.addfile(info, io.BytesIO(body))
    return gzip.compress(raw.getvalue(), mtime=0)


def write_layout(
    root: Path,
    tag: str,
    layers: list[tuple[str, bytes, dict[str, str]]],
    config: tuple[str, bytes],
) -> str:
    """An OCI image layout with one manifest under ``tag``; returns the manifest digest."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = digest_bytes(data)
        (blobs / digest[len("sha256:") :]).write_bytes(data)
        return digest

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": config[0], "size": len(config[1]), "digest": put(config[1])},
            "layers": [
                {"mediaType": media, "size": len(data), "digest": put(data), "annotations": notes}
                for media, data, notes in layers
            ],
        }
    ).encode()
    digest = put(manifest)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": MANIFEST,
                        "size": len(manifest),
                        "digest": digest,
                        "annotations": {"org.opencontainers.image.ref.name": tag},
                    }
                ],
            }
        )
    )
    return digest


class Pusher:
    def __init__(self, registry: Any, work: Path, user: str, password: str) -> None:
        self.registry, self.work = registry, work
        self.user, self.password = user, password
        self.count = 0

    def url(self, repository: str) -> str:
        return f"oci://{self.registry.host}/{repository}"

    def push(
        self,
        repository: str,
        tag: str,
        layers: list[tuple[str, bytes, dict[str, str]]],
        config: tuple[str, bytes] = (artifacts.FLUX_CONFIG, b"{}"),
    ) -> str:
        self.count += 1
        layout = self.work / f"layout-{self.count}"
        digest = write_layout(layout, tag, layers, config)
        done = subprocess.run(
            [
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                f"--dest-creds={self.user}:{self.password}",
                f"oci:{layout}:{tag}",
                f"docker://{self.registry.host}/{repository}:{tag}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return digest

    def push_manifests(
        self, repository: str, tag: str, entries: dict[str, bytes], media: str
    ) -> str:
        return self.push(repository, tag, [(media, tarball(entries), {})])


def pusher(registry: Any, tmp_path: Path, name: str) -> Pusher:
    user, password = registry.add_user(name)
    return Pusher(registry, tmp_path / "layouts", user, password)


async def settings(apps: Apps, ns: str) -> dict[str, str]:
    return dict((await apps.kube.get("v1", "ConfigMap", "web-settings", ns)).get("data") or {})


def configmap(greeting: str) -> bytes:
    return CONFIGMAP.format(greeting=greeting).encode()


def artifact_source(url: str, revision: str, path: str = "app") -> dict[str, Any]:
    return {"repoURL": url, "targetRevision": revision, "path": path}


def comparison_error(containing: str) -> Any:
    def check(st: dict[str, Any]) -> bool:
        found = condition(st, "ComparisonError")
        return found is not None and containing in found["message"]

    return check


async def test_artifact_deploys_and_a_new_digest_under_the_same_tag_is_synced(
    registry_server: Any, tmp_path: Path, repo_secrets: Any, apps: Apps, dest_namespace: str
) -> None:
    oci = pusher(registry_server, tmp_path, "artifacts-web")
    first = oci.push_manifests(
        "manifests/web",
        "prod",
        {"app/settings.yaml": configmap("one"), "README.md": b"not rendered"},
        artifacts.FLUX_CONTENT,
    )
    url = oci.url("manifests/web")
    await repo_secrets.create(url=url, username=oci.user, password=oci.password)
    name = await apps.create(
        url,
        dest=dest_namespace,
        automated={"prune": True},
        extra={"source": artifact_source(url, "prod")},
    )
    st = await apps.wait_synced(name, healthy=True, revision=first)
    assert await settings(apps, dest_namespace) == {"greeting": "one"}
    assert f"artifact {url}:prod@{first}" in st["revisionMessage"]

    # A new push under the same tag (a generic OCI layer this time) is a new revision.
    second = oci.push_manifests(
        "manifests/web", "prod", {"app/settings.yaml": configmap("two")}, artifacts.OCI_LAYER
    )
    assert second != first
    st = await apps.wait_synced(name, revision=second)
    assert await settings(apps, dest_namespace) == {"greeting": "two"}
    assert [h["revision"] for h in st["history"]] == [first, second]
    assert f"@{second}" in st["history"][-1]["message"]

    # Pinning the first digest pulls exactly that manifest, whatever the tag says now.
    await apps.kube.merge_patch(
        appmodel.API_VERSION,
        appmodel.KIND,
        name,
        {"spec": {"source": {"targetRevision": f"prod@{first}"}}},
        APP_NS,
    )
    await apps.wait_synced(name, revision=first)
    assert await settings(apps, dest_namespace) == {"greeting": "one"}


async def test_a_tarball_with_a_path_leaving_it_is_refused_naming_the_entry(
    registry_server: Any, tmp_path: Path, repo_secrets: Any, apps: Apps, dest_namespace: str
) -> None:
    oci = pusher(registry_server, tmp_path, "artifacts-evil")
    oci.push_manifests(
        "manifests/evil",
        "v1",
        {"app/settings.yaml": configmap("one"), "app/../../escape.yaml": configmap("evil")},
        artifacts.FLUX_CONTENT,
    )
    url = oci.url("manifests/evil")
    await repo_secrets.create(url=url, username=oci.user, password=oci.password)
    name = await apps.create(
        url, dest=dest_namespace, automated={}, extra={"source": artifact_source(url, "v1")}
    )
    st = await apps.wait(name, comparison_error("leaves the artifact"), "refused tarball")
    message = condition(st, "ComparisonError")["message"]  # type: ignore[index]
    assert "'app/../../escape.yaml'" in message
    assert st["sync"]["status"] == "Unknown"
    assert await apps.kube.get_or_none("v1", "ConfigMap", "web-settings", dest_namespace) is None


async def test_a_wrong_password_names_the_repository_not_the_secret(
    registry_server: Any, tmp_path: Path, repo_secrets: Any, apps: Apps, dest_namespace: str
) -> None:
    oci = pusher(registry_server, tmp_path, "artifacts-locked")
    oci.push_manifests(
        "manifests/locked", "v1", {"app/settings.yaml": configmap("x")}, artifacts.FLUX_CONTENT
    )
    url = oci.url("manifests/locked")
    wrong = "not-the-password-" + oci.password[:3]
    secret = await repo_secrets.create(url=url, username=oci.user, password=wrong)
    name = await apps.create(url, dest=dest_namespace, extra={"source": artifact_source(url, "v1")})
    st = await apps.wait(name, comparison_error("refused the credentials"), "refused login")
    message = condition(st, "ComparisonError")["message"]  # type: ignore[index]
    assert f"artifact registry {url}" in message
    assert secret not in message and wrong not in message
    assert st["sync"]["status"] == "Unknown"


def cosign_signature(
    key: ec.EllipticCurvePrivateKey, reference: str, digest: str
) -> tuple[str, bytes, dict[str, str]]:
    """A layer of a cosign ``.sig`` manifest, as ``cosign sign --key`` writes it."""
    payload = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": reference},
                "image": {"docker-manifest-digest": digest},
                "type": signatures.SIGNATURE_TYPE,
            },
            "optional": None,
        }
    ).encode()
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    return (signatures.SIMPLE_SIGNING, payload, {signatures.SIGNATURE_ANNOTATION: signature})


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


async def test_a_repository_with_a_cosign_key_deploys_only_artifacts_signed_with_it(
    registry_server: Any, tmp_path: Path, repo_secrets: Any, apps: Apps, dest_namespace: str
) -> None:
    oci = pusher(registry_server, tmp_path, "artifacts-signed")
    trusted = ec.generate_private_key(ec.SECP256R1())
    stranger = ec.generate_private_key(ec.SECP256R1())
    repository = "manifests/signed"
    url = oci.url(repository)
    reference = f"{registry_server.host}/{repository}"
    digest = oci.push_manifests(
        repository, "v1", {"app/settings.yaml": configmap("signed")}, artifacts.FLUX_CONTENT
    )
    await repo_secrets.create(
        url=url, username=oci.user, password=oci.password, cosignPublicKey=public_pem(trusted)
    )
    name = await apps.create(
        url, dest=dest_namespace, automated={}, extra={"source": artifact_source(url, "v1")}
    )
    await apps.wait(name, comparison_error("is not signed"), "unsigned artifact refused")

    # Signed by another key: still refused, nothing deployed.
    sig_tag = signatures.signature_tag(digest)
    config = ("application/vnd.oci.image.config.v1+json", b"{}")
    oci.push(repository, sig_tag, [cosign_signature(stranger, reference, digest)], config)
    await apps.wait(name, comparison_error("verifies with"), "foreign signature refused")
    assert await apps.kube.get_or_none("v1", "ConfigMap", "web-settings", dest_namespace) is None

    # Signed with the repository's key: deployed.
    oci.push(repository, sig_tag, [cosign_signature(trusted, reference, digest)], config)
    await apps.wait_synced(name, revision=digest)
    assert await settings(apps, dest_namespace) == {"greeting": "signed"}


async def test_a_project_admits_artifacts_by_their_oci_url(
    registry_server: Any,
    tmp_path: Path,
    repo_secrets: Any,
    apps: Apps,
    make_project: Any,
    dest_namespace: str,
) -> None:
    oci = pusher(registry_server, tmp_path, "artifacts-projects")
    digest = oci.push_manifests(
        "team/web", "v1", {"app/settings.yaml": configmap("team")}, artifacts.FLUX_CONTENT
    )
    url = oci.url("team/web")
    allowed = await make_project.create(sourceRepos=[f"oci://{registry_server.host}/team/*"])
    refused = await make_project.create(sourceRepos=[f"oci://{registry_server.host}/other/*"])
    for project in (allowed, refused):
        await repo_secrets.create(
            url=url, username=oci.user, password=oci.password, project=project
        )
    bad = await apps.create(
        url,
        dest=dest_namespace + "-x",
        extra={"source": artifact_source(url, "v1"), "project": refused},
    )
    good = await apps.create(
        url,
        dest=dest_namespace,
        automated={},
        extra={"source": artifact_source(url, "v1"), "project": allowed},
    )
    await apps.wait_synced(good, revision=digest)
    st = await apps.wait(bad, lambda s: condition(s, "ProjectDenied") is not None, "refused")
    assert url in condition(st, "ProjectDenied")["message"]  # type: ignore[index]


async def test_a_semver_range_picks_the_highest_matching_tag_and_rollback_pulls_a_digest(
    registry_server: Any,
    tmp_path: Path,
    repo_secrets: Any,
    apps: Apps,
    service: Any,
    dest_namespace: str,
) -> None:
    oci = pusher(registry_server, tmp_path, "artifacts-semver")
    digests = {
        version: oci.push_manifests(
            "manifests/ranged",
            version,
            {"settings.yaml": configmap(version)},
            artifacts.FLUX_CONTENT,
        )
        for version in ("1.0.0", "1.2.0", "2.0.0", "latest")
    }
    url = oci.url("manifests/ranged")
    await repo_secrets.create(url=url, username=oci.user, password=oci.password)
    name = await apps.create(
        url, dest=dest_namespace, automated={}, extra={"source": artifact_source(url, "^1.0", ".")}
    )
    st = await apps.wait_synced(name, revision=digests["1.2.0"])
    assert await settings(apps, dest_namespace) == {"greeting": "1.2.0"}
    assert f"{url}:1.2.0@" in st["revisionMessage"]

    newer = oci.push_manifests(
        "manifests/ranged", "1.3.0", {"settings.yaml": configmap("1.3.0")}, artifacts.FLUX_CONTENT
    )
    st = await apps.wait_synced(name, revision=newer)
    assert await settings(apps, dest_namespace) == {"greeting": "1.3.0"}
    state = await service.rollback(name, st["history"][0]["id"], initiated_by="test")
    assert state["phase"] == "Succeeded", state
    assert await settings(apps, dest_namespace) == {"greeting": "1.2.0"}
    assert (await apps.status(name))["history"][-1]["revision"] == digests["1.2.0"]


async def test_an_artifact_is_one_source_of_a_multi_source_app(
    registry_server: Any,
    tmp_path: Path,
    git_repo: Any,
    repo_secrets: Any,
    apps: Apps,
    dest_namespace: str,
) -> None:
    oci = pusher(registry_server, tmp_path, "artifacts-multi")
    first = oci.push_manifests(
        "manifests/multi", "v1", {"settings.yaml": configmap("from oci")}, artifacts.FLUX_CONTENT
    )
    url = oci.url("manifests/multi")
    await repo_secrets.create(url=url, username=oci.user, password=oci.password)
    extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-git\ndata: {a: b}\n"
    commit = git_repo.commit({"extra/cm.yaml": extra})
    name = f"multi-oci-{dest_namespace}"[:63]
    await apps.kube.create(
        {
            "apiVersion": appmodel.API_VERSION,
            "kind": appmodel.KIND,
            "metadata": {"name": name, "namespace": APP_NS},
            "spec": {
                "sources": [
                    artifact_source(url, "v1", "."),
                    {"repoURL": git_repo.git_url, "targetRevision": "main", "path": "extra"},
                ],
                "destination": {"namespace": dest_namespace},
                "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
            },
        }
    )
    apps.created.append(name)
    st = await apps.wait_synced(name, revision=f"{first},{commit}")
    assert await settings(apps, dest_namespace) == {"greeting": "from oci"}
    assert await apps.kube.get_or_none("v1", "ConfigMap", "from-git", dest_namespace)
    assert f"artifact {url}:v1@{first}" in st["revisionMessage"]

    second = oci.push_manifests(
        "manifests/multi", "v1", {"settings.yaml": configmap("pushed")}, artifacts.FLUX_CONTENT
    )
    await apps.wait_synced(name, revision=f"{second},{commit}")
    assert await settings(apps, dest_namespace) == {"greeting": "pushed"}
