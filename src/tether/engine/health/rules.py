"""Custom health rules as data: CEL expressions per group/kind.

Teams run CRDs Tether cannot know about. Instead of code, a rule set is
YAML (Tether ships its own for common operators in ``builtin``, and a
ConfigMap data key can hold more)::

    - group: argoproj.io
      kind: Rollout
      rules:                      # first match wins
        - when: "has(object.status.phase) && object.status.phase == 'Degraded'"
          status: Degraded
          reason: RolloutDegraded           # optional, a literal word
          reason_from: "object.status.reason"  # optional CEL; wins over reason when non-empty
          message: "object.status.message"  # optional, a CEL expression
        - when: "true"
          status: Healthy

CEL is side-effect free and always terminates, so a rule cannot hurt the
controller. Expressions see ``object`` (the live object), ``children`` (the
objects it owns), ``conditions`` (the status conditions by type, each with
``status``, ``reason`` and ``message`` always present, and an absent type
reading as one whose fields are all ``''``, so
``conditions.Ready.status == 'False'`` reads as it should) and
``generation_lag`` (true while ``status.observedGeneration`` is behind
``metadata.generation``). ``group`` and ``kind`` may hold ``*`` wildcards
(``*.upbound.io``); an exact entry wins over a wildcard one, and among
wildcards the first loaded. Argo CD Lua checks (``lua``) share this table,
so one ConfigMap key can override another's rule for a kind whatever its
language.

Every expression is compiled when the rule set is loaded, so a typo fails
there with the rule and field named, not later. At evaluation a reference to
a field the object lacks makes ``when`` false; any other evaluation error
gives Unknown naming the rule.
"""

import fnmatch
import functools
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from tether.engine.health.generic import generation_lag
from tether.engine.health.status import HealthResult, HealthStatus, unknown
from tether.engine.objects import Obj, conditions, group_of


@functools.cache
def _cel() -> Any:
    """celpy, imported on first use: most clusters load no rules, and it costs ~12 MB."""
    import celpy
    from celpy import celtypes
    from celpy.adapter import json_to_cel
    from celpy.celparser import CELParseError
    from celpy.evaluation import CELEvalError

    class Conditions(celtypes.MapType):
        def __missing__(self, key: Any) -> Any:
            return json_to_cel(EMPTY_CONDITION)

    return types.SimpleNamespace(
        env=celpy.Environment(),
        Conditions=Conditions,
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
    reason_from: Any | None = None


class Script(Protocol):
    """A health check in another language (Argo CD Lua), judged like a CEL rule set."""

    source: str

    def evaluate(self, obj: Obj, failures: dict[str, str]) -> HealthResult | None: ...


Check = list[CompiledRule] | Script


@dataclass
class HealthRules:
    """Compiled checks by (group, kind) pattern; later loads override earlier ones per kind.

    ``failures`` collects, per source, what went wrong while *running* a check
    (a Lua script out of time or memory), so the controller can report it
    beside the load errors.
    """

    by_kind: dict[tuple[str, str], Check] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def covers(self, group: str, kind: str) -> bool:
        return self.check_for(group, kind) is not None

    def merged(self, other: "HealthRules") -> "HealthRules":
        return HealthRules({**self.by_kind, **other.by_kind})

    def check_for(self, group: str, kind: str) -> Check | None:
        exact = self.by_kind.get((group, kind))
        if exact is not None:
            return exact
        for (group_pattern, kind_pattern), check in self.by_kind.items():
            if "*" not in group_pattern + kind_pattern:
                continue
            if fnmatch.fnmatchcase(group, group_pattern) and fnmatch.fnmatchcase(
                kind, kind_pattern
            ):
                return check
        return None

    def evaluate(self, obj: Obj, children: Sequence[Obj] = ()) -> HealthResult | None:
        """The first matching rule's result, or None when no rule covers the object.

        Rules never see a Secret's values (only its keys), so no message can
        carry one into an app's status.
        """
        check = self.check_for(group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", "")))
        if check is None:
            return None
        obj = without_secret_values(obj)
        children = [without_secret_values(child) for child in children]
        if not isinstance(check, list):
            return check.evaluate(obj, self.failures)
        activation = {
            "object": _cel().json_to_cel(obj),
            "children": _cel().json_to_cel(list(children)),
            "conditions": conditions_by_type(obj),
            "generation_lag": _cel().BoolType(generation_lag(obj) is not None),
        }
        for rule in check:
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
                return HealthResult(
                    rule.status, message_of(rule, activation), reason_of(rule, activation)
                )
        return None


def without_secret_values(obj: Obj) -> Obj:
    if obj.get("kind") != "Secret" or group_of(str(obj.get("apiVersion", ""))) != "":
        return obj
    hidden = dict(obj)
    for key in ("data", "stringData"):
        values = obj.get(key)
        if isinstance(values, dict):
            hidden[key] = dict.fromkeys(values, "")
    return hidden


EMPTY_CONDITION = {"status": "", "reason": "", "message": "", "lastTransitionTime": ""}


def conditions_by_type(obj: Obj) -> Any:
    """Conditions by type; an absent type reads as a condition with empty fields."""
    found = {
        ctype: {**EMPTY_CONDITION, **{k: v for k, v in cond.items() if v is not None}}
        for ctype, cond in conditions(obj).items()
    }
    return _cel().Conditions(_cel().json_to_cel(found))


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
        if is_missing(err):
            raise MissingField from err
        raise


def is_missing(err: Exception) -> bool:
    """A reference to an absent field, also once an operator (``==``, ``&&``) met one.

    celpy turns ``absent == 'x'`` into "no matching overload ... CELEvalError":
    an operand was already an error, and in a guard that reads as "no match".
    """
    if len(err.args) < 2:
        return False
    if err.args[1] in (KeyError, AttributeError):
        return True
    return err.args[1] is TypeError and "CELEvalError" in str(err.args[0])


def message_of(rule: CompiledRule, activation: dict[str, Any]) -> str:
    if rule.message is None:
        return ""
    try:
        value = run(rule.message, activation)
    except _cel().CELEvalError as err:
        return f"(message of {rule.where} failed: {err.args[0]})"
    return str(value)


def reason_of(rule: CompiledRule, activation: dict[str, Any]) -> str:
    """The operator's own reason word when ``reason_from`` gives one, else the literal."""
    if rule.reason_from is None:
        return rule.reason
    try:
        value = run(rule.reason_from, activation)
    except _cel().CELEvalError:
        return rule.reason
    word = str(value).strip()
    return word[:128] if word else rule.reason


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
    unknown_fields = set(raw) - {"when", "status", "message", "reason", "reason_from"}
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
        reason_from=None
        if raw.get("reason_from") is None
        else compile_expr(raw["reason_from"], where, "reason_from"),
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
    by_kind: dict[tuple[str, str], Check] = {}
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
