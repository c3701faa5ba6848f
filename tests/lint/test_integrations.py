"""iotsql in the tools teams already run: the cfn-lint plugin exercised through cfn-lint itself
(`cfn-lint template.yaml --append-rules iotsql.cfnlint`, in a subprocess), and the pre-commit
hook definition exercised with `pre-commit try-repo` on a repository made from this one, offline
(the hook's virtualenv sees the installed packages, pip uses no index)."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lint_support import DATA, REPOSITORY

from iotsql.lint.codes import CODES

CFN_LINT = "import sys; from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; sys.exit(main())"


def cfn_lint(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CFN_LINT, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def cfn_lint_report(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:  # type: ignore[type-arg]
    folder = tmp_path_factory.mktemp("cfn")
    shutil.copy(DATA / "cloudformation" / "template.yaml", folder / "template.yaml")
    result = cfn_lint("template.yaml", "--format", "json", "--append-rules", "iotsql.cfnlint",
                      "--include-checks", "I9211", cwd=folder)  # fmt: skip
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    report: list[dict] = json.loads(result.stdout)  # type: ignore[type-arg]
    return report


def test_the_cfn_lint_plugin_reports_iotsqls_findings_at_the_templates_places(
    cfn_lint_report: list[dict],  # type: ignore[type-arg]
) -> None:
    ids = {code.cfn_lint_id: name for name, code in CODES.items()}
    ours = sorted(
        (m["Location"]["Start"]["LineNumber"], m["Location"]["Start"]["ColumnNumber"],
         ids[m["Rule"]["Id"]], m["Level"])
        for m in cfn_lint_report if m["Rule"]["Id"] in ids
    )  # fmt: skip
    assert ours == [
        (24, 7, "no-error-action", "Informational"),
        (29, 26, "like-operator", "Error"),
        (37, 7, "no-error-action", "Informational"),
        (49, 7, "no-error-action", "Informational"),
        (59, 7, "no-error-action", "Informational"),
        (59, 7, "sql-version-default", "Warning"),
        (60, 29, "keyword-typo", "Error"),
        (63, 15, "lambda-permission-missing", "Warning"),
        (67, 7, "no-error-action", "Informational"),
        (69, 80, "hyphenated-key", "Warning"),
        (72, 15, "republish-loop", "Error"),
    ]
    like = next(m for m in cfn_lint_report if m["Rule"]["Id"] == "E9104")
    assert "AWS IoT SQL has no LIKE" in like["Message"] and "[rule HighTemp]" in like["Message"]
    assert like["Location"]["End"] == {"LineNumber": 29, "ColumnNumber": 30}
    assert like["Rule"]["Source"].endswith("docs/check.md#like-operator")
    # what cfn-lint checks itself is reported once, by cfn-lint
    own = {(m["Rule"]["Id"], m["Location"]["Start"]["LineNumber"]) for m in cfn_lint_report}
    assert {("E3002", 42), ("E3002", 43), ("E3002", 44), ("E1010", 54)} <= own


def test_cfn_lint_options_select_the_plugins_rules(tmp_path: Path) -> None:
    shutil.copy(DATA / "sam" / "template.yaml", tmp_path / "template.yaml")
    result = cfn_lint("template.yaml", "--format", "parseable", "--append-rules",
                      "iotsql.cfnlint", "--ignore-checks", "W9210", cwd=tmp_path)  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if ":E91" in line or ":W9" in line]
    assert lines == [
        "template.yaml:18:33:18:35:E9106:unexpected 'IS' (hint: AWS IoT SQL has no IS NOT NULL: "
        "use NOT isNull(x) for a null value, NOT isUndefined(x) for a missing key) "
        "[rule HandlerReadings]",
        "template.yaml:24:47:24:52:E9111:unexpected 'LIMIT' (hint: AWS IoT SQL has no LIMIT: a "
        "rule handles one message at a time; to keep part of an array use a nested query or an "
        "index (SELECT VALUE items[0] ...)) [rule Forward]",
    ]


def _hook_repository(target: Path) -> None:
    """A git repository holding what installing iotsql needs, and the hook definition."""
    for name in ("iotsql", "grammar"):
        shutil.copytree(REPOSITORY / name, target / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    for name in ("pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml"):
        if (REPOSITORY / name).exists():
            shutil.copy(REPOSITORY / name, target / name)
    _git(target, "init", "-q")
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "-m", "hooks")


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                   cwd=folder, check=True, capture_output=True)  # fmt: skip


def test_the_hook_definition_is_valid() -> None:
    (hook,) = yaml.safe_load((REPOSITORY / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    from cfgv import validate
    from pre_commit.clientlib import MANIFEST_SCHEMA

    validate([hook], MANIFEST_SCHEMA)
    assert hook["id"] == "iotsql-check" and hook["entry"] == "iotsql check"


def test_the_pre_commit_hook_runs_with_try_repo(tmp_path: Path) -> None:
    if shutil.which("git") is None:  # pragma: no cover
        if os.environ.get("IOTSQL_CI") == "1":
            pytest.fail("git is needed for pre-commit (apt-get install -y git)")
        pytest.skip("git is needed for pre-commit: apt-get install -y git")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    _hook_repository(hooks)
    project = tmp_path / "project"
    (project / "infra").mkdir(parents=True)
    shutil.copy(DATA / "sam" / "template.yaml", project / "infra" / "template.yaml")
    shutil.copy(DATA / "terraform" / "main.tf", project / "infra" / "main.tf")
    (project / "package.json").write_text('{"name": "app"}\n', encoding="utf-8")
    (project / "clean.sql").write_text("SELECT * FROM 'a/b'\n", encoding="utf-8")
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
        # offline: the hook's virtualenv sees the packages installed here, pip has no index
        "VIRTUALENV_SYSTEM_SITE_PACKAGES": "1",
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",
        "VIRTUAL_ENV": "",
    }
    if sys.prefix != sys.base_prefix:  # in a virtualenv: its packages are not the base's
        env["PYTHONPATH"] = os.pathsep.join(site.getsitepackages())
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hooks), "iotsql-check",
         "--all-files", "--color", "never"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "iotsql check" in output and "Failed" in output
    assert "infra/template.yaml:18:33: is-null error" in output
    assert "infra/main.tf:36:23: between-operator error" in output
    assert "package.json" not in output.split("Failed", 1)[1]
