"""The chaos plan kills the controller during a rollback and during a hook, and judges both.

Plain data, no cluster: the full plan holds the aimed kills (the smoke stays as
fast as before), hooked apps render a PreSync Job hook Tether recognises, a
rollback's prune is not taken for a prune of an object Git holds, and the
stage a killed operation stood at is read the way a user reads it.
"""

from __future__ import annotations

import random
import time

import yaml
from chaos.load import GENERATED_HOOK, NAMED_HOOK, Ledger, app_files
from chaos.run import FAULTS, full_plan, smoke_plan

from chaos import hooks, opstate
from tether.engine import hooks as hookmodel


def test_full_plan_kills_five_times_during_a_rollback_and_five_during_a_hook() -> None:
    plan = full_plan(50, random.Random(1))
    assert plan.count("kill-rollback") == 5
    assert plan.count("kill-hook") == 5
    assert plan.count("kill") == 50
    assert {"kill-rollback", "kill-hook"} <= set(FAULTS)


def test_smoke_plan_has_no_aimed_kill() -> None:
    assert not {"kill-rollback", "kill-hook"} & set(smoke_plan())


def test_every_tenth_app_has_a_hook_named_or_generated_in_turn() -> None:
    assert hooks.hooked_apps(40) == {
        0: NAMED_HOOK,
        10: GENERATED_HOOK,
        20: NAMED_HOOK,
        30: GENERATED_HOOK,
    }


def test_hook_file_is_a_presync_job_hook_with_the_usual_delete_policy() -> None:
    named = yaml.safe_load(str(app_files(0, 3, NAMED_HOOK)["apps/chaos-0/hook.yaml"]))
    generated = yaml.safe_load(str(app_files(0, 3, GENERATED_HOOK)["apps/chaos-0/hook.yaml"]))
    assert hookmodel.hook_types(named) == [hookmodel.PRE_SYNC]
    assert hookmodel.delete_policies(named) == [hookmodel.BEFORE_HOOK_CREATION]
    assert hookmodel.source_name(generated) == "migrate-*"
    assert hookmodel.delete_policies(generated) == [hookmodel.HOOK_SUCCEEDED]
    assert "apps/chaos-0/hook.yaml" not in app_files(0, 3)


def test_a_rollback_counts_as_what_git_holds_while_paused_and_a_while_after() -> None:
    ledger = Ledger(gens=[5], next_gen=[6])
    ledger.pin(0, 2)
    assert ledger.rolled_back(0, 15.0) == [2]
    assert ledger.rolled_back(1, 15.0) == []
    ledger.unpin(0)
    assert ledger.rolled_back(0, 15.0) == [2]
    time.sleep(0.05)
    assert ledger.rolled_back(0, 0.01) == []


def _app(operation: bool, **state: object) -> opstate.App:
    app: opstate.App = {"metadata": {"name": "a"}, "status": {"operationState": dict(state)}}
    if operation:
        app["operation"] = {"sync": {}}
    return app


def test_stage_says_where_the_users_operation_stood() -> None:
    hook = {"hookType": "PreSync", "hookPhase": "Running", "kind": "Job"}
    other = _app(True, initiatedBy="automated", phase="Running")
    stored = _app(True, initiatedBy="u", phase="Running", syncResult={"resources": []})
    hooked = _app(True, initiatedBy="u", phase="Running", syncResult={"resources": [hook]})
    unclear = _app(True, initiatedBy="u", phase="Succeeded")
    done = _app(False, initiatedBy="u", phase="Succeeded")
    assert opstate.stage(other, "u") == "requested, not taken up"
    assert opstate.stage(stored, "u") == "running"
    assert opstate.stage(hooked, "u") == "hook running"
    assert opstate.stage(unclear, "u") == "result written, request not cleared"
    assert opstate.stage(done, "u") == "finished"
    assert opstate.finished_for("u")(done) and not opstate.finished_for("u")(unclear)


def test_startup_is_read_off_the_controllers_log() -> None:
    log = (
        "\n---- start controller at 1.0 2\n"
        "2026-12-02 14:35:16,500 INFO tether.controller.server: controller started: watching\n"
    )
    since = 1796222100.0  # 2026-12-02 14:35:00 UTC
    assert opstate.startup_seconds(log, since) == 16.5
    assert opstate.startup_seconds("---- start controller at 1.0 2\n", since) is None
