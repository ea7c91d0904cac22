"""A kubelet's image pull for kwok nodes: real pull secrets against a real registry.

kwok fakes the kubelet, so on the local control plane every image "pulls". To
reproduce (and cure) an expired pull credential end to end, the pull has to be
decided by the Secrets a pod really references and a registry that really
enforces auth. This checker does that for pods that opt in:

* **Opt-in by label.** Pods labelled ``testenv.tether.dev/simulate=image-pull-check``
  are left alone by kwok (its ``pod-ready`` stage requires that label to be
  absent and no other stage matches this value; ``pod-delete`` still removes
  them) and are started by this checker instead. A label is the simplest
  robust contract: no race with kwok over the same pod, and pods that did not
  ask for it are unaffected.
* **Registry mapping.** ``registries`` maps an image host or pattern (e.g.
  ``123456789012.dkr.ecr.eu-west-1.amazonaws.com`` or ``*.dkr.ecr.*.amazonaws.com``)
  to the address of a registry that serves it (``127.0.0.1:5000``), so image
  names stay those of production while the bytes come from a local registry.
  An unmapped host fails like a host that does not resolve.
* **Like kubelet.** Each pass (every ``interval`` seconds, default 1.5) reads the
  pod's ``imagePullSecrets`` (a missing one gets kubelet's
  FailedToRetrieveImagePullSecret warning), resolves each image's manifest with
  ``tether.adapters.registry.pull.pull_manifest``, and either starts the pod
  (Running, Ready) or leaves it Pending with ``ErrImagePull`` (first failure) or
  ``ImagePullBackOff`` and a Warning Event ``Failed`` "Failed to pull image ...".
  Failed pods are retried every pass, so a refreshed Secret starts them without
  anyone touching the cluster.

Run in-process (``await ImagePullChecker(kube, {...}).start()``) or as
``python -m tether.testenv.imagepull --kubeconfig K --registry HOST=ADDR``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import signal
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tether.adapters.kube import ApiError, KubeClient
from tether.adapters.kube import events as kube_events
from tether.adapters.registry.pull import ERR_IMAGE_PULL, PullResult, pull_manifest
from tether.engine.registry.spec import parse_image, registry_matches

log = logging.getLogger(__name__)

SIMULATE_LABEL = "testenv.tether.dev/simulate"
CHECK_VALUE = "image-pull-check"
BACKOFF = "ImagePullBackOff"
Creds = tuple[str, str]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def auths_from_secret(secret: Mapping[str, Any]) -> dict[str, Creds]:
    """Registry -> (username, password) from a dockerconfigjson or dockercfg Secret."""
    data = secret.get("data") or {}
    raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
    if not raw:
        return {}
    try:
        doc = json.loads(base64.b64decode(raw))
    except ValueError:
        return {}
    entries = doc.get("auths", doc) if isinstance(doc, dict) else {}
    out: dict[str, Creds] = {}
    for key, entry in entries.items() if isinstance(entries, dict) else ():
        if not isinstance(entry, dict):
            continue
        user, password = str(entry.get("username") or ""), str(entry.get("password") or "")
        if entry.get("auth") and not password:
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except ValueError:
                continue
        out[str(key)] = (user, password)
    return out


class ImagePullChecker:
    """Plays kubelet's image pull for opted-in pods on kwok nodes."""

    def __init__(
        self,
        kube: KubeClient,
        registries: Mapping[str, str],
        *,
        interval: float = 1.5,
        timeout: float = 5.0,
    ) -> None:
        self.kube = kube
        self.registries = dict(registries)
        self.interval = interval
        self.timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._reported: dict[str, str] = {}  # pod uid -> last failure message sent as an Event

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="image-pull-checker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> ImagePullChecker:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("image pull pass failed")
            await asyncio.sleep(self.interval)

    def address_for(self, host: str) -> str | None:
        """The registry address serving ``host``; exact entries win over patterns."""
        if host in self.registries:
            return self.registries[host]
        for pattern, address in self.registries.items():
            if registry_matches(pattern, host):
                return address
        return None

    async def run_once(self) -> None:
        """Try every scheduled, not yet started pod that opted in."""
        api = await self.kube.resource_for("v1", "Pod")
        pods, _ = await self.kube.list(api, label_selector=f"{SIMULATE_LABEL}={CHECK_VALUE}")
        waiting = [
            p
            for p in pods
            if (p.get("spec") or {}).get("nodeName")
            and not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase", "Pending") == "Pending"
        ]
        await asyncio.gather(*(self._try(pod) for pod in waiting))
        live = {str(p["metadata"].get("uid")) for p in waiting}
        for uid in set(self._reported) - live:
            del self._reported[uid]

    async def _try(self, pod: dict[str, Any]) -> None:
        try:
            await self.check_pod(pod)
        except ApiError as exc:
            log.warning("image pull check of %s failed: %s", pod["metadata"]["name"], exc)

    async def check_pod(self, pod: dict[str, Any]) -> list[PullResult]:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        ns = str(meta["namespace"])
        auths: dict[str, Creds] = {}
        absent = []
        for ref in spec.get("imagePullSecrets") or []:
            secret = await self.kube.get_or_none("v1", "Secret", str(ref.get("name")), ns)
            if secret is None:
                absent.append(str(ref.get("name")))
            else:
                auths.update(auths_from_secret(secret))
        if absent and self._reported.get(str(meta.get("uid"))) is None:
            await self._event(
                pod,
                "FailedToRetrieveImagePullSecret",
                f"Unable to retrieve some image pull secrets ({', '.join(absent)}); "
                "attempting to pull the image may not succeed.",
            )
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        results = [await self._pull(str(c.get("image", "")), auths) for c in containers]
        failed = next((r for r in results if not r.ok), None)
        if failed is None:
            await self._start(pod)
            self._reported.pop(str(meta.get("uid")), None)
        else:
            await self._fail(pod, results)
        return results

    async def _pull(self, image: str, auths: dict[str, Creds]) -> PullResult:
        try:
            host = parse_image(image).host
        except ValueError as exc:
            return PullResult(False, "InvalidImageName", str(exc))
        address = self.address_for(host)
        if address is None:
            return PullResult(
                False,
                ERR_IMAGE_PULL,
                f'Failed to pull image "{image}": dial tcp: lookup {host}: no such host',
            )
        return await asyncio.to_thread(pull_manifest, address, image, auths, timeout=self.timeout)

    # -- status, like kubelet ------------------------------------------------
    async def _start(self, pod: dict[str, Any]) -> None:
        now, spec = _now(), pod.get("spec") or {}
        conditions = _merge_conditions(
            pod, {t: "True" for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")}
        )
        statuses = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
            for c in spec.get("containers") or []
        ]
        status = {
            "phase": "Running",
            "conditions": conditions,
            "containerStatuses": statuses,
            "hostIP": await self._host_ip(str(spec.get("nodeName"))),
            "podIP": _pod_ip(str(pod["metadata"].get("uid", ""))),
            "startTime": (pod.get("status") or {}).get("startTime") or now,
        }
        await self._patch(pod, status)
        await self._event(pod, "Started", "Started container after pulling its image", warn=False)

    async def _fail(self, pod: dict[str, Any], results: list[PullResult]) -> None:
        spec, uid = pod.get("spec") or {}, str(pod["metadata"].get("uid"))
        first_failure = uid not in self._reported
        reason = ERR_IMAGE_PULL if first_failure else BACKOFF
        statuses = []
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        by_name = dict(zip((str(c.get("name")) for c in containers), results, strict=True))
        for c in spec.get("containers") or []:
            result = by_name[str(c.get("name"))]
            detail = result.message.split('": ', 1)[-1]
            if result.ok:
                waiting = {"reason": "PodInitializing"}
            elif reason == BACKOFF:
                waiting = {
                    "reason": BACKOFF,
                    "message": f'Back-off pulling image "{c.get("image")}": {detail}',
                }
            else:
                waiting = {"reason": result.reason or ERR_IMAGE_PULL, "message": detail}
            statuses.append(
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {"waiting": waiting},
                }
            )
        conditions = _merge_conditions(
            pod, {"Initialized": "True", "Ready": "False", "ContainersReady": "False"}
        )
        status = {
            "phase": "Pending",
            "conditions": conditions,
            "containerStatuses": statuses,
            "hostIP": await self._host_ip(str(spec.get("nodeName"))),
            "startTime": (pod.get("status") or {}).get("startTime") or _now(),
        }
        await self._patch(pod, status)
        message = next(r.message for r in results if not r.ok)
        if self._reported.get(uid) != message:
            self._reported[uid] = message
            await self._event(pod, "Failed", message)

    async def _patch(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        await self.kube.merge_patch(
            "v1", "Pod", meta["name"], {"status": status}, meta["namespace"], subresource="status"
        )

    async def _host_ip(self, node: str) -> str:
        obj = await self.kube.get_or_none("v1", "Node", node)
        for addr in ((obj or {}).get("status") or {}).get("addresses") or []:
            if addr.get("type") == "InternalIP":
                return str(addr.get("address"))
        return "10.0.0.1"

    async def _event(
        self, pod: dict[str, Any], reason: str, message: str, warn: bool = True
    ) -> None:
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod["metadata"]}
        event = kube_events.event_for(
            pod, reason, message, component="kubelet", warning=warn, host=node
        )
        await kube_events.record(self.kube, event)


def _merge_conditions(pod: dict[str, Any], want: dict[str, str]) -> list[dict[str, Any]]:
    """Pod conditions with ``want`` applied, keeping others (PodScheduled) and transition times."""
    now = _now()
    current = {c.get("type"): c for c in (pod.get("status") or {}).get("conditions") or []}
    for ctype, state in want.items():
        old = current.get(ctype)
        if old is not None and old.get("status") == state:
            continue
        current[ctype] = {"type": ctype, "status": state, "lastTransitionTime": now}
        if state == "False" and ctype in ("Ready", "ContainersReady"):
            current[ctype]["reason"] = "ContainersNotReady"
    return list(current.values())


def _pod_ip(uid: str) -> str:
    digest = hashlib.sha256(uid.encode()).digest()
    return f"10.{digest[0]}.{digest[1]}.{max(digest[2], 2) % 254 + 1}"


def parse_registries(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        host, sep, address = value.partition("=")
        if not sep or not host or not address:
            raise argparse.ArgumentTypeError(f"--registry {value!r}: use HOST=ADDRESS")
        out[host.strip().lower()] = address.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tether.testenv.imagepull", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--kubeconfig", default=None)
    parser.add_argument(
        "--registry",
        action="append",
        default=[],
        metavar="HOST=ADDR",
        help="image host or pattern served by the registry at ADDR (repeatable)",
    )
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between passes")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    registries = parse_registries(args.registry)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with (
            KubeClient.from_kubeconfig(args.kubeconfig) as kube,
            ImagePullChecker(kube, registries, interval=args.interval),
        ):
            log.info("checking image pulls for pods labelled %s=%s", SIMULATE_LABEL, CHECK_VALUE)
            await stop.wait()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
