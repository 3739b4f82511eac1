"""Where budgets live: the state the core's budget rules decide on, shared by every sender.

Every store keeps the same contract, :class:`BudgetStore` (one contract test suite runs over
all of them); the rules themselves are :mod:`dingwire.core.budget`'s, never a store's own:

- :class:`MemoryBudgetStore`: the threads and tasks of one process.
- :class:`LocalBudgetStore`: every process on the machine, through one SQLite file in WAL
  mode under the cache directory (``$DINGWIRE_CACHE_DIR``, else ``$XDG_CACHE_HOME/dingwire``,
  else ``~/.cache/dingwire``). The default.
- :class:`RedisBudgetStore`: every host that points at one Redis (``dingwire[redis]``);
  while Redis is away it counts in the machine-local store, or fails (``on_store_error``).
- ``open_store(url)``: a store from ``"memory://"``, ``"sqlite:///path/budget.sqlite3"``,
  ``"redis://host:port/db"`` or ``"local"``.
"""

from __future__ import annotations

from dingwire.budget._contract import BudgetStore, WouldBlock
from dingwire.budget.local import LocalBudgetStore, default_cache_dir, default_store
from dingwire.budget.memory import MemoryBudgetStore
from dingwire.budget.redis import RedisBudgetStore
from dingwire.budget.url import open_store

__all__ = [
    "BudgetStore",
    "LocalBudgetStore",
    "MemoryBudgetStore",
    "RedisBudgetStore",
    "WouldBlock",
    "default_cache_dir",
    "default_store",
    "open_store",
]
