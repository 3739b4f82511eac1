"""The outbox contract (dingwire.relay.outbox._contract), kept alike by every backend."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest

from dingwire.relay.model import STATES, DigestLine, Outgoing
from dingwire.relay.outbox import MemoryOutbox, Outbox, SqliteOutbox
from dingwire.relay.outbox.redis import RedisOutbox

from .conftest import Handles, message

LEASE = 30.0


def enqueue(outbox: Outbox, *messages: Outgoing, now: float = 100.0) -> list[str]:
    return [e.id for e in outbox.enqueue(messages, now=now, dedupe_window=300.0)]


def state(outbox: Outbox, id: str) -> str:
    record = outbox.get(id)
    assert record is not None
    return record.state


# -- enqueue and get ----------------------------------------------------------------------


def test_a_message_comes_back_exactly(outbox: Outbox) -> None:
    sent = Outgoing(
        robot="ops",
        body={
            "msgtype": "markdown",
            "markdown": {"title": "磁盘 ✅", "text": 'a\n\nb \\* \u2028 "q"'},
            "at": {"atMobiles": ["13800000000"], "isAtAll": False},
        },
        kind="markdown",
        lines=(DigestLine("firing", "Disk", "🔥 x"), DigestLine("resolved", "Cpu", "✅ y")),
        priority=3,
        source="grafana",
        dedupe_key="ab" * 32,
        received=1733131200.123456,
    )
    [answer] = outbox.enqueue([sent], now=1733131200.5, dedupe_window=300.0)
    assert not answer.duplicate
    record = outbox.get(answer.id)
    assert record is not None
    assert record.message == sent
    assert (record.id, record.state, record.attempts) == (answer.id, "queued", 0)
    assert record.not_before == 1733131200.5
    assert record.updated == 1733131200.5
    assert (record.owner, record.lease_until, record.failing_since) == (None, None, None)
    assert (record.error, record.reply, record.digest, record.sent_at) == (None,) * 4
    assert record.history == ()


def test_answers_come_in_order_with_distinct_short_ids(outbox: Outbox) -> None:
    messages = [message(text=f"m{i}") for i in range(50)]
    answers = outbox.enqueue(messages, now=100.0, dedupe_window=300.0)
    assert len({a.id for a in answers}) == 50
    assert all(len(a.id) <= 32 and a.id.isalnum() for a in answers)
    for sent, answer in zip(messages, answers, strict=True):
        record = outbox.get(answer.id)
        assert record is not None
        assert record.message == sent


def test_nothing_to_enqueue_is_no_error(outbox: Outbox) -> None:
    assert outbox.enqueue([], now=1.0, dedupe_window=300.0) == []
    assert outbox.counts() == {}


def test_an_unknown_id_is_none(outbox: Outbox) -> None:
    assert outbox.get("nosuchid") is None
    assert outbox.get("") is None


def test_a_change_to_a_body_after_enqueue_changes_nothing_stored(outbox: Outbox) -> None:
    sent = message()
    [id] = enqueue(outbox, sent)
    sent.body["markdown"]["text"] = "changed"
    record = outbox.get(id)
    assert record is not None
    assert record.message.body["markdown"]["text"] == "### disk full"
    record.message.body["markdown"]["text"] = "changed again"
    again = outbox.get(id)
    assert again is not None
    assert again.message.body["markdown"]["text"] == "### disk full"


# -- dedupe ----------------------------------------------------------------------------------


def test_the_same_key_within_the_window_is_stored_once(outbox: Outbox) -> None:
    [first] = outbox.enqueue([message(key="k1")], now=100.0, dedupe_window=300.0)
    [again] = outbox.enqueue([message(key="k1", text="other")], now=400.0, dedupe_window=300.0)
    assert again.id == first.id
    assert again.duplicate
    assert outbox.counts() == {"ops": dict.fromkeys(STATES, 0) | {"queued": 1}}


def test_the_same_key_after_the_window_is_stored_again(outbox: Outbox) -> None:
    [first] = outbox.enqueue([message(key="k1")], now=100.0, dedupe_window=300.0)
    [later] = outbox.enqueue([message(key="k1")], now=400.5, dedupe_window=300.0)
    assert later.id != first.id
    assert not later.duplicate
    # and the window now counts from the second
    [third] = outbox.enqueue([message(key="k1")], now=600.0, dedupe_window=300.0)
    assert third.id == later.id
    assert third.duplicate


def test_duplicates_within_one_call_are_stored_once(outbox: Outbox) -> None:
    answers = outbox.enqueue(
        [message(key="k"), message(key="j"), message(key="k")], now=1.0, dedupe_window=60.0
    )
    assert [a.duplicate for a in answers] == [False, False, True]
    assert answers[2].id == answers[0].id
    assert answers[1].id != answers[0].id


def test_messages_without_a_key_are_never_duplicates(outbox: Outbox) -> None:
    answers = outbox.enqueue([message(), message()], now=1.0, dedupe_window=60.0)
    assert len({a.id for a in answers}) == 2
    assert not any(a.duplicate for a in answers)


def test_a_zero_window_dedupes_only_the_same_moment(outbox: Outbox) -> None:
    [a] = outbox.enqueue([message(key="k")], now=1.0, dedupe_window=0.0)
    [b] = outbox.enqueue([message(key="k")], now=1.0, dedupe_window=0.0)
    [c] = outbox.enqueue([message(key="k")], now=1.001, dedupe_window=0.0)
    assert b.id == a.id
    assert b.duplicate
    assert c.id != a.id


def test_a_duplicate_is_answered_whatever_became_of_the_first(outbox: Outbox) -> None:
    [first] = outbox.enqueue([message(key="k")], now=1.0, dedupe_window=300.0)
    [claimed] = outbox.claim("ops", now=2.0, owner="a", lease=LEASE, limit=10)
    outbox.ack([claimed.id], now=3.0, reply={"errcode": 0, "errmsg": "ok"})
    [again] = outbox.enqueue([message(key="k")], now=4.0, dedupe_window=300.0)
    assert again.id == first.id
    assert again.duplicate


# -- claim -------------------------------------------------------------------------------


def test_claims_come_by_priority_then_arrival(outbox: Outbox) -> None:
    ids = enqueue(
        outbox,
        message(text="a", priority=2),
        message(text="b", priority=0),
        message(text="c", priority=1),
        message(text="d", priority=0),
        message(text="e", priority=2),
    )
    ids += enqueue(outbox, message(text="f", priority=0), now=101.0)
    claimed = outbox.claim("ops", now=200.0, owner="me", lease=LEASE, limit=10)
    a, b, c, d, e, f = ids
    assert [r.id for r in claimed] == [b, d, f, c, a, e]
    for record in claimed:
        assert (record.state, record.owner, record.lease_until) == ("sending", "me", 230.0)
        assert record.updated == 200.0
        assert state(outbox, record.id) == "sending"


def test_a_claim_takes_at_most_limit_and_only_its_robot(outbox: Outbox) -> None:
    ids = enqueue(outbox, *(message(text=str(i)) for i in range(5)))
    other = enqueue(outbox, message(robot="dev"))
    first = outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=2)
    assert [r.id for r in first] == ids[:2]
    second = outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10)
    assert [r.id for r in second] == ids[2:]
    assert outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10) == []
    assert outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=0) == []
    assert [r.id for r in outbox.claim("dev", now=100.0, owner="x", lease=1, limit=9)] == other
    assert outbox.claim("nobody", now=100.0, owner="me", lease=LEASE, limit=10) == []


def test_nothing_is_claimed_before_it_was_enqueued_at(outbox: Outbox) -> None:
    [id] = enqueue(outbox, message(), now=100.0)
    assert outbox.claim("ops", now=99.0, owner="me", lease=LEASE, limit=10) == []
    assert [r.id for r in outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=1)] == [id]


def test_a_live_lease_keeps_others_off_and_an_expired_one_does_not(outbox: Outbox) -> None:
    [id] = enqueue(outbox, message())
    outbox.claim("ops", now=100.0, owner="a", lease=10.0, limit=10)
    assert outbox.claim("ops", now=109.9, owner="b", lease=10.0, limit=10) == []
    [taken] = outbox.claim("ops", now=110.0, owner="b", lease=10.0, limit=10)
    assert (taken.id, taken.owner, taken.lease_until) == (id, "b", 120.0)
    # the first holder lost it: its release and nack change nothing
    outbox.release([id], owner="a", not_before=500.0)
    outbox.nack([id], owner="a", now=111.0, retry_at=900.0, error="late")
    record = outbox.get(id)
    assert record is not None
    assert (record.state, record.owner, record.attempts, record.error) == ("sending", "b", 0, None)


def test_an_ack_wins_even_after_the_lease_was_taken_over(outbox: Outbox) -> None:
    [id] = enqueue(outbox, message())
    outbox.claim("ops", now=100.0, owner="a", lease=10.0, limit=10)
    outbox.claim("ops", now=120.0, owner="b", lease=10.0, limit=10)
    outbox.ack([id], now=121.0, reply={"errcode": 0, "errmsg": "ok"})
    assert state(outbox, id) == "sent"
    assert outbox.claim("ops", now=999.0, owner="c", lease=10.0, limit=10) == []
    # and a late nack or kill does not undo it
    outbox.nack([id], owner="b", now=122.0, retry_at=130.0, error="x")
    outbox.kill([id], now=122.0, error="x")
    assert state(outbox, id) == "sent"


# -- ack, nack, release, kill ---------------------------------------------------------------


def test_an_ack_records_the_reply_and_the_digest(outbox: Outbox) -> None:
    ids = enqueue(outbox, message(text="a"), message(text="b"), message(text="c"))
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10)
    outbox.ack(ids[:2], now=101.5, reply={"errcode": 0, "errmsg": "ok"}, digest="dg1")
    outbox.ack(ids[2:], now=102.0, reply={"errcode": 0, "errmsg": "ok"})
    for id in ids[:2]:
        record = outbox.get(id)
        assert record is not None
        assert record.state == "sent"
        assert (record.digest, record.digest_size, record.sent_at) == ("dg1", 2, 101.5)
        assert record.reply == {"errcode": 0, "errmsg": "ok"}
        assert (record.owner, record.lease_until, record.attempts) == (None, None, 1)
        assert [h["outcome"] for h in record.history] == ["sent"]
    alone = outbox.get(ids[2])
    assert alone is not None
    assert (alone.digest, alone.digest_size, alone.sent_at) == (None, 1, 102.0)


def test_a_nack_counts_an_attempt_and_waits_until_retry_at(outbox: Outbox) -> None:
    [id] = enqueue(outbox, message())
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10)
    outbox.nack([id], owner="me", now=101.0, retry_at=110.0, error="HTTP 502")
    record = outbox.get(id)
    assert record is not None
    assert (record.state, record.attempts, record.not_before) == ("retrying", 1, 110.0)
    assert (record.failing_since, record.error) == (101.0, "HTTP 502")
    assert record.reply == {"error": "HTTP 502"}
    assert (record.owner, record.lease_until) == (None, None)
    assert outbox.claim("ops", now=109.0, owner="me", lease=LEASE, limit=10) == []
    [again] = outbox.claim("ops", now=110.0, owner="me", lease=LEASE, limit=10)
    outbox.nack(
        [again.id],
        owner="me",
        now=111.0,
        retry_at=130.0,
        error="-1 busy",
        reply={"errcode": -1, "errmsg": "busy"},
    )
    record = outbox.get(id)
    assert record is not None
    assert (record.attempts, record.failing_since) == (2, 101.0)  # the run began at 101
    assert record.reply == {"errcode": -1, "errmsg": "busy"}
    assert [(h["at"], h["outcome"], h["error"]) for h in record.history] == [
        (101.0, "retry", "HTTP 502"),
        (111.0, "retry", "-1 busy"),
    ]


def test_an_id_given_twice_counts_once(outbox: Outbox) -> None:
    ids = enqueue(outbox, message(text="a"), message(text="b"), message(text="c"))
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10)
    a, b, c = ids
    outbox.nack([a, a], owner="me", now=100.0, retry_at=100.0, error="x")
    outbox.ack([b, b], now=100.0, reply=None)
    outbox.kill([c, c], now=100.0, error="x")
    attempts = [r.attempts for r in (outbox.get(id) for id in ids) if r is not None]
    assert attempts == [1, 1, 1]


def test_a_release_counts_no_attempt(outbox: Outbox) -> None:
    [id] = enqueue(outbox, message())
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10)
    outbox.release([id], owner="me", not_before=160.0)
    record = outbox.get(id)
    assert record is not None
    assert (record.state, record.attempts, record.not_before) == ("queued", 0, 160.0)
    assert (record.owner, record.lease_until, record.failing_since) == (None, None, None)
    assert record.history == ()
    assert outbox.claim("ops", now=159.0, owner="me", lease=LEASE, limit=10) == []
    assert len(outbox.claim("ops", now=160.0, owner="me", lease=LEASE, limit=10)) == 1


def test_a_release_after_failures_stays_retrying(outbox: Outbox) -> None:
    [id] = enqueue(outbox, message())
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10)
    outbox.nack([id], owner="me", now=100.0, retry_at=101.0, error="x")
    outbox.claim("ops", now=101.0, owner="me", lease=LEASE, limit=10)
    outbox.release([id], owner="me", not_before=200.0)
    record = outbox.get(id)
    assert record is not None
    assert (record.state, record.attempts, record.failing_since) == ("retrying", 1, 100.0)


def test_a_release_by_another_owner_is_ignored(outbox: Outbox) -> None:
    [id] = enqueue(outbox, message())
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10)
    outbox.release([id], owner="someone", not_before=100.0)
    outbox.nack([id], owner="someone", now=100.0, retry_at=100.0, error="x")
    assert state(outbox, id) == "sending"


def test_a_kill_dead_letters_with_the_reason(outbox: Outbox) -> None:
    ids = enqueue(outbox, message(text="a"), message(text="b"))
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10)
    outbox.kill(
        ids[:1], now=101.0, error="310000 keywords", reply={"errcode": 310000, "errmsg": "k"}
    )
    outbox.kill(ids[1:], now=102.0, error="max_age passed", attempted=False)
    first, second = (outbox.get(id) for id in ids)
    assert first is not None
    assert second is not None
    assert (first.state, first.attempts, first.error) == ("dead", 1, "310000 keywords")
    assert first.reply == {"errcode": 310000, "errmsg": "k"}
    assert (second.state, second.attempts, second.error) == ("dead", 0, "max_age passed")
    assert (first.owner, first.lease_until) == (None, None)
    assert outbox.claim("ops", now=999.0, owner="me", lease=LEASE, limit=10) == []


def test_acks_and_kills_of_unknown_ids_are_ignored(outbox: Outbox) -> None:
    outbox.ack(["nope"], now=1.0, reply=None)
    outbox.kill(["nope"], now=1.0, error="x")
    outbox.nack(["nope"], owner="me", now=1.0, retry_at=2.0, error="x")
    outbox.release(["nope"], owner="me", not_before=2.0)
    outbox.ack([], now=1.0, reply=None)
    assert outbox.counts() == {}


def test_history_is_bounded_and_keeps_the_newest(outbox: Outbox) -> None:
    [id] = enqueue(outbox, message())
    for i in range(30):
        outbox.claim("ops", now=100.0 + i, owner="me", lease=LEASE, limit=1)
        outbox.nack([id], owner="me", now=100.0 + i, retry_at=100.0 + i + 1, error=f"e{i}")
    record = outbox.get(id)
    assert record is not None
    assert record.attempts == 30
    assert 1 <= len(record.history) <= 20
    assert record.history[-1]["error"] == "e29"
    assert [h["at"] for h in record.history] == sorted(h["at"] for h in record.history)


# -- backlog, list, counts ----------------------------------------------------------------


def test_the_backlog_says_what_is_due_waiting_and_sending(outbox: Outbox) -> None:
    ids = enqueue(outbox, *(message(text=str(i)) for i in range(6)))
    enqueue(outbox, message(robot="dev"), now=150.0)
    outbox.claim("ops", now=100.0, owner="me", lease=10.0, limit=4)
    outbox.nack(ids[:1], owner="me", now=100.0, retry_at=140.0, error="x")
    outbox.release(ids[1:2], owner="me", not_before=130.0)
    outbox.ack(ids[3:4], now=100.0, reply=None)
    # ids[2] sending (lease to 110), ids[4], ids[5] queued, due
    backlog = outbox.backlog(now=105.0)
    assert set(backlog) == {"ops", "dev"}
    ops = backlog["ops"]
    assert (ops.due, ops.waiting, ops.sending, ops.next_due) == (2, 2, 1, 130.0)
    dev = backlog["dev"]
    assert (dev.due, dev.waiting, dev.sending, dev.next_due) == (0, 1, 0, 150.0)
    # the lease ran out: due again
    ops = outbox.backlog(now=135.0)["ops"]
    assert (ops.due, ops.waiting, ops.sending, ops.next_due) == (4, 1, 0, 140.0)


def test_a_robot_with_nothing_unsent_has_no_backlog(outbox: Outbox) -> None:
    ids = enqueue(outbox, message(text="a"), message(text="b"))
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10)
    outbox.ack(ids[:1], now=100.0, reply=None)
    outbox.kill(ids[1:], now=100.0, error="x")
    assert outbox.backlog(now=100.0) == {}


def test_list_is_newest_first_and_filtered(outbox: Outbox) -> None:
    ops = enqueue(outbox, message(text="a"), message(text="b"), message(text="c"))
    dev = enqueue(outbox, message(robot="dev"))
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=1)
    outbox.kill(ops[:1], now=100.0, error="x")
    assert [r.id for r in outbox.list()] == [*dev, *reversed(ops)]
    assert [r.id for r in outbox.list(robot="ops")] == list(reversed(ops))
    assert [r.id for r in outbox.list(state="dead")] == ops[:1]
    assert [r.id for r in outbox.list(state="queued", robot="ops")] == [ops[2], ops[1]]
    assert [r.id for r in outbox.list(limit=2)] == [dev[0], ops[2]]
    assert outbox.list(limit=0) == []
    assert outbox.list(state="sent") == []
    assert outbox.list(robot="nobody") == []


def test_counts_per_robot_and_state(outbox: Outbox) -> None:
    assert outbox.counts() == {}
    ids = enqueue(outbox, *(message(text=str(i)) for i in range(5)), message(robot="dev"))
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=4)
    outbox.ack(ids[:1], now=100.0, reply=None)
    outbox.nack(ids[1:2], owner="me", now=100.0, retry_at=200.0, error="x")
    outbox.kill(ids[2:3], now=100.0, error="x")
    zero = dict.fromkeys(STATES, 0)
    assert outbox.counts() == {
        "ops": zero | {"queued": 1, "sending": 1, "sent": 1, "retrying": 1, "dead": 1},
        "dev": zero | {"queued": 1},
    }


# -- retry and purge ------------------------------------------------------------------------


def test_retry_makes_a_dead_or_retrying_record_due_now(outbox: Outbox) -> None:
    ids = enqueue(outbox, message(text="a"), message(text="b"), message(text="c"))
    outbox.claim("ops", now=100.0, owner="me", lease=1000.0, limit=10)
    outbox.kill(ids[:1], now=100.0, error="dead")
    outbox.nack(ids[1:2], owner="me", now=100.0, retry_at=900.0, error="later")
    assert outbox.retry(ids[0], now=150.0)
    assert outbox.retry(ids[1], now=150.0)
    assert not outbox.retry(ids[2], now=150.0)  # sending
    assert not outbox.retry("nope", now=150.0)
    for id in ids[:2]:
        record = outbox.get(id)
        assert record is not None
        assert (record.state, record.not_before, record.failing_since) == ("queued", 150.0, None)
        assert record.attempts == 1  # what happened stays told
    claimed = outbox.claim("ops", now=150.0, owner="me", lease=LEASE, limit=10)
    assert {r.id for r in claimed} == set(ids[:2])
    outbox.ack(ids[:1], now=151.0, reply=None)
    assert not outbox.retry(ids[0], now=152.0)  # sent


def test_retry_dead_and_purge_dead(outbox: Outbox) -> None:
    ids = enqueue(outbox, *(message(text=str(i), key=f"k{i}") for i in range(4)))
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10)
    outbox.kill(ids[:2], now=100.0, error="x")
    outbox.ack(ids[2:3], now=100.0, reply=None)
    assert outbox.retry_dead(now=120.0) == 2
    assert outbox.retry_dead(now=120.0) == 0
    assert {r.id for r in outbox.list(state="queued")} == set(ids[:2])
    outbox.claim("ops", now=120.0, owner="me", lease=LEASE, limit=10)
    outbox.kill(ids[:2], now=121.0, error="x")
    assert outbox.purge_dead() == 2
    assert outbox.purge_dead() == 0
    assert outbox.get(ids[0]) is None
    assert outbox.get(ids[1]) is None
    assert {r.id for r in outbox.list()} == set(ids[2:])
    # a purged message may be stored afresh
    [again] = outbox.enqueue([message(key="k0")], now=130.0, dedupe_window=300.0)
    assert not again.duplicate
    assert again.id != ids[0]


def test_check_passes_on_a_healthy_outbox(outbox: Outbox) -> None:
    outbox.check()


# -- several handles, several threads ------------------------------------------------------


def test_every_handle_sees_one_outbox(handles: Handles) -> None:
    a, b = handles(), handles()
    [id] = enqueue(a, message())
    assert b.get(id) is not None
    [claimed] = b.claim("ops", now=100.0, owner="b", lease=LEASE, limit=10)
    assert a.claim("ops", now=100.0, owner="a", lease=LEASE, limit=10) == []
    a.ack([claimed.id], now=101.0, reply=None)
    assert state(b, id) == "sent"
    assert b.counts()["ops"]["sent"] == 1


def test_concurrent_enqueues_are_all_stored(handles: Handles) -> None:
    outboxes = [handles() for _ in range(2)]
    answers: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        outbox = outboxes[n % 2]
        for i in range(25):
            [e] = outbox.enqueue([message(text=f"{n}-{i}")], now=100.0, dedupe_window=300.0)
            with lock:
                answers.append(e.id)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == 200 == len(set(answers))
    assert outboxes[0].counts()["ops"]["queued"] == 200
    for id in answers:
        assert outboxes[1].get(id) is not None


def test_concurrent_claims_never_share_a_record(handles: Handles) -> None:
    first = handles()
    ids = enqueue(first, *(message(text=str(i)) for i in range(120)))
    outboxes = [first, handles()]
    claims: dict[str, list[str]] = {}
    lock = threading.Lock()

    def work(n: int) -> None:
        outbox = outboxes[n % 2]
        while True:
            got = outbox.claim("ops", now=100.0, owner=f"w{n}", lease=LEASE, limit=3)
            if not got:
                return
            with lock:
                for record in got:
                    claims.setdefault(record.id, []).append(f"w{n}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(claims) == sorted(ids)
    assert all(len(owners) == 1 for owners in claims.values())


def test_a_record_is_a_frozen_value(outbox: Outbox) -> None:
    [id] = enqueue(outbox, message())
    record = outbox.get(id)
    assert record is not None
    with pytest.raises(AttributeError):
        record.state = "sent"  # type: ignore[misc]
    assert replace(record, state="sent").state == "sent"
    assert state(outbox, id) == "queued"


def test_purge_sent_deletes_only_what_was_sent_before(outbox: Outbox) -> None:
    assert isinstance(outbox, MemoryOutbox | SqliteOutbox | RedisOutbox)  # beyond the protocol
    ids = enqueue(outbox, *(message(text=str(i)) for i in range(4)))
    outbox.claim("ops", now=100.0, owner="me", lease=LEASE, limit=10)
    outbox.ack(ids[:1], now=100.0, reply=None)
    outbox.ack(ids[1:2], now=200.0, reply=None)
    outbox.kill(ids[2:3], now=50.0, error="x")
    assert outbox.purge_sent(before=200.0) == 1
    assert outbox.purge_sent(before=200.0) == 0
    assert outbox.get(ids[0]) is None
    assert [state(outbox, id) for id in ids[1:]] == ["sent", "dead", "sending"]
    assert outbox.counts()["ops"]["sent"] == 1


# -- enqueue_soon: the event loop's way in ----------------------------------------------------


def test_enqueue_soon_answers_on_the_callers_loop(outbox: Outbox) -> None:
    soon = getattr(outbox, "enqueue_soon", None)
    if isinstance(outbox, MemoryOutbox):
        assert soon is None  # the intake stores through a worker thread instead
        return
    assert soon is not None

    async def main() -> list[str]:
        futures = [
            soon([message(text=f"m{i}", key=f"k{i % 10}")], now=100.0, dedupe_window=300.0)
            for i in range(30)
        ]
        assert all(isinstance(f, asyncio.Future) for f in futures)
        answers = [a for f in futures for a in await f]
        assert sum(not a.duplicate for a in answers) == 10  # k0..k9 once each
        return [a.id for a in answers]

    ids = asyncio.run(main())
    assert len(set(ids)) == 10
    assert outbox.counts()["ops"]["queued"] == 10
    for id in set(ids):
        assert state(outbox, id) == "queued"
