"""An outbox named by a URL, as ``[relay] queue`` names it."""

from __future__ import annotations

from dingwire.core.errors import ConfigError
from dingwire.relay.outbox._contract import Outbox

__all__ = ["open_outbox"]

_FORMS = "'memory://', 'sqlite:///relative/path.sqlite3' or 'sqlite:////absolute/path.sqlite3'"


def open_outbox(url: str) -> Outbox:
    """Open the outbox ``url`` names.

    ``memory://`` (this process only, lost when it ends), ``sqlite:///PATH`` with a path
    relative to the working directory (``sqlite:///./dingwire-outbox.sqlite3``), or
    ``sqlite:////PATH`` with an absolute one. ``redis://`` is not available yet.
    Anything else is a :class:`~dingwire.core.errors.ConfigError` naming ``[relay] queue``.
    """
    text = url.strip()
    if text in ("memory", "memory://"):
        from dingwire.relay.outbox.memory import MemoryOutbox

        return MemoryOutbox()
    if text.startswith("sqlite:///"):
        path = text[len("sqlite:///") :]
        if not path or path.endswith("/"):
            raise ConfigError(f"[relay] queue: {url!r} names no file; write {_FORMS}")
        from dingwire.relay.outbox.sqlite import SqliteOutbox

        return SqliteOutbox(path)
    if text.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            "[relay] queue: a Redis outbox is not available yet in this version of dingwire "
            f"(issue 11); write {_FORMS}"
        )
    raise ConfigError(f"[relay] queue: {url!r} is not an outbox; write {_FORMS}")
