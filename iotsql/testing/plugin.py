"""The pytest plugin (registered as `iotsql` through the `pytest11` entry point; it adds an ini
option, a marker and four fixtures, and does nothing else unless a test uses them).

Configuration (pyproject.toml `[tool.pytest.ini_options]`, pytest.ini...):

    iotsql_rules = "infra/template.yaml"          # one or more paths, relative to the ini file
    iotsql_parameters = ["Stage=test", "Threshold=30"]

or on the command line, which overrides the ini file for one run (paths relative to the
current folder; both options repeatable):

    pytest --iotsql-rules infra/other.yaml --iotsql-parameter Stage=prod

A test, class or module can name other files, and other parameters:

    @pytest.mark.iot_rules("../terraform/main.tf", parameters={"threshold": 40})

(relative to the test file's folder, else to the rootdir). Fixtures:

- `iot_rules`: a fresh `RulesEngine` per test with those rules created;
- `iot`: a `RuleTester` over that engine: `iot.publish(topic, payload, clientid=...)`,
  `iot.assert_fired("HighTemp", body=...)`, `iot.assert_not_fired(...)`,
  `iot.assert_no_rule_fired()`, `iot.received("HighTemp", "sqs")`, `iot.query(jmespath)`;
- `mqtt_broker` (session): a real MQTT broker on a free 127.0.0.1 port, `MqttBroker`
  (iotsql/testing/broker.py): Mosquitto when installed, else amqtt (MQTT 3.1.1);
  `.url`, `.publish(topic, payload, user_properties=...)`, `.collect(filter).wait(n)`;
- `iot_bridge`: an `iotsql.bridge.Bridge` running the `iot_rules` engine on `mqtt_broker`;
- `iot_moto`: moto's `mock_aws` (Lambda without Docker) with iotsql as its rules engine
  (iotsql.moto): the rules are those the test creates in moto (boto3, a CloudFormation stack);
  yields a `MotoRuleTester` (`.engine`, `.publish(topic, payload)` through moto's iot-data, and
  the `iot` assertions). `@pytest.mark.iot_moto(region=..., account_id=..., config={...})`
  changes the region and account of `.engine` and `.publish`, and adds to mock_aws's config.

Files are read once per session (per set of paths and parameters).
"""

from __future__ import annotations

import json
import os
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from iotsql.bridge import Bridge
    from iotsql.engine import RulesEngine
    from iotsql.loaders import LoadedRule
    from iotsql.testing.assertions import RuleTester
    from iotsql.testing.broker import MqttBroker
    from iotsql.testing.moto import MotoRuleTester

#: The name of the pytest11 entry point that registers this module.
ENTRY_POINT = "iotsql"
MARKER = "iot_rules"
MOTO_MARKER = "iot_moto"

#: How a missing parameter value is asked for, in the plugin's terms.
PARAMETER_HINT = (
    "set {name}=VALUE in iotsql_parameters, give --iotsql-parameter {name}=VALUE, or "
    "@pytest.mark.iot_rules(parameters={{{name!r}: ...}})"
)

_CACHE = pytest.StashKey[dict[Any, Any]]()
_SOURCES: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Loaded by module name (`-p iotsql.testing.plugin`, `pytest_plugins`) before the entry
    point, this module blocks the entry point, which would register it a second time under
    another name (an error in pytest)."""
    name = pluginmanager.get_name(sys.modules[__name__])
    if (
        name not in (None, ENTRY_POINT)
        and pluginmanager.get_plugin(ENTRY_POINT) is None
        and not pluginmanager.is_blocked(ENTRY_POINT)
    ):
        pluginmanager.set_blocked(ENTRY_POINT)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "iotsql_rules",
        "iotsql: the files holding the topic rules the iot and iot_rules fixtures load "
        "(CloudFormation/SAM templates, serverless.yml, Terraform files, AWS CLI JSON)",
        type="paths",
        default=[],
    )
    parser.addini(
        "iotsql_parameters",
        "iotsql: KEY=VALUE lines, the values of template parameters, Terraform variables and "
        "Serverless options used when loading iotsql_rules",
        type="linelist",
        default=[],
    )
    group = parser.getgroup("iotsql", "iotsql topic rules")
    group.addoption(
        "--iotsql-rules", action="append", metavar="PATH", dest="iotsql_rule_paths",
        help="a file (or folder) of topic rules for the iot and iot_rules fixtures, instead of "
        "the iotsql_rules ini setting; repeat it for several (relative to the current folder)",
    )  # fmt: skip
    group.addoption(
        "--iotsql-parameter", action="append", metavar="KEY=VALUE",
        dest="iotsql_parameter_options",
        help="a template parameter, Terraform variable or Serverless option for loading the "
        "rules, on top of the iotsql_parameters ini setting; repeatable",
    )  # fmt: skip


def rule_paths(config: pytest.Config) -> list[Path]:
    """The rule files of the run: `--iotsql-rules` (relative to the folder pytest was started
    in) when given, else the `iotsql_rules` ini setting (relative to the ini file)."""
    given = config.getoption("iotsql_rule_paths", None)
    if given:
        start = Path(config.invocation_params.dir)
        return [start / path for path in given]
    return list(config.getini("iotsql_rules"))


def rule_parameters(config: pytest.Config) -> dict[str, Any]:
    """The `iotsql_parameters` ini setting, with `--iotsql-parameter` values on top."""
    parameters = _parameters(config.getini("iotsql_parameters"), "iotsql_parameters")
    given = config.getoption("iotsql_parameter_options", None) or []
    parameters.update(_parameters(given, "--iotsql-parameter"))
    return parameters


def pytest_configure(config: pytest.Config) -> None:
    for path in config.getoption("iotsql_rule_paths", None) or []:
        if not (Path(config.invocation_params.dir) / path).exists():
            raise pytest.UsageError(f"--iotsql-rules: no such file or folder: {path}")
    rule_parameters(config)  # a malformed KEY=VALUE is a usage error now, not in every test
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*paths, parameters=None, format=None): the topic rule files the iot and "
        "iot_rules fixtures load for this test (relative paths: from the test file's folder, "
        "else from the rootdir), and the parameters to load them with",
    )
    config.addinivalue_line(
        "markers",
        f"{MOTO_MARKER}(region=None, account_id=None, config=None): the region and account of "
        "the iot_moto fixture's engine and publishes, and mock_aws configuration to add",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    paths = rule_paths(config)
    if not paths:
        return None
    origin = " (--iotsql-rules)" if config.getoption("iotsql_rule_paths", None) else ""
    return f"iotsql rules: {', '.join(str(p) for p in paths)}{origin}"


@pytest.fixture
def iot_rules(request: pytest.FixtureRequest) -> RulesEngine:
    """A RulesEngine with the rules of the `iot_rules` marker's files, else of the
    `--iotsql-rules` command-line option, else of the `iotsql_rules` ini option (none when
    none is set)."""
    from iotsql.errors import IotSqlError
    from iotsql.testing.assertions import RuleTester

    tester = RuleTester()
    try:
        tester.add_rules(_rules(request))
    except IotSqlError as err:
        pytest.fail(f"iotsql: cannot create the rules: {err}", pytrace=False)
    _SOURCES[tester.engine] = tester.sources
    return tester.engine


@pytest.fixture
def iot(iot_rules: RulesEngine) -> RuleTester:
    """A RuleTester over the `iot_rules` engine: publish messages, assert which rules fired
    and what their actions received."""
    from iotsql.testing.assertions import RuleTester

    return RuleTester(iot_rules, sources=_SOURCES.get(iot_rules))


@pytest.fixture(scope="session")
def mqtt_broker() -> Iterator[MqttBroker]:
    """A broker process for the whole session: Mosquitto when installed (MQTT 5, shared
    subscriptions, a websocket listener), else amqtt (MQTT 3.1.1); stopped by pid at the end."""
    import os

    from iotsql.testing.broker import MOSQUITTO_INSTALL, BrokerError, MqttBroker

    try:
        broker = MqttBroker().start()
    except BrokerError as err:
        message = f"iotsql: no MQTT broker: {err} ({MOSQUITTO_INSTALL}, or pip install amqtt)"
        if os.environ.get("IOTSQL_CI") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def iot_bridge(iot_rules: RulesEngine, mqtt_broker: MqttBroker) -> Iterator[Bridge]:
    """A Bridge running the `iot_rules` engine on `mqtt_broker` (MQTT 5, or 3.1.1 on amqtt):
    publish with `mqtt_broker.publish(...)`, then `iot_bridge.wait_idle()` and assert on
    `iot_rules.recorder` or on what `mqtt_broker.collect(...)` received."""
    from iotsql.bridge import Bridge

    bridge = Bridge(iot_rules, mqtt_broker.url, mqtt_version="5" if mqtt_broker.mqtt5 else "3.1.1")
    bridge.start()
    try:
        yield bridge
    finally:
        bridge.stop()


@pytest.fixture
def iot_moto(request: pytest.FixtureRequest) -> Iterator[MotoRuleTester]:
    """moto's mock_aws, with Lambda run without Docker, and iotsql installed as its rules
    engine for the test: yields a MotoRuleTester over moto's engine."""
    try:
        from moto import mock_aws
    except ImportError:
        pytest.fail("iotsql: the iot_moto fixture needs moto: pip install 'iotsql[moto]'",
                    pytrace=False)  # fmt: skip
    from iotsql import moto as host
    from iotsql.message import DEFAULT_ACCOUNT_ID
    from iotsql.testing.moto import MotoRuleTester

    marker = request.node.get_closest_marker(MOTO_MARKER)
    options = dict(marker.kwargs) if marker is not None else {}
    config: dict[str, Any] = {"lambda": {"use_docker": False}}
    config.update(options.pop("config", None) or {})
    region = options.pop("region", None) or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    account_id = options.pop("account_id", None) or DEFAULT_ACCOUNT_ID
    if options:
        raise pytest.UsageError(f"{MOTO_MARKER}: unknown options {', '.join(sorted(options))} "
                                "(it takes region, account_id and config)")  # fmt: skip
    with mock_aws(config=config):  # type: ignore[call-overload]
        try:
            installation = host.install()
        except (host.UnsupportedMotoError, ImportError) as err:
            pytest.fail(f"iotsql: {err}", pytrace=False)
        with installation:
            yield MotoRuleTester(account_id, region)


def _rules(request: pytest.FixtureRequest) -> list[LoadedRule]:
    config = request.config
    parameters = rule_parameters(config)
    paths = rule_paths(config)
    fmt = None
    # The names given for these files, each checked against what the files declare: the ini
    # setting's only for the ini's files, --iotsql-parameter's for the run's files (a marker or
    # --iotsql-rules naming other files keeps the values, as docs/testing.md shows, without
    # their being those files' parameters); a marker's always.
    given: dict[str, list[str]] = {
        "--iotsql-parameter": list(_parameters(
            config.getoption("iotsql_parameter_options", None) or [], "--iotsql-parameter")),
    }  # fmt: skip
    if not config.getoption("iotsql_rule_paths", None):
        given["iotsql_parameters"] = list(
            _parameters(config.getini("iotsql_parameters"), "iotsql_parameters")
        )
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if marker.args:
            paths = [_locate(str(p), request) for p in marker.args]
            given = {}
        given[f"@pytest.mark.{MARKER}(parameters=...)"] = list(
            marker.kwargs.get("parameters") or {}
        )
        parameters.update(marker.kwargs.get("parameters") or {})
        fmt = marker.kwargs.get("format")
    cache = config.stash.setdefault(_CACHE, {})
    key = (tuple(str(p) for p in paths), json.dumps(parameters, sort_keys=True, default=str), fmt,
           json.dumps(given))  # fmt: skip
    if key not in cache:
        from iotsql.errors import IotSqlError
        from iotsql.loaders import load_rules
        from iotsql.loaders.parameters import declaring_parameters, parameter_hint

        try:
            with parameter_hint(PARAMETER_HINT), declaring_parameters() as declared:
                cache[key] = [
                    rule for path in paths for rule in load_rules(path, fmt, parameters=parameters)
                ]
            for how, names in given.items():
                unknown = declared.unknown(names)
                if unknown and paths:
                    raise ValueError(declared.refusal(unknown, how))
        except (IotSqlError, ValueError) as err:
            cache[key] = err
    loaded = cache[key]
    if isinstance(loaded, Exception):
        pytest.fail(f"iotsql: cannot load the rules: {loaded}", pytrace=False)
    return list(loaded)


def _parameters(lines: list[str], where: str) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise pytest.UsageError(f"{where}: expected KEY=VALUE, not {line!r}")
        parameters[key.strip()] = value.strip()
    return parameters


def _locate(path: str, request: pytest.FixtureRequest) -> Path:
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate
    beside = Path(request.path).parent / candidate
    if beside.exists():
        return beside
    from_root = Path(request.config.rootpath) / candidate
    return from_root if from_root.exists() else beside
