"""`python benchmarks/hostile.py [--repeat N] [--case NAME ...] [--list] [--json]`: the worst
time and peak memory of one publish (one load, one command) under each hostile input of issue
#12, with the default limits.

Each case runs in a fresh interpreter (a subprocess per case and per round), so one case's
memory cannot hide another's: the case builds what it needs (an engine and its rules, a file,
a 100 MB body...), untimed, then runs the one hostile step and reports

- *wall*: its wall-clock time, *cpu*: the CPU time of the process (all its threads);
- *rss*: how far the step raised the process's peak resident memory (`ru_maxrss` after the
  step less `ru_maxrss` before it, the setup included in the latter): every allocation,
  libyaml's and orjson's too;
- *traced*: in a second interpreter, the peak of the memory Python allocated during the step
  (`tracemalloc`), which is not slowed down by tracing in the first.

The worst of `--repeat` rounds (default 3) of each figure is printed, with what the step ended
in (the limit named, the action failures, the dead letters...). `--json` prints the rounds.
Results and their date: benchmarks/README.md, section "hostile inputs".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import iotsql
from iotsql.actions.base import ActionRequest
from iotsql.actions.http import HttpSink
from iotsql.errors import IotSqlError

ROLE = "arn:aws:iam::123456789012:role/hostile"
SQS = {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "roleArn": ROLE}}
S3_ERROR = {"s3": {"bucketName": "errors", "key": "k", "roleArn": ROLE}}
CATASTROPHIC = "(a|aa)+b"  # exponential backtracking on a run of a's without a b

Step = Callable[[], str]
#: name -> (what the input is, a setup taking a scratch folder and returning the step)
CASES: dict[str, tuple[str, Callable[[Path], Step]]] = {}


def case(name: str, what: str) -> Callable[[Callable[[Path], Step]], Callable[[Path], Step]]:
    def register(setup: Callable[[Path], Step]) -> Callable[[Path], Step]:
        CASES[name] = (what, setup)
        return setup

    return register


# ---- what a step ended in -----------------------------------------------------------------------


def _all(report: iotsql.PublishReport) -> list[iotsql.PublishReport]:
    reports, pending = [], [report]
    while pending:
        current = pending.pop()
        reports.append(current)
        pending.extend(current.republished)
    return reports


def _published(engine: iotsql.RulesEngine, report: iotsql.PublishReport) -> str:
    reports = _all(report)
    actions = [a for r in reports for rule in r.rules for a in rule.actions]
    failed = [a for a in actions if not a.ok]
    errors = [rule.error for r in reports for rule in r.rules if rule.error]
    text = f"{len(reports)} messages, {len(actions) - len(failed)} actions ok, {len(failed)} failed"
    if errors:
        text += f"; rule error: {errors[0][:70]}"
    elif failed:
        text += f": {(failed[-1].error or '')[:70]}"
    return text + f"; {len(engine.dead_letters)} dead letters"


def _refused(step: Callable[[], Any]) -> str:
    try:
        step()
    except IotSqlError as err:
        return f"{type(err).__name__}: {str(err)[:110]}"
    return "accepted"


def _engine(rules: dict[str, dict[str, Any]], **sinks: Any) -> iotsql.RulesEngine:
    engine = iotsql.RulesEngine()
    for action_type, sink in sinks.items():
        engine.register_sink(action_type, sink)
    for name, payload in rules.items():
        engine.create_topic_rule(name, payload)
    return engine


def _rule(sql: str, actions: list[Any] | None = None, error: Any = S3_ERROR) -> dict[str, Any]:
    payload = {"sql": sql, "awsIotSqlVersion": "2016-03-23", "actions": actions or [SQS]}
    if error is not None:
        payload["errorAction"] = error
    return payload


def _publish_step(engine: iotsql.RulesEngine, topic: str, body: bytes) -> Step:
    return lambda: _published(engine, engine.publish(topic, body))


# ---- the rules engine -----------------------------------------------------------------------------


@case("republish fan-out", "two rules republishing to each other 10 times each (10^8 messages)")
def _fan_out(tmp: Path) -> Step:
    def republish(topic: str) -> dict[str, Any]:
        return {"republish": {"topic": topic, "roleArn": ROLE}}

    engine = _engine({"Ping": _rule("SELECT * FROM 'ping'", [republish("pong")] * 10, None),
                      "Pong": _rule("SELECT * FROM 'pong'", [republish("ping")] * 10, None)})  # fmt: skip
    return _publish_step(engine, "ping", b'{"n": 1}')


@case("30 regexes", "30 catastrophic regexp_matches in one SELECT (30 s without the budget)")
def _regexes(tmp: Path) -> Step:
    items = ", ".join(f"regexp_matches(s, '{CATASTROPHIC}') AS r{i}" for i in range(30))
    engine = _engine({"R": _rule(f"SELECT {items} FROM 'a'")})
    return _publish_step(engine, "a", json.dumps({"s": "a" * 40}).encode())


@case("nested query", "a nested query with a catastrophic regex over 200 elements")
def _nested(tmp: Path) -> Step:
    sql = f"SELECT (SELECT VALUE regexp_matches(e, '{CATASTROPHIC}') FROM arr AS e) AS r FROM 'a'"
    engine = _engine({"R": _rule(sql)})
    return _publish_step(engine, "a", json.dumps({"arr": ["a" * 40] * 200}).encode())


@case("6000 x 100 KB", "SELECT [s, s, ... x6000] of a 100 KB string (600 MB of JSON)")
def _output(tmp: Path) -> Step:
    many = ", ".join(["s"] * 6_000)
    engine = _engine({"R": _rule(f"SELECT [{many}] AS r FROM 'a'")})
    return _publish_step(engine, "a", json.dumps({"s": "x" * 100_000}).encode())


@case("100 MB publish", "engine.publish of a 100 MB body")
def _big_publish(tmp: Path) -> Step:
    engine = _engine({"R": _rule("SELECT * FROM 'a'")})
    body = b'{"s": "' + b"x" * 100_000_000 + b'"}'
    return lambda: _refused(lambda: engine.publish("a", body))


@case("100 MB evaluate", "rule.evaluate of a 100 MB body")
def _big_evaluate(tmp: Path) -> Step:
    rule = iotsql.compile("SELECT * FROM 'a'")
    body = b'{"s": "' + b"x" * 100_000_000 + b'"}'
    return lambda: _refused(lambda: rule.evaluate(body))


@case("async sink", "an `async def` sink (publish runs it to completion on a loop)")
def _async_sink(tmp: Path) -> Step:
    async def sink(request: ActionRequest) -> str:
        await asyncio.sleep(0.001)
        return "sent"

    engine = _engine({"R": _rule("SELECT * FROM 'a'")}, sqs=sink)
    return _publish_step(engine, "a", b'{"n": 1}')


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message for you")


def _raising(raised: BaseException, instant: bool) -> Callable[[Path], Step]:
    def setup(tmp: Path) -> Step:
        def sink(request: ActionRequest) -> None:
            raise raised

        sink.instant = instant  # type: ignore[attr-defined]
        engine = _engine({"R": _rule("SELECT * FROM 'a'")}, sqs=sink)

        def step() -> str:
            try:
                return _publish_step(engine, "a", b'{"n": 1}')()
            except KeyboardInterrupt:
                return "KeyboardInterrupt re-raised; " + _published_letters(engine)

        return step

    return setup


def _published_letters(engine: iotsql.RulesEngine) -> str:
    return f"{len(engine.dead_letters)} dead letters"


for _name, _raised, _instant in [
    ("sink: unprintable", Unprintable(), False),
    ("sink: SystemExit", SystemExit(3), False),
    ("sink: GeneratorExit", GeneratorExit(), True),
    ("sink: KeyboardInterrupt", KeyboardInterrupt(), True),
]:
    case(_name, f"a sink raising {type(_raised).__name__}"
         f" ({'inline' if _instant else 'in a worker thread'})")(_raising(_raised, _instant))  # fmt: skip


@case("lone surrogate", "compile(\"... FROM '\\udc80'\") and publish('\\ud800', b'{}')")
def _surrogates(tmp: Path) -> Step:
    engine = iotsql.RulesEngine()

    def step() -> str:
        first = _refused(lambda: iotsql.compile("SELECT a FROM '\udc80'"))
        second = _refused(lambda: engine.publish("\ud800", b"{}"))
        return f"{first.split(':')[0]}; {second.split(':')[0]}"

    return step


@case(
    "HTTP URL",
    "${target} = http://127.0.0.1:12000/x under confirmationUrl "
    "http://127.0.0.1:1; HttpSink().send('http://[::1')",
)
def _http(tmp: Path) -> Step:
    action = {"http": {"url": "${target}", "confirmationUrl": "http://127.0.0.1:1"}}
    engine = _engine({"R": _rule("SELECT * FROM 'a'", [action])}, http=HttpSink())
    body = b'{"target": "http://127.0.0.1:12000/x"}'

    def step() -> str:
        published = _published(engine, engine.publish("a", body))
        try:
            HttpSink().send("http://[::1", body=b"{}")
        except Exception as err:
            return f"{published}; send: {type(err).__name__}"
        return f"{published}; send: accepted"

    return step


# ---- the loaders ------------------------------------------------------------------------------------

CFN_RULE = """
  Rule:
    Type: AWS::IoT::TopicRule
    Properties:
      TopicRulePayload:
        Sql: {sql}
        AwsIotSqlVersion: '2016-03-23'
        Actions: []
"""
SERVERLESS = """service: s
custom:
  a: ${self:custom.b}
  b: ${self:custom.a}
functions:
  f:
    handler: h
    events:
      - iot:
          sql: "SELECT * FROM '${self:custom.a}'"
"""
TF_RULE = """
resource "aws_iot_topic_rule" "r" {{
  {meta}
  name        = "r_${{{index}}}"
  enabled     = true
  sql         = "SELECT * FROM 'a'"
  sql_version = "2016-03-23"
}}
"""


def _bomb(levels: int, width: int = 10) -> str:
    text = "x: &a0 [" + ", ".join(["lol"] * width) + "]\n"
    for level in range(1, levels + 1):
        text += f"x{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]\n"
    return text


def _fifty_mb() -> str:
    topic = "  T{n}:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: topic-name-{n}\n"
    return "Resources:\n" + "".join(topic.format(n=n) for n in range(650_000))


LOADER_FILES: dict[str, tuple[str, str, Callable[[], str]]] = {
    "serverless cycle": ("serverless.yml", "${self:custom.a} <-> ${self:custom.b}",
                         lambda: SERVERLESS),
    "Fn::Cidr count": ("cidr.yaml", "Fn::Cidr with a count of 100,000,000", lambda: "Resources:" +
                       CFN_RULE.format(sql="!Select [0, !Cidr ['10.0.0.0/8', 100000000, 8]]")),
    "Terraform count": ("count.tf", "count = 100000000",
                        lambda: TF_RULE.format(meta="count = 100000000", index="count.index")),
    "billion laughs": ("laughs.yaml", "YAML aliases expanding to 10^9 strings, used by Fn::Join",
                       lambda: _bomb(8) + "Resources:" +
                       CFN_RULE.format(sql="!Join ['', ['SELECT * FROM a', !Join ['', *a8]]]")),
    "50 MB template": ("big.yaml", "a 52 MB CloudFormation template", _fifty_mb),
    "recursive alias": ("alias.yaml", "&a [x, *a]",
                        lambda: "Resources:" + CFN_RULE.format(sql="&a [x, *a]")),
    "250 Fn::Join": ("join.yaml", "Fn::Join nested 250 deep", lambda: "Resources:" +
                     CFN_RULE.format(sql="{'Fn::Join': ['', [" * 250 + "'x'" + "]]}" * 250)),
    "YAML 10,000 deep": ("deep.yaml", "a YAML flow sequence nested 10,000 deep",
                         lambda: "Resources:\n  X: " + "[" * 10_000 + "]" * 10_000 + "\n"),
    "JSON 100,000 deep": ("deep.json", "a JSON template nested 100,000 deep",
                          lambda: '{"Resources": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    "Terraform locals cycle": ("cycle.tf", "locals a = [local.b], b = [local.a]",
                               lambda: "locals {\n  a = [local.b]\n  b = [local.a]\n}\n" +
                               TF_RULE.format(meta="", index="local.a[0]")),
    "YAML list": ("rules.yaml", "load_rules on a YAML list of strings", lambda: "- a\n- b\n"),
}  # fmt: skip


def _loader(file_name: str, text: Callable[[], str]) -> Callable[[Path], Step]:
    def setup(tmp: Path) -> Step:
        path = tmp / file_name
        path.write_text(text(), encoding="utf-8")
        return lambda: _refused(lambda: iotsql.load_rules(path))

    return setup


for _name, (_file, _what, _text) in LOADER_FILES.items():
    case(f"load: {_name}", _what)(_loader(_file, _text))


# ---- the command line ---------------------------------------------------------------------------


def _cli(tmp: Path, *args: str) -> Step:
    from iotsql.cli import main

    rules = tmp / "rules.json"
    rules.write_text(json.dumps({"R": _rule("SELECT * FROM 'a/#'", error=None)}), "utf-8")
    argv = [arg.replace("RULES", str(rules)) for arg in args]

    def step() -> str:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        lines = err.getvalue().strip().splitlines() or [""]
        said = [lines[0], *(line for line in lines if " replayed in " in line)]  # replay's sum
        return f"exit {code}: " + "; ".join(said)

    return step


def _replay_lines(tmp: Path, lines: list[str]) -> Step:
    messages = tmp / "messages.jsonl"
    messages.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return _cli(tmp, "replay", "RULES", str(messages))


case("eval --payload @/dev/zero", "iotsql eval ... --payload @/dev/zero")(
    lambda tmp: _cli(tmp, "eval", "SELECT * FROM 'a'", "--payload", "@/dev/zero")
)
case("replay /dev/zero", "iotsql replay rules.json /dev/zero")(
    lambda tmp: _cli(tmp, "replay", "RULES", "/dev/zero")
)
case("replay: 2 MB line", "a JSON-lines line of 2 MB between two good ones")(
    lambda tmp: _replay_lines(tmp, ['{"topic": "a/1", "payload": {}}',
                                    '{"topic": "a/2", "payloadText": "' + "x" * 2_000_000 + '"}',
                                    '{"topic": "a/3", "payload": {}}']))  # fmt: skip
case("replay: 100,000 deep", "a JSON-lines line nested 100,000 deep between two good ones")(
    lambda tmp: _replay_lines(tmp, ['{"topic": "a/1", "payload": {}}',
                                    '{"topic": "a/2", "payload": ' + "[" * 100_000 +
                                    "]" * 100_000 + "}",
                                    '{"topic": "a/3", "payload": {}}']))  # fmt: skip


# ---- measuring ---------------------------------------------------------------------------------------


def _maxrss_bytes() -> int:
    # Linux reports kilobytes, macOS bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _warm_up(folder: Path) -> None:
    """What any first call pays once per process, so that it is not counted as the cost of
    the hostile input: the SQL parser built, the loaders and the command line imported."""
    import iotsql.cli.eval
    import iotsql.cli.replay
    import iotsql.loaders.cloudformation
    import iotsql.loaders.serverless
    import iotsql.loaders.terraform

    iotsql.compile("SELECT a FROM 'warm/up'").evaluate(b'{"a": 1}')
    for name, text in (("w.yaml", "Resources: {}\n"), ("w.json", '{"Resources": {}}'),
                       ("w.tf", 'variable "v" {\n  default = 1\n}\n')):  # fmt: skip
        (folder / name).write_text(text, encoding="utf-8")
        iotsql.load_rules(folder / name)
        (folder / name).unlink()


def run_case(name: str, traced: bool) -> dict[str, Any]:
    """Set the case up and run its step once, in this process (the child's side)."""
    with tempfile.TemporaryDirectory(prefix="iotsql-hostile-") as folder:
        _warm_up(Path(folder))
        step = CASES[name][1](Path(folder))
        gc.collect()
        if traced:
            tracemalloc.start()
            outcome = step()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            return {"traced": peak, "outcome": outcome.replace(folder + os.sep, "")}
        rss = _maxrss_bytes()
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = step()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return {"wall": wall, "cpu": cpu, "rss": max(0, _maxrss_bytes() - rss),
                "outcome": outcome.replace(folder + os.sep, "")}  # fmt: skip


def _child(name: str, traced: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", name, *(["--traced"] if traced else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name}: the child failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per case (worst kept)")
    parser.add_argument("--case", action="append", default=[], help="run only this case")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--json", action="store_true", help="print every round as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_case(args.child, args.traced)), flush=True)
        return 0
    if args.list:
        for name, (what, _) in CASES.items():
            print(f"{name}\t{what}")
        return 0
    names = args.case or list(CASES)
    unknown = [name for name in names if name not in CASES]
    if unknown:
        parser.error(f"no case {unknown[0]!r} (--list shows them)")
    rounds: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        rounds[name] = []
        for _ in range(args.repeat):
            timed = _child(name, traced=False)
            timed["traced"] = _child(name, traced=True)["traced"]
            rounds[name].append(timed)
            print(f"  {name}: {timed['wall']:.3f} s", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"load": os.getloadavg(), "cpus": os.cpu_count(), "rounds": rounds},
                         indent=2))  # fmt: skip
        return 0
    print(
        f"worst of {args.repeat} rounds, one fresh interpreter each; load average "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; Python {sys.version.split()[0]}"
    )
    print()
    print("| hostile input | worst wall | worst CPU | peak RSS added | peak traced | ended in |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, runs in rounds.items():
        outcome = runs[-1]["outcome"].replace("|", "\\|")
        print(
            f"| {name} | {max(r['wall'] for r in runs):.3f} s | "
            f"{max(r['cpu'] for r in runs):.3f} s | {_mb(max(r['rss'] for r in runs))} | "
            f"{_mb(max(r['traced'] for r in runs))} | {outcome} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
