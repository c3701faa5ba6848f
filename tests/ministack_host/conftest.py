"""One `iotsql ministack` server process for the session, started from ministack's own cached
virtualenv (ministack_env.py), and boto3 clients for it, one account per test area."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ministack_env import EnvironmentUnavailable, Server, ministack_python, start_server

REGION = "us-east-1"


def unavailable(reason: str) -> None:
    """Skip, except in CI (IOTSQL_CI=1), where a component that cannot start is a failure."""
    if os.environ.get("IOTSQL_CI") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ministack_venv_python() -> Path:
    try:
        return ministack_python()
    except EnvironmentUnavailable as err:
        unavailable(
            f"ministack's virtualenv could not be made ({err}); it needs the package index: "
            "python -m venv v && v/bin/pip install ministack -e '.[ministack]'"
        )
        raise


@pytest.fixture(scope="session")
def ministack(
    ministack_venv_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("ministack") / "server.log"
    server = start_server(ministack_venv_python, log)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def aws(ministack: Server) -> Callable[..., Any]:
    """`aws(service, account="111111111111")`: a boto3 client of ministack for that account
    (ministack takes a 12-digit access key as the account id)."""
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=30)
    sessions: dict[str, Any] = {}

    def client(service: str, account: str = "111111111111") -> Any:
        session = sessions.get(account)
        if session is None:
            session = sessions[account] = boto3.session.Session(
                aws_access_key_id=account, aws_secret_access_key="test", region_name=REGION
            )
        return session.client(service, endpoint_url=ministack.endpoint, config=config)

    return client
