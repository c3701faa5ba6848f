"""The "did you mean" notes: a SELECT item that is Undefined because the payload lacks its key
says so in `iotsql eval` (and `--explain`), with the payload's keys it was probably meant to
be, written as SQL; and the suggestion rules themselves (iotsql/suggest.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from iotsql.suggest import alternatives, closest, path_expression

PAYLOAD = (
    '{"battery-level": 80, "battery-voltage": 3.7, "temperature": 21, "deviceId": "d1",'
    ' "state": {"reported": {"mode": "eco", "signal-dbm": -70}}, "items": [1]}'
)


def iotsql(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "iotsql", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONIOENCODING": "utf-8"})  # fmt: skip


def test_eval_names_each_missing_select_key_with_what_was_meant() -> None:
    sql = ("SELECT bat, temprature, upper(device_id) AS dev, state.reported.mdoe, "
           "state.reported.signal AS sig, items.x, deviceId FROM 't'")  # fmt: skip
    result = iotsql("eval", sql, "--payload", PAYLOAD)
    assert result.returncode == 0
    assert result.stdout == '{"deviceId":"d1"}\n'
    assert result.stderr.splitlines() == [
        "note: SELECT item bat is Undefined, so the output leaves it out: the payload has no key "
        "'bat' (did you mean get(*, 'battery-level') or get(*, 'battery-voltage')?)",
        "note: SELECT item temprature is Undefined, so the output leaves it out: the payload has "
        "no key 'temprature' (did you mean temperature?)",
        "note: SELECT item dev is Undefined, so the output leaves it out: device_id is Undefined: "
        "the payload has no key 'device_id' (did you mean deviceId?)",
        "note: SELECT item mdoe is Undefined, so the output leaves it out: `state.reported` has "
        "no key 'mdoe' (did you mean state.reported.mode?)",
        "note: SELECT item sig is Undefined, so the output leaves it out: `state.reported` has "
        "no key 'signal' (did you mean get(state.reported, 'signal-dbm')?)",
        "note: SELECT item x is Undefined, so the output leaves it out: items is Array, not an "
        "object",
    ]


def test_eval_says_nothing_when_undefined_is_not_a_missing_key() -> None:
    # A key that is there, a function that is Undefined by itself, a rule that does not fire.
    result = iotsql("eval", "SELECT deviceId, sqrt(-1) AS root FROM 't'", "--payload", PAYLOAD)
    assert result.returncode == 0 and result.stderr == ""
    result = iotsql("eval", "SELECT bat FROM 't' WHERE false", "--payload", PAYLOAD)
    assert result.returncode == 1 and "SELECT item" not in result.stderr


def test_eval_select_value_and_explain() -> None:
    result = iotsql("eval", "--explain", "SELECT VALUE batt FROM 't'", "--payload", PAYLOAD)
    assert result.returncode == 0
    note = ("SELECT VALUE is Undefined, so the output is an empty body: the payload has no key "
            "'batt' (did you mean get(*, 'battery-level') or get(*, 'battery-voltage')?)")  # fmt: skip
    assert f"note:   {note}" in result.stderr  # in the explanation
    assert f"note: {note}" in result.stderr


def test_closest_names() -> None:
    keys = ["battery-level", "battery-voltage", "temperature", "deviceId", "Mode"]
    assert closest("bat", keys) == ["battery-level", "battery-voltage"]
    assert closest("batterylevel", keys) == ["battery-level"]
    assert closest("battery_level", keys) == ["battery-level"]
    assert closest("tempretaure", keys) == ["temperature"]
    assert closest("device_id", keys) == ["deviceId"]
    assert closest("mode", keys) == ["Mode"]
    assert closest("humidity", keys) == []
    assert closest("temperature", keys) == []  # there already
    assert closest("b", keys) == []  # one letter is a prefix of too much to mean anything
    assert closest("FORM", ["FROM", "WHERE", "AS"]) == ["FROM"]
    assert closest("timestmp", ["timestamp", "topic", "trim"]) == ["timestamp"]


def test_paths_written_as_sql() -> None:
    assert path_expression(["state", "reported", "mode"]) == "state.reported.mode"
    assert path_expression(["battery-level"]) == "get(*, 'battery-level')"
    assert path_expression(["state", "signal-dbm"]) == "get(state, 'signal-dbm')"
    assert path_expression(["a-b", "c"]) == "get(*, 'a-b').c"
    assert path_expression(["it's"]) == "get(*, 'it''s')"
    assert path_expression(["1st"]) == "get(*, '1st')"
    assert alternatives(["a"]) == "a"
    assert alternatives(["a", "b", "c"]) == "a, b or c"
