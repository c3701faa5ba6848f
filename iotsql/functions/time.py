"""Date and time functions: parse_time (epoch milliseconds to text with a Joda-Time pattern)
and time_to_epoch (text to epoch milliseconds with a java.time pattern). `timestamp()` lives
with the context functions. The pattern machinery is in `iotsql.functions.joda`."""

from __future__ import annotations

import decimal
import math
from decimal import Decimal
from typing import Any

from iotsql.functions import joda
from iotsql.functions.registry import function
from iotsql.values import UNDEFINED, V2, to_number

U = UNDEFINED
FAMILY = "time"


def epoch_millis(value: Any) -> int | None:
    """A timestamp argument as whole milliseconds: an Int, a Decimal rounded down, or a String
    holding a number; None for anything else and outside Java's long range."""
    number = to_number(value)
    t = type(number)
    if t is int:
        millis: int = number
    elif t is float:
        if not math.isfinite(number):
            return None
        millis = math.floor(number)
    elif t is Decimal:
        if not number.is_finite() or number.adjusted() > 30:
            return None
        millis = int(number.to_integral_value(rounding=decimal.ROUND_FLOOR))
    else:
        return None
    return millis if joda.LONG_MIN <= millis <= joda.LONG_MAX else None


@function("parse_time", args=(2, 3), family=FAMILY, since=V2,
          anchor="iot-sql-function-parse-time",
          signature="parse_time(pattern, timestamp[, timezone])")  # fmt: skip
def parse_time(pattern: Any, timestamp: Any, timezone: Any = "UTC") -> Any:
    """Epoch milliseconds written with a Joda-Time pattern, in a time zone (UTC by default)."""
    if type(pattern) is not str or type(timezone) is not str:
        return U
    millis = epoch_millis(timestamp)
    if millis is None:
        return U
    zone = joda.joda_zone(timezone)
    if zone is None:
        return U
    text = joda.format_joda(pattern, millis, zone)
    return U if text is None else text


@function("time_to_epoch", args=2, family=FAMILY, since=V2,
          anchor="iot-sql-function-time-to-epoch",
          signature="time_to_epoch(timestamp, pattern)")  # fmt: skip
def time_to_epoch(timestamp: Any, pattern: Any) -> Any:
    """A date/time string parsed with a java.time (JDK 11) pattern, as epoch milliseconds.

    A string without a zone is UTC, one without a time is at midnight; fields resolve as
    java.time's SMART resolver style does (2021-02-31 is 2021-02-28, 24:00 the next midnight);
    a field out of its range (2021-13-01) is Undefined."""
    if type(timestamp) is not str or type(pattern) is not str:
        return U
    millis = joda.parse_epoch_millis(timestamp, pattern)
    return U if millis is None else millis
