"""The subscriptions that carry a set of rules' traffic: the rules' FROM filters, deduplicated
and merged so that no topic matches two of them, plus `$aws/rules/<name>/#` per rule (Basic
Ingest), each under `$share/<group>/` when the bridge is one of a group.

Why no topic may match two subscriptions: a broker delivers a message once per matching
subscription (Mosquitto does, and with shared subscriptions each one picks its own member), so
two overlapping filters would run the rules twice on one message. A filter covered by another
(`sensors/+/data` under `sensors/#`) is dropped; two that overlap without either covering the
other (`a/+/c` and `a/b/+`) are replaced by the narrowest filter covering both (`a/+/+`). The
broker then sends some messages no rule wants; the engine matches none on them, and they are
acknowledged like the others."""

from __future__ import annotations

from collections.abc import Iterable

from iotsql.errors import IotSqlError
from iotsql.topics import BASIC_INGEST_PREFIX

SHARE_PREFIX = "$share/"


def _is_wild(level: str) -> bool:
    return level in ("+", "#")


def covers(wide: str, narrow: str) -> bool:
    """Whether every topic `narrow` matches is matched by `wide` (both topic filters)."""
    a, b = wide.split("/"), narrow.split("/")
    if _is_wild(a[0]) and b[0].startswith("$"):
        return False  # wildcards at the first level never match $-topics
    for index, level in enumerate(a):
        if level == "#":
            return True
        if index >= len(b):
            return False
        other = b[index]
        if other == "#":
            return False
        if level != "+" and level != other:
            return False
    return len(a) == len(b)


def overlap(first: str, second: str) -> bool:
    """Whether some topic matches both filters."""
    a, b = first.split("/"), second.split("/")
    if (_is_wild(a[0]) and b[0].startswith("$")) or (_is_wild(b[0]) and a[0].startswith("$")):
        return False
    for index in range(min(len(a), len(b))):
        x, y = a[index], b[index]
        if x == "#" or y == "#":
            return True
        if x != "+" and y != "+" and x != y:
            return False
    if len(a) == len(b):
        return True
    rest = (b if len(b) > len(a) else a)[min(len(a), len(b)) :]
    return rest == ["#"]  # `x` and `x/#` both match `x`


def generalize(first: str, second: str) -> str:
    """The narrowest filter that covers both `first` and `second`."""
    a, b = first.split("/"), second.split("/")
    out: list[str] = []
    for index in range(min(len(a), len(b))):
        x, y = a[index], b[index]
        if x == "#" or y == "#":
            return "/".join([*out, "#"])
        out.append(x if x == y else "+")
    if len(a) != len(b):
        out.append("#")
    return "/".join(out)


def merge_filters(filters: Iterable[str]) -> list[str]:
    """The filters, deduplicated, without covered ones, overlapping ones generalized, until no
    two overlap; sorted."""
    pending = sorted(set(filters))
    changed = True
    while changed:
        changed = False
        kept: list[str] = []
        for candidate in pending:
            for index, existing in enumerate(kept):
                if not overlap(candidate, existing):
                    continue
                if covers(existing, candidate):
                    merged = existing
                elif covers(candidate, existing):
                    merged = candidate
                else:
                    merged = generalize(candidate, existing)
                kept[index] = merged
                changed = True
                break
            else:
                kept.append(candidate)
        pending = sorted(set(kept))
    return pending


def check_share_group(group: str) -> None:
    if not group or any(c in group for c in "/+#"):
        raise IotSqlError(
            f"share group {group!r}: a shared-subscription group name is not empty and has no "
            "'/', '+' or '#'"
        )


def subscriptions_for(
    filters: Iterable[str | None], rule_names: Iterable[str], share: str | None = None
) -> list[str]:
    """What a bridge subscribes to for rules with these FROM filters and names."""
    ingest = [f"{BASIC_INGEST_PREFIX}{name}/#" for name in rule_names]
    topics = merge_filters([*(f for f in filters if f), *ingest])
    if share is not None:
        check_share_group(share)
        return [f"{SHARE_PREFIX}{share}/{topic}" for topic in topics]
    return topics
