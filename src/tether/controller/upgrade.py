"""``tether upgrade``: the in-cluster install, moved to this version of the chart.

An install made by ``tether install --controller`` keeps the values it was
made with in the Secret ``tether-install`` (key ``values.json``), as Helm keeps
a release's values, so an upgrade renders the new chart with the same choices
and only what is asked changes:

- the image: ``--image`` wins; otherwise an ``image.ref`` whose tag is a
  version (``registry/tether:0.1.0``) moves to this version's tag, and any
  other reference (a digest, a branch tag) is kept as it was;
- ``--set`` values are merged over the stored ones.

Then the chart is applied and pruned exactly as ``tether install --controller``
does it, and the controller Deployment's rollout is followed to the end: the
Deployment rolls itself when its Pod template changed (``--restart`` rolls it
anyway, as ``kubectl rollout restart`` does), one new Pod at a time
(``maxSurge: 1, maxUnavailable: 0``), so a Ready replica always holds or can
take the Lease and no sync is lost.

An install that is a Helm release, or that an Application manages (Tether
managing itself from Git), is refused: its owner would undo the change.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tether.adapters.kube import KubeClient
from tether.controller import install, leader
from tether.engine.objects import Obj

DEPLOYMENT = "tether-controller"
RESTARTED_AT = "tether.dev/restartedAt"
APP_LABEL = "app.tether.dev/instance"
_VERSION_TAG = re.compile(r"^v?\d+\.\d+\.\d+([-+.][0-9A-Za-z.-]+)?$")


class UpgradeRefused(RuntimeError):
    """The install belongs to someone else (Helm, an Application) or is missing."""


class RolloutFailed(RuntimeError):
    """The Deployment did not finish rolling in time; the message says why."""


# -- values -------------------------------------------------------------------


def image_for_version(ref: str, version: str) -> str:
    """``ref`` with its tag moved to ``version`` when the tag is a version; else ``ref``."""
    if "@" in ref:
        return ref
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag or not _VERSION_TAG.match(tag):
        return ref
    return f"{name}:{version}"


def set_value(values: dict[str, Any], dotted: str, value: Any) -> None:
    """``a.b.c=v`` as nested chart values."""
    *parents, last = dotted.split(".")
    node = values
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = value


def merge_values(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, mappings merged key by key (as helm merges -f files)."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def upgrade_values(
    stored: dict[str, Any],
    version: str,
    *,
    image: str | None = None,
    files: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The stored values, then ``files`` merged over them, the image, then ``--set``."""
    values = merge_values(stored, files or {})
    current = (values.get("image") or {}).get("ref")
    if image:
        values.setdefault("image", {})["ref"] = image
    elif isinstance(current, str) and current:
        values["image"]["ref"] = image_for_version(current, version)
    for key, value in (overrides or {}).items():
        set_value(values, key, value)
    return values


# -- whose install ---------------------------------------------------------------


async def check_owner(
    kube: KubeClient,
    namespace: str,
    release: str,
    *,
    helm_command: str = "upgrade {release} charts/tether",
) -> None:
    """Refuse when Helm or an Application owns the install in ``namespace``
    (``helm_command`` is what to run instead)."""
    secrets = await kube.resource_for("v1", "Secret")
    helm, _ = await kube.list(secrets, namespace, label_selector=f"owner=helm,name={release}")
    if helm:
        instead = helm_command.format(release=release)
        raise UpgradeRefused(
            f"namespace {namespace} holds the Helm release {release!r}: "
            f"use `helm {instead} -n {namespace}`"
        )
    deploy = await kube.get_or_none("apps/v1", "Deployment", DEPLOYMENT, namespace)
    app = ((deploy or {}).get("metadata", {}).get("labels") or {}).get(APP_LABEL)
    if app:
        raise UpgradeRefused(
            f"the install in {namespace} is managed by the Application {app!r}: "
            "change its chart or values in Git"
        )


# -- the rollout -------------------------------------------------------------------


@dataclass
class Rollout:
    """Where a Deployment's rollout stands."""

    generation: int = 0
    observed: int = 0
    wanted: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0
    total: int = 0
    pods: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, deploy: Obj) -> Rollout:
        spec, st = deploy.get("spec") or {}, deploy.get("status") or {}
        return cls(
            generation=int(deploy["metadata"].get("generation") or 0),
            observed=int(st.get("observedGeneration") or 0),
            wanted=int(spec.get("replicas", 1)),
            updated=int(st.get("updatedReplicas") or 0),
            ready=int(st.get("readyReplicas") or 0),
            available=int(st.get("availableReplicas") or 0),
            total=int(st.get("replicas") or 0),
        )

    @property
    def done(self) -> bool:
        return (
            self.observed >= self.generation
            and self.updated == self.wanted
            and self.available == self.wanted
            and self.total == self.wanted
        )

    def line(self) -> str:
        return (
            f"{self.updated} of {self.wanted} updated, {self.available} available, "
            f"{self.total - self.updated} old"
        )


async def restart(kube: KubeClient, namespace: str) -> None:
    """Roll the Pods without changing the chart's values (``kubectl rollout restart``):
    a Pod annotation under a field manager of its own, so the next apply keeps it."""
    patch = {
        "spec": {
            "template": {"metadata": {"annotations": {RESTARTED_AT: datetime.now(UTC).isoformat()}}}
        }
    }
    await kube.merge_patch("apps/v1", "Deployment", DEPLOYMENT, patch, namespace)


async def _pods(kube: KubeClient, namespace: str, deploy: Obj) -> list[Obj]:
    labels = (deploy.get("spec") or {}).get("selector", {}).get("matchLabels") or {}
    pods_api = await kube.resource_for("v1", "Pod")
    items, _ = await kube.list(
        pods_api, namespace, label_selector=",".join(f"{k}={v}" for k, v in labels.items())
    )
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def current_pods(kube: KubeClient, namespace: str, deploy: Obj) -> list[str]:
    """The names of the Deployment's Pods that are not terminating."""
    return sorted(p["metadata"]["name"] for p in await _pods(kube, namespace, deploy))


async def _why_not_ready(kube: KubeClient, namespace: str, deploy: Obj) -> str:
    items = await _pods(kube, namespace, deploy)
    reasons = []
    for pod in items:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting")
            if waiting:
                reasons.append(
                    f"{pod['metadata']['name']}: {waiting.get('reason')} "
                    f"{(waiting.get('message') or '')[:200]}".strip()
                )
    return "; ".join(reasons) or "no Pod says why"


async def wait_rollout(
    kube: KubeClient,
    namespace: str,
    *,
    timeout: float = 300.0,
    progress: Callable[[str], None] = lambda _line: None,
    poll: float = 1.0,
) -> tuple[Rollout, float]:
    """Follow the controller Deployment until every replica is updated and available
    and no old one is left; (the last state, seconds taken)."""
    started = time.monotonic()
    last = ""
    while True:
        deploy = await kube.get("apps/v1", "Deployment", DEPLOYMENT, namespace)
        state = Rollout.of(deploy)
        line = state.line()
        if line != last:
            progress(line)
            last = line
        if state.done:
            return state, time.monotonic() - started
        if time.monotonic() - started > timeout:
            why = await _why_not_ready(kube, namespace, deploy)
            raise RolloutFailed(
                f"deployment {DEPLOYMENT} not rolled out after {timeout:.0f} s ({line}): {why}"
            )
        await asyncio.sleep(poll)


async def lease_holder(kube: KubeClient, namespace: str) -> str | None:
    lease = await kube.get_or_none(leader.API_VERSION, leader.KIND, leader.LEASE_NAME, namespace)
    holder = ((lease or {}).get("spec") or {}).get("holderIdentity")
    return str(holder) if holder else None


# -- the whole upgrade -------------------------------------------------------------


@dataclass
class UpgradeResult:
    applied: list[str]
    image: str
    rolled: bool
    rollout: Rollout
    seconds: float
    holder: str | None


async def upgrade(
    kube: KubeClient,
    namespace: str,
    version: str,
    *,
    image: str | None = None,
    files: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    reset_values: bool = False,
    restart_pods: bool = False,
    helm_path: str | None = None,
    timeout: float = 300.0,
    progress: Callable[[str], None] = lambda _line: None,
) -> UpgradeResult:
    """Render this version's chart with the install's values, apply, prune, roll,
    and follow the rollout until every replica is new and Ready."""
    await check_owner(kube, namespace, install.RELEASE)
    live = await kube.get_or_none("apps/v1", "Deployment", DEPLOYMENT, namespace)
    if live is None:
        raise UpgradeRefused(
            f"no in-cluster install in {namespace}: run `tether install --controller` first"
        )
    stored = None if reset_values else await install.stored_values(kube, namespace)
    if stored is None:
        # An install from before values were kept: start from its running image.
        containers = live["spec"]["template"]["spec"].get("containers") or [{}]
        stored = install.controller_values(image or containers[0].get("image"))
    values = upgrade_values(stored, version, image=image, files=files, overrides=overrides)
    started = time.monotonic()
    applied = await install.install_controller(kube, namespace, values=values, helm_path=helm_path)
    after = await kube.get("apps/v1", "Deployment", DEPLOYMENT, namespace)
    rolled = after["spec"]["template"] != live["spec"]["template"]
    if restart_pods and not rolled:
        await restart(kube, namespace)
        rolled = True
    state, _ = await wait_rollout(kube, namespace, timeout=timeout, progress=progress)
    seconds = time.monotonic() - started
    deploy = await kube.get("apps/v1", "Deployment", DEPLOYMENT, namespace)
    (container,) = deploy["spec"]["template"]["spec"]["containers"][:1]
    state.pods = await current_pods(kube, namespace, deploy)
    # A stopped leader releases the Lease and a new Pod takes it within a retry period.
    holder = await lease_holder(kube, namespace)
    deadline = time.monotonic() + 3 * leader.LeaseTiming().retry_period + 5
    while holder not in state.pods and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        holder = await lease_holder(kube, namespace)
    return UpgradeResult(
        applied=applied,
        image=str(container.get("image")),
        rolled=rolled,
        rollout=state,
        seconds=seconds,
        holder=holder,
    )
