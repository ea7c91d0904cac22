"""Rendering an ApplicationSet's template: the subset of Go templates its users write.

There is no Go in Tether and no well-kept Python implementation of Go's
``text/template``, so this is a small, strict renderer. It understands:

- field chains: ``{{.path.basename}}``, ``{{ .name }}``, ``{{.}}``;
- literals: ``"double"`` and ```raw``` strings, integers;
- functions: ``index``, ``lower``, ``upper``, ``default``, ``replace``, ``trunc``,
  ``trimPrefix``, ``trimSuffix``, ``quote``, ``printf`` (``%s``, ``%d``, ``%v``),
  ``normalize``, as calls and as pipeline steps (``{{ .name | lower }}``);
- ``{{-`` and ``-}}`` whitespace trimming.

Anything else (``if``, ``range``, variables, parentheses, other functions) is
refused with an error naming it, rather than rendered wrongly. A missing key
in a field chain is always an error (Go's ``missingkey=error``), never
``<no value>``; ``index`` on a missing map key gives the empty string, as Go's
``index`` gives the zero value (``missingkey`` does not govern it), so
``{{ index .metadata.labels "env" | default "dev" }}`` works.

The legacy form (``goTemplate: false``, Argo CD's fasttemplate) replaces
``{{ key }}`` by the flat parameter ``key`` (``{{path.basename}}``); an unknown
key is an error too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Params = Mapping[str, Any]


class TemplateError(ValueError):
    """A template that cannot be rendered with the given parameters; says why."""


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<number>-?\d+)
      | (?P<field>\.(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<pipe>\|)
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break"}


def render_go(text: str, params: Params) -> str:
    """Render one string as a Go template over ``params``."""
    out: list[str] = []
    pos = 0
    for match in _ACTION.finditer(text):
        literal = text[pos : match.start()]
        if match.group(1):
            literal = literal.rstrip()
        out.append(literal)
        out.append(_to_text(_pipeline(match.group(2), params), match.group(0)))
        pos = match.end()
        if match.group(3):
            rest = text[pos:]
            pos += len(rest) - len(rest.lstrip())
    tail = text[pos:]
    if "{{" in tail:
        raise TemplateError(f"unclosed action in {text!r}")
    out.append(tail)
    return "".join(out)


def render_flat(text: str, params: Params) -> str:
    """Render one string the fasttemplate way: ``{{ key }}`` -> the flat parameter ``key``."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1).strip()
        if key not in params:
            raise TemplateError(f"unknown parameter {key!r} in {match.group(0)!r}{_known(params)}")
        return _to_text(params[key], match.group(0))

    return re.sub(r"\{\{(.*?)\}\}", one, text)


def render_tree(value: Any, params: Params, *, go: bool, where: str) -> Any:
    """Render every string inside ``value`` (dicts and lists walked); errors name the field."""
    if isinstance(value, str):
        if "{{" not in value:
            return value
        try:
            return render_go(value, params) if go else render_flat(value, params)
        except TemplateError as exc:
            raise TemplateError(f"{where}: {exc}") from None
    if isinstance(value, dict):
        return {k: render_tree(v, params, go=go, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render_tree(v, params, go=go, where=f"{where}[{i}]") for i, v in enumerate(value)]
    return value


# -- Go actions ---------------------------------------------------------------


def _tokens(action: str) -> list[tuple[str, str]]:
    tokens = []
    for match in _TOKEN.finditer(action):
        kind = match.lastgroup or "other"
        value = match.group(kind)
        if kind == "other":
            raise TemplateError(
                f"{value!r} is not supported in {{{{{action}}}}} (no variables, "
                "parentheses or comparisons; see docs/applicationsets.md)"
            )
        tokens.append((kind, value))
    return tokens


def _pipeline(action: str, params: Params) -> Any:
    if action.strip().startswith("/*"):
        return ""
    tokens = _tokens(action)
    if not tokens:
        raise TemplateError("empty action {{}}")
    commands: list[list[tuple[str, str]]] = [[]]
    for token in tokens:
        if token[0] == "pipe":
            commands.append([])
        else:
            commands[-1].append(token)
    result: Any = _NOTHING
    for command in commands:
        if not command:
            raise TemplateError(f"empty command in pipeline {{{{{action}}}}}")
        result = _command(command, params, result, action)
    return result


_NOTHING = object()


def _command(command: list[tuple[str, str]], params: Params, piped: Any, action: str) -> Any:
    kind, value = command[0]
    if kind == "ident":
        if value in _KEYWORDS:
            raise TemplateError(f"'{value}' actions are not supported (in {{{{{action}}}}})")
        func = FUNCTIONS.get(value)
        if func is None:
            raise TemplateError(
                f"function {value!r} is not supported (known: {', '.join(sorted(FUNCTIONS))})"
            )
        args = [_operand(t, params) for t in command[1:]]
        if piped is not _NOTHING:
            args.append(piped)
        try:
            return func(*args)
        except TypeError:
            raise TemplateError(f"wrong arguments for {value} in {{{{{action}}}}}") from None
    if len(command) > 1 or piped is not _NOTHING:
        raise TemplateError(f"{value!r} is not a function (in {{{{{action}}}}})")
    return _operand(command[0], params)


def _operand(token: tuple[str, str], params: Params) -> Any:
    kind, value = token
    if kind == "string":
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), value[1:-1])
    if kind == "raw":
        return value[1:-1]
    if kind == "number":
        return int(value)
    if kind == "field":
        return lookup(params, value)
    raise TemplateError(f"{value!r} cannot be used as an argument (no nested calls)")


def lookup(params: Params, chain: str) -> Any:
    """The value of a field chain such as ``.path.basename``; a missing key is an error."""
    current: Any = params
    walked = ""
    for name in [p for p in chain.split(".") if p]:
        if not isinstance(current, Mapping):
            raise TemplateError(f"{walked or '.'} is not a map, so {chain} cannot be read")
        if name not in current:
            raise TemplateError(
                f"map has no entry for key {name!r} at {walked or '.'} "
                f"(in {chain}){_known(current)}"
            )
        current = current[name]
        walked += "." + name
    return current


def _known(params: Mapping[str, Any]) -> str:
    keys = sorted(str(k) for k in params)
    if not keys:
        return ""
    shown = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")
    return f"; known: {shown}"


def _to_text(value: Any, action: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if value is None:
        raise TemplateError(f"{action} is null")
    raise TemplateError(
        f"{action} is a {'map' if isinstance(value, Mapping) else 'list'}, not text "
        "(use index to pick one entry)"
    )


# -- functions ----------------------------------------------------------------


def _index(container: Any, *keys: Any) -> Any:
    current = container
    for key in keys:
        if isinstance(current, Mapping):
            # Go's index yields the map's zero value here; the maps users index
            # (labels, annotations, values) hold strings, whose zero value is "".
            current = current.get(key, "")
        elif isinstance(current, list):
            if not isinstance(key, int) or not -1 < key < len(current):
                raise TemplateError(f"index: {key!r} is out of range (length {len(current)})")
            current = current[key]
        else:
            raise TemplateError(f"index: cannot index a {type(current).__name__}")
    return current


def _printf(fmt: str, *args: Any) -> str:
    values = iter(args)

    def verb(match: re.Match[str]) -> str:
        if match.group(1) == "%":
            return "%"
        try:
            return _to_text(next(values), "printf argument")
        except StopIteration:
            raise TemplateError(f"printf {fmt!r}: missing argument") from None

    out = re.sub(r"%([sdv%])", verb, fmt)
    if re.search(r"%[^sdv%]", fmt):
        raise TemplateError(f"printf {fmt!r}: only %s, %d and %v are supported")
    return out


def normalize(name: str) -> str:
    """A DNS-1123 friendly form of ``name`` (Argo CD's ``basenameNormalized``)."""
    name = re.sub(r"[^-a-z0-9.]", "-", name.lower())[:253]
    return name.strip("-.")


def _default(fallback: Any, value: Any = None) -> Any:
    return value if value not in (None, "", 0, False, [], {}) else fallback


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "index": _index,
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "default": _default,
    "replace": lambda old, new, s: str(s).replace(str(old), str(new)),
    "trunc": lambda n, s: str(s)[: int(n)] if int(n) >= 0 else str(s)[int(n) :],
    "trimPrefix": lambda p, s: str(s).removeprefix(str(p)),
    "trimSuffix": lambda p, s: str(s).removesuffix(str(p)),
    "quote": lambda s: '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"',
    "printf": _printf,
    "normalize": lambda s: normalize(str(s)),
}
