"""Parameter values from outside the rule files: a parameters file, and how a loader asks for a
value it needs and was not given.

`read_parameters(path)` reads the files people already keep their parameter values in:

- CloudFormation: the JSON of `aws cloudformation create-stack --parameters file://...`
  (`[{"ParameterKey": "Env", "ParameterValue": "prod"}, ...]`), of `aws cloudformation deploy
  --parameter-overrides file://...` (`["Env=prod", ...]` or CodePipeline's
  `{"Parameters": {"Env": "prod"}}`);
- Terraform: `.tfvars` (HCL, with the `terraform` extra) and `.tfvars.json`;
- Serverless options and params, or anything else: a JSON or YAML object (`{"stage": "prod"}`);
- `KEY=VALUE` lines (a `.env` file): `#` comments, blank lines, `export ` and quotes allowed.

`parameter_hint(template)` sets, for the loaders called inside it, how their errors tell the
user to give a missing value: `iotsql replay` says `--parameters Env=VALUE`, the pytest plugin
names its ini setting, the library `parameters={'Env': ...}`.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

#: How a missing value is asked for; `{name}` is the parameter's name.
LIBRARY_HINT = "pass parameters={{{name!r}: ...}}"
_HINT: ContextVar[str] = ContextVar("iotsql_parameter_hint", default=LIBRARY_HINT)


def give_value(name: str) -> str:
    """The words that tell the user how to give `name` a value, in the current front end's
    terms."""
    return _HINT.get().format(name=name)


@contextlib.contextmanager
def parameter_hint(template: str) -> Iterator[None]:
    """Phrase `give_value` with `template` (`{name}` is the parameter) inside the block."""
    token = _HINT.set(template)
    try:
        yield
    finally:
        _HINT.reset(token)


class DeclaredParameters:
    """The parameter names the files loaded inside `declaring_parameters()` declare: a
    template's `Parameters` (and the `Fn::ImportValue` names it reads), a Terraform module's
    variables; `any_name` once a file takes any name (a serverless.yml: its options, params and
    variable sources are free). Pseudo parameters (`AWS::Region`...) are always known."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.any_name = False

    def unknown(self, given: Iterable[str]) -> list[str]:
        """The names of `given` that no file declares, in their order."""
        if self.any_name:
            return []
        return [name for name in given
                if not name.startswith("AWS::") and name.removeprefix("var.") not in self.names]  # fmt: skip

    def refusal(self, unknown: list[str], how: str) -> str:
        """Why `unknown` names were refused, as CloudFormation and Terraform refuse a value for a
        parameter or variable that is not declared, with the name meant; `how` says where they
        were given (`--parameters`)."""
        from iotsql.suggest import did_you_mean

        names = ", ".join(unknown)
        meant = "".join(did_you_mean(name, self.names) for name in unknown[:1])
        declared = ", ".join(sorted(self.names)) or "none"
        return (
            f"{how}: {names}: no rules file declares {'it' if len(unknown) == 1 else 'them'}"
            f"{meant} (declared: {declared})"
        )


_DECLARED: ContextVar[DeclaredParameters | None] = ContextVar("iotsql_declared", default=None)


@contextlib.contextmanager
def declaring_parameters() -> Iterator[DeclaredParameters]:
    """Collect the parameter names that the files loaded inside the block declare."""
    declared = DeclaredParameters()
    token = _DECLARED.set(declared)
    try:
        yield declared
    finally:
        _DECLARED.reset(token)


def declare(names: Iterable[str] = (), *, any_name: bool = False) -> None:
    """Called by a loader: its file declares `names` (or takes any name)."""
    declared = _DECLARED.get()
    if declared is not None:
        declared.names.update(names)
        declared.any_name = declared.any_name or any_name


class ParametersFileError(ValueError):
    """A parameters file that cannot be read; the message names the file."""


def read_parameters(path: str | Path) -> dict[str, Any]:
    """The parameter values of a parameters file (see the module's docstring for the forms)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParametersFileError(f"{source}: no such file") from None
    except UnicodeDecodeError:
        raise ParametersFileError(f"{source}: not UTF-8 text") from None
    except OSError as error:
        raise ParametersFileError(f"{source}: cannot read it: {error.strerror or error}") from None
    name = source.name.lower()
    if name.endswith(".tfvars"):
        return _tfvars(str(source), text)
    if name.endswith((".json", ".yaml", ".yml")):
        return _document(str(source), _load(str(source), text, yaml=not name.endswith(".json")))
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return _document(str(source), _load(str(source), text, yaml=False))
    return _lines(str(source), text)


def _load(file: str, text: str, *, yaml: bool) -> Any:
    if not yaml:
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ParametersFileError(
                f"{file}: invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
            ) from None
    import yaml as pyyaml

    try:
        return pyyaml.safe_load(text)
    except pyyaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ParametersFileError(f"{file}: invalid YAML{where}: {problem}") from None


_FORMS = (
    'expected an object of values ({"Env": "prod"}), CodePipeline\'s {"Parameters": {...}}, '
    'CloudFormation\'s [{"ParameterKey": ..., "ParameterValue": ...}], or ["Env=prod", ...]'
)


def _document(file: str, data: Any) -> dict[str, Any]:
    if isinstance(data, Mapping):
        inner = data.get("Parameters")
        if isinstance(inner, Mapping) and set(data) <= {"Parameters", "Tags", "StackPolicy"}:
            data = inner  # a CodePipeline template configuration file
        return {str(key): value for key, value in data.items()}
    if isinstance(data, list):
        values: dict[str, Any] = {}
        for index, item in enumerate(data):
            if isinstance(item, Mapping) and "ParameterKey" in item:
                if item.get("UsePreviousValue") and "ParameterValue" not in item:
                    raise ParametersFileError(
                        f"{file}[{index}]: UsePreviousValue needs a deployed stack; give "
                        "ParameterValue instead"
                    )
                values[str(item["ParameterKey"])] = item.get("ParameterValue")
            elif isinstance(item, str) and "=" in item:
                key, _, value = item.partition("=")
                values[key.strip()] = value
            else:
                raise ParametersFileError(f"{file}[{index}]: {_FORMS}")
        return values
    raise ParametersFileError(f"{file}: {_FORMS}")


_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][\w:./-]*)\s*=\s*(.*)$")


def _lines(file: str, text: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ParametersFileError(f"{file}:{number}: expected KEY=VALUE, not {line!r}")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _tfvars(file: str, text: str) -> dict[str, Any]:
    from iotsql.errors import RuleValidationError
    from iotsql.loaders.placeholders import ACCOUNT_ID, PARTITION, REGION, Environment
    from iotsql.loaders.terraform import tfvars_values

    try:
        return tfvars_values([(file, text)], Environment(ACCOUNT_ID, REGION, PARTITION))
    except RuleValidationError as error:
        raise ParametersFileError(str(error)) from None
