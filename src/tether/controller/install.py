"""``tether install``: CRDs, the app namespace, the default project, and least privilege.

Two identities, so that no Git push can act with the controller's rights:

- ``tether-controller`` (the controller itself) reads everything (the live
  cache and diffs need it), writes only its own resources, Events, the
  Namespaces it is asked to create, pull Secrets and ServiceAccounts
  (registry credentials), and may impersonate ServiceAccounts. It cannot
  create a Deployment or a ClusterRoleBinding as itself.
- ``tether-deployer`` is what the ``default`` project's syncs impersonate: the
  built-in ``admin`` role (namespaced kinds only, no cluster-scoped kinds, no
  ResourceQuota) in every namespace the project lets an app reach. A
  project for another team names its own ServiceAccount, bound only where
  that team may deploy.

``ClusterRole`` rules are listed with what each verb is for in docs/security.md.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tether.adapters.kube import ApiError, KubeClient
from tether.adapters.render.helm import find_helm
from tether.controller import leader
from tether.controller.install_prune import prune_install
from tether.engine import projects
from tether.engine.application import FIELD_MANAGER
from tether.engine.objects import Obj, conditions

CRD_FILES = (
    "application.yaml",
    "registrycredential.yaml",
    "project.yaml",
    "applicationset.yaml",
    "imagepolicy.yaml",
)
CONTROLLER = "tether-controller"
DEPLOYER = projects.DEPLOYER
RBAC = "rbac.authorization.k8s.io/v1"
LABELS = {"app.kubernetes.io/part-of": "tether"}
LEASE = leader.LEASE_NAME
LEADER_ROLE = "tether-controller-leader-election"


def crds() -> list[Obj]:
    folder = resources.files("tether.engine") / "crds"
    return [yaml.safe_load((folder / name).read_text()) for name in CRD_FILES]


def controller_rules() -> list[dict[str, Any]]:
    """The controller's ClusterRole: each rule is needed by one named feature."""
    return [
        # live cache, diff, resource tree, health: read every kind
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
        # its own resources: status, operations, history, finalizers
        {
            "apiGroups": ["tether.dev"],
            "resources": [
                "applications",
                "applications/status",
                "applicationsets",
                "applicationsets/status",
                "projects",
                "registrycredentials",
                "registrycredentials/status",
                "imagepolicies/status",
            ],
            "verbs": ["create", "update", "patch", "delete"],
        },
        # an Event for every sync, drift revert, refusal and API action
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        # syncOptions CreateNamespace=true, for a destination its project allows
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create"]},
        # registry credentials: pull Secrets and imagePullSecrets on ServiceAccounts;
        # API tokens in the app namespace
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "verbs": ["create", "update", "patch", "delete"],
        },
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["update", "patch"]},
        # syncs act as the project's ServiceAccount for the destination
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
    ]


def leader_rules() -> list[dict[str, Any]]:
    """The controller's Role in the app namespace only: leader election on its Lease,
    and with ``--shards auto`` one Lease per replica (``tether-shard-<pod>``, names a
    Role cannot list ahead), which the replicas list and delete when they stop, and
    ``tether-pushes``, where a replica hands a Git push to the others.

    Not in the ClusterRole: the right to update any Lease would let the
    controller take the leader Lease of kube-controller-manager or the scheduler.
    """
    return [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["create", "get", "list", "update", "delete"],
        },
    ]


def rbac_objects(namespace: str) -> list[Obj]:
    def sa(name: str) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": LABELS},
        }

    def binding(name: str, role: str, subject: str) -> Obj:
        return {
            "apiVersion": RBAC,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": LABELS},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": subject, "namespace": namespace}],
        }

    return [
        sa(CONTROLLER),
        sa(DEPLOYER),
        {
            "apiVersion": RBAC,
            "kind": "ClusterRole",
            "metadata": {"name": CONTROLLER, "labels": LABELS},
            "rules": controller_rules(),
        },
        # One pair of bindings per app namespace (tether-controller and
        # tether-deployer for the default one), so installs side by side do
        # not take each other's rights away.
        binding(f"{namespace}-controller", CONTROLLER, CONTROLLER),
        binding(f"{namespace}-deployer", "admin", DEPLOYER),
        {
            "apiVersion": RBAC,
            "kind": "Role",
            "metadata": {"name": LEADER_ROLE, "namespace": namespace, "labels": LABELS},
            "rules": leader_rules(),
        },
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": LEADER_ROLE, "namespace": namespace, "labels": LABELS},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": LEADER_ROLE,
            },
            "subjects": [{"kind": "ServiceAccount", "name": CONTROLLER, "namespace": namespace}],
        },
    ]


async def install(kube: KubeClient, namespace: str = "tether", timeout: float = 60.0) -> list[str]:
    done = []
    for crd in crds():
        await kube.apply(crd, field_manager=FIELD_MANAGER)
        done.append(f"CustomResourceDefinition {crd['metadata']['name']}")
    await kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        field_manager=FIELD_MANAGER,
    )
    done.append(f"Namespace {namespace}")
    for obj in rbac_objects(namespace):
        await kube.apply(obj, field_manager=FIELD_MANAGER)
        done.append(f"{obj['kind']} {obj['metadata']['name']}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for crd in crds():
        while loop.time() < deadline:
            live = await kube.get(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"]
            )
            if conditions(live).get("Established", {}).get("status") == "True":
                break
            await asyncio.sleep(0.2)
    await kube.discover(refresh=True)
    default = projects.new_project(projects.DEFAULT, namespace, projects.default_spec(namespace))
    if await kube.get_or_none(projects.API_VERSION, projects.KIND, projects.DEFAULT, namespace):
        done.append(f"Project {projects.DEFAULT} (kept as it is)")
    else:
        await kube.create(default)
        done.append(f"Project {projects.DEFAULT}")
    return done


async def is_cluster_admin(kube: KubeClient) -> bool:
    """Whether the client may do anything to anything (a SelfSubjectAccessReview)."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "*", "group": "*", "resource": "*"}},
    }
    try:
        answer = await kube.create(review)
    except ApiError:
        return False
    return bool((answer.get("status") or {}).get("allowed"))


async def controller_kubeconfig(
    kube: KubeClient, namespace: str = "tether", hours: int = 24
) -> dict[str, Any]:
    """A kubeconfig that acts as the ``tether-controller`` ServiceAccount (a
    short-lived TokenRequest token), for running the controller outside the
    cluster with the rights it has inside."""
    answer = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{CONTROLLER}/token",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": hours * 3600},
        },
    )
    cluster: dict[str, Any] = {"server": kube.conn.server}
    if kube.conn.ca_file:
        with open(kube.conn.ca_file, "rb") as handle:
            cluster["certificate-authority-data"] = base64.b64encode(handle.read()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": CONTROLLER, "user": {"token": answer["status"]["token"]}}],
        "contexts": [
            {
                "name": CONTROLLER,
                "context": {"cluster": "cluster", "user": CONTROLLER, "namespace": namespace},
            }
        ],
        "current-context": CONTROLLER,
    }


# -- the controller in the cluster (the Helm chart) ---------------------------

RELEASE = "tether"
CHART_ENV = "TETHER_CHART"


class ChartError(RuntimeError):
    """The chart could not be found or rendered."""


def chart_dir() -> Path:
    """The chart: ``$TETHER_CHART``, else the one in the package (``tether/chart``,
    a link to ``charts/tether`` in a checkout, a copy in a wheel)."""
    env = os.environ.get(CHART_ENV)
    folder = Path(env) if env else Path(str(resources.files("tether") / "chart"))
    if not (folder / "Chart.yaml").is_file():
        raise ChartError(f"no Helm chart at {folder} (set {CHART_ENV} to charts/tether)")
    return folder


def render_chart(
    namespace: str,
    values: dict[str, Any] | None = None,
    *,
    helm_path: str | None = None,
    include_crds: bool = False,
    timeout: float = 60.0,
) -> list[Obj]:
    """``helm template`` of the chart for ``namespace`` (release ``tether``)."""
    helm = find_helm(helm_path)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="tether-values-") as handle:
        json.dump(values or {}, handle)
        handle.flush()
        command = [
            helm,
            "template",
            RELEASE,
            str(chart_dir()),
            f"--namespace={namespace}",
            f"--values={handle.name}",
        ]
        if include_crds:
            command.append("--include-crds")
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise ChartError(f"helm template failed: {done.stderr.strip()[:2000]}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def controller_values(image: str | None = None, **extra: Any) -> dict[str, Any]:
    """Chart values for ``tether install --controller``: the default Project is left
    to ``install()``, which keeps an existing one as it is."""
    values: dict[str, Any] = {"defaultProject": {"create": False}, **extra}
    if image:
        values["image"] = {"ref": image}
    return values


async def install_controller(
    kube: KubeClient,
    namespace: str = "tether",
    *,
    values: dict[str, Any] | None = None,
    helm_path: str | None = None,
) -> list[str]:
    """``install()``, then the chart's objects (Deployment, Service, PDB, RBAC) by
    server-side apply, as ``helm install`` of the same chart would create them;
    then the install's objects the chart no longer renders are pruned
    (``install_prune``) and the values are kept for ``tether upgrade``."""
    values = values or controller_values()
    objects = await asyncio.to_thread(render_chart, namespace, values, helm_path=helm_path)
    done = await install(kube, namespace)
    # Every object through a server-side dry run first: one the API server refuses
    # (a bad value) stops the install before anything of the chart has changed.
    for obj in objects:
        await kube.apply(obj, field_manager=FIELD_MANAGER, dry_run=True)
    for obj in objects:
        await kube.apply(obj, field_manager=FIELD_MANAGER)
        done.append(f"{obj['kind']} {obj['metadata']['name']}")
    done += [f"pruned {line}" for line in await prune_install(kube, namespace, objects)]
    await store_values(kube, namespace, values)
    return done


VALUES_SECRET = "tether-install"
VALUES_KEY = "values.json"


async def stored_values(kube: KubeClient, namespace: str) -> dict[str, Any] | None:
    secret = await kube.get_or_none("v1", "Secret", VALUES_SECRET, namespace)
    if secret is None:
        return None
    raw = (secret.get("data") or {}).get(VALUES_KEY)
    if not raw:
        return None
    values: dict[str, Any] = json.loads(base64.b64decode(raw))
    return values


async def store_values(kube: KubeClient, namespace: str, values: dict[str, Any]) -> None:
    """Keep the values of this install for the next ``tether upgrade``. A Secret,
    because values may one day carry something private; it has no install label,
    so pruning never takes it."""
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": VALUES_SECRET,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/part-of": "tether"},
            },
            "type": "Opaque",
            "data": {VALUES_KEY: base64.b64encode(json.dumps(values).encode()).decode()},
        },
        field_manager=FIELD_MANAGER,
    )
