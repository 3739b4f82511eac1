"""``sessionWebhook`` sessions: a webhook for one conversation that needs no token or sign.

Rules kept here (API.md §6):

- A session is a random id at ``POST /robot/sendBySession?session=ID``, for one robot's
  conversation (or none), until it expires (about 90 minutes by default).
- An expired session is forgotten the first time it is looked up, and whenever a new one is
  opened: it is then as unknown as one that never was (``300001 session 不存在``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

__all__ = ["SESSION_PATH", "Session", "Sessions"]

SESSION_PATH = "/robot/sendBySession"


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
        """A new session for ``robot`` (a token) that expires ``ttl`` seconds after ``now``."""
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
