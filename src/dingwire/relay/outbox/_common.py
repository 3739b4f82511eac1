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

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
