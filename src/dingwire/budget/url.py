"""A budget store named by a URL, as the config file and ``Robot(budget_store=...)`` take it."""

from __future__ import annotations

from dingwire.budget._contract import BudgetStore
from dingwire.core.errors import ConfigError
from dingwire.core.redact import mask_url

__all__ = ["open_store"]


def open_store(url: str, *, on_store_error: str | None = None) -> BudgetStore:
    """``"local"`` (the machine-local default), ``"memory://"``, ``"sqlite:///PATH"`` or
    ``"redis://host:port/db"`` (``rediss://`` for TLS; needs ``dingwire[redis]``).

    ``on_store_error`` (``"local"`` or ``"fail"``) is what a Redis store does while Redis
    cannot be reached (:mod:`dingwire.budget.redis`); the other stores cannot be away.
    """
    from dingwire.budget.local import LocalBudgetStore, default_store
    from dingwire.budget.memory import MemoryBudgetStore
    from dingwire.budget.redis import DEFAULT_ON_STORE_ERROR, check_on_store_error

    mode = check_on_store_error(on_store_error or DEFAULT_ON_STORE_ERROR)
    text = url.strip()
    if text in ("local", ""):
        return default_store()
    if text in ("memory", "memory://"):
        return MemoryBudgetStore()
    if text.startswith("sqlite:///"):
        return LocalBudgetStore(text[len("sqlite:///") :] or None)
    if text.startswith(("redis://", "rediss://")):
        from dingwire.budget.redis import RedisBudgetStore

        return RedisBudgetStore(text, on_error=mode)
    shown = _masked(text)
    raise ConfigError(
        f"budget store: {shown!r} is not a store; write 'local', 'memory://', "
        "'sqlite:///path/to/budget.sqlite3' or 'redis://host:6379/0'"
    )


def _masked(text: str) -> str:
    return mask_url(text, whole=True) if "://" in text else text
