"""The Redis store only: its keys, its URL, a Redis that goes away or forgets, many hosts.

The contract itself is test_contract.py's (it runs on Redis too). Here: what only a store
on the network can get wrong. ``redis_url`` is a real Redis (never skipped); the tests that
kill Redis start their own (:class:`~tests.redis_server.RedisServer`), never the machine's.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from dingwire import AsyncRobot, BudgetStoreError, ConfigError, Robot, Text
from dingwire.budget import LocalBudgetStore, MemoryBudgetStore, RedisBudgetStore, open_store
from dingwire.budget import redis as redis_module
from dingwire.core.budget import MONTH, Budget, Quota, Verdict
from dingwire.core.policy import Rate
from dingwire.fake import FakeServer, Fault
from tests.budget.conftest import BudgetLog
from tests.redis_server import RedisServer, free_port
from tests.transport.test_arrivals import (
    LATE,
    RATE,
    ROUNDS,
    a_robot,
    judge_at_the_fake,
    most_in_any_window,
    run_together,
)

T = datetime(2026, 9, 10, tzinfo=UTC).timestamp()
SEPT_END = datetime(2026, 9, 30, 16, tzinfo=UTC).timestamp()  # October 1st, Shanghai
R1 = Budget(Rate(1, 10.0))
R3 = Budget(Rate(3, 10.0), "acme", Quota(100, MONTH))
HOLD = 5.0
PASSWORD = "hunter2-very-secret"


def raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Wait for ``condition``, looking every 20 ms; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisBudgetStore]:
    handle = RedisBudgetStore(redis_url)
    yield handle
    handle.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, to kill and start again (append-only, fsync always)."""
    own = RedisServer(tmp_path / "redis").start()
    yield own
    own.stop()


@pytest.fixture
def quick_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A store away from Redis tries it again after 0.1 s, not RETRY_INTERVAL."""
    monkeypatch.setattr(redis_module, "RETRY_INTERVAL", 0.1)


# -- keys ----------------------------------------------------------------------------------


def test_every_key_is_namespaced_and_expires(store: RedisBudgetStore, redis_url: str) -> None:
    slot = store.reserve("robot-hash", R3, T, hold=HOLD).slot
    assert slot is not None
    store.settle("robot-hash", slot, T + 0.5)
    store.reserve("robot-hash", R3, T + 1, hold=HOLD)
    store.lock_out("locked-hash", time.time() + 600)
    store.spend_quota("acme", time.time() + 3600)
    client = raw(redis_url)
    keys = sorted(client.keys("*"))
    assert all(k.startswith("dingwire:budget:") for k in keys), keys
    assert {k.split(":")[2] for k in keys} == {"robot", "used", "spent", "marker", "ids"}
    for key in keys:
        ttl = client.pttl(key)
        if key in ("dingwire:budget:marker", "dingwire:budget:ids"):
            assert ttl == -1  # one small key each, for ever: they tell a lost state apart
            continue
        # a day after its content stops mattering, at most (a month's count: its month)
        assert 0 < ttl <= (32 + 1) * 86_400_000, (key, ttl)
    assert 600_000 < client.pttl("dingwire:budget:robot:locked-hash") <= (600 + 86_400) * 1000
    assert 3600_000 < client.pttl("dingwire:budget:spent:acme") <= (3600 + 86_400) * 1000
    client.close()


def test_an_expiry_is_extended_never_shortened(store: RedisBudgetStore, redis_url: str) -> None:
    client = raw(redis_url)
    store.lock_out("r", time.time() + 5 * 86_400)
    long = client.pttl("dingwire:budget:robot:r")
    assert long > 5 * 86_400_000
    store.reserve("r", R1, time.time() + 10 * 86_400, hold=HOLD)  # a short hold, later
    assert client.pttl("dingwire:budget:robot:r") >= long - 1000
    client.close()


def test_old_slots_are_dropped_as_the_window_passes(
    store: RedisBudgetStore, redis_url: str
) -> None:
    client = raw(redis_url)
    for i in range(50):
        verdict = store.reserve("r", Budget(Rate(3, 10.0)), T + i * 10, hold=HOLD)
        assert verdict.slot is not None
        store.settle("r", verdict.slot, T + i * 10 + 0.1)
    fields = client.hkeys("dingwire:budget:robot:r")
    assert len([f for f in fields if f.startswith("s:")]) <= 3  # not 50
    client.close()


# -- the URL -------------------------------------------------------------------------------


def test_a_password_never_shows(redis_url: str, budget_log: BudgetLog) -> None:
    port = free_port()  # nobody listens there
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/3"
    failing = RedisBudgetStore(url, on_error="fail")
    assert PASSWORD not in repr(failing)
    assert repr(failing) == f"RedisBudgetStore('redis at 127.0.0.1:{port}/3', on_error='fail')"
    with pytest.raises(BudgetStoreError) as raised:
        failing.reserve("r", R1, T, hold=HOLD)
    shown = raised.value.describe() + repr(raised.value) + str(raised.value.__cause__)
    assert PASSWORD not in shown
    assert f"127.0.0.1:{port}/3" in str(raised.value)
    local = RedisBudgetStore(url, fallback=MemoryBudgetStore())
    assert local.reserve("r", R1, T, hold=HOLD).go
    said = budget_log.said()
    assert len(said) == 2
    assert all(PASSWORD not in line and f"127.0.0.1:{port}/3" in line for line in said)
    with pytest.raises(ConfigError) as bad:
        open_store(f"redis://:{PASSWORD}@127.0.0.1:port/0")
    assert PASSWORD not in bad.value.describe()
    robot = Robot("tok" * 10, budget_store=url)
    assert PASSWORD not in repr(robot) + repr(robot.budget_store)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "redis://127.0.0.1:notaport/0",
            "budget store: 'redis://127.0.0.1:notaport/0' is not a Redis URL: its port is not "
            "a number; write it like 'redis://127.0.0.1:6379/0'",
        ),
        (
            "redis:///0",
            "budget store: 'redis:///0' names no host; write it like 'redis://127.0.0.1:6379/0'",
        ),
        (
            "redis://127.0.0.1:6379/zero",
            "budget store: 'redis://127.0.0.1:6379/zero': the database must be a number "
            "(redis://host:port/DB), got 'zero'",
        ),
        (
            "redis://user:pw@127.0.0.1:6379/x?password=pw",
            "budget store: 'redis://**********@127.0.0.1:6379/x?password=**********': the "
            "database must be a number",
        ),
    ],
)
def test_a_bad_url_is_a_clear_config_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        open_store(url)
    assert str(raised.value).startswith(message)
    assert "pw" not in str(raised.value).replace(message, "")


def test_urls_that_work(redis_url: str) -> None:
    for n, url in enumerate((redis_url, f" {redis_url} ", f"{redis_url}?socket_timeout=3")):
        store = open_store(url)
        assert isinstance(store, RedisBudgetStore)
        assert store.reserve(f"r{n}", R1, T, hold=HOLD).slot is not None
        store.close()
    assert RedisBudgetStore("redis://cache.internal").where == "cache.internal:6379/0"
    tls = open_store("rediss://cache.internal:6380/2")
    assert isinstance(tls, RedisBudgetStore)
    assert tls.where == "cache.internal:6380/2"  # nothing connects until it is used


def test_on_store_error_is_checked(redis_url: str) -> None:
    with pytest.raises(ConfigError, match='on_store_error: expected "fail" or "local"'):
        open_store(redis_url, on_store_error="retry")
    with pytest.raises(ConfigError, match='on_store_error: expected "fail" or "local"'):
        Robot("tok" * 10, budget_store=MemoryBudgetStore(), on_store_error="never")
    given = RedisBudgetStore(redis_url, on_error="fail")
    with pytest.raises(ConfigError, match="made with on_error='fail'"):
        Robot("tok" * 10, budget_store=given, on_store_error="local")
    assert Robot("tok" * 10, budget_store=given, on_store_error="fail").budget_store is given
    robot = Robot("tok" * 10, budget_store=redis_url)
    assert isinstance(robot.budget_store, RedisBudgetStore)
    assert robot.budget_store.on_error == "local"  # the default
    strict = AsyncRobot("tok" * 10, budget_store=redis_url, on_store_error="fail")
    assert isinstance(strict.budget_store, RedisBudgetStore)
    assert strict.budget_store.on_error == "fail"


def test_from_the_config_file(redis_url: str, tmp_path: Path) -> None:
    config = tmp_path / "dingwire.toml"
    config.write_text(
        f'[robots.ops]\nwebhook = "{"tok" * 10}"\n'
        f'[budget]\nstore = "{redis_url}"\non_store_error = "fail"\n'
    )
    robot = Robot.from_config("ops", path=str(config))
    assert isinstance(robot.budget_store, RedisBudgetStore)
    assert robot.budget_store.on_error == "fail"


NO_REDIS = """
import sys
sys.modules["redis"] = None  # as if `pip install dingwire` had no [redis]
import dingwire.budget
from dingwire import ConfigError, Robot
try:
    Robot("tok" * 10, budget_store="redis://127.0.0.1:6379/0")
except ConfigError as error:
    print(error)
"""


def test_without_the_redis_package_a_config_error_says_what_to_install() -> None:
    out = subprocess.run(
        [sys.executable, "-c", NO_REDIS], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == (
        "budget store: 'redis://127.0.0.1:6379/0' needs the Redis client: "
        "pip install 'dingwire[redis]'"
    )


def test_the_budget_package_imports_no_redis() -> None:
    code = (
        "import sys, dingwire, dingwire.budget, dingwire.budget.redis; "
        "from dingwire.budget import open_store; open_store('memory://'); "
        "from dingwire import Robot; Robot('t' * 30, budget_store='memory://'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


# -- a Redis that forgets ------------------------------------------------------------------


def test_a_flushed_redis_leaves_a_barrier_and_keeps_the_lockout(
    redis_url: str, budget_log: BudgetLog
) -> None:
    clock = lambda: T + 5  # noqa: E731  (the store's clock stamps the barrier)
    store = RedisBudgetStore(redis_url, clock=clock)
    slot = store.reserve("r", R1, T, hold=30.0).slot  # in flight when Redis forgets
    assert slot is not None
    store.lock_out("locked", T + 600)
    raw(redis_url).flushdb()
    # every robot's window counts as full for a window from the moment it was noticed
    assert store.peek("fresh", R1, T + 6) == Verdict("budget", 10.0, T + 16, 0, renews=SEPT_END)
    assert store.peek("locked", R1, T + 20).until == T + 600  # the lockout it knew
    store.settle("r", slot, T + 12)  # the send in flight was written back: its reply counts
    assert store.peek("r", R1, T + 17).until == T + 22
    other = RedisBudgetStore(redis_url)  # another host sees the barrier and the lockout
    assert other.peek("another", R1, T + 7).until == T + 16
    assert other.peek("locked", R1, T + 20).reason == "lockout"
    assert store.reserve("fresh", R1, T + 16, hold=HOLD).go
    said = budget_log.said()
    assert said == [
        f"the budget store Redis at {store.where} lost its state (restarted without "
        "persistence, or flushed); every robot's minute window counts as full until a window "
        "has passed, and the lockouts and sends in flight this process knew were written back"
    ]
    raw(redis_url).flushdb()
    store.peek("x", R1, T + 30)
    assert len(budget_log.said()) == 1  # once
    other.close()
    store.close()


def test_a_new_process_on_a_used_redis_sets_no_barrier(
    store: RedisBudgetStore, redis_url: str
) -> None:
    assert store.reserve("r", R1, T, hold=HOLD).go
    late = RedisBudgetStore(redis_url)  # a process that starts later: nothing was lost
    assert late.peek("fresh", R1, T + 1).go
    assert late.peek("r", R1, T + 1).reason == "budget"
    late.close()


# -- a Redis that goes away: on_store_error ----------------------------------------------------


def test_fail_raises_a_budget_store_error_and_comes_back(
    server: RedisServer, budget_log: BudgetLog, quick_retry: None
) -> None:
    store = RedisBudgetStore(server.url, on_error="fail")
    assert store.reserve("r", R3, T, hold=HOLD).go
    server.kill()
    with pytest.raises(BudgetStoreError) as raised:
        store.reserve("r", R3, T + 1, hold=HOLD)
    where = f"127.0.0.1:{server.port}/0"
    assert str(raised.value).startswith(f"the budget store Redis at {where} cannot be reached (")
    assert str(raised.value).endswith("); nothing was sent")
    assert raised.value.advice.startswith(f"start Redis at {where}")
    assert 'on_store_error = "local"' in raised.value.advice
    with pytest.raises(BudgetStoreError, match=r"; the budget cannot be read$"):
        store.peek("r", R3, T + 1)
    with pytest.raises(BudgetStoreError, match=r"; the budget cannot be read$"):
        store.usage(R3, T)
    store.lock_out("r", T + 100)  # after a send: never raises, kept for Redis
    store.spend_quota("other-org", T + 200)
    store.settle("r", 12345, T + 1)
    said = budget_log.said()
    assert len(said) == 1
    assert said[0].startswith(f"the budget store Redis at {where} cannot be reached (")
    assert f"connecting to 127.0.0.1:{server.port}" in said[0]  # the reason, as Redis's client says
    assert said[0].endswith(
        '; sends fail with BudgetStoreError until it answers (on_store_error = "fail")'
    )
    server.start()  # the same data (append-only file)

    def answers() -> bool:
        try:
            return store.peek("r", R3, T + 2).reason == "lockout"  # written back
        except BudgetStoreError:
            return False

    until(answers, what="the store uses Redis again")
    other = RedisBudgetStore(server.url)
    assert other.peek("r", R3, T + 2).until == T + 100
    assert other.peek("x", Budget(None, "other-org"), T + 2).until == T + 200
    assert other.usage(R3, T) == 1  # the first send, kept by Redis
    assert len(budget_log.said()) == 1
    other.close()
    store.close()


def test_local_counts_on_this_machine_and_writes_back_when_redis_answers(
    server: RedisServer,
    tmp_path: Path,
    budget_log: BudgetLog,
    quick_retry: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dingwire.budget")
    local = LocalBudgetStore(tmp_path / "cache" / "budget.sqlite3")
    store = RedisBudgetStore(server.url, fallback=local)
    budget = Budget(Rate(2, 10.0), "acme", Quota(100, MONTH))
    first = store.reserve("r", budget, T, hold=HOLD).slot
    assert first is not None
    store.settle("r", first, T + 0.2)
    elsewhere = Budget(Rate(2, 10.0), "elsewhere")
    pending = store.reserve("r2", elsewhere, T, hold=HOLD).slot  # its reply comes later
    assert pending is not None
    server.kill()
    store.settle("r2", pending, T + 0.5)  # Redis away: it counts there until it expires
    meanwhile = [store.reserve("r", budget, T + 1 + i, hold=HOLD) for i in range(3)]
    assert [v.reason for v in meanwhile] == ["go", "go", "budget"]  # the local window only
    assert meanwhile[0].slot is not None
    store.settle("r", meanwhile[0].slot, T + 1.5)
    store.lock_out("locked", T + 600)
    store.spend_quota("other-org", T + 200)  # a 90030 meanwhile
    assert local.usage(budget, T) == 2  # counted in the machine-local file
    assert store.usage(budget, T) == 2  # and read from it
    assert local.peek("locked", budget, T + 2).reason == "lockout"
    assert store.peek("locked", budget, T + 2).until == T + 600
    assert local.peek("x", Budget(None, "other-org"), T + 2).until == T + 200
    assert store.peek("x", Budget(None, "other-org"), T + 2).reason == "quota"
    said = budget_log.said()
    assert len(said) == 1
    assert said[0].startswith(f"the budget store Redis at 127.0.0.1:{server.port}/0 cannot be")
    assert f"count in {local!r} until it answers, which other hosts do not see" in said[0]
    server.start()
    until(lambda: store.peek("r", budget, T + 3).used == 3, what="the store uses Redis again")
    other = RedisBudgetStore(server.url)
    assert other.usage(budget, T) == 3  # the sends made meanwhile were written to Redis
    back = [r.getMessage() for r in budget_log.records if r.levelno == logging.INFO]
    assert back == [
        f"the budget store Redis at 127.0.0.1:{server.port}/0 answers again; "
        "2 send(s) made meanwhile were written to it"
    ]
    # Redis knows them now: the first of them arrived at T + 1.5, the second is in flight
    assert other.peek("r", budget, T + 3) == Verdict(
        "budget", 8.5, T + 11.5, 0, True, used=3, renews=SEPT_END
    )
    assert other.peek("locked", budget, T + 3).until == T + 600
    assert other.peek("x", Budget(None, "other-org"), T + 3).until == T + 200
    assert meanwhile[1].slot is not None
    store.settle("r", meanwhile[1].slot, T + 2.5)  # its reply: settled in both stores
    assert other.peek("r", budget, T + 11).until == T + 11.5
    assert local.peek("r", budget, T + 11).until == T + 11.5
    assert store.reserve("r", budget, T + 12.5, hold=HOLD).go  # Redis decides again
    # the send of the outage settled at T + 2.5 has left the window: one slot is in it
    assert other.peek("r", budget, T + 12.6).go
    assert other.usage(budget, T) == 4
    assert local.usage(budget, T) == 2
    assert len(budget_log.said()) == 1  # one warning for the whole outage
    other.close()
    store.close()
    local.close()


def test_a_robot_that_must_not_send_without_redis(
    server: RedisServer, dingtalk_fake: FakeServer, budget_log: BudgetLog
) -> None:
    ops = dingtalk_fake.add_robot()
    robot = Robot(ops.webhook, budget_store=server.url, on_store_error="fail")
    robot.send(Text("with Redis"))
    server.kill()
    with pytest.raises(BudgetStoreError, match="nothing was sent"):
        robot.send(Text("without Redis"))
    assert [r.text for r in ops.messages()] == ["with Redis"]
    assert len(budget_log.said()) == 1


def test_a_robot_that_sends_anyway_without_redis(
    server: RedisServer, dingtalk_fake: FakeServer, budget_log: BudgetLog
) -> None:
    ops = dingtalk_fake.add_robot()
    robot = Robot(ops.webhook, budget_store=server.url)  # on_store_error: "local"
    robot.send(Text("with Redis"))
    server.kill()
    robot.send(Text("without Redis"))
    assert [r.text for r in ops.messages()] == ["with Redis", "without Redis"]
    assert len(budget_log.said()) == 1


def test_an_async_robot_shares_the_budget(redis_url: str, dingtalk_fake: FakeServer) -> None:
    ops = dingtalk_fake.add_robot(rate_limit="3/10s")

    async def main() -> list[str]:
        async with AsyncRobot(ops.webhook, rate_limit="3/10s", budget_store=redis_url) as robot:
            for i in range(3):
                await robot.send(Text(f"async {i}"))
        return [r.text for r in ops.messages()]

    assert asyncio.run(main()) == ["async 0", "async 1", "async 2"]
    # another "host" sees the three: its fourth would have to wait
    sync = Robot(ops.webhook, rate_limit="3/10s", budget_store=redis_url)
    assert sync.budget_state().reason == "budget"


# -- many hosts: judged at the fake ------------------------------------------------------------

HOST = """
import os, sys
os.environ["DINGWIRE_CACHE_DIR"] = sys.argv[5]  # a host of its own: its own cache directory
from dingwire import Robot, Text
with Robot(sys.argv[1], rate_limit=sys.argv[2], budget_store=sys.argv[6]) as robot:
    for i in range(int(sys.argv[3])):
        robot.send(Text(f"{sys.argv[4]} {i}"))
"""


@pytest.mark.slow
def test_two_hosts_share_one_budget_through_redis(
    redis_url: str, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    # Library robots in two processes with separate cache directories ("two hosts"): only
    # Redis is shared. Judged by the arrival times in the fake's log: never more than 5 in
    # any 2 s window, never a 130101 (judge_at_the_fake), every message delivered.
    ops = a_robot(dingtalk_fake)
    for round_ in range(ROUNDS):
        ops.inject_fault(Fault.latency(LATE, count=2))  # each process's first request
        run_together(
            [
                [
                    sys.executable,
                    "-c",
                    HOST,
                    ops.webhook,
                    RATE,
                    "6",
                    f"r{round_}h{h}",
                    str(tmp_path / f"host-{h}"),
                    redis_url,
                ]
                for h in range(2)
            ],
            dict(os.environ),
        )
    judge_at_the_fake(ops, ROUNDS * 12)
    # and only Redis counted: neither host made a machine-local store
    assert not (tmp_path / "host-0").exists()
    assert not (tmp_path / "host-1").exists()


@pytest.mark.slow
def test_two_hosts_without_redis_would_go_over(dingtalk_fake: FakeServer, tmp_path: Path) -> None:
    # The control: the same two hosts, each with its machine-local store. Together they
    # send twice the budget at once, and the fake says so: what the test above rules out.
    ops = a_robot(dingtalk_fake)
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                HOST,
                ops.webhook,
                RATE,
                "5",
                f"h{h}",
                str(tmp_path / f"host-{h}"),
                "local",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for h in range(2)
    ]
    for process in processes:
        process.communicate(timeout=120)
    records = ops.messages()
    over = most_in_any_window([r.time for r in records], 2.0) > 5
    assert over or any(r.errcode == 130101 for r in records)


# -- the same verdicts as the memory store, whatever the order -------------------------------

ACME = Quota(6, 60.0)
ROBOTS = {
    "r1": Budget(Rate(2, 10.0), "acme", ACME),
    "r2": Budget(Rate(3, 10.0), "acme", ACME),
    "r3": Budget(None, "acme", ACME),
    "r4": Budget(Rate(2, 5.0), "plain"),
}
robots = st.sampled_from(sorted(ROBOTS))
steps = st.sampled_from([0.0, 0.0, 0.5, 1.0, 3.0, 7.0, 30.0])
handles = st.sampled_from([0, 1])  # two hosts: each has its own view of the state
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("reserve"), robots, steps, handles, st.sampled_from([1.0, 5.0, math.inf])
        ),
        st.tuples(st.just("peek"), robots, steps, handles),
        st.tuples(
            st.just("settle"),
            st.integers(0, 30),
            steps,
            handles,
            st.sampled_from([None, 0.0, 0.2, 2.0]),
        ),
        st.tuples(st.just("lock_out"), robots, steps, handles, st.sampled_from([1.0, 20.0])),
        st.tuples(st.just("spend"), st.sampled_from(["acme", "plain"]), steps, handles),
        st.tuples(st.just("usage"), robots, steps, handles),
    ),
    max_size=40,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=operations)
def test_two_hosts_on_redis_say_what_one_memory_store_says(
    redis_url: str, script: list[tuple[Any, ...]]
) -> None:
    # The memory store is the reference (one process, one lock); two Redis handles, each
    # with its own state last seen, must give the very same verdicts in the same order.
    client = raw(redis_url)
    client.flushdb()
    client.close()
    reference = MemoryBudgetStore()
    hosts = [RedisBudgetStore(redis_url), RedisBudgetStore(redis_url)]
    now = T
    granted: list[tuple[str, int, int, float]] = []  # robot, memory's slot, Redis', start
    try:
        for kind, what, step, host, *extra in script:
            now += step
            redis_store = hosts[host]
            note(f"{kind} {what!r} at T+{now - T:g} on host {host} {extra}")
            if kind == "reserve":
                budget, hold = ROBOTS[what], extra[0]
                expected = reference.reserve(what, budget, now, hold=hold)
                verdict = redis_store.reserve(what, budget, now, hold=hold)
                assert verdict == expected, (kind, what, now - T)
                assert (verdict.slot is None) == (expected.slot is None)
                if expected.slot is not None and verdict.slot is not None:
                    granted.append((what, expected.slot, verdict.slot, now))
            elif kind == "peek":
                assert redis_store.peek(what, ROBOTS[what], now) == reference.peek(
                    what, ROBOTS[what], now
                ), (kind, what, now - T)
            elif kind == "settle" and granted:
                robot, ours, theirs, started = granted[what % len(granted)]
                arrived = None if extra[0] is None else max(now, started) + extra[0]
                reference.settle(robot, ours, arrived)
                redis_store.settle(robot, theirs, arrived)
            elif kind == "lock_out":
                reference.lock_out(what, now + extra[0])
                redis_store.lock_out(what, now + extra[0])
            elif kind == "spend":
                reference.spend_quota(what, now + 15.0)
                redis_store.spend_quota(what, now + 15.0)
            elif kind == "usage":
                budget = ROBOTS[what]
                assert redis_store.usage(budget, now) == reference.usage(budget, now)
    finally:
        for handle in hosts:
            handle.close()


def test_a_robot_alone_pays_one_round_trip_a_decision_and_one_a_settle(redis_url: str) -> None:
    """The state last seen is what makes a decision one round trip: while nobody else sends
    for the robot, every reserve, peek and settle is one script call, whatever the settle
    says (arrived, or failed and given back) and across the turn of the month; after
    another host sent, one more, then one again. The verdicts themselves are the contract
    suite's and the memory store's (above): a state remembered wrongly costs round trips,
    never a wrong answer, so only counting them shows it."""
    client = raw(redis_url)
    client.flushdb()
    client.close()
    host, other = RedisBudgetStore(redis_url), RedisBudgetStore(redis_url)
    calls: list[str] = []
    real = host._script

    def counted(name: str, keys: list[str], args: list[Any]) -> Any:
        calls.append(name)
        return real(name, keys, args)

    host._script = counted  # type: ignore[method-assign]

    def trips(action: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
        calls.clear()
        result = action(*args, **kwargs)
        return result, list(calls)

    try:
        now = T
        first, _ = trips(host.reserve, "ops", R3, now, hold=HOLD)  # marks Redis first
        host.settle("ops", first.slot, now + 0.1)
        for i in range(8):
            now += 4.0
            start = SEPT_END - 2.0 if i == 4 else now  # the month turns between two sends
            now = max(now, start)
            _, spent = trips(host.peek, "ops", R3, now)  # slots past their window
            assert spent == ["decide"], (i, spent)
            verdict, spent = trips(host.reserve, "ops", R3, now, hold=HOLD)
            assert verdict.go
            assert spent == ["decide"], (i, spent)
            arrived = None if i % 3 == 2 else now + 0.1  # failed, or arrived
            _, spent = trips(host.settle, "ops", verdict.slot, arrived)
            assert spent == ["settle"], (i, spent)
            _, spent = trips(host.peek, "ops", R3, now + 0.2)
            assert spent == ["decide"], (i, spent)
        for robot, budget in (("ops", R3), ("solo", R1)):
            now += 11.0
            theirs = other.reserve(robot, budget, now, hold=HOLD)
            other.settle(robot, theirs.slot, now + 0.1)
            now += 11.0
            verdict, spent = trips(host.reserve, robot, budget, now, hold=HOLD)
            assert verdict.go
            assert spent == ["decide", "decide"], (robot, spent)
            host.settle(robot, verdict.slot, now + 0.1)
            now += 11.0
            verdict, spent = trips(host.reserve, robot, budget, now, hold=HOLD)
            assert verdict.go
            assert spent == ["decide"], (robot, spent)
            host.settle(robot, verdict.slot, now + 0.1)
        assert host.usage(R3, now) == other.usage(R3, now)
    finally:
        host.close()
        other.close()


def test_an_error_never_repeats_the_password(redis_url: str) -> None:
    """Whatever Redis's client says goes through ``_scrub`` before a log line or an error."""
    store = RedisBudgetStore(f"redis://:{PASSWORD}@127.0.0.1:1/0")
    try:
        said = store._scrub(ConnectionError(f"AUTH {PASSWORD} refused by {PASSWORD}@host"))
        assert said == "AUTH *** refused by ***@host"
        assert store._scrub(TimeoutError()) == "TimeoutError"
    finally:
        store.close()
    plain = RedisBudgetStore(redis_url)
    try:
        assert plain._scrub(ConnectionError("refused")) == "refused"
    finally:
        plain.close()


def test_two_hosts_never_grant_more_than_the_quota(redis_url: str) -> None:
    """Each host judges on the count it saw last; Redis takes a slot only while the count is
    one for which that judgement holds. Near the end of the quota that is the count itself."""
    client = raw(redis_url)
    client.flushdb()
    client.close()
    budget = Budget(None, "tight", Quota(3, MONTH))
    hosts = [RedisBudgetStore(redis_url), RedisBudgetStore(redis_url)]
    try:
        granted = []
        for i in range(8):
            verdict = hosts[i % 2].reserve(f"r{i % 3}", budget, T + i, hold=HOLD)
            granted.append(verdict.go)
        assert granted == [True, True, True, False, False, False, False, False]
        assert [host.usage(budget, T + 9) for host in hosts] == [3, 3]
        assert hosts[0].peek("r9", budget, T + 9).reason == "quota"
    finally:
        for host in hosts:
            host.close()


def test_a_redis_that_never_answers_is_away_within_the_answer_timeout(
    monkeypatch: pytest.MonkeyPatch, budget_log: BudgetLog
) -> None:
    """A Redis that takes the connection and says nothing (hung, or a wrong port that
    accepts): a decision never waits past the answer timeout."""
    import socket

    monkeypatch.setattr(redis_module, "ANSWER_TIMEOUT", 0.3)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    store = RedisBudgetStore(f"redis://127.0.0.1:{port}/0", on_error="fail")
    try:
        started = time.monotonic()
        with pytest.raises(BudgetStoreError, match="cannot be reached"):
            store.reserve("r", R1, T, hold=HOLD)
        assert time.monotonic() - started < 5.0
        assert len(budget_log.said()) == 1
    finally:
        store.close()
        listener.close()


def test_a_redis_restarted_between_two_calls_is_used_again_at_once(
    server: RedisServer, budget_log: BudgetLog
) -> None:
    """The connection Redis closed when it restarted is opened again within the call: no
    warning, no call answered from anywhere but Redis."""
    store = RedisBudgetStore(server.url, on_error="fail")
    try:
        assert store.reserve("r", R3, T, hold=HOLD).go
        server.kill()
        server.start()  # the same data (append-only file)
        assert store.peek("r", R3, T + 20).used == 1
        assert budget_log.said() == []
    finally:
        store.close()
