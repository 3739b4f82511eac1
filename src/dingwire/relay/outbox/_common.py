"""What every outbox backend shares: record ids, the stored form of a message, the rules.

The rules are written once here so that the memory and SQLite backends (and Redis later)
cannot drift apart:

- a claimed record given back unsent (:meth:`Outbox.release`, or a lease that ran out) is
  ``retrying`` if it was in a run of failures (``failing_since`` set), ``queued`` otherwise;
- ``history`` keeps the last :data:`HISTORY` attempts, each ``{"at", "outcome"}`` plus the
  error when there was one; a release is no attempt and leaves no entry;
- a failure without a DingTalk answer keeps ``{"error": ...}`` as its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from dingwire.relay.model import DigestLine, Outgoing, State

__all__ = [
    "HISTORY",
    "Backlog",
    "decode_message",
    "encode_message",
    "failure_reply",
    "new_id",
    "released_state",
    "with_attempt",
]

#: How many attempts a record remembers (the newest ones).
HISTORY = 10


@dataclass(slots=True)
class Backlog:
    """One robot's :class:`~dingwire.relay.outbox.RobotBacklog`."""

    due: int = 0
    waiting: int = 0
    sending: int = 0
    next_due: float | None = None


class Waiter(Protocol):
    """A call waiting for a writer thread: its future, and the loop that future is of
    (``None``: a :class:`concurrent.futures.Future`, set from any thread)."""

    loop: asyncio.AbstractEventLoop | None
    future: Future[Any] | asyncio.Future[Any]


#: A call's outcome: the call, its result, or the exception it ends with.
Outcome = tuple[Waiter, Any, BaseException | None]


def new_future(loop: asyncio.AbstractEventLoop | None) -> Future[Any] | asyncio.Future[Any]:
    """A thread's future, or — for a caller on ``loop`` — a future of that loop."""
    return Future() if loop is None else loop.create_future()


def settle(outcomes: Sequence[Outcome]) -> None:
    """Set each call's future to its result or exception, from a writer thread: thread
    futures at once, a loop's futures in one callback on that loop (one wake-up of the
    loop for all its callers, not one each)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        loop = outcome[0].loop
        if loop is None:
            _set(outcome)
        else:
            by_loop.setdefault(loop, []).append(outcome)
    for loop, some in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_set_all, some)


def _set_all(outcomes: Sequence[Outcome]) -> None:
    for outcome in outcomes:
        _set(outcome)


def _set(outcome: Outcome) -> None:
    waiter, result, error = outcome
    future = waiter.future
    if future.done():  # a caller that gave up (cancelled), or set already
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def new_id(now: float) -> str:
    """A short id that sorts by the time it was made: 11 hex digits of milliseconds, then
    10 random ones (40 bits: unique among the messages of one millisecond)."""
    millis = max(0, int(now * 1000)) & 0xFFFFFFFFFFF
    return f"{millis:011x}{secrets.token_hex(5)}"


def encode_message(message: Outgoing) -> str:
    """The message as stored: JSON that :func:`decode_message` turns back into an equal one
    (a message not rendered yet keeps its ``payload``; a rendered one has no such key)."""
    data: dict[str, Any] = {
        "robot": message.robot,
        "body": message.body,
        "kind": message.kind,
        "lines": [[line.status, line.name, line.text] for line in message.lines],
        "priority": message.priority,
        "source": message.source,
        "dedupe_key": message.dedupe_key,
        "received": message.received,
    }
    if message.payload is not None:
        data["payload"] = message.payload
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decode_message(text: str) -> Outgoing:
    """The :class:`Outgoing` that :func:`encode_message` stored."""
    data = json.loads(text)
    return Outgoing(
        robot=data["robot"],
        body=data["body"],
        kind=data["kind"],
        lines=tuple(DigestLine(*line) for line in data["lines"]),
        priority=data["priority"],
        source=data["source"],
        dedupe_key=data["dedupe_key"],
        received=data["received"],
        payload=data.get("payload"),
    )


def released_state(failing_since: float | None) -> State:
    """The state a record goes back to when it is given back unsent."""
    return "queued" if failing_since is None else "retrying"


def failure_reply(reply: Mapping[str, Any] | None, error: str) -> dict[str, Any]:
    """DingTalk's answer to a failed attempt, or ``{"error": error}`` when there was none."""
    return dict(reply) if reply is not None else {"error": error}


def with_attempt(
    history: tuple[dict[str, Any], ...], at: float, outcome: str, error: str | None = None
) -> tuple[dict[str, Any], ...]:
    """``history`` with one more attempt, keeping the newest :data:`HISTORY`."""
    entry: dict[str, Any] = {"at": at, "outcome": outcome}
    if error is not None:
        entry["error"] = error
    return (*history, entry)[-HISTORY:]
