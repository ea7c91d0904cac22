"""HTTP clients for chart repositories: basic auth, CA bundle, client certificate.

The client certificate and key are written to a private temporary directory
only for as long as ``ssl`` needs to load them (it reads files, not memory).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

import httpx

from tether.adapters.charts.auth import ChartAuth

TIMEOUT_SECONDS = 30.0


def ssl_context(auth: ChartAuth) -> ssl.SSLContext | bool:
    if auth.insecure and not auth.cert_data:
        return False
    context = ssl.create_default_context()
    if auth.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if auth.ca_data:
        context.load_verify_locations(cadata=auth.ca_data)
    if auth.cert_data and auth.key_data:
        with tempfile.TemporaryDirectory(prefix="tether-chart-tls-") as tmp:
            cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
            for path, data in ((cert, auth.cert_data), (key, auth.key_data)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(data)
            context.load_cert_chain(str(cert), str(key))
    return context


def client(auth: ChartAuth, timeout: float = TIMEOUT_SECONDS) -> httpx.Client:
    return httpx.Client(verify=ssl_context(auth), timeout=timeout, follow_redirects=True)
