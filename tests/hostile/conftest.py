"""Fixtures of the hostile-input tests (issue #7)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hostile_support import BACKENDS

from iotsql.values import json_backend, set_json_backend


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with each JSON library iotsql can use."""
    previous = json_backend()
    set_json_backend(request.param)
    try:
        yield request.param
    finally:
        set_json_backend(previous)
