"""Argo CD Lua health checks, run unchanged in a sandbox.

People moving from Argo CD keep their health checks in ``argocd-cm`` as Lua
(``resource.customizations.health.<group>_<kind>``). Tether runs the same
scripts with the same conventions: the live object is the global ``obj``
(arrays 1-indexed, absent fields ``nil``), and the script returns a table
``hs`` with ``hs.status`` (Healthy, Progressing, Degraded, Suspended,
Missing, Unknown) and ``hs.message``.

A script is code from a ConfigMap, so it runs with nothing it could use to
reach outside Lua: no ``io``, ``require``, ``package``, ``load``,
``loadfile``, ``dofile``, ``debug``, ``coroutine``, ``collectgarbage``,
``string.dump`` or ``print``; ``os`` holds only ``time``, ``date`` and
``clock`` (what Argo CD's safe ``os`` offers); ``setmetatable`` refuses a
``__gc`` finalizer, because Lua runs finalizers with hooks off. Each run gets a fresh
interpreter with a memory cap, an instruction budget and a deadline, both
enforced by a count hook that, once tripped, fires on every instruction so a
``pcall`` cannot swallow it. A C library call cannot be interrupted (a
pathological string pattern), so each run happens on its own thread and the
caller stops waiting at the deadline; such a script is disabled until its
ConfigMap changes, and once ``MAX_STUCK`` runs are stuck at once no script
runs at all, so a bad ConfigMap costs at most that many cores. The
interpreter is lupa (Lua 5.4); nothing here does I/O.
"""

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from tether.engine.health.rules import HealthRuleError, HealthRules
from tether.engine.health.status import HealthResult, HealthStatus, unknown
from tether.engine.objects import Obj

SINGLE_KEY_PREFIX = "resource.customizations.health."
BLOCK_KEY = "resource.customizations"
MESSAGE_LIMIT = 1024
MAX_STUCK = 2
_stuck = 0
_stuck_lock = threading.Lock()

SAFE_GLOBALS = (
    "assert",
    "error",
    "ipairs",
    "next",
    "pairs",
    "pcall",
    "select",
    "tonumber",
    "tostring",
    "type",
    "xpcall",
    "rawequal",
    "rawget",
    "rawlen",
    "rawset",
    "setmetatable",
    "getmetatable",
)
SAFE_LIBRARIES = ("string", "table", "math", "utf8")

# Runs once per interpreter with the full standard library, keeps what the
# sandbox needs in locals, then removes everything else from reach.
SETUP = """
local safe_globals, safe_libraries, expired = ...
local load, sethook, error, pairs, ipairs = load, debug.sethook, error, pairs, ipairs
string.dump = nil
local env = {}
for _, name in ipairs(safe_globals) do env[name] = _G[name] end
for _, lib in ipairs(safe_libraries) do
  local copy = {}
  for k, v in pairs(_G[lib]) do copy[k] = v end
  env[lib] = copy
end
env.os = {time = os.time, date = os.date, clock = os.clock}
local setmetatable, rawget, pcall = setmetatable, rawget, pcall
local pack, unpack = table.pack, table.unpack
-- a message handler runs inside error handling, where a tripped hook would
-- recurse; here it runs as plain code after the protected call returns
env.xpcall = function(f, handler, ...)
  local result = pack(pcall(f, ...))
  if result[1] then return unpack(result, 1, result.n) end
  return false, handler(result[2])
end
env.setmetatable = function(t, mt)
  -- finalizers run with hooks off: no limit could stop one
  if mt ~= nil and rawget(mt, "__gc") ~= nil then error("__gc metamethods are not allowed", 2) end
  return setmetatable(t, mt)
end
env.print = function() end
env._G = env
for name in pairs(_G) do
  if name ~= "_G" and name ~= "string" then _G[name] = nil end
end
return function(source, chunkname, obj, max_ticks)
  local chunk, err = load(source, chunkname, "t", env)
  if not chunk then error("syntax error: " .. err, 0) end
  env.obj = obj
  local ticks = 0
  local function hook()
    ticks = ticks + 1
    if ticks > max_ticks then
      sethook(hook, "", 1)
      error("instruction limit exceeded", 0)
    end
    if expired() then
      sethook(hook, "", 1)
      error("time limit exceeded", 0)
    end
  end
  sethook(hook, "", 1000)
  return chunk()
end
"""


@dataclass(frozen=True)
class LuaLimits:
    """Per-run limits; the instruction budget counts in thousands of VM instructions."""

    memory_bytes: int = 32 * 1024 * 1024
    instructions: int = 20_000_000
    seconds: float = 1.0


class LuaScriptError(Exception):
    """A script that failed, ran out of a limit, or returned something else than ``hs``."""

    def __init__(self, message: str, runaway: bool = False) -> None:
        super().__init__(message)
        self.runaway = runaway


def _lupa() -> Any:
    from lupa import lua54

    return lua54


def _refuse_attributes(obj: object, name: object, is_setting: bool) -> object:
    raise AttributeError("Python objects are not reachable from health scripts")


def _run_in_interpreter(script: str, chunkname: str, obj: Obj, limits: LuaLimits) -> Any:
    lua54 = _lupa()
    deadline = time.monotonic() + limits.seconds
    runtime = lua54.LuaRuntime(
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=False,
        max_memory=limits.memory_bytes,
        attribute_filter=_refuse_attributes,
    )
    try:
        setup = runtime.execute(
            SETUP,
            runtime.table_from(list(SAFE_GLOBALS)),
            runtime.table_from(list(SAFE_LIBRARIES)),
            lambda: time.monotonic() > deadline,
        )
        live = runtime.table_from(obj, recursive=True)
        returned = setup(script, chunkname, live, max(1, limits.instructions // 1000))
        return _read_hs(returned)
    except lua54.LuaMemoryError as err:
        raise LuaScriptError(
            f"memory limit of {limits.memory_bytes // (1024 * 1024)} MiB exceeded", runaway=True
        ) from err
    except lua54.LuaError as err:
        text = str(err) or "the script raised an error without a message"
        runaway = "limit exceeded" in text
        raise LuaScriptError(_clip(text), runaway=runaway) from err


def _read_hs(returned: Any) -> dict[str, str]:
    if returned is None:
        raise LuaScriptError("the script returned nothing; it must return a table like hs")
    try:
        status = returned["status"]
        message = returned["message"]
    except (TypeError, KeyError, AttributeError):
        raise LuaScriptError("the script must return a table like hs") from None
    return {
        "status": status if isinstance(status, str) else "",
        "message": "" if message is None else _clip(str(message)),
    }


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "..."


def run_health_script(
    script: str, obj: Obj, limits: LuaLimits = LuaLimits(), chunkname: str = "health.lua"
) -> dict[str, str]:
    """Runs one script on one object; returns ``{"status", "message"}`` or raises."""
    global _stuck
    if _stuck >= MAX_STUCK:
        raise LuaScriptError(
            f"not run: {_stuck} health scripts are still stuck in library calls", runaway=True
        )
    outcome: dict[str, Any] = {}
    abandoned = threading.Event()

    def work() -> None:
        global _stuck
        try:
            outcome["hs"] = _run_in_interpreter(script, chunkname, obj, limits)
        except LuaScriptError as err:
            outcome["error"] = err
        except Exception as err:  # a lupa conversion error, an interpreter that would not start
            outcome["error"] = LuaScriptError(_clip(f"{type(err).__name__}: {err}"))
        finally:
            with _stuck_lock:
                if abandoned.is_set():
                    _stuck -= 1

    worker = threading.Thread(target=work, name="tether-lua", daemon=True)
    worker.start()
    worker.join(limits.seconds + 0.5)
    with _stuck_lock:
        if worker.is_alive():
            abandoned.set()
            _stuck += 1
            raise LuaScriptError(
                f"time limit of {limits.seconds:g}s exceeded inside a library call", runaway=True
            )
    if "error" in outcome:
        raise outcome["error"]
    hs: dict[str, str] = outcome["hs"]
    return hs


def check_syntax(script: str, chunkname: str) -> str | None:
    """The syntax error of ``script``, or None; nothing of the script runs."""
    lua54 = _lupa()
    runtime = lua54.LuaRuntime(register_eval=False, register_builtins=False, max_memory=8 << 20)
    try:
        compiled = runtime.globals().load(script, chunkname, "t", runtime.table())
    except lua54.LuaError as err:
        return _clip(str(err))
    if isinstance(compiled, tuple) and compiled[0] is None:
        return _clip(str(compiled[1]))
    return None


@dataclass
class LuaHealthCheck:
    """One Argo CD health script for a group/kind pattern."""

    source: str
    script: str
    limits: LuaLimits = field(default_factory=LuaLimits)
    disabled: str | None = None

    def evaluate(self, obj: Obj, failures: dict[str, str]) -> HealthResult | None:
        if self.disabled is not None:
            return unknown(f"{self.source}: disabled: {self.disabled}", "HealthRuleError")
        try:
            hs = run_health_script(self.script, obj, self.limits, self.source)
        except LuaScriptError as err:
            problem = f"{self.source}: {err}"
            if err.runaway:
                self.disabled = f"{err} (the script is skipped until the ConfigMap changes)"
                problem = f"{self.source}: {self.disabled}"
            failures[self.source] = problem
            return unknown(problem, "HealthRuleError")
        try:
            status = HealthStatus(hs["status"])
        except ValueError:
            allowed = ", ".join(s.value for s in HealthStatus)
            problem = f"{self.source}: returned status {hs['status']!r}; use one of {allowed}"
            failures[self.source] = problem
            return unknown(problem, "HealthRuleError")
        return HealthResult(status, hs["message"], status.value)


def _split_group_kind(text: str, separator: str) -> tuple[str, str]:
    if separator not in text:
        return "", text
    group, kind = text.rsplit(separator, 1)
    return group, kind


def load_argocd_health(
    data: dict[str, str], source: str, limits: LuaLimits = LuaLimits()
) -> HealthRules:
    """Health scripts from argocd-cm style keys; raises HealthRuleError naming the key.

    ``resource.customizations.health.<group>_<kind>`` holds one script;
    ``resource.customizations`` holds a YAML map of ``<group>/<kind>`` (``*``
    wildcards allowed) to settings, of which ``health.lua`` is read.
    """
    found: dict[tuple[str, str], Any] = {}
    for key, text in sorted(data.items()):
        where = f"{source} key {key}"
        if key.startswith(SINGLE_KEY_PREFIX):
            group, kind = _split_group_kind(key[len(SINGLE_KEY_PREFIX) :], "_")
            found[(group, kind)] = _checked(text, where, limits)
        elif key == BLOCK_KEY:
            found.update(_block(text, where, limits))
    return HealthRules(found)


def _block(text: str, where: str, limits: LuaLimits) -> dict[tuple[str, str], Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise HealthRuleError(f"{where}: not valid YAML: {err}") from err
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise HealthRuleError(f"{where}: must map <group>/<kind> to settings")
    found: dict[tuple[str, str], Any] = {}
    for name, settings in doc.items():
        if not isinstance(settings, dict) or "health.lua" not in settings:
            continue
        group, kind = _split_group_kind(str(name).lstrip("/"), "/")
        found[(group, kind)] = _checked(settings["health.lua"], f"{where} ({name})", limits)
    return found


def _checked(script: object, where: str, limits: LuaLimits) -> LuaHealthCheck:
    if not isinstance(script, str) or not script.strip():
        raise HealthRuleError(f"{where}: the health script is empty")
    problem = check_syntax(script, where)
    if problem is not None:
        raise HealthRuleError(f"{where}: Lua does not compile: {problem}")
    return LuaHealthCheck(where, script, limits)


def is_argocd_key(key: str) -> bool:
    """An argocd-cm customization key; only the health ones hold checks, the rest are ignored."""
    return key == BLOCK_KEY or key.startswith(BLOCK_KEY + ".")
