"""The local control plane is a real Kubernetes: real controllers, scheduler and kwok nodes."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from fixtures.waiting import wait_for

Kubectl = Callable[..., str]


def _json(kubectl: Kubectl, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(kubectl(*args, "-o", "json"))


def _ready_pods(kubectl: Kubectl, ns: str, selector: str) -> list[dict]:  # type: ignore[type-arg]
    pods = _json(kubectl, "-n", ns, "get", "pods", "-l", selector)["items"]
    return [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions", [])
        )
    ]


def test_version_reports_the_built_kubernetes_release(kubectl: Kubectl) -> None:
    version = json.loads(kubectl("version", "-o", "json"))
    assert version["serverVersion"]["gitVersion"] == "v1.36.3"


def test_nodes_are_ready_kwok_nodes(kubectl: Kubectl) -> None:
    nodes = _json(kubectl, "get", "nodes")["items"]
    assert len(nodes) >= 3
    for node in nodes:
        conds = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conds["Ready"] == "True"


def test_deployment_rolls_out_scales_and_keeps_old_replicaset_as_history(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("-n", namespace, "create", "deployment", "finance-api", "--image=finance-api:1.3")
    wait_for(
        lambda: len(_ready_pods(kubectl, namespace, "app=finance-api")) == 1,
        what="one Ready pod bound by the scheduler",
    )
    pod = _ready_pods(kubectl, namespace, "app=finance-api")[0]
    assert pod["spec"]["nodeName"].startswith("kwok-node-")
    assert pod["status"]["phase"] == "Running"

    kubectl("-n", namespace, "scale", "deployment/finance-api", "--replicas=3")
    wait_for(
        lambda: len(_ready_pods(kubectl, namespace, "app=finance-api")) == 3,
        what="three Ready pods",
    )

    kubectl(
        "-n", namespace, "set", "image", "deployment/finance-api", "finance-api=finance-api:1.4"
    )

    def rolled_out() -> bool:
        rss = _json(kubectl, "-n", namespace, "get", "rs", "-l", "app=finance-api")["items"]
        if len(rss) != 2:
            return False
        by_image = {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs for rs in rss}
        new, old = by_image.get("finance-api:1.4"), by_image.get("finance-api:1.3")
        return bool(
            new and old and new["status"].get("readyReplicas") == 3 and old["spec"]["replicas"] == 0
        )

    wait_for(rolled_out, what="new ReplicaSet with 3 ready and the old one kept at 0")
    rss = _json(kubectl, "-n", namespace, "get", "rs", "-l", "app=finance-api")["items"]
    revisions = sorted(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for rs in rss
    )
    assert revisions == ["1", "2"]


FAILURES = {
    "err-image-pull": ("Pending", "waiting", "ErrImagePull", "no basic auth credentials"),
    "image-pull-backoff": ("Pending", "waiting", "ImagePullBackOff", "no basic auth credentials"),
    "crash-loop": ("Running", "waiting", "CrashLoopBackOff", "back-off"),
    "oom-killed": ("Running", "waiting", "CrashLoopBackOff", "back-off"),
}


@pytest.mark.parametrize("mode", sorted(FAILURES))
def test_kwok_failure_stage_gives_the_promised_pod_status(
    kubectl: Kubectl, namespace: str, mode: str
) -> None:
    phase, state, reason, message = FAILURES[mode]
    kubectl(
        "-n",
        namespace,
        "run",
        "p",
        "--image=example.com/app:1",
        "-l",
        f"testenv.tether.dev/simulate={mode}",
    )

    def status() -> dict | None:  # type: ignore[type-arg]
        pod = _json(kubectl, "-n", namespace, "get", "pod", "p")
        statuses = pod["status"].get("containerStatuses")
        return pod if statuses else None

    pod = wait_for(status, what=f"pod in {mode}")
    cs = pod["status"]["containerStatuses"][0]
    assert pod["status"]["phase"] == phase
    assert cs["state"][state]["reason"] == reason
    assert message in cs["state"][state]["message"]
    assert cs["ready"] is False
    if mode == "oom-killed":
        assert cs["lastState"]["terminated"]["reason"] == "OOMKilled"
        assert cs["lastState"]["terminated"]["exitCode"] == 137
    if mode == "crash-loop":
        assert cs["lastState"]["terminated"]["exitCode"] == 1


def test_not_ready_stage_runs_the_container_but_never_becomes_ready(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl(
        "-n",
        namespace,
        "run",
        "p",
        "--image=example.com/app:1",
        "-l",
        "testenv.tether.dev/simulate=not-ready",
    )
    pod = wait_for(
        lambda: (
            (p := _json(kubectl, "-n", namespace, "get", "pod", "p"))["status"].get(
                "containerStatuses"
            )
            and p
        ),
        what="pod running",
    )
    assert pod["status"]["phase"] == "Running"
    assert "running" in pod["status"]["containerStatuses"][0]["state"]
    conds = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conds["Ready"] == "False"


def test_failure_message_can_be_set_by_annotation(kubectl: Kubectl, namespace: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "labels": {"testenv.tether.dev/simulate": "err-image-pull"},
            "annotations": {"testenv.tether.dev/message": "manifest unknown"},
        },
        "spec": {"containers": [{"name": "app", "image": "example.com/app:9"}]},
    }
    kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(manifest))
    pod = wait_for(
        lambda: (
            (p := _json(kubectl, "-n", namespace, "get", "pod", "p"))["status"].get(
                "containerStatuses"
            )
            and p
        ),
        what="pod status",
    )
    assert (
        "manifest unknown" in pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    )
