"""The wheel ships the grammar, and an installed wheel (not the source tree) finds it."""

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
