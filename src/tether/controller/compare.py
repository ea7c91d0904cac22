"""Compare desired objects with the cluster through server-side-apply dry runs.

A dry run per object is what makes the diff the API server's truth, but it
costs a request, so the answer is cached by (desired content, live
resourceVersion): while neither changes, the comparison is free.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from tether.adapters.kube import ApiError, KubeClient, NotFound, UnknownKind
from tether.controller import client_apply
from tether.engine import diff as diffing
from tether.engine import sync_options
from tether.engine.application import FIELD_MANAGER
from tether.engine.objects import Obj, ObjectKey, key_of

log = logging.getLogger(__name__)


@dataclass
class Comparison:
    diffs: dict[ObjectKey, diffing.ResourceDiff] = field(default_factory=dict)
    errors: dict[ObjectKey, ApiError] = field(default_factory=dict)
    # Objects this comparison's own dry run found missing from the cluster (an apply
    # dry run that creates answers without a resourceVersion): the sync need not
    # read them again to know nobody else holds them.
    absent: set[ObjectKey] = field(default_factory=set)
    # Objects not dry-run because their namespace does not exist yet: the API server
    # refuses there before it validates. A sync that creates the namespace validates
    # them before it applies anything (``validate``).
    unvalidated: set[ObjectKey] = field(default_factory=set)
    # Objects an apply would leave as they are: the API server's dry run of this very
    # content against the live object as it is now is the live object, and no ignore
    # rule or write option could make the real write differ. A sync need not send it.
    unchanged: set[ObjectKey] = field(default_factory=set)
    # Where this comparison's answers are kept, and the content each plain write was
    # compared as: what a sync applies from it is remembered as compared (settle).
    cache: DryRunCache | None = None
    contents: dict[ObjectKey, str] = field(default_factory=dict)

    def settle(self, key: ObjectKey, applied: Obj) -> None:
        """``applied`` is what the API server stored for this comparison's object: a dry
        run of the same content against it would answer with itself, so none is sent."""
        content = self.contents.get(key)
        version = str((applied.get("metadata") or {}).get("resourceVersion") or "")
        if self.cache is not None and content is not None and version:
            self.cache.settle(key, content, version, applied)

    @property
    def out_of_sync(self) -> set[ObjectKey]:
        return {k for k, d in self.diffs.items() if d.status != "Synced"} | set(self.errors)

    @property
    def status(self) -> str:
        return "OutOfSync" if self.out_of_sync else "Synced"


SYNCED: Obj = {}  # marker: the dry run matched the live object


class DryRunCache:
    """The last dry-run answer per object, valid while content and live object match.

    The live object matches when it is at the version the answer was drawn
    against, or when only what no comparison looks at has changed since: its
    status and server bookkeeping (``diff.normalise``). A Deployment's or an
    Ingress's status moves on its own after every sync; asking the API server
    again for each such move would cost a request per object and per status
    write of another controller.

    Answers are dropped once no app compares their object any more (it was
    renamed, pruned, or its app deleted): names that change with every commit,
    such as a kustomize configMapGenerator's hashed ones, would otherwise grow
    the cache for as long as the controller runs.
    """

    def __init__(self) -> None:
        # key -> (content, live version, live fingerprint, answer)
        self._entries: dict[ObjectKey, tuple[str, str, bytes, Obj]] = {}
        self._owned: dict[str, set[ObjectKey]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self, key: ObjectKey, content: str, live_version: str, live: Obj | None = None
    ) -> Obj | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] != content:
            return None
        if entry[1] != live_version:
            if live is None or not entry[2] or fingerprint(live) != entry[2]:
                return None
            self._entries[key] = (content, live_version, entry[2], entry[3])
        self.hits += 1
        return entry[3]

    def put(
        self, key: ObjectKey, content: str, live_version: str, value: Obj, live: Obj | None = None
    ) -> None:
        self.misses += 1
        self._entries[key] = (content, live_version, fingerprint(live) if live else b"", value)

    def settle(self, key: ObjectKey, content: str, live_version: str, live: Obj) -> None:
        """``live`` is what applying ``content`` just stored: it is in sync with it."""
        self._entries[key] = (content, live_version, fingerprint(live), SYNCED)

    def forget(self, keys: set[ObjectKey]) -> None:
        for key in keys:
            self._entries.pop(key, None)

    def compared(self, owner: str, keys: set[ObjectKey]) -> None:
        """``owner`` (an app) now compares exactly ``keys``: forget the ones it left."""
        self.forget(self._owned.get(owner, set()) - keys)
        self._owned[owner] = keys

    def forget_owner(self, owner: str) -> None:
        self.forget(self._owned.pop(owner, set()))


def fingerprint(live: Obj) -> bytes:
    """What of a live object a comparison depends on, hashed (no status, no bookkeeping)."""
    text = json.dumps(diffing.comparable(live), sort_keys=True).encode()
    return hashlib.blake2b(text, digest_size=16).digest()


def content_hash(obj: Obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


async def compare(
    kube: KubeClient,
    desired: list[Obj],
    live_of: dict[ObjectKey, Obj | None],
    rules: list[diffing.IgnoreRule],
    cache: DryRunCache,
    *,
    concurrency: int = 8,
    options: sync_options.AppOptions | None = None,
    owner: str | None = None,
    absent_namespaces: Collection[str] = (),
) -> Comparison:
    """``options`` (the app's sync options) choose, per object, how the dry run
    writes (as the sync will: server-side apply or a client-side merge patch),
    its field validation, and whether an unknown kind is an error. ``owner``
    (the app) lets the cache drop what the app no longer holds. Objects in
    ``absent_namespaces`` (the live cache knows of no such namespace) are not dry-run
    here: the API server would refuse each before validating it. They are marked
    unvalidated, for the sync to validate once the namespace exists."""
    result = Comparison(cache=cache)
    gate = asyncio.Semaphore(concurrency)
    app_options = options or sync_options.AppOptions()
    rules_id = repr(rules) + repr(sorted(app_options.values.items()))
    # One object of each namespace first: when the namespace does not exist yet (an app
    # that creates it), the others need not each hear so from the API server. A
    # namespace holding a live object exists, so its objects do not wait for a lead.
    present = {k.namespace for k, live in live_of.items() if live is not None}
    missing = set(absent_namespaces) - present  # and the ones a dry run finds missing

    async def dry_run(obj: Obj, opts: sync_options.ObjectOptions) -> Obj:
        namespace = key_of(obj).namespace
        if namespace in missing:
            # Every dry run there answers the same 404; the kind is still checked, as
            # the dry run would (UnknownKind before any request).
            await kube.resource_for(str(obj["apiVersion"]), str(obj["kind"]))
            raise NotFound(404, "NotFound", f'namespaces "{namespace}" not found')
        try:
            return await _dry_run(kube, obj, opts)
        except NotFound as exc:
            if namespace and f'namespaces "{namespace}" not found' in exc.message:
                missing.add(namespace)
            raise

    async def one(obj: Obj) -> None:
        key = key_of(obj)
        live = live_of.get(key)
        rv = str((live or {}).get("metadata", {}).get("resourceVersion", "absent"))
        content = content_hash(obj) + rules_id
        opts = app_options.for_object(obj)
        cached = cache.get(key, content, rv, live)
        plain = _plain_write(key, opts, rules)
        if plain:
            result.contents[key] = content
        if cached is SYNCED:
            result.diffs[key] = diffing.ResourceDiff(key=key, status="Synced")
            if plain:
                result.unchanged.add(key)
            return
        predicted = cached
        if predicted is None:
            if opts.ignored:  # said once per content and live version: dry runs are cached
                log.warning("%s: sync options not honoured: %s", key, "; ".join(opts.ignored))
            async with gate:
                try:
                    predicted = await dry_run(obj, opts)
                except UnknownKind as exc:
                    if opts.skip_dry_run_on_missing_resource:
                        # SkipDryRunOnMissingResource: its CRD may appear later (an operator
                        # installs it); the object is simply missing, not an error.
                        result.diffs[key] = diffing.compare(obj, None)
                        return
                    result.errors[key] = exc
                    return
                except NotFound:
                    predicted = obj  # its namespace does not exist yet: it will be created
                    result.absent.add(key)
                    result.unvalidated.add(key)
                except ApiError as exc:
                    result.errors[key] = exc
                    return
                else:
                    if not (predicted.get("metadata") or {}).get("resourceVersion"):
                        result.absent.add(key)
            verdict = diffing.compare(predicted, live, rules)
            if live is not None or predicted is not obj:
                # A synced answer is remembered as just that; an out-of-sync one keeps
                # the normalised object its diff is drawn from.
                keep = SYNCED if verdict.status == "Synced" else diffing.normalise(predicted)
                cache.put(key, content, rv, keep, live)
            result.diffs[key] = verdict
            if plain and live is not None and verdict.status == "Synced":
                result.unchanged.add(key)
            return
        result.diffs[key] = diffing.compare(predicted, live, rules)

    first: dict[str, Obj] = {}
    for obj in desired:
        namespace = key_of(obj).namespace
        if namespace and namespace not in present and namespace not in missing:
            first.setdefault(namespace, obj)
    leads = list(first.values())
    led = {id(o) for o in leads}
    await asyncio.gather(*(one(o) for o in leads))
    await asyncio.gather(*(one(o) for o in desired if id(o) not in led))
    if owner is not None:
        cache.compared(owner, {key_of(o) for o in desired})
    return result


@dataclass
class Validation:
    refused: dict[ObjectKey, ApiError] = field(default_factory=dict)
    existing: set[ObjectKey] = field(default_factory=set)  # the dry run updated them
    unanswered: set[ObjectKey] = field(default_factory=set)  # their namespace is missing


async def validate(
    kube: KubeClient,
    objs: list[Obj],
    options: sync_options.AppOptions,
    *,
    concurrency: int = 8,
) -> Validation:
    """Dry-run ``objs`` as the sync will write them: what the API server refuses, which
    of them exist already, and which it cannot answer yet (their namespace is missing)."""
    gate = asyncio.Semaphore(concurrency)
    result = Validation()

    async def one(obj: Obj) -> None:
        key = key_of(obj)
        opts = options.for_object(obj)
        async with gate:
            try:
                answer = await _dry_run(kube, obj, opts)
            except UnknownKind as exc:
                if not opts.skip_dry_run_on_missing_resource:
                    result.refused[key] = exc
            except NotFound:
                result.unanswered.add(key)
            except ApiError as exc:
                result.refused[key] = exc
            else:
                if (answer.get("metadata") or {}).get("resourceVersion"):
                    result.existing.add(key)

    await asyncio.gather(*(one(o) for o in objs))
    return result


def _plain_write(
    key: ObjectKey, opts: sync_options.ObjectOptions, rules: list[diffing.IgnoreRule]
) -> bool:
    """Whether a Synced verdict means the write would change nothing: not when an
    ignore rule hides fields from the diff (the write resets them), nor for writes
    other than a server-side apply (a replace drops what the dry run kept, a client-side
    patch rewrites the last-applied annotation the diff does not look at)."""
    return (
        not opts.replace
        and not opts.client_side
        and not opts.keep_live
        and not any(r.matches(key) for r in rules)
    )


async def _dry_run(kube: KubeClient, obj: Obj, opts: sync_options.ObjectOptions) -> Obj:
    if opts.client_side:
        return await client_apply.apply(
            kube, obj, dry_run=True, field_validation=opts.field_validation
        )
    return await kube.apply(
        obj, field_manager=FIELD_MANAGER, dry_run=True, field_validation=opts.field_validation
    )
