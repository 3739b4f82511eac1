"""Random runs of outbox calls against a plain model of the contract, on every backend.

The model is the contract written as simply as it can be: a list of records with their
state, owner, lease and due time. After every step each backend must agree with it on every
record, on ``counts()`` and on ``backlog()``; every claim must return exactly the records the
model says are due, by priority then arrival.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from dingwire.relay.model import STATES
from dingwire.relay.outbox import MemoryOutbox, Outbox, SqliteOutbox
from dingwire.relay.outbox.redis import RedisOutbox

from .conftest import message

ROBOTS = ("ops", "dev")
OWNERS = ("a", "b")
WINDOW = 30.0


@dataclass
class Model:
    id: str
    robot: str
    priority: int
    seq: int
    state: str = "queued"
    not_before: float = 0.0
    lease_until: float | None = None
    owner: str | None = None
    failing_since: float | None = None
    attempts: int = 0

    def due(self, now: float) -> bool:
        if self.state in ("queued", "retrying"):
            return self.not_before <= now
        return self.state == "sending" and self.lease_until is not None and self.lease_until <= now


class OutboxMachine(RuleBasedStateMachine):
    backend = "memory"
    redis_url = ""  # set by the test: a database of a real Redis

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="dingwire-outbox-"))
        self.outbox: Outbox
        if self.backend == "memory":
            self.outbox = MemoryOutbox()
        elif self.backend == "sqlite":
            self.outbox = SqliteOutbox(self.dir / "o.sqlite3")
        else:
            import redis

            with redis.Redis.from_url(self.redis_url) as client:
                client.flushdb()  # every example starts empty
            self.outbox = RedisOutbox(self.redis_url)
        self.now = 1000.0
        self.records: dict[str, Model] = {}
        self.keys: dict[str, tuple[str, float]] = {}
        self.seq = 0

    def teardown(self) -> None:
        self.outbox.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def pick(self, data: st.DataObject) -> list[str]:
        if not self.records:
            return []
        return data.draw(st.lists(st.sampled_from(list(self.records)), max_size=4))

    @rule(dt=st.sampled_from([0.0, 0.5, 3.0, 11.0, 40.0]))
    def tick(self, dt: float) -> None:
        self.now += dt

    @rule(
        items=st.lists(
            st.tuples(
                st.sampled_from(ROBOTS), st.integers(0, 2), st.none() | st.sampled_from("xyz")
            ),
            min_size=1,
            max_size=4,
        )
    )
    def enqueue(self, items: list[tuple[str, int, str | None]]) -> None:
        messages = [
            message(robot=robot, priority=p, key=None if k is None else f"{robot}:{k}")
            for robot, p, k in items
        ]
        answers = self.outbox.enqueue(messages, now=self.now, dedupe_window=WINDOW)
        assert len(answers) == len(messages)
        for sent, answer in zip(messages, answers, strict=True):
            key = sent.dedupe_key
            seen = self.keys.get(key) if key is not None else None
            if seen is not None and self.now - seen[1] <= WINDOW:
                assert (answer.id, answer.duplicate) == (seen[0], True)
                continue
            assert not answer.duplicate
            assert answer.id not in self.records
            self.seq += 1
            self.records[answer.id] = Model(
                answer.id, sent.robot, sent.priority, self.seq, not_before=self.now
            )
            if key is not None:
                self.keys[key] = (answer.id, self.now)

    @rule(
        robot=st.sampled_from(ROBOTS),
        owner=st.sampled_from(OWNERS),
        limit=st.integers(0, 4),
        lease=st.sampled_from([1.0, 10.0]),
    )
    def claim(self, robot: str, owner: str, limit: int, lease: float) -> None:
        got = self.outbox.claim(robot, now=self.now, owner=owner, lease=lease, limit=limit)
        due = sorted(
            (r for r in self.records.values() if r.robot == robot and r.due(self.now)),
            key=lambda r: (r.priority, r.seq),
        )[:limit]
        assert [r.id for r in got] == [r.id for r in due]
        for r in due:
            r.state, r.owner, r.lease_until = "sending", owner, self.now + lease

    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        ids = self.pick(data)
        self.outbox.ack(ids, now=self.now, reply={"errcode": 0, "errmsg": "ok"})
        for id in dict.fromkeys(ids):
            r = self.records[id]
            if r.state != "sent":
                r.state, r.owner, r.lease_until, r.failing_since = "sent", None, None, None
                r.attempts += 1

    def held(self, ids: list[str], owner: str) -> list[Model]:
        rows = [self.records[id] for id in dict.fromkeys(ids)]
        return [r for r in rows if r.state == "sending" and r.owner == owner]

    @rule(data=st.data(), owner=st.sampled_from(OWNERS), delay=st.sampled_from([0.0, 5.0]))
    def nack(self, data: st.DataObject, owner: str, delay: float) -> None:
        ids = self.pick(data)
        self.outbox.nack(ids, owner=owner, now=self.now, retry_at=self.now + delay, error="e")
        for r in self.held(ids, owner):
            r.state, r.owner, r.lease_until = "retrying", None, None
            r.not_before = self.now + delay
            r.attempts += 1
            if r.failing_since is None:
                r.failing_since = self.now

    @rule(data=st.data(), owner=st.sampled_from(OWNERS), delay=st.sampled_from([0.0, 5.0]))
    def release(self, data: st.DataObject, owner: str, delay: float) -> None:
        ids = self.pick(data)
        self.outbox.release(ids, owner=owner, not_before=self.now + delay)
        for r in self.held(ids, owner):
            r.state = "queued" if r.failing_since is None else "retrying"
            r.owner, r.lease_until, r.not_before = None, None, self.now + delay

    @rule(data=st.data(), attempted=st.booleans())
    def kill(self, data: st.DataObject, attempted: bool) -> None:
        ids = self.pick(data)
        self.outbox.kill(ids, now=self.now, error="dead", attempted=attempted)
        for id in dict.fromkeys(ids):
            r = self.records[id]
            if r.state not in ("sent", "dead"):
                r.state, r.owner, r.lease_until = "dead", None, None
                r.attempts += 1 if attempted else 0

    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        for id in self.pick(data)[:1]:
            r = self.records[id]
            expected = r.state in ("dead", "retrying")
            assert self.outbox.retry(id, now=self.now) == expected
            if expected:
                r.state, r.not_before, r.failing_since = "queued", self.now, None

    @rule()
    def retry_dead(self) -> None:
        dead = [r for r in self.records.values() if r.state == "dead"]
        assert self.outbox.retry_dead(now=self.now) == len(dead)
        for r in dead:
            r.state, r.not_before, r.failing_since = "queued", self.now, None

    @rule()
    def purge_dead(self) -> None:
        dead = {id for id, r in self.records.items() if r.state == "dead"}
        assert self.outbox.purge_dead() == len(dead)
        for id in dead:
            del self.records[id]
        self.keys = {k: v for k, v in self.keys.items() if v[0] not in dead}

    @invariant()
    def every_record_agrees(self) -> None:
        for id, r in self.records.items():
            got = self.outbox.get(id)
            assert got is not None
            assert (got.state, got.owner, got.attempts) == (r.state, r.owner, r.attempts)
            assert got.failing_since == r.failing_since
            if r.state in ("queued", "retrying"):
                assert got.not_before == r.not_before
            if r.state == "sending":
                assert got.lease_until == r.lease_until

    @invariant()
    def counts_agree(self) -> None:
        expected: dict[str, dict[str, int]] = {}
        for r in self.records.values():
            expected.setdefault(r.robot, dict.fromkeys(STATES, 0))[r.state] += 1
        assert self.outbox.counts() == expected

    @invariant()
    def backlog_agrees(self) -> None:
        expected: dict[str, tuple[int, int, int, float | None]] = {}
        for robot in ROBOTS:
            unsent = [
                r
                for r in self.records.values()
                if r.robot == robot and r.state in ("queued", "retrying", "sending")
            ]
            if not unsent:
                continue
            due = [r for r in unsent if r.due(self.now)]
            sending = [r for r in unsent if r.state == "sending" and not r.due(self.now)]
            waiting = [r for r in unsent if r.state != "sending" and not r.due(self.now)]
            next_due = min((r.not_before for r in waiting), default=None)
            expected[robot] = (len(due), len(waiting), len(sending), next_due)
        got = {
            robot: (b.due, b.waiting, b.sending, b.next_due)
            for robot, b in self.outbox.backlog(now=self.now).items()
        }
        assert got == expected


class MemoryMachine(OutboxMachine):
    backend = "memory"


class SqliteMachine(OutboxMachine):
    backend = "sqlite"


class RedisMachine(OutboxMachine):
    backend = "redis"


_settings = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize(
    "machine", [MemoryMachine, SqliteMachine, RedisMachine], ids=["memory", "sqlite", "redis"]
)
def test_the_outbox_keeps_the_model(
    machine: type[OutboxMachine], request: pytest.FixtureRequest
) -> None:
    if machine is RedisMachine:
        machine.redis_url = request.getfixturevalue("redis_url")
    run_state_machine_as_test(machine, settings=_settings)
