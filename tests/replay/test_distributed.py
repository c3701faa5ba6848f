"""`iotsql replay` on Dask: on a LocalCluster of 2 worker processes the tests start (one per
module, reached as `--scheduler ADDRESS` reaches a cluster), the requests are the
single-process replay's as a multiset, bad lines are reported with their file and line
number across block boundaries, partitions by topic keep each topic's messages in order with
their republish chains, and --out DIR holds one part per partition."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from dask_support import require_dask

from iotsql.benchmark.replay import write_workload
from iotsql.cli import main

ROLE = "arn:aws:iam::123456789012:role/r"


def replay(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    """(exit status, stdout, stderr lines) of `iotsql replay ARGV`, run in this process."""
    capsys.readouterr()
    status = main(["replay", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err.splitlines()


def parts_of(folder: Path) -> dict[str, list[str]]:
    return {part.name: part.read_text(encoding="utf-8").splitlines()
            for part in sorted(folder.glob("part-*.jsonl"))}  # fmt: skip


def without_timing(lines: list[str]) -> list[str]:
    """The summary without what changes from run to run (the time, the cluster line)."""
    out = []
    for line in lines:
        if line.startswith("on a LocalCluster") or line.startswith("on the Dask cluster"):
            continue
        out.append(re.sub(r" replayed in .*? messages/s\)", " replayed", line))
    return out


def test_100000_messages_make_the_requests_of_one_process(
    tmp_path: Path, dask_cluster: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rules, messages = write_workload(tmp_path, 100_000, bad_every=9_973)
    single_out = tmp_path / "single.jsonl"
    status, _, single = replay([str(rules), str(messages), "--out", str(single_out)], capsys)
    assert status == 1  # the bad lines
    status, _, spread = replay(
        [str(rules), str(messages), "--out", str(tmp_path / "parts"),
         "--scheduler", dask_cluster.scheduler_address], capsys,
    )  # fmt: skip
    assert status == 1
    expected = Counter(single_out.read_text(encoding="utf-8").splitlines())
    parts = parts_of(tmp_path / "parts")
    found = Counter(line for lines in parts.values() for line in lines)
    assert sum(expected.values()) > 100_000 and found == expected
    # The same bad lines, numbered alike, and the same summary.
    assert without_timing(spread) == without_timing(single)
    assert [line for line in single if ": invalid JSON" in line] == [
        f"{messages}:{number}: invalid JSON: Expecting value (column {len(str(number)) + 41})"
        for number in range(9_973, 100_001, 9_973)
    ]
    where = spread[-1]
    assert where.startswith(f"on the Dask cluster at {dask_cluster.scheduler_address} (2 threads")
    assert f"{len(parts)} parts in {tmp_path / 'parts'}" in where and len(parts) > 2


def bad_lines_file(path: Path) -> list[str]:
    """A file whose bad lines fall on both sides of many block boundaries."""
    lines = []
    for number in range(1, 301):
        if number % 17 == 0:
            lines.append('{"topic": "t/x", "payload": ')
        elif number % 23 == 0:
            lines.append("")
        elif number % 29 == 0:
            lines.append('{"payload": {}}')
        elif number == 150:  # (test_blocks: over the line limit, across blocks)
            lines.append("[1, 2" + "]" * 200)
        else:
            lines.append(json.dumps({"topic": f"t/{number % 7}", "payload": {"n": number}}))
    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline
    return lines


RULES = [{"ruleName": "All", "topicRulePayload": {
    "sql": "SELECT n, topic() AS t FROM 't/#'",
    "actions": [{"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "roleArn": ROLE}}],
}}]  # fmt: skip


@pytest.mark.parametrize("partition_by", ["block", "topic"])
def test_bad_lines_are_numbered_in_their_files_across_blocks(
    tmp_path: Path, dask_cluster: Any, capsys: pytest.CaptureFixture[str], partition_by: str
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    bad_lines_file(first)
    bad_lines_file(second)
    files = [str(rules), str(first), str(second)]
    status, out, single = replay(files, capsys)
    assert status == 1
    reports = [line for line in single if line.startswith(str(tmp_path))]
    assert f"{first}:17: invalid JSON: Expecting value (column 28)" in reports
    assert f"{second}:150: invalid JSON: Extra data (column 7)" in reports
    assert f"{second}:290: 'topic' (a string) is required" in reports
    assert len(reports) == 2 * (300 // 17 + 300 // 29 + 1)
    status, spread_out, spread = replay(
        [*files, "--scheduler", dask_cluster.scheduler_address, "--blocksize", "700",
         "--partition-by", partition_by], capsys,
    )  # fmt: skip
    assert status == 1
    assert [line for line in spread if line.startswith(str(tmp_path))] == reports
    assert without_timing(spread) == without_timing(single)
    assert Counter(spread_out.splitlines()) == Counter(out.splitlines())
    assert f"by {partition_by}" in spread[-1]


def test_by_topic_each_topic_is_in_one_partition_in_order_with_its_republish_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --workers: iotsql starts its own LocalCluster."""
    require_dask()
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([
        {"ruleName": "Echo", "topicRulePayload": {
            "sql": "SELECT seq FROM 'dev/+/in'",
            "actions": [{"republish": {"topic": "dev/${topic(2)}/echo", "roleArn": ROLE}}]}},
        {"ruleName": "Seen", "topicRulePayload": {
            "sql": "SELECT seq, topic(2) AS device FROM 'dev/+/echo'",
            "actions": [{"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q",
                                 "roleArn": ROLE}}]}},
    ]), encoding="utf-8")  # fmt: skip
    messages = tmp_path / "m.jsonl"
    with messages.open("w", encoding="utf-8") as out:
        for seq in range(3_000):
            device = f"d{(seq * 7919) % 40}"
            out.write(json.dumps({"topic": f"dev/{device}/in", "payload": {"seq": seq}}) + "\n")
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part-00099.jsonl").write_text("stale\n", encoding="utf-8")
    status, out_text, err = replay(
        [str(rules), str(messages), "--workers", "2", "--partition-by", "topic", "--blocksize",
         "4KiB", "--out", str(folder)], capsys,
    )  # fmt: skip
    assert status == 0 and out_text == ""
    parts = parts_of(folder)
    # 2 workers of 1 thread, 2 partitions per thread; the stale part of an earlier run is gone
    assert list(parts) == [f"part-{n:05d}.jsonl" for n in range(4)]
    assert not list(folder.glob(".part-*"))
    assert "4 partitions by topic, 4 parts in" in err[-1] and "a LocalCluster of 2" in err[-1]
    where: dict[str, str] = {}
    for name, lines in parts.items():
        seen: dict[str, list[int]] = {}
        for line in lines:
            request = json.loads(line)
            device = request["topic"].split("/")[1]
            # a republished message is handled where its original was
            assert where.setdefault(device, name) == name, device
            if request["rule"] == "Seen":
                seen.setdefault(device, []).append(request["body"]["seq"])
        for device, order in seen.items():
            assert order == sorted(order), device
    assert len(where) == 40 and len(set(where.values())) > 1
    total = sum(len(lines) for lines in parts.values())
    assert total == 6_000  # each message: the republish, then the sqs of its echo


def test_without_out_the_requests_come_on_stdout_in_partition_order(
    tmp_path: Path, dask_cluster: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    messages = tmp_path / "m.jsonl"
    messages.write_text("".join(json.dumps({"topic": "t/a", "payload": {"n": n}}) + "\n"
                                for n in range(500)), encoding="utf-8")  # fmt: skip
    status, out, _ = replay(
        [str(rules), str(messages), "--scheduler", dask_cluster.scheduler_address,
         "--blocksize", "1KiB"], capsys,
    )  # fmt: skip
    assert status == 0
    assert [json.loads(line)["body"]["n"] for line in out.splitlines()] == list(range(500))


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    messages = tmp_path / "m.jsonl"
    messages.write_text('{"topic": "t/a"}\n', encoding="utf-8")
    cases = [
        ([str(rules), "-", "--workers", "2"], "- (stdin) cannot be split in blocks"),
        ([str(rules), str(messages), "--partition-by", "topic"], "--partition-by splits a "
         "distributed replay: give --workers N or --scheduler ADDRESS with it"),
        ([str(rules), str(messages), "--blocksize", "1MiB"], "--blocksize splits"),
        ([str(rules), str(messages), "--workers", "2", "--out", str(messages)],
         "--out names a folder"),
        ([str(rules), str(tmp_path / "none.jsonl"), "--workers", "1"], "no such file"),
    ]  # fmt: skip
    for argv, message in cases:
        status, _, err = replay(argv, capsys)
        assert status == 2, argv
        assert message in err[-1] and "Traceback" not in "\n".join(err), argv
    for argv in (
        ["--workers", "0"],
        ["--blocksize", "lots"],
        ["--workers", "2", "--scheduler", "x"],
    ):
        status, _, err = replay([str(rules), str(messages), *argv], capsys)
        assert status == 2 and "usage:" in "\n".join(err), argv


def test_more_local_workers_than_the_machine_holds_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --workers 100000000 started a LocalCluster of 10**8 processes: a fork bomb on any
    # machine. One more than the bound is refused before a process starts.
    require_dask()
    from iotsql.replay.distributed import WORKERS_PER_CORE, max_local_workers

    assert max_local_workers() == WORKERS_PER_CORE * (os.cpu_count() or 1)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    messages = tmp_path / "m.jsonl"
    messages.write_text('{"topic": "t/a"}\n', encoding="utf-8")
    for workers in (max_local_workers() + 1, 100_000_000):
        status, out, err = replay([str(rules), str(messages), "--workers", str(workers)], capsys)
        assert status == 2 and out == ""
        assert err[-1] == (
            f"iotsql replay: error: --workers {workers}: a LocalCluster on this machine runs at "
            f"most {max_local_workers()} worker processes ({WORKERS_PER_CORE} per core); use "
            "--scheduler for a larger cluster"
        )


def test_an_unreachable_scheduler_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_dask()
    import socket

    from iotsql.replay import distributed

    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    messages = tmp_path / "m.jsonl"
    messages.write_text('{"topic": "t/a"}\n', encoding="utf-8")
    status, _, err = replay(
        [str(rules), str(messages), "--scheduler", f"tcp://127.0.0.1:{port}"], capsys
    )
    assert status == 2
    assert err[-1].startswith(f"iotsql replay: error: --scheduler tcp://127.0.0.1:{port}: "
                              "cannot connect")  # fmt: skip


BLOCK_DASK = """
import sys
class NoDask:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ImportError(f"No module named {name!r} (blocked)")
        return None
sys.meta_path.insert(0, NoDask())
"""


def test_without_dask_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    messages = tmp_path / "m.jsonl"
    messages.write_text('{"topic": "t/a", "payload": {"n": 1}}\n', encoding="utf-8")
    code = BLOCK_DASK + "from iotsql.cli import main; sys.exit(main(sys.argv[1:]))"
    for option in (["--workers", "2"], ["--scheduler", "tcp://127.0.0.1:8786"]):
        done = subprocess.run(
            [sys.executable, "-c", code, "replay", str(rules), str(messages), *option],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("iotsql replay: error: --workers and --scheduler run the "
                                      "replay on Dask, which is not installed")  # fmt: skip
        assert "pip install 'iotsql[dask]'" in done.stderr and "Traceback" not in done.stderr
    # and without either option, the replay runs without Dask
    done = subprocess.run([sys.executable, "-c", code, "replay", str(rules), str(messages)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and json.loads(done.stdout)["body"] == {"n": 1, "t": "t/a"}


def test_importing_iotsql_and_its_replay_command_does_not_import_dask() -> None:
    code = ("import sys, iotsql, iotsql.cli.replay, iotsql.replay.partition; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_workers_that_run_another_iotsql_are_refused(
    tmp_path: Path, dask_cluster: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import iotsql

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    messages = tmp_path / "m.jsonl"
    messages.write_text('{"topic": "t/a"}\n', encoding="utf-8")
    workers_run = iotsql.__version__
    monkeypatch.setattr(iotsql, "__version__", "99.0")  # this process only: the workers keep theirs
    status, out, err = replay(
        [str(rules), str(messages), "--scheduler", dask_cluster.scheduler_address], capsys
    )
    assert status == 2 and out == ""
    assert err[-1] == (
        f"iotsql replay: error: the workers of {dask_cluster.scheduler_address} run iotsql "
        f"{workers_run}, this is 99.0: install the same version on every worker"
    )


# ---- workers that die during a replay (last in the module: the cluster's workers restart) ----


def _spread_replay(tmp_path: Path, cluster: Any, on_progress: Any) -> tuple[Any, Path]:
    """A replay of 3,000 messages in many blocks through the library, on `cluster`, with
    `on_progress` called after each block; (its outcome, its --out folder)."""
    import iotsql
    from iotsql.limits import DEFAULT_LIMITS
    from iotsql.replay.distributed import replay as spread
    from iotsql.replay.replayer import RuleDefinitions

    messages = tmp_path / "m.jsonl"
    messages.write_text("".join(json.dumps({"topic": f"t/{n % 7}", "payload": {"n": n}}) + "\n"
                                for n in range(3000)), encoding="utf-8")  # fmt: skip
    engine = iotsql.RulesEngine()
    for rule in RULES:
        engine.create_topic_rule(rule["ruleName"], rule["topicRulePayload"])
    out = tmp_path / "parts"
    outcome = spread(cluster, RuleDefinitions.of(engine), [str(messages)],
                     limit=DEFAULT_LIMITS.max_input_line_bytes, blocksize=4_000,
                     out_dir=str(out), on_progress=on_progress)  # fmt: skip
    return outcome, out


def _kill_every_worker(cluster: Any) -> Any:
    """An on_progress that kills (SIGKILL) every worker process once, after the first block."""
    import os
    import signal

    killed: list[int] = []

    def kill(done: int, total: int) -> None:
        if not killed:
            for pid in cluster.client.run(os.getpid).values():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    return kill


def test_workers_killed_during_a_replay_are_replaced_and_no_message_is_lost(
    tmp_path: Path, connected: Any
) -> None:
    # Every worker holding the rules dies: Dask computes them again for the workers that
    # replace them, and runs again the blocks that were lost.
    try:
        outcome, out = _spread_replay(tmp_path, connected, _kill_every_worker(connected))
    finally:
        connected.client.wait_for_workers(2, timeout=60)
    numbers = sorted(json.loads(line)["body"]["n"]
                     for part in out.glob("part-*.jsonl") for line in part.read_text().splitlines())  # fmt: skip
    assert numbers == list(range(3000)) and outcome.totals.messages == 3000
    assert len(outcome.parts) == outcome.blocks > 10
    assert list(out.glob(".part-*")) == []  # the killed workers' temporary parts are gone


def test_a_block_dask_gives_up_on_fails_the_replay_naming_it(
    tmp_path: Path, connected: Any
) -> None:
    from iotsql.replay.distributed import ReplayError

    def allow(failures: int) -> Any:
        def change(dask_scheduler: Any) -> int:
            before = dask_scheduler.allowed_failures
            dask_scheduler.allowed_failures = failures
            return int(before)

        return connected.client.run_on_scheduler(change)

    allowed = allow(0)  # the first worker that dies with a task fails it: KilledWorker
    try:
        with pytest.raises(ReplayError) as raised:
            _spread_replay(tmp_path, connected, _kill_every_worker(connected))
    finally:
        allow(allowed)
        connected.client.wait_for_workers(2, timeout=60)
    message = str(raised.value)
    assert re.search(
        r"the block task of .*m\.jsonl bytes [\d,]+-[\d,]+ failed: KilledWorker", message
    )
    assert re.search(rf"--out {tmp_path / 'parts'} is incomplete: it holds only the \d+ parts? ",
                     message)  # fmt: skip
