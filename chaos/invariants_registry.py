"""Invariants for the registry and cache faults (the others are in ``invariants``).

- Registry pull Secrets are never blanked, deleted or replaced by a login the
  source did not hand out, at any moment of the run (a watch sees every
  write, not only the state after the fault).
- While the registry or the ECR API is down, each RegistryCredential's own
  conditions say why its refresh fails; once back, it refreshes again.
- While the cache disk is full, an app that cannot fetch says so in plain
  words (its ComparisonError names the disk), never "cannot reach" the Git
  server and never only a traceback in the controller's log.
"""

from __future__ import annotations

import threading
from typing import Any

from bench.harness import APPS_PATH, Env, Watcher

from chaos.registry import RegistrySide, decode_login

SECRETS = "/api/v1/secrets"
MANAGED = {"labelSelector": "tether.dev/managed-by=registry-credential"}
WHY = ("Unreachable", "cannot connect", "ConnectionRefused", "exited with status")
DISK_WORDS = "out of disk space"


class PullSecretGuard:
    """Watches every pull Secret the RegistryCredentials write; ``take()`` returns findings."""

    def __init__(self, env: Env, side: RegistrySide) -> None:
        self.side = side
        self.lock = threading.Lock()
        self.findings: list[str] = []
        self.writes = 0
        self.watcher = Watcher(env, SECRETS, self._event, MANAGED)

    def _event(self, event: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        where = f"{meta.get('namespace')}/{meta.get('name')}"
        owner = (meta.get("labels") or {}).get("tether.dev/registry-credential", "")
        problem = ""
        if event == "DELETED":
            problem = f"pull Secret {where} was deleted"
        elif owner in self.side.hosts:
            problem = self._judge(where, owner, obj)
        with self.lock:
            self.writes += event != "ADDED"
            if problem:
                self.findings.append(problem)

    def _judge(self, where: str, owner: str, secret: dict[str, Any]) -> str:
        logins = decode_login(secret)
        host = self.side.hosts[owner]
        if not logins:
            return f"pull Secret {where} was blanked (no readable .dockerconfigjson)"
        user, password = logins.get(host, ("", ""))
        if not password:
            return f"pull Secret {where} holds no password for {host}: {sorted(logins)}"
        if owner == "chaos-registry" and (user, password) != ("chaos", self.side.password):
            return f"pull Secret {where} holds a login the registry refuses"
        if owner == "chaos-ecr" and (user != "AWS" or "auth-token" not in password):
            return f"pull Secret {where} holds a login ECR never issued"
        return ""

    def take(self) -> list[str]:
        with self.lock:
            out, self.findings = self.findings, []
        return out

    def close(self) -> None:
        self.watcher.close()


def outage_explained(side: RegistrySide) -> list[str]:
    """Each credential's own conditions name the failure (not only its per-namespace detail)."""
    out = []
    for name, status in side.statuses().items():
        said = " ".join(
            f"{c.get('reason', '')} {c.get('message', '')}" for c in status.get("conditions") or []
        )
        if not any(word in said for word in WHY):
            out.append(
                f"RegistryCredential {name}: its conditions do not say why refresh fails while "
                f"its source is down: {said.strip()[:200] or 'no conditions'}"
            )
    return out


class DiskWitness:
    """Every ComparisonError the apps show during a disk-full episode."""

    def __init__(self, env: Env) -> None:
        self.lock = threading.Lock()
        self.recording = False
        self.messages: set[str] = set()
        self.watcher = Watcher(env, APPS_PATH, self._app)

    def _app(self, event: str, app: dict[str, Any]) -> None:
        if not self.recording or event == "DELETED":
            return
        for cond in (app.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "ComparisonError":
                with self.lock:
                    self.messages.add(str(cond.get("message", "")))

    def start(self) -> None:
        with self.lock:
            self.messages.clear()
            self.recording = True

    def stop(self) -> list[str]:
        """Findings: a fetch failure blamed on Git, or a full disk nobody was told about."""
        with self.lock:
            self.recording = False
            seen = set(self.messages)
        out = [
            f"an app blamed the Git server for the full cache disk: {m[:200]}"
            for m in sorted(seen)
            if "cannot reach" in m and "space" in m
        ]
        if not any(DISK_WORDS in m for m in seen):
            out.append(
                "the cache disk was full under a stream of commits but no app said so "
                f"(ComparisonErrors seen: {sorted(seen)[:3]})"
            )
        return out

    def close(self) -> None:
        self.watcher.close()


def new_tracebacks(log_text: str) -> list[str]:
    """Tracebacks in a piece of the controller's log: a failure nobody sees in status."""
    lines = log_text.splitlines()
    out = []
    for k, line in enumerate(lines):
        if line.startswith("Traceback"):
            tail = next((ln for ln in lines[k + 1 : k + 80] if ln and not ln[0].isspace()), "")
            out.append(f"the controller logged a traceback: {tail[:200]}")
    return out
