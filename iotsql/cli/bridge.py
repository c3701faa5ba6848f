"""`iotsql bridge`: run topic rules on the live traffic of an MQTT broker (iotsql.bridge)."""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from iotsql.actions.base import ActionRequest
from iotsql.actions.types import ACTION_TYPES
from iotsql.cli.common import CliError, err, new_parser
from iotsql.cli.replay import load_rules
from iotsql.engine import RulesEngine
from iotsql.errors import IotSqlError

if TYPE_CHECKING:
    from iotsql.bridge import Bridge
    from iotsql.cli.common import Subparsers

EPILOG = """\
examples:
  iotsql bridge rules.json --broker mqtt://127.0.0.1:1883
  iotsql bridge template.yaml --broker mqtt://localhost --endpoint-url http://localhost:5000
  iotsql bridge infra/ --broker mqtts://broker:8883 --cafile ca.pem --cert c.pem --key c.key
  iotsql bridge rules.json --broker ws://localhost:8080/mqtt --share rules --client-id rules-1
  iotsql bridge new-rule.json --broker mqtt://staging --out requests.jsonl   # shadow test

RULES are files or folders of topic rules in any format `iotsql replay` reads (AWS CLI JSON,
CloudFormation/SAM, serverless.yml, Terraform). The bridge subscribes (QoS 1) to the rules'
FROM filters, merged so that no topic matches two, and to $aws/rules/<name>/# (Basic
Ingest); with --share GROUP every subscription is $share/GROUP/<filter> and the broker splits
the messages between the bridges of the group.

Actions: republish goes back to the broker, with its MQTT 5 headers and the hop marker
user property iotsql-hop (each republished message runs through the rules once, whatever the
number of bridges). AWS actions go to --endpoint-url (moto, LocalStack, ministack) or with
--aws to AWS; installed sink plugins (iotsql.sinks entry points) take their action types;
anything else is only recorded (--out, the counts). A message is acknowledged once its actions
are dispatched: a crash means it comes again (at-least-once). Failed actions go to the
rule's error action, and what that cannot take to --dead-letters (else to stderr).

A stats line every --stats-interval seconds and a summary on exit go to stderr:
  received: N, matched: N, fired: N, actions ok: N, actions failed: N, dead letters: N, X messages/s
SIGINT or SIGTERM: stop taking messages, finish and acknowledge those received, exit 0
(those not finished within --drain-timeout are counted; on a clean session that is exit 1).

exit status: 0 stopped by a signal; 1 the bridge failed while running, or messages of a clean
session were left unfinished; 2 bad arguments,
invalid rules, or the broker cannot be reached.
"""


def register(subparsers: Subparsers) -> None:
    parser = new_parser(
        subparsers, "bridge",
        help="run topic rules on the live traffic of an MQTT broker",
        description="Subscribe to an MQTT broker and run topic rules on every message, with the\n"
        "actions really performed (republish back to the broker, AWS actions to an endpoint).",
        epilog=EPILOG,
    )  # fmt: skip
    parser.add_argument("rules", metavar="RULES", nargs="+", help="topic rule files or folders")
    parser.add_argument(
        "--broker", "-b", metavar="URL", required=True,
        help="mqtt://HOST[:PORT], mqtts:// (TLS), ws://HOST[:PORT]/PATH or wss://",
    )  # fmt: skip
    conn = parser.add_argument_group("connection")
    conn.add_argument("--client-id", metavar="ID",
                      help="MQTT client id (default: a new one; with one, the session persists)")  # fmt: skip
    conn.add_argument("--username", "-u", metavar="NAME",
                      help="the user name the broker authenticates (with --password)")  # fmt: skip
    conn.add_argument("--password", "-P", metavar="TEXT",
                      help="the password (default: $IOTSQL_MQTT_PASSWORD)")  # fmt: skip
    conn.add_argument("--mqtt-version", choices=("5", "3.1.1"), default="5",
                      help="the MQTT protocol version (default: 5)")  # fmt: skip
    conn.add_argument("--share", metavar="GROUP",
                      help="join the shared-subscription group GROUP ($share/GROUP/...)")  # fmt: skip
    conn.add_argument("--clean-start", action="store_true",
                      help="start a clean session even with --client-id (no persistence)")  # fmt: skip
    conn.add_argument("--session-expiry", type=int, default=3600, metavar="SECONDS",
                      help="MQTT 5: how long the broker keeps a persistent session (default 3600)")  # fmt: skip
    conn.add_argument("--cafile", metavar="PEM", help="the CA certificate(s) to trust (TLS)")
    conn.add_argument("--cert", metavar="PEM", help="client certificate (X.509 login, as AWS IoT)")
    conn.add_argument("--key", metavar="PEM", help="the client certificate's private key")
    conn.add_argument("--insecure", action="store_true",
                      help="TLS without checking the broker's host name")  # fmt: skip
    conn.add_argument("--keepalive", type=int, default=60, metavar="SECONDS",
                      help="the MQTT keep-alive interval (default 60)")  # fmt: skip
    rules = parser.add_argument_group("rules and messages")
    rules.add_argument("--watch", action="store_true",
                       help="reload RULES when they change, and re-subscribe")  # fmt: skip
    rules.add_argument(
        "--context", action="append", default=[], metavar="NAME=SOURCE",
        help="take clientid, principal or sourceip from topic:N, user-property:NAME or "
        "value:TEXT (a subscriber cannot see the publisher's connection)",
    )  # fmt: skip
    rules.add_argument("--workers", type=int, default=4, metavar="N",
                       help="messages processed at once (one topic stays in order; default 4)")  # fmt: skip
    rules.add_argument("--max-inflight", type=int, default=100, metavar="N",
                       help="unacknowledged messages the broker may send at once (default 100)")  # fmt: skip
    actions = parser.add_argument_group("actions")
    actions.add_argument("--endpoint-url", metavar="URL",
                         help="perform AWS actions at this endpoint (moto, LocalStack...)")  # fmt: skip
    actions.add_argument("--aws", action="store_true",
                         help="perform AWS actions in AWS, with the default credentials")  # fmt: skip
    actions.add_argument("--region", metavar="REGION", help="the AWS region of the actions")
    actions.add_argument("--no-plugins", action="store_true",
                         help="do not use the sinks of installed iotsql.sinks plugins")  # fmt: skip
    actions.add_argument("--out", "-o", metavar="FILE",
                         help="also write every action request to FILE (as iotsql replay --out)")  # fmt: skip
    actions.add_argument("--dead-letters", metavar="FILE",
                         help="write dead letters to FILE as JSON lines (default: stderr)")  # fmt: skip
    run_group = parser.add_argument_group("running")
    run_group.add_argument("--stats-interval", type=float, default=10.0, metavar="SECONDS",
                           help="a stats line every SECONDS on stderr (0: none; default 10)")  # fmt: skip
    run_group.add_argument("--drain-timeout", type=float, default=30.0, metavar="SECONDS",
                           help="on SIGINT/SIGTERM, wait this long for messages in flight")  # fmt: skip
    parser.set_defaults(handler=run)


def _accept(request: ActionRequest) -> None:
    """Takes a request and keeps nothing (the counts and --out record it)."""


_accept.instant = True  # type: ignore[attr-defined]  # never blocks


def build_engine(args: argparse.Namespace) -> RulesEngine:
    """The engine with the RULES and the sinks the options ask for."""
    engine = RulesEngine()
    for action_type in ACTION_TYPES:
        engine.register_sink(action_type, _accept)
    if not args.no_plugins:
        try:
            engine.load_sink_plugins()
        except Exception as error:  # a broken plugin is the user's to fix, named
            raise CliError(f"a sink plugin could not be loaded: {error}") from None
    if args.endpoint_url and args.aws:
        raise CliError("--endpoint-url and --aws exclude each other")
    if args.endpoint_url or args.aws:
        try:
            sinks = _aws_sinks(args.endpoint_url, args.region)
        except ImportError as error:
            raise CliError(str(error)) from None
        for action_type, sink in sinks.items():
            engine.register_sink(action_type, sink)
    for path in args.rules:
        load_rules(engine, path)
    return engine


def _aws_sinks(endpoint_url: str | None, region: str | None) -> dict[str, Any]:
    """The AWS actions' sinks: with the default credentials; at an emulator's `endpoint_url`
    with placeholder ones when there are none (moto, LocalStack and ministack accept any, and
    without credentials botocore refuses to send a request, so every action was a dead
    letter); `--aws` without credentials is an error before any message is taken."""
    from iotsql.actions.aws import AWS_ACTION_KEYS, Boto3Sink

    default = Boto3Sink(endpoint_url=endpoint_url, region_name=region)  # boto3's install hint
    if default.session.get_credentials() is not None:
        return dict.fromkeys(AWS_ACTION_KEYS, default)
    if endpoint_url is None:
        raise CliError(
            "--aws performs the actions in AWS, but no AWS credentials were found: configure "
            "them (aws configure, AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    err(f"iotsql bridge: note: no AWS credentials found: the actions sign their requests to "
        f"{endpoint_url} with placeholder ones, which an emulator accepts (set AWS_PROFILE or "
        "AWS_ACCESS_KEY_ID for one that checks them)")  # fmt: skip
    sink = Boto3Sink.for_emulator(endpoint_url, region_name=default.region_name)
    return dict.fromkeys(AWS_ACTION_KEYS, sink)


class _Signals:
    """SIGINT and SIGTERM set `stop` (the main thread then drains); a second one stops at once."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.name = ""
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.name = signal.Signals(signum).name
        self.stop.set()


def run(args: argparse.Namespace) -> int:
    from iotsql.bridge import Bridge, BridgeError
    from iotsql.bridge.watch import RuleFiles, read_rules, sync_rules

    if args.stats_interval < 0:
        raise CliError("--stats-interval must be 0 (none) or a number of seconds")
    engine = build_engine(args)
    watched = RuleFiles(args.rules) if args.watch else None
    loaded = read_rules(args.rules) if args.watch else {}
    password = (
        args.password if args.password is not None else os.environ.get("IOTSQL_MQTT_PASSWORD")
    )
    try:
        bridge = Bridge(
            engine, args.broker, client_id=args.client_id, username=args.username,
            password=password, mqtt_version=args.mqtt_version, share=args.share,
            clean_start=True if args.clean_start else None,
            session_expiry=args.session_expiry, cafile=args.cafile, certfile=args.cert,
            keyfile=args.key, insecure=args.insecure, context=args.context,
            workers=args.workers, max_inflight=args.max_inflight, keepalive=args.keepalive,
            drain_timeout=args.drain_timeout, out=args.out,
            dead_letters=args.dead_letters if args.dead_letters else _StderrLines(),
            log=err,
        )  # fmt: skip
    except OSError as error:
        raise CliError(f"cannot open {error.filename}: {error.strerror or error}") from None
    signals = _Signals()
    signals.install()
    try:
        try:
            bridge.start()
        except BridgeError as error:
            raise CliError(str(error)) from None
        session = "persistent session" if bridge.persistent else "clean session"
        version = "MQTT 5" if bridge.protocol == 5 else "MQTT 3.1.1"
        err(f"iotsql bridge: connected to {bridge.url} as {bridge.client_id} ({version}, "
            f"{session})")  # fmt: skip
        err(f"iotsql bridge: subscribed to {', '.join(bridge.subscriptions)}")
        if args.share and any(t.startswith(f"$share/{args.share}/$") for t in bridge.subscriptions):
            err("iotsql bridge: note: Mosquitto 2.0 delivers no $-topic to a shared subscription: "
                "with it, Basic Ingest ($aws/rules/...) and rules on $-topics need a bridge "
                "without --share")  # fmt: skip
        _serve(bridge, signals, args, watched, loaded, engine, read_rules, sync_rules)
    finally:
        signals.restore()
        bridge.stop()
    err(f"iotsql bridge: {signals.name or 'stopped'}: {bridge.summary_line()}")
    if bridge.error is not None:
        err(f"iotsql bridge: error: {bridge.error}")
        return 1
    return 0


def _serve(
    bridge: Bridge,
    signals: _Signals,
    args: argparse.Namespace,
    watched: Any,
    loaded: dict[str, Any],
    engine: RulesEngine,
    read_rules: Any,
    sync_rules: Any,
) -> None:
    """Print stats lines and reload rules until a signal or a failure."""
    interval = args.stats_interval
    next_stats = time.monotonic() + interval if interval else None
    while not signals.stop.is_set() and not bridge.failed.is_set():
        now = time.monotonic()
        waits = [0.5]  # a failure of the bridge (bridge.failed) is noticed within this
        if next_stats is not None:
            waits.append(max(0.0, next_stats - now))
        signals.stop.wait(min(waits))
        if next_stats is not None and time.monotonic() >= next_stats:
            err(f"iotsql bridge: {bridge.stats_line()}")
            next_stats += interval
        if watched is not None and watched.changed():
            try:
                wanted = read_rules(args.rules)
                created, replaced, deleted = sync_rules(engine, wanted, loaded)
            except (IotSqlError, OSError, ValueError) as error:
                err(f"iotsql bridge: the rules changed but cannot be loaded; the rules in force "
                    f"stay: {error}")  # fmt: skip
                continue
            loaded.clear()
            loaded.update(wanted)
            added, removed = bridge.refresh_subscriptions()
            err(f"iotsql bridge: rules reloaded: {len(created)} created, {len(replaced)} "
                f"replaced, {len(deleted)} deleted; subscribed to {', '.join(added) or 'nothing new'}"
                f"{'; unsubscribed from ' + ', '.join(removed) if removed else ''}")  # fmt: skip


class _StderrLines:
    """Dead letters on stderr when no --dead-letters file is given: one JSON line each."""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            err(f"iotsql bridge: dead letter: {line}")
        return len(text)

    def flush(self) -> None:
        pass
