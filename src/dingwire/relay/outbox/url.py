"""An outbox named by a URL, as ``[relay] queue`` names it."""

from __future__ import annotations

from dingwire.core.errors import ConfigError
from dingwire.core.redact import mask_url
from dingwire.relay.outbox._contract import Outbox

__all__ = ["open_outbox"]

_FORMS = (
    "'memory://', 'sqlite:///relative/path.sqlite3', 'sqlite:////absolute/path.sqlite3' "
    "or 'redis://[:PASSWORD@]HOST[:PORT][/DB]'"
)


def open_outbox(url: str) -> Outbox:
    """Open the outbox ``url`` names.

    ``memory://`` (this process only, lost when it ends), ``sqlite:///PATH`` with a path
    relative to the working directory (``sqlite:///./dingwire-outbox.sqlite3``), or
    ``sqlite:////PATH`` with an absolute one; ``redis://HOST:PORT/DB`` (``rediss://`` for
    TLS, ``unix:///PATH``), shared by every relay pointed at it, with the ``redis`` extra.
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
        try:
            from dingwire.relay.outbox.redis import RedisOutbox
        except ImportError as error:
            if error.name != "redis" and not (error.name or "").startswith("redis."):
                raise
            raise ConfigError(
                "[relay] queue: a Redis outbox needs the redis package: "
                "pip install 'dingwire[redis]'"
            ) from None
        return RedisOutbox(text)
    raise ConfigError(
        f"[relay] queue: {mask_url(text, whole=True)!r} is not an outbox; write {_FORMS}"
    )
