"""Budget stores by backend name, for the contract suite (tests/budget/test_contract.py).

``BACKENDS`` maps a name to a factory: given a test's ``tmp_path``, it returns a function
that opens one more *handle* on one shared store — what another sender (thread, process,
host) would hold. The memory store spans one process, so its handles are one object; the
local store's are separate objects (separate SQLite connections) on one file, the Redis
store's separate clients on one database (``redis_url``: a real Redis, never skipped).
A factory that needs a fixture asks ``request`` for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dingwire.budget import BudgetStore, LocalBudgetStore, MemoryBudgetStore, RedisBudgetStore

Handles = Callable[[], BudgetStore]


class BudgetLog(logging.Handler):
    """What the stores said (logger ``dingwire.budget``) during one test.

    A healthy store says nothing: unless a test asked what was said (:meth:`said`), any
    warning fails it. (A store that fell back to memory behaves much like a good one, and
    only says so: this is what tells them apart.)
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.expected = False

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def said(self) -> list[str]:
        """The warnings so far; the test expects them, so they fail nothing."""
        self.expected = True
        return [r.getMessage() for r in self.records if r.levelno >= logging.WARNING]


@pytest.fixture(autouse=True)
def budget_log() -> Iterator[BudgetLog]:
    logger = logging.getLogger("dingwire.budget")
    handler = BudgetLog()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
    if not handler.expected:
        unexpected = [r.getMessage() for r in handler.records if r.levelno >= logging.WARNING]
        assert not unexpected, f"the store said: {unexpected}"


def _memory(request: pytest.FixtureRequest, tmp_path: Path) -> Handles:
    store = MemoryBudgetStore()
    return lambda: store


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> Handles:
    path = tmp_path / "budget.sqlite3"
    return lambda: LocalBudgetStore(path)


def _redis(request: pytest.FixtureRequest, tmp_path: Path) -> Handles:
    url: str = request.getfixturevalue("redis_url")
    return lambda: RedisBudgetStore(url)


#: Each backend: given the test's ``request`` and ``tmp_path``, what opens its handles.
BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Handles]] = {
    "memory": _memory,
    "local": _local,
    "redis": _redis,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def handles(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Handles]:
    """Opens handles on one store of ``backend``; closes them all after the test."""
    make = BACKENDS[backend](request, tmp_path)
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
