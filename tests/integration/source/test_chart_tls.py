"""Chart repositories over HTTPS: a private CA, client certificates, and insecure mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tether.adapters.charts import ChartAuth, ChartError, ChartFetcher
from tether.testenv import pki as testpki


def _auth(repo: Any, keys: testpki.Pki, **changes: Any) -> ChartAuth:
    values: dict[str, Any] = {
        "username": repo.user,
        "password": repo.password,
        "ca_data": keys.ca_cert.read_text(),
        "cert_data": keys.kubelet_client_cert.read_text(),
        "key_data": keys.kubelet_client_key.read_text(),
    }
    values.update(changes)
    return ChartAuth(**values)


def test_https_repository_with_private_ca_and_client_certificate(
    tls_chart_repo: tuple[Any, testpki.Pki], tmp_path: Path
) -> None:
    repo, keys = tls_chart_repo
    fetcher = ChartFetcher(tmp_path / "cache")
    resolved = fetcher.resolve(repo.url, "web", "^1", _auth(repo, keys))
    chart = fetcher.files(resolved, _auth(repo, keys))
    assert resolved.version == "1.0.0" and chart.root == "web"
    assert resolved.digest.startswith("sha256:")
    assert (tmp_path / "cache" / resolved.digest.replace(":", "-")).is_file()


def test_unknown_ca_fails_naming_the_repository(
    tls_chart_repo: tuple[Any, testpki.Pki],
) -> None:
    repo, keys = tls_chart_repo
    with pytest.raises(ChartError) as err:
        ChartFetcher().resolve(repo.url, "web", "^1", _auth(repo, keys, ca_data=None))
    assert repo.url in str(err.value) and "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    assert repo.password not in str(err.value)


def test_missing_client_certificate_is_refused(tls_chart_repo: tuple[Any, testpki.Pki]) -> None:
    repo, keys = tls_chart_repo
    with pytest.raises(ChartError, match=r"cannot read index\.yaml"):
        ChartFetcher().resolve(
            repo.url, "web", "^1", _auth(repo, keys, cert_data=None, key_data=None)
        )


def test_insecure_skips_server_verification_but_still_sends_the_certificate(
    tls_chart_repo: tuple[Any, testpki.Pki],
) -> None:
    repo, keys = tls_chart_repo
    resolved = ChartFetcher().resolve(
        repo.url, "web", "^1", _auth(repo, keys, ca_data=None, insecure=True)
    )
    assert resolved.version == "1.0.0"
