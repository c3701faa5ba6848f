"""How the engine's reports print: `repr()` is one line, `str()` (what `print` shows) a summary
that fits on one screen, whatever the report holds. A republish loop makes a report of a dozen
nested messages, each with its rules, actions and requests; their dataclass reprs ran to
thousands of characters. The full detail stays in the objects' fields.

The functions take the reports by their fields (`iotsql.engine` imports this module, not the
other way round), so they work on `PublishReport`, `RuleReport`, `ActionReport`, `DeadLetter`
and `ActionRequest` alike.
"""

from __future__ import annotations

from typing import Any

#: The most lines `str()` of a report prints; the rest is counted in a last line.
MAX_LINES = 24
#: The most characters of a body or an error shown on one line.
WIDTH = 72


def clip(text: str, width: int = WIDTH) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= width else text[: width - 3] + "..."


def body_text(body: bytes, width: int = WIDTH) -> str:
    """A message body for people: its text when it is UTF-8, else its size."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(body)} bytes, binary>"
    return clip(text, width) if text else "<empty>"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# ---- one line each -------------------------------------------------------------------------------


def action_line(action: Any) -> str:
    """`sqs ok -> https://...`, `error action sns failed: RuntimeError: ...`."""
    kind = f"error action {action.action_type}" if action.is_error_action else action.action_type
    if action.ok:
        target = f" -> {clip(action.resource, 60)}" if action.resource else ""
        return f"{kind} ok{target}"
    return f"{kind} failed: {clip(action.error or 'no request was made')}"


def rule_line(rule: Any) -> str:
    """`HighTemp fired: {"t":31}`, `HighTemp did not fire`, `HighTemp failed: ...`."""
    if rule.error is not None:
        return f"{rule.rule_name} failed: {clip(rule.error)}"
    if not rule.fired:
        return f"{rule.rule_name} did not fire"
    output = rule.output
    shown = body_text(output.to_bytes()) if output is not None else "<no output>"
    return f"{rule.rule_name} fired: {shown}"


def _walk(report: Any) -> list[Any]:
    """A publish and every message it republished, in the order they were processed."""
    found, pending = [], [report]
    while pending:
        current = pending.pop(0)
        found.append(current)
        pending.extend(current.republished)
    return found


def _totals(report: Any) -> str:
    messages = _walk(report)
    actions = [a for m in messages for r in m.rules for a in (*r.actions, *_opt(r.error_action))]
    delivered = sum(1 for a in actions if a.ok)
    parts = [f"{_plural(delivered, 'action')} delivered"]
    if len(actions) > delivered:
        parts.append(f"{len(actions) - delivered} failed")
    if len(messages) > 1:
        parts.append(f"{_plural(len(messages) - 1, 'message')} republished")
    return ", ".join(parts)


def _opt(item: Any) -> tuple[Any, ...]:
    return () if item is None else (item,)


def _fired(report: Any) -> str:
    fired = [r.rule_name for r in report.rules if r.fired]
    if not report.rules:
        return "no rule matched"
    if fired:
        return f"fired {', '.join(fired)}"
    return f"{_plural(len(report.rules), 'rule')} matched, none fired"


def publish_repr(report: Any) -> str:
    return f"<PublishReport {report.topic}: {_fired(report)}; {_totals(report)}>"


def rule_repr(rule: Any) -> str:
    actions = [*rule.actions, *_opt(rule.error_action)]
    shown = "; ".join(action_line(a) for a in actions[:3])
    more = f"; and {len(actions) - 3} more" if len(actions) > 3 else ""
    return f"<RuleReport {rule_line(rule)}{'; ' + shown if shown else ''}{more}>"


def action_repr(action: Any) -> str:
    return f"<ActionReport {action.rule_name}: {action_line(action)}>"


def request_repr(request: Any) -> str:
    kind = "error action " if request.is_error_action else ""
    return (f"<ActionRequest {request.rule_name} {kind}{request.action_type} on {request.topic}: "
            f"{body_text(request.payload, 60)}>")  # fmt: skip


def dead_letter_repr(letter: Any) -> str:
    return f"<DeadLetter {_dead_summary(letter)}>"


def _dead_summary(letter: Any) -> str:
    head = f"{letter.rule_name} on {letter.topic}"
    if letter.evaluation_error is not None:
        return f"{head}: the rule failed: {clip(letter.evaluation_error)}"
    failed = ", ".join(dict.fromkeys(a.action_type for a in letter.failures))
    text = f"{head}: {_plural(len(letter.requests), 'request')} not delivered ({failed})"
    if letter.error_action_failure is not None:
        text += f", error action {letter.error_action_failure.action_type} failed too"
    return text


# ---- a screen each ------------------------------------------------------------------------------


def _bounded(lines: list[str], hint: str) -> str:
    if len(lines) > MAX_LINES:
        hidden = len(lines) - (MAX_LINES - 1)
        lines = [*lines[: MAX_LINES - 1], f"... {hidden} more lines ({hint})"]
    return "\n".join(lines)


def _rule_block(rule: Any, indent: str) -> list[str]:
    lines = [indent + rule_line(rule)]
    lines.extend(f"{indent}  {action_line(a)}" for a in (*rule.actions, *_opt(rule.error_action)))
    return lines


def publish_text(report: Any) -> str:
    """The publish, its rules and their actions, then each republished message the same way."""
    size = len(report.message.body)
    ingest = ", Basic Ingest" if report.basic_ingest else ""
    lines = [f"publish {report.topic} ({_plural(size, 'byte')}{ingest}): {_fired(report)}; "
             f"{_totals(report)}"]  # fmt: skip
    for rule in report.rules:
        lines.extend(_rule_block(rule, "  "))
    for depth, sub in _depths(report):
        lines.append(f"{'  ' * depth}republished to {sub.topic}: {_fired(sub)}")
        for rule in sub.rules:
            lines.extend(_rule_block(rule, "  " * (depth + 1)))
    return _bounded(lines, "the report's rules and republished fields hold everything")


def _depths(report: Any, depth: int = 1) -> list[tuple[int, Any]]:
    found = []
    for sub in report.republished:
        found.append((min(depth, 4), sub))
        found.extend(_depths(sub, depth + 1))
    return found


def rule_text(rule: Any) -> str:
    return _bounded(_rule_block(rule, ""), "the report's actions hold everything")


def action_text(action: Any) -> str:
    lines = [f"{action.rule_name}: {action_line(action)}"]
    request = action.request
    if request is not None:
        lines.append(f"  topic:   {request.topic}")
        lines.append(f"  params:  {clip(repr(dict(request.params)))}")
        lines.append(f"  payload: {body_text(request.payload)}")
    return "\n".join(lines)


def dead_letter_text(letter: Any) -> str:
    lines = [f"dead letter: {_dead_summary(letter)}",
             f"  message: {body_text(letter.message.body)}"]  # fmt: skip
    for failure in (*letter.failures, *_opt(letter.error_action_failure)):
        lines.append(f"  {action_line(failure)}")
    return _bounded(lines, "the dead letter's failures and requests hold everything")
