"""Fixtures of the iotsql.moto tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto_support import REGION, Clients, boto3, moto

import iotsql.moto


@pytest.fixture
def aws(offline_aws: None) -> Iterator[Clients]:
    """mock_aws with iotsql as moto's rules engine; `aws("sqs")` is a boto3 client."""
    with moto.mock_aws(config={"lambda": {"use_docker": False}}), iotsql.moto.install():
        session = boto3.session.Session(region_name=REGION)
        yield lambda service, **options: session.client(service, **options)
