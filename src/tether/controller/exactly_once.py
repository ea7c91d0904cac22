"""Each sync is recorded exactly once, and each requested sync run once, across a kill.

Applying objects and recording that they were applied are writes to different
objects, and a controller can be killed between any two of them. Two records
close the windows that leaves, as Argo CD's controller does
(``processRequestedAppOperation``):

- **The intent before the apply.** A sync is stored as ``Running`` in
  ``status.operationState`` (its id, revision and steps) before its first
  apply. A controller killed after applying leaves that state behind and the
  next one continues it at the same revision: the apply repeats (server-side
  apply: idempotent) and the history entry is written once, in the same
  status write as the result.
- **The result names its request.** A requested sync's result carries
  ``requestGeneration``, the Application's ``metadata.generation`` when the
  controller took the request up: setting ``operation`` bumps the generation
  (it is outside ``metadata`` and ``status``), so the number names that very
  request. Argo CD clears ``operation`` in the patch that stores the result;
  Tether's status is a subresource, so the clear is a second write, and a
  controller killed between the two finds a finished result for the same
  request: it only clears the request, it does not run it again.

The same holds for a hook its policy deletes once it finished: its outcome is
stored before the delete (``store_state``), or a controller killed between the
two would wait for a hook that no longer exists.

Every write replaces what it writes whole (a JSON patch's ``add``), never merges
into it: a write can land and lose its answer (a load balancer's timeout), and
the next write, made from the state before it, must undo it entirely. Merged,
an intent the controller thought refused left its ``id`` and
``requestGeneration`` inside the older result written over it, which then read
as the requested sync's result: the request was cleared and never run.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from tether.adapters.kube import ApiError, KubeClient
from tether.controller import status as st
from tether.controller.passes import AppMemory, Pass
from tether.engine import application as appmodel
from tether.engine import objects
from tether.engine.objects import Obj

log = logging.getLogger(__name__)
REQUEST_KEY = "requestGeneration"
RUNNING = "Running"


def request_of(app: Obj) -> int | None:
    """The number naming the app's requested operation, or None when none is requested."""
    if not app.get("operation"):
        return None
    try:
        return int(objects.meta(app).get("generation") or 0)
    except (TypeError, ValueError):
        return 0


def request_field(p: Pass) -> dict[str, Any]:
    """``{REQUEST_KEY: n}`` for the result of the pass's requested operation, else empty."""
    request = request_of(p.app) if p.operation is not None else None
    return {} if request is None else {REQUEST_KEY: request}


def answered(status: dict[str, Any], app: Obj) -> bool:
    """Whether the status already holds the finished result of the request the app
    still carries (its controller was killed before clearing it)."""
    request = request_of(app)
    state = status.get("operationState") or {}
    return (
        request is not None
        and state.get("phase") not in (None, "", RUNNING)
        and state.get(REQUEST_KEY) == request
    )


async def store_intent(home: KubeClient, p: Pass, memory: AppMemory) -> bool:
    """Write the pass's running ``operationState`` alone, before anything is applied.

    False when the API server refused it: then nothing may be applied, since a
    kill after the apply would leave a deploy nobody records."""
    return await store_state(
        home, p, memory, "sync of %s not started: its intent was not stored: %s"
    )


async def store_state(
    home: KubeClient, p: Pass, memory: AppMemory, refused: str = "operation of %s not stored: %s"
) -> bool:
    """Write the pass's ``operationState`` alone, now; False (and ``refused`` logged)
    when the API server refused it."""
    meta = p.app["metadata"]
    # The state alone where the Application has a status; else the whole status,
    # since a JSON patch cannot add below a path that does not exist.
    known = bool(p.app.get("status")) and memory.unwritten is None
    write = (
        {"op": "add", "path": "/status/operationState", "value": p.status["operationState"]}
        if known
        else {"op": "add", "path": "/status", "value": p.status}
    )
    try:
        memory.latest = await home.json_patch(
            appmodel.API_VERSION,
            appmodel.KIND,
            str(meta["name"]),
            [write],
            str(meta.get("namespace") or ""),
            subresource="status",
        )
    except ApiError as exc:
        log.warning(refused, p.name, exc)
        return False
    return True


async def record(home: KubeClient, p: Pass, memory: AppMemory, poll_interval: float) -> None:
    """Write the pass's status when it changed (or has not been written for a poll
    interval), then clear a request whose result it holds; what the API server
    refused for a while is kept in ``memory`` for the next pass to write first."""
    meta = p.app["metadata"]
    old = p.app.get("status") or {}
    changed = st.without_time(old) != st.without_time(p.status)
    recorded = True
    if changed or st.stale(old, poll_interval):
        try:
            memory.latest = await home.json_patch(
                appmodel.API_VERSION,
                appmodel.KIND,
                meta["name"],
                [{"op": "add", "path": "/status", "value": p.status}],
                meta["namespace"],
                subresource="status",
            )
            memory.unwritten = None
        except ApiError as exc:
            log.warning("status of %s not written: %s", p.name, exc)
            recorded = exc.status != 429 and exc.status < 500
            if not recorded:
                done = p.app.get("operation") if p.app.get("_clear_operation") else None
                memory.unwritten = (str(meta.get("uid", "")), copy.deepcopy(p.status), done)
    # A requested operation stays until its result is recorded: cleared after a status
    # write the API server failed for a while, it would vanish (applied, never recorded).
    if p.app.pop("_clear_operation", False) and recorded:
        try:
            memory.latest = await home.merge_patch(
                appmodel.API_VERSION,
                appmodel.KIND,
                meta["name"],
                {"operation": None},
                meta["namespace"],
            )
        except ApiError as exc:
            log.warning("operation of %s not cleared: %s", p.name, exc)
            if exc.status == 429 or exc.status >= 500:
                # Recorded but still requested: the next pass only clears it (a second
                # run would record the same sync twice).
                op = p.app.get("operation")
                memory.unwritten = (str(meta.get("uid", "")), copy.deepcopy(p.status), op)
