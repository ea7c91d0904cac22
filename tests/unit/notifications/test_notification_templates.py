"""Custom templates and triggers (Argo CD's template.* / trigger.*) on plain data."""

from __future__ import annotations

import json

import pytest

from tether.engine import notification_templates as nt
from tether.engine import notifications as n
from tether.engine.appsets.template import TemplateError

APP = {
    "apiVersion": "tether.dev/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "finance", "namespace": "tether", "managedFields": [{"x": 1}]},
    "spec": {"source": {"repoURL": "https://git.example.com/finance.git"}},
    "status": {"sync": {"status": "Synced"}, "health": {"status": "Degraded"}},
}
NOTICE = n.Notice(
    n.SYNC_FAILED,
    "finance",
    "tether",
    "1 of 3 objects failed",
    "sync:t1",
    "9f2c",
    {"phase": "Failed"},
)
CONFIG = {
    "context": "dashboard: https://tether.example.com\n",
    "template.sync-failed": """
title: '{{.app.metadata.name}} failed'
message: '{{.app.metadata.name | upper}} on {{.revision}}: {{.message}} ({{.context.dashboard}})'
webhook:
  ops:
    path: /apps/{{.app.metadata.name}}
    body: '{"app": {{.app.metadata.name | quote}}, "phase": "{{index .details "phase"}}"}'
""",
    "trigger.on-sync-failed": "- when: app.status.operationState.phase in ['Error', 'Failed']\n"
    "  send: [sync-failed]\n",
}
WEBHOOK = n.Service("ops", "webhook", "https://hooks.example.com")
SLACK = n.Service("chat", "slack", "https://hooks.slack.com/x")


def rendered(catalog: nt.Catalog, service: n.Service, name: str = "sync-failed") -> nt.Rendered:
    params = nt.template_params(
        obj=APP,
        trigger=NOTICE.trigger,
        message=NOTICE.message,
        revision=NOTICE.revision,
        details=NOTICE.details,
        context=catalog.context,
        service_type=service.kind,
        recipient="",
    )
    return nt.render(
        catalog.templates[name], service=service.name, service_type=service.kind, params=params
    )


def test_a_trigger_sends_its_templates_and_other_triggers_keep_the_built_in_message() -> None:
    catalog, problems = nt.parse_catalog(CONFIG)
    assert problems == []
    assert catalog.templates_for(n.SYNC_FAILED) == ("sync-failed",)
    assert catalog.templates_for(n.SYNC_SUCCEEDED) == ()


def test_a_webhook_gets_the_template_body_and_path_for_its_service_name() -> None:
    catalog, _ = nt.parse_catalog(CONFIG)
    out = rendered(catalog, WEBHOOK)
    assert out.path == "/apps/finance"
    assert json.loads(n.payload(NOTICE, WEBHOOK, "", out)) == {"app": "finance", "phase": "Failed"}


def test_other_services_get_the_template_message_and_title_in_their_usual_layout() -> None:
    catalog, _ = nt.parse_catalog(CONFIG)
    out = rendered(catalog, SLACK)
    assert out.body is None
    body = json.loads(n.payload(NOTICE, SLACK, "#ops", out))
    assert body["text"] == ("FINANCE on 9f2c: 1 of 3 objects failed (https://tether.example.com)")
    assert body["attachments"][0]["title"] == "finance failed"
    assert body["channel"] == "#ops"
    other_hook = n.Service("audit", "webhook", "https://audit.example.com")
    plain = json.loads(n.payload(NOTICE, other_hook, "", rendered(catalog, other_hook)))
    assert plain["message"].startswith("FINANCE on 9f2c")
    assert (plain["template"], plain["title"], plain["trigger"]) == (
        "sync-failed",
        "finance failed",
        n.SYNC_FAILED,
    )


def test_without_templates_the_built_in_payload_is_unchanged() -> None:
    body = json.loads(n.payload(NOTICE, WEBHOOK))
    assert body["message"] == NOTICE.message and "template" not in body
    assert json.loads(n.payload(NOTICE, SLACK))["text"] == (
        "finance: sync failed: 1 of 3 objects failed"
    )


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("message: '{{.application.name}}'", "no entry for key 'application'"),
        ("message: '{{.context.nope}}'", "no entry for key 'nope'"),
        ("message: '{{.app.metadata.name | shout}}'", "function 'shout' is not supported"),
        ("message: '{{if .app}}x{{end}}'", "'if' actions are not supported"),
        ("message: '{{.app.metadata.name'", "unclosed action"),
        ("title: only a title", "needs a message"),
        ("message: x\nwebhook: {ops: {method: PUT, body: x}}", "only POST"),
        ("[not, a, mapping]", "not a mapping"),
    ],
)
def test_a_broken_template_is_a_named_problem_found_when_the_config_is_read(
    template: str, complaint: str
) -> None:
    catalog, problems = nt.parse_catalog(
        {"context": "dashboard: x", "template.bad": template, "template.good": "message: ok"}
    )
    assert "bad" not in catalog.templates and "good" in catalog.templates
    assert len(problems) == 1
    assert problems[0].startswith("template.bad: ") and complaint in problems[0]


def test_bad_trigger_entries_are_problems_and_leave_the_built_in_message() -> None:
    catalog, problems = nt.parse_catalog(
        {
            "template.t": "message: hi",
            "trigger.on-app-deleted": "- send: [t]",
            "trigger.on-sync-succeeded": "- send: [missing]",
            "trigger.on-health-degraded": "- send: t",
        }
    )
    assert catalog.templates_for("on-app-deleted") == ()
    assert catalog.templates_for(n.HEALTH_DEGRADED) == ()
    assert any("no trigger 'on-app-deleted'" in p for p in problems)
    assert any("sends template 'missing', which is not defined" in p for p in problems)
    assert any(p.startswith("trigger.on-health-degraded: send: must be a list") for p in problems)


def test_a_field_missing_from_this_app_fails_that_render_with_the_field_named() -> None:
    catalog, problems = nt.parse_catalog(
        {"template.op": "message: '{{.app.status.operationState.phase}}'"}
    )
    assert problems == []
    with pytest.raises(TemplateError, match=r"template op message: .*'operationState'"):
        rendered(catalog, WEBHOOK, "op")


def test_templates_see_neither_managed_fields_nor_anything_but_their_roots() -> None:
    params = nt.template_params(
        obj=APP,
        trigger="t",
        message="m",
        revision="r",
        details={},
        context={},
        service_type="webhook",
        recipient="",
    )
    assert set(params) == set(nt.ROOTS)
    assert "managedFields" not in params["app"]["metadata"]
    assert "managedFields" in APP["metadata"]  # type: ignore[operator]


def test_a_rendered_path_must_stay_a_path() -> None:
    catalog, problems = nt.parse_catalog(
        {"template.p": "message: x\nwebhook: {ops: {path: '{{.message}}'}}"}
    )
    assert problems == []
    params = nt.template_params(
        obj=APP,
        trigger="t",
        message="@evil.example.com/x",
        revision="",
        details={},
        context={},
        service_type="webhook",
        recipient="",
    )
    with pytest.raises(TemplateError, match="is not a path"):
        nt.render(catalog.templates["p"], service="ops", service_type="webhook", params=params)
