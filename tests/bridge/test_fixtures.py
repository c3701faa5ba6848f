"""The pytest plugin's `mqtt_broker` and `iot_bridge` fixtures, as a project's tests use them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iotsql.bridge import Bridge
from iotsql.engine import RulesEngine


@pytest.mark.iot_rules("data/rules.json")
def test_iot_bridge_runs_the_marked_rules_on_the_broker(
    mqtt_broker: Any, iot_rules: RulesEngine, iot_bridge: Bridge
) -> None:
    alerts = mqtt_broker.collect("fixture/alerts/#")
    mqtt_broker.publish("fixture/sensors/a", json.dumps({"device": "d1", "temp": 35}))
    mqtt_broker.publish("fixture/sensors/a", json.dumps({"device": "d2", "temp": 5}))
    (message,) = alerts.wait(1)
    assert message.topic == "fixture/alerts/d1"
    assert iot_bridge.wait_idle()
    assert iot_rules.recorder["sqs"].bodies == [{"device": "d1", "temp": 35}]
    assert mqtt_broker.url.startswith("mqtt://127.0.0.1:") and iot_bridge.connected


def test_the_example_of_testing_md_passes_in_the_walkthrough_project(
    mqtt_broker: Any, tmp_path: Any
) -> None:
    """docs/testing.md's live-broker example, run by pytest in the walkthrough's project."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "testing.md").read_text()
    files = dict(re.findall(r'```\w+ title="([^"]+)"\n(.*?)```', page, re.S))
    for name in ("cloudformation/template.yaml", "pytest.ini", "tests/test_live_broker.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(files[name])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_live_broker.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
