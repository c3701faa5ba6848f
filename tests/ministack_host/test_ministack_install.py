"""`iotsql.ministack.install()` and the version check: in ministack's own virtualenv (in-process
use), and in this environment, where ministack is not installed."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from ministack_env import clean_env, free_port, wait_ready

import iotsql.ministack as host
from iotsql.cli import main

IN_PROCESS = textwrap.dedent(
    """
    import asyncio, json, logging
    import ministack.services.iot as iot
    import ministack.services.iot_data as iot_data
    import iotsql.ministack as host

    errors = []
    logging.getLogger("iotsql.ministack").addHandler(
        type("Keep", (logging.Handler,), {"emit": lambda self, r: errors.append(r.getMessage())})())
    names = ("put_topic_rule", "broker_publish", "_evaluate_topic_rules", "_run_rule_actions",
             "reset")
    before = {name: getattr(iot, name) for name in names}
    kafka = []
    installed = host.install(sinks={"kafka": kafka.append})
    assert host.install() is installed, "install() twice returns the same host"
    assert host.installed() is installed
    http_publish = iot_data._publish
    replaced = [name for name in names if getattr(iot, name) is not before[name]]
    assert http_publish.__wrapped__ is not None

    role = "arn:aws:iam::000000000000:role/r"
    # In process: rules put through ministack's own function, publishes through its broker.
    iot.put_topic_rule("InProcess", {"sql": "SELECT upper(s) AS s FROM 'in/process'",
                                      "actions": [{"republish": {"topic": "out/process",
                                                                 "roleArn": role, "qos": 1}}]})
    iot.put_topic_rule("Binary", {"sql": "SELECT * FROM 'in/binary'",
                                  "actions": [{"republish": {"topic": "out/binary",
                                                             "roleArn": role}}]})
    iot.put_topic_rule("Streams", {"sql": "SELECT * FROM 'to/streams'", "actions": [
        {"kafka": {"destinationArn": "arn:aws:iot:us-east-1:000000000000:ruledestination/vpc/x",
                   "topic": "t", "clientProperties": {"bootstrap.servers": "b:9092"}}},
        {"openSearch": {"roleArn": role, "endpoint": "https://search.example.com",
                        "index": "i", "type": "t", "id": "${newuuid()}"}}]})
    # A rule saved by a ministack without iotsql: stored, refused by iotsql, never run.
    iot._topic_rules["Legacy"] = {"ruleName": "Legacy", "sql": "SELECT FROM 'in/process'",
                                  "actions": [], "ruleDisabled": False}
    received = []

    async def scenario():
        async def deliver(topic, payload, qos):
            received.append((topic, payload.decode("utf-8", "backslashreplace"), qos))
        await iot.broker_subscribe("000000000000", "us-east-1", "out/#", deliver, granted_qos=1)
        await iot.broker_subscribe("000000000000", "us-east-1", "$aws/rules/#", deliver)
        await iot.broker_publish("000000000000", "us-east-1", "in/process", b'{"s": "ok"}',
                                 client_id="c1")
        # Basic Ingest: the named rule runs, no subscriber gets the message.
        await iot.broker_publish("000000000000", "us-east-1", "$aws/rules/InProcess/x",
                                 b'{"s": "ingest"}', client_id="c1")
        await iot.broker_publish("000000000000", "us-east-1", "to/streams", b'{"v": 1}')
        await iot.broker_publish("000000000000", "us-east-1", "in/binary", b"\\x00\\xff")

    asyncio.run(scenario())
    engine = installed.engine("000000000000", "us-east-1")
    result = {
        "replaced": replaced, "rules": sorted(engine.rules), "received": received,
        "kafka": [r.payload.decode() for r in kafka],
        "dead_letters": [[d.rule_name, [f.action_type for f in d.failures]]
                         for d in installed.dead_letters.letters],
        "legacy_logged": any("Legacy" in e and "iotsql refuses it" in e for e in errors),
        "evaluator_calls": installed.ministack_evaluator_calls,
    }

    # ministack's own role check (AUTH=true only) still applies.
    import ministack.app
    ministack.app.AUTH = True
    try:
        iot.put_topic_rule("Roles", {"sql": "SELECT * FROM 'r'", "actions": [
            {"republish": {"topic": "x", "roleArn": "arn:aws:iam::000000000000:role/none"}}]})
    except iot.RuleRoleError as err:
        result["role_refused"] = str(err)
    ministack.app.AUTH = False

    iot.reset()  # what /_ministack/reset calls
    result["engines_after_reset"] = len(installed.engines)
    host.uninstall()
    result["restored"] = [name for name in names if getattr(iot, name) is before[name]]
    assert iot_data._publish is http_publish.__wrapped__
    print(json.dumps(result))
    """
)


def test_install_replaces_ministacks_engine_in_process_and_uninstall_restores_it(
    ministack_venv_python: Path,
) -> None:
    done = subprocess.run([str(ministack_venv_python), "-c", IN_PROCESS], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    names = ["put_topic_rule", "broker_publish", "_evaluate_topic_rules", "_run_rule_actions",
             "reset"]  # fmt: skip
    assert result["replaced"] == names
    assert result["restored"] == names
    assert result["rules"] == ["Binary", "InProcess", "Streams"]
    # iotsql's exact bytes (ministack's own republish re-serialised them), the action's QoS.
    assert result["received"] == [
        ["out/process", '{"s":"OK"}', 1],
        ["out/process", '{"s":"INGEST"}', 1],
        ["out/binary", "\x00\\xff", 0],
    ]
    assert result["kafka"] == ['{"v":1}']
    assert result["dead_letters"] == [["Streams", ["openSearch"]]]
    assert result["legacy_logged"] is True
    assert result["role_refused"] == "Unable to assume role: arn:aws:iam::000000000000:role/none"
    assert result["engines_after_reset"] == 0
    assert result["evaluator_calls"] == 0


def test_the_command_hands_arguments_after_the_separator_to_ministack(
    ministack_venv_python: Path,
) -> None:
    done = subprocess.run([str(ministack_venv_python), "-m", "iotsql", "ministack", "--", "--help"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MiniStack" in done.stdout and "--detach" in done.stdout


def test_detach_starts_it_in_the_background_and_stop_stops_it(
    ministack_venv_python: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {**clean_env(), "TMPDIR": str(tmp_path), "IOT_MTLS_ENABLED": "0"}
    command = [str(ministack_venv_python), "-m", "iotsql", "ministack", "--port", str(port),
               "--host", "127.0.0.1"]  # fmt: skip
    started = subprocess.run([*command, "-d"], capture_output=True, text=True, timeout=120, env=env)
    assert started.returncode == 0, started.stderr
    assert f"Stop: iotsql ministack --stop --port {port}" in started.stdout
    try:
        wait_ready(f"http://127.0.0.1:{port}", 60)
        log = (tmp_path / f"ministack-{port}.log").read_text()
        assert "is the rules engine of ministack" in log
    finally:
        stopped = subprocess.run([*command, "--stop"], capture_output=True, text=True,
                                 timeout=120, env=env)  # fmt: skip
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "stopped" in stopped.stdout
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_ministack/health", timeout=1).close()
        except OSError:
            break
        assert time.monotonic() < deadline, "the detached server is still answering"
        time.sleep(0.2)


def test_every_internal_named_at_the_top_of_the_module_is_checked() -> None:
    doc = host.__doc__ or ""
    for names in host.INTERNALS.values():
        for name in names:
            if not name.startswith("PROP_"):
                assert f"`{name}`" in doc or f"    {name} " in doc or f".{name}" in doc, name


# ---- without ministack (this environment) ---------------------------------------------------------


def _ministack_installed() -> bool:
    try:
        importlib.metadata.version("ministack")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(_ministack_installed(), reason="ministack is installed in this environment")
def test_install_without_ministack_names_the_extra_and_the_range() -> None:
    with pytest.raises(host.MinistackVersionError) as raised:
        host.install()
    message = str(raised.value)
    assert "pip install 'iotsql[ministack]'" in message
    assert host.SUPPORTED_RANGE in message
    assert host.installed() is None


@pytest.mark.skipif(_ministack_installed(), reason="ministack is installed in this environment")
def test_the_command_without_ministack_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "4566")  # the command sets it; undone after the test
    assert main(["ministack", "--port", "4599"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("iotsql ministack: error: ministack is not installed")
    assert "Traceback" not in error


@pytest.mark.parametrize("version", ["1.5.30", "1.5.31", "1.5.33"])
def test_versions_in_the_supported_range_pass(version: str) -> None:
    assert host.check_version(version) == version


@pytest.mark.parametrize("version", ["1.5.29", "1.5.34", "1.6.0", "2.0", "1.4.21", "dev"])
def test_versions_outside_the_range_are_refused_naming_it(version: str) -> None:
    with pytest.raises(host.MinistackVersionError) as raised:
        host.check_version(version)
    message = str(raised.value)
    assert f"ministack {version} is not supported" in message
    assert ">=1.5.30,<=1.5.33" in message
    assert host.ANY_VERSION_ENV in message


def test_the_extra_pins_the_supported_range() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'ministack = ["ministack{host.SUPPORTED_RANGE}"' in pyproject


def test_the_command_passes_its_own_help() -> None:
    done = subprocess.run([sys.executable, "-m", "iotsql", "ministack", "--help"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0
    assert "--port" in done.stdout and "--detach" in done.stdout


def test_stop_with_nothing_running_on_the_port_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setenv("GATEWAY_PORT", "4566")  # the command sets it; undone after the test
    assert main(["ministack", "--stop", "--port", "4598"]) == 1
    error = capsys.readouterr().err
    assert error.strip() == (
        f"iotsql ministack: error: no ministack runs on port 4598 (no {tmp_path}/ministack-4598.pid)"
    )


def test_every_action_type_has_a_sink_and_those_ministack_cannot_receive_fail() -> None:
    from iotsql.actions.types import ACTION_TYPES
    from iotsql.errors import ActionError

    ministack_host = host.MinistackHost(None, None, sinks={"kafka": print})
    sinks = ministack_host._sinks("111111111111", "us-east-1")
    assert set(sinks) == set(ACTION_TYPES)
    assert sinks["kafka"] is print
    for action_type in ("elasticsearch", "openSearch", "influxDB"):
        with pytest.raises(ActionError, match=f"receives {action_type} actions"):
            sinks[action_type](None)
