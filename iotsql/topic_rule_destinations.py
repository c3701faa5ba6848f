"""Topic rule destinations of one account and region: where AWS IoT lets an HTTP action send
(an HTTP destination, confirmed by its owner) and the VPCs a Kafka action reaches (a VPC
destination). The state machine, the ARNs and the confirmation flow are AWS's
(rule-destination.md, "Working with HTTP topic rule destinations"; the IoT API reference of
CreateTopicRuleDestination, UpdateTopicRuleDestination and ConfirmTopicRuleDestination):

- CreateTopicRuleDestination with `httpUrlConfiguration` makes an IN_PROGRESS destination,
  `arn:aws:iot:<region>:<account>:ruledestination/http/<uuid>`, and AWS POSTs a confirmation
  request carrying a `confirmationToken` to its `confirmationUrl`; ConfirmTopicRuleDestination
  with that token makes it ENABLED. Here the request is a `ConfirmationRequest` handed to the
  store's `on_confirmation` callback (the emulator POSTs it, or a test reads the token); a
  callback that raises puts the destination in ERROR, as a confirmation AWS could not deliver.
- UpdateTopicRuleDestination: ENABLED <-> DISABLED once confirmed, IN_PROGRESS from any state
  sends a new confirmation (the old token no longer confirms anything); ERROR and DELETING are
  the service's to set.
- A VPC destination (`vpcConfiguration`, `ruledestination/vpc/<uuid>`) is ENABLED at once:
  AWS takes minutes to make its network interfaces, iotsql has none to make.

`TopicRuleDestinations.refusal(url, confirmation_url)` is the rules engine's check of an HTTP
action (docs/engine.md, "Topic rule destinations"): the URL must be under an ENABLED HTTP
destination. Whether the engine applies it is `enforced` (see `TopicRuleDestinations`).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Final, NamedTuple
from urllib.parse import urlencode, urlsplit, urlunsplit

from iotsql.actions.destinations import Endpoint, endpoint, endpoint_is_under
from iotsql.errors import (
    IotSqlError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    RuleValidationError,
)

__all__ = [
    "DELETING",
    "DISABLED",
    "ENABLED",
    "ERROR",
    "INFLUXDB_PORTS",
    "IN_PROGRESS",
    "MAX_DESTINATIONS",
    "MAX_VPC_DESTINATIONS",
    "STATUSES",
    "ConfirmationRequest",
    "ConflictingResourceUpdateError",
    "TopicRuleDestination",
    "TopicRuleDestinations",
]

ENABLED: Final = "ENABLED"
IN_PROGRESS: Final = "IN_PROGRESS"
DISABLED: Final = "DISABLED"
ERROR: Final = "ERROR"
DELETING: Final = "DELETING"
#: TopicRuleDestinationStatus, as botocore's IoT model lists it.
STATUSES: Final = (ENABLED, IN_PROGRESS, DISABLED, ERROR, DELETING)

#: AWS's quotas: 1,000 topic rule destinations per account, 5 VPC destinations per account and
#: region (AWS IoT Core endpoints and quotas, "Rules engine").
MAX_DESTINATIONS: Final = 1000
MAX_VPC_DESTINATIONS: Final = 5
#: HttpUrlDestinationConfiguration.confirmationUrl's maximum length in the model.
MAX_URL_LENGTH: Final = 2000


class ConflictingResourceUpdateError(IotSqlError):
    """An update the destination's current state does not allow (AWS:
    ConflictingResourceUpdateException, 409): enabling or disabling one not yet confirmed,
    confirming one already confirmed."""

    code = "ConflictingResourceUpdateException"


class ConfirmationRequest(NamedTuple):
    """The confirmation AWS IoT POSTs to an HTTP destination's confirmation URL
    (rule-destination.md): `url` is the confirmation URL with `confirmationToken` in its query,
    `body` the JSON document (`arn`, `confirmationToken`, `enableUrl`, `messageType`)."""

    arn: str
    token: str
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class TopicRuleDestination:
    """One destination as it is now (a snapshot: the store replaces it on every change).
    `confirmation_url` for an HTTP destination, `vpc` (the VpcDestinationConfiguration) for a
    VPC one, `influxdb` (the InfluxDBDestinationConfiguration) for an InfluxDB one;
    `confirmation_token` is the token of the confirmation in progress, if any."""

    arn: str
    status: str
    created_at: float
    last_updated_at: float
    status_reason: str | None = None
    confirmation_url: str | None = None
    vpc: Mapping[str, Any] | None = None
    influxdb: Mapping[str, Any] | None = None
    confirmation_token: str | None = field(default=None, repr=False)
    sequence: int = field(default=0, repr=False, compare=False)

    @property
    def endpoint(self) -> Endpoint | None:
        """The parsed confirmation URL (made once: the engine compares URLs with it)."""
        url = self.confirmation_url
        if url is None:
            return None
        found: Endpoint | None = self.__dict__.get("_endpoint")
        if found is None:
            found = endpoint(url)
            object.__setattr__(self, "_endpoint", found)
        return found

    def to_api(self) -> dict[str, Any]:
        """The TopicRuleDestination shape of the IoT API (timestamps in epoch seconds)."""
        body = self._common()
        if self.confirmation_url is not None:
            body["httpUrlProperties"] = {"confirmationUrl": self.confirmation_url}
        if self.vpc is not None:
            body["vpcProperties"] = _vpc_copy(self.vpc)
        if self.influxdb is not None:
            body["influxDBProperties"] = dict(self.influxdb)
        return body

    def summary(self) -> dict[str, Any]:
        """The TopicRuleDestinationSummary shape (ListTopicRuleDestinations)."""
        body = self._common()
        if self.confirmation_url is not None:
            body["httpUrlSummary"] = {"confirmationUrl": self.confirmation_url}
        if self.vpc is not None:
            body["vpcDestinationSummary"] = _vpc_copy(self.vpc)
        if self.influxdb is not None:
            body["influxDBSummary"] = dict(self.influxdb)
        return body

    def _common(self) -> dict[str, Any]:
        body: dict[str, Any] = {"arn": self.arn, "status": self.status,
                                "createdAt": self.created_at,
                                "lastUpdatedAt": self.last_updated_at}  # fmt: skip
        if self.status_reason:
            body["statusReason"] = self.status_reason
        return body


def _vpc_copy(vpc: Mapping[str, Any]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, list) else value for key, value in vpc.items()}


class TopicRuleDestinations:
    """The topic rule destinations of one account and region, safe to use from any thread.

    `required` says when the rules engine checks an HTTP action's URL against them
    (`enforced`): True, always, as AWS does (and CreateTopicRule then makes the IN_PROGRESS
    destination of an HTTP action's confirmation URL, as AWS does); False, never; None (the
    default), as soon as one destination exists, so that an engine whose host never uses
    destinations sends HTTP actions as before. `on_change` is called (without arguments,
    outside the store's lock) when `enforced` flips.

    `on_confirmation(request)` is called, outside the lock, with the ConfirmationRequest of
    each confirmation AWS would send; if it raises, the destination goes to ERROR with the
    error as its `statusReason`. `validate_influxdb(destination)`, if set, is AWS's endpoint
    ownership validation of an InfluxDB destination (influxdb-rule-action.md: `/api/v2/me` for
    V2, `GET /api/v3/configure/database` for V3, with the token of the secret;
    `iotsql.actions.influxdb.validate_ownership` makes that request): called outside the lock
    when the destination is created or set to IN_PROGRESS, it makes the destination ENABLED,
    or ERROR with the error as `statusReason` if it raises. Without it an InfluxDB destination
    is ENABLED at once (iotsql has no secret to read). `enable_endpoint` is the IoT API endpoint the confirmation's
    `enableUrl` points at (AWS's `https://iot.<region>.amazonaws.com` by default).
    """

    def __init__(
        self,
        account_id: str = "123456789012",
        region: str = "us-east-1",
        *,
        required: bool | None = None,
        on_confirmation: Callable[[ConfirmationRequest], object] | None = None,
        enable_endpoint: str | None = None,
        max_destinations: int = MAX_DESTINATIONS,
        max_vpc_destinations: int = MAX_VPC_DESTINATIONS,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.on_confirmation = on_confirmation
        #: AWS's endpoint ownership validation of an InfluxDB destination (see the class).
        self.validate_influxdb: Callable[[TopicRuleDestination], object] | None = None
        self.on_change: Callable[[], object] | None = None
        self.enable_endpoint = enable_endpoint or f"https://iot.{region}.amazonaws.com"
        self.max_destinations = max_destinations
        self.max_vpc_destinations = max_vpc_destinations
        self._required = required
        self._by_arn: dict[str, TopicRuleDestination] = {}
        self._by_token: dict[str, str] = {}
        self._sequence = 0
        self._lock = threading.RLock()

    # ---- whether the engine checks -------------------------------------------------------------

    @property
    def required(self) -> bool | None:
        return self._required

    @required.setter
    def required(self, value: bool | None) -> None:
        with self._lock:
            before = self.enforced
            self._required = value
            flipped = before != self.enforced
        if flipped:
            self._changed()

    @property
    def enforced(self) -> bool:
        """Whether an HTTP action must be under an ENABLED destination (see the class)."""
        required = self._required
        return bool(self._by_arn) if required is None else required

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # ---- the API --------------------------------------------------------------------------------

    def create(self, configuration: Mapping[str, Any]) -> TopicRuleDestination:
        """CreateTopicRuleDestination: `configuration` is a TopicRuleDestinationConfiguration
        (`httpUrlConfiguration`, `vpcConfiguration` or `influxDBConfiguration`, exactly one)."""
        http, vpc, influxdb = _configuration(configuration)
        now = time.time()
        with self._lock:
            before = self.enforced
            if len(self._by_arn) >= self.max_destinations:
                raise RuleValidationError(
                    f"the account has {len(self._by_arn)} topic rule destinations, the most "
                    f"allowed ({self.max_destinations})", "destinationConfiguration")  # fmt: skip
            if http is not None:
                taken = self._find_http(http)
                if taken is not None:
                    raise ResourceAlreadyExistsError(
                        f"a topic rule destination for {http} already exists: {taken.arn}"
                    )
                destination = self._new("http", now, confirmation_url=http)
            elif influxdb is not None:
                destination = self._new("influxdb", now, influxdb=influxdb)
            else:
                count = sum(d.vpc is not None for d in self._by_arn.values())
                if count >= self.max_vpc_destinations:
                    raise RuleValidationError(
                        f"the account has {count} VPC destinations in {self.region}, the most "
                        f"allowed ({self.max_vpc_destinations})", "vpcConfiguration")  # fmt: skip
                destination = self._new("vpc", now, vpc=vpc)
            flipped = before != self.enforced
        if flipped:
            self._changed()
        self._send(destination)
        return self._validate(destination)

    def get(self, arn: str) -> TopicRuleDestination:
        """GetTopicRuleDestination (ResourceNotFoundError for an ARN not here)."""
        destination = self._by_arn.get(arn) if isinstance(arn, str) else None
        if destination is None:
            raise ResourceNotFoundError(f"topic rule destination {arn} does not exist")
        return destination

    def list(self) -> list[TopicRuleDestination]:
        """Every destination, oldest first."""
        with self._lock:
            return list(self._by_arn.values())

    def after(self, sequence: int) -> Iterable[TopicRuleDestination]:
        """The destinations created after the one numbered `sequence`, oldest first (a page
        of ListTopicRuleDestinations goes on from the last one it returned, even if that one
        was deleted meanwhile)."""
        return [d for d in self.list() if d.sequence > sequence]

    def update(self, arn: str, status: str) -> TopicRuleDestination:
        """UpdateTopicRuleDestination: ENABLED from DISABLED, DISABLED from ENABLED (asking for
        the state a destination is in changes nothing), IN_PROGRESS from any state of an HTTP
        destination (a new confirmation; the previous token stops working) or of an InfluxDB
        one (its endpoint ownership is validated again). ERROR and DELETING
        are InvalidRequestException, a change the state does not allow
        ConflictingResourceUpdateException."""
        if status not in STATUSES:
            raise RuleValidationError(f"must be one of {', '.join(STATUSES)}, not {status!r}",
                                      "status")  # fmt: skip
        if status in (ERROR, DELETING):
            raise RuleValidationError(f"{status} is set by the service, never requested", "status")
        with self._lock:
            current = self.get(arn)
            if status == IN_PROGRESS and current.influxdb is not None:
                changed = self._put(current, IN_PROGRESS, None, token=None)
            elif status == IN_PROGRESS:
                if current.confirmation_url is None:
                    raise RuleValidationError(
                        "a VPC destination has no confirmation to send again", "status"
                    )
                changed = self._put(current, IN_PROGRESS, _awaiting(),
                                    token=self._new_token(current.arn))  # fmt: skip
            elif current.status == status:
                return current
            elif (current.status, status) in ((DISABLED, ENABLED), (ENABLED, DISABLED)):
                changed = self._put(current, status, None, token=current.confirmation_token)
            else:
                hint = {
                    IN_PROGRESS: " (confirm it with ConfirmTopicRuleDestination first)",
                    ERROR: " (its confirmation failed: status IN_PROGRESS sends a new one)",
                }.get(current.status, "")
                raise ConflictingResourceUpdateError(
                    f"topic rule destination {arn} is {current.status}: only a confirmed "
                    f"destination (ENABLED or DISABLED) can be set to {status}{hint}"
                )
        if status == IN_PROGRESS:
            self._send(changed)
            return self._validate(changed)
        return changed

    def delete(self, arn: str) -> None:
        """DeleteTopicRuleDestination (ResourceNotFoundError for an ARN not here). AWS passes
        through DELETING; here the destination is gone when this returns."""
        with self._lock:
            before = self.enforced
            destination = self.get(arn)
            del self._by_arn[arn]
            self._by_token.pop(destination.confirmation_token or "", None)
            flipped = before != self.enforced
        if flipped:
            self._changed()

    def confirm(self, token: str) -> TopicRuleDestination:
        """ConfirmTopicRuleDestination: the IN_PROGRESS destination the token was sent for
        becomes ENABLED. A token never sent, or superseded by a newer confirmation, is an
        InvalidRequestException; the token of a destination already confirmed a
        ConflictingResourceUpdateException."""
        with self._lock:
            arn = self._by_token.get(token) if isinstance(token, str) else None
            destination = None if arn is None else self._by_arn.get(arn)
            if destination is None:
                raise RuleValidationError(
                    "is not the token of a confirmation in progress", "confirmationToken"
                )
            if destination.status in (ENABLED, DISABLED):
                raise ConflictingResourceUpdateError(
                    f"topic rule destination {arn} is already confirmed ({destination.status})"
                )
            if destination.status == ERROR:
                raise RuleValidationError(
                    "belongs to a confirmation that failed; UpdateTopicRuleDestination with "
                    "status IN_PROGRESS sends a new one", "confirmationToken")  # fmt: skip
            return self._put(destination, ENABLED, None, token=token)

    # ---- for the emulator -----------------------------------------------------------------------

    def confirmation_request(self, arn: str) -> ConfirmationRequest:
        """The confirmation AWS sends for the IN_PROGRESS destination `arn`
        (RuleValidationError when none is in progress)."""
        destination = self.get(arn)
        token = destination.confirmation_token
        if destination.status != IN_PROGRESS or token is None:
            raise RuleValidationError(f"no confirmation is in progress ({destination.status})",
                                      "arn")  # fmt: skip
        return self._request(destination, token)

    def fail_confirmation(self, arn: str, reason: str) -> TopicRuleDestination:
        """The confirmation of the IN_PROGRESS destination `arn` could not be completed (not
        delivered, timed out): it goes to ERROR with `reason` as its statusReason."""
        with self._lock:
            destination = self.get(arn)
            if destination.status != IN_PROGRESS:
                return destination
            return self._put(destination, ERROR, reason, token=destination.confirmation_token)

    def ensure_http(self, url: str) -> TopicRuleDestination | None:
        """What CreateTopicRule does for an HTTP action when destinations are `required`: the
        IN_PROGRESS destination of `url` (its confirmation URL, else its URL), unless a
        destination already covers it. None when one does."""
        with self._lock:
            if self._covering(url) is not None:
                return None
        return self.create({"httpUrlConfiguration": {"confirmationUrl": url}})

    # ---- the rules engine's check ---------------------------------------------------------------

    def refusal(self, url: str, confirmation_url: str | None = None) -> str | None:
        """Why an HTTP action may not send to `url` (None: it may). The destination that
        governs is the most specific HTTP destination (longest confirmation URL) covering the
        action's confirmation URL, else its URL; it must be ENABLED. Always None while the
        check is not `enforced`."""
        if not self.enforced:
            return None
        key = confirmation_url or url
        governing = self._covering(key)
        if governing is None:
            return (
                f"HttpAction failed: no topic rule destination covers {key!r}; create one "
                "(CreateTopicRuleDestination) and confirm it (ConfirmTopicRuleDestination)"
            )
        if governing.status != ENABLED:
            hint = {
                IN_PROGRESS: "confirm it with ConfirmTopicRuleDestination",
                DISABLED: "enable it with UpdateTopicRuleDestination",
                ERROR: "send a new confirmation with UpdateTopicRuleDestination (IN_PROGRESS)",
            }.get(governing.status, "")
            return (
                f"HttpAction failed: the topic rule destination {governing.arn} for "
                f"{governing.confirmation_url!r} is {governing.status}, not ENABLED"
                + (f"; {hint}" if hint else "")
            )
        return None

    def influxdb_refusal(self, arn: str) -> str | None:
        """Why an InfluxDB action may not write through the destination `arn` (None: it may):
        it must be an InfluxDB destination here, ENABLED (the page's failure table: "Invalid
        destination ARN", "Destination DISABLED or ERROR"). Always None while the check is not
        `enforced`."""
        if not self.enforced:
            return None
        destination = self._by_arn.get(arn)
        if destination is None or destination.influxdb is None:
            return (f"InfluxDBAction failed: the topic rule destination {arn} does not exist; "
                    "create it with CreateTopicRuleDestination (influxDBConfiguration)")  # fmt: skip
        if destination.status != ENABLED:
            hint = {
                DISABLED: "enable it with UpdateTopicRuleDestination",
                ERROR: "its endpoint ownership validation failed; validate it again with "
                "UpdateTopicRuleDestination (IN_PROGRESS)",
            }.get(destination.status, "")
            return (f"InfluxDBAction failed: the topic rule destination {arn} is "
                    f"{destination.status}, not ENABLED" + (f"; {hint}" if hint else ""))  # fmt: skip
        return None

    # ---- inside ------------------------------------------------------------------------------

    def _covering(self, url: str) -> TopicRuleDestination | None:
        try:
            target = endpoint(url)
        except ValueError:
            return None
        found: TopicRuleDestination | None = None
        longest = -1
        for destination in list(self._by_arn.values()):
            confirmed = destination.endpoint
            if (
                confirmed is not None
                and len(confirmed.path) > longest
                and (endpoint_is_under(target, confirmed))
            ):
                found, longest = destination, len(confirmed.path)
        return found

    def _find_http(self, url: str) -> TopicRuleDestination | None:
        wanted = _normal(url)
        for destination in self._by_arn.values():
            if destination.confirmation_url is not None and (
                _normal(destination.confirmation_url) == wanted
            ):
                return destination
        return None

    def _new(
        self, kind: str, now: float, *, confirmation_url: str | None = None,
        vpc: Mapping[str, Any] | None = None, influxdb: Mapping[str, Any] | None = None,
    ) -> TopicRuleDestination:  # fmt: skip
        arn = f"arn:aws:iot:{self.region}:{self.account_id}:ruledestination/{kind}/{uuid.uuid4()}"
        self._sequence += 1
        if confirmation_url is not None:
            destination = TopicRuleDestination(
                arn, IN_PROGRESS, now, now, _awaiting(), confirmation_url,
                confirmation_token=self._new_token(arn), sequence=self._sequence,
            )  # fmt: skip
        elif influxdb is not None:  # (validated by `_validate`, outside the lock)
            destination = TopicRuleDestination(arn, IN_PROGRESS, now, now, None,
                                               influxdb=influxdb, sequence=self._sequence)  # fmt: skip
        else:
            destination = TopicRuleDestination(arn, ENABLED, now, now, None, vpc=vpc,
                                               sequence=self._sequence)  # fmt: skip
        self._by_arn[arn] = destination
        return destination

    def _new_token(self, arn: str) -> str:
        token = secrets.token_urlsafe(48)
        self._by_token[token] = arn
        return token

    def _put(
        self, current: TopicRuleDestination, status: str, reason: str | None, *,
        token: str | None,
    ) -> TopicRuleDestination:  # fmt: skip
        if current.confirmation_token is not None and token != current.confirmation_token:
            self._by_token.pop(current.confirmation_token, None)  # (superseded)
        changed = replace(current, status=status, status_reason=reason,
                          last_updated_at=max(time.time(), current.last_updated_at),
                          confirmation_token=token)  # fmt: skip
        self._by_arn[current.arn] = changed
        return changed

    def _send(self, destination: TopicRuleDestination) -> None:
        callback = self.on_confirmation
        token = destination.confirmation_token
        if callback is None or token is None or destination.status != IN_PROGRESS:
            return
        try:
            callback(self._request(destination, token))
        except Exception as err:  # (the emulator's delivery failed: as AWS's would)
            with self._lock:
                current = self._by_arn.get(destination.arn)
                if current is not None and current.confirmation_token == token:
                    self._put(current, ERROR, f"Confirmation message not delivered: {err}",
                              token=token)  # fmt: skip

    def _validate(self, destination: TopicRuleDestination) -> TopicRuleDestination:
        """An InfluxDB destination IN_PROGRESS: AWS's endpoint ownership validation, then
        ENABLED, or ERROR with the reason (`validate_influxdb`, see the class)."""
        if destination.influxdb is None or destination.status != IN_PROGRESS:
            return destination
        reason = None
        check = self.validate_influxdb
        if check is not None:
            try:
                check(destination)
            except Exception as err:  # (the validation's request failed: as AWS's would)
                reason = f"Endpoint ownership validation failed: {err}"
        with self._lock:
            current = self._by_arn.get(destination.arn)
            if current is None or current.status != IN_PROGRESS:
                return current or destination  # (deleted or changed meanwhile)
            return self._put(current, ERROR if reason else ENABLED, reason, token=None)

    def _request(self, destination: TopicRuleDestination, token: str) -> ConfirmationRequest:
        url = destination.confirmation_url or ""
        parts = urlsplit(url)
        query = urlencode({"confirmationToken": token})
        target = urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query
                                           else query))  # fmt: skip
        document = {"arn": destination.arn, "confirmationToken": token,
                    "enableUrl": f"{self.enable_endpoint.rstrip('/')}/confirmdestination/{token}",
                    "messageType": "DestinationConfirmation"}  # fmt: skip
        headers = (("x-amz-rules-engine-message-type", "DestinationConfirmation"),
                   ("x-amz-rules-engine-destination-arn", destination.arn),
                   ("Content-Type", "application/json"))  # fmt: skip
        body = json.dumps(document).encode("utf-8")
        return ConfirmationRequest(destination.arn, token, "POST", target, headers, body)


def _awaiting() -> str:
    sent = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return (f"Awaiting confirmation. Confirmation message sent on {sent}; no response received "
            "from the endpoint.")  # fmt: skip


def _normal(url: str) -> tuple[Any, ...]:
    found = endpoint(url)
    return (found.scheme, found.host, found.port, found.path.rstrip("/") or "/")


#: The members of InfluxDBDestinationConfiguration, as the model has them.
_INFLUXDB_MEMBERS: Final = ("endpoint", "influxDBVersion", "secretId", "secretType", "secretKey")
#: The outbound ports AWS IoT Core reaches an InfluxDB endpoint on (influxdb-rule-action.md,
#: Prerequisites and Destination parameters: 443, 8443, 8086 for V2, 8181 for V3).
INFLUXDB_PORTS: Final = frozenset({443, 8443, 8086, 8181})
_CONFIGURATIONS: Final = ("httpUrlConfiguration", "vpcConfiguration", "influxDBConfiguration")


def _configuration(
    configuration: Any,
) -> tuple[str | None, dict[str, Any] | None, dict[str, Any] | None]:
    """(confirmation URL, None, None), (None, VPC configuration, None) or (None, None, InfluxDB
    configuration), validated as the model and the InfluxDB page say."""
    where = "destinationConfiguration"
    if not isinstance(configuration, Mapping):
        raise RuleValidationError(f"must be a structure, not {configuration!r}", where)
    given = [key for key in _CONFIGURATIONS if configuration.get(key) is not None]
    unknown = sorted(set(configuration) - set(_CONFIGURATIONS))
    if unknown:
        raise RuleValidationError(f"unknown member {unknown[0]!r}", where)
    if len(given) != 1:
        raise RuleValidationError(
            "needs exactly one of httpUrlConfiguration, vpcConfiguration and "
            "influxDBConfiguration", where)  # fmt: skip
    if given == ["influxDBConfiguration"]:
        return None, None, _influxdb_configuration(configuration["influxDBConfiguration"],
                                                   f"{where}.influxDBConfiguration")  # fmt: skip
    if given == ["httpUrlConfiguration"]:
        http = configuration["httpUrlConfiguration"]
        where += ".httpUrlConfiguration"
        if not isinstance(http, Mapping):
            raise RuleValidationError(f"must be a structure, not {http!r}", where)
        url = http.get("confirmationUrl")
        where += ".confirmationUrl"
        if not isinstance(url, str) or not url:
            raise RuleValidationError("is required (a string)", where)
        if len(url) > MAX_URL_LENGTH:
            raise RuleValidationError(f"is longer than {MAX_URL_LENGTH} characters", where)
        if "${" in url:
            raise RuleValidationError(
                "holds a substitution template: a destination confirms one concrete URL", where
            )
        try:
            endpoint(url)
        except ValueError as err:
            raise RuleValidationError(str(err), where) from None
        return url, None, None
    vpc = configuration["vpcConfiguration"]
    where += ".vpcConfiguration"
    if not isinstance(vpc, Mapping):
        raise RuleValidationError(f"must be a structure, not {vpc!r}", where)
    for name in ("vpcId", "roleArn"):
        if not isinstance(vpc.get(name), str) or not vpc[name]:
            raise RuleValidationError("is required (a string)", f"{where}.{name}")
    for name, required in (("subnetIds", True), ("securityGroups", False)):
        value = vpc.get(name)
        if value is None and not required:
            continue
        if (
            not isinstance(value, list)
            or not all(isinstance(v, str) for v in value)
            or (required and not value)
        ):
            raise RuleValidationError("must be a list of strings" + (", not empty" if required
                                      else ""), f"{where}.{name}")  # fmt: skip
    unknown = sorted(set(vpc) - {"vpcId", "roleArn", "subnetIds", "securityGroups"})
    if unknown:
        raise RuleValidationError(f"unknown member {unknown[0]!r}", where)
    return None, {key: list(value) if isinstance(value, list) else value
                  for key, value in vpc.items()}, None  # fmt: skip


def _influxdb_configuration(influxdb: Any, where: str) -> dict[str, Any]:
    """An InfluxDBDestinationConfiguration: the model's members and bounds, and the page's
    endpoint rules (HTTPS only, ports 443, 8443, 8086, 8181)."""
    if not isinstance(influxdb, Mapping):
        raise RuleValidationError(f"must be a structure, not {influxdb!r}", where)
    unknown = sorted(set(influxdb) - set(_INFLUXDB_MEMBERS))
    if unknown:
        raise RuleValidationError(f"unknown member {unknown[0]!r}", where)
    bounds = {"endpoint": (1, MAX_URL_LENGTH), "secretId": (1, 512), "secretKey": (1, 128)}
    for name, (low, high) in bounds.items():
        value = influxdb.get(name)
        if value is None and name == "secretKey":
            continue
        if not isinstance(value, str) or not value:
            raise RuleValidationError("is required (a string)", f"{where}.{name}")
        if not low <= len(value) <= high:
            raise RuleValidationError(f"must be {low} to {high} characters long",
                                      f"{where}.{name}")  # fmt: skip
    for name, allowed, required in (("influxDBVersion", ("V2", "V3"), True),
                                    ("secretType", ("SecretString", "SecretBinary"), False)):  # fmt: skip
        value = influxdb.get(name)
        if value is None and not required:
            continue
        if value not in allowed:
            raise RuleValidationError(f"must be one of {', '.join(allowed)}, not {value!r}",
                                      f"{where}.{name}")  # fmt: skip
    url = influxdb["endpoint"]
    try:
        found = endpoint(url)
    except ValueError as err:
        raise RuleValidationError(str(err), f"{where}.endpoint") from None
    if found.scheme != "https":
        raise RuleValidationError("must be an HTTPS URL: HTTP is not supported",
                                  f"{where}.endpoint")  # fmt: skip
    if found.port not in INFLUXDB_PORTS:
        raise RuleValidationError(
            f"port {found.port} is not supported: AWS IoT Core reaches InfluxDB on ports "
            f"{', '.join(map(str, sorted(INFLUXDB_PORTS)))}", f"{where}.endpoint")  # fmt: skip
    return {name: influxdb[name] for name in _INFLUXDB_MEMBERS if influxdb.get(name) is not None}
