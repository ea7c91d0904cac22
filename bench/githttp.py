"""The benchmark's bare repositories over Git's smart HTTP protocol.

Flux's source-controller refuses ``git://`` URLs, so for the peers the same
bare repository that ``git daemon`` serves to Tether is also served over HTTP:
``git http-backend`` run as a CGI program per request behind a small threaded
server, as a web server would run it.
"""

from __future__ import annotations

import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import log


class GitHttpServer:
    """Serves every repository under ``root`` at ``http://127.0.0.1:<port>/<name>.git``."""

    def __init__(self, root: Path, git_env: dict[str, str]) -> None:
        self.root = root
        self.upload_packs = 0
        self._lock = threading.Lock()
        backend = subprocess.run(
            ["git", "--exec-path"], capture_output=True, text=True, check=True, env=git_env
        ).stdout.strip()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._cgi(self, str(Path(backend) / "git-http-backend"), git_env)

            def do_POST(self) -> None:
                server._cgi(self, str(Path(backend) / "git-http-backend"), git_env)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True, name="git-http"
        )
        self._thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def _cgi(self, req: BaseHTTPRequestHandler, backend: str, git_env: dict[str, str]) -> None:
        parts = urlsplit(req.path)
        if parts.path.endswith("/git-upload-pack"):
            with self._lock:
                self.upload_packs += 1
        env = dict(git_env)
        env.update(
            GIT_PROJECT_ROOT=str(self.root),
            GIT_HTTP_EXPORT_ALL="1",
            GATEWAY_INTERFACE="CGI/1.1",
            REQUEST_METHOD=req.command,
            PATH_INFO=parts.path,
            QUERY_STRING=parts.query,
            REMOTE_ADDR=req.client_address[0],
            CONTENT_TYPE=req.headers.get("Content-Type", ""),
            SERVER_PROTOCOL="HTTP/1.1",
        )
        for key, value in req.headers.items():
            env["HTTP_" + key.upper().replace("-", "_")] = value
        body = b""
        length = int(req.headers.get("Content-Length") or 0)
        if length:
            body = req.rfile.read(length)
            env["CONTENT_LENGTH"] = str(length)
        elif req.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _read_chunked(req)
            env["CONTENT_LENGTH"] = str(len(body))
        proc = subprocess.run([backend], input=body, env=env, capture_output=True, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = proc.stdout.partition(b"\n\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        if proc.returncode != 0 and status == 200:
            log(f"git http-backend {parts.path}: {proc.stderr.decode(errors='replace')[:300]}")
            status = 500
        req.send_response(status)
        for key, value in headers:
            if key.lower() != "content-length":
                req.send_header(key, value)
        req.send_header("Content-Length", str(len(payload)))
        req.end_headers()
        req.wfile.write(payload)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


def _read_chunked(req: BaseHTTPRequestHandler) -> bytes:
    out = bytearray()
    while True:
        size = int(req.rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            req.rfile.readline()
            return bytes(out)
        out += req.rfile.read(size)
        req.rfile.readline()


def git_env_for(base: dict[str, str]) -> dict[str, str]:
    """The Git server's environment without the variables CGI sets per request."""
    return {k: v for k, v in base.items() if not k.startswith(("HTTP_", "CONTENT_"))} | {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin")
    }
