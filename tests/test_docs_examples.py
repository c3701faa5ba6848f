"""Every ```python block of README.md, docs/engine.md, docs/index.md and docs/hosts.md runs, in
order, in one namespace per page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("page", ["README.md", "docs/engine.md", "docs/index.md", "docs/hosts.md"])
def test_page_examples_run(page: str) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(encoding="utf-8"), re.S)
    assert blocks
    namespace: dict[str, object] = {}
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"{page} block {number}", "exec")
        exec(code, namespace)


def test_the_install_list_names_every_extra_and_the_guides_every_page() -> None:
    """A user reading docs/index.md first learns every extra a feature needs (the bridge's
    `mqtt`, replay's `dask`...) and finds every page of docs/."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = pyproject[pyproject.index("[project.optional-dependencies]") :]
    table = table[: table.index("\n[", 1)]
    extras = set(re.findall(r"^([a-z][a-z0-9-]*) = \[", table, re.M)) - {"dev"}
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    install = index[index.index("## Install") : index.index("## Quick start")]
    listed = set(re.findall(r"pip install 'iotsql\[([a-z0-9-]+)\]'", install))
    assert listed == extras
    guides = index[index.index("## Guides") :]
    linked = set(re.findall(r"\]\(([a-z-]+\.md)\)", guides))
    pages = {page.name for page in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert linked == pages
