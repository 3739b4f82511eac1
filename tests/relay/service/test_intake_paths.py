"""The two ways a body reaches the outbox: rendered on the event loop and handed to an outbox
that takes it without blocking (SQLite's ``submit_enqueue``), or — a large body, or an outbox
without it — through a worker thread. The same answers either way."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from dingwire.relay import app as app_module
from dingwire.relay.app import INLINE_RENDER_BYTES, STORE_WARNING_EVERY
from dingwire.relay.outbox import SqliteOutbox

from .conftest import FailingOutbox, MakeRelay
from .test_app import ALERT


def _payload(size: int) -> dict[str, Any]:
    payload = copy.deepcopy(ALERT)
    payload["commonAnnotations"] = {"padding": "x" * size}
    return payload


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every call the intake hands to a worker thread."""
    calls: list[object] = []
    real = anyio.to_thread.run_sync

    async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(function)
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(app_module.anyio.to_thread, "run_sync", counted)
    return calls


@pytest.mark.parametrize(
    ("size", "hops"), [(10, 0), (INLINE_RENDER_BYTES + 1, 2)], ids=["inline", "thread"]
)
def test_both_paths_store_before_answering_202(
    make_relay: MakeRelay, tmp_path: Path, threads: list[object], size: int, hops: int
) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
    try:
        relay = make_relay(outbox=outbox)
        answer = relay.client.post("/dingtalk/ops/send", json=_payload(size))
        assert answer.status_code == 202, answer.text
        record = outbox.get(answer.json()["id"])
        assert record is not None
        assert record.state == "queued"
        again = relay.client.post("/dingtalk/ops/send", json=_payload(size))
        assert again.json() == {"id": answer.json()["id"], "duplicate": True}
        assert relay.dispatcher.woken == ["ops", "ops"]
        assert len(threads) == hops
    finally:
        outbox.close()


@pytest.mark.parametrize("size", [10, INLINE_RENDER_BYTES + 1], ids=["inline", "thread"])
def test_both_paths_answer_503_when_the_outbox_cannot_store(
    make_relay: MakeRelay, tmp_path: Path, size: int
) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
    relay = make_relay(outbox=outbox)
    outbox.close()  # every call now raises OutboxUnavailable
    answer = relay.client.post("/dingtalk/ops/send", json=_payload(size))
    assert answer.status_code == 503
    assert "retry-after" in answer.headers
    assert "closed" in answer.json()["error"]
    assert relay.dispatcher.woken == []


def test_an_outage_is_one_warning_not_one_a_request(
    make_relay: MakeRelay, caplog: pytest.LogCaptureFixture
) -> None:
    relay = make_relay(outbox=FailingOutbox(retry_after=5.0))
    for _ in range(5):
        assert relay.client.post("/dingtalk/ops/send", json=ALERT).status_code == 503
    warnings = [r for r in caplog.records if "could not store" in r.getMessage()]
    assert len(warnings) == 1  # the relay's clock stands still here: within one interval
    intake = relay.app.state.intake
    intake.clock = lambda: 1_800_000_000.0 + STORE_WARNING_EVERY
    assert relay.client.post("/dingtalk/ops/send", json=ALERT).status_code == 503
    warnings = [r.getMessage() for r in caplog.records if "could not store" in r.getMessage()]
    assert len(warnings) == 2
    assert warnings[1].endswith("(4 more refused since the last warning)")
