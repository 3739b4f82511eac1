"""Sent messages are purged after ``[relay] keep_sent`` (default 7 days): the outbox does not
grow for ever; nothing that still waits is ever touched."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from dingwire.config import load_config
from dingwire.relay.settings import RelaySettings

from .rig import Clock, Rig, alert_message, make_rig

DAY = 86_400.0


def test_the_default_keeps_sent_messages_a_week() -> None:
    assert RelaySettings().keep_sent == 7 * DAY


def test_keep_sent_is_read_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "dingwire.toml"
    path.write_text('[relay]\nkeep_sent = "30d"\n', encoding="utf-8")
    assert RelaySettings.from_config(load_config(path, env={})).keep_sent == 30 * DAY


def _sent_and_waiting(keep_sent: float) -> tuple[Rig, Clock, str, str]:
    clock = Clock()
    rig = make_rig(clock=clock, settings=RelaySettings(queue="memory://", keep_sent=keep_sent))
    (sent_id,) = rig.enqueue([alert_message(1)])

    async def send() -> None:
        result = await rig.dispatcher.step("ops")
        assert result.records == 1

    asyncio.run(send())
    clock.advance(8 * DAY)
    (waiting_id,) = rig.enqueue([alert_message(2)])  # queued, never sent: never purged
    return rig, clock, sent_id, waiting_id


def test_sent_messages_older_than_keep_sent_are_purged_and_nothing_else() -> None:
    rig, _, sent_id, waiting_id = _sent_and_waiting(7 * DAY)
    sent = rig.outbox.get(sent_id)
    assert sent is not None
    assert sent.state == "sent"
    assert asyncio.run(rig.dispatcher.purge_sent()) == 1
    assert rig.outbox.get(sent_id) is None
    waiting = rig.outbox.get(waiting_id)
    assert waiting is not None
    assert waiting.state == "queued"


def test_a_message_sent_within_keep_sent_stays() -> None:
    rig, _, sent_id, _ = _sent_and_waiting(9 * DAY)  # sent 8 days ago
    assert asyncio.run(rig.dispatcher.purge_sent()) == 0
    assert rig.outbox.get(sent_id) is not None


def test_keep_sent_0_keeps_every_sent_message() -> None:
    rig, _, sent_id, _ = _sent_and_waiting(0.0)
    assert asyncio.run(rig.dispatcher.purge_sent()) == 0
    kept = rig.outbox.get(sent_id)
    assert kept is not None
    assert kept.state == "sent"


def test_a_running_dispatcher_purges_at_start() -> None:
    rig, _, sent_id, _ = _sent_and_waiting(7 * DAY)

    async def main() -> None:
        await rig.dispatcher.start()
        try:
            deadline = time.monotonic() + 10
            while rig.outbox.get(sent_id) is not None:
                assert time.monotonic() < deadline, "the supervisor never purged"
                await asyncio.sleep(0.02)
        finally:
            await rig.dispatcher.stop(1.0)

    asyncio.run(main())
