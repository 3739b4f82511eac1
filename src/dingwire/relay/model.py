"""What the relay stores and moves: one outgoing DingTalk message and its delivery record.

Intake turns every request into an :class:`Outgoing` message (one per robot and
notification); the outbox keeps each as a :class:`Record` with its delivery state; the
dispatcher sends a record alone or merges several into a digest, using the
:class:`DigestLine`\\ s each message carries (one per alert, already escaped markdown).

An Alertmanager or Grafana notification is stored *as received*, checked but not rendered
(:attr:`Outgoing.payload`): the intake's work per request is reading the payload, and the
rendering is done by the dispatcher when it sends the message, for the messages it sends
(a storm's backlog is rendered as fast as the budget lets it go, never all at intake).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["STATES", "DigestLine", "Enqueued", "Kind", "Outgoing", "Record", "State"]

Kind = Literal["text", "markdown", "card"]
State = Literal["queued", "sending", "sent", "retrying", "dead"]
#: Every state a record can be in, in the order of its life.
STATES: tuple[State, ...] = ("queued", "sending", "sent", "retrying", "dead")


@dataclass(frozen=True, slots=True)
class DigestLine:
    """What a digest keeps of one alert (or of one plain message).

    ``status`` is ``"firing"``, ``"resolved"`` or ``""`` (a plain message); ``name`` the
    alertname (or the message's title); ``text`` one line of DingTalk markdown, every alert
    value already passed through :func:`~dingwire.content.escape_markdown`.
    """

    status: str
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One DingTalk message the relay has accepted for one robot.

    ``body`` is the complete DingTalk JSON (checked by the core's validator at intake);
    ``kind`` says whether it may be merged (``text``, ``markdown``) or not (``card``: link,
    actionCard, feedCard). ``priority`` is an index into ``[relay] priority_order``
    (0 = most urgent; unknown severities come after every known one). ``lines`` is what a
    digest keeps of it (at least one). ``dedupe_key`` is set for alert notifications: the
    same key within ``dedupe_window`` is stored once. ``received`` is the epoch time of
    intake; delivery latency is measured from it.

    ``payload``: an alert notification as it was received (its JSON text), while it is
    not rendered yet; ``body`` is then empty and ``lines`` too, and
    :meth:`dingwire.relay.render.Renderer.complete` renders them (with ``received`` as the
    time of rendering, so a message reads the same whenever it is rendered). ``None`` for a
    rendered message.
    """

    robot: str
    body: dict[str, Any]
    kind: Kind
    lines: tuple[DigestLine, ...]
    priority: int = 0
    source: str = "messages"  # "alertmanager" | "grafana" | "messages"
    dedupe_key: str | None = None
    received: float = 0.0
    payload: str | None = None

    @property
    def rendered(self) -> bool:
        """Whether ``body`` and ``lines`` are there (``False``: only ``payload`` is)."""
        return self.payload is None


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The answer to one enqueued message: its id, and whether it was already stored."""

    id: str
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Record:
    """One message in the outbox with its delivery state (``GET /v1/messages/{id}``).

    ``not_before``: the earliest time it may be claimed again. ``failing_since``: when the
    current run of failed attempts began (``max_age`` counts from it; time held back by a
    budget, a lockout or a spent quota never sets it). ``reply``: DingTalk's last answer
    (``{"errcode": ..., "errmsg": ...}``) or ``{"error": "..."}`` for a failure without one.
    ``digest``: the id of the digest that carried it, ``digest_size`` how many records that
    digest merged (1 when it went alone).
    """

    id: str
    message: Outgoing
    state: State
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
