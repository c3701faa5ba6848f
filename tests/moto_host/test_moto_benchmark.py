"""benchmarks/moto_publish.py with tiny sizes: every loop runs and every timed publish delivers
its message (no timing assertions)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import iotsql.moto

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "moto_publish.py"


def test_the_moto_benchmark_runs(offline_aws: None) -> None:
    spec = importlib.util.spec_from_file_location("moto_publish", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    cost = module.measure(calls=25, repeat=1)  # raises unless all 25 publishes delivered
    assert cost.calls == 25
    assert min(cost.publish_us, cost.moto_publish_us, cost.moto_send_us, cost.send_message_us,
               cost.engine_us) > 0  # fmt: skip
    assert cost.iotsql_us == cost.publish_us - cost.moto_publish_us - cost.moto_send_us
    assert "iotsql's share of the publish" in module.render(cost)
    assert not iotsql.moto.installed()
