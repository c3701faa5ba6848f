"""The grammar and the AST: every documented statement parses, malformed ones fail with a
positioned SqlParseError, and unparse() round-trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from strategies import statements

import iotsql
from iotsql import ast
from iotsql.parser import MAX_NESTING_DEPTH, parse, parse_expression

DOCUMENTED = [
    "SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50",
    "SELECT * FROM 'topic/subtopic'",
    "SELECT *, 15 as speed FROM 'topic/subtopic'",
    "SELECT VALUE color FROM 'topic/subtopic'",
    "SELECT color.red as red_value FROM 'topic/subtopic'",
    "SELECT (temperature - 32) * 5 / 9 AS celsius, upper(color) as my_color FROM 'topic/subtopic'",
    "SELECT foo.bar AS bar.baz FROM 'topic/subtopic'",
    'SELECT * from \'iot/rules\' WHERE get(get(get(mydata,"item2"),"0"),"my-key") = "myValue"',
    "SELECT temp, md5(deviceid) AS hashed_id FROM topic/#",
    "SELECT CASE color WHEN 'green' THEN 'go' WHEN 'yellow' THEN 'caution' "
    "WHEN 'red' THEN 'stop' ELSE 'you are not at a stop light' END as instructions "
    "FROM 'topic/subtopic'",
    "SELECT {'latitude': get(lat_long, 0),'longitude':get(lat_long, 1)} as lat_long "
    "FROM 'topic/subtopic'",
    "SELECT [lat,long] as lat_long FROM 'topic/subtopic'",
    "SELECT (SELECT VALUE n FROM e) as sensors FROM 'my/topic'",
    "SELECT (SELECT v FROM e WHERE n = 'temperature') as temperature FROM 'my/topic'",
    "SELECT get((SELECT v FROM e WHERE n = 'temperature'), 0).v as temperature FROM 'topic'",
    "SELECT VALUE arr FROM 'topic'",
    "SELECT * FROM 'topic/subtopic' WHERE timestamp() % 12 = 0",
    "SELECT *, principal() as principal, timestamp() as time FROM 'topic/subtopic'",
    "SELECT encode(*, 'base64') AS data, timestamp() AS ts FROM 'topic/subtopic'",
    "SELECT decode(encode(*, 'base64'), 'base64') AS payload FROM 'topic'",
    "SELECT decode(encode(*, 'base64'), 'base64') AS value FROM 'topic/subtopic' "
    "WHERE decode(encode(*, 'base64'), 'base64') > 50",
    "SELECT * FROM 'Buildings/#'",
    "SELECT parse_time(\"yyyy.MM.dd G 'at' HH:mm:ss z\", 100000000, 'America/Belize' ) as ts "
    "FROM 'A/B'",
    "select value transform('enrichArray', (select a, b from data2), (select value c from data2)) "
    "from 'A/B'",
    "SELECT cast(true as Int) AS x FROM 'a'",
    "SET @temp_celsius = (temp_fahrenheit - 32) * 5 / 9 "
    "SELECT @temp_celsius AS celsius, humidity FROM 'device/data'",
    "SET @device_sensor_data = device1.deviceData.sensors "
    "SELECT @device_sensor_data.temp_fahrenheit AS temp_fahrenheit, "
    "@device_sensor_data.humidity as humidity, device1.deviceId as deviceId FROM 'device/data'",
    "select * from 'a/b' where 3 in arr",
    "select * from 'a/b' where exists (select * from arr as a where a = 3)",
    "select * from 'a/b' where exists (select * from e as e where foo = 2)",
    'SELECT {"key-with-hyphen": color, "123-numeric-start": temperature} FROM \'topic/subtopic\'',
    "SELECT * FROM '$aws/events/lifecycle/+' WHERE get_registry_data(\"DescribeThing\", "
    "clientId, 'arn:aws:iam::1:role/r').thingTypeName = 'testenv'",
    "SELECT VALUE *.messages FROM 'test/test2'",
    "SELECT (SELECT * FROM Pos WHERE L1 <> isNull(SELECT VALUE L1 FROM Pos) ) as required_array "
    "FROM 'test/test3'",
    "SELECT * WHERE n > 1",
]


@pytest.mark.parametrize("sql", DOCUMENTED)
def test_documented_statements_parse_and_round_trip(sql: str) -> None:
    tree = parse(sql)
    assert parse(ast.unparse(tree)) == tree


@given(statements)
@settings(max_examples=300, deadline=None)
def test_unparse_round_trips(statement: ast.Statement) -> None:
    text = ast.unparse(statement)
    assert parse(text) == statement, text


def test_keywords_are_case_insensitive_and_contextual() -> None:
    tree = parse("sElEcT timestamp() As timestamp, state.value AS value fRoM 'a' WhErE x.in = 1")
    assert tree.select.items[0].alias == ("timestamp",)
    assert tree.select.items[1].expr == ast.Member(ast.Name("state"), "value")
    assert tree.topic == "a"


def test_topic_filters_in_every_quoting() -> None:
    assert parse("SELECT * FROM 'a/+/b'").topic == "a/+/b"
    assert parse('SELECT * FROM "a/#"').topic == "a/#"
    assert parse("SELECT * FROM $aws/things/+/shadow/update WHERE a").topic == (
        "$aws/things/+/shadow/update"
    )
    assert parse("SELECT * FROM 'it''s'").topic == "it's"
    assert parse("SELECT *").topic is None


def test_literals() -> None:
    items = parse(
        'SELECT \'it\'\'s\', "say ""hi""", 1234567890123456789012345678901234, 1.5e3, .5, '
        "true, FALSE, Null FROM 't'"
    ).select.items
    values = [i.expr for i in items]
    assert values[0] == ast.StringLit("it's")
    assert values[1] == ast.StringLit('say "hi"')
    assert values[2] == ast.IntLit(1234567890123456789012345678901234)
    assert values[3] == ast.DecimalLit("1.5e3")
    assert values[4] == ast.DecimalLit(".5")
    assert values[5:] == [ast.BoolLit(True), ast.BoolLit(False), ast.NullLit()]


def test_precedence() -> None:
    expr = parse("SELECT VALUE NOT a = 1 AND b OR c * 2 + -d % 3 FROM 't'").select.items[0].expr
    assert ast.unparse(expr) == "NOT a = 1 AND b OR c * 2 + -d % 3"
    assert isinstance(expr, ast.Binary) and expr.op == "OR"
    left = expr.left
    assert isinstance(left, ast.Binary) and left.op == "AND"
    assert isinstance(left.left, ast.Unary) and left.left.op == "NOT"
    sub = parse("SELECT VALUE a - b - c FROM 't'").select.items[0].expr
    assert ast.unparse(sub) == "a - b - c"
    assert ast.unparse(
        ast.Binary("-", ast.Name("a"), ast.Binary("-", ast.Name("b"), ast.Name("c")))
    ) == ("a - (b - c)")


def test_positions_are_recorded() -> None:
    tree = parse("SELECT a,\n  upper(b) AS c FROM 't'")
    call = tree.select.items[1].expr
    assert (call.pos.line, call.pos.column, call.pos.end_column) == (2, 3, 11)


@pytest.mark.parametrize(
    ("sql", "line", "column"),
    [
        ("SELECT FROM 'x'", 1, 13),
        ("SELECT a FROM my topic", 1, 18),
        ("SELECT (a FROM 'x'", 1, 11),
        ("SELECT a FROM 'x' garbage", 1, 19),
        ("SELECT a FROM 'x' WHERE", 1, 24),
        ("SELECT a,\n b +\n FROM 'x'", 3, 7),
        ("SELECT mydata.item2.0.x FROM 'a'", 1, 21),
        ("SELECT a -- comment\nFROM 'x'", 1, 10),
        ("SELECT a /* c */ FROM 'x'", 1, 10),
        ("SELECT `a` FROM 'x'", 1, 8),
        ("SELECT x(a AS b) FROM 'x'", 1, 8),
        ("", 1, 1),
        ("   ", 1, 1),
        ("SELECT a FROM 'x' GROUP BY a", 1, 19),
        ("SELECT VALUE a, b FROM 'x'", 1, 15),
        ("SELECT CASE a END FROM 't'", 1, 15),
        ("SET a = 1 SELECT a", 1, 5),
    ],
)
def test_malformed_statements_fail_with_a_position(sql: str, line: int, column: int) -> None:
    with pytest.raises(iotsql.SqlParseError) as info:
        parse(sql)
    err = info.value
    assert (err.line, err.column) == (line, column), str(err)
    assert isinstance(err, iotsql.IotSqlError)
    if sql.strip():
        lines = str(err).splitlines()
        caret_line = next(i for i, text in enumerate(lines) if text.strip().startswith("^"))
        assert lines[caret_line].index("^") == column - 1


def test_errors_carry_expected_tokens_and_hints() -> None:
    with pytest.raises(iotsql.SqlParseError) as info:
        parse("SELECT a FROM my topic")
    assert "WHERE" in info.value.expected
    assert info.value.hint and "quote the topic filter" in info.value.hint
    with pytest.raises(iotsql.SqlParseError) as info:
        parse("SELECT a + FROM 'x'")
    assert info.value.hint and "FROM is read as an attribute name" in info.value.hint
    with pytest.raises(iotsql.SqlParseError) as info:
        parse("SELECT mydata.item2.0 FROM 'a'")
    assert info.value.hint and "get(" in info.value.hint


def test_an_unknown_cast_type_is_named_at_its_position() -> None:
    # AWS-observed (re:Post QUN2BMiVIFT6epdjcyfvZhug): "SqlParseException Unknown data type
    # 'BIGINT'", pointing at the type name rather than at cast(.
    with pytest.raises(iotsql.SqlParseError) as info:
        iotsql.compile("SELECT CAST('07e7' AS BIGINT) AS decimal_value FROM 't'")
    err = info.value
    assert "unknown data type 'BIGINT'" in str(err)
    assert (err.line, err.column, err.end_column) == (1, 23, 29)
    assert err.code == "SqlParseException"


def test_comments_inside_strings_are_text() -> None:
    tree = parse("SELECT '-- not a comment' AS a, \"/* nor this */\" AS b FROM 't'")
    assert tree.select.items[0].expr == ast.StringLit("-- not a comment")


def test_deep_nesting_is_a_parse_error_not_a_recursion_error() -> None:
    depth = MAX_NESTING_DEPTH + 50
    with pytest.raises(iotsql.SqlParseError) as info:
        parse("SELECT " + "abs(" * depth + "a" + ")" * depth + " FROM 't'")
    assert "nested deeper" in str(info.value)
    with pytest.raises(iotsql.SqlParseError):
        parse("SELECT " + " + ".join(["a"] * 5000) + " FROM 't'")
    with pytest.raises(iotsql.SqlParseError):
        parse("SELECT " + "- " * 5000 + "a FROM 't'")
    # Parentheses alone add no depth to the tree.
    assert parse("SELECT " + "(" * 5000 + "a" + ")" * 5000 + " FROM 't'").select.items[0].expr == (
        ast.Name("a")
    )


def test_parse_expression_reports_positions_in_the_expression() -> None:
    assert parse_expression("topic(2)") == ast.Call("topic", (ast.IntLit(2),))
    with pytest.raises(iotsql.SqlParseError) as info:
        parse_expression("a +")
    assert info.value.sql == "a +"
    assert info.value.column == 4


def test_non_string_sql_is_a_parse_error() -> None:
    with pytest.raises(iotsql.SqlParseError):
        parse(b"SELECT 1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sql", "column", "end_column", "hint"),
    [
        ("SELECT * FROM 'a' WHERE state != 'on'", 31, 33, 'use <> for "not equal"'),
        ("SELECT a!=b AS c FROM 'a'", 9, 11, 'use <> for "not equal"'),
        ("SELECT * FROM 'a' WHERE !enabled", 25, 26, "use NOT for negation"),
        ("SELECT * FROM 'a' WHERE state == 'on'", 31, 33, "use ="),
        ("SET @v == 1 SELECT @v FROM 'a'", 8, 10, "use ="),
    ],
)
def test_operators_of_other_dialects_are_rejected_with_a_hint(
    sql: str, column: int, end_column: int, hint: str
) -> None:
    # iot-sql-operators.md lists = and <> only; AWS answers "Unexpected character '!'".
    with pytest.raises(iotsql.SqlParseError) as info:
        iotsql.compile(sql)
    err = info.value
    assert (err.line, err.column, err.end_column, err.hint) == (1, column, end_column, hint)
    assert err.code == "SqlParseException"
    if "!" in sql:
        assert err.message == "unexpected character '!'"


def test_bang_and_double_equals_inside_strings_are_text() -> None:
    rule = iotsql.compile("SELECT * FROM 'a!' WHERE s <> '!=' AND t = '=='")
    assert rule.evaluate(b'{"s": "x", "t": "=="}', topic="a!") is not None


@pytest.mark.parametrize(("operator", "term", "hinted"), [
    ("OR", "a = {}", "x IN [1, 2, 3]"), ("AND", "a <> {}", "SET variables"),
])  # fmt: skip
def test_a_chain_of_one_operator_past_the_depth_says_so(
    operator: str, term: str, hinted: str
) -> None:
    """A long `a = 1 OR a = 2 OR ...` nests one level per operator: the depth error names the
    chain and the shorter ways to write it."""
    terms = f" {operator} ".join(term.format(n) for n in range(200))
    with pytest.raises(iotsql.SqlParseError) as info:
        iotsql.compile(f"SELECT a FROM 't' WHERE {terms}")
    assert f"or more {operator} in a row" in str(info.value)
    assert hinted in (info.value.hint or "")
    nested = "abs(" * 160 + "a" + ")" * 160
    with pytest.raises(iotsql.SqlParseError) as info:
        iotsql.compile(f"SELECT {nested} AS b FROM 't'")
    assert "in a row" not in str(info.value)


def test_the_keys_of_an_object_are_a_select_item() -> None:
    # docs/semantics.md (SELECT): `x.*` merges the keys of x into the output, as `*` does the
    # payload's; with an alias it is x itself. It is a whole SELECT list item, nothing else.
    statement = parse("SELECT state.reported.*, current . state.* AS s FROM 'a'")
    first, second = statement.select.items
    assert first == ast.SelectItem(parse_expression("state.reported"), None, members=True)
    assert second.members and second.alias == ("s",)
    assert first != ast.SelectItem(parse_expression("state.reported"), None)
    assert ast.unparse(statement) == "SELECT state.reported.*, current.state.* AS s FROM 'a'"
    assert parse(ast.unparse(statement)) == statement
    assert ast.unparse(parse("SELECT (a + 1).* FROM 'a'")) == "SELECT (a + 1).* FROM 'a'"


@pytest.mark.parametrize(
    ("sql", "column"),
    [
        ("SELECT VALUE state.* FROM 'a'", 14),
        ("SELECT upper(a.*) AS x FROM 'a'", 14),
        ("SELECT * FROM 'a' WHERE a.* = 1", 25),
        ("SET @v = a.* SELECT @v FROM 'a'", 10),
        ("SELECT a.*.* FROM 'a'", 8),
        ("SELECT [a.*] AS x FROM 'a'", 9),
    ],
)
def test_the_keys_of_an_object_are_refused_anywhere_else(sql: str, column: int) -> None:
    with pytest.raises(iotsql.SqlParseError) as caught:
        parse(sql)
    assert caught.value.column == column
    assert "only a whole item of a SELECT list" in caught.value.message
    with pytest.raises(iotsql.SqlParseError):
        parse_expression("a.*")


def test_a_select_list_may_end_with_a_comma() -> None:
    # AWS-observed (docs/semantics.md, Parsing): a comma before FROM is accepted and ignored.
    statement = parse("SELECT a, b AS c, FROM 't' WHERE a > 1")
    assert [item.alias for item in statement.select.items] == [None, ("c",)]
    assert statement.topic == "t"
    assert (statement.topic_pos.line, statement.topic_pos.column) == (1, 24)  # positions hold
    assert iotsql.unparse(statement) == "SELECT a, b AS c FROM 't' WHERE a > 1"
    assert len(parse("SELECT a,\n  WHERE a > 1").select.items) == 1  # Basic Ingest only
    nested = parse("SELECT (SELECT v, FROM e WHERE n = 1) AS x, FROM 't'")
    assert len(nested.select.items) == 1
    rule = iotsql.compile("SELECT a, FROM 't'")
    assert rule.evaluate(b'{"a": 1, "b": 2}', topic="t").value == {"a": 1}  # type: ignore[union-attr]


def test_from_and_where_after_a_comma_are_still_keys_where_they_parse_as_keys() -> None:
    # The comma ends the list only where reading the keyword as an attribute name fails.
    rule = iotsql.compile("SELECT a, from, where FROM 't'")
    assert rule.evaluate(b'{"a": 1, "from": 2, "where": 3}', topic="t").value == {  # type: ignore[union-attr]
        "a": 1,
        "from": 2,
        "where": 3,
    }


@pytest.mark.parametrize(
    ("sql", "column"),
    [
        ("SELECT a,, b FROM 't'", 10),  # an empty item
        ("SELECT VALUE a, FROM 't'", 15),  # VALUE takes one expression
        ("SELECT a, FROM 't' WHERE b,", 27),  # only a SELECT list ends with a comma
        ("SET @x = 1, SELECT @x FROM 't'", 13),
    ],
)
def test_other_stray_commas_are_still_parse_errors(sql: str, column: int) -> None:
    with pytest.raises(iotsql.SqlParseError) as info:
        parse(sql)
    assert (info.value.line, info.value.column) == (1, column), str(info.value)
