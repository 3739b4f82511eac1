"""Budget stores by backend name, for the contract suite (tests/budget/test_contract.py).

``BACKENDS`` maps a name to a factory: given a test's ``tmp_path``, it returns a function
that opens one more *handle* on one shared store — what another sender (thread, process,
host) would hold. The memory store spans one process, so its handles are one object; the
local store's are separate objects (separate SQLite connections) on one file. A later
backend (Redis) joins by adding an entry here, e.g. one that skips without a server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dingwire.budget import BudgetStore, LocalBudgetStore, MemoryBudgetStore

Handles = Callable[[], BudgetStore]


def _memory(tmp_path: Path) -> Handles:
    store = MemoryBudgetStore()
    return lambda: store


def _local(tmp_path: Path) -> Handles:
    path = tmp_path / "budget.sqlite3"
    return lambda: LocalBudgetStore(path)


BACKENDS: dict[str, Callable[[Path], Handles]] = {"memory": _memory, "local": _local}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def handles(backend: str, tmp_path: Path) -> Iterator[Handles]:
    """Opens handles on one store of ``backend``; closes them all after the test."""
    make = BACKENDS[backend](tmp_path)
    opened: list[BudgetStore] = []

    def handle() -> BudgetStore:
        store = make()
        opened.append(store)
        return store

    yield handle
    for store in opened:
        store.close()


@pytest.fixture
def store(handles: Handles) -> BudgetStore:
    """One handle on a fresh store of each backend."""
    return handles()
