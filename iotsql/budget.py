"""What one message may cost, beyond the fixed limits: the time budget of one rule's
evaluation (`Limits.evaluation_timeout`) and the counters of one publish
(`Limits.max_republishes_per_publish`, `Limits.max_actions_per_publish`). Modelled on the
cost limits of cel-go and Kubernetes' CEL: the statically cheap pay nothing, the rest is
checked while it runs, and running out is a `BudgetExceededError` naming the limit.

The time budget is a monotonic deadline in a context variable, set once per evaluation (only
for statements whose worst case could reach it: the compiler decides, see
`iotsql.compiler.Compiler.timed`) and read between steps: before each call of a function whose
cost grows with its input, before each element of a nested query, and by the regular
expressions, which take the time left as their own time-out. Checking between steps means a
single step may overrun the deadline by its own cost, which the size limits keep small (the
slowest, `md2` on a 128 KB value, checks inside its loop too).
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from typing import Final

from iotsql.errors import BudgetExceededError
from iotsql.limits import Limits

#: The names of the limits in errors and docs/limits.md.
EVALUATION_TIME: Final = "evaluation time (seconds)"
OUTPUT_SIZE: Final = "output size (bytes)"

_monotonic = time.monotonic


class TimeBudget:
    """The deadline of one evaluation."""

    __slots__ = ("deadline", "seconds", "started")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = _monotonic()
        self.deadline = self.started + seconds

    def exceeded(self) -> BudgetExceededError:
        return BudgetExceededError(
            EVALUATION_TIME, _monotonic() - self.started, self.seconds,
            "the rule was stopped for this message",
        )  # fmt: skip


def output_too_big(size: int, limit: int) -> BudgetExceededError:
    """The error of a value over `Limits.max_output_bytes`, raised before it is built."""
    return BudgetExceededError(OUTPUT_SIZE, size, limit, "the value was not built")


_CURRENT: ContextVar[TimeBudget | None] = ContextVar("iotsql_time_budget", default=None)

#: The time budget in force (this thread or task), or None outside a timed evaluation.
current_budget = _CURRENT.get


def start_budget(seconds: float | None) -> Token[TimeBudget | None] | None:
    """Start a time budget of `seconds` unless one is running already (the outer one holds:
    a rule's evaluation and the rendering of its actions share one) or `seconds` is None.
    Pair a token with `stop_budget` in a `finally`."""
    if seconds is None or _CURRENT.get() is not None:
        return None
    return _CURRENT.set(TimeBudget(seconds))


def pause_budget() -> Token[TimeBudget | None] | None:
    """Set the running time budget aside (for work that is not the evaluation's: a sink called
    inline); `stop_budget(token)` brings it back."""
    if _CURRENT.get() is None:
        return None
    return _CURRENT.set(None)


def stop_budget(token: Token[TimeBudget | None] | None) -> None:
    if token is not None:
        _CURRENT.reset(token)


def check_time() -> None:
    """Between two steps: raise BudgetExceededError when the evaluation's deadline has passed."""
    budget = _CURRENT.get()
    if budget is not None and _monotonic() > budget.deadline:
        raise budget.exceeded()


def time_left(cap: float) -> float:
    """The time-out for one step that takes one (a regular expression): `cap`, or less when
    the evaluation's budget ends sooner. Raises BudgetExceededError when nothing is left."""
    budget = _CURRENT.get()
    if budget is None:
        return cap
    left = budget.deadline - _monotonic()
    if left <= 0:
        raise budget.exceeded()
    return left if left < cap else cap


# ---- one publish --------------------------------------------------------------------------------

#: The names of the publish budgets in errors and docs/limits.md.
REPUBLISHES_PER_PUBLISH: Final = "republished messages per publish"
ACTIONS_PER_PUBLISH: Final = "action executions per publish"


class PublishBudget:
    """What one publish has spent so far across the whole chain of messages its republish
    actions feed back into the engine: action executions (error actions included) and
    republished messages. The depth guard (`Limits.max_republish_depth`) stops a loop; this
    stops fan-out, which a depth of 8 alone lets grow to 10**8 messages. Two counters and a
    comparison per action: the publish hot path pays nothing more."""

    __slots__ = ("actions", "max_actions", "max_republishes", "refusal", "republishes")

    def __init__(self, limits: Limits) -> None:
        self.actions = 0
        self.republishes = 0
        self.max_actions = limits.max_actions_per_publish
        self.max_republishes = limits.max_republishes_per_publish
        #: Why actions are refused once the action budget is spent (made once).
        self.refusal: str | None = None

    def spend(self, republish: bool) -> str | None:
        """Charge one action execution (and one republished message for a republish action):
        None when the publish can afford it, else why the action fails."""
        self.actions += 1
        if self.actions > self.max_actions:
            if self.refusal is None:
                self.refusal = _refusal(ACTIONS_PER_PUBLISH, self.max_actions)
            return self.refusal
        if republish:
            self.republishes += 1
            if self.republishes > self.max_republishes:
                self.actions -= 1  # not executed: the other actions may still run
                return _refusal(REPUBLISHES_PER_PUBLISH, self.max_republishes)
        return None


def _refusal(limit: str, maximum: int) -> str:
    err = BudgetExceededError(limit, maximum + 1, maximum, "the action was not executed")
    return f"{type(err).__name__}: {err}"
