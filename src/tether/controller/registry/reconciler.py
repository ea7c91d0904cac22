"""Keep registry pull credentials valid from inside the cluster (the RegistryCredential loop).

A 12-hour ECR token inside an imagePullSecret expires silently and the next
scale-out fails with ImagePullBackOff. This reconciler owns such Secrets: for
each RegistryCredential it fetches a token through the configured provider,
writes the ``kubernetes.io/dockerconfigjson`` Secret into every selected
namespace, refreshes it ``refresh.fraction`` into its lifetime, and says so in
status, Events and metrics when it cannot.

Design choices:

* **Polling, not watching.** Every ``poll_interval`` seconds (default 5) one
  pass lists RegistryCredentials, Namespaces, our managed Secrets and (when a
  credential asks for ``fromApplications``) Applications. There are a handful
  of credentials per cluster and refresh times are scheduled per credential
  anyway, so a watch would only shave seconds off reacting to a new object
  while adding relist/resume logic. A change of spec, of the provider Secret,
  of the selected namespaces, or a deleted pull Secret triggers a refresh on
  the next pass.
* **Never make things worse.** A failed refresh only records the (redacted)
  error and schedules a jittered exponential retry; it never deletes or blanks
  a Secret. Namespaces that stop being selected keep their Secret.
* **Nothing runs unless an administrator allowed it.** Each pass reads the
  registry policy (ConfigMap ``tether-registry-policy`` in the controller's
  namespace); a credential that breaks it (an exec command, env name,
  endpoint or token file not on the allow-lists, a Secret outside the
  controller's namespace, an empty selector) gets Ready=False with reason
  PolicyRefused naming the field and the rule, before any Secret is read,
  command run or request sent, and no pull Secret is written.
* **No credential ever leaves the token.** Status, Events, logs and metrics get
  timestamps and provider errors (already safe, and redacted again here).
* Providers are blocking (boto3, subprocesses), so they run in a thread; a
  pass waits for all credentials, so a slow provider delays the others by at
  most its timeout.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from tether.adapters.kube import ApiError, KubeClient
from tether.adapters.registry.factory import build_provider
from tether.adapters.registry.providers import Clock, ProviderError, Token, utcnow
from tether.controller.loops import PeriodicLoop, ServedKind, api_error
from tether.controller.registry import status as status
from tether.controller.registry import writes as writes
from tether.controller.registry.passes import Memory, Pass, read_pass
from tether.controller.registry.policy import PolicySource
from tether.engine.registry import policy as policies
from tether.engine.registry import spec as model
from tether.engine.registry import status as rstatus
from tether.engine.registry.spec import RegistryCredentialSpec
from tether.engine.registry.status import CredentialStatus

log = logging.getLogger(__name__)

CONFIG_REASONS = frozenset(
    {"InvalidSpec", "SecretNotFound", "BadSecret", "BadConfig", "PolicyRefused"}
)


class RegistryCredentialReconciler:
    """Runs inside the Controller's asyncio loop: ``await start()`` ... ``await stop()``."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        app_namespace: str = "tether",
        poll_interval: float = 5.0,
        metrics: CollectorRegistry | None = None,
        clock: Clock = utcnow,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.kube = kube
        self.app_namespace = app_namespace
        self.poll_interval = poll_interval
        self.metrics_registry = metrics if metrics is not None else CollectorRegistry()
        self.metrics = writes.RegistryMetrics(self.metrics_registry)
        self._clock = clock
        self._rand = rand
        self._memory: dict[str, Memory] = {}
        self._policy = PolicySource(kube, app_namespace)
        self._loop = PeriodicLoop(
            "registry-credentials", lambda: self.run_once(), lambda: self.poll_interval
        )
        self._served = ServedKind(kube, writes.GROUP_VERSION, writes.KIND)

    # -- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    @property
    def _task(self) -> asyncio.Task[None] | None:
        """The running loop, or None once it stopped (followers hold none)."""
        return self._loop.task

    # -- one pass -----------------------------------------------------------
    async def run_once(self) -> None:
        """Reconcile every RegistryCredential once (refreshing those that are due)."""
        api = await self._served.api()
        if api is None:
            return
        creds, _ = await self.kube.list(api)
        if not creds:
            # Nothing to keep fresh: listing every Namespace (each with its managedFields)
            # and the managed Secrets every few seconds only for nothing would cost the
            # API server two lists and this process megabytes a pass once there are
            # thousands of app namespaces.
            self._memory.clear()
            return
        policy = await self._policy.load()
        ctx = await read_pass(self.kube, creds, self.app_namespace, policy, self._clock())
        await asyncio.gather(*(self._guarded(cred, ctx) for cred in creds))
        live = {str(c["metadata"]["name"]) for c in creds}
        for gone in set(self._memory) - live:
            del self._memory[gone]

    async def _guarded(self, cred: dict[str, Any], ctx: Pass) -> None:
        try:
            await self.reconcile(cred, ctx)
        except ApiError as exc:
            name = cred["metadata"]["name"]
            log.warning("reconciling RegistryCredential %s failed: %s", name, api_error(exc))
        except Exception:
            log.exception("reconciling RegistryCredential %s failed", cred["metadata"]["name"])

    # -- one credential -----------------------------------------------------
    async def reconcile(self, cred: dict[str, Any], ctx: Pass) -> None:
        name = str(cred["metadata"]["name"])
        mem = self._memory.setdefault(name, Memory())
        old = self._old_status(cred)
        try:
            spec = RegistryCredentialSpec.model_validate(cred.get("spec") or {})
        except ValidationError as exc:
            message = f"invalid spec: {status.validation_message(exc)}"
            await self._finish(cred, None, mem, old.namespaces, ctx, ("InvalidSpec", message))
            return
        refused = policies.refusals(spec, ctx.policy, self.app_namespace)
        if refused:
            await self._refuse(cred, spec, mem, old.namespaces, ctx, refused)
            return

        selected = sorted(
            ns
            for ns, labels in ctx.namespaces.items()
            if model.namespace_selected(spec.namespaces, ns, labels, ctx.app_namespaces)
        )
        absent = sorted(set(spec.namespaces.names) - set(ctx.namespaces))
        ref = status.secret_ref(spec)
        ref_ns = (ref.namespace if ref else None) or self.app_namespace
        provider_secret = (
            await self.kube.get_or_none("v1", "Secret", ref.name, ref_ns) if ref else None
        )
        generation = cred["metadata"].get("generation")
        secret_version = (provider_secret or {}).get("metadata", {}).get("resourceVersion")
        fingerprint = (generation, secret_version, tuple(selected))
        ours = ctx.managed.get(name, {})
        lost = [ns for ns in selected if ns not in ours]
        if fingerprint != mem.fingerprint:
            mem.fingerprint, mem.next_at, mem.attempt = fingerprint, None, 0
            mem.config_error = None
        due = mem.next_at is None or ctx.now >= mem.next_at or (lost and mem.attempt == 0)

        by_ns = {s.namespace: s for s in old.namespaces}
        statuses = [
            by_ns.get(ns) or CredentialStatus(namespace=ns, secret_name=spec.secret_name)
            for ns in selected
        ]
        statuses = [s.model_copy(update={"secret_name": spec.secret_name}) for s in statuses]
        missing: tuple[str, str] | None = None
        if ref is not None and provider_secret is None:
            missing = (
                "SecretNotFound",
                f"Secret {ref_ns}/{ref.name} (provider.{spec.provider.type} secret "
                "reference) not found",
            )
        config_error = missing or mem.config_error
        if due:
            statuses, config_error = await self._refresh(
                cred, spec, mem, statuses, ctx, provider_secret, missing
            )
            mem.config_error = config_error
        for ns in absent:
            statuses.append(
                rstatus.record_failure(
                    by_ns.get(ns) or CredentialStatus(namespace=ns, secret_name=spec.secret_name),
                    ctx.now,
                    f"NamespaceNotFound: namespace {ns} does not exist",
                    [],
                )
            )
        await self._finish(cred, spec, mem, statuses, ctx, config_error)

    async def _refresh(
        self,
        cred: dict[str, Any],
        spec: RegistryCredentialSpec,
        mem: Memory,
        statuses: list[CredentialStatus],
        ctx: Pass,
        provider_secret: dict[str, Any] | None,
        missing: tuple[str, str] | None,
    ) -> tuple[list[CredentialStatus], tuple[str, str] | None]:
        name = str(cred["metadata"]["name"])
        data = status.decode_secret(provider_secret) if provider_secret is not None else None
        scrub = [
            v.decode(errors="ignore") if isinstance(v, bytes) else v for v in (data or {}).values()
        ]
        host = status.fetch_host(spec)
        token: Token | None = None
        config_error = missing
        reason, message = missing or ("", "")
        if missing is None:
            try:
                provider = build_provider(spec, data, policy=ctx.policy, host=host)
                token = await asyncio.to_thread(provider.fetch, host)
            except ProviderError as exc:
                reason, message = exc.reason, model.redact(exc.message, scrub)
                if reason in CONFIG_REASONS:
                    config_error = (reason, message)
            except Exception as exc:  # a provider bug must not stop the loop
                reason, message = "ProviderFailed", f"{type(exc).__name__} fetching a token"
        if token is None:
            self._failed(name, spec, mem, ctx.now, reason)
            mem.next_at = ctx.now + self._backoff(spec, mem)
            text = f"{reason}: {message}"
            if text != mem.last_error_event:
                mem.last_error_event = text
                await writes.record_event(self.kube, cred, "RefreshFailed", text)
            log.warning("refreshing registry credential %s failed: %s", name, text)
            failed_statuses = [rstatus.record_failure(s, ctx.now, text, scrub) for s in statuses]
            return failed_statuses, config_error

        scrub.append(token.password)
        config = model.dockerconfigjson(spec.registry, token.username, token.password)
        ours = ctx.managed.get(name, {})
        out, failed = [], False
        for st in statuses:
            ns = st.namespace
            body = writes.desired_secret(cred, spec.secret_name, ns, config)
            try:
                existing = ours.get(ns) or await self.kube.get_or_none(
                    "v1", "Secret", spec.secret_name, ns
                )
                await writes.write_secret(self.kube, body, existing)
                no_sa = await writes.patch_service_accounts(
                    self.kube, ns, spec.service_accounts, spec.secret_name
                )
            except (writes.WriteRefused, ApiError) as exc:
                failed = True
                out.append(rstatus.record_failure(st, ctx.now, f"WriteFailed: {exc}", scrub))
                continue
            if no_sa:
                log.info("ServiceAccounts %s not found in %s (yet)", ", ".join(no_sa), ns)
            out.append(rstatus.record_refresh(st, ctx.now, token.expires_at))
        mem.next_at = model.next_refresh(
            token.issued_at,
            token.expires_at,
            spec.refresh.fraction,
            ctx.now,
            min_interval=spec.refresh.min_interval,
        )
        if failed:
            self._failed(name, spec, mem, ctx.now, "WriteFailed")
            mem.next_at = min(mem.next_at, ctx.now + self._backoff(spec, mem))
        else:
            mem.attempt, mem.last_error_event = 0, ""
            self.metrics.refreshes.labels(name, spec.registry).inc()
            log.info(
                "refreshed registry credential %s in %d namespaces (next at %s)",
                name,
                len(out),
                mem.next_at.isoformat(timespec="seconds"),
            )
        return out, None

    def _failed(
        self, name: str, spec: RegistryCredentialSpec, mem: Memory, now: datetime, reason: str
    ) -> None:
        mem.attempt += 1
        self.metrics.failures.labels(name, spec.registry, reason).inc()

    def _backoff(self, spec: RegistryCredentialSpec, mem: Memory) -> timedelta:
        refresh = spec.refresh
        return model.backoff_delay(
            mem.attempt, refresh.retry_backoff, refresh.max_retry_backoff, self._rand()
        )

    async def _refuse(
        self,
        cred: dict[str, Any],
        spec: RegistryCredentialSpec,
        mem: Memory,
        statuses: list[CredentialStatus],
        ctx: Pass,
        refused: list[policies.Refusal],
    ) -> None:
        """Say why the policy refuses ``cred``; nothing was read, run, sent or written."""
        name, message = str(cred["metadata"]["name"]), policies.refusal_message(refused)
        mem.fingerprint, mem.next_at, mem.attempt, mem.config_error = (), None, 0, None
        if message != mem.last_error_event:
            mem.last_error_event = message
            self.metrics.failures.labels(name, spec.registry, "PolicyRefused").inc()
            log.warning("RegistryCredential %s %s", name, message)
            await writes.record_event(self.kube, cred, "PolicyRefused", message)
        await self._finish(cred, spec, mem, statuses, ctx, ("PolicyRefused", message))

    # -- status -------------------------------------------------------------
    def _old_status(self, cred: dict[str, Any]) -> rstatus.RegistryCredentialStatus:
        try:
            return rstatus.RegistryCredentialStatus.model_validate(cred.get("status") or {})
        except ValidationError:
            return rstatus.RegistryCredentialStatus()

    async def _finish(
        self,
        cred: dict[str, Any],
        spec: RegistryCredentialSpec | None,
        mem: Memory,
        statuses: list[CredentialStatus],
        ctx: Pass,
        config_error: tuple[str, str] | None,
    ) -> None:
        """Recompute readiness and warnings for ``now``; write status and Events on change."""
        name, now = str(cred["metadata"]["name"]), ctx.now
        provider = (
            spec.provider.type
            if spec
            else str(((cred.get("spec") or {}).get("provider") or {}).get("type", ""))
        )
        new, expiring = status.build(
            self._old_status(cred),
            statuses,
            provider=provider,
            generation=int(cred["metadata"].get("generation", 0)),
            now=now,
            config_error=config_error,
            warn_before=spec.warn_before if spec else timedelta(hours=1),
        )
        if spec is not None:
            left = (new.expires_at - now).total_seconds() if new.expires_at else None
            self.metrics.set_expiry(name, spec.registry, left)
        if expiring.status == "True" and not mem.warned:
            await writes.record_event(self.kube, cred, "CredentialExpiring", expiring.message)
        mem.warned = expiring.status == "True"
        if config_error is not None and config_error[1] != mem.last_error_event and spec is None:
            mem.last_error_event = config_error[1]
            await writes.record_event(self.kube, cred, config_error[0], config_error[1])
        body = new.model_dump(mode="json", by_alias=True, exclude_none=True)
        if body == (cred.get("status") or {}):
            return
        patch = {
            "apiVersion": writes.GROUP_VERSION,
            "kind": writes.KIND,
            "metadata": {"name": name},
            "status": body,
        }
        try:
            await self.kube.apply(patch, field_manager=writes.FIELD_MANAGER, subresource="status")
        except ApiError as exc:
            log.warning("could not write status of RegistryCredential %s: %s", name, exc)
