"""Custom health rules as data: CEL expressions per group/kind.

Teams run CRDs Tether cannot know about (Argo Rollouts, cert-manager,
crossplane...). Instead of code (Argo CD's Lua), a rule set is YAML, such as
a ConfigMap data key holds::

    - group: argoproj.io
      kind: Rollout
      rules:                      # first match wins
        - when: "has(object.status.phase) && object.status.phase == 'Degraded'"
          status: Degraded
          reason: RolloutDegraded           # optional, a literal word
          message: "object.status.message"  # optional, a CEL expression
        - when: "true"
          status: Healthy

CEL is side-effect free and always terminates, so a rule cannot hurt the
controller. Expressions see ``object`` (the live object) and ``children``
(the objects it owns). Every expression is compiled when the rule set is
loaded, so a typo fails there with the rule and field named, not later.
At evaluation a reference to a field the object lacks makes ``when`` false;
any other evaluation error gives Unknown naming the rule.
"""

import functools
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from tether.engine.health.status import HealthResult, HealthStatus, unknown
from tether.engine.objects import Obj, group_of


@functools.cache
def _cel() -> Any:
    """celpy, imported on first use: most clusters load no rules, and it costs ~12 MB."""
    import celpy
    from celpy import celtypes
    from celpy.adapter import json_to_cel
    from celpy.celparser import CELParseError
    from celpy.evaluation import CELEvalError

    return types.SimpleNamespace(
        env=celpy.Environment(),
        BoolType=celtypes.BoolType,
        json_to_cel=json_to_cel,
        CELParseError=CELParseError,
        CELEvalError=CELEvalError,
    )


class HealthRuleError(ValueError):
    """A rule set that cannot be loaded; the message names the rule and field."""


@dataclass(frozen=True)
class CompiledRule:
    where: str
    when_text: str
    when: Any
    status: HealthStatus
    reason: str
    message: Any | None


@dataclass
class HealthRules:
    """Compiled rule sets by (group, kind); later loads override earlier ones per kind."""

    by_kind: dict[tuple[str, str], list[CompiledRule]] = field(default_factory=dict)

    def covers(self, group: str, kind: str) -> bool:
        return (group, kind) in self.by_kind

    def merged(self, other: "HealthRules") -> "HealthRules":
        return HealthRules({**self.by_kind, **other.by_kind})

    def evaluate(self, obj: Obj, children: Sequence[Obj] = ()) -> HealthResult | None:
        """The first matching rule's result, or None when no rule set covers the kind."""
        kind = (group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", "")))
        compiled = self.by_kind.get(kind)
        if compiled is None:
            return None
        activation = {
            "object": _cel().json_to_cel(obj),
            "children": _cel().json_to_cel(list(children)),
        }
        for rule in compiled:
            try:
                matched = evaluate_guard(rule.when, activation)
            except MissingField:
                continue
            except _cel().CELEvalError as err:
                return unknown(f"{rule.where} failed: {err.args[0]}", "HealthRuleError")
            if not isinstance(matched, _cel().BoolType):
                return unknown(
                    f"{rule.where}: 'when' gave {type(matched).__name__}, not a bool",
                    "HealthRuleError",
                )
            if bool(matched):
                return HealthResult(rule.status, message_of(rule, activation), rule.reason)
        return None


class MissingField(Exception):
    pass


def run(program: Any, activation: dict[str, Any]) -> Any:
    result = program.evaluate(activation)
    if isinstance(result, _cel().CELEvalError):
        raise result
    return result


def evaluate_guard(program: Any, activation: dict[str, Any]) -> Any:
    """Runs a ``when``: a reference to a field the object lacks means "does not match"."""
    try:
        return run(program, activation)
    except _cel().CELEvalError as err:
        if len(err.args) > 1 and err.args[1] in (KeyError, AttributeError):
            raise MissingField from err
        raise


def message_of(rule: CompiledRule, activation: dict[str, Any]) -> str:
    if rule.message is None:
        return ""
    try:
        value = run(rule.message, activation)
    except _cel().CELEvalError as err:
        return f"(message of {rule.where} failed: {err.args[0]})"
    return str(value)


def compile_expr(text: object, where: str, field_name: str) -> Any:
    if not isinstance(text, str) or not text.strip():
        raise HealthRuleError(f"{where}: field '{field_name}' must be a non-empty CEL string")
    try:
        env = _cel().env
        return env.program(env.compile(text))
    except _cel().CELParseError as err:
        detail = " ".join(str(err).split())
        raise HealthRuleError(f"{where}: field '{field_name}' is not valid CEL: {detail}") from err


def compile_rule(raw: object, where: str) -> CompiledRule:
    if not isinstance(raw, dict):
        raise HealthRuleError(f"{where}: must be a mapping with 'when' and 'status'")
    unknown_fields = set(raw) - {"when", "status", "message", "reason"}
    if unknown_fields:
        raise HealthRuleError(f"{where}: unknown field(s) {', '.join(sorted(unknown_fields))}")
    if "when" not in raw:
        raise HealthRuleError(f"{where}: field 'when' is required")
    try:
        status = HealthStatus(str(raw.get("status")))
    except ValueError:
        allowed = ", ".join(s.value for s in HealthStatus)
        raise HealthRuleError(
            f"{where}: field 'status' is {raw.get('status')!r}; use one of {allowed}"
        ) from None
    message = raw.get("message")
    return CompiledRule(
        where=where,
        when_text=str(raw["when"]),
        when=compile_expr(raw["when"], where, "when"),
        status=status,
        reason=str(raw.get("reason") or status.value),
        message=None if message is None else compile_expr(message, where, "message"),
    )


def load_rules(text: str, source: str = "health rules") -> HealthRules:
    """Parse and compile a YAML rule set; raises HealthRuleError naming what is wrong."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise HealthRuleError(f"{source}: not valid YAML: {err}") from err
    if doc is None:
        return HealthRules()
    if not isinstance(doc, list):
        raise HealthRuleError(f"{source}: must be a list of rule sets (group, kind, rules)")
    by_kind: dict[tuple[str, str], list[CompiledRule]] = {}
    for index, entry in enumerate(doc):
        if not isinstance(entry, dict):
            raise HealthRuleError(f"{source}: rule set {index} must be a mapping")
        kind = entry.get("kind")
        if not isinstance(kind, str) or not kind:
            raise HealthRuleError(f"{source}: rule set {index}: field 'kind' is required")
        group = entry.get("group") or ""
        if not isinstance(group, str):
            raise HealthRuleError(f"{source}: rule set {index}: field 'group' must be a string")
        label = f"{group}/{kind}" if group else kind
        raw_rules = entry.get("rules")
        if not isinstance(raw_rules, list) or not raw_rules:
            raise HealthRuleError(f"{source}: rule set {label}: field 'rules' must be a list")
        if (group, kind) in by_kind:
            raise HealthRuleError(f"{source}: rule set {label} is defined twice")
        by_kind[(group, kind)] = [
            compile_rule(raw, f"{source}: {label} rule {i}") for i, raw in enumerate(raw_rules)
        ]
    return HealthRules(by_kind)
