"""The controller as Pods on a real node: the chart installs, both replicas are Ready, an
app syncs from the in-cluster leader, and a push made right after the leader's process is
killed (kill -9: the Lease is not released) or its Pod is deleted (SIGTERM: released) is
synced within 20 s.

The tether image is built without a Docker daemon, pushed to the authenticated local
registry and pulled by containerd with the chart's imagePullSecrets. The Pods reach the
test's Git repository through a git daemon on the node's bridge address (docs/testenv.md).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from incluster import CONFIGMAP, controller_pid, holder, pods

from fixtures.tether import example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.engine import application as appmodel

pytestmark = pytest.mark.cluster


async def test_in_cluster_controller_syncs_and_survives_a_killed_and_a_deleted_leader(
    release: str,
    real_kubectl: Callable[..., str],
    real_kube: KubeClient,
    git_repo: Any,
    pod_git_url: str,
) -> None:
    ns, kube = release, real_kube
    running = pods(real_kubectl, ns)
    assert len(running) == 2
    for pod in running:  # both Ready: /readyz answers on the leader and on the follower
        ready = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        assert ready.get("Ready") == "True", pod["metadata"]["name"]
    names = {p["metadata"]["name"] for p in running}

    async def lead() -> str | None:
        who = await holder(kube, ns)
        return who if who in names else None

    first = await await_for(lead, timeout=30, what="a controller Pod holding the Lease")

    files = example_files()
    # The finance Deployment's image is not in any registry here: a ConfigMap tells the story.
    git_repo.commit({**files, **example_files("kustomize", "apps/finance-k")})
    name, dest = f"pod-{secrets.token_hex(3)}", f"d-{secrets.token_hex(4)}"
    await kube.create(
        {
            "apiVersion": appmodel.API_VERSION,
            "kind": appmodel.KIND,
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "source": {
                    "repoURL": pod_git_url,
                    "path": "apps/finance",
                    "targetRevision": "main",
                },
                "destination": {"namespace": dest},
                "syncPolicy": {
                    "automated": {"prune": True},
                    "syncOptions": ["CreateNamespace=true"],
                },
            },
        }
    )
    try:

        async def synced(revision: str | None = None) -> dict[str, Any] | None:
            app = await kube.get(appmodel.API_VERSION, appmodel.KIND, name, ns)
            st = app.get("status") or {}
            sync = st.get("sync") or {}
            ok = sync.get("status") == "Synced" and revision in (None, sync.get("revision"))
            return st if ok else None

        try:
            await await_for(synced, timeout=120, what="the app synced by the in-cluster controller")
        except AssertionError:
            app = await kube.get(appmodel.API_VERSION, appmodel.KIND, name, ns)
            logs = real_kubectl("-n", ns, "logs", first, "--tail=60", check=False)
            pytest.fail(f"not synced: {json.dumps(app.get('status'))[:3000]}\n{logs}")

        # kustomize runs in the Pod too, in its network-less sandbox.
        kustomized = f"podk-{secrets.token_hex(3)}"
        await kube.create(
            {
                "apiVersion": appmodel.API_VERSION,
                "kind": appmodel.KIND,
                "metadata": {"name": kustomized, "namespace": ns},
                "spec": {
                    "source": {
                        "repoURL": pod_git_url,
                        "path": "apps/finance-k/overlays/dev",
                        "targetRevision": "main",
                    },
                    "destination": {"namespace": dest + "-k"},
                    "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
                },
            }
        )
        try:

            async def compared() -> dict[str, Any] | None:
                app = await kube.get(appmodel.API_VERSION, appmodel.KIND, kustomized, ns)
                st = app.get("status") or {}
                return st if (st.get("sync") or {}).get("status") == "OutOfSync" else None

            await await_for(compared, timeout=60, what="the kustomize app rendered and compared")
        finally:
            await kube.delete(appmodel.API_VERSION, appmodel.KIND, kustomized, ns)

        # A crash: SIGKILL to the leader's process, no chance to release the Lease.
        pid = controller_pid(first)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")})
        await await_for(
            lambda: synced(sha),
            timeout=20 - (time.monotonic() - killed),
            what=f"{sha[:12]} synced within 20 s of kill -9 of the leader's process",
        )
        cm = await kube.get("v1", "ConfigMap", "finance-api-config", dest)
        assert cm["data"]["LOG_LEVEL"] == "debug"

        # The Pod deleted: SIGTERM releases the Lease and another replica leads.
        current = await await_for(lead, timeout=30, what="a leader after the crash")
        real_kubectl("-n", ns, "delete", "pod", current, "--grace-period=0", "--force")
        deleted = time.monotonic()
        sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "warn")})
        await await_for(
            lambda: synced(sha),
            timeout=20 - (time.monotonic() - deleted),
            what=f"{sha[:12]} synced by another replica within 20 s of the Pod's deletion",
        )
        # The Deployment replaces the deleted Pod at once, so the new Pod may win the
        # Lease as fairly as the surviving replica: either is right, the deleted one is not.
        now = await holder(kube, ns)
        assert now is not None and now != current
        assert now in {p["metadata"]["name"] for p in pods(real_kubectl, ns)}
    finally:
        await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, ns)
        real_kubectl("delete", "namespace", dest, "--wait=false", "--ignore-not-found", check=False)
