"""``sessionWebhook`` sessions: a webhook for one conversation that needs no token or sign.

Rules kept here (API.md §6):

- A session is a random id at ``POST /robot/sendBySession?session=ID``, for one robot's
  conversation (or none), until it expires (about 90 minutes by default).
- A session lives more than 0 seconds and at most :data:`MAX_SESSION_TTL` (30 days): NaN,
  infinities, negatives and absurd lifetimes are refused (:func:`check_ttl`), as they would
  make an expiry no client can read.
- An expired session is forgotten the first time it is looked up, and whenever a new one is
  opened: it is then as unknown as one that never was (``300001 session 不存在``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from dingwire.core.policy import parse_duration

__all__ = ["MAX_SESSION_TTL", "SESSION_PATH", "Session", "Sessions", "check_ttl"]

SESSION_PATH = "/robot/sendBySession"

#: The longest a session may live, in seconds (DingTalk's live about 90 minutes).
MAX_SESSION_TTL = 30 * 86400.0


def check_ttl(value: object, *, name: str = "session ttl") -> float:
    """``value`` (seconds, or a duration such as ``"90m"``) as a session's lifetime, or
    :class:`~dingwire.core.errors.ConfigError` naming ``name``, what was given and what is
    expected (the core's rule for durations, more than 0, at most 30 days)."""
    return parse_duration(
        value,  # type: ignore[arg-type]  # any JSON value: parse_duration checks its type
        name=name,
        positive=True,
        maximum=MAX_SESSION_TTL,
    )


@dataclass(frozen=True, slots=True)
class Session:
    """A ``sessionWebhook`` session: its id, its robot's token (if any), when it expires."""

    id: str
    robot: str | None
    expires_at: float

    @property
    def path(self) -> str:
        """The path and query of the session webhook."""
        return f"{SESSION_PATH}?session={self.id}"

    def to_json(self, base_url: str = "") -> dict[str, Any]:
        """The session as ``POST /api/sessions`` answers it."""
        return {
            "session": self.id,
            "webhook": f"{base_url}{self.path}",
            "expires_at": self.expires_at,
            "sessionWebhookExpiredTime": round(self.expires_at * 1000),
        }


class Sessions:
    """The open sessions, by id."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def clear(self) -> None:
        """Forget every session."""
        self._sessions = {}

    def open(self, robot: str | None, *, now: float, ttl: float) -> Session:
        """A new session for ``robot`` (a token) that expires ``ttl`` seconds after ``now``
        (refused with :class:`ConfigError` unless :func:`check_ttl` takes it)."""
        ttl = check_ttl(ttl)
        for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[key]
        session = Session(secrets.token_hex(16), robot, now + ttl)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str, now: float) -> Session | None:
        """The session ``session_id`` if it is open at ``now``."""
        session = self._sessions.get(session_id)
        if session is not None and session.expires_at <= now:
            del self._sessions[session_id]
            return None
        return session

    def peek(self, session_id: str, now: float) -> Session | None:
        """The same as :meth:`get`, without forgetting an expired session."""
        session = self._sessions.get(session_id)
        return session if session is not None and session.expires_at > now else None
