"""The dispatcher against the fake, judged where DingTalk judges: by the fake's arrival log."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dingwire.core.budget import pace_allowance, parse_quota, quota_period
from dingwire.fake import Fault
from dingwire.relay.settings import RelaySettings

from .rig import (
    Clock,
    alert_message,
    arrived_text,
    card_message,
    drive,
    make_rig,
    max_in_window,
)


async def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


# -- idle and storm, in real time ---------------------------------------------------------


def test_idle_a_message_goes_out_at_once_as_it_is() -> None:
    async def main() -> None:
        rig = make_rig()
        await rig.dispatcher.start()
        assert rig.dispatcher.alive
        t0 = time.time()
        (rid,) = rig.enqueue([alert_message(1)])
        rig.dispatcher.wake("ops")
        await wait_until(lambda: len(rig.ops.delivered()) == 1, 5)
        latency = rig.ops.delivered()[0].time - t0
        await wait_until(lambda: rig.outbox.get(rid).state == "sent", 2)
        await rig.dispatcher.stop(2)
        assert not rig.dispatcher.alive
        arrived = rig.ops.delivered()[0]
        assert arrived.payload["markdown"]["title"] == "[FIRING:4] notification 1"
        record = rig.outbox.get(rid)
        assert record.reply == {"errcode": 0, "errmsg": "ok"}
        assert record.digest is None
        assert latency < 1.0

    asyncio.run(main())


@pytest.mark.parametrize("where", ["in-process", "http"])
def test_a_storm_of_1000_alerts_in_250_messages_stays_within_the_window(
    where: str, request: pytest.FixtureRequest
) -> None:
    # "http": a FakeServer on a port of 127.0.0.1 and the robot's real aiohttp transport.
    fake = request.getfixturevalue("dingtalk_fake") if where == "http" else None

    async def main() -> tuple[int, int, float]:
        rig = make_rig(rate="20/3s", fake=fake)
        await rig.dispatcher.start()
        t0 = time.time()

        async def poster(k: int) -> None:
            for i in range(k, 250, 8):
                msg = alert_message(i)
                await asyncio.to_thread(rig.enqueue, [msg])
                rig.dispatcher.wake("ops")
                await asyncio.sleep(0.05)  # over HTTP, a storm takes a few seconds

        await asyncio.gather(*(poster(k) for k in range(8)))
        names = {f"A{i}x{j}" for i in range(250) for j in range(4)}

        def all_arrived() -> bool:
            text = " ".join(arrived_text(r) for r in rig.ops.delivered())
            return all(n + " " in text for n in names)

        await wait_until(all_arrived, 30)
        await wait_until(lambda: rig.states() == {"sent": 250}, 5)
        await rig.dispatcher.stop(2)
        log = rig.ops.messages()
        assert all(r.errcode == 0 for r in log), {r.errcode for r in log}
        times = [r.time for r in log]
        # Every alert name exactly once (no duplicates either).
        text = " ".join(arrived_text(r) for r in log)
        assert all(text.count(n + " ") == 1 for n in names)
        rendered = rig.metrics.render().decode()
        assert 'dingwire_relay_delivered_total{robot="ops"} 250.0' in rendered
        assert f'dingwire_relay_sent_total{{robot="ops"}} {len(log)}.0' in rendered
        assert 'dingwire_relay_digests_total{robot="ops"}' in rendered
        assert "dingwire_relay_delivery_seconds_count 250.0" in rendered
        return len(log), max_in_window(times, 3.0), min(times) - t0

    messages, peak, first = asyncio.run(main())
    print(
        f"storm ({where}): {messages} messages, at most {peak} in any 3 s, first after {first:.3f} s"
    )
    assert peak <= 20
    assert messages <= 60
    assert first < 3.0


# -- the budget and pace, on the test's clock ---------------------------------------------


def test_a_400_alert_storm_under_a_quota_arrives_whole_never_ahead_of_the_pace() -> None:
    clock = Clock()
    rig = make_rig(clock=clock, rate="20/3s", quota="20/5m")
    names = {f"A{i}x{j}" for i in range(100) for j in range(4)}

    async def main() -> None:
        # 400 alerts arrive over the first 100 s, one notification a second.
        for i in range(100):
            rig.enqueue([alert_message(i, received=clock())])
            await drive(rig, clock, until=lambda: False, limit=1.0)
        await drive(rig, clock, until=lambda: rig.states() == {"sent": 100}, limit=3600)

    asyncio.run(main())
    log = rig.ops.messages()
    assert all(r.errcode == 0 for r in log), {r.errcode for r in log}
    text = " ".join(arrived_text(r) for r in log)
    assert all(text.count(n + " ") == 1 for n in names)
    # Never ahead of the pace: the sends of a period by any moment at most the allowance.
    assert_paced(log, "20/5m")
    assert len(log) <= 10  # fewer, larger digests
    assert max_in_window([r.time for r in log], 3.0) <= 20
    print(f"quota 20/5m: 400 alerts in {len(log)} messages over {log[-1].time - log[0].time:.0f} s")


def assert_paced(log: list, quota_text: str) -> None:  # type: ignore[type-arg]
    """No arrival runs ahead of ``quota × elapsed share + burst`` in its period."""
    quota = parse_quota(quota_text)
    assert quota is not None
    burst = RelaySettings().burst_for(quota.limit)
    for i, record in enumerate(log):
        start, _ = quota_period(quota, record.time)
        sent = sum(1 for r in log[: i + 1] if r.time >= start)
        assert sent <= pace_allowance(quota, record.time, burst=burst), (i, record.time - start)


def test_a_sustained_flow_uses_the_quota_at_its_pace_and_warns_at_50_80_95(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    rig = make_rig(clock=clock, rate="20/3s", quota="20/5m")
    caplog.set_level(logging.INFO, logger="dingwire.relay.dispatcher")
    quota = parse_quota("20/5m")
    assert quota is not None

    async def main() -> None:
        # Two periods of one notification every 3 s: more than the quota could send alone.
        for i in range(200):
            rig.enqueue([alert_message(i, received=clock())])
            await drive(rig, clock, until=lambda: False, limit=3.0)
        await drive(rig, clock, until=lambda: rig.states() == {"sent": 200}, limit=900)

    asyncio.run(main())
    log = rig.ops.messages()
    assert all(r.errcode == 0 for r in log), {r.errcode for r in log}
    assert rig.states() == {"sent": 200}
    assert_paced(log, "20/5m")
    periods = sorted({quota_period(quota, r.time)[0] for r in log})
    first = [r for r in log if quota_period(quota, r.time)[0] == periods[0]]
    assert len(first) >= 19  # the quota used, not wasted
    # 50/80/95 % of the quota warned about, once each per period.
    warnings = [r.getMessage() for r in caplog.records if "of its quota" in r.getMessage()]
    assert any("50%" in w for w in warnings)
    assert any("80%" in w for w in warnings)
    assert any("95%" in w for w in warnings)
    periods = {quota_period(quota, r.time)[0] for r in log}
    assert len(warnings) <= 3 * len(periods)
    assert b'dingwire_relay_quota_used{org="acme"}' in rig.metrics.render()


def test_backlog_merges_within_the_budget_and_priority_goes_first() -> None:
    clock = Clock()
    rig = make_rig(clock=clock, rate="4/3s")
    rig.enqueue([alert_message(i, priority=2) for i in range(20)])
    rig.enqueue([alert_message(100, priority=0)])

    async def main() -> None:
        first = await rig.dispatcher.step("ops")
        assert first.mode == "backlog"

    asyncio.run(main())
    delivered = rig.ops.delivered()
    assert len(delivered) >= 1
    first_text = arrived_text(delivered[0])
    # The critical one (priority 0), enqueued last, is in the first digest, before the rest.
    assert first_text.index("A100x0") < first_text.index("A0x0")
    assert "[FIRING:" in delivered[0].payload["markdown"]["title"]
    record = rig.outbox.get(rig.ids[0])
    assert record.state == "sent"
    assert record.digest is not None
    assert record.digest_size == 21


def test_cards_are_never_merged_and_wait_their_turn() -> None:
    clock = Clock()
    rig = make_rig(clock=clock, rate="20/3s")
    rig.enqueue([alert_message(i) for i in range(40)] + [card_message(i) for i in range(3)])

    async def main() -> None:
        await drive(rig, clock, until=lambda: rig.states() == {"sent": 43}, limit=60)

    asyncio.run(main())
    cards = [r for r in rig.ops.delivered() if r.msgtype == "actionCard"]
    assert sorted(r.payload["actionCard"]["title"] for r in cards) == ["card 0", "card 1", "card 2"]
    assert len(rig.ops.delivered()) < 43


def test_a_lockout_releases_without_an_attempt() -> None:
    clock = Clock()
    rig = make_rig(clock=clock)
    rig.robot.budget_store.lock_out(
        __import__("dingwire.transport.base", fromlist=["robot_key"]).robot_key(rig.robot.webhook),
        clock() + 30,
    )
    (rid,) = rig.enqueue([alert_message(1)])

    async def main() -> None:
        result = await rig.dispatcher.step("ops")
        assert result.mode == "held"
        assert result.reason == "lockout"
        assert result.next_at == pytest.approx(clock() + 30)

    asyncio.run(main())
    record = rig.outbox.get(rid)
    assert (record.state, record.attempts, record.failing_since) == ("queued", 0, None)
    assert record.not_before == pytest.approx(clock() + 30)
    assert rig.ops.messages() == []
    assert b'throttled_total{reason="lockout",robot="ops"}' in rig.metrics.render()


def test_a_130101_locks_the_robot_out_and_releases_unattempted() -> None:
    clock = Clock()
    # DingTalk's window is smaller than the robot believes: the second send is throttled.
    rig = make_rig(clock=clock, rate="20/3s", fake_rate="1/3s")
    rig.enqueue([alert_message(1)])
    rig.enqueue([alert_message(2)])

    async def main() -> None:
        await rig.dispatcher.step("ops")
        # Within the lockout nothing is tried again.
        clock.advance(30)
        result = await rig.dispatcher.step("ops")
        assert result.mode == "empty"

    asyncio.run(main())
    log = rig.ops.messages()
    assert [r.errcode for r in log] == [0, 130101]
    second = rig.outbox.get(rig.ids[1])
    assert second.state == "queued"
    assert second.attempts == 0
    assert second.not_before >= clock() + 29
    assert b'failures_total{errcode="130101",robot="ops"} 1.0' in rig.metrics.render()

    async def later() -> None:
        clock.advance(31)
        await drive(rig, clock, until=lambda: rig.states() == {"sent": 2}, limit=10)

    asyncio.run(later())
    assert rig.states() == {"sent": 2}


def test_a_permanent_refusal_is_dead_at_once_with_the_reason() -> None:
    clock = Clock()
    rig = make_rig(clock=clock, keywords=["告警"], robot_keywords=())
    (rid,) = rig.enqueue([alert_message(1)])

    async def main() -> None:
        await drive(rig, clock, until=lambda: rig.outbox.get(rid).state == "dead", limit=30)

    asyncio.run(main())
    record = rig.outbox.get(rid)
    assert record.state == "dead"
    assert record.reply["errcode"] == 310000
    assert "310000" in record.error
    assert len(rig.ops.messages()) == 1
    rendered = rig.metrics.render()
    assert b'dead_total{robot="ops"} 1.0' in rendered
    assert b'failures_total{errcode="310000",robot="ops"} 1.0' in rendered


def test_an_outage_loses_nothing_and_delivery_resumes() -> None:
    clock = Clock()
    rig = make_rig(clock=clock)
    for fault in (
        Fault.http(503, count=3),
        Fault.busy(count=3),
        Fault.drop(count=3),
        Fault.x5(wait=5, count=3),
    ):
        rig.ops.inject_fault(fault)
    rig.enqueue([alert_message(i) for i in range(30)])

    async def main() -> None:
        await drive(rig, clock, until=lambda: rig.states() == {"sent": 30}, limit=3600)

    asyncio.run(main())
    assert rig.states() == {"sent": 30}
    text = " ".join(arrived_text(r) for r in rig.ops.delivered())
    assert all(f"A{i}x{j} " in text for i in range(30) for j in range(4))
    rendered = rig.metrics.render().decode()
    for errcode in ("http_5xx", "-1", "network", "gateway"):
        assert f'failures_total{{errcode="{errcode}",robot="ops"}} 3.0' in rendered
    retried = [rig.outbox.get(i) for i in rig.ids]
    assert any(r.attempts > 1 for r in retried)


def test_failing_past_max_age_is_dead_with_the_reason() -> None:
    clock = Clock()
    rig = make_rig(clock=clock, settings=RelaySettings(queue="memory://", max_age=600))
    rig.ops.inject_fault(Fault.http(503, count=1000))
    (rid,) = rig.enqueue([alert_message(1)])

    async def main() -> None:
        await drive(rig, clock, until=lambda: rig.outbox.get(rid).state == "dead", limit=3600)

    asyncio.run(main())
    record = rig.outbox.get(rid)
    assert record.state == "dead"
    assert "failing for 600 s" in record.error
    assert record.attempts >= 5
    assert record.updated - record.failing_since >= 600


def test_time_held_back_never_counts_toward_max_age() -> None:
    from dingwire.transport.base import robot_key

    clock = Clock()
    rig = make_rig(clock=clock, settings=RelaySettings(queue="memory://", max_age=600))
    rig.ops.inject_fault(Fault.http(503, count=1000))
    (rid,) = rig.enqueue([alert_message(1)])

    async def main() -> None:
        await rig.dispatcher.step("ops")  # fails: retrying
        assert rig.outbox.get(rid).state == "retrying"
        # Then the robot is locked out for 2,000 s (another sender's 130101, say).
        rig.robot.budget_store.lock_out(robot_key(rig.robot.webhook), clock() + 2000)
        await drive(rig, clock, until=lambda: rig.outbox.get(rid).state == "dead", limit=7200)

    asyncio.run(main())
    record = rig.outbox.get(rid)
    assert record.state == "dead"
    assert record.failing_since is not None
    assert record.updated - record.failing_since >= 2600  # 600 s failing + 2,000 s held


def test_a_spent_quota_keeps_everything_queued_until_renewal() -> None:
    clock = Clock()
    # The fake's org has 2 calls per 5 minutes; the relay believes 100: DingTalk's 90030 says it.
    rig = make_rig(clock=clock, quota="100/5m", fake_quota="2/5m")

    async def main() -> None:
        for i in range(3):
            rig.enqueue([alert_message(i)])
            await rig.dispatcher.step("ops")
            clock.advance(1)

    asyncio.run(main())
    assert [r.errcode for r in rig.ops.messages()] == [0, 0, 90030]
    third = rig.outbox.get(rig.ids[2])
    assert (third.state, third.attempts) == ("queued", 0)
    assert third.not_before >= 1_800_000_300.0

    async def renewal() -> None:
        await drive(rig, clock, until=lambda: rig.states() == {"sent": 3}, limit=600)

    asyncio.run(renewal())
    assert rig.ops.delivered()[-1].time >= 1_800_000_300.0


def test_stop_finishes_the_send_in_flight_and_releases_the_rest() -> None:
    async def main() -> None:
        rig = make_rig(rate="2/3s")
        rig.ops.inject_fault(Fault.slow(0.5))  # delivered, answered half a second late
        rig.enqueue([alert_message(i) for i in range(10)])
        await rig.dispatcher.start()
        rig.dispatcher.wake("ops")
        await wait_until(lambda: len(rig.ops.messages()) == 1, 5)
        t0 = time.monotonic()
        await rig.dispatcher.stop(3)
        assert time.monotonic() - t0 < 3
        states = rig.states()
        assert states.get("sending", 0) == 0
        assert states["sent"] >= 1
        assert all(rig.outbox.get(i).owner is None for i in rig.ids)

    asyncio.run(main())


def test_a_robot_that_cannot_be_built_keeps_its_messages_queued(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from dingwire.config import Config
    from dingwire.relay.dispatcher import Dispatcher
    from dingwire.relay.metrics import RelayMetrics
    from dingwire.relay.outbox import MemoryOutbox

    outbox = MemoryOutbox()
    (entry,) = outbox.enqueue([alert_message(1, robot="gone")], now=time.time(), dedupe_window=0)
    dispatcher = Dispatcher(RelaySettings(), Config(), outbox, RelayMetrics(), owner="t")

    async def main() -> None:
        result = await dispatcher.step("gone")
        assert result.reason == "config"

    asyncio.run(main())
    assert outbox.get(entry.id).state == "queued"
    assert any("cannot send" in r.getMessage() for r in caplog.records)


# -- more of the contract -----------------------------------------------------------------


def test_a_retry_is_picked_up_by_the_poll_without_a_wake() -> None:
    async def main() -> None:
        rig = make_rig()
        rig.ops.inject_fault(Fault.http(503))
        (rid,) = rig.enqueue([alert_message(1)])
        await rig.dispatcher.start()
        rig.dispatcher.wake("ops")
        await wait_until(lambda: rig.outbox.get(rid).state == "retrying", 5)
        # Backoff after a first failure: 0.5 to 1 s; then the supervisor's poll finds it.
        await wait_until(lambda: rig.outbox.get(rid).state == "sent", 5)
        await rig.dispatcher.stop(2)
        assert [r.status for r in rig.ops.messages()] == [503, 200]
        assert rig.outbox.get(rid).attempts == 2

    asyncio.run(main())


def test_a_record_too_large_for_one_message_goes_in_parts_in_order_across_rounds() -> None:
    clock = Clock()
    rig = make_rig(clock=clock, rate="2/3s")
    (rid,) = rig.enqueue([alert_message(1, alerts=900)])  # about 60 KB of lines

    async def main() -> None:
        first = await rig.dispatcher.step("ops")
        assert first.messages == 2
        assert rig.outbox.get(rid).state == "queued"  # not all parts out: not acked
        await drive(rig, clock, until=lambda: rig.outbox.get(rid).state == "sent", limit=30)

    asyncio.run(main())
    log = rig.ops.messages()
    assert all(r.errcode == 0 for r in log)
    titles = [r.payload["markdown"]["title"] for r in log]
    parts = len(log)
    assert parts >= 3
    assert [f"({i + 1}/{parts})" in t for i, t in enumerate(titles)] == [True] * parts
    text = " ".join(arrived_text(r) for r in log)
    assert all(text.count(f"A1x{j} ") == 1 for j in range(900))
    assert rig.outbox.get(rid).digest is not None
    assert b'dingwire_relay_sent_total{robot="ops"} ' + str(parts).encode() in rig.metrics.render()


def test_a_digest_refused_for_its_content_is_taken_apart() -> None:
    clock = Clock()
    rig = make_rig(clock=clock, rate="4/3s")
    rig.enqueue([alert_message(i) for i in range(10)])
    rig.ops.inject_fault(Fault.errcode_reply(430101))  # the content filter, once

    async def main() -> None:
        await drive(rig, clock, until=lambda: rig.states() == {"sent": 10}, limit=120)

    asyncio.run(main())
    log = rig.ops.messages()
    assert log[0].errcode == 430101
    singles = [
        r for r in log[1:] if r.ok and r.payload["markdown"]["title"].startswith("[FIRING:4]")
    ]
    assert len(singles) == 10  # each went alone after the refusal
    assert rig.states() == {"sent": 10}


def test_nothing_secret_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    rig = make_rig(clock=clock, rate="2/3s", secret=True)
    rig.ops.inject_fault(Fault.http(503))
    rig.ops.inject_fault(Fault.errcode_reply(430101))
    rig.enqueue([alert_message(i) for i in range(5)])

    async def main() -> None:
        await drive(rig, clock, until=lambda: rig.states() == {"sent": 5}, limit=120)

    asyncio.run(main())
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert "failed" in said
    assert "refused" in said
    assert rig.ops.token not in said
    assert rig.ops.secret is not None
    assert rig.ops.secret not in said
    assert rig.ops.token.encode() not in rig.metrics.render()


def test_the_default_factory_builds_robots_from_the_config_and_a_reload_rebuilds(
    tmp_path,
    dingtalk_fake,  # type: ignore[no-untyped-def]
) -> None:
    from dingwire.config import load_config
    from dingwire.relay.dispatcher import Dispatcher
    from dingwire.relay.metrics import RelayMetrics
    from dingwire.relay.outbox import MemoryOutbox

    ops = dingtalk_fake.add_robot(name="ops", rate_limit="20/3s")
    path = tmp_path / "dingwire.toml"
    path.write_text(f'[robots.ops]\nwebhook = "{ops.webhook}"\nrate_limit = "20/3s"\n')
    config = load_config(path)
    outbox = MemoryOutbox()
    dispatcher = Dispatcher(RelaySettings(), config, outbox, RelayMetrics(), owner="t")

    async def main() -> None:
        await dispatcher.start()
        outbox.enqueue([alert_message(1)], now=time.time(), dedupe_window=0)
        dispatcher.wake("ops")
        await wait_until(lambda: len(ops.delivered()) == 1, 5)
        path.write_text(
            f'[robots.ops]\nwebhook = "{ops.webhook}"\nrate_limit = "20/3s"\nkeywords = ["告警"]\n'
        )
        dispatcher.reconfigure(RelaySettings(), load_config(path))
        outbox.enqueue([alert_message(2)], now=time.time(), dedupe_window=0)
        dispatcher.wake("ops")
        await wait_until(lambda: len(ops.delivered()) == 2, 5)
        await dispatcher.stop(2)

    asyncio.run(main())
    first, second = ops.delivered()
    assert "告警" not in arrived_text(first)
    assert "【告警】" in arrived_text(second)


# -- any mix of arrivals and failures ----------------------------------------------------

_FAULTS = {
    "503": lambda: Fault.http(503),
    "busy": lambda: Fault.busy(),
    "drop": lambda: Fault.drop(),
    "x5": lambda: Fault.x5(wait=2),
    "slow": lambda: Fault.slow(0.2),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.floats(0, 5),  # seconds after the previous event
            st.integers(1, 30),  # notifications arriving
            st.sampled_from([None, *_FAULTS]),  # a fault for the robot's next request
            st.booleans(),  # a card among them
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["20/3s", "5/3s", "2/1s"]),
)
def test_whatever_arrives_and_fails_all_arrives_within_the_window(
    events: list[tuple[float, int, str | None, bool]], rate: str
) -> None:
    clock = Clock()
    rig = make_rig(clock=clock, rate=rate)
    expected: set[str] = set()
    n = 0

    async def main() -> None:
        nonlocal n
        for gap, count, fault, card in events:
            await drive(rig, clock, until=lambda: False, limit=gap)
            if fault is not None:
                rig.ops.inject_fault(_FAULTS[fault]())
            batch = [alert_message(n + k, alerts=2) for k in range(count)]
            expected.update(f"A{n + k}x{j} " for k in range(count) for j in range(2))
            if card:
                batch.append(card_message(n))
                expected.add(f"card C{n} text")
            n += count
            rig.enqueue(batch)
        await drive(rig, clock, until=lambda: set(rig.states()) == {"sent"}, limit=7200)

    asyncio.run(main())
    assert set(rig.states()) == {"sent"}
    log = rig.ops.messages()
    # Only the faults' answers (-1, none at all) besides 0: never a throttle.
    assert {r.errcode for r in log} <= {0, -1, None}
    limit, window = rate.split("/")
    ok = [r.time for r in log if r.errcode == 0]
    assert max_in_window(ok, float(window.rstrip("s"))) <= int(limit)
    text = " ".join(arrived_text(r) for r in rig.ops.delivered())
    assert all(text.count(want) == 1 for want in expected)  # each once: none lost, none twice


def test_the_sqlite_outbox_carries_a_storm_the_same_way(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dingwire.relay.outbox import SqliteOutbox

    async def main() -> None:
        outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
        rig = make_rig(rate="20/3s", outbox=outbox)
        await rig.dispatcher.start()
        for i in range(0, 100, 10):
            await asyncio.to_thread(rig.enqueue, [alert_message(k) for k in range(i, i + 10)])
            rig.dispatcher.wake("ops")
        await wait_until(lambda: rig.states() == {"sent": 100}, 20)
        await rig.dispatcher.stop(2)
        log = rig.ops.messages()
        assert {r.errcode for r in log} == {0}
        assert max_in_window([r.time for r in log], 3.0) <= 20
        text = " ".join(arrived_text(r) for r in log)
        assert all(text.count(f"A{i}x{j} ") == 1 for i in range(100) for j in range(4))
        digests = {outbox.get(i).digest for i in rig.ids} - {None}
        assert digests  # some went as digests, recorded as such
        outbox.close()

    asyncio.run(main())
