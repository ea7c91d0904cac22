"""OCI manifest artifacts: references, layer choice, safe unpacking, cosign payloads."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import tarfile

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tether.adapters.charts import ChartError, artifacts, signatures
from tether.adapters.render import limits
from tether.engine.application import Source

DIGEST = "sha256:" + "a" * 64


def tgz(*members: tarfile.TarInfo, body: bytes = b"kind: ConfigMap\n") -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info in members:
            if info.isfile():
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
            else:
                tar.addfile(info)
    return gzip.compress(raw.getvalue())


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("", artifacts.Reference(tag="latest")),
        ("HEAD", artifacts.Reference(tag="latest")),
        ("prod", artifacts.Reference(tag="prod")),
        ("1.x", artifacts.Reference(tag="1.x")),
        (DIGEST, artifacts.Reference(digest=DIGEST)),
        (f"prod@{DIGEST}", artifacts.Reference(tag="prod", digest=DIGEST)),
        ("^1.2", artifacts.Reference(constraint="^1.2")),
        (">=1.0 <2.0", artifacts.Reference(constraint=">=1.0 <2.0")),
    ],
)
def test_target_revision_is_a_tag_a_digest_or_a_range(
    target: str, expected: artifacts.Reference
) -> None:
    assert artifacts.parse_reference(target) == expected


def test_an_oci_url_without_chart_is_an_artifact_and_with_chart_a_chart() -> None:
    plain = Source.model_validate({"repoURL": "oci://r.example/manifests/web", "path": "app"})
    chart = Source.model_validate({"repoURL": "oci://r.example/charts", "chart": "web"})
    git = Source.model_validate({"repoURL": "https://git.example/web.git", "path": "app"})
    assert plain.is_artifact and not plain.is_chart
    assert chart.is_chart and not chart.is_artifact
    assert not git.is_artifact


def test_the_flux_layer_is_preferred_and_a_chart_or_an_index_is_named() -> None:
    other = "sha256:" + "b" * 64
    manifest = {
        "layers": [
            {"mediaType": artifacts.OCI_LAYER, "digest": other},
            {"mediaType": artifacts.FLUX_CONTENT, "digest": DIGEST},
        ]
    }
    assert artifacts.content_layer(manifest, "a") == (DIGEST, artifacts.FLUX_CONTENT)
    chart = {"layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip"}]}
    with pytest.raises(ChartError, match="is a Helm chart: name it with chart:"):
        artifacts.content_layer(chart, "a")
    with pytest.raises(ChartError, match="image index"):
        artifacts.content_layer({"manifests": []}, "a")
    with pytest.raises(ChartError, match="no tar\\+gzip layer"):
        artifacts.content_layer({"layers": [{"mediaType": "text/plain"}]}, "a")


def test_unpacking_keeps_regular_files_and_drops_directories() -> None:
    files = artifacts.unpack(tgz(entry("./app", tarfile.DIRTYPE), entry("./app/cm.yaml")), "a")
    assert files == {"app/cm.yaml": b"kind: ConfigMap\n"}


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (entry("app/../../etc/passwd"), "'app/../../etc/passwd' leaves the artifact"),
        (entry("/etc/cm.yaml"), "'/etc/cm.yaml' leaves the artifact"),
        (entry("app/link.yaml", tarfile.SYMTYPE, "/etc/passwd"), "'app/link.yaml' is a link"),
        (entry("app/hard.yaml", tarfile.LNKTYPE, "app/cm.yaml"), "'app/hard.yaml' is a link"),
        (entry("app/fifo", tarfile.FIFOTYPE), "'app/fifo' is a link or special file"),
    ],
)
def test_unpacking_refuses_entries_that_could_leave_the_tree(
    member: tarfile.TarInfo, why: str
) -> None:
    with pytest.raises(ChartError, match=re.escape(why)):
        artifacts.unpack(tgz(entry("app/cm.yaml"), member), "artifact x")


def test_unpacking_is_bounded_by_the_render_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 4)
    with pytest.raises(ChartError, match=re.escape("'big.yaml' is 16 bytes, over the limit of 4")):
        artifacts.unpack(tgz(entry("big.yaml")), "a")
    monkeypatch.setattr(artifacts, "MAX_FILES", 2)
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 1024)
    with pytest.raises(ChartError, match="more than 2 files"):
        artifacts.unpack(tgz(entry("a.yaml"), entry("b.yaml"), entry("c.yaml")), "a")


def test_something_that_is_not_a_tarball_is_named() -> None:
    with pytest.raises(ChartError, match="not a tar\\+gzip of manifests"):
        artifacts.unpack(b"plain text", "artifact x")


def payload(digest: str) -> bytes:
    critical = {
        "identity": {"docker-reference": "r.example/web"},
        "image": {"docker-manifest-digest": digest},
        "type": signatures.SIGNATURE_TYPE,
    }
    return json.dumps({"critical": critical, "optional": None}).encode()


def test_a_cosign_payload_verifies_only_with_its_key_and_only_for_its_digest() -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    body = payload(DIGEST)
    signature = key.sign(body, ec.ECDSA(hashes.SHA256()))
    assert signatures.signed_by(key.public_key(), signature, body)
    assert not signatures.signed_by(other.public_key(), signature, body)
    assert not signatures.signed_by(key.public_key(), signature, body + b" ")
    assert signatures.names_digest(body, DIGEST)
    assert not signatures.names_digest(body, "sha256:" + "b" * 64)
    assert not signatures.names_digest(base64.b64encode(body), DIGEST)
    assert signatures.signature_tag(DIGEST) == "sha256-" + "a" * 64 + ".sig"


def test_a_key_that_is_not_pem_is_named_without_its_content() -> None:
    with pytest.raises(ChartError, match="cosignPublicKey is not a PEM public key") as err:
        signatures.load_key("secret-ish-garbage", "artifact x")
    assert "garbage" not in str(err.value)
