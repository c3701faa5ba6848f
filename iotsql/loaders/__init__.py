"""Topic rules read straight from infrastructure code.

    rules = iotsql.load_rules("template.yaml")                  # format detected
    rules = iotsql.load_rules("infra/", parameters={"stage": "test"})
    for rule in rules:
        engine.create_topic_rule(rule.name, rule.payload)

Formats (`format=`, or None to detect from the file name and content):

- `cloudformation`, `sam`: templates in YAML or JSON, hand-written or `cdk synth` output
  (cloudformation.py);
- `serverless`: a Serverless Framework `serverless.yml` (serverless.py);
- `terraform`: `.tf` / `.tf.json` files, or a folder of them (terraform.py);
- `terraform-json`: `terraform show -json` output, of a state or of a plan;
- `aws-cli`: the AWS CLI's JSON shapes (`get-topic-rule` output, `create-topic-rule` input, lists
  of them, `{"rules": [...]}`, `{name: payload}`), as `RulesEngine.load_rules` always read them.

`parameters` gives the values of template parameters, Terraform variables and Serverless
options (`stage`...); `AWS::AccountId`, `AWS::Region` and `AWS::Partition` there also set the
account, region and partition of the placeholders that stand for deployed resources
(placeholders.py). Every rule is validated as CreateTopicRule would (unless `validate=False`):
errors are RuleValidationErrors whose `field` names the file and the field in it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iotsql.errors import IotSqlError, RuleValidationError
from iotsql.limits import DEFAULT_LIMITS, Limits, current_limits, using_limits
from iotsql.loaders.awscli import iter_rule_definitions
from iotsql.loaders.base import (
    FORMATS,
    SQL_VERSION_DEFAULT,
    DuplicateRuleError,
    LoadedRule,
    LoadSession,
    LoadWarning,
    RuleSqlError,
    collecting_errors,
    refuse,
)
from iotsql.loaders.bounds import check_data, read_bounded
from iotsql.loaders.placeholders import ACCOUNT_ID, PARTITION, REGION, Environment
from iotsql.loaders.positions import FilePosition, SourceDocument, Syntax

__all__ = [
    "FORMATS",
    "SQL_VERSION_DEFAULT",
    "FilePosition",
    "LoadWarning",
    "LoadedRule",
    "RuleSqlError",
    "SourceDocument",
    "detect_format",
    "load_rules",
]

_HCL = re.compile(r'^\s*(resource|variable|locals|data|module|provider|terraform|output)\s*["{]',
                  re.MULTILINE)  # fmt: skip
_SERVERLESS_NAMES = ("serverless.yml", "serverless.yaml", "serverless.json")


def detect_format(data: Any, file_name: str = "") -> str:
    """The format of a parsed document (and its file name, when it has one)."""
    name = Path(file_name).name
    if name.endswith((".tf", ".tf.json")):
        return "terraform"
    if name in _SERVERLESS_NAMES:
        return "serverless"
    if isinstance(data, Mapping):
        if "Resources" in data or "AWSTemplateFormatVersion" in data:
            transform = data.get("Transform")
            transforms = transform if isinstance(transform, list) else [transform]
            serverless = any(
                isinstance(t, str) and t.startswith("AWS::Serverless") for t in transforms
            )
            return "sam" if serverless else "cloudformation"
        if "format_version" in data and any(k in data for k in ("values", "planned_values")):
            return "terraform-json"
        if "service" in data and ("functions" in data or "provider" in data):
            return "serverless"
        if any(k in data for k in ("resource", "variable", "locals")):
            return "terraform"
        if _looks_like_cli(data):
            return "aws-cli"
    elif isinstance(data, list):
        return "aws-cli"
    where = file_name or "the rules"
    raise RuleValidationError(
        "cannot tell what this is: expected a CloudFormation or SAM template, a serverless.yml, "
        "Terraform configuration or `terraform show -json` output, or AWS CLI topic rule JSON; "
        f"pass format= (one of {', '.join(FORMATS)})", where,
    )  # fmt: skip


def _looks_like_cli(data: Mapping[str, Any]) -> bool:
    if any(k in data for k in ("rule", "topicRulePayload", "rules", "sql")):
        return True
    return bool(data) and all(isinstance(v, Mapping) and "sql" in v for v in data.values())


def load_rules(
    path_or_text: Any,
    format: str | None = None,
    *,
    parameters: Mapping[str, Any] | None = None,
    validate: bool = True,
    limits: Limits | None = None,
) -> list[LoadedRule]:
    """Every topic rule defined in `path_or_text`: a path (a file, or a folder of Terraform
    files), the text of a document, or an already-decoded JSON value. `limits` bound what a
    file may cost (`Limits.max_document_*`, `max_resource_instances`) and validate the rules."""
    return _load_rules(path_or_text, format, parameters, validate, limits, None)


def _load_rules(
    path_or_text: Any,
    format: str | None,
    parameters: Mapping[str, Any] | None,
    validate: bool,
    limits: Limits | None,
    preread: tuple[str, Path | None, str | None, Any] | None,
) -> list[LoadedRule]:
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    given = dict(parameters or {})
    env = Environment(
        str(given.get("AWS::AccountId", ACCOUNT_ID)),
        str(given.get("AWS::Region", REGION)),
        str(given.get("AWS::Partition", PARTITION)),
    )
    with using_limits(limits or DEFAULT_LIMITS):
        try:
            rules = [
                rule.with_default_warnings()
                for rule in _load(path_or_text, format, given, env, preread)
            ]
        except RecursionError:  # a last resort: the bounds above stop what they foresee
            raise RuleValidationError(
                "nested too deeply to load (lower Limits.max_document_depth)", _label(path_or_text)
            ) from None
    seen: dict[str, LoadedRule] = {}
    for rule in rules:
        if rule.name in seen:
            refuse(DuplicateRuleError(f"the rule name {rule.name} is also used by "
                                      f"{seen[rule.name].resource}", rule.file, rule.resource))  # fmt: skip
            continue
        seen[rule.name] = rule
        if validate:
            _validate(rule, limits)
    return rules


def load_with_errors(
    path_or_text: Any,
    format: str | None = None,
    *,
    parameters: Mapping[str, Any] | None = None,
    text: str | None = None,
    data: Any = None,
) -> tuple[list[LoadedRule], LoadSession]:
    """Every rule that could be read, unvalidated, and the session of the load: the error of
    each resource (or of the whole file) that could not be read, and the evaluated definitions.
    This is what `iotsql check` reports: every problem rather than the first. `text` or `data`
    is the content of the file `path_or_text` when the caller has read it already."""
    with collecting_errors() as session:
        try:
            preread = None
            if text is not None or data is not None:
                path = Path(path_or_text)
                preread = (os.fspath(path_or_text), path, text, data)
            rules = _load_rules(path_or_text, format, parameters, False, None, preread)
        except RuleValidationError as error:
            session.errors.append(error)
            rules = []
    return rules, session


def _validate(rule: LoadedRule, limits: Limits | None) -> None:
    from iotsql.rule import TopicRule

    try:
        TopicRule(rule.name, rule.payload, limits=limits)
    except IotSqlError as err:
        raise rule.locate(err) from err


def _label(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)) and not (
        isinstance(source, str) and ("\n" in source or source.lstrip().startswith(("{", "[")))
    ):
        return os.fspath(source)
    return "<rules>" if isinstance(source, (Mapping, list)) else "<text>"


def _load(
    source: Any,
    fmt: str | None,
    parameters: dict[str, Any],
    env: Environment,
    preread: tuple[str, Path | None, str | None, Any] | None = None,
) -> list[LoadedRule]:
    documents: dict[str, SourceDocument] = {}
    rules = _load_documents(source, fmt, parameters, env, documents, preread)
    if not documents:
        return rules
    return [
        dataclasses.replace(rule, document=documents[rule.file]) if rule.file in documents
        else rule
        for rule in rules
    ]  # fmt: skip


def document_syntax(name: str, text: str) -> Syntax:
    """How a file's text is written: HCL (`.tf`), JSON or YAML."""
    if name.endswith(".tf"):
        return "hcl"
    return "json" if text.lstrip().startswith(("{", "[")) else "yaml"


def _load_documents(
    source: Any,
    fmt: str | None,
    parameters: dict[str, Any],
    env: Environment,
    documents: dict[str, SourceDocument],
    preread: tuple[str, Path | None, str | None, Any] | None = None,
) -> list[LoadedRule]:
    """The rules of `source`; `documents` receives the text of each file read, by label."""
    from iotsql.loaders import cloudformation, serverless, terraform

    label, path, text, data = preread or _read(source)
    if data is not None and preread is None:  # decoded data handed in: never parsed or checked
        check_data(data, label, current_limits())
    if path is not None and path.is_dir():
        if fmt not in (None, "terraform"):
            raise RuleValidationError(f"a folder can only hold Terraform files, not {fmt}", label)
        files, tfvars = terraform.config_files(path)
        if not files:
            raise RuleValidationError(
                "no .tf or .tf.json files in this folder (a folder is read as one Terraform "
                f"module): {_rule_files_hint(path)}", label,
            )  # fmt: skip
        texts = [(str(p), read_bounded(p, str(p))) for p in files]
        for name, content in texts:
            documents[name] = SourceDocument(name, content, document_syntax(name, content))
        return terraform.load_configuration(
            texts, parameters, env, "terraform",
            [(str(p), read_bounded(p, str(p))) for p in tfvars], str(path),
        )  # fmt: skip
    name = path.name if path is not None else ""
    if data is None:
        assert text is not None
        hcl = name.endswith(".tf") or (
            not text.lstrip().startswith(("{", "["))
            and (fmt == "terraform" or (fmt is None and not name and _HCL.search(text) is not None))
        )
        documents[label] = SourceDocument(
            label, text, "hcl" if hcl else document_syntax(name, text)
        )
        if hcl:
            directory = str(path.parent) if path is not None else "."
            return terraform.load_configuration([(label, text)], parameters, env, "terraform",
                                                directory=directory)  # fmt: skip
        data = cloudformation.parse_document(text, label)
    elif text is not None:
        documents[label] = SourceDocument(label, text, document_syntax(name, text))
    fmt = fmt or detect_format(data, name)
    if fmt == "serverless" and text is not None and not text.lstrip().startswith(("{", "[")):
        data = cloudformation.parse_document(text, label, serverless=True)  # its YAML 1.2
    if fmt in ("cloudformation", "sam"):
        return cloudformation.load_template(data, label, parameters, env, fmt)
    if fmt == "serverless":
        return serverless.load_serverless(data, label, parameters, env, fmt)
    if fmt in ("terraform", "terraform-json"):
        if isinstance(data, Mapping) and "format_version" in data:
            return terraform.load_state(data, label, env, "terraform-json")
        if isinstance(data, Mapping):
            return terraform.Configuration([(label, data)], parameters, env).rules("terraform")
        raise RuleValidationError("Terraform JSON must be an object", label)
    return _load_cli(data, label)


#: What a template, a serverless.yml or AWS CLI JSON holding topic rules contains.
_DEFINES_RULES = re.compile(r"AWS::IoT::TopicRule|IoTRule|topicRulePayload|\biot[\"']?\s*:")


def _rule_files_hint(folder: Path) -> str:
    """What to name instead of a folder that is no Terraform module (`cdk.out`, a folder of
    templates): its files that define topic rules, as `iotsql check` would find them."""
    from iotsql.loaders.cloudformation import parse_document

    found = []
    for candidate in sorted(folder.iterdir()):
        if not candidate.is_file() or not candidate.name.endswith(
            (".yaml", ".yml", ".json", ".template")
        ):
            continue
        try:
            text = read_bounded(candidate, str(candidate))
            if _DEFINES_RULES.search(text) is None:
                continue
            detect_format(parse_document(text, str(candidate)), candidate.name)
        except (IotSqlError, OSError, UnicodeDecodeError):
            continue  # not a file of rules (cdk.out's tree.json, a manifest)
        found.append(str(candidate))
    if not found:
        return "name the file that defines the rules (a template, serverless.yml, AWS CLI JSON)"
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    if len(found) == 1:
        return f"name the file that defines the rules: {shown}"
    return f"name the files that define the rules: {shown}"


def _load_cli(data: Any, label: str) -> list[LoadedRule]:
    rules = []
    for name, payload in iter_rule_definitions(data, where=label):
        resource = name
        origins = {"topicRulePayload": f"{resource}.topicRulePayload", "ruleName": resource}
        rules.append(LoadedRule(name, dict(payload), label, resource, "aws-cli", None, origins))
    return rules


def _read(source: Any) -> tuple[str, Path | None, str | None, Any]:
    """(label for errors, path, text, decoded data): one of the last three is set."""
    if isinstance(source, (Mapping, list)):
        return "<rules>", None, None, source
    if isinstance(source, (bytes, bytearray)):
        return "<text>", None, bytes(source).decode("utf-8"), None
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith(("{", "["))):
        return "<text>", None, source, None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = os.fspath(source)
        if path.is_dir():
            return label, path, None, None
        try:
            return label, path, read_bounded(path, label), None
        except FileNotFoundError:
            raise RuleValidationError(f"no such file: {path}", label) from None
        except (OSError, UnicodeDecodeError) as err:
            raise RuleValidationError(f"cannot read the file: {err}", label) from None
    raise TypeError(f"load_rules takes a path, text or decoded JSON, not {type(source).__name__}")
