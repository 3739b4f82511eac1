"""A budget store named by a URL, as the config file and ``Robot(budget_store=...)`` take it."""

from __future__ import annotations

from dingwire.budget._contract import BudgetStore
from dingwire.core.errors import ConfigError

__all__ = ["open_store"]


def open_store(url: str) -> BudgetStore:
    """``"local"`` (the machine-local default), ``"memory://"`` or ``"sqlite:///PATH"``."""
    from dingwire.budget.local import LocalBudgetStore, default_store
    from dingwire.budget.memory import MemoryBudgetStore

    text = url.strip()
    if text in ("local", ""):
        return default_store()
    if text in ("memory", "memory://"):
        return MemoryBudgetStore()
    if text.startswith("sqlite:///"):
        return LocalBudgetStore(text[len("sqlite:///") :] or None)
    if text.startswith(("redis://", "rediss://")):
        raise ConfigError(
            "budget store: a Redis budget store is not part of this version of dingwire; "
            "use 'local' (every process on this machine) or 'memory://'"
        )
    raise ConfigError(
        f"budget store: {url!r} is not a store; write 'local', 'memory://' or "
        "'sqlite:///path/to/budget.sqlite3'"
    )
