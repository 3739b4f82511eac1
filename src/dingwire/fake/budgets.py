"""What the fake counts: each robot's rate-limit window and lockout, each organisation's quota.

Rules kept here (API.md §3, §4):

- A robot's window holds the arrivals of the messages it delivered (refused ones do not
  count), counted as DingTalk counts them, at arrival: in a sliding window
  (:func:`dingwire.core.budget.window_wait`) or in calendar windows aligned to the epoch
  (:func:`dingwire.core.budget.fixed_window_wait`). Going over it locks the robot out for
  ``lockout`` seconds; while locked out, every message is refused.
- An organisation counts every call that reaches one of its robots, in the period of
  :func:`dingwire.core.budget.quota_period`; once a period holds ``quota.limit`` calls, the
  rest are refused until the period renews. Without a quota calls are counted by the
  calendar month and never refused.
- The rules are the core's; this module only keeps the state they are applied to.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from dingwire.core.budget import fixed_window_wait, quota_period, window_wait
from dingwire.core.policy import Rate
from dingwire.fake.config import FakeOrg, Window

__all__ = ["OrgBudget", "RobotBudget"]


class RobotBudget:
    """One robot's window of delivered messages and its lockout."""

    __slots__ = ("locked_until", "sent")

    def __init__(self) -> None:
        self.sent: deque[float] = deque()
        self.locked_until = 0.0

    def throttled(self, now: float, rate: Rate, window: Window, lockout: float) -> bool:
        """Whether a message arriving at ``now`` is refused: the robot is locked out, or the
        message would go over ``rate`` (which locks the robot out for ``lockout``)."""
        # Arrivals a window ago count in neither model (a fixed window starts later).
        while self.sent and self.sent[0] <= now - rate.window:
            self.sent.popleft()
        if self.locked_until > now:
            return True
        wait = fixed_window_wait if window == "fixed" else window_wait
        if wait(self.sent, now, rate) > 0:
            self.locked_until = now + lockout
            return True
        return False

    def count(self, now: float) -> None:
        """Count a message delivered at ``now``."""
        self.sent.append(now)

    def reset(self) -> None:
        """Forget the window and the lockout."""
        self.sent.clear()
        self.locked_until = 0.0


class OrgBudget:
    """One organisation and its count of calls in the current quota period."""

    __slots__ = ("org", "period", "used")

    def __init__(self, org: FakeOrg) -> None:
        self.org = org
        self.period = -math.inf  # the start of the period ``used`` counts
        self.used = 0

    def usage(self, now: float) -> tuple[int, float, float]:
        """``(used, period start, period end)`` at ``now``."""
        start, end = quota_period(self.org.periods, now)
        return (self.used if start == self.period else 0), start, end

    def admit(self, now: float) -> bool:
        """Count one call at ``now``, unless the period's quota is spent (then False)."""
        used, start, _ = self.usage(now)
        quota = self.org.quota
        if quota is not None and used >= quota.limit:
            return False
        self.period, self.used = start, used + 1
        return True

    def reset(self) -> None:
        """Forget the count: the quota is whole again."""
        self.period, self.used = -math.inf, 0

    def to_json(self, now: float, robots: list[str]) -> dict[str, Any]:
        """The organisation as the org API shows it: quota, used, left, renews, robots."""
        used, start, end = self.usage(now)
        quota = self.org.quota
        return {
            **self.org.to_json(),
            "used": used,
            "left": max(0, quota.limit - used) if quota is not None else None,
            "period_start": start,
            "renews": end,
            "robots": robots,
        }
