"""The registry side of a chaos run: a real registry, moto's ECR API and two RegistryCredentials.

Both credentials refresh every few seconds, so a refresh is always due while
their source is down:

- ``chaos-ecr`` fetches an ECR token from moto_server (the ECR API) and
  writes it into ``ecr-pull`` in the first apps' namespaces. moto hands out
  tokens that expired in 2015, so the controller refreshes it every
  ``minInterval``.
- ``chaos-registry`` runs an exec credential plugin that logs in to the real
  docker-registry (``GET /v2/`` with the password, as ``docker login`` does)
  before handing the login out for 20 s; it writes ``registry-pull``.

The registry and moto are the test suite's own fixtures (``tests/fixtures``),
started here outside pytest; ``down()`` stops both, ``up()`` starts them on
the same ports with the same data.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.harness import APP_NS, Env, log

from chaos.load import app_name

TESTS = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS) not in sys.path:  # the fixtures import as ``fixtures.*``, as under pytest
    sys.path.insert(0, str(TESTS))

from fixtures.moto_ecr import MotoServer  # noqa: E402
from fixtures.registry import RegistryServer  # noqa: E402

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
CREDS = "/apis/tether.dev/v1alpha1/registrycredentials"
POLICY = "tether-registry-policy"
USER = "chaos"
REFRESH = {"fraction": 0.2, "minInterval": "2s", "retryBackoff": "1s", "maxRetryBackoff": "4s"}

PLUGIN = """#!{python}
# A credential plugin that checks the login against the registry first, as docker login does.
import base64, json, sys, urllib.error, urllib.request
host, password = {host!r}, open({password_file!r}).read().strip()
sys.stdin.read()
request = urllib.request.Request("http://" + host + "/v2/")
auth = base64.b64encode(("{user}:" + password).encode()).decode()
request.add_header("Authorization", "Basic " + auth)
try:
    urllib.request.urlopen(request, timeout=3).close()
except urllib.error.HTTPError as exc:
    sys.stderr.write("Unauthorized" if exc.code == 401 else "HTTP %d" % exc.code)
    sys.exit(1)
except OSError:
    sys.stderr.write("ConnectionRefused: the registry is unreachable")
    sys.exit(1)
print(json.dumps({{
    "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
    "kind": "CredentialProviderResponse",
    "cacheKeyType": "Registry",
    "cacheDuration": "20s",
    "auth": {{host: {{"username": "{user}", "password": password}}}},
}}))
"""


class RegistrySide:
    """Started by ``setup`` once the apps' namespaces exist; ``close`` stops it all."""

    def __init__(self, env: Env, namespaces: int = 5) -> None:
        self.env = env
        self.dir = env.tmp / "registry-side"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.registry = RegistryServer(self.dir / "registry", users={USER: "chaos-pass-0"})
        self.moto = MotoServer()
        self.password = self.registry.users[USER]
        self.plugin = self.dir / "plugin" / "registry-login"
        self.namespaces_count = namespaces
        self.names = ["chaos-ecr", "chaos-registry"]
        self.secret_names = {"chaos-ecr": "ecr-pull", "chaos-registry": "registry-pull"}
        self.hosts = {"chaos-ecr": ECR_HOST, "chaos-registry": self.registry.host}
        self.namespaces: list[str] = []
        self.last_down: float | None = None  # epoch seconds the last outage began

    # -- set-up ----------------------------------------------------------------------
    def setup(self, apps: int) -> None:
        self.registry.start()
        self.moto.start()
        self.namespaces = [app_name(i) for i in range(min(self.namespaces_count, apps))]
        password_file = self.dir / "plugin" / "password"
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.write_text(self.password)
        self.plugin.write_text(
            PLUGIN.format(
                python=sys.executable,
                host=self.registry.host,
                password_file=str(password_file),
                user=USER,
            )
        )
        self.plugin.chmod(0o755)
        api = self.env.api
        policy = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": POLICY, "namespace": APP_NS},
            "data": {"execCommands": f"{self.plugin}\n", "endpointURLs": f"{self.moto.url}\n"},
        }
        keys = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "chaos-ecr-keys", "namespace": APP_NS},
            "stringData": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        }
        for path, body in ((f"/api/v1/namespaces/{APP_NS}/configmaps", policy),
                           (f"/api/v1/namespaces/{APP_NS}/secrets", keys)):  # fmt: skip
            api.post(path, json=body).raise_for_status()
        providers: dict[str, dict[str, Any]] = {
            "chaos-ecr": {
                "type": "ecr",
                "ecr": {
                    "region": "eu-west-1",
                    "endpointURL": self.moto.url,
                    "credentialsSecretRef": {"name": "chaos-ecr-keys"},
                },
            },
            "chaos-registry": {"type": "exec", "exec": {"command": str(self.plugin)}},
        }
        for name, provider in providers.items():
            body = {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "RegistryCredential",
                "metadata": {"name": name},
                "spec": {
                    "registry": self.hosts[name],
                    "provider": provider,
                    "secretName": self.secret_names[name],
                    "namespaces": {"names": self.namespaces},
                    "refresh": REFRESH,
                    # As a 12-hour token warned of 1 h ahead: for most of an outage only
                    # the Ready condition can say that refresh is failing.
                    "warnBefore": "2s",
                },
            }
            api.post(CREDS, json=body).raise_for_status()
        if not self.wait_refreshed(time.time(), 90):
            raise RuntimeError(f"registry credentials never refreshed: {self.statuses()}")
        log(f"registry credentials refreshed in {len(self.namespaces)} namespaces")

    # -- the fault -----------------------------------------------------------------
    def down(self) -> None:
        """The registry and the ECR API stop answering (connections refused)."""
        self.registry.stop()
        self.moto.stop()
        self.last_down = time.time()
        log("registry and ECR API down")

    def up(self) -> None:
        self.registry.start()
        self.moto.start()
        log("registry and ECR API back")

    # -- reading back --------------------------------------------------------------
    def statuses(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name in self.names:
            resp = self.env.api.get(f"{CREDS}/{name}")
            out[name] = (resp.json().get("status") or {}) if resp.status_code == 200 else {}
        return out

    def refreshed_since(self, since: float) -> list[str]:
        """Credentials (or namespaces) not refreshed without error since ``since`` (epoch,
        to the second as status has it)."""
        behind = []
        for name, status in self.statuses().items():
            per_ns = {n.get("namespace"): n for n in status.get("namespaces") or []}
            for ns in self.namespaces:
                entry = per_ns.get(ns) or {}
                last = _epoch(entry.get("lastRefresh"))
                if last is None or last < int(since) or entry.get("lastError"):
                    behind.append(f"{name} in {ns}")
        return behind

    def wait_refreshed(self, since: float, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.refreshed_since(since):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)
        return True

    def close(self) -> None:
        self.registry.stop()
        self.moto.stop()


def _epoch(stamp: Any) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def decode_login(secret: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """host -> (username, password) of a dockerconfigjson Secret (empty when unreadable)."""
    try:
        raw = base64.b64decode((secret.get("data") or {}).get(".dockerconfigjson", ""))
        auths = json.loads(raw or b"{}").get("auths") or {}
        return {
            host: (str(entry.get("username", "")), str(entry.get("password", "")))
            for host, entry in auths.items()
        }
    except (ValueError, AttributeError):
        return {}
