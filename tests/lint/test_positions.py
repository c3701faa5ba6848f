"""Positions in files: each character of a string value mapped to where it is written, through
YAML's scalar styles (PyYAML's decoding is the reference), JSON and HCL escapes and heredocs,
and through what the loaders do to it (`!Sub`, Terraform interpolation, Serverless variables);
and `LoadedRule.sql_position` / `position_of`, the API other parts build on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import iotsql
from iotsql.loaders.positions import SourceDocument, SourceFile, TextOrigin, split_path

# ---- YAML --------------------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\x85\u2028\u2029"
    )
    | st.sampled_from(["\n", "\t", " ", "'", '"', "\\", "#", ":", "-"]),
    max_size=60,
)


def _literal_characters_map_back(document: SourceDocument, origin: TextOrigin) -> None:
    text = document.text
    for index, char in enumerate(origin.value):
        raw = text[origin.starts[index] : origin.ends[index]]
        assert raw == char or raw.startswith(("\\", "''", "\r", "\n")) or char in " \n", (
            index, char, raw,
        )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(value=_TEXT, style=st.sampled_from([None, "'", '"', "|", ">"]))
def test_every_yaml_style_decodes_as_pyyaml_does(value: str, style: str | None) -> None:
    dumped = yaml.safe_dump({"a": {"Sql": value}}, default_style=style, width=20,
                            allow_unicode=True)  # fmt: skip
    document = SourceDocument("t.yaml", dumped, "yaml")
    origin = document.string("a.Sql")
    assert origin is not None and origin.value == value
    node = document.node("a.Sql")
    assert node is not None
    from iotsql.loaders.yaml_positions import _block, _content_start, _flow

    raw = node[0]._node  # type: ignore[attr-defined]
    start = _content_start(dumped, raw.start_mark.index)
    if raw.style in ("|", ">"):
        decoded = _block(dumped, start, node[0]._parent_indent)  # type: ignore[attr-defined]
    elif raw.style in ("'", '"'):
        decoded = _flow(dumped, start + 1, raw.end_mark.index - 1, raw.style)
    else:
        decoded = _flow(dumped, start, raw.end_mark.index, None)
    assert "".join(decoded[0]) == value  # decoded exactly, not by the alignment fallback
    _literal_characters_map_back(document, origin)


@pytest.mark.parametrize(
    ("text", "sql_place", "file_place"),
    [
        ("Sql: |\n  SELECT *\n  FROM 'a'\n", (2, 1), (3, 3)),
        ("Sql: >-\n  SELECT *\n  FROM 'a'\n", (1, 10), (3, 3)),
        ('Sql: "SELECT \\"x\\" FROM \'a\'"\n', (1, 15), (1, 23)),
        ("Sql: 'SELECT ''x'' FROM ''a'''\n", (1, 15), (1, 23)),
        ("Sql: SELECT *\n  FROM 'a'\n", (1, 10), (2, 3)),
        ("Sql: \"SELECT *\\\n  \\ FROM 'a'\"\n", (1, 10), (2, 5)),
        ("Sql: |2\n    SELECT *\n    FROM 'a'\n", (2, 3), (3, 5)),
        ("Sql: !Sub \"SELECT * FROM '${T}/x'\"\n", (1, 15), (1, 26)),
        ("Sql: &anchor |-\n   SELECT 1\n", (1, 8), (2, 11)),
    ],
)
def test_yaml_positions(text: str, sql_place: tuple[int, int], file_place: tuple[int, int]) -> None:
    origin = SourceDocument("t.yaml", text, "yaml").string("Sql")
    assert origin is not None
    assert origin.value == yaml.safe_load(text.replace("!Sub ", ""))["Sql"]
    where = origin.locate(*sql_place)
    assert (where.line, where.column) == file_place


# ---- JSON and HCL ------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(value=_TEXT, ascii_only=st.booleans())
def test_json_strings_through_their_escapes(value: str, ascii_only: bool) -> None:
    text = json.dumps(
        {"rule": {"sql": value, "n": [1, 2.5e3, True, None]}}, ensure_ascii=ascii_only
    )
    document = SourceDocument("r.json", text, "json")
    origin = document.string("rule.sql")
    assert origin is not None and origin.value == value
    for index, char in enumerate(value):
        raw = text[origin.starts[index] : origin.ends[index]]
        assert json.loads(f'"{raw}"') == char or (0xD800 <= ord(char[0]) <= 0xDFFF)


def test_json_keys_and_nested_lists() -> None:
    text = '{\n  "a": [\n    {"b": "x\\u00e9y"},\n    {"c": {"d": 1}}\n  ]\n}\n'
    document = SourceDocument("r.json", text, "json")
    located = document.locate("a[1].c.d")
    assert located is not None and located.exact
    assert (located.position.line, located.position.column) == (4, 12)
    origin = document.string("a[0].b")
    assert origin is not None and origin.value == "xéy"
    assert origin.span(2).column == 19  # `y`, after the six characters of \u00e9


HCL = """\
resource "aws_iot_topic_rule" "r" {
  name = "r" # a comment
  sql  = "SELECT \\"a\\" FROM '$${topic()}' WHERE b = \\u0031"
  sqs {
    queue_url = "q"
  }
  sqs {
    queue_url = "second"
  }
  kafka {
    client_properties = {
      "bootstrap.servers" = "h:9092"
    }
  }
  description = <<-EOT
    line one
      line two
  EOT
}
"""


def test_hcl_strings_heredocs_blocks_and_objects() -> None:
    document = SourceDocument("main.tf", HCL, "hcl")
    origin = document.string("resource.aws_iot_topic_rule.r.sql")
    assert origin is not None
    assert origin.value == "SELECT \"a\" FROM '${topic()}' WHERE b = 1"
    assert (origin.span(7).line, origin.span(7).column) == (3, 18)  # the escaped quote
    assert origin.span(17).column == 30  # `$` of `$${`, written twice
    assert origin.span(18).column == 32
    assert origin.span(len(origin.value) - 1).column == 53  # `1` from \u0031
    second = document.locate("resource.aws_iot_topic_rule.r.sqs[1].queue_url")
    assert second is not None and second.exact and second.position.line == 8
    dotted = document.locate("resource.aws_iot_topic_rule.r.kafka[0].client_properties."
                             "bootstrap.servers")  # fmt: skip
    assert dotted is not None and dotted.exact and dotted.position.line == 12
    heredoc = document.string("resource.aws_iot_topic_rule.r.description")
    assert heredoc is not None and heredoc.value == "line one\n  line two"
    assert (heredoc.span(9).line, heredoc.span(9).column) == (17, 5)


# ---- alignment ---------------------------------------------------------------------------------


def test_alignment_keeps_literal_text_in_place() -> None:
    source = SourceFile("t", "SELECT * FROM '${Topic}/x' WHERE a = 1")
    origin = TextOrigin.verbatim(source, 0, len(source.text))
    actual = "SELECT * FROM 'plant/sensors/x' WHERE a = 1"
    aligned = origin.aligned(actual)
    assert aligned.value == actual
    where = actual.index("WHERE")
    assert aligned.span(where).column == source.text.index("WHERE") + 1
    inside = actual.index("sensors")
    assert 16 <= aligned.span(inside).column <= 23  # within `${Topic}`


def test_split_path() -> None:
    assert split_path('a.b[0]["k.x"].c') == ["a", "b", 0, "k.x", "c"]
    assert split_path("Resources.R.Properties.TopicRulePayload.Actions[1].Sqs") == [
        "Resources", "R", "Properties", "TopicRulePayload", "Actions", 1, "Sqs",
    ]  # fmt: skip


# ---- loaded rules ------------------------------------------------------------------------------

FORMATS = {
    "template.yaml": (
        "Resources:\n  R:\n    Type: AWS::IoT::TopicRule\n    Properties:\n"
        "      TopicRulePayload:\n        AwsIotSqlVersion: '2016-03-23'\n        Sql: >-\n"
        "          SELECT a\n          FROM 'x/y'\n        Actions:\n"
        "          - Sqs: {QueueUrl: q, RoleArn: 'arn:aws:iam::123456789012:role/r'}\n"
    ),
    "main.tf": (
        'resource "aws_iot_topic_rule" "r" {\n  name = "R"\n  enabled = true\n'
        "  sql_version = \"2016-03-23\"\n  sql = <<EOT\nSELECT a\nFROM 'x/y'\nEOT\n"
        '  sqs {\n    queue_url = "q"\n    role_arn = "arn:aws:iam::123456789012:role/r"\n  }\n}\n'
    ),
    "serverless.yml": (
        "service: s\nprovider: {name: aws}\nfunctions:\n  f:\n    handler: h\n    events:\n"
        "      - iot:\n          sql: \"SELECT a\n            FROM 'x/y'\"\n"
    ),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_a_loaded_rule_maps_its_sql_into_the_file(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path(name).write_text(FORMATS[name], encoding="utf-8")
    (rule,) = iotsql.load_rules(name)
    assert rule.document is not None
    lines = rule.sql.splitlines()  # the quote before x/y, on the statement's last line
    line, column = len(lines), lines[-1].index("'") + 1
    where = rule.sql_position(line, column)
    text = Path(name).read_text(encoding="utf-8").splitlines()[where.line - 1]
    assert text[where.column - 1 :].startswith("'x/y'")
    assert where.file == name and where.exact
    field = rule.position_of("topicRulePayload.sql")
    assert field.line < where.line or field.line == where.line


def test_a_field_of_the_payload_is_found_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(FORMATS["template.yaml"], encoding="utf-8")
    (rule,) = iotsql.load_rules(path)
    where = rule.position_of("topicRulePayload.actions[0].sqs.roleArn")
    assert (where.line, where.exact) == (11, True)
    assert FORMATS["template.yaml"].splitlines()[10][where.column - 1 :].startswith("RoleArn")
    missing = rule.position_of("topicRulePayload.errorAction")
    assert not missing.exact and missing.line == 5  # its parent, TopicRulePayload


def test_rules_given_as_data_have_no_file_positions() -> None:
    (rule,) = iotsql.load_rules({"R": {"sql": "SELECT * FROM 'a'", "actions": []}})
    assert rule.document is None and rule.sql_origin() is None
    assert not rule.sql_position(1, 1).exact


def test_a_rule_without_sql_version_carries_the_warning(tmp_path: Path) -> None:
    path = tmp_path / "main.tf"
    path.write_text(FORMATS["main.tf"], encoding="utf-8")
    (rule,) = iotsql.load_rules(path)
    assert rule.warnings == ()
    (rule,) = iotsql.load_rules({"R": {"sql": "SELECT * FROM 'a'", "actions": []}})
    (warning,) = rule.warnings
    assert (warning.code, warning.field) == (
        "sql-version-default", "<rules>: R.topicRulePayload.awsIotSqlVersion",
    )  # fmt: skip
    assert "so AWS runs it as 2015-10-08" in warning.message


SUB_WITH_VARIABLES = {
    "template.yaml": (
        "Parameters:\n  Topic: {Type: String, Default: t}\nResources:\n  R:\n"
        "    Type: AWS::IoT::TopicRule\n    Properties:\n      TopicRulePayload:\n"
        "        AwsIotSqlVersion: '2016-03-23'\n        Sql:\n          Fn::Sub:\n"
        "            - \"SELECT * FROM '${Topic}/${X}' WHERE a = 1\"\n"
        "            - X: a-much-longer-value\n        Actions: []\n"
    ),
    "template.json": (
        '{"Parameters": {"Topic": {"Type": "String", "Default": "t"}},\n "Resources": {"R": {\n'
        '  "Type": "AWS::IoT::TopicRule", "Properties": {"TopicRulePayload": {\n'
        '   "AwsIotSqlVersion": "2016-03-23", "Actions": [],\n'
        '   "Sql": {"Fn::Sub": ["SELECT * FROM \'${Topic}/${X}\' WHERE a = 1",\n'
        '                       {"X": "a-much-longer-value"}]}}}}}}\n'
    ),
}


@pytest.mark.parametrize("name", list(SUB_WITH_VARIABLES))
def test_fn_sub_with_a_variable_map_keeps_the_literal_text_in_place(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path(name).write_text(SUB_WITH_VARIABLES[name], encoding="utf-8")
    (rule,) = iotsql.load_rules(name)
    assert rule.sql == "SELECT * FROM 't/a-much-longer-value' WHERE a = 1"
    where = rule.sql_position(1, rule.sql.index("WHERE") + 1)
    line = SUB_WITH_VARIABLES[name].splitlines()[where.line - 1]
    assert where.exact and line[where.column - 1 :].startswith("WHERE a = 1")


def test_long_strings_and_comments_are_scanned_in_runs() -> None:
    # The HCL scanner took a Python step per character (a 16 MB string: a minute and
    # gigabytes under `iotsql check`); runs of plain characters are now one step each.
    from cost import cpu_at_most

    from iotsql.loaders.hcl_positions import hcl_tree
    from iotsql.loaders.json_positions import decode_string

    n = 4_000_000
    text = (f'locals {{\n  big = "{"a" * n}${{x}}é\\n"\n  # {"c" * n}\n}}\n'
            f'resource "a" "b" {{\n  x = [local.big, {"b" * n}]\n}}\n')  # fmt: skip
    with cpu_at_most(2.0):
        root = hcl_tree(SourceFile("main.tf", text))
        assert root is not None
        string = root.child("locals").items()[0].child("big").text()  # type: ignore[union-attr]
        assert string is not None and string.value == "a" * n + "${x}é\n"
        assert string.span(n + 4).column == n + 14  # the é, after the interpolation
        escape = string.span(n + 5)  # the \n, written as two characters
        assert (escape.column, escape.end_column) == (n + 15, n + 17)
        quoted = decode_string(SourceFile("t.json", f'"{"a" * n}\\u00e9"'), 0)
        assert quoted.value == "a" * n + "é" and quoted.span(n).column == n + 2
