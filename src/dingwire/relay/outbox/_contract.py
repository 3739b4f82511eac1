"""The contract every outbox backend keeps (memory, SQLite, Redis): the relay's durable queue.

Every method is synchronous, thread-safe and atomic with respect to every other process
that shares the backend (relays, ``dingwire outbox`` commands). The relay calls them from
worker threads, never on its event loop. A backend that cannot store raises
:class:`OutboxUnavailable`: intake answers 503 with ``Retry-After`` and nothing is lost.

Durability: when :meth:`Outbox.enqueue` returns, the messages survive a kill -9 of the
process (and, for the SQLite backend with its default ``synchronous=FULL``, a power cut).
A backend may group the commits of concurrent callers into one; it never returns before
the commit that holds the caller's messages.

Claims are leases: a claimed record is ``sending`` until its holder acks, nacks, releases or
kills it, or until ``lease_until`` passes, after which any claimer may take it again.
``ack`` always wins (the message went out); ``nack``/``release`` by a holder whose lease
was taken over are ignored.

Order: :meth:`claim` returns the due records of a robot by ``priority`` (0 first), then by
arrival (the order :meth:`enqueue` stored them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from dingwire.relay.model import Enqueued, Outgoing, Record, State

__all__ = ["Outbox", "OutboxUnavailable", "RobotBacklog"]


class OutboxUnavailable(Exception):
    """The backend cannot store or read right now (disk full, database locked, Redis gone).

    ``retry_after`` is a hint in seconds for the ``Retry-After`` header.
    """

    def __init__(self, message: str, *, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class RobotBacklog(Protocol):
    """What waits for one robot: ``due`` records claimable now, ``waiting`` not yet due
    (``retrying`` or held back), ``sending`` under a live lease, and ``next_due`` the
    earliest ``not_before`` among the waiting (``None`` when nothing waits)."""

    due: int
    waiting: int
    sending: int
    next_due: float | None


class Outbox(Protocol):
    """The relay's durable queue (see the module docstring)."""

    def enqueue(
        self, messages: Sequence[Outgoing], *, now: float, dedupe_window: float
    ) -> list[Enqueued]:
        """Store ``messages`` durably, one answer per message, in order.

        A message whose ``dedupe_key`` was stored within ``dedupe_window`` seconds before
        ``now`` (for any robot the key names; keys include the robot) is not stored again:
        its answer is the earlier id with ``duplicate=True``.
        """
        ...

    def claim(
        self, robot: str, *, now: float, owner: str, lease: float, limit: int
    ) -> list[Record]:
        """Take up to ``limit`` due records of ``robot`` (queued or retrying with
        ``not_before <= now``, or sending with an expired lease), mark them ``sending``
        for ``owner`` until ``now + lease``, and return them in claim order."""
        ...

    def backlog(self, *, now: float) -> Mapping[str, RobotBacklog]:
        """Per robot with anything unsent: what is due, waiting and sending at ``now``."""
        ...

    def ack(
        self,
        ids: Sequence[str],
        *,
        now: float,
        reply: Mapping[str, Any] | None,
        digest: str | None = None,
    ) -> None:
        """The records went out (alone or in ``digest``): ``sent``, with DingTalk's reply."""
        ...

    def release(self, ids: Sequence[str], *, owner: str, not_before: float) -> None:
        """Give claimed records back unsent, without counting an attempt (a budget, a
        lockout or a spent quota held them back): ``queued`` again (or ``retrying`` if they
        were), due at ``not_before``."""
        ...

    def nack(
        self,
        ids: Sequence[str],
        *,
        owner: str,
        now: float,
        retry_at: float,
        error: str,
        reply: Mapping[str, Any] | None = None,
    ) -> None:
        """An attempt failed and may succeed later: ``retrying`` until ``retry_at``,
        ``attempts`` + 1, ``failing_since`` set to ``now`` if it was not set."""
        ...

    def kill(
        self,
        ids: Sequence[str],
        *,
        now: float,
        error: str,
        reply: Mapping[str, Any] | None = None,
        attempted: bool = True,
    ) -> None:
        """Dead-letter the records with the reason (a permanent refusal, or ``max_age``)."""
        ...

    def get(self, id: str) -> Record | None:
        """The record with ``id``, in whatever state, or ``None``."""
        ...

    def list(
        self, *, state: State | None = None, robot: str | None = None, limit: int = 100
    ) -> list[Record]:
        """Records, newest first, filtered by state and robot."""
        ...

    def counts(self) -> Mapping[str, Mapping[State, int]]:
        """Per robot, how many records are in each state (for ``/metrics``)."""
        ...

    def retry(self, id: str, *, now: float) -> bool:
        """Make a dead (or retrying) record due now again, ``failing_since`` cleared;
        ``False`` if there is no such record or it is not dead or retrying."""
        ...

    def retry_dead(self, *, now: float) -> int:
        """:meth:`retry` every dead record; how many."""
        ...

    def purge_dead(self) -> int:
        """Delete every dead record; how many."""
        ...

    def purge_sent(self, *, before: float) -> int:
        """Delete the records sent before ``before`` (and their dedupe keys); how many.
        Nothing queued, sending, retrying or dead is touched."""
        ...

    def check(self) -> None:
        """Raise :class:`OutboxUnavailable` unless the backend can store right now
        (``/readyz``)."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...
