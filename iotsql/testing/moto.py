"""`MotoRuleTester`: the assertions of `RuleTester` over the rules moto runs once iotsql is its
rules engine (iotsql.moto); what the `iot_moto` pytest fixture yields.

    iot_moto.publish("sensors/d1", {"temperature": 31})   # a boto3 iot-data publish
    iot_moto.assert_fired("HighTemp")
    iot_moto.received("HighTemp", "sqs")                   # what the sqs action delivered
    iot_moto.engine.dead_letters

Its messages go through moto's `iot-data` Publish, as the code under test would publish them:
moto records them, and the rules see an HTTP publish (`clientid()` is `n/a`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from iotsql.engine import PublishReport
from iotsql.message import DEFAULT_ACCOUNT_ID
from iotsql.testing.assertions import RuleTester


class MotoRuleTester(RuleTester):
    """A RuleTester whose engine is moto's for `account_id` and `region` (iotsql.moto must be
    installed and moto mocking AWS)."""

    def __init__(self, account_id: str = DEFAULT_ACCOUNT_ID, region: str = "us-east-1") -> None:
        from iotsql import moto as host

        super().__init__(host.engine(account_id, region))
        self.account_id = account_id
        self.region = region
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The boto3 `iot-data` client the publishes go through."""
        if self._client is None:
            import boto3

            self._client = boto3.session.Session(region_name=self.region).client("iot-data")
        return self._client

    def _require(self, rule_name: str) -> None:
        __tracebackhide__ = True
        if rule_name not in self.engine.rules:
            from iotsql import moto as host

            here = f"moto's account {self.account_id}, region {self.region}"
            elsewhere = host.rule_locations(rule_name)
            if elsewhere:
                places = ", ".join(f"region {region} of account {account}"
                                   for account, region in elsewhere)  # fmt: skip
                raise AssertionError(
                    f"no rule named {rule_name} in {here}, where the publishes go; it was created "
                    f"in {places}: create it with a client of region {self.region} "
                    f"(boto3.client('iot', region_name={self.region!r})), or mark the test "
                    f"@pytest.mark.iot_moto(region=..., account_id=...) to publish there"
                )
            if not self.engine.rules:
                raise AssertionError(
                    f"no rule named {rule_name}: {here} has no topic rules (create them with "
                    "boto3's iot client or a CloudFormation stack, in that region)"
                )
        super()._require(rule_name)

    @property
    def published(self) -> list[tuple[str, Any]]:
        """moto's `published_payloads` (republished messages included, Basic Ingest not)."""
        return self.engine.published_payloads  # type: ignore[attr-defined,no-any-return]

    def publish(
        self,
        topic: str,
        payload: Any = b"",
        context: Mapping[str, Any] | None = None,
        *,
        qos: int = 0,
        **properties: Any,
    ) -> PublishReport:
        """Publish through moto's `iot-data` (`payload`: bytes, text or a JSON value);
        `properties` are the Publish API's other parameters (`contentType`, `userProperties`,
        `responseTopic`, `correlationData`, `payloadFormatIndicator`, `messageExpiry`,
        `retain`). Returns the report of what the rules did."""
        from iotsql import moto as host

        if context:
            raise TypeError(
                "an iot-data publish is an HTTP publish: it carries no client id or other MQTT "
                f"context ({', '.join(context)}); give the Publish API's parameters instead"
            )
        if isinstance(payload, (bytes, bytearray)):
            body = bytes(payload)
        elif isinstance(payload, str):
            body = payload.encode("utf-8")
        else:
            body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        with host.capture_reports() as captured:
            self.client.publish(topic=topic, qos=qos, payload=body, **properties)
        if not captured:
            raise RuntimeError(
                "the publish did not reach iotsql: is moto mocking AWS in this thread, with "
                "iotsql.moto installed?"
            )
        self.reports.append(captured[-1])
        return captured[-1]
