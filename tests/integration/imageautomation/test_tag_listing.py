"""Tags come from the real registry API (paged, with its login) and from ECR's API."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest
from automation_tools import ecr_put

from fixtures.moto_ecr import ACCOUNT, MotoServer
from fixtures.registry import RegistryServer
from tether.adapters.registry.providers import EcrProvider
from tether.adapters.registry.tags import (
    TagListError,
    creds_from_secret,
    list_ecr_tags,
    list_tags,
    tag_digest,
)


def test_tags_are_listed_across_link_pages_with_the_registry_login(
    registry_server: RegistryServer, repository: str, push_tag: Callable[[str, str], None]
) -> None:
    for tag in ("1.1.0", "1.2.0", "2.0.0", "latest"):
        push_tag(repository, tag)
    creds = ("ci", registry_server.users["ci"])
    tags = list_tags(registry_server.host, repository, creds, page_size=2)
    assert sorted(t.name for t in tags) == ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "latest"]
    assert tag_digest(registry_server.host, repository, "1.2.0", creds).startswith("sha256:")


def test_a_wrong_password_is_unauthorized_and_the_message_holds_no_secret(
    registry_server: RegistryServer, repository: str
) -> None:
    with pytest.raises(TagListError) as caught:
        list_tags(registry_server.host, repository, ("ci", "wrong-password-123"))
    assert caught.value.reason == "Unauthorized"
    assert "wrong-password-123" not in str(caught.value)


def test_pull_secret_in_dockerconfigjson_form_gives_the_login() -> None:
    data = {".dockerconfigjson": '{"auths": {"r.example.com": {"auth": "dTpwYXNz"}}}'}
    assert creds_from_secret(data, "r.example.com") == ("u", "pass")
    assert creds_from_secret(data, "other.example.com") is None
    assert creds_from_secret({"username": "a", "password": "b"}, "x") == ("a", "b")


def test_ecr_tags_come_with_push_times_and_digests(moto_ecr: MotoServer) -> None:
    ecr = boto3.client(
        "ecr",
        region_name="eu-west-1",
        endpoint_url=moto_ecr.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ecr.create_repository(repositoryName="listing/api")
    for tag in ("1.0.0", "1.1.0"):
        ecr_put(ecr, "listing/api", tag)
    provider = EcrProvider(endpoint_url=moto_ecr.url, **moto_ecr.keys)
    host = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
    tags = {t.name: t for t in list_ecr_tags(provider, host, "listing/api", None)}
    assert set(tags) == {"1.0.0", "1.1.0"}
    assert all(t.pushed_at is not None and t.digest.startswith("sha256:") for t in tags.values())
    with pytest.raises(TagListError, match="RepositoryNotFound"):
        list_ecr_tags(provider, host, "missing/api", None)
