"""The wheel ships the grammar and the license, and an installed wheel (not the source tree)
finds the grammar."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
    )  # fmt: skip
    (built,) = out.glob("iotsql-*.whl")
    return built


def test_the_wheel_contains_the_grammar_and_the_type_marker(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "iotsql/_grammar/iotsql.lark" in names
        assert "iotsql/py.typed" in names
        shipped = archive.read("iotsql/_grammar/iotsql.lark")
    assert shipped == (ROOT / "grammar" / "iotsql.lark").read_bytes()


def test_an_installed_wheel_compiles_rules(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import iotsql; "
        "assert iotsql.__file__.startswith(sys.argv[1]), iotsql.__file__; "
        "r = iotsql.compile(\"SELECT a FROM 't'\"); print(r.evaluate(b'{\"a\": 1}', 't').value)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'a': 1}"


def test_the_license_is_apache_2_in_the_repository_and_the_wheel(wheel: Path) -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    with zipfile.ZipFile(wheel) as archive:
        (info,) = {name.split("/")[0] for name in archive.namelist() if ".dist-info/" in name}
        assert archive.read(f"{info}/licenses/LICENSE").decode("utf-8") == text
        metadata = archive.read(f"{info}/METADATA").decode("utf-8").splitlines()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    assert "Requires-Python: >=3.10" in metadata


def test_the_readme_says_how_to_set_up() -> None:
    """The README names the Python version pyproject.toml requires, creates a virtual
    environment, and its two set-up commands are the ones CI runs on a fresh checkout."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'requires-python = ">=3.10"' in pyproject
    assert "iotsql needs Python 3.10 or later" in readme
    assert "    python3 -m venv .venv\n    source .venv/bin/activate" in readme
    setup = "    python -m pip install -e '.[dev]'\n    python -m pytest\n"
    assert setup in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci.index("python -m pip install -e '.[dev]'") + 1 == ci.index("python -m pytest")


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running `code`."""
    probe = f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=ROOT, check=True)  # fmt: skip
    return set(result.stdout.split())


def test_import_iotsql_imports_only_what_is_used() -> None:
    """`import iotsql` loads the public names on first use (docs/architecture.md, "Import
    cost"): the parser's grammar library, the engine's threads, asyncio, the loaders and the
    REPL's prompt_toolkit wait until something needs them."""
    loaded = _modules_after("import iotsql")
    assert not {"asyncio", "prompt_toolkit", "lark", "iotsql.engine", "iotsql.loaders",
                "iotsql.rule", "concurrent.futures"} & loaded  # fmt: skip
    assert {name for name in loaded if name.startswith("iotsql")} == {"iotsql"}
