"""The contract every budget store keeps: state only; the decisions are the core's.

A store holds, per robot, its recent :class:`~dingwire.core.budget.Slot`\\ s and its lockout,
and per organisation its count in each quota period and any "spent" DingTalk reported.
Every method is atomic with respect to every other sender that shares the store (threads,
processes, hosts: whatever the store spans), and none of them raises for a problem of the
store itself: a store that cannot keep its state says so once and stays conservative.

``blocking`` tells an async caller whether a call can wait on I/O or on other processes;
``AsyncRobot`` runs the calls of a blocking store in a worker thread, never on its loop. A
blocking store may also offer ``nowait()``, a context manager within which a call either
completes without waiting for anyone or raises :class:`WouldBlock` having done nothing: the
loop tries that first, since a thread hand-off costs more than an uncontended local call.
"""

from __future__ import annotations

from typing import Protocol

from dingwire.core.budget import Budget, Verdict

__all__ = ["BudgetStore", "WouldBlock"]


class WouldBlock(Exception):
    """A call made within a store's ``nowait()`` would have had to wait; nothing was done."""


class BudgetStore(Protocol):
    """Budget state shared by every sender of a robot (see the module docstring).

    ``robot`` is a robot's key (:func:`dingwire.transport.base.robot_key`), ``now`` epoch
    seconds of the caller's clock.
    """

    blocking: bool

    def reserve(self, robot: str, budget: Budget, now: float, *, hold: float) -> Verdict:
        """Judge one more send of ``robot`` at ``now`` and, if it may go, hold its slot.

        Atomically: :func:`~dingwire.core.budget.judge` on the robot's slots, lockout and
        its org's count; when the verdict is go, record a slot that started at ``now`` and
        is in flight until ``now + hold`` at the latest, count it in the org's current
        period, and return the verdict with ``slot`` set to the slot's id.
        """
        ...

    def settle(self, robot: str, slot: int, arrived: float | None) -> None:
        """The reply of ``slot`` came back at ``arrived``, or (``None``) it never left.

        A send that never left gives its slot and its count in the quota back. An unknown
        slot (already forgotten) is ignored.
        """
        ...

    def peek(self, robot: str, budget: Budget, now: float) -> Verdict:
        """What :meth:`reserve` would say at ``now``, recording nothing."""
        ...

    def lock_out(self, robot: str, until: float) -> None:
        """No sender of ``robot`` may start before ``until`` (a later lockout wins)."""
        ...

    def spend_quota(self, org: str, until: float) -> None:
        """DingTalk said ``org``'s quota is spent: no send of the org before ``until``."""
        ...

    def usage(self, budget: Budget, now: float) -> int:
        """How many sends ``budget.org`` made in the quota period of ``now``."""
        ...

    def close(self) -> None:
        """Release files and connections (the store opens them again when used)."""
        ...
