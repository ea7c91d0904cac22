"""Health, the resource tree and diagnosis on the real control plane.

Every test deploys the finance example through an Application run by an
in-process controller, with ``progressDeadlineSeconds: 10`` so the real
deployment controller reports ProgressDeadlineExceeded quickly; kwok plays the
kubelet (the pod label ``testenv.tether.dev/simulate`` picks the failure), the
real scheduler and API server report the rest. The assertions read the
Application's status.health and ``AppService.explain``: the chain from the app
down to the evidence, and the next step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from diag_finance import (
    DEPLOYMENT,
    IMAGE,
    REGISTRY,
    app_health,
    chain_has,
    chain_reasons,
    container,
    create_namespace,
    dockerconfig_secret,
    explained,
    finance_files,
    list_of,
    remove_limited_role,
    service_account_kubeconfig,
)

from fixtures.tether import APP_NS, Apps, Projects
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.reconciler import Settings
from tether.controller.runtime import Controller
from tether.controller.service import ActionRefused, AppService
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster

pytestmark = pytest.mark.cluster

AUTO = {"prune": True, "selfHeal": True}


async def deploy(
    git_repo: Any,
    apps: Apps,
    dest: str,
    files: dict[str, str],
    automated: dict[str, Any] | None = None,
) -> str:
    git_repo.commit(files, message="finance app")
    return await apps.create(git_repo.git_url, dest=dest, automated=automated or AUTO)


# -- 1. the seed: scale-out whose new Pods cannot pull ---------------------------------


async def test_scale_out_with_failing_pulls_explains_the_missing_then_rejected_pull_secret(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    name = await deploy(git_repo, apps, dest_namespace, finance_files())
    await apps.wait_synced(name, healthy=True)

    git_repo.commit(
        finance_files(replicas=3, simulate="image-pull-backoff"), message="scale finance-api to 3"
    )
    health = await app_health(apps, name, "Degraded")
    assert "Deployment finance-api" in health["message"]
    assert "exceeded its progress deadline" in health["message"]

    def missing_secret(e: dict[str, Any]) -> bool:
        return chain_has(
            e,
            ("App", ""),
            ("Deployment", "ProgressDeadlineExceeded"),
            ("Pod", "ImagePullBackOff"),
            ("Image", "auth"),
            ("Secret", "SecretMissing"),
        )

    found = await explained(service, name, missing_secret, "chain ending at a missing secret")
    text = found["text"]
    lines = text.splitlines()
    assert lines[0] == f"Degraded app {name}"
    assert lines[1] == "  <- Deployment finance-api ProgressDeadlineExceeded"
    assert lines[2].startswith("  <- Pod finance-api-") and lines[2].endswith(" ImagePullBackOff")
    assert lines[3] == f'  <- "no basic auth credentials" pulling {IMAGE}'
    assert lines[4] == f"  <- imagePullSecret ecr-pull does not exist in namespace {dest_namespace}"
    assert found["next_step"].startswith(f"create the Secret ecr-pull in {dest_namespace}")
    assert "tether registry list" in found["next_step"]

    await apps.kube.create(dockerconfig_secret("ecr-pull", dest_namespace, REGISTRY))

    def rejected(e: dict[str, Any]) -> bool:
        return chain_has(
            e,
            ("App", ""),
            ("Deployment", "ProgressDeadlineExceeded"),
            ("Pod", "ImagePullBackOff"),
            ("Image", "auth"),
            ("Secret", "CredentialsRejected"),
        )

    found = await explained(service, name, rejected, "chain ending at rejected credentials")
    assert found["text"].splitlines()[4] == (
        f"  <- {REGISTRY} rejected the credentials in imagePullSecret ecr-pull"
    )
    assert "registry credential" in found["next_step"]
    assert "tether registry list" in found["next_step"]


# -- 2. image or tag not found -----------------------------------------------------------


async def test_image_tag_not_found_names_the_image_and_tag(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    files = finance_files(
        simulate="err-image-pull",
        message=f'{IMAGE}: not found: manifest unknown: manifest tagged by "1.4" is not found',
    )
    name = await deploy(git_repo, apps, dest_namespace, files)
    await app_health(apps, name, "Degraded")

    found = await explained(
        service,
        name,
        lambda e: chain_has(
            e,
            ("App", ""),
            ("Deployment", "ProgressDeadlineExceeded"),
            ("Pod", "ErrImagePull"),
            ("Image", "not_found"),
        ),
        "chain ending at an image that is not found",
    )
    assert f'"manifest unknown" pulling {IMAGE}' in found["text"]
    assert found["next_step"] == (
        f"push tag 1.4 of {IMAGE} to {REGISTRY}, or fix the image tag in Git"
    )


# -- 3. crash loop and OOMKilled ---------------------------------------------------------


async def test_crash_loop_names_the_exit_code(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    name = await deploy(git_repo, apps, dest_namespace, finance_files(simulate="crash-loop"))
    health = await app_health(apps, name, "Degraded")
    assert "exceeded its progress deadline" in health["message"]

    found = await explained(
        service,
        name,
        lambda e: chain_has(
            e,
            ("App", ""),
            ("Deployment", "ProgressDeadlineExceeded"),
            ("Pod", "CrashLoopBackOff"),
            ("Container", "Error"),
        ),
        "chain ending at the container's exit",
    )
    assert "<- container api exits with code 1 (Error)" in found["text"]
    assert f"kubectl logs -n {dest_namespace} finance-api-" in found["next_step"]
    assert "--previous" in found["next_step"]


async def test_oom_killed_names_the_memory_limit(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    name = await deploy(git_repo, apps, dest_namespace, finance_files(simulate="oom-killed"))
    await app_health(apps, name, "Degraded")

    found = await explained(
        service,
        name,
        lambda e: chain_has(
            e,
            ("App", ""),
            ("Deployment", "ProgressDeadlineExceeded"),
            ("Pod", "OOMKilled"),
            ("Container", "OOMKilled"),
        ),
        "chain ending at the OOM kill",
    )
    assert "<- container api OOMKilled at memory limit 256Mi" in found["text"]
    assert found["next_step"].startswith("raise the memory limit above 256Mi in Git")


# -- 4. readiness probe failing ----------------------------------------------------------


async def test_readiness_probe_failing(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    name = await deploy(git_repo, apps, dest_namespace, finance_files(simulate="not-ready"))
    await app_health(apps, name, "Degraded")

    found = await explained(
        service,
        name,
        lambda e: chain_has(
            e,
            ("App", ""),
            ("Deployment", "ProgressDeadlineExceeded"),
            ("Pod", "ReadinessProbeFailed"),
            ("Probe", "ReadinessProbeFailed"),
        ),
        "chain ending at the readiness probe",
    )
    assert "ReadinessProbeFailed" in found["text"]
    assert "HTTP probe failed with statuscode: 503" in found["text"]
    assert "readiness" in found["next_step"]


# -- 5. unschedulable --------------------------------------------------------------------


async def test_unschedulable_from_the_real_scheduler(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    def huge(deployment: dict[str, Any]) -> None:
        resources = container(deployment)["resources"]
        resources["requests"]["cpu"] = "6"
        resources["limits"]["cpu"] = "6"

    name = await deploy(git_repo, apps, dest_namespace, finance_files(edit=huge))
    await app_health(apps, name, "Degraded")

    found = await explained(
        service,
        name,
        lambda e: chain_has(
            e,
            ("App", ""),
            ("Deployment", "ProgressDeadlineExceeded"),
            ("Pod", "Unschedulable"),
            ("Scheduler", "FailedScheduling"),
        ),
        "chain ending at the scheduler's verdict",
    )
    assert "Insufficient cpu" in found["text"]
    events = await list_of(apps.kube, "v1", "Event", dest_namespace)
    assert any(
        e.get("reason") == "FailedScheduling" and "Insufficient cpu" in e.get("message", "")
        for e in events
    ), "the real scheduler reported FailedScheduling"
    assert found["next_step"] == (
        "add a node or lower the cpu requests in Git (the Pod requests cpu 6)"
    )


# -- 6. apply rejected: quota, immutable field, CRD missing -------------------------------


async def test_apply_rejected_by_quota_names_the_quota(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    kube = apps.kube
    await create_namespace(kube, dest_namespace)
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "one-configmap", "namespace": dest_namespace},
            # 0: the outcome must not depend on whether kube-root-ca.crt came first
            "spec": {"hard": {"count/configmaps": "0"}},
        }
    )

    async def quota_counted() -> bool:
        quota = await kube.get("v1", "ResourceQuota", "one-configmap", dest_namespace)
        return "count/configmaps" in ((quota.get("status") or {}).get("used") or {})

    await await_for(quota_counted, what="quota status computed by the quota controller")
    name = await deploy(git_repo, apps, dest_namespace, finance_files())

    found = await explained(
        service,
        name,
        lambda e: ("ResourceQuota", "QuotaExceeded") in chain_reasons(e),
        "chain ending at the quota",
    )
    assert chain_reasons(found)[1] == ("ConfigMap", "SyncFailed")
    health = await app_health(apps, name, "Missing")
    # Nothing was applied, so every resource is Missing; any of them may be named.
    assert health["message"].startswith(("ConfigMap ", "Deployment ", "Service ")), health
    assert "ResourceQuota one-configmap exceeded" in found["text"]
    assert "count/configmaps=0" in found["text"]
    assert found["next_step"].startswith(
        f"raise the ResourceQuota one-configmap in namespace {dest_namespace}"
    )


async def test_immutable_selector_change_says_how_to_fix(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    name = await deploy(git_repo, apps, dest_namespace, finance_files())
    await apps.wait_synced(name, healthy=True)

    def new_selector(deployment: dict[str, Any]) -> None:
        deployment["spec"]["selector"]["matchLabels"]["tier"] = "api"
        deployment["spec"]["template"]["metadata"]["labels"]["tier"] = "api"

    git_repo.commit(finance_files(edit=new_selector), message="select on tier too")
    found = await explained(
        service,
        name,
        lambda e: ("Deployment", "FieldImmutable") in chain_reasons(e),
        "chain ending at the immutable field",
    )
    assert found["status"] == "Degraded"
    st = await apps.status(name)
    assert st["health"]["status"] == "Healthy", "the old Deployment keeps running"
    assert st["sync"]["status"] == "OutOfSync"
    assert chain_reasons(found)[1] == ("Deployment", "SyncFailed")
    assert "spec.selector cannot be changed in place (422 field is immutable)" in found["text"]
    assert (
        "revert spec.selector in Git, or delete and recreate the Deployment" in (found["next_step"])
    )


async def test_custom_resource_without_crd_says_the_crd_is_missing(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    files = finance_files()
    files["apps/finance/widget.yaml"] = (
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: dial\nspec:\n  size: 3\n"
    )
    name = await deploy(git_repo, apps, dest_namespace, files)

    found = await explained(
        service,
        name,
        lambda e: ("CustomResourceDefinition", "CRDMissing") in chain_reasons(e),
        "chain ending at the missing CRD",
    )
    assert chain_reasons(found)[1] == ("Widget", "SyncFailed")
    await app_health(apps, name, "Missing")
    assert "the cluster does not know kind Widget" in found["text"]
    assert "its CRD is not installed" in found["text"]
    assert found["next_step"].startswith("install the CRD for Widget first")


# -- 7. rollout history, orphans and refused deletes ----------------------------------------


async def test_old_replicaset_is_history_not_drift_and_deletes_are_guarded(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str, kubectl: Any
) -> None:
    kube = apps.kube
    name = await deploy(git_repo, apps, dest_namespace, finance_files())
    await apps.wait_synced(name, healthy=True)
    first = await list_of(kube, "apps/v1", "ReplicaSet", dest_namespace)
    assert len(first) == 1
    old_rs = first[0]["metadata"]["name"]

    def new_image(deployment: dict[str, Any]) -> None:
        container(deployment)["image"] = IMAGE.replace(":1.4", ":1.5")

    sha = git_repo.commit(finance_files(edit=new_image), message="finance-api 1.5")

    async def rolled_out() -> bool:
        rss = {
            rs["metadata"]["name"]: rs
            for rs in await list_of(kube, "apps/v1", "ReplicaSet", dest_namespace)
        }
        new = [rs for n, rs in rss.items() if n != old_rs]
        return (
            len(new) == 1
            and (new[0].get("status") or {}).get("readyReplicas") == 1
            and rss[old_rs]["spec"]["replicas"] == 0
        )

    await await_for(rolled_out, what="the new ReplicaSet ready and the old one kept at 0")
    kubectl("create", "configmap", "hand-made", "-n", dest_namespace, "--from-literal=a=b")
    await apps.wait_synced(name, healthy=True, revision=sha)

    async def tree_with_orphan() -> dict[str, Any] | None:
        tree = await service.tree(name)
        return tree if any(n["name"] == "hand-made" for n in tree["nodes"]) else None

    tree = await await_for(tree_with_orphan, what="the hand-made ConfigMap in the tree")
    nodes = {(n["kind"], n["name"]): n for n in tree["nodes"]}
    old = nodes[("ReplicaSet", old_rs)]
    assert old["role"] == "history"
    assert old["note"] == "rollout history, kept for rollback"
    assert old["revision"] == "1"
    assert old["health"]["status"] == "Healthy"
    deployment = nodes[("Deployment", "finance-api")]
    assert deployment["role"] == "managed"
    assert {"from": deployment["id"], "to": old["id"]} in tree["edges"]
    assert [n["role"] for n in tree["nodes"] if n["kind"] == "ReplicaSet"].count("history") == 1
    assert nodes[("ConfigMap", "hand-made")]["role"] == "orphan"
    assert "owned by no app" in nodes[("ConfigMap", "hand-made")]["note"]
    orphans = sorted(n["name"] for n in tree["nodes"] if n["role"] == "orphan")
    assert orphans == ["hand-made"], "nothing else in the namespace is an orphan"
    st = await apps.status(name)
    assert st["sync"]["status"] == "Synced", "rollout history is not drift"
    assert not [r for r in st.get("resources") or [] if r.get("requiresPruning")]

    with pytest.raises(ActionRefused) as refused:
        await service.delete_resource(
            name, "ReplicaSet", old_rs, force=False, initiated_by="tester"
        )
    assert "kept as revision 1 for rollback" in str(refused.value)
    assert "tether app rollback" in str(refused.value)

    with pytest.raises(ActionRefused) as refused:
        await service.delete_resource(
            name, "Deployment", "finance-api", force=False, initiated_by="tester"
        )
    assert "would come back" in str(refused.value)
    assert await kube.get_or_none("apps/v1", "Deployment", "finance-api", dest_namespace)

    said = await service.delete_resource(
        name, "ReplicaSet", old_rs, force=True, initiated_by="tester"
    )
    assert said == f"deleted ReplicaSet {old_rs}"

    async def gone() -> bool:
        return await kube.get_or_none("apps/v1", "ReplicaSet", old_rs, dest_namespace) is None

    await await_for(gone, what="the old ReplicaSet deleted")
    recorded = await apps.events(name, "ResourceDeleted")
    assert any(f"ReplicaSet {old_rs} deleted by tester (forced)" in e["message"] for e in recorded)


# -- 8. Tether itself forbidden by RBAC -------------------------------------------------------


async def test_tether_forbidden_by_rbac_says_which_permission_to_grant(
    installed: localcluster.ClusterState,
    kube: KubeClient,
    git_repo: Any,
    namespace: str,
    dest_namespace: str,
    tmp_path: Path,
    make_project: Projects,
) -> None:
    """A second Tether, running as a ServiceAccount that may read but not write ConfigMaps.

    No admin controller runs in this test (no ``controller`` fixture), so the
    restricted one alone reconciles the app.
    """
    account = "tether-limited"
    user = f"system:serviceaccount:{namespace}:{account}"
    try:
        config = await service_account_kubeconfig(
            kube, installed.kubeconfig, namespace, account, tmp_path / "limited.kubeconfig"
        )
        limited = KubeClient.from_kubeconfig(config)
        ctl = Controller(
            limited,
            settings=Settings(app_namespace=APP_NS, poll_interval=3.0),
            cache_dir=tmp_path / "cache",
            workers=2,
        )
        await ctl.start()
        apps = Apps(kube)
        name = ""
        try:
            service = AppService(limited, ctl.reconciler, controller=ctl, namespace=APP_NS)
            git_repo.commit(finance_files(), message="finance app")
            # A project naming no ServiceAccount: syncs are made as Tether itself.
            project = await make_project.create()
            name = await apps.create(
                git_repo.git_url, dest=dest_namespace, automated=AUTO, extra={"project": project}
            )
            found = await explained(
                service,
                name,
                lambda e: ("RBAC", "Forbidden") in chain_reasons(e),
                "chain ending at Tether's missing permission",
            )
            health = await app_health(apps, name, "Missing")
        finally:
            if name:
                await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
            await ctl.stop()
            await limited.close()
    finally:
        await remove_limited_role(kube)
    assert health["message"].startswith("ConfigMap finance-api-config")
    assert chain_reasons(found)[1] == ("ConfigMap", "SyncFailed")
    assert (
        f"Tether ({user}) is not allowed to patch configmaps in namespace {dest_namespace}"
        in found["text"]
    )
    assert found["next_step"] == (
        f"grant {user} 'patch' on configmaps in namespace {dest_namespace} "
        "(a Role/ClusterRole and its binding)"
    )


# -- the Deployment file stays the example's apart from the edits ---------------------------


def test_finance_files_only_edit_the_deployment() -> None:
    files = finance_files(simulate="crash-loop")
    assert "progressDeadlineSeconds: 10" in files[DEPLOYMENT]
    assert "testenv.tether.dev/simulate: crash-loop" in files[DEPLOYMENT]
