"""Mistakes found by the third new-user audit (a wheel in a fresh virtualenv, every guide
followed as printed), each answered with what to do instead of a puzzle or a silent pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotsql.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_file_named_without_at_gets_the_at_that_reads_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `iotsql eval rule.sql` parsed the name as SQL ("unexpected 'rule'"), `--payload
    # message.json` became a 12-byte binary body, with nothing saying that @ reads a file.
    monkeypatch.chdir(tmp_path)
    Path("rule.sql").write_text("SELECT temp FROM 'house/+/temp' WHERE temp > 25\n")
    Path("message.json").write_text('{"temp": 27}\n')
    Path("rules.json").write_text('{"rules": []}\n')
    status, out, err = run(capsys, "eval", "rule.sql", "-p", '{"temp": 27}')
    assert (status, out) == (2, "")
    assert err.splitlines()[-1] == (
        "hint: rule.sql is a file, but the SQL argument is taken as written: "
        "write @rule.sql to read the file"
    )
    status, _, err = run(capsys, "eval", "rules.json", "-p", "{}")
    assert status == 2
    assert err.splitlines()[-1].endswith(
        "write @rules.json to read the file; iotsql replay runs the topic rules of a file"
    )
    status, _, err = run(capsys, "eval", "@rule.sql", "-p", "message.json", "-t", "house/k/temp")
    assert status == 1
    assert (
        "hint: message.json is a file, but --payload is taken as written: write "
        "@message.json to read the file" in err.splitlines()
    )
    status, out, _ = run(capsys, "eval", "@rule.sql", "-p", "@message.json", "-t", "house/k/temp")
    assert (status, out) == (0, '{"temp":27}\n')
    status, _, err = run(capsys, "eval", "@rule.sql", "--context", "message.json")
    assert status == 2
    assert err.splitlines()[-1] == (
        "hint: message.json is a file, but --context is taken as written: "
        "write @message.json to read the file"
    )
    # Text that is no file's name gets no hint.
    status, _, err = run(capsys, "eval", "SELEC a FROM 't'")
    assert status == 2 and "hint: SELEC" not in err and "@" not in err
