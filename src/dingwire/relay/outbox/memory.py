"""The outbox of one process, in memory: for tests, the demo and ``queue = "memory://"``.

Nothing survives the process; everything else is the contract
(:mod:`dingwire.relay.outbox._contract`) exactly as the SQLite backend keeps it. Messages are
stored in their encoded form, as SQLite stores them, so that a caller changing a body after
:meth:`MemoryOutbox.enqueue` (or a record it got back) changes nothing stored.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dingwire.relay.model import STATES, Enqueued, Outgoing, Record, State
from dingwire.relay.outbox._common import (
    Backlog,
    decode_message,
    encode_message,
    failure_reply,
    new_id,
    released_state,
    with_attempt,
)
from dingwire.relay.outbox._contract import OutboxUnavailable

__all__ = ["MemoryOutbox"]


@dataclass(slots=True)
class _Row:
    """One stored record; ``seq`` is its place in arrival order."""

    id: str
    seq: int
    robot: str
    priority: int
    message: str
    state: State = "queued"
    attempts: int = 0
    not_before: float = 0.0
    lease_until: float | None = None
    owner: str | None = None
    failing_since: float | None = None
    error: str | None = None
    reply: dict[str, Any] | None = None
    digest: str | None = None
    digest_size: int = 0
    sent_at: float | None = None
    updated: float = 0.0
    history: tuple[dict[str, Any], ...] = field(default=())

    def record(self) -> Record:
        return Record(
            id=self.id,
            message=decode_message(self.message),
            state=self.state,
            attempts=self.attempts,
            not_before=self.not_before,
            lease_until=self.lease_until,
            owner=self.owner,
            failing_since=self.failing_since,
            error=self.error,
            reply=None if self.reply is None else dict(self.reply),
            digest=self.digest,
            digest_size=self.digest_size,
            sent_at=self.sent_at,
            updated=self.updated,
            history=tuple(dict(entry) for entry in self.history),
        )

    def claimable(self, now: float) -> bool:
        if self.state in ("queued", "retrying"):
            return self.not_before <= now
        return self.state == "sending" and (self.lease_until or 0.0) <= now


class MemoryOutbox:
    """An :class:`~dingwire.relay.outbox.Outbox` in this process's memory, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._rows: dict[str, _Row] = {}
        # kept with every change of state, so that claim, backlog and counts never walk the
        # history of sent and dead records
        self._unsent: dict[str, dict[str, _Row]] = {}  # robot -> id -> row
        self._counts: dict[str, dict[State, int]] = {}
        self._dedupe: dict[str, tuple[str, float]] = {}  # key -> (id, stored at)
        self._closed = False

    def _count(self, robot: str, state: State, change: int) -> None:
        per = self._counts.setdefault(robot, dict.fromkeys(STATES, 0))
        per[state] += change

    def _move(self, row: _Row, state: State) -> None:
        """``row`` to ``state``, with the counts and the unsent index."""
        self._count(row.robot, row.state, -1)
        self._count(row.robot, state, +1)
        row.state = state
        unsent = self._unsent.setdefault(row.robot, {})
        if state in ("sent", "dead"):
            unsent.pop(row.id, None)
        else:
            unsent[row.id] = row

    def _drop(self, row: _Row) -> None:
        """Forget a deleted row in the counts and the unsent index."""
        self._count(row.robot, row.state, -1)
        self._unsent.get(row.robot, {}).pop(row.id, None)

    def _open(self) -> None:
        if self._closed:
            raise OutboxUnavailable("the outbox is closed", retry_after=1.0)

    def enqueue(
        self, messages: Sequence[Outgoing], *, now: float, dedupe_window: float
    ) -> list[Enqueued]:
        encoded = [encode_message(message) for message in messages]
        answers: list[Enqueued] = []
        with self._lock:
            self._open()
            self._forget(now, dedupe_window)
            for message, text in zip(messages, encoded, strict=True):
                key = message.dedupe_key
                if key is not None:
                    seen = self._dedupe.get(key)
                    if seen is not None and now - seen[1] <= dedupe_window:
                        answers.append(Enqueued(seen[0], duplicate=True))
                        continue
                id = new_id(now)
                while id in self._rows:  # 40 random bits within one millisecond: draw again
                    id = new_id(now)
                row = _Row(
                    id=id,
                    seq=next(self._seq),
                    robot=message.robot,
                    priority=message.priority,
                    message=text,
                    not_before=now,
                    updated=now,
                )
                self._rows[row.id] = row
                self._unsent.setdefault(row.robot, {})[row.id] = row
                self._count(row.robot, "queued", +1)
                if key is not None:
                    self._dedupe.pop(key, None)  # to the end: the dict stays in time order
                    self._dedupe[key] = (row.id, now)
                answers.append(Enqueued(row.id))
        return answers

    def _forget(self, now: float, window: float) -> None:
        """Drop the dedupe keys older than ``window`` (the oldest come first)."""
        while self._dedupe:
            key, (_, stored) = next(iter(self._dedupe.items()))
            if now - stored <= window:
                return
            del self._dedupe[key]

    def claim(
        self, robot: str, *, now: float, owner: str, lease: float, limit: int
    ) -> list[Record]:
        with self._lock:
            self._open()
            if limit <= 0:
                return []
            due = sorted(
                (r for r in self._unsent.get(robot, {}).values() if r.claimable(now)),
                key=lambda r: (r.priority, r.seq),
            )[:limit]
            for row in due:
                self._move(row, "sending")
                row.owner = owner
                row.lease_until = now + lease
                row.updated = now
            return [row.record() for row in due]

    def backlog(self, *, now: float) -> Mapping[str, Backlog]:
        result: dict[str, Backlog] = {}
        with self._lock:
            self._open()
            for row in (r for rows in self._unsent.values() for r in rows.values()):
                entry = result.setdefault(row.robot, Backlog())
                if row.claimable(now):
                    entry.due += 1
                elif row.state == "sending":
                    entry.sending += 1
                else:
                    entry.waiting += 1
                    if entry.next_due is None or row.not_before < entry.next_due:
                        entry.next_due = row.not_before
        return result

    def _held(self, ids: Sequence[str], owner: str) -> list[_Row]:
        """The rows of ``ids`` still claimed by ``owner`` (a lease taken over is not)."""
        rows = (self._rows.get(id) for id in dict.fromkeys(ids))
        return [r for r in rows if r is not None and r.state == "sending" and r.owner == owner]

    def ack(
        self,
        ids: Sequence[str],
        *,
        now: float,
        reply: Mapping[str, Any] | None,
        digest: str | None = None,
    ) -> None:
        size = len(ids) if digest is not None else 1
        with self._lock:
            self._open()
            for id in dict.fromkeys(ids):
                row = self._rows.get(id)
                if row is None or row.state == "sent":
                    continue
                self._move(row, "sent")
                row.attempts += 1
                row.owner = row.lease_until = row.failing_since = row.error = None
                row.reply = None if reply is None else dict(reply)
                row.digest = digest
                row.digest_size = size
                row.sent_at = row.updated = now
                row.history = with_attempt(row.history, now, "sent")

    def release(self, ids: Sequence[str], *, owner: str, not_before: float) -> None:
        with self._lock:
            self._open()
            for row in self._held(ids, owner):
                self._move(row, released_state(row.failing_since))
                row.owner = row.lease_until = None
                row.not_before = not_before

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
        with self._lock:
            self._open()
            for row in self._held(ids, owner):
                self._move(row, "retrying")
                row.attempts += 1
                row.owner = row.lease_until = None
                row.not_before = retry_at
                if row.failing_since is None:
                    row.failing_since = now
                row.error = error
                row.reply = failure_reply(reply, error)
                row.updated = now
                row.history = with_attempt(row.history, now, "retry", error)

    def kill(
        self,
        ids: Sequence[str],
        *,
        now: float,
        error: str,
        reply: Mapping[str, Any] | None = None,
        attempted: bool = True,
    ) -> None:
        with self._lock:
            self._open()
            for id in dict.fromkeys(ids):
                row = self._rows.get(id)
                if row is None or row.state in ("sent", "dead"):
                    continue
                self._move(row, "dead")
                if attempted:
                    row.attempts += 1
                row.owner = row.lease_until = None
                row.error = error
                if reply is not None or attempted:
                    row.reply = failure_reply(reply, error)
                row.updated = now
                row.history = with_attempt(row.history, now, "dead", error)

    def get(self, id: str) -> Record | None:
        with self._lock:
            self._open()
            row = self._rows.get(id)
            return None if row is None else row.record()

    def list(
        self, *, state: State | None = None, robot: str | None = None, limit: int = 100
    ) -> list[Record]:
        with self._lock:
            self._open()
            rows = [
                r
                for r in self._rows.values()
                if (state is None or r.state == state) and (robot is None or r.robot == robot)
            ]
            rows.sort(key=lambda r: r.seq, reverse=True)
            return [row.record() for row in rows[: max(0, limit)]]

    def counts(self) -> Mapping[str, Mapping[State, int]]:
        result: dict[str, dict[State, int]] = {}
        with self._lock:
            self._open()
            for robot, per in self._counts.items():
                if any(per.values()):
                    result[robot] = dict(per)
        return result

    def retry(self, id: str, *, now: float) -> bool:
        with self._lock:
            self._open()
            row = self._rows.get(id)
            if row is None or row.state not in ("dead", "retrying"):
                return False
            self._revive(row, now)
            return True

    def retry_dead(self, *, now: float) -> int:
        with self._lock:
            self._open()
            dead = [r for r in self._rows.values() if r.state == "dead"]
            for row in dead:
                self._revive(row, now)
            return len(dead)

    def _revive(self, row: _Row, now: float) -> None:
        self._move(row, "queued")
        row.not_before = row.updated = now
        row.failing_since = None

    def purge_dead(self) -> int:
        with self._lock:
            self._open()
            dead = {id for id, r in self._rows.items() if r.state == "dead"}
            for id in dead:
                self._drop(self._rows.pop(id))
            for key in [k for k, (id, _) in self._dedupe.items() if id in dead]:
                del self._dedupe[key]
            return len(dead)

    def purge_sent(self, *, before: float) -> int:
        """Delete the records sent before ``before``; how many (memory is not endless)."""
        with self._lock:
            self._open()
            old = [
                id
                for id, r in self._rows.items()
                if r.state == "sent" and r.sent_at is not None and r.sent_at < before
            ]
            for id in old:
                self._drop(self._rows.pop(id))
            return len(old)

    def check(self) -> None:
        with self._lock:
            self._open()

    def close(self) -> None:
        with self._lock:
            self._closed = True
