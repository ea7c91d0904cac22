"""Scenario 1 (mean time to production) for Flux, on the same control plane setup as Tether's.

What flux-benchmark runs, on this machine: one GitRepository and N
Kustomizations (``interval: 60m``, ``prune``, ``wait``, ``targetNamespace``,
``timeout: 5m``), source-controller at ``--concurrent=10`` and
kustomize-controller at ``--concurrent=20`` with its TMPDIR on a tmpfs. The
repository is the same one Tether reads, served over smart HTTP (Flux refuses
``git://``), with one more file per app: the Namespace, which Flux does not
create for ``targetNamespace``. The push is announced by the
``reconcile.fluxcd.io/requestedAt`` annotation on the GitRepository right
after ``git push`` returns (what Flux's webhook Receiver does); an app is done
when its Kustomization is ``Ready=True`` with
``lastAppliedRevision == main@sha1:<sha>``.
"""

from __future__ import annotations

import time
from typing import Any

from bench import fluxbuild, manifests
from bench.githttp import GitHttpServer
from bench.harness import Env, Window, environment, free_port, log, mib
from bench.peerprocs import PeerProcess, ScratchDir, create_all, install_crds, load_average
from bench.peertracker import ObjectTracker, condition

NS = "flux-system"
GITREPO = "bench"
SOURCE_API = "/apis/source.toolkit.fluxcd.io/v1"
KS_API = "/apis/kustomize.toolkit.fluxcd.io/v1"
KS_PATH = f"{KS_API}/namespaces/{NS}/kustomizations"
GITREPO_PATH = f"{SOURCE_API}/namespaces/{NS}/gitrepositories"
SOURCE_CONCURRENCY, KUSTOMIZE_CONCURRENCY = 10, 20


def namespace_file(i: int) -> dict[str, str]:
    name = manifests.app_name(i)
    body = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    return {f"apps/{name}/namespace.yaml": body}


def repo_files(n: int, tag: str) -> dict[str, str]:
    files = manifests.all_files(n, tag)
    for i in range(n):
        files |= namespace_file(i)
    return files


def git_repository(url: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": GITREPO, "namespace": NS},
        "spec": {"url": url, "ref": {"branch": "main"}, "interval": "60m", "timeout": "60s"},
    }


def kustomization(i: int) -> dict[str, Any]:
    name = manifests.app_name(i)
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "interval": "60m",
            "path": f"./apps/{name}",
            "prune": True,
            "wait": True,
            "timeout": "5m",
            "targetNamespace": name,
            "sourceRef": {"kind": "GitRepository", "name": GITREPO},
        },
    }


def applied(obj: dict[str, Any], sha: str) -> bool:
    """Flux's own notion of done: Ready=True at the pushed commit."""
    status = obj.get("status") or {}
    return (
        condition(obj, "Ready").get("status") == "True"
        and status.get("lastAppliedRevision") == f"main@sha1:{sha}"
    )


def reconciled_once(obj: dict[str, Any]) -> bool:
    """Flux has finished a first pass on this generation (Ready is True or False, not Unknown).

    A failed pass (the path is not in the repository yet) leaves
    ``status.observedGeneration`` alone, so the condition's own is the one to read.
    """
    ready = condition(obj, "Ready")
    generation = (obj.get("metadata") or {}).get("generation")
    return (
        ready.get("status") in ("True", "False")
        and ready.get("observedGeneration", generation) == generation
    )


def describe(obj: dict[str, Any]) -> str:
    ready = condition(obj, "Ready")
    return f"{ready.get('reason', '?')}: {str(ready.get('message', ''))[:200]}"


class Flux:
    """source-controller and kustomize-controller, started against the scenario's cluster."""

    def __init__(self, env: Env, bins: fluxbuild.FluxBinaries) -> None:
        self.scratch = ScratchDir(env.tmp / "kustomize-tmp")
        env.on_close(self.scratch.close)
        storage = env.tmp / "flux-storage"
        storage.mkdir()
        addr = f"127.0.0.1:{free_port()}"
        common = ["--enable-leader-election=false", "--watch-all-namespaces=true"]
        sc_health, kc_health = free_port(), free_port()
        self.source = PeerProcess(
            env,
            "source-controller",
            [
                str(bins.source_controller),
                *common,
                f"--concurrent={SOURCE_CONCURRENCY}",
                f"--storage-path={storage}",
                f"--storage-addr={addr}",
                f"--storage-adv-addr={addr}",
                f"--metrics-addr=127.0.0.1:{free_port()}",
                f"--health-addr=127.0.0.1:{sc_health}",
            ],
            health_url=f"http://127.0.0.1:{sc_health}/readyz",
        )
        env.on_close(self.source.stop)
        self.kustomize = PeerProcess(
            env,
            "kustomize-controller",
            [
                str(bins.kustomize_controller),
                *common,
                f"--concurrent={KUSTOMIZE_CONCURRENCY}",
                f"--metrics-addr=127.0.0.1:{free_port()}",
                f"--health-addr=127.0.0.1:{kc_health}",
            ],
            extra_env={"TMPDIR": str(self.scratch.path)},
            health_url=f"http://127.0.0.1:{kc_health}/readyz",
        )
        env.on_close(self.kustomize.stop)
        self.procs = [self.source, self.kustomize]

    def start_window(self) -> None:
        for p in self.procs:
            p.start_window()
        self.scratch.peak = self.scratch.used()

    def close_window(self) -> dict[str, Any]:
        by = {p.name: p.close_window() for p in self.procs}
        return {
            "peer_cpu_seconds": round(sum(v["cpu_seconds"] for v in by.values()), 2),
            "peer_peak_rss_mib": round(sum(v["peak_rss_mib"] for v in by.values()), 1),
            "by_controller": by,
            "tmpfs_peak_mib": mib(self.scratch.peak),
        }

    def stop(self) -> dict[str, Any]:
        totals = {p.name: p.stop() for p in self.procs}
        tmp_peak, tmp_kind = self.scratch.peak, self.scratch.kind
        self.scratch.close()
        return {
            "controllers": totals,
            "peak_rss_mib": round(sum(t["peak_rss_mib"] for t in totals.values()), 1),
            "cpu_seconds": round(sum(t["cpu_seconds"] for t in totals.values()), 2),
            "tmpdir": tmp_kind,
            "tmpfs_peak_mib": mib(tmp_peak),
        }


def run(n: int, bins: fluxbuild.FluxBinaries | None = None) -> dict[str, Any]:
    bins = bins or fluxbuild.build()
    with environment(f"flux-mttp-{n}") as env:
        assert env.git is not None
        crds = install_crds(env, bins.crds)
        env.api.post("/api/v1/namespaces", json={"metadata": {"name": NS}})
        http = GitHttpServer(env.git.repos, env.git.env)
        env.on_close(http.close)
        env.ingress_controller()
        env.git.commit({"README.md": "benchmark repository\n"}, "empty repository")
        return _measure(env, Flux(env, bins), http, n, crds)


def _measure(env: Env, flux: Flux, http: GitHttpServer, n: int, crds: list[str]) -> dict[str, Any]:
    assert env.git is not None
    tracker = ObjectTracker(env, KS_PATH, applied, reconciled_once, describe)
    env.on_close(tracker.close)
    create_all(env, GITREPO_PATH, [git_repository(http.url("bench.git"))])
    names = [manifests.app_name(i) for i in range(n)]
    started = time.monotonic()
    create_all(env, KS_PATH, [kustomization(i) for i in range(n)])
    created_in = time.monotonic() - started
    if not tracker.wait_seen(names, timeout=60 + 0.3 * n):
        log(f"not every Kustomization reconciled before the push: {tracker.summary()}")
    log(f"flux-mttp-{n}: {n} Kustomizations created in {created_in:.1f}s and seen by Flux")
    time.sleep(1.0)
    phases = []
    for label, tag in (("create", "6.7.0"), ("update", "6.7.1")):
        window = Window(env, None)
        flux.start_window()
        load_before = load_average()
        fetches = http.upload_packs
        sha, pushed = env.git.commit(repo_files(n, tag), f"{label} {n} apps")
        tracker.expect(sha)
        _request_reconcile(env)
        # generous: on a loaded 2-core machine Flux took 350 s for 500 apps
        timeout = 120 + 1.2 * n
        ok = tracker.wait(names, timeout, stall=120.0)
        phase = {
            "phase": label,
            "trigger": "reconcile.fluxcd.io/requestedAt on the GitRepository",
            "complete": ok,
            **tracker.timings(names, pushed, ok),
            "timeout_seconds": timeout,
            "load_average_before": load_before,
            "load_average_after": load_average(),
            **flux.close_window(),
            **window.close(),
            "git_requests": http.upload_packs - fetches,
        }
        log(
            f"flux-mttp-{n} {label}: {'all' if ok else 'NOT all'} {phase['apps_done']}/{n} ready, "
            f"last at {phase['seconds_to_all']}s; flux cpu {phase['peer_cpu_seconds']}s, "
            f"peak {phase['peer_peak_rss_mib']} MiB + tmpfs {phase['tmpfs_peak_mib']} MiB"
        )
        phases.append(phase)
        time.sleep(1.0)
    errors = [line for p in flux.procs for line in p.errors()]
    totals = flux.stop()
    return {
        "n": n,
        "tool": "flux",
        "version": f"source-controller and kustomize-controller {fluxbuild.VERSION}",
        "settings": {
            "source_controller_concurrent": SOURCE_CONCURRENCY,
            "kustomize_controller_concurrent": KUSTOMIZE_CONCURRENCY,
            "kustomization": "interval 60m, prune, wait, targetNamespace, timeout 5m",
            "tmpdir": totals["tmpdir"],
            "leader_election": False,
        },
        "layout": "the same repository as Tether's, over smart HTTP, plus a Namespace file per "
        "app (Flux does not create targetNamespace)",
        "crds": len(crds),
        "apps_created_seconds": round(created_in, 2),
        "git_http_upload_packs": http.upload_packs,
        "phases": phases,
        "flux": totals,
        "controller_errors": errors[:10],
    }


def _request_reconcile(env: Env) -> None:
    stamp = f"{time.time():.6f}"
    resp = env.api.patch(
        f"{GITREPO_PATH}/{GITREPO}",
        json={"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    resp.raise_for_status()
