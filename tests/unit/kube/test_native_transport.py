"""Which connections go over the native HTTP/2 client, and how its errors read in httpx's
terms (a request its connection ended under is "Server disconnected", which the client
sends again)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from pyreqwest import exceptions

from tether.adapters.kube import connection, native
from tether.adapters.kube.config import ConnectionConfig
from tether.adapters.kube.exec_credentials import ExecConfig, ExecCredentials

PLAIN = ConnectionConfig(
    server="https://127.0.0.1:6443",
    ca_file=None,
    token="t",
    cert_file=None,
    key_file=None,
    insecure=True,
    namespace="default",
)


def connect(conn: ConnectionConfig) -> native.Connection | None:
    return native.connect(conn, {}, None, 30.0, "native")


def test_a_plain_connection_goes_native_when_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(connect(PLAIN), native.Connection)
    monkeypatch.setenv(native.TRANSPORT_VARIABLE, "native")
    assert isinstance(native.connect(PLAIN, {}, None, 30.0), native.Connection)


@pytest.mark.parametrize(
    "change",
    [
        {"server_name": "kubernetes.default"},
        {"proxy_url": "http://proxy:3128"},
        {"exec_credentials": ExecCredentials(ExecConfig(command="true"))},
    ],
    ids=["tls-server-name", "proxy", "exec plugin"],
)
def test_what_the_native_client_cannot_carry_keeps_httpcore(change: dict[str, object]) -> None:
    assert connect(dataclasses.replace(PLAIN, **change)) is None  # type: ignore[arg-type]


def test_native_unless_httpcore_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.TRANSPORT_VARIABLE, raising=False)
    assert isinstance(native.connect(PLAIN, {}, None, 30.0), native.Connection)
    monkeypatch.setenv(native.TRANSPORT_VARIABLE, "httpcore")
    assert native.connect(PLAIN, {}, None, 30.0) is None
    assert native.connect(PLAIN, {}, None, 30.0, "httpcore") is None


def test_a_request_its_connection_ended_under_reads_as_server_disconnected() -> None:
    cut_off = exceptions.ReadError(
        "response body connection error",
        {"causes": [{"message": "stream closed because of a broken pipe"}]},
    )
    error = native.httpx_error(cut_off)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert connection.went_away(error)


def test_other_errors_keep_their_kind_and_every_cause() -> None:
    refused = exceptions.ConnectError("connection error", {"causes": [{"message": "refused"}]})
    error = native.httpx_error(refused)
    assert isinstance(error, httpx.ConnectError)
    assert str(error) == "connection error; refused"
    timeout = exceptions.ReadTimeoutError("timed out", {"causes": None})
    assert isinstance(native.httpx_error(timeout), httpx.ReadTimeout)


def test_a_certificate_rustls_refuses_reads_as_refused_for_httpx_to_try() -> None:
    refused = exceptions.ConnectError(
        "connection error",
        {"causes": [{"message": "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))"}]},
    )
    error = native.httpx_error(refused)
    assert isinstance(error, native.CertificateRefused)
    assert isinstance(error, httpx.ConnectError)  # as httpx would raise it to other callers


def test_an_answer_reads_like_an_httpx_response() -> None:
    answer = native.Answer(429, {"retry-after": "2"}, b'{"kind": "Status"}')
    assert answer.json() == {"kind": "Status"} and answer.text == '{"kind": "Status"}'
