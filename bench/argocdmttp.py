"""Scenario 1 (mean time to production) for Argo CD, on the same control plane setup as Tether's.

The application controller and the repo server (one ``argocd`` binary) run
as processes with the cluster's admin kubeconfig (``ARGOCD_FAKE_IN_CLUSTER``
makes ``https://kubernetes.default.svc`` mean that kubeconfig, as in Argo CD's
own local development setup), with redis from Debian beside them, at their
default settings (20 status and 10 operation processors). N Applications
(the very spec Tether's Applications have: the same repository, over smart
HTTP, ``apps/app-<i>``, automated sync with prune and self-heal,
``CreateNamespace=true``) in the default AppProject. The push is announced by
the ``argocd.argoproj.io/refresh: normal`` annotation on every Application
right after ``git push`` returns (what Argo CD's webhook handler does for the
apps of a repository); an app is done when it is Synced at the commit and
Healthy.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import argocdbuild, manifests
from bench.githttp import GitHttpServer
from bench.harness import Env, Window, environment, free_port, log, wait_port
from bench.peerprocs import PeerProcess, create_all, install_crds, load_average
from bench.peertracker import ObjectTracker

NS = "argocd"
APPS_PATH = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/applications"
PROJECTS_PATH = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/appprojects"


def application(i: int, repo_url: str) -> dict[str, Any]:
    app = manifests.application(i, repo_url)
    app["apiVersion"] = "argoproj.io/v1alpha1"
    app["metadata"]["namespace"] = NS
    app["spec"]["project"] = "default"
    app["spec"]["destination"]["server"] = "https://kubernetes.default.svc"
    return app


def default_project() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "default", "namespace": NS},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    }


def synced(obj: dict[str, Any], sha: str) -> bool:
    status = obj.get("status") or {}
    sync, health = status.get("sync") or {}, status.get("health") or {}
    return (
        sync.get("revision") == sha
        and sync.get("status") == "Synced"
        and health.get("status") == "Healthy"
    )


def reconciled_once(obj: dict[str, Any]) -> bool:
    return bool((obj.get("status") or {}).get("reconciledAt"))


def describe(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    conds = "; ".join(str(c.get("message", ""))[:120] for c in status.get("conditions") or [])
    return (
        f"{(status.get('sync') or {}).get('status', '?')}/"
        f"{(status.get('health') or {}).get('status', '?')}: {conds}"
    )


class Redis:
    def __init__(self, env: Env) -> None:
        server = shutil.which("redis-server")
        if not server:
            raise RuntimeError(
                "Argo CD needs redis: redis-server is not installed (Debian package redis-server)"
            )
        self.port = free_port()
        self.proc = PeerProcess(
            env,
            "redis",
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
        )
        env.on_close(self.proc.stop)
        wait_port(self.port)


class ArgoCD:
    def __init__(self, env: Env, bins: argocdbuild.ArgoCDBinaries, redis: Redis) -> None:
        repo_port = free_port()
        common_env = {"ARGOCD_GPG_ENABLED": "false", "ARGOCD_FAKE_IN_CLUSTER": "true"}
        redis_addr = f"127.0.0.1:{redis.port}"
        self.repo = PeerProcess(
            env,
            "argocd-repo-server",
            [
                str(bins.repo_server),
                "--disable-tls",
                "--client-ca-path",
                "",
                "--redis",
                redis_addr,
                "--address",
                "127.0.0.1",
                "--port",
                str(repo_port),
                "--metrics-address",
                "127.0.0.1",
                "--metrics-port",
                str(free_port()),
                "--loglevel",
                "warn",
            ],
            extra_env=common_env | {"PATH": f"{bins.helpers}{os.pathsep}{os.environ['PATH']}"},
        )
        env.on_close(self.repo.stop)
        wait_port(repo_port, timeout=60)
        self.controller = PeerProcess(
            env,
            "argocd-application-controller",
            [
                str(bins.application_controller),
                "--namespace",
                NS,
                "--repo-server",
                f"127.0.0.1:{repo_port}",
                "--repo-server-plaintext",
                "--redis",
                redis_addr,
                "--metrics-port",
                str(free_port()),
                "--loglevel",
                "warn",
            ],
            extra_env=common_env,
        )
        env.on_close(self.controller.stop)
        # redis is part of an Argo CD installation, so its memory and CPU count as Argo CD's
        self.procs = [self.repo, self.controller, redis.proc]

    def start_window(self) -> None:
        for p in self.procs:
            p.start_window()

    def close_window(self) -> dict[str, Any]:
        by = {p.name: p.close_window() for p in self.procs}
        return {
            "peer_cpu_seconds": round(sum(v["cpu_seconds"] for v in by.values()), 2),
            "peer_peak_rss_mib": round(sum(v["peak_rss_mib"] for v in by.values()), 1),
            "by_controller": by,
        }

    def stop(self) -> dict[str, Any]:
        totals = {p.name: p.stop() for p in self.procs}
        return {
            "controllers": totals,
            "peak_rss_mib": round(sum(t["peak_rss_mib"] for t in totals.values()), 1),
            "cpu_seconds": round(sum(t["cpu_seconds"] for t in totals.values()), 2),
        }


def _settings(env: Env) -> None:
    create_all(env, "/api/v1/namespaces", [{"metadata": {"name": NS}}])
    labels = {"app.kubernetes.io/part-of": "argocd"}
    create_all(
        env,
        f"/api/v1/namespaces/{NS}/configmaps",
        [
            {"metadata": {"name": "argocd-cm", "namespace": NS, "labels": labels}, "data": {}},
            {
                "metadata": {"name": "argocd-cmd-params-cm", "namespace": NS, "labels": labels},
                "data": {},
            },
        ],
    )
    create_all(
        env,
        f"/api/v1/namespaces/{NS}/secrets",
        [
            {
                "metadata": {"name": "argocd-secret", "namespace": NS, "labels": labels},
                "stringData": {"server.secretkey": secrets.token_hex(16)},
            }
        ],
    )
    create_all(env, PROJECTS_PATH, [default_project()])


def run(n: int, bins: argocdbuild.ArgoCDBinaries | None = None) -> dict[str, Any]:
    bins = bins or argocdbuild.build()
    with environment(f"argocd-mttp-{n}") as env:
        assert env.git is not None
        crds = install_crds(env, bins.crds)
        _settings(env)
        http = GitHttpServer(env.git.repos, env.git.env)
        env.on_close(http.close)
        env.ingress_controller()
        env.git.commit({"README.md": "benchmark repository\n"}, "empty repository")
        argo = ArgoCD(env, bins, Redis(env))
        return _measure(env, argo, http, n, crds)


def _refresh(env: Env, names: list[str]) -> None:
    body = '{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}'

    def one(name: str) -> None:
        env.api.patch(
            f"{APPS_PATH}/{name}",
            content=body,
            headers={"Content-Type": "application/merge-patch+json"},
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, names))


def _measure(
    env: Env, argo: ArgoCD, http: GitHttpServer, n: int, crds: list[str]
) -> dict[str, Any]:
    assert env.git is not None
    tracker = ObjectTracker(env, APPS_PATH, synced, reconciled_once, describe)
    env.on_close(tracker.close)
    names = [manifests.app_name(i) for i in range(n)]
    started = time.monotonic()
    create_all(env, APPS_PATH, [application(i, http.url("bench.git")) for i in range(n)])
    created_in = time.monotonic() - started
    if not tracker.wait_seen(names, timeout=60 + 0.3 * n):
        log(f"not every Application reconciled before the push: {tracker.summary()}")
    log(f"argocd-mttp-{n}: {n} Applications created in {created_in:.1f}s and seen by Argo CD")
    time.sleep(1.0)
    phases = []
    for label, tag in (("create", "6.7.0"), ("update", "6.7.1")):
        window = Window(env, None)
        argo.start_window()
        load_before = load_average()
        fetches = http.upload_packs
        sha, pushed = env.git.commit(manifests.all_files(n, tag), f"{label} {n} apps")
        tracker.expect(sha)
        _refresh(env, names)
        refreshed_in = time.monotonic() - pushed
        # generous: on a loaded 2-core machine Flux took 350 s for 500 apps
        timeout = 120 + 1.2 * n
        ok = tracker.wait(names, timeout, stall=120.0)
        phase = {
            "phase": label,
            "trigger": "argocd.argoproj.io/refresh=normal on every Application",
            "refresh_annotations_seconds": round(refreshed_in, 2),
            "complete": ok,
            **tracker.timings(names, pushed, ok),
            "timeout_seconds": timeout,
            "load_average_before": load_before,
            "load_average_after": load_average(),
            **argo.close_window(),
            **window.close(),
            "git_requests": http.upload_packs - fetches,
        }
        log(
            f"argocd-mttp-{n} {label}: {'all' if ok else 'NOT all'} {phase['apps_done']}/{n} done, "
            f"last at {phase['seconds_to_all']}s; argocd cpu {phase['peer_cpu_seconds']}s, "
            f"peak {phase['peer_peak_rss_mib']} MiB"
        )
        phases.append(phase)
        time.sleep(1.0)
    errors = [line for p in argo.procs for line in p.errors()]
    totals = argo.stop()
    return {
        "n": n,
        "tool": "argocd",
        "version": f"Argo CD {argocdbuild.VERSION} (application controller and repo server)",
        "settings": {"status_processors": 20, "operation_processors": 10, "redis": "Debian"},
        "layout": "the same repository and Application spec as Tether's, over smart HTTP",
        "crds": len(crds),
        "apps_created_seconds": round(created_in, 2),
        "git_http_upload_packs": http.upload_packs,
        "phases": phases,
        "argocd": totals,
        "controller_errors": errors[:10],
    }
