"""Where budgets live: the state the core's budget rules decide on, shared by every sender.

Every store keeps the same contract, :class:`BudgetStore` (one contract test suite runs over
all of them); the rules themselves are :mod:`dingwire.core.budget`'s, never a store's own:

- :class:`MemoryBudgetStore`: the threads and tasks of one process.
- :class:`LocalBudgetStore`: every process on the machine, through one SQLite file in WAL
  mode under the cache directory (``$DINGWIRE_CACHE_DIR``, else ``$XDG_CACHE_HOME/dingwire``,
  else ``~/.cache/dingwire``). The default.
- ``open_store(url)``: a store from ``"memory://"``, ``"sqlite:///path/budget.sqlite3"`` or
  ``"local"``.
"""

from __future__ import annotations

from dingwire.budget._contract import BudgetStore, WouldBlock
from dingwire.budget.local import LocalBudgetStore, default_cache_dir, default_store
from dingwire.budget.memory import MemoryBudgetStore
from dingwire.budget.url import open_store

__all__ = [
    "BudgetStore",
    "LocalBudgetStore",
    "MemoryBudgetStore",
    "WouldBlock",
    "default_cache_dir",
    "default_store",
    "open_store",
]
