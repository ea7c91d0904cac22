"""Chart repository credentials, project admission, archives and dependencies, on plain data."""

from __future__ import annotations

import base64
import io
import tarfile

import pytest

from tether.adapters.charts import ChartError, chart_auth_for, is_oci
from tether.adapters.charts.store import ChartStore, unpack
from tether.controller.charts import missing_dependencies
from tether.engine import projects


def _secret(name: str, project: str | None = None, **data: str) -> dict[str, object]:
    values = dict(data)
    if project:
        values["project"] = project
    return {
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "tether",
            "labels": {"tether.dev/secret-type": "repository"},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def test_oci_credentials_match_with_or_without_the_scheme() -> None:
    secrets = [_secret("reg", url="registry.example.com/charts", username="u", password="p")]
    for url in ("oci://registry.example.com/charts/web", "registry.example.com/charts/web"):
        auth = chart_auth_for(url, secrets)
        assert auth.basic == ("u", "p") and auth.declared


def test_chart_credentials_serve_only_their_project_and_hide_the_password() -> None:
    secrets = [
        _secret("a", project="team-a", url="https://charts.example.com", password="pw-a"),
        _secret("b", url="https://charts.example.com/stable", password="pw", insecure="true"),
    ]
    assert chart_auth_for("https://charts.example.com/stable", secrets, "team-b").basic is None
    auth = chart_auth_for("https://charts.example.com/stable", secrets)
    assert auth.basic == ("", "pw") and auth.insecure
    assert "pw" not in repr(auth)
    assert chart_auth_for("https://charts.example.com/x", secrets, "team-a").password == "pw-a"


def test_oci_urls_are_those_with_oci_scheme_or_none() -> None:
    assert is_oci("oci://r/x") and is_oci("r.example.com/x")
    assert not is_oci("https://charts.example.com")


def test_project_source_repos_admit_chart_repository_urls() -> None:
    project = projects.parse(
        projects.new_project(
            "p",
            "tether",
            {
                "sourceRepos": ["https://charts.example.com/*", "oci://registry.example.com/*"],
                "destinations": [{"server": "*", "namespace": "*"}],
            },
        )
    )
    assert projects.repo_allowed(project, "https://charts.example.com/stable")
    assert projects.repo_allowed(project, "oci://registry.example.com/charts")
    assert not projects.repo_allowed(project, "https://evil.example.com/stable")


def _archive(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_archives_that_leave_the_chart_are_refused() -> None:
    with pytest.raises(ChartError, match="leaves the chart"):
        unpack(_archive({"../../etc/cron.d/x": b"boom"}), "web 1.0.0")


def test_store_keeps_archives_by_digest_and_drops_a_corrupted_one(tmp_path) -> None:
    store = ChartStore(tmp_path)
    data = _archive({"web/Chart.yaml": b"name: web\nversion: 1.0.0\n"})
    digest = store.put(data)
    assert store.get(digest) == data
    (tmp_path / digest.replace(":", "-")).write_bytes(b"tampered")
    assert store.get(digest) is None


def test_missing_dependencies_are_those_from_repositories_not_vendored() -> None:
    chart = (
        b"apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n"
        b"- {name: redis, version: ^1, repository: https://charts.example.com}\n"
        b"- {name: pg, version: ^2, repository: oci://registry.example.com/charts}\n"
        b"- {name: local, version: 1.0.0, repository: file://../local}\n"
        b"- {name: vendored, version: 1.0.0, repository: https://charts.example.com}\n"
    )
    files = {
        "app/Chart.yaml": chart,
        "app/charts/vendored-1.0.0.tgz": b"",
    }
    assert [d["name"] for d in missing_dependencies(files, "app")] == ["redis", "pg"]
