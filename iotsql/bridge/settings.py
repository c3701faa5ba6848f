"""The bridge's settings checked against MQTT's ranges before anything connects: paho packs
them into the CONNECT packet on its own thread, where a keep-alive of 99999999999 or a client
id of 70,000 characters was a `struct.error` traceback and a connection that never came, and
a client id that is not UTF-8 text (a non-UTF-8 command-line argument) a `UnicodeEncodeError`."""

from __future__ import annotations

import math
from typing import Final

#: MQTT's Two Byte Integer (Keep Alive), which is also the most bytes a UTF-8 String or Binary
#: Data field (client id, user name, password, topic filter) holds (MQTT 5 section 1.5).
TWO_BYTE_INTEGER: Final = 65535
#: MQTT 5's Four Byte Integer (Session Expiry Interval).
FOUR_BYTE_INTEGER: Final = 2**32 - 1
#: Worker threads of one bridge: each is a thread with its own queue, and the engine runs the
#: actions in at most `Limits.max_action_threads` threads anyway; without a bound,
#: `--workers 100000000` spent minutes starting threads before the first message.
MAX_WORKERS: Final = 1024


def text_problem(name: str, value: str | None) -> str | None:
    """Why `value` cannot be the MQTT UTF-8 String `name`, or None."""
    if value is None:
        return None
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as error:
        return (f"{name} must be UTF-8 text: {value[error.start]!r} at position {error.start} "
                "(a lone surrogate, or a byte of a command-line argument that is not UTF-8) "
                "has no UTF-8 form")  # fmt: skip
    if size > TWO_BYTE_INTEGER:
        return f"{name} is {size:,} bytes of UTF-8; MQTT allows at most {TWO_BYTE_INTEGER:,}"
    if "\0" in value:
        return f"{name} cannot hold the null character (MQTT forbids U+0000 in its strings)"
    return None


def number_problem(
    name: str, value: float, smallest: int, largest: float, whole: bool
) -> str | None:
    """Why `value` cannot be the setting `name` (`smallest` to `largest`; a whole number if
    `whole`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} must be a number, not {type(value).__name__}"
    if whole and not isinstance(value, int):
        return f"{name} must be a whole number, not {value!r}"
    if math.isfinite(value) and smallest <= value <= largest:
        return None
    if largest == math.inf:
        return f"{name} must be a finite number, at least {smallest}, not {value!r}"
    return f"{name} must be between {smallest} and {largest:,}, not {value!r}"


def settings_problem(
    *,
    client_id: str | None,
    username: str | None,
    password: str | None,
    share: str | None,
    keepalive: int,
    session_expiry: int,
    workers: int,
    timeouts: dict[str, float],
) -> str | None:
    """The first setting of a bridge that MQTT (or the bridge) cannot take, said in words."""
    texts = {"the client id": client_id, "the user name": username, "the password": password,
             "the share group": share}  # fmt: skip
    for name, text in texts.items():
        problem = text_problem(name, text)
        if problem:
            return problem
    numbers = [
        ("the keep-alive (seconds)", keepalive, 0, TWO_BYTE_INTEGER, True),
        ("the session expiry (seconds)", session_expiry, 0, FOUR_BYTE_INTEGER, True),
        ("the number of workers", workers, 1, MAX_WORKERS, True),
        *((f"the {name} (seconds)", value, 0, math.inf, False) for name, value in timeouts.items()),
    ]
    for name, value, smallest, largest, whole in numbers:
        problem = number_problem(name, value, smallest, largest, whole)
        if problem:
            return problem
    return None
