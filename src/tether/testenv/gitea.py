"""A real Gitea for tests: built from the Go module proxy, run on loopback with sqlite.

No package registry ships a Gitea binary, but its source is on the Go module
proxy. Its go.mod has ``replace`` directives (which ``go install`` refuses)
and, since 1.27, declares the module path ``gitea.dev`` while the proxy
serves it as ``code.gitea.io/gitea``; so it is built through a wrapper
module that requires ``gitea.dev``, replaces it with the proxy's
``code.gitea.io/gitea`` and copies Gitea's own replace directives and
go.sum (read from the downloaded module, so they always match the
version). sqlite is the pure-Go driver Gitea defaults to since 1.27: no CGO.
The web assets are not in the module and the API does not need them;
templates and locales are (they are read from disk by a build without the
``bindata`` tag), so they are copied beside the binary. Everything lands in
the cache directory under the version, so a second build is a no-op.

``start`` runs it with an INSTALL_LOCK'd app.ini (sqlite, offline, no mailer,
no SSH, no registration), makes an admin with ``gitea admin user create``
and an API token through the API.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tether.testenv import binaries
from tether.testenv.processes import free_port

GITEA_VERSION = "v1.27.3"
GITEA_MODULE = "code.gitea.io/gitea"
_STATIC = ("options", "templates", "public")
ADMIN = "tether-admin"


def gitea_dir(root: Path | None = None) -> Path:
    return (root or binaries.cache_dir()) / "testenv" / f"gitea-{GITEA_VERSION}"


def gitea_path(root: Path | None = None) -> Path:
    return gitea_dir(root) / "gitea"


def build_gitea(root: Path | None = None, *, log: bool = True) -> Path:
    """Build (once) and return the Gitea binary; its templates and locales sit beside it."""
    home = gitea_dir(root)
    target = home / "gitea"
    if target.exists() and (home / "static" / "templates").is_dir():
        return target
    home.mkdir(parents=True, exist_ok=True)
    go = binaries._go()
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    download = _json(
        [go, "mod", "download", "-json", f"{GITEA_MODULE}@{GITEA_VERSION}"], home, env, log
    )
    source, gomod = Path(download["Dir"]), Path(download["GoMod"])
    declared = _json([go, "mod", "edit", "-json", str(gomod)], home, env, log)
    with tempfile.TemporaryDirectory(prefix="tether-gitea-") as tmp:
        wrapper = Path(tmp)
        (wrapper / "go.mod").write_text(wrapper_gomod(declared))
        shutil.copyfile(source / "go.sum", wrapper / "go.sum")
        partial = target.with_suffix(".partial")
        ldflags = f"-s -w -X main.Version={GITEA_VERSION.lstrip('v')}"
        module_path = str(declared["Module"]["Path"])
        binaries._run(
            [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(partial), module_path],
            cwd=wrapper,
            env=env,
            log=log,
        )
    static = home / "static"
    shutil.rmtree(static, ignore_errors=True)
    for name in _STATIC:
        if (source / name).is_dir():
            # the module cache is read-only; copies must stay deletable (make clean)
            shutil.copytree(source / name, static / name, copy_function=shutil.copyfile)
    for folder, _, _ in os.walk(static):
        os.chmod(folder, 0o755)
    partial.rename(target)
    return target


def wrapper_gomod(declared: dict[str, Any]) -> str:
    """A go.mod requiring Gitea under its declared path, with its replace directives."""
    path = str(declared["Module"]["Path"])
    lines = [
        "module tether.dev/testenv/gitea",
        "",
        f"go {declared.get('Go') or '1.26'}",
        "",
        f"require {path} {GITEA_VERSION}",
        "",
    ]
    if path != GITEA_MODULE:
        lines.append(f"replace {path} {GITEA_VERSION} => {GITEA_MODULE} {GITEA_VERSION}")
    for rep in declared.get("Replace") or []:
        old, new = rep["Old"], rep["New"]
        left = f"{old['Path']} {old['Version']}" if old.get("Version") else old["Path"]
        right = f"{new['Path']} {new['Version']}" if new.get("Version") else new["Path"]
        lines.append(f"replace {left} => {right}")
    return "\n".join(lines) + "\n"


def _json(cmd: list[str], cwd: Path, env: dict[str, str], log: bool) -> dict[str, Any]:
    if log:
        print("+ " + " ".join(cmd[:4]) + " ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise binaries.BinariesMissing(f"build step failed: {' '.join(cmd[:4])}\n{tail}")
    data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    return data


# ---------------------------------------------------------------- running


def app_ini(workdir: Path, port: int, static: Path) -> str:
    root_ok = "true" if os.getuid() == 0 else "false"
    return f"""\
APP_NAME = Tether test Gitea
RUN_MODE = prod
RUN_USER = {getpass.getuser()}
WORK_PATH = {workdir}
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = {root_ok}

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = {port}
ROOT_URL = http://127.0.0.1:{port}/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
STATIC_ROOT_PATH = {static}
APP_DATA_PATH = {workdir}/data

[database]
DB_TYPE = sqlite3
PATH = {workdir}/data/gitea.db

[repository]
ROOT = {workdir}/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = {secrets.token_hex(32)}
INTERNAL_TOKEN = {secrets.token_hex(48)}

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[actions]
ENABLED = false

[packages]
ENABLED = false

[log]
MODE = file
LEVEL = Warn
ROOT_PATH = {workdir}/log
"""


@dataclass
class GiteaServer:
    """A running Gitea: ``url``, an admin's ``token`` and a process to stop."""

    url: str
    workdir: Path
    process: subprocess.Popen[bytes]
    admin: str = ADMIN
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)

    def api(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = ()) -> Any:
        """One API call as the admin; raises unless the status is 2xx (or in ``ok``)."""
        response = httpx.request(
            method,
            f"{self.url}api/v1{path}",
            json=body,
            headers={"Authorization": f"token {self.token}"},
            timeout=30,
        )
        if not (200 <= response.status_code < 300 or response.status_code in ok):
            raise RuntimeError(
                f"gitea {method} {path}: HTTP {response.status_code} {response.text}"
            )
        return response.json() if response.content else None

    def create_repo(self, name: str, *, private: bool = False) -> dict[str, Any]:
        """An empty repository of the admin (no initial commit)."""
        data = self.api("POST", "/user/repos", {"name": name, "private": private})
        assert isinstance(data, dict)
        return data

    def clone_url(self, repo: str, *, with_token: bool = False) -> str:
        auth = f"{self.admin}:{self.token}@" if with_token else ""
        return f"{self.url.replace('http://', 'http://' + auth)}{self.admin}/{repo}.git"

    def log_tail(self, lines: int = 30) -> str:
        found = sorted((self.workdir / "log").glob("*.log"))
        text = "\n".join(p.read_text(errors="replace") for p in found)
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start(workdir: Path, binary: Path | None = None, *, timeout: float = 60) -> GiteaServer:
    """Start Gitea in ``workdir`` (fresh) and return it once its API answers with a token."""
    binary = binary or build_gitea()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "app.ini"
    config.write_text(app_ini(workdir, port, binary.parent / "static"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITEA_"))},
        "HOME": str(workdir),
        "GITEA_WORK_DIR": str(workdir),
    }
    out = open(workdir / "gitea.out", "wb")  # noqa: SIM115 - kept open for the process's life
    process = subprocess.Popen(
        [str(binary), "web", "--config", str(config), "--work-path", str(workdir)],
        cwd=workdir,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    out.close()
    server = GiteaServer(f"http://127.0.0.1:{port}/", workdir, process)
    try:
        _wait_healthy(server, timeout)
        server.password = secrets.token_urlsafe(18)
        admin = [
            str(binary),
            "--config",
            str(config),
            "--work-path",
            str(workdir),
            "admin",
            "user",
            "create",
            "--admin",
            "--username",
            ADMIN,
            "--password",
            server.password,
            "--email",
            f"{ADMIN}@example.com",
            "--must-change-password=false",
        ]
        done = subprocess.run(admin, cwd=workdir, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"gitea admin user create failed: {done.stderr or done.stdout}")
        server.token = _token(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_healthy(server: GiteaServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            out = (server.workdir / "gitea.out").read_text(errors="replace")
            raise RuntimeError(f"gitea exited with {server.process.returncode}: {out[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}api/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"gitea did not become healthy in {timeout:.0f}s: {server.log_tail()}")


def _token(server: GiteaServer) -> str:
    response = httpx.post(
        f"{server.url}api/v1/users/{server.admin}/tokens",
        json={"name": f"tests-{secrets.token_hex(3)}", "scopes": ["all"]},
        auth=(server.admin, server.password),
        timeout=30,
    )
    if response.status_code != 201:
        raise RuntimeError(f"gitea token: HTTP {response.status_code} {response.text}")
    return str(response.json()["sha1"])
