"""The budget of one process: every thread and task of it, nothing beyond."""

from __future__ import annotations

import itertools
import threading

from dingwire.core.budget import Budget, Slot, Verdict, judge

__all__ = ["MemoryBudgetStore"]


class MemoryBudgetStore:
    """A :class:`~dingwire.budget.BudgetStore` in this process's memory, behind one lock."""

    blocking = False

    def __init__(self, *, barrier: float | None = None) -> None:
        # barrier: every window counts as full from then on (a store that lost its state)
        self._barrier = barrier
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._slots: dict[str, dict[int, Slot]] = {}
        self._slot_periods: dict[int, tuple[str, float]] = {}
        self._locked_until: dict[str, float] = {}
        self._used: dict[tuple[str, float], int] = {}
        self._spent_until: dict[str, float] = {}

    def _judge(self, robot: str, budget: Budget, now: float) -> Verdict:
        slots = self._slots.setdefault(robot, {})
        window = budget.rate.window if budget.rate is not None else 0.0
        for key in [k for k, s in slots.items() if _gone(s, now, window)]:
            del slots[key]
            self._slot_periods.pop(key, None)
        start, _ = budget.period(now)
        return judge(
            budget,
            now,
            slots=list(slots.values()),
            locked_until=self._locked_until.get(robot, 0.0),
            used=self._used.get((budget.org, start), 0),
            spent_until=self._spent_until.get(budget.org, 0.0),
            barrier=self._barrier,
        )

    def reserve(self, robot: str, budget: Budget, now: float, *, hold: float) -> Verdict:
        with self._lock:
            verdict = self._judge(robot, budget, now)
            if not verdict.go:
                return verdict
            slot = next(self._ids)
            self._slots[robot][slot] = Slot(now, None, now + hold)
            start, _ = budget.period(now)
            self._slot_periods[slot] = (budget.org, start)
            self._used[(budget.org, start)] = self._used.get((budget.org, start), 0) + 1
            return verdict.granted(slot)

    def settle(self, robot: str, slot: int, arrived: float | None) -> None:
        with self._lock:
            slots = self._slots.get(robot, {})
            if slot not in slots:
                return
            if arrived is None:
                del slots[slot]
                period = self._slot_periods.pop(slot, None)
                if period is not None and self._used.get(period, 0) > 0:
                    self._used[period] -= 1
            else:
                old = slots[slot]
                slots[slot] = Slot(old.started, arrived, old.expires)

    def peek(self, robot: str, budget: Budget, now: float) -> Verdict:
        with self._lock:
            return self._judge(robot, budget, now)

    def lock_out(self, robot: str, until: float) -> None:
        with self._lock:
            self._locked_until[robot] = max(until, self._locked_until.get(robot, 0.0))

    def spend_quota(self, org: str, until: float) -> None:
        with self._lock:
            self._spent_until[org] = max(until, self._spent_until.get(org, 0.0))

    def usage(self, budget: Budget, now: float) -> int:
        start, _ = budget.period(now)
        with self._lock:
            return self._used.get((budget.org, start), 0)

    def close(self) -> None:
        """Nothing to release."""


def _gone(slot: Slot, now: float, window: float) -> bool:
    """Whether ``slot`` can no longer count in any window from ``now`` on."""
    end = slot.arrived if slot.arrived is not None else slot.expires
    return end + window <= now
