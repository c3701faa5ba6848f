"""Hostile infrastructure files (issue #12): self-referencing variables, huge expansions, alias
bombs, huge and deeply nested documents. Each load ends quickly in a RuleValidationError naming
the file and the place, never a hang, a RecursionError or exhausted memory."""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

import pytest
from cost import cpu_at_most
from hostile_support import peak_memory

import iotsql
from iotsql import Limits, RuleValidationError
from iotsql.loaders import cloudformation

RULE = """
  Rule:
    Type: AWS::IoT::TopicRule
    Properties:
      TopicRulePayload:
        Sql: {sql}
        AwsIotSqlVersion: '2016-03-23'
        Actions: []
"""


def _refused(path: Path | str, match: str, seconds: float = 5.0, **kwargs: Any) -> str:
    """Load `path`, expecting a RuleValidationError naming the file that matches `match`,
    within `seconds` of CPU time and without a large allocation; returns the error's text."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with cpu_at_most(seconds), pytest.raises(RuleValidationError, match=match or None) as info:
        iotsql.load_rules(path, **kwargs)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 300
    text = str(info.value)
    assert text.startswith(str(path)), text  # the file is named first
    return text


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- serverless variables ----------------------------------------------------------------------

SERVERLESS = """service: s
custom:
{custom}
functions:
  f:
    handler: h
    events:
      - iot:
          sql: "SELECT * FROM '${{self:custom.a}}'"
"""


@pytest.mark.parametrize(
    "custom",
    [
        "  a: ${self:custom.b}\n  b: ${self:custom.a}",
        "  a: x${self:custom.a}",
        "  a: ${self:custom}",  # what holds it
        "  a: ${self:custom.b}\n  b: ${self:custom.c}\n  c: '${opt:x, self:custom.a}'",
    ],
)
def test_serverless_variables_that_refer_to_themselves(tmp_path: Path, custom: str) -> None:
    path = _write(tmp_path, "serverless.yml", SERVERLESS.format(custom=custom))
    text = _refused(path, "the variable refers to itself", 2.0)
    assert ": custom.a: " in text and "${self:custom.a}" in text


def test_serverless_variables_referring_to_each_other_without_a_cycle(tmp_path: Path) -> None:
    chain = "\n".join(f"  v{i}: ${{self:custom.v{i + 1}}}${{self:custom.v{i + 1}}}"
                      for i in range(15))  # fmt: skip
    custom = f"  a: a/${{self:custom.b.c}}/${{self:custom}}\n  b:\n    c: ok\n{chain}\n  v15: x"
    path = _write(tmp_path, "serverless.yml", SERVERLESS.format(custom=custom).replace(
        "'${self:custom.a}'", "'${self:custom.b.c}/${self:custom.v0}'"))  # fmt: skip
    with cpu_at_most(2.0):
        (rule,) = iotsql.load_rules(path, validate=False)  # (a topic far too long for AWS)
    assert rule.sql == "SELECT * FROM 'ok/" + "x" * 2**15 + "'"


def test_serverless_strings_hold_at_most_100_variables(tmp_path: Path) -> None:
    def load(count: int) -> Path:
        sql = "SELECT * FROM 'a' WHERE b = '" + "${self:custom.v}" * count + "'"
        text = SERVERLESS.format(custom="  v: x").replace("SELECT * FROM '${self:custom.a}'", sql)
        return _write(tmp_path, "serverless.yml", text)

    (rule,) = iotsql.load_rules(load(100), validate=False)
    assert rule.sql.endswith("'" + "x" * 100 + "'")
    text = _refused(load(101), "more than 100 variables in one string: ")
    assert "SELECT * FROM 'a' WHERE b = '${self:custom.v}" in text


# ---- CloudFormation ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", ["0", "257", "100000000", "'-1'", "x"])
def test_cidr_counts_outside_1_to_256(tmp_path: Path, count: str) -> None:
    sql = f"!Join ['', ['SELECT * FROM a', !Select [0, !Cidr ['10.0.0.0/8', {count}, 8]]]]"
    path = _write(tmp_path, "t.yaml", "Resources:" + RULE.format(sql=sql))
    text = _refused(path, "Fn::Cidr: the count must be a number from 1 to 256", 2.0)
    assert "Resources.Rule.Properties.TopicRulePayload.Sql" in text


def test_cidr_counts_within_1_to_256(tmp_path: Path) -> None:
    sql = "!Join ['', [\"SELECT * FROM '\", !Select [255, !Cidr ['10.0.0.0/8', 256, 8]], \"'\"]]"
    path = _write(tmp_path, "t.yaml", "Resources:" + RULE.format(sql=sql))
    (rule,) = iotsql.load_rules(path)
    assert rule.sql == "SELECT * FROM '10.0.255.0/24'"


def _bomb(levels: int, width: int = 10) -> str:
    text = "x: &a0 [" + ", ".join(["lol"] * width) + "]\n"
    for level in range(1, levels + 1):
        text += f"x{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]\n"
    return text


def test_a_billion_laughs_referenced_from_an_intrinsic(tmp_path: Path) -> None:
    sql = "!Join ['', ['SELECT * FROM a', !Join ['', *a8]]]"  # 10**9 strings once expanded
    path = _write(tmp_path, "t.yaml", _bomb(8) + "Resources:" + RULE.format(sql=sql))
    text = _refused(path, r"more than Limits.max_document_nodes \(1,000,000\) values once its "
                          r"YAML aliases are expanded", 3.0)  # fmt: skip
    assert "(at line" in text
    # Aliases are fine within the limit, which is configurable.
    small = _write(tmp_path, "s.yaml", _bomb(2) + "Resources:" + RULE.format(
        sql="!Join ['', [\"SELECT * FROM '\", !Join ['', *a0], \"'\"]]"))  # fmt: skip
    (rule,) = iotsql.load_rules(small)
    assert rule.sql == "SELECT * FROM '" + "lol" * 10 + "'"
    _refused(small, "max_document_nodes", limits=Limits(max_document_nodes=50))


def test_a_long_string_joined_to_itself_through_aliases(tmp_path: Path) -> None:
    long = "x" * 1_000_000
    sql = "!Join ['', [*s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s]]"
    path = _write(tmp_path, "t.yaml", f"s: &s {long}\nResources:" + RULE.format(sql=sql))
    _refused(path, "Fn::Join makes a string of more than Limits.max_document_bytes", 5.0)


def test_mappings_hold_data_not_intrinsic_functions(tmp_path: Path) -> None:
    # Values of Mappings were resolved as template values: mappings naming each other four
    # times over took 4**depth steps (depth 15: over a minute). CloudFormation allows no
    # intrinsic function there, so Fn::FindInMap hands the value back as data.
    mappings = "Mappings:\n  M0:\n    k:\n      v: xxxxxxxxxx\n" + "".join(
        f"  M{i}:\n    k:\n      v: [{', '.join([f'!FindInMap [M{i - 1}, k, v]'] * 4)}]\n"
        for i in range(1, 9))  # fmt: skip
    sql = "!Join ['', ['SELECT * FROM a WHERE x = ', !Select [0, !FindInMap [M8, k, v]]]]"
    path = _write(tmp_path, "t.yaml", mappings + "Resources:" + RULE.format(sql=sql))
    text = _refused(path, "Fn::FindInMap in Mappings: CloudFormation evaluates no intrinsic "
                          "function there", 1.0)  # fmt: skip
    assert "Mappings.M8.k.v" in text
    data = ("Mappings:\n  M:\n    k:\n      v: [a, b]\n      n: 5\n      o: {x: 1}\n"
            "Resources:")  # fmt: skip
    good = _write(tmp_path, "g.yaml", data + RULE.format(
        sql="!Join ['', ['SELECT * FROM a WHERE x = ', !FindInMap [M, k, n]]]"))  # fmt: skip
    (rule,) = iotsql.load_rules(good)
    assert rule.sql == "SELECT * FROM a WHERE x = 5"
    bad = _write(tmp_path, "b.yaml", data + RULE.format(sql="!FindInMap [M, k, o]"))
    _refused(bad, "a value of Mappings is a string or a list of strings")


def test_errors_show_the_beginning_of_a_huge_value(tmp_path: Path) -> None:
    # The whole value was written into the message: megabytes on the terminal.
    sql = f"!Join ['', [[{', '.join(['xxxxxxxxxx'] * 100_000)}]]]"
    path = _write(tmp_path, "t.yaml", "Resources:" + RULE.format(sql=sql))
    text = _refused(path, r"Fn::Join can only join strings, not \[\['xxxxxxxxxx', ")
    assert len(text) < 500 and text.endswith("...]]")


def test_a_50_mb_template_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    topic = "  T{n}:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: topic-name-{n}\n"
    text = "Resources:\n" + "".join(topic.format(n=n) for n in range(650_000))
    assert len(text) > 50_000_000
    path = _write(tmp_path, "t.yaml", text)
    _refused(path, r"the file is larger than Limits.max_document_bytes \(16,777,216 bytes\)", 2.0)
    if Path("/dev/zero").exists():  # no size to check beforehand: read no further than it
        _refused("/dev/zero", "the file is larger than Limits.max_document_bytes", 5.0)
    # Within a raised limit it is read with libyaml's parser when PyYAML has it.
    assert cloudformation.FastTemplateLoader.__mro__[1].__name__ in ("CSafeLoader", "SafeLoader")


def test_files_are_read_without_allocating_the_file_limit(tmp_path: Path) -> None:
    # Reading up to the limit in one call would allocate Limits.max_document_bytes (16 MiB)
    # for any file; a chunk at a time allocates what the file holds.
    path = _write(tmp_path, "t.yaml", "Resources:" + RULE.format(sql="\"SELECT * FROM 'a'\""))
    iotsql.load_rules(path)  # imports and caches, once
    (rule,), peak = peak_memory(lambda: iotsql.load_rules(path))
    assert rule.sql == "SELECT * FROM 'a'"
    assert peak < 2_000_000, f"{peak:,} bytes"
    # A file over the limit is refused on its size, before any of it is read.
    big = _write(tmp_path, "big.yaml", "#" * (Limits().max_document_bytes + 1_000))
    _, peak = peak_memory(
        lambda: _refused(big, "the file is larger than Limits.max_document_bytes")
    )
    assert peak < 2_000_000, f"{peak:,} bytes"


_JOINS = "{'Fn::Join': ['', [" * 250 + "'x'" + "]]}" * 250
_JSON_RULE = {"Type": "AWS::IoT::TopicRule", "Properties": {"TopicRulePayload": {"Sql": "S"}}}
_JSON_JOINS = json.dumps({"Resources": {"Rule": _JSON_RULE}}).replace(
    '"S"', '{"Fn::Join": ["", [' * 250 + '"x"' + "]]}" * 250
)


@pytest.mark.parametrize(
    ("name", "text", "place"),
    [
        ("alias.yaml", "Resources:" + RULE.format(sql="&a [x, *a]"), "line 6"),
        (
            "join.yaml",
            "Resources:" + RULE.format(sql=_JOINS),
            "line 6",
        ),
        ("deep.yaml", "Resources:\n  X: " + "[" * 10_000 + "]" * 10_000 + "\n", "line 2"),
        ("deep.json", '{"Resources": ' + "[" * 100_000 + "]" * 100_000 + "}", "line 1"),
        ("join.json", _JSON_JOINS, "line 1"),
    ],
)
def test_recursion_ends_in_an_error_naming_the_place(
    tmp_path: Path, name: str, text: str, place: str
) -> None:
    path = _write(tmp_path, name, text)
    message = _refused(path, "", 5.0)
    assert place in message, message
    assert "RecursionError" not in message


def test_conditions_nested_deeper_than_the_limit(tmp_path: Path) -> None:
    conditions = "".join(f"  C{i}: !Condition C{i + 1}\n" for i in range(200))
    conditions += "  C200: !Equals [a, a]\n"
    rule = RULE.replace("    Type: AWS::IoT::TopicRule\n", "    Type: AWS::IoT::TopicRule\n"
                        "    Condition: C0\n")  # fmt: skip
    path = _write(tmp_path, "t.yaml", "Conditions:\n" + conditions + "Resources:" +
                  rule.format(sql="\"SELECT * FROM 'a'\""))  # fmt: skip
    text = _refused(path, "conditions nested more than Limits.max_document_depth")
    assert ": Conditions.C" in text


def test_decoded_data_with_a_cycle_or_too_deep() -> None:
    template: dict[str, Any] = {"Resources": {}}
    template["Resources"]["Loop"] = template
    with pytest.raises(RuleValidationError, match="contains itself") as info:
        iotsql.load_rules(template)
    assert info.value.field == "<rules>: Resources.Loop"
    deep: Any = "x"
    for _ in range(5_000):
        deep = [deep]
    with pytest.raises(RuleValidationError, match="max_document_depth"):
        iotsql.load_rules({"Resources": {"R": deep}})


def test_a_yaml_list_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "rules.yaml", "- a\n- b\n")
    text = _refused(path, "a rule definition must be a JSON object")
    assert text.startswith(f"{path}[0]: ")


# ---- Terraform -----------------------------------------------------------------------------------

TF_RULE = """
resource "aws_iot_topic_rule" "r" {{
  {meta}
  name        = "r_${{{index}}}"
  enabled     = true
  sql         = "SELECT * FROM 'a'"
  sql_version = "2016-03-23"
}}
"""


def test_terraform_count_is_capped(tmp_path: Path) -> None:
    path = _write(tmp_path, "main.tf", TF_RULE.format(meta="count = 100000000",
                                                      index="count.index"))  # fmt: skip
    text = _refused(path, r"count = 100000000: a resource expands to at most "
                          r"Limits.max_resource_instances \(1,000\)", 5.0)  # fmt: skip
    assert ": aws_iot_topic_rule.r.count: " in text
    three = _write(tmp_path, "three.tf", TF_RULE.format(meta="count = 3", index="count.index"))
    assert [r.name for r in iotsql.load_rules(three)] == ["r_0", "r_1", "r_2"]
    _refused(three, "max_resource_instances", limits=Limits(max_resource_instances=2))


def test_terraform_for_each_is_capped(tmp_path: Path) -> None:
    entries = ", ".join(f'k{i} = "v"' for i in range(1_001))
    text = f'variable "m" {{\n  default = {{ {entries} }}\n}}\n' + TF_RULE.format(
        meta="for_each = var.m", index="each.key")  # fmt: skip
    path = _write(tmp_path, "main.tf", text)
    assert ": aws_iot_topic_rule.r.for_each: " in _refused(path, "for_each over 1,001 items")


def test_terraform_locals_that_refer_to_themselves_or_grow(tmp_path: Path) -> None:
    cycle = "locals {\n  a = [local.b]\n  b = [local.a]\n}\n"
    path = _write(tmp_path, "cycle.tf", cycle + TF_RULE.format(meta="", index="local.a[0]"))
    assert "refers to itself" in _refused(path, "aws_iot_topic_rule.r")
    chain = "locals {\n" + "".join(f"  l{i} = local.l{i + 1}\n" for i in range(500))
    chain += '  l500 = "x"\n}\n'
    path = _write(tmp_path, "chain.tf", chain + TF_RULE.format(meta="", index="local.l0"))
    _refused(path, "nested more than Limits.max_document_depth")
    doubling = "locals {\n  d0 = \"xxxxxxxx\"\n" + "".join(
        f'  d{i + 1} = "${{local.d{i}}}${{local.d{i}}}"\n' for i in range(40)) + "}\n"  # fmt: skip
    path = _write(tmp_path, "grow.tf", doubling + TF_RULE.format(meta="", index="local.d40"))
    _refused(path, "longer than Limits.max_document_bytes", 10.0)


def _four_copies(depth: int) -> str:
    return "".join(f"  a{i + 1} = [local.a{i}, local.a{i}, local.a{i}, local.a{i}]\n"
                   for i in range(depth))  # fmt: skip


@pytest.mark.parametrize(
    "locals_",
    [
        # 14,000 characters, each replaced by 14,000: 196 MB from two lines
        f'  big = "{"a" * 14_000}"\n  r = replace(local.big, "a", local.big)\n',
        # a 100 KB string referred to 2,000 times, then joined: 200 MB
        f'  s = "{"b" * 100_000}"\n  l = [{", ".join(["local.s"] * 2_000)}]\n'
        '  r = join("", local.l)\n',
        # 4**12 strings that share 13 lists until jsonencode writes them: 200 MB of text
        '  a0 = ["xxxxxxxxxx"]\n' + _four_copies(12) + "  r = jsonencode(local.a12)\n",
        # a list doubled 25 times: 33 million items, 268 MB of references
        '  c0 = ["x"]\n'
        + "".join(f"  c{i + 1} = concat(local.c{i}, local.c{i})\n" for i in range(25))
        + "  r = length(local.c25)\n",
    ],
    ids=["replace", "join", "jsonencode", "concat"],
)
def test_terraform_functions_are_measured_before_they_make_their_value(
    tmp_path: Path, locals_: str
) -> None:
    # Each was made whole, then found too long (hundreds of MB first; the replace of 1 MB by
    # 1 MB was a MemoryError reported as 'cannot evaluate locally', and the jsonencode of
    # 4**20 strings ran for minutes and gigabytes).
    path = _write(tmp_path, "main.tf",
                  "locals {\n" + locals_ + "}\n" + TF_RULE.format(meta="", index="local.r"))  # fmt: skip
    _, peak = peak_memory(lambda: _refused(path, "longer than Limits.max_document_bytes"))
    # (the locals made before the one refused are kept: a list of 8 million items, 64 MB, and
    # the halves it was made of)
    assert peak < 160 << 20, f"{peak >> 20} MB allocated"


def test_terraform_function_results_within_the_bound_are_made(tmp_path: Path) -> None:
    locals_ = ('  a0 = ["x"]\n' + _four_copies(3) + '  j = jsonencode(local.a3)\n'
               '  r = replace(local.j, "x", "yz")\n')  # fmt: skip
    path = _write(tmp_path, "main.tf",
                  "locals {\n" + locals_ + "}\n" + TF_RULE.format(meta="", index="length(local.r)"))  # fmt: skip
    (rule,) = iotsql.load_rules(path)
    made = json.dumps([[[["x"]] * 4] * 4] * 4, separators=(",", ":")).replace("x", "yz")
    assert rule.name == f"r_{len(made)}"


def test_terraform_nested_too_deeply(tmp_path: Path) -> None:
    path = _write(tmp_path, "deep.tf", "locals {\n  a = " + "[" * 10_000 + "]" * 10_000 + "\n}\n")
    assert "(at line 2, column" in _refused(path, "nested more than Limits.max_document_depth")


def test_the_alias_and_depth_scan_uses_libyaml_when_pyyaml_has_it() -> None:
    """The scan reads every event of a template before it is loaded: libyaml's parser, not the
    pure-Python one, wherever PyYAML was built with it (PyYAML keeps it in yaml.cyaml)."""
    import yaml

    from iotsql.loaders import bounds

    assert (bounds.CParser is not None) == bool(yaml.__with_libyaml__)
