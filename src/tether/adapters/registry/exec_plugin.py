"""The ``exec`` provider: a kubelet credential provider plugin, run in a tight box.

A plugin is a program the controller starts on behalf of a RegistryCredential,
so it gets nothing the controller has: no inherited environment (only the
variables its spec sets, which the registry policy has vetted), no shell, no
working directory of ours, a hard timeout after which its whole process group
is killed, and bounded output. Its stdout is parsed and never echoed; its
stderr is never copied anywhere: an error says how many bytes it held and
which words from a fixed vocabulary (AccessDenied, Timeout, ...) it mentioned,
so nothing a plugin prints (a token, a key) can reach status, Events or logs.

Which commands may run at all is decided before this module is reached
(``tether.engine.registry.policy``); this module only runs them safely.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from tether.adapters.registry._http import best_auth_key
from tether.adapters.registry.providers import Clock, ProviderError, Token, utcnow
from tether.engine.registry.spec import MAX_EXEC_TIMEOUT, parse_duration

KUBELET_API_VERSION = "credentialprovider.kubelet.k8s.io/v1"
MAX_STDOUT = 64 * 1024  # a CredentialProviderResponse is a few hundred bytes
MAX_STDERR = 16 * 1024  # read only to be counted and scanned for STDERR_WORDS
STDERR_WORDS = (
    "AccessDenied",
    "Unauthorized",
    "Forbidden",
    "ExpiredToken",
    "InvalidClientTokenId",
    "NoCredentialProviders",
    "Throttling",
    "NotFound",
    "Timeout",
    "ConnectionRefused",
)
_WORD = re.compile("|".join(STDERR_WORDS), re.IGNORECASE)


@dataclass(frozen=True)
class PluginRun:
    returncode: int
    stdout: bytes
    stderr_bytes: int
    stderr_words: tuple[str, ...]


def stderr_summary(stderr: bytes) -> tuple[str, ...]:
    """The fixed-vocabulary words ``stderr`` mentions, in vocabulary order, never its text."""
    found = {m.group(0).lower() for m in _WORD.finditer(stderr.decode(errors="replace"))}
    return tuple(word for word in STDERR_WORDS if word.lower() in found)


def run_plugin(
    argv: list[str], request: bytes, env: Mapping[str, str], timeout: float
) -> PluginRun:
    """Run ``argv`` with exactly ``env``, feed ``request``, read bounded output.

    Raises ``TimeoutError`` when the plugin runs longer than ``timeout`` and
    ``OverflowError`` when it writes more than ``MAX_STDOUT``; either way its
    process group is killed first.
    """
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd="/",
        close_fds=True,
        start_new_session=True,
        shell=False,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + timeout
    try:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(request)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        out, err = bytearray(), bytearray()
        limits = {proc.stdout.fileno(): (out, MAX_STDOUT), proc.stderr.fileno(): (err, MAX_STDERR)}
        with selectors.DefaultSelector() as sel:
            for stream in (proc.stdout, proc.stderr):
                sel.register(stream, selectors.EVENT_READ)
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                for key, _ in sel.select(left):
                    chunk = os.read(key.fd, 8192)
                    buf, limit = limits[key.fd]
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    if len(buf) < limit:
                        buf.extend(chunk[: limit - len(buf)])
                    elif key.fd == proc.stdout.fileno():
                        raise OverflowError
        try:
            returncode = proc.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            raise TimeoutError from None
        return PluginRun(returncode, bytes(out), len(err), stderr_summary(bytes(err)))
    finally:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the plugin and anything it left behind in its session; reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


class ExecProvider:
    """Runs a kubelet credential provider plugin the way kubelet would, minus kubelet's env.

    Request on stdin: ``{"apiVersion": KUBELET_API_VERSION, "kind":
    "CredentialProviderRequest", "image": ...}``. Response on stdout:
    ``CredentialProviderResponse`` with ``cacheKeyType``, optional ``cacheDuration``
    and ``auth`` keyed by registry host or pattern. The environment is ``env`` and
    nothing else (kubelet would add its own; the controller's is not the plugin's
    business).
    """

    def __init__(
        self,
        command: str,
        args: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        image: str | None = None,
        timeout: timedelta = timedelta(seconds=10),
        default_cache_duration: timedelta = timedelta(minutes=5),
        clock: Clock = utcnow,
    ) -> None:
        self.command = command
        self.args = list(args or [])
        self._env = dict(env or {})
        self.image = image
        self.timeout = min(timeout, MAX_EXEC_TIMEOUT)
        self.default_cache_duration = default_cache_duration
        self._clock = clock

    def __repr__(self) -> str:
        return f"ExecProvider(command={self.command!r}, args={self.args!r})"

    def fetch(self, host: str) -> Token:
        image = self.image or host
        request = {"apiVersion": KUBELET_API_VERSION, "kind": "CredentialProviderRequest"}
        request["image"] = image
        name = os.path.basename(self.command)
        issued_at = self._clock()
        try:
            run = run_plugin(
                [self.command, *self.args],
                json.dumps(request).encode(),
                self._env,
                self.timeout.total_seconds(),
            )
        except TimeoutError:
            raise ProviderError(
                "Timeout", f"credential provider {name} did not answer within {self.timeout}"
            ) from None
        except OverflowError:
            raise ProviderError(
                "BadResponse", f"credential provider {name} wrote more than {MAX_STDOUT} bytes"
            ) from None
        except OSError as exc:
            raise ProviderError(
                "ExecFailed", f"cannot run credential provider {self.command}: {exc.strerror}"
            ) from None
        if run.returncode != 0:
            how = (
                f"was killed by signal {-run.returncode}"
                if run.returncode < 0
                else f"exited with status {run.returncode}"
            )
            raise ProviderError("ExecFailed", f"credential provider {name} {how}" + _said(run))
        return self._parse(run.stdout, name, host, image, issued_at)

    def _parse(self, stdout: bytes, name: str, host: str, image: str, now: datetime) -> Token:
        def bad(why: str) -> ProviderError:
            return ProviderError(
                "BadResponse",
                f"credential provider {name} wrote an invalid CredentialProviderResponse: {why}",
            )

        try:
            response = json.loads(stdout)
        except (ValueError, UnicodeDecodeError):
            raise bad(f"stdout is not JSON ({len(stdout)} bytes)") from None
        if not isinstance(response, dict):
            raise bad("not a JSON object")
        if response.get("apiVersion") != KUBELET_API_VERSION:
            raise bad(f"apiVersion must be {KUBELET_API_VERSION}")
        if response.get("kind") != "CredentialProviderResponse":
            raise bad("kind must be CredentialProviderResponse")
        if response.get("cacheKeyType") not in ("Image", "Registry", "Global"):
            raise bad("cacheKeyType must be Image, Registry or Global")
        auth = response.get("auth") or {}
        if not isinstance(auth, dict):
            raise bad("auth must be an object")
        try:
            raw_duration = response.get("cacheDuration")
            lifetime = (
                self.default_cache_duration
                if raw_duration is None
                else parse_duration(raw_duration)
            )
        except ValueError:
            raise bad("cacheDuration is not a duration") from None
        key = best_auth_key([str(k) for k in auth], host, image)
        if key is None:
            keys = ", ".join(sorted(str(k)[:100] for k in auth)[:10]) or "none"
            raise ProviderError(
                "NoMatchingAuth",
                f"credential provider {name} returned no auth for {host} (auth keys: {keys})",
            )
        entry = auth[key]
        if not isinstance(entry, dict) or not isinstance(entry.get("username", ""), str):
            raise bad(f"auth[{key!r}] must hold username and password strings")
        password = entry.get("password", "")
        if not isinstance(password, str) or not password:
            raise bad(f"auth[{key!r}] has no password")
        return Token(
            username=str(entry.get("username", "")),
            password=password,
            expires_at=now + lifetime,
            issued_at=now,
            proxy_endpoint=key,
        )


def _said(run: PluginRun) -> str:
    """What may be said about stderr: its size and known words, never its text."""
    if not run.stderr_bytes:
        return ""
    words = f"; it mentions {', '.join(run.stderr_words)}" if run.stderr_words else ""
    return f" (stderr withheld, {run.stderr_bytes} bytes{words})"
