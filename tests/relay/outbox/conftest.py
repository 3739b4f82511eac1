"""Outboxes by backend name, for the contract suite (tests/relay/outbox/test_contract.py).

``BACKENDS`` maps a name to a factory: given a test's ``tmp_path``, it returns a function
that opens one more *handle* on one shared outbox — what another relay process or a
``dingwire outbox`` command would hold. The memory outbox spans one process, so its handles
are one object; SQLite's are separate objects (separate connections) on one file. The Redis
backend (issue 11) joins by adding an entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dingwire.relay.model import DigestLine, Outgoing
from dingwire.relay.outbox import MemoryOutbox, Outbox

Handles = Callable[[], Outbox]


def _memory(tmp_path: Path) -> Handles:
    outbox = MemoryOutbox()
    return lambda: outbox


BACKENDS: dict[str, Callable[[Path], Handles]] = {"memory": _memory}

try:  # the SQLite backend lands after the memory one
    from dingwire.relay.outbox import SqliteOutbox

    def _sqlite(tmp_path: Path) -> Handles:
        path = tmp_path / "outbox.sqlite3"
        return lambda: SqliteOutbox(path)

    BACKENDS["sqlite"] = _sqlite
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def handles(backend: str, tmp_path: Path) -> Iterator[Handles]:
    """Opens handles on one outbox of ``backend``; closes them all after the test."""
    make = BACKENDS[backend](tmp_path)
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
