"""Argo CD Lua health scripts run in a sandbox: each attack is stopped and named."""

import time
from pathlib import Path

import pytest

from tether.engine.health import lua
from tether.engine.health.lua import LuaLimits, LuaScriptError, run_health_script

OBJ = {
    "apiVersion": "acme.example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "gear", "namespace": "shop"},
    "status": {"conditions": [{"type": "Ready", "status": "False", "message": "gear jammed"}]},
}


def test_script_sees_obj_and_returns_hs_as_argo_cd_documents() -> None:
    script = """
hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for i, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = obj.metadata.name .. ": " .. condition.message
      return hs
    end
  end
end
hs.status = "Healthy"
return hs
"""
    assert run_health_script(script, OBJ) == {"status": "Degraded", "message": "gear: gear jammed"}


def test_safe_os_time_and_string_table_math_libraries_work() -> None:
    script = """
local t = os.time()
local parts = {}
for word in string.gmatch("a b c", "%a+") do table.insert(parts, word) end
local mark = t > 0 and "!" or "?"
return {status = "Healthy", message = table.concat(parts, ",") .. math.floor(2.7) .. mark}
"""
    assert run_health_script(script, OBJ)["message"] == "a,b,c2!"


def test_infinite_loop_is_stopped_by_the_instruction_limit() -> None:
    with pytest.raises(LuaScriptError, match="instruction limit exceeded") as info:
        run_health_script("while true do end", OBJ)
    assert info.value.runaway


def test_a_loop_inside_pcall_cannot_swallow_the_limit() -> None:
    script = "while true do pcall(function() while true do end end) end"
    with pytest.raises(LuaScriptError, match="limit exceeded"):
        run_health_script(script, OBJ)


def test_an_xpcall_handler_cannot_swallow_the_limit() -> None:
    script = """
while true do
  xpcall(function() while true do end end, function(e) while true do end end)
end
"""
    with pytest.raises(LuaScriptError, match="limit exceeded"):
        run_health_script(script, OBJ)


def test_a_slow_loop_is_stopped_by_the_time_limit() -> None:
    limits = LuaLimits(instructions=10**12, seconds=0.3)
    started = time.monotonic()
    with pytest.raises(LuaScriptError, match="time limit exceeded"):
        run_health_script("local x = 0 while true do x = x + 1 end", OBJ, limits)
    assert time.monotonic() - started < 2


def test_unbounded_allocation_is_stopped_by_the_memory_limit() -> None:
    script = (
        "local t = {} local i = 0 while true do i = i + 1 t[i] = string.rep('x', 4096) .. i end"
    )
    with pytest.raises(LuaScriptError, match="memory limit of 32 MiB exceeded") as info:
        run_health_script(script, OBJ)
    assert info.value.runaway


def test_one_huge_string_is_refused_by_the_memory_limit() -> None:
    with pytest.raises(LuaScriptError, match="memory limit"):
        run_health_script("local s = string.rep('x', 1 << 30) return {status='Healthy'}", OBJ)


def test_os_execute_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    script = f"os.execute('touch {marker}') return {{status = 'Healthy'}}"
    with pytest.raises(LuaScriptError, match=r"attempt to call a nil value \(field 'execute'\)"):
        run_health_script(script, OBJ)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("script", "missing"),
    [
        ("io.open('/etc/passwd')", "global 'io'"),
        ("require('os')", "global 'require'"),
        ("load('return 1')()", "global 'load'"),
        ("loadfile('/etc/passwd')", "global 'loadfile'"),
        ("dofile('/etc/passwd')", "global 'dofile'"),
        ("debug.sethook()", "global 'debug'"),
        ("package.loadlib('libc.so.6', 'system')", "global 'package'"),
        ("collectgarbage('stop')", "global 'collectgarbage'"),
        ("coroutine.create(print)", "global 'coroutine'"),
        ("python.eval('__import__(\"os\")')", "global 'python'"),
        ("os.getenv('HOME')", "field 'getenv'"),
        ("os.remove('/tmp/x')", "field 'remove'"),
        ("string.dump(print)", "field 'dump'"),
    ],
)
def test_escape_hatches_are_absent(script: str, missing: str) -> None:
    with pytest.raises(LuaScriptError, match="attempt to") as info:
        run_health_script(script + " return {status = 'Healthy'}", OBJ)
    assert missing in str(info.value)


def test_the_real_string_library_holds_no_dump_either() -> None:
    script = "return {status = 'Healthy', message = tostring(getmetatable('').__index.dump)}"
    assert run_health_script(script, OBJ)["message"] == "nil"


def test_a_finalizer_is_refused_because_hooks_cannot_stop_it() -> None:
    script = "setmetatable({}, {__gc = function() while true do end end}) return {status='Healthy'}"
    with pytest.raises(LuaScriptError, match="__gc metamethods are not allowed"):
        run_health_script(script, OBJ)


def test_a_stuck_library_call_is_abandoned_at_the_deadline() -> None:
    # A backtracking string pattern runs in C, where no hook fires.
    script = "local s = string.rep('a', 1500) s:find('.-.-b') return {status='Healthy'}"
    started = time.monotonic()
    with pytest.raises(LuaScriptError, match="exceeded inside a library call") as info:
        run_health_script(script, OBJ, LuaLimits(seconds=0.2))
    assert info.value.runaway
    assert time.monotonic() - started < 1.5
    deadline = time.monotonic() + 60
    while lua._stuck and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lua._stuck == 0, "the abandoned run ends and is counted out"


def test_no_script_runs_while_too_many_are_stuck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lua, "_stuck", lua.MAX_STUCK)
    with pytest.raises(LuaScriptError, match="still stuck in library calls"):
        run_health_script("return {status='Healthy'}", OBJ)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("local x = 1", "returned nothing"),
        ("return 42", "must return a table like hs"),
        ("error({})", "raised an error"),
        ("return obj.spec.missing.field", "attempt to index a nil value"),
    ],
)
def test_broken_scripts_are_errors_not_health(script: str, message: str) -> None:
    with pytest.raises(LuaScriptError, match=message) as info:
        run_health_script(script, OBJ)
    assert not info.value.runaway


def test_unbounded_recursion_is_stopped() -> None:
    with pytest.raises(LuaScriptError, match=r"stack overflow|memory limit"):
        run_health_script("local function f() return f() + 1 end return f()", OBJ)


def test_a_huge_message_is_clipped() -> None:
    hs = run_health_script("return {status = 'Degraded', message = string.rep('x', 100000)}", OBJ)
    assert len(hs["message"]) <= lua.MESSAGE_LIMIT + 3


def test_each_run_starts_from_a_fresh_interpreter() -> None:
    run_health_script("leaked = 'yes' string.upper = nil return {status = 'Healthy'}", OBJ)
    hs = run_health_script(
        "return {status = 'Healthy', message = tostring(leaked) .. string.upper('a')}", OBJ
    )
    assert hs["message"] == "nilA"


@pytest.mark.parametrize(
    "script",
    [
        "return setmetatable({}, {__index = function() while true do end end})",
        "return {status = 'Healthy', message = setmetatable({}, "
        "{__tostring = function() while true do end end})}",
    ],
    ids=["index_metamethod_on_hs", "tostring_metamethod_on_message"],
)
def test_reading_the_returned_hs_stays_under_the_limits(script: str) -> None:
    with pytest.raises(LuaScriptError, match="limit exceeded"):
        run_health_script(script, OBJ)


def test_a_status_that_is_not_utf8_is_an_error() -> None:
    with pytest.raises(LuaScriptError, match="UnicodeDecodeError"):
        run_health_script("return {status = '\\255\\254'}", OBJ)
