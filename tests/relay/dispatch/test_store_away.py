"""A budget store that cannot be reached (Redis away, ``on_store_error = "fail"``): the
dispatcher holds the robot's messages — queued, no attempt counted, nothing toward
``max_age`` — and delivers them once the store answers again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dingwire.core.errors import BudgetStoreError
from dingwire.relay.dispatcher import STORE_RETRY

from .rig import Clock, alert_message, make_rig

AWAY = BudgetStoreError("the budget store Redis at 127.0.0.1:6390/0 cannot be reached")


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise AWAY


@pytest.mark.parametrize("where", ["budget_state", "send"])
def test_messages_wait_unattempted_while_the_store_is_away(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    clock = Clock()
    rig = make_rig(clock=clock)
    (rid,) = rig.enqueue([alert_message(1)])
    if where == "send":

        async def send(*args: Any, **kwargs: Any) -> Any:
            raise AWAY

        monkeypatch.setattr(rig.robot, "send", send)
    else:
        monkeypatch.setattr(rig.robot, "budget_state", _raise)

    async def away() -> None:
        result = await rig.dispatcher.step("ops")
        assert result.mode == "held"
        assert result.reason == "store"
        assert result.next_at == pytest.approx(clock() + STORE_RETRY)

    asyncio.run(away())
    record = rig.outbox.get(rid)
    assert record is not None
    assert (record.state, record.attempts, record.failing_since) == ("queued", 0, None)
    assert record.not_before == pytest.approx(clock() + STORE_RETRY)
    assert rig.ops.messages() == []
    assert b'throttled_total{reason="store",robot="ops"}' in rig.metrics.render()
    assert "held back by its budget store (unreachable)" in caplog.text
    assert "unexpectedly" not in caplog.text

    monkeypatch.undo()  # the store answers again
    clock.advance(STORE_RETRY)

    async def back() -> None:
        result = await rig.dispatcher.step("ops")
        assert result.records == 1

    asyncio.run(back())
    record = rig.outbox.get(rid)
    assert record is not None
    assert record.state == "sent"
    assert len(rig.ops.delivered()) == 1
