"""The imports point downward (DESIGN.md, docs/architecture.md "Layout"): every module of iotsql
imports, when it is imported, only modules of its own layer or below; no module imports one
that imports it back; the actions never import the rule or the engine (the `Output` type sits
below both); the engine imports the loaders only inside `RulesEngine.load_rules`, and the
loaders never import the engine. Imports inside functions may point up (that is how a layer
uses one above it only when asked), imports under `if TYPE_CHECKING:` are not imports."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "iotsql"

#: The layers from the bottom, as docs/architecture.md describes them. A module belongs to the
#: layer of its top-level name (`iotsql.actions.types` to `actions`). A top-level module that is
#: not listed counts as a host: nothing listed below the hosts may import it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "limits", "suggest", "report_text", "sql_habits"),
    ("values", "budget", "ast"),
    ("message", "operators", "topics", "parser", "output"),
    ("functions", "codegen"),
    ("compiler", "providers", "providers_boto3"),
    ("templates",),
    ("actions",),
    ("rule",),
    ("delivery", "topic_rule_destinations"),
    ("engine",),
    ("loaders", "hosts", "topic_rule_api", "testing"),
    ("moto", "ministack", "bridge", "replay"),  # hosts and replay; unlisted modules land here
    ("lint",),
    ("cfnlint",),
    ("benchmark",),
    ("cli", "__main__"),
)
HOST_LAYER = 11
RANK = {name: index for index, names in enumerate(LAYERS) for name in names}
assert LAYERS[HOST_LAYER][0] == "moto"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """The iotsql modules `path` imports: at import time only (module level, outside
    `if TYPE_CHECKING:`), or anywhere. `from iotsql import ast` imports `iotsql.ast`; `from
    iotsql import RulesEngine` imports the package's facade, `iotsql`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes: list[ast.AST] = []
    if top_level_only:
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            nodes.extend(ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node])
    else:
        nodes = list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("iotsql"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("iotsql"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return found


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    return {
        name: {m for m in _imports(path, top_level_only) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


def _rank(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:  # the facade: whoever imports it may get any public name
        return RANK["benchmark"]
    return RANK.get(parts[1], HOST_LAYER)


def test_every_import_points_down_the_layers() -> None:
    upward = [
        f"{name} (layer {_rank(name)}) imports {imported} (layer {_rank(imported)})"
        for name, imported_modules in _graph(top_level_only=True).items()
        if name != "iotsql"
        for imported in sorted(imported_modules)
        if _rank(imported) > _rank(name)
    ]
    assert not upward, upward


def test_the_layer_table_names_real_modules() -> None:
    top_level = {name.split(".")[1] for name in MODULES if "." in name}
    assert set(RANK) - top_level == set(), "a layer names a module that does not exist"


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = _graph(top_level_only=True)
    # A package's __init__ importing its own submodules is how packages are built.
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(f"{name}.")}
    cycles = []
    for start in graph:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join((*path, start)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, (*path, nxt)))
    assert not cycles, cycles[:5]


def test_the_actions_never_import_the_rule_or_the_engine() -> None:
    for name, path in MODULES.items():
        if name.startswith("iotsql.actions"):
            assert not {"iotsql.rule", "iotsql.engine"} & _imports(path, False), name


def test_the_engine_and_the_loaders_do_not_import_each_other_at_import_time() -> None:
    assert not any(m.startswith("iotsql.loaders") for m in _imports(MODULES["iotsql.engine"], True))
    for name, path in MODULES.items():
        if name.startswith("iotsql.loaders"):
            assert "iotsql.engine" not in _imports(path, False), name


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The graph is read from the source: an upward import written at module level is found,
    one inside a function or under TYPE_CHECKING is not."""
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from iotsql import ast\n"
        "from iotsql.engine import RulesEngine\n"
        "if TYPE_CHECKING:\n    from iotsql.cli import main\n"
        "def f():\n    from iotsql.loaders import load_rules\n",
        encoding="utf-8",
    )
    assert _imports(module, True) == {"iotsql.ast", "iotsql.engine"}
    assert _imports(module, False) >= {"iotsql.ast", "iotsql.engine", "iotsql.loaders"}
