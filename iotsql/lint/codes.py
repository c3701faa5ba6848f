"""The codes of `iotsql check`'s findings: stable names (`like-operator`), a severity, what the
finding means and how to fix it, and the id the cfn-lint plugin reports it under (`E9104`;
cfn-lint keeps E9xxx/W9xxx/I9xxx for rules of its users). docs/check.md lists each with an
example; a test keeps the two in step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Code:
    name: str
    severity: Severity
    title: str
    fix: str
    cfn_lint_id: str
    default: bool = True

    @property
    def help_uri(self) -> str:
        return f"https://github.com/iotsql/iotsql/blob/main/docs/check.md#{self.name}"


_ALL = (
    # ---- the SQL: what CreateTopicRule refuses -----------------------------------------------
    Code("syntax", "error", "The SQL does not parse.",
         "Fix the statement at the caret; the message lists what was expected there.", "E9100"),
    Code("unknown-function", "error", "A function AWS IoT SQL does not have.",
         "Use the function named in the hint (a misspelling, or another dialect's name).",
         "E9101"),
    Code("aggregate-function", "error",
         "An aggregate (COUNT, SUM, AVG, MIN, MAX...): a rule sees one message at a time.",
         "Aggregate where the action delivers (Timestream, IoT Analytics, a Lambda), or over an "
         "array of one message with a nested query.", "E9102"),
    Code("version", "error", "A feature of a later SQL version than the rule's.",
         "Set awsIotSqlVersion to the version named (2016-03-23 has nested queries, "
         "SELECT VALUE of arrays, encode()...).", "E9103"),
    Code("like-operator", "error", "LIKE is not an operator of AWS IoT SQL.",
         "startswith(s, 'a'), endswith(s, 'b') or regexp_matches(s, '^a.*b$').", "E9104"),
    Code("between-operator", "error", "BETWEEN is not an operator of AWS IoT SQL.",
         "x >= low AND x <= high.", "E9105"),
    Code("is-null", "error", "IS [NOT] NULL is not AWS IoT SQL.",
         "isNull(x) for a null value, isUndefined(x) for a missing key (NOT ... for the "
         "opposite).", "E9106"),
    Code("in-parentheses", "error", "IN with a parenthesised list: AWS's IN takes an array.",
         "x IN ['a', 'b'] with square brackets.", "E9107"),
    Code("not-in", "error", "x NOT IN [...]: NOT is a prefix operator.",
         "NOT (x IN ['a', 'b']).", "E9108"),
    Code("double-equals", "error", "`==` is not an operator.", "Use `=`.", "E9109"),
    Code("bang-operator", "error", "`!=` and `!` are not operators of AWS IoT SQL.",
         'Use `<>` for "not equal", NOT for negation.', "E9110"),
    Code("unsupported-clause", "error",
         "LIMIT, OFFSET, ORDER BY, GROUP BY, HAVING, JOIN or UNION: a rule handles one message.",
         "Remove the clause; do the work where the action delivers, or in a second rule.",
         "E9111"),
    Code("trailing-semicolon", "error", "A `;` after the statement.",
         "Remove it: a rule holds one statement, without a terminator.", "E9112"),
    Code("backtick-quote", "error", "Backtick quoting (MySQL's).",
         "Quote the topic filter with single quotes (FROM 'a/b'); read an odd key with "
         "get(*, 'my-key').", "E9113"),
    Code("keyword-typo", "error", "A misspelt keyword (FORM, SELCT, WHER...).",
         "Write the keyword named in the hint.", "E9114"),
    Code("symbol-operator", "error", "`&&` and `||` are not operators of AWS IoT SQL.",
         "Use AND and OR; concat(a, b) joins strings.", "E9116"),
    Code("quoted-alias", "error", "A quoted alias (`AS 'x'`, `AS \"x\"`): an alias is a name.",
         "Write the alias without quotes, as a name (AS max_temp).", "E9117"),
    Code("unescaped-quote", "error", "A quote inside a string that is not doubled ('it's').",
         "Write the quote twice inside the string: 'it''s'.", "E9118"),
    Code("invalid-sql", "error", "CreateTopicRule would refuse the statement (a limit, a cast "
         "type, a literal argument...).", "Change the statement as the message says.", "E9115"),
    # ---- the SQL: legal, but almost certainly not what was meant ----------------------------
    Code("hyphenated-key", "warning",
         "`a.my-key` is a subtraction: a key with a hyphen is read with get().",
         "get(a, 'my-key'), or `a - b` with spaces to subtract.", "W9120"),
    Code("alias-in-where", "warning",
         "WHERE names a SELECT alias; WHERE reads the payload, not the aliases.",
         "Repeat the expression in WHERE, or compute it once with SET @v = ... .", "W9121"),
    Code("arity", "warning",
         "A function called with the wrong number of arguments (AWS evaluates it to "
         "Undefined).", "Pass the arguments the function's signature (in the hint) takes.",
         "W9122"),
    # Off by default: every rule without FROM found in public templates was meant for Basic
    # Ingest (LoRaWAN and Sidewalk decoders, HTTP and device ingest: docs/check.md).
    Code("from-missing", "info",
         "No FROM: the rule receives only Basic Ingest messages ($aws/rules/<name>/...).",
         "Add FROM 'topic/filter' if the rule should also receive messages published through "
         "the broker.", "I9123", default=False),
    Code("in-not-array", "warning",
         "IN whose right side is a literal that is not an array (it never matches).",
         "x IN ['a', 'b'].", "W9124"),
    Code("sql-warning", "warning", "Another warning of the SQL compiler.",
         "See the message.", "W9125"),
    Code("call-limit", "warning",
         "An external function called more often than AWS allows in one statement (one "
         "get_dynamodb(), aws_lambda()...): the rule ends without invoking any actions.",
         "Call the function once (SET @item = get_dynamodb(...), then read @item), or split the "
         "work into rules.", "W9126"),
    Code("quoted-name", "warning",
         "`\"temp\"` is a string in AWS IoT SQL, not the attribute temp (PostgreSQL and "
         "standard SQL quote names so).",
         "Write the attribute without quotes (temp), or get(*, 'my key') for a key that is not "
         "an identifier.", "W9127"),
    Code("topic-level", "warning",
         "topic(0), or a level past the 8 a topic can have: always Undefined.",
         "topic(1) is the first level; topic() is the whole topic.", "W9128"),
    # ---- the rule and the template -----------------------------------------------------------
    Code("sql-version-default", "warning",
         "The rule has no awsIotSqlVersion: the API uses 2015-10-08 (the console proposes "
         "2016-03-23).",
         "Set awsIotSqlVersion (AwsIotSqlVersion, sql_version, sqlVersion) explicitly, usually "
         "to 2016-03-23.", "W9200"),
    Code("sql-version-invalid", "error", "awsIotSqlVersion is not a version AWS IoT has.",
         "Use 2015-10-08, 2016-03-23 or beta.", "E9201"),
    Code("invalid-rule", "error",
         "CreateTopicRule would refuse the rule (a required field, a value, a substitution "
         "template, a limit).", "Change the field named in the message.", "E9202"),
    Code("republish-loop", "error",
         "A republish action into the rule's own topic space (CreateTopicRule refuses it).",
         "Republish to a topic the rule's FROM filter does not match.", "E9203"),
    Code("unknown-property", "error",
         "A property the CloudFormation schema does not have (names are case-sensitive).",
         "Use the property named in the hint.", "E9204"),
    Code("missing-property", "error", "A property the CloudFormation schema requires.",
         "Add the property.", "E9205"),
    Code("invalid-value", "error", "A value of the wrong kind or not among the allowed ones.",
         "Use a value the schema allows (the hint names the close one).", "E9206"),
    Code("getatt-attribute", "error",
         "Fn::GetAtt of an attribute the target resource type does not have.",
         "Use an attribute the type has (the message lists them).", "E9207"),
    Code("template-error", "error",
         "The definition cannot be evaluated (a Ref or variable to nothing, a bad intrinsic "
         "function, a value only a deployment knows used in the SQL).",
         "Fix the reference, give the parameter a default or pass its value "
         "(--parameters NAME=VALUE).", "E9208"),
    Code("duplicate-rule-name", "error", "Two rules with one name.",
         "Rename one of them.", "E9209"),
    Code("lambda-permission-missing", "warning",
         "A Lambda action whose function has no permission for iot.amazonaws.com in the same "
         "template: the rule deploys, and the function is never invoked.",
         "Add an AWS::Lambda::Permission (aws_lambda_permission) with Action "
         "lambda:InvokeFunction, Principal iot.amazonaws.com and the rule's ARN as SourceArn.",
         "W9210"),
    Code("retired-action", "warning",
         "An iotAnalytics or iotEvents action: AWS retired the service it delivers to, and the "
         "rule actions page no longer lists it, so every delivery fails.",
         "Deliver elsewhere (IoT SiteWise, Timestream, S3, Kinesis, a Lambda...), and remove the "
         "action.", "W9213"),
    Code("no-error-action", "info", "The rule has no error action: failed actions leave no trace.",
         "Add an errorAction (to CloudWatch Logs, SQS, S3...).", "I9211", default=False),
    Code("document-syntax", "error", "The file is not valid YAML, JSON or HCL.",
         "Fix the file at the position given.", "E9212"),
)  # fmt: skip

CODES: dict[str, Code] = {code.name: code for code in _ALL}
DEFAULT_CODES = frozenset(code.name for code in _ALL if code.default)


def code(name: str) -> Code:
    return CODES[name]
