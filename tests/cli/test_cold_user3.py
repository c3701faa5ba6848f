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


def test_the_recorder_refuses_an_action_type_that_does_not_exist() -> None:
    # docs/index.md's first engine example reads engine.recorder["sns"]; a user who wrote
    # ["SNS"] or CloudFormation's ["Sns"] got an empty list forever and a test that failed
    # (or passed, asserting == []) for the wrong reason.
    import iotsql

    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Hot", {
        "sql": "SELECT * FROM 'house/+/temp'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sns": {"targetArn": "arn:aws:sns:us-east-1:123456789012:alerts",
                             "roleArn": "arn:aws:iam::123456789012:role/iot"}}],
    })  # fmt: skip
    engine.publish("house/kitchen/temp", b'{"temp": 27.5}')
    assert engine.recorder["sns"].bodies == [{"temp": 27.5}]
    assert engine.recorder["sqs"].bodies == []  # a real type no rule used: nothing yet
    with pytest.raises(KeyError, match=r"no action type 'Sns'; did you mean sns\?"):
        engine.recorder["Sns"]
    with pytest.raises(KeyError, match="no action type 'mqtt': action types are the keys of "
                       r"the CreateTopicRule API \(cloudwatchAlarm, "):  # fmt: skip
        engine.recorder["mqtt"]


def test_a_folder_of_templates_names_the_files_to_give_instead(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # docs/check.md says check reads `cdk synth` output (cdk.out/); the same folder given to
    # replay, the pytest plugin or load_rules said only "no .tf or .tf.json files".
    import json

    import iotsql
    from iotsql.errors import RuleValidationError

    out = tmp_path / "cdk.out"
    out.mkdir()
    rule = {"Type": "AWS::IoT::TopicRule", "Properties": {"TopicRulePayload": {
        "Sql": "SELECT * FROM 'a/+'", "AwsIotSqlVersion": "2016-03-23", "Actions": []}}}  # fmt: skip
    (out / "Stack.template.json").write_text(json.dumps({"Resources": {"R": rule}}))
    (out / "tree.json").write_text(json.dumps({"tree": {"attributes": {
        "aws:cdk:cloudformation:type": "AWS::IoT::TopicRule"}}}))  # fmt: skip
    (out / "manifest.json").write_text('{"version": "48.0.0"}')
    template = out / "Stack.template.json"
    with pytest.raises(RuleValidationError) as error:
        iotsql.load_rules(out)
    assert str(error.value) == (
        f"{out}: no .tf or .tf.json files in this folder (a folder is read as one Terraform "
        f"module): name the file that defines the rules: {template}"
    )
    assert [rule.name for rule in iotsql.load_rules(template)] == ["R"]
    messages = tmp_path / "m.jsonl"
    messages.write_text('{"topic": "a/b", "payload": {}}\n')
    status, _, err = run(capsys, "replay", str(out), str(messages))
    assert status == 2 and err.endswith(f"name the file that defines the rules: {template}\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RuleValidationError, match="name the file that defines the rules "
                       r"\(a template, serverless.yml, AWS CLI JSON\)"):  # fmt: skip
        iotsql.load_rules(empty)


def test_a_parameter_no_rules_file_declares_is_refused_with_the_name_meant(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # `--parameters Stge=prod` was taken without a word and the rules ran with Stage's
    # default; CloudFormation ("Parameters: [Stge] do not exist in the template") and
    # Terraform ("Value for undeclared variable") refuse it.
    template = tmp_path / "template.yaml"
    template.write_text(
        "Parameters:\n  Stage: {Type: String, Default: dev}\nResources:\n  R:\n"
        "    Type: AWS::IoT::TopicRule\n    Properties:\n      TopicRulePayload:\n"
        "        Sql: !Sub \"SELECT '${Stage}' AS stage FROM 'a/+'\"\n        Actions: []\n"
    )
    main_tf = tmp_path / "main.tf"
    main_tf.write_text(
        'variable "threshold" {\n  default = 30\n}\nresource "aws_iot_topic_rule" "t" {\n'
        '  name = "T"\n  enabled = true\n  sql_version = "2016-03-23"\n'
        "  sql = \"SELECT * FROM 't/+' WHERE x > ${var.threshold}\"\n}\n"
    )
    messages = tmp_path / "m.jsonl"
    messages.write_text('{"topic": "a/b", "payload": {}}\n')
    status, out, err = run(capsys, "replay", str(template), str(messages), "--parameters",
                           "Stge=prod")  # fmt: skip
    assert (status, out) == (2, "")
    assert err == (
        "iotsql replay: error: --parameters: Stge: no rules file declares it; did you mean "
        "Stage? (declared: Stage)\n"
    )
    # Declared by one of the files; a pseudo parameter and Terraform's var. form are known.
    status, _, _ = run(capsys, "replay", str(template), str(main_tf), str(messages),
                       "--parameters", "Stage=prod", "--parameters", "var.threshold=3",
                       "--parameters", "AWS::Region=eu-west-1")  # fmt: skip
    assert status == 0
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"id": "c", "rule": "R", "topic": "a/b", "payload": {}, '
                     '"expected": {"stage": "prod"}}\n')  # fmt: skip
    status, out, err = run(capsys, "test", str(cases), "--rules", str(template), "--param",
                           "stage=prod")  # fmt: skip
    assert status == 2
    assert err.endswith("--param: stage: no rules file declares it; did you mean Stage? "
                        "(declared: Stage)\n")  # fmt: skip
    status, out, _ = run(capsys, "test", str(cases), "--rules", str(template), "--param",
                         "Stage=prod")  # fmt: skip
    assert (status, out) == (0, "1 passed, 0 failed\n")
