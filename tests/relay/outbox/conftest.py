"""Outboxes by backend name, for the contract suite (tests/relay/outbox/test_contract.py).

``BACKENDS`` maps a name to a factory: given a test's ``tmp_path``, it returns a function
that opens one more *handle* on one shared outbox — what another relay process or a
``dingwire outbox`` command would hold. The memory outbox spans one process, so its handles
are one object; SQLite's are separate objects (separate connections) on one file; Redis's are
separate clients on one database of a real Redis (the ``redis_url`` fixture: emptied first).
A factory that needs a fixture gets it from ``request.getfixturevalue``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dingwire.relay.model import DigestLine, Outgoing
from dingwire.relay.outbox import MemoryOutbox, Outbox, SqliteOutbox

Handles = Callable[[], Outbox]


def _memory(request: pytest.FixtureRequest, tmp_path: Path) -> Handles:
    outbox = MemoryOutbox()
    return lambda: outbox


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Handles:
    path = tmp_path / "outbox.sqlite3"
    return lambda: SqliteOutbox(path)


def _redis(request: pytest.FixtureRequest, tmp_path: Path) -> Handles:
    from dingwire.relay.outbox.redis import RedisOutbox

    url: str = request.getfixturevalue("redis_url")
    return lambda: RedisOutbox(url)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Handles]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "redis": _redis,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def handles(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Handles]:
    """Opens handles on one outbox of ``backend``; closes them all after the test."""
    make = BACKENDS[backend](request, tmp_path)
    opened: list[Outbox] = []

    def handle() -> Outbox:
        outbox = make()
        opened.append(outbox)
        return outbox

    yield handle
    for outbox in opened:
        outbox.close()


@pytest.fixture
def outbox(handles: Handles) -> Outbox:
    """One handle on a fresh outbox of each backend."""
    return handles()


def message(
    robot: str = "ops",
    text: str = "disk full",
    *,
    priority: int = 0,
    key: str | None = None,
    kind: str = "markdown",
    received: float = 100.0,
) -> Outgoing:
    """A small markdown message for ``robot``."""
    return Outgoing(
        robot=robot,
        body={"msgtype": "markdown", "markdown": {"title": text, "text": f"### {text}"}},
        kind=kind,  # type: ignore[arg-type]
        lines=(DigestLine("firing", "Disk", f"🔥 **FIRING** Disk — {text}"),),
        priority=priority,
        source="alertmanager" if key else "messages",
        dedupe_key=key,
        received=received,
    )
