"""What `import iotsql` costs (docs/architecture.md, "Import cost"): the facade alone, each
public name imported on first use; asyncio and prompt_toolkit only once a program uses them.
Checked in a fresh interpreter, by the modules it has loaded (never by timing)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("asyncio", "concurrent.futures", "prompt_toolkit")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_import_iotsql_loads_the_facade_only() -> None:
    loaded = _loaded_after("import iotsql")
    assert not {name for name in loaded if name.startswith("iotsql.")}
    assert not set(HEAVY) & loaded


def test_an_engine_that_publishes_loads_neither_asyncio_nor_prompt_toolkit() -> None:
    loaded = _loaded_after(
        "import iotsql\n"
        "engine = iotsql.RulesEngine()\n"
        "engine.create_topic_rule('r', {'sql': \"SELECT * FROM 'a/+'\", 'actions': "
        "[{'republish': {'topic': 'b', 'roleArn': 'arn:aws:iam::1:role/r'}}]})\n"
        "assert engine.publish('a/x', b'{\"v\": 1}').rules[0].fired\n"
        "iotsql.compile(\"SELECT v FROM 'a'\").evaluate({'v': 1}).to_bytes()\n"
    )
    assert "iotsql.engine" in loaded
    assert not set(HEAVY) & loaded, set(HEAVY) & loaded
    assert not {name for name in loaded if name.startswith("iotsql.loaders")}


def test_the_public_names_are_the_same_objects_as_their_homes() -> None:
    import iotsql
    from iotsql.engine import RulesEngine
    from iotsql.output import Output
    from iotsql.rule import Output as RuleOutput

    assert iotsql.RulesEngine is RulesEngine
    assert iotsql.Output is Output is RuleOutput
    assert set(iotsql.__all__) <= set(dir(iotsql))
