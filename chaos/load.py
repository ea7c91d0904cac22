"""The load: N apps in one repository, a stream of commits, drift and requested syncs.

Every app's content is a function of one number, its generation: a ConfigMap
``cfg`` holding it, a ConfigMap ``x<gen // 2>`` whose name moves every second
generation (so commits prune), and a Deployment at 0 replicas (drift scales
it). The driver remembers the generations at every commit it pushed, so what
Git holds at any revision, and whether an app's history entry matches its
content, can be checked without reading Git back.

Hooked apps (``hooked``) also carry a PreSync Job hook that runs a few seconds
(four Pods one after the other: the local nodes complete a Job's Pods in about
a second each), so a kill can land while a sync waits for its hook.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.harness import APP_NS, APPS_PATH, Env, log

from tether.engine.application import INSTANCE_LABEL

HISTORY_LIMIT = 100
HOOK_COMPLETIONS = 4  # about a second each on the local nodes
# The two ways a hook is named: a fixed name (replaced before each sync) or a name the
# API server makes up (deleted once it succeeded), each as Argo CD users write them.
NAMED_HOOK, GENERATED_HOOK = "named", "generated"


def app_name(i: int) -> str:
    return f"chaos-{i}"


def expected_objects(i: int, gen: int) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> the fields Git sets, for app ``i`` at generation ``gen``."""
    name = app_name(i)
    return {
        ("ConfigMap", "cfg"): {"data": {"gen": str(gen)}},
        ("ConfigMap", f"x{gen // 2}"): {"data": {"moves": "every second generation"}},
        ("Deployment", name): {"replicas": 0},
    }


def hook_file(hook: str) -> str:
    """A PreSync Job hook: ``named`` (BeforeHookCreation) or ``generated`` (HookSucceeded)."""
    naming = (
        "name: migrate\n  annotations:\n    argocd.argoproj.io/hook: PreSync\n"
        if hook == NAMED_HOOK
        else "generateName: migrate-\n  annotations:\n    argocd.argoproj.io/hook: PreSync\n"
        "    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n"
    )
    return f"""apiVersion: batch/v1
kind: Job
metadata:
  {naming}spec:
  completions: {HOOK_COMPLETIONS}
  parallelism: 1
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: registry.example.com/migrate:1
"""


def app_files(i: int, gen: int, hook: str = "") -> dict[str, str | None]:
    name = app_name(i)
    base = f"apps/{name}"
    hooks: dict[str, str | None] = {f"{base}/hook.yaml": hook_file(hook)} if hook else {}
    return hooks | {
        f"{base}/cfg.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  gen: '{gen}'\n"
        ),
        f"{base}/moving.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x{gen // 2}\n"
            "data:\n  moves: every second generation\n"
        ),
        f"{base}/deployment.yaml": f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 0
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1
""",
    }


def application(i: int, repo_url: str) -> dict[str, Any]:
    name = app_name(i)
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": APP_NS},
        "spec": {
            "source": {"repoURL": repo_url, "path": f"apps/{name}", "targetRevision": "main"},
            "destination": {"namespace": name},
            "revisionHistoryLimit": HISTORY_LIMIT,
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
                # Without a retry policy a sync failed by a transient API error is not tried
                # again at the same revision (as in Argo CD): production apps set one.
                "retry": {
                    "limit": 10,
                    "backoff": {"duration": "1s", "factor": 2, "maxDuration": "10s"},
                },
            },
        },
    }


@dataclass
class Ledger:
    """What the driver did: generations per pushed revision, drift deletions, operations."""

    gens: list[int]
    next_gen: list[int]
    at: dict[str, tuple[int, ...]] = field(default_factory=dict)  # sha -> gens
    head: str = ""
    commits: int = 0
    drifts: int = 0
    drift_deleted: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # ns, kind, name
    # user -> (app, sha, wall-clock time of the request, whole seconds as Events have them)
    operations: dict[str, tuple[int, str, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    moves: list[tuple[float, tuple[int, ...]]] = field(default_factory=list)  # (when, gens)
    # Rollbacks: (from, until or None while paused, app, generation rolled back to).
    rollbacks: list[tuple[float, float | None, int, int]] = field(default_factory=list)

    def record(self, sha: str) -> None:
        self.at[sha] = tuple(self.gens)
        self.head = sha
        self.moves.append((time.monotonic(), tuple(self.gens)))

    def recent(self, seconds: float) -> list[tuple[int, ...]]:
        """Every head of the last ``seconds``, and the one before them."""
        since = time.monotonic() - seconds
        inside = [gens for when, gens in self.moves if when >= since]
        before = [gens for when, gens in self.moves if when < since][-1:]
        return before + inside

    def pin(self, i: int, gen: int) -> None:
        """App ``i`` is rolled back to ``gen`` from now on (auto-sync paused)."""
        self.rollbacks.append((time.monotonic(), None, i, gen))

    def unpin(self, i: int) -> None:
        now = time.monotonic()
        self.rollbacks = [
            (start, now if end is None and app == i else end, app, gen)
            for start, end, app, gen in self.rollbacks
        ]

    def rolled_back(self, i: int, seconds: float) -> list[int]:
        """The generations app ``i`` was rolled back to within the last ``seconds``."""
        since = time.monotonic() - seconds
        return [
            gen for _, end, app, gen in self.rollbacks if app == i and (end is None or end >= since)
        ]


class LoadDriver:
    """Commits and drift on a background thread while ``running`` is set."""

    def __init__(
        self, env: Env, n: int, seed: int = 1, hooked: dict[int, str] | None = None
    ) -> None:
        assert env.git is not None
        self.env, self.git, self.n = env, env.git, n
        self.rng = random.Random(seed)
        self.ledger = Ledger(gens=[1] * n, next_gen=[2] * n)
        self.api = env.state.client(timeout=30)
        self.running = threading.Event()
        self._stop = threading.Event()
        self._busy = threading.Lock()  # one Git or API action at a time
        self._thread: threading.Thread | None = None
        self.commit_every = 1.5
        self.drift_every = 1.0
        self.apps_per_commit = max(1, n // 10)
        self.failed_actions = 0
        self.hooked = hooked or {}  # app -> NAMED_HOOK | GENERATED_HOOK
        self.held: set[int] = set()  # apps no drift touches (a rollback being judged)

    # -- set-up --------------------------------------------------------------------
    def seed(self) -> str:
        files: dict[str, str | None] = {}
        for i in range(self.n):
            files |= app_files(i, 1, self.hooked.get(i, ""))
        sha, _ = self.git.commit(files, "chaos: every app at generation 1")
        self.ledger.record(sha)
        return sha

    def create_apps(self) -> list[str]:
        self.env.create_apps([application(i, self.git.url) for i in range(self.n)])
        return [app_name(i) for i in range(self.n)]

    def bystanders(self) -> None:
        """Per app namespace: one ConfigMap nobody owns, one with the app's label that it
        never owned. Neither may ever be pruned."""
        for i in range(self.n):
            ns = app_name(i)
            for cm, labels in (
                ("bystander", {}),
                ("stray", {INSTANCE_LABEL: app_name(i)}),
            ):
                resp = self.api.post(
                    f"/api/v1/namespaces/{ns}/configmaps",
                    json={
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": cm, "labels": labels},
                        "data": {"owner": "nobody"},
                    },
                )
                if resp.status_code not in (201, 409):
                    raise RuntimeError(f"bystander {ns}/{cm}: {resp.status_code} {resp.text}")

    # -- the stream ------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="load")
        self._thread.start()

    def _run(self) -> None:
        next_commit = next_drift = time.monotonic()
        while not self._stop.is_set():
            if not self.running.wait(0.2):
                continue
            now = time.monotonic()
            try:
                if now >= next_commit:
                    next_commit = now + self.commit_every
                    self.commit()
                if now >= next_drift:
                    next_drift = now + self.drift_every
                    self.drift()
            except Exception as exc:  # a fault may make an action fail: the next one goes on
                self.failed_actions += 1
                if self.failed_actions in (1, 10, 100, 1000):
                    log(f"load: {exc!r} ({self.failed_actions} failed actions so far)")
            time.sleep(0.05)

    def commit(self, apps: list[int] | None = None, message: str = "") -> str:
        """Bump the generation of some apps, commit and push."""
        with self._busy, self.ledger.lock:
            chosen = apps or self.rng.sample(range(self.n), self.apps_per_commit)
            files: dict[str, str | None] = {}
            for i in chosen:
                gen = self.ledger.next_gen[i]
                self.ledger.next_gen[i] += 1
                self.ledger.gens[i] = gen
                files |= app_files(i, gen, self.hooked.get(i, ""))
            sha, _ = self.git.commit(files, message or f"chaos: {len(chosen)} apps move on")
            self.ledger.record(sha)
            self.ledger.commits += 1
            return sha

    def drift(self) -> None:
        """Change one app's objects behind Tether's back (self-heal must put them back)."""
        i = self.rng.randrange(self.n)
        if i in self.held:
            return
        ns, how = app_name(i), self.rng.choice(("edit", "scale", "delete"))
        with self._busy:
            if how == "edit":
                self.api.patch(
                    f"/api/v1/namespaces/{ns}/configmaps/cfg",
                    content='{"data": {"gen": "drifted"}}',
                    headers={"Content-Type": "application/merge-patch+json"},
                )
            elif how == "scale":
                self.api.patch(
                    f"/apis/apps/v1/namespaces/{ns}/deployments/{ns}",
                    content='{"spec": {"replicas": 2}}',
                    headers={"Content-Type": "application/merge-patch+json"},
                )
            else:
                with self.ledger.lock:
                    self.ledger.drift_deleted[(ns, "ConfigMap", "cfg")] += 1
                self.api.delete(f"/api/v1/namespaces/{ns}/configmaps/cfg")
            self.ledger.drifts += 1

    def request_sync(self, i: int, user: str) -> None:
        """A manual sync operation, as ``tether app sync`` writes it."""
        with self.ledger.lock:
            self.ledger.operations[user] = (i, self.ledger.head, int(time.time()))
        body = {"operation": {"sync": {"prune": True}, "initiatedBy": {"username": user}}}
        resp = self.api.patch(
            f"{APPS_PATH}/{app_name(i)}",
            content=json.dumps(body),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        resp.raise_for_status()

    # -- force-push ------------------------------------------------------------------
    def force_push(self, back: int = 3) -> str:
        """Rewrite history: drop the last ``back`` commits and push a different one instead."""
        with self._busy, self.ledger.lock:
            old = self.git.rewind(back)
            gens = list(self.ledger.at[old])
            chosen = self.rng.sample(range(self.n), self.apps_per_commit)
            files: dict[str, str | None] = {}
            for i in chosen:
                gens[i] = self.ledger.next_gen[i]
                self.ledger.next_gen[i] += 1
                files |= app_files(i, gens[i], self.hooked.get(i, ""))
            sha, _ = self.git.commit(files, "chaos: history rewritten", force=True)
            self.ledger.gens = gens
            self.ledger.record(sha)
            self.ledger.commits += 1
            log(f"force-pushed {sha[:12]} over {back} commits")
            return sha

    def close(self) -> None:
        self._stop.set()
        self.running.clear()
        if self._thread is not None:
            self._thread.join(10)
        self.api.close()
