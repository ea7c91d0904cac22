"""Which connections get the native HTTP/2 transport, and how its errors read in httpx's
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
REQUEST = httpx.Request("GET", "https://127.0.0.1:6443/api")


def cut_off(message: str, *causes: str) -> exceptions.ReadError:
    return exceptions.ReadError(message, {"causes": [{"message": c} for c in causes]})


def test_a_plain_connection_gets_the_native_transport() -> None:
    assert isinstance(native.transport(PLAIN), native.NativeTransport)


@pytest.mark.parametrize(
    "change",
    [
        {"server_name": "kubernetes.default"},
        {"proxy_url": "http://proxy:3128"},
        {"exec_credentials": ExecCredentials(ExecConfig(command="true"))},
    ],
    ids=["tls-server-name", "proxy", "exec plugin"],
)
def test_what_the_native_transport_cannot_carry_keeps_httpcore(change: dict[str, object]) -> None:
    assert native.transport(dataclasses.replace(PLAIN, **change)) is None  # type: ignore[arg-type]


def test_the_environment_can_ask_for_httpcore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(native.TRANSPORT_VARIABLE, "httpcore")
    assert native.transport(PLAIN) is None


def test_a_request_its_connection_ended_under_reads_as_server_disconnected() -> None:
    error = native._httpx_error(
        cut_off("response body connection error", "stream closed because of a broken pipe"),
        REQUEST,
    )
    assert isinstance(error, httpx.RemoteProtocolError)
    assert connection.went_away(error)


def test_other_errors_keep_their_kind_and_every_cause() -> None:
    refused = exceptions.ConnectError("connection error", {"causes": [{"message": "refused"}]})
    error = native._httpx_error(refused, REQUEST)
    assert isinstance(error, httpx.ConnectError)
    assert str(error) == "connection error; refused"
    timeout = exceptions.ReadTimeoutError("timed out", {"causes": None})
    assert isinstance(native._httpx_error(timeout, REQUEST), httpx.ReadTimeout)
