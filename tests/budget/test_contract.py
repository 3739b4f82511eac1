"""The BudgetStore contract, the same for every store (the ``store`` fixture: conftest.py).

Times are epoch seconds around T (September 2026: one Shanghai month for the whole file,
unless a test crosses months on purpose). Each expected verdict is written out in full.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from dingwire.budget import BudgetStore
from dingwire.core.budget import MONTH, Budget, Quota, Verdict, quota_period
from dingwire.core.policy import Rate
from tests.budget.conftest import Handles


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


T = utc("2026-09-10T00:00:00")
SEPT_END = utc("2026-09-30T16:00:00")  # October 1st, Shanghai
R3 = Budget(Rate(3, 10.0))
R1 = Budget(Rate(1, 10.0))
HOLD = 5.0


def test_blocking_says_whether_a_call_can_wait(store: BudgetStore, backend: str) -> None:
    assert store.blocking is {"memory": False, "local": True, "redis": True}[backend]


# -- reserve -------------------------------------------------------------------------------


def test_reserve_grants_until_the_limit_then_waits_for_the_oldest(store: BudgetStore) -> None:
    granted = [store.reserve("r", R3, T + i, hold=HOLD) for i in range(3)]
    assert granted == [
        Verdict("go", 0.0, T + i, 2 - i, used=i + 1, renews=SEPT_END) for i in range(3)
    ]
    slots = [v.slot for v in granted]
    assert all(isinstance(s, int) for s in slots)
    assert len(set(slots)) == 3
    for i, slot in enumerate(slots):
        assert slot is not None
        store.settle("r", slot, T + i + 0.5)
    # the first arrived at T + 0.5: the window frees at T + 10.5
    refused = store.reserve("r", R3, T + 3, hold=HOLD)
    assert refused == Verdict("budget", 7.5, T + 10.5, 0, used=3, renews=SEPT_END)
    assert refused.slot is None
    assert store.reserve("r", R3, T + 10.4, hold=HOLD).reason == "budget"
    later = store.reserve("r", R3, T + 10.5, hold=HOLD)
    assert later == Verdict("go", 0.0, T + 10.5, 0, used=4, renews=SEPT_END)
    assert later.slot not in slots


def test_a_refused_reserve_records_nothing(store: BudgetStore) -> None:
    budget = Budget(Rate(1, 10.0), "acme", Quota(100, MONTH))
    first = store.reserve("r", budget, T, hold=HOLD)
    assert first.go
    for i in range(5):
        assert not store.reserve("r", budget, T + 1 + i, hold=HOLD).go
    assert store.usage(budget, T) == 1
    assert first.slot is not None
    store.settle("r", first.slot, None)  # given back: nothing else holds the window
    assert store.reserve("r", budget, T + 7, hold=HOLD).go


def test_robots_have_their_own_windows(store: BudgetStore) -> None:
    assert store.reserve("a", R1, T, hold=HOLD).go
    assert store.reserve("b", R1, T, hold=HOLD).go
    assert store.reserve("a", R1, T + 1, hold=HOLD).reason == "budget"
    assert store.reserve("b", R1, T + 1, hold=HOLD).reason == "budget"


def test_slot_ids_are_unique_across_robots_and_time(store: BudgetStore) -> None:
    ids = []
    for i in range(20):
        verdict = store.reserve(f"robot-{i % 3}", Budget(None), T + i * 20, hold=HOLD)
        assert verdict.slot is not None
        ids.append(verdict.slot)
        store.settle(f"robot-{i % 3}", verdict.slot, T + i * 20 + 0.1)
    assert len(set(ids)) == 20


# -- settle --------------------------------------------------------------------------------


def test_settle_arrived_moves_the_end_to_the_reply(store: BudgetStore) -> None:
    slot = store.reserve("r", R1, T, hold=HOLD).slot
    assert slot is not None
    store.settle("r", slot, T + 4)  # a slow reply: counted at T + 4, not T
    assert store.peek("r", R1, T + 12) == Verdict("budget", 2.0, T + 14, 0, used=1, renews=SEPT_END)
    assert store.peek("r", R1, T + 14) == Verdict("go", 0.0, T + 14, 1, used=1, renews=SEPT_END)


def test_a_slot_in_flight_counts_as_arriving_now_until_it_expires(store: BudgetStore) -> None:
    slot = store.reserve("r", R1, T, hold=HOLD).slot
    assert slot is not None
    # in flight: arriving now, whatever now is; provisional (its reply may come any moment)
    in_flight = Verdict("budget", 10.0, T + 13, 0, True, used=1, renews=SEPT_END)
    assert store.peek("r", R1, T + 3) == in_flight
    # at its expiry (T + hold) it counts as arrived then: no longer provisional
    expired = Verdict("budget", 10.0, T + 15, 0, used=1, renews=SEPT_END)
    assert store.peek("r", R1, T + 5) == expired
    assert store.peek("r", R1, T + 14.5) == replace(expired, wait=0.5)
    assert store.peek("r", R1, T + 15).go
    assert store.reserve("r", R1, T + 15, hold=HOLD).go


def test_a_slot_held_for_ever_counts_until_settled(store: BudgetStore) -> None:
    slot = store.reserve("r", R1, T, hold=math.inf).slot
    assert slot is not None
    assert store.peek("r", R1, T + 10_000).wait == 10.0
    store.settle("r", slot, T + 10_000)
    assert store.peek("r", R1, T + 10_010).go


@pytest.mark.parametrize(
    "budget",
    [
        Budget(Rate(1, 10.0), "acme", Quota(5, MONTH)),
        Budget(Rate(1, 10.0), "acme"),
        Budget(None, "acme", Quota(5, 60.0)),
        Budget(None, "acme"),
    ],
    ids=["rate+quota", "rate", "quota", "neither"],
)
def test_settle_none_gives_the_slot_and_the_count_back(store: BudgetStore, budget: Budget) -> None:
    first = store.reserve("r", budget, T, hold=HOLD)
    assert first.go
    assert first.slot is not None
    assert store.usage(budget, T) == 1
    store.settle("r", first.slot, None)
    assert store.usage(budget, T) == 0
    again = store.reserve("r", budget, T + 1, hold=HOLD)  # the window is free again
    assert again == Verdict("go", 0.0, T + 1, again.free, used=1, renews=budget.period(T + 1)[1])
    assert again.slot is not None
    assert again.slot != first.slot
    store.settle("r", again.slot, T + 1.5)
    store.settle("r", again.slot, None)  # a second settle of a settled slot: no more back
    store.settle("r", first.slot, None)  # the first one again: unknown now
    assert store.usage(budget, T) >= 0


def test_settle_none_twice_gives_back_once(store: BudgetStore) -> None:
    budget = Budget(Rate(5, 10.0), "acme", Quota(10, MONTH))
    a = store.reserve("r", budget, T, hold=HOLD).slot
    b = store.reserve("r", budget, T, hold=HOLD).slot
    assert a is not None
    assert b is not None
    store.settle("r", a, None)
    store.settle("r", a, None)
    assert store.usage(budget, T) == 1
    assert store.peek("r", budget, T + 1).free == 4


def test_an_unknown_slot_is_ignored(store: BudgetStore) -> None:
    budget = Budget(Rate(1, 10.0), "acme", Quota(5, MONTH))
    slot = store.reserve("a", budget, T, hold=HOLD).slot
    assert slot is not None
    store.settle("a", slot + 12345, None)
    store.settle("a", slot + 12345, T + 1)
    store.settle("nobody", 1, T)
    store.settle("b", slot, None)  # another robot's slot id: not b's to settle
    store.settle("b", slot, T + 1)
    assert store.usage(budget, T) == 1
    assert store.peek("a", budget, T + 1).provisional  # still in flight
    assert store.peek("a", budget, T + 1).until == T + 11


def test_a_late_settle_of_a_forgotten_slot_is_ignored(store: BudgetStore) -> None:
    slot = store.reserve("r", R1, T, hold=HOLD).slot
    assert slot is not None
    # long after: the slot expired a window ago and is forgotten; its settle changes nothing
    later = store.reserve("r", R1, T + 100, hold=HOLD).slot
    assert later is not None
    store.settle("r", later, T + 100.5)
    store.settle("r", slot, T + 101)  # would hold the window until T + 111
    assert store.peek("r", R1, T + 110.6).go


def test_a_reply_after_its_expiry_still_counts_to_its_arrival(store: BudgetStore) -> None:
    slot = store.reserve("r", R1, T, hold=HOLD).slot  # expires at T + 5
    assert slot is not None
    store.settle("r", slot, T + 20)  # the reply came later than the hold: it counts till T + 30
    assert store.peek("r", R1, T + 16) == Verdict(
        "budget", 14.0, T + 30, 0, used=1, renews=SEPT_END
    )
    assert store.peek("r", R1, T + 30).go


def test_times_near_the_epoch(store: BudgetStore) -> None:
    # A simulated clock may start at 0: nothing may be taken for granted about small times.
    budget = Budget(Rate(1, 1.0), "sim")
    assert store.peek("fresh", budget, 0.0).go
    assert store.peek("fresh", budget, 0.2).go
    slot = store.reserve("r", budget, 0.0, hold=0.1).slot
    assert slot is not None
    store.settle("r", slot, 0.05)
    assert store.peek("r", budget, 0.2).until == 1.05
    store.lock_out("locked", 0.5)
    assert store.peek("locked", budget, 0.1).until == 0.5
    store.spend_quota("spent", 0.5)
    assert store.peek("x", Budget(Rate(1, 1.0), "spent"), 0.1).until == 0.5
    assert store.peek("x", budget, 0.1).go  # another org


# -- peek ----------------------------------------------------------------------------------


def test_peek_records_nothing(store: BudgetStore) -> None:
    budget = Budget(Rate(2, 10.0), "acme", Quota(3, MONTH))
    for _ in range(10):
        assert store.peek("r", budget, T) == Verdict("go", 0.0, T, 2, renews=SEPT_END)
    assert store.usage(budget, T) == 0
    assert store.reserve("r", budget, T, hold=HOLD).go
    assert store.reserve("r", budget, T, hold=HOLD).go
    assert store.peek("r", budget, T + 1).free == 0


def test_peek_says_what_reserve_would(store: BudgetStore) -> None:
    rng = random.Random(7)
    budget = Budget(Rate(3, 10.0), "acme", Quota(8, 60.0))
    now = T
    for _ in range(60):
        now += rng.choice([0.0, 0.5, 1.0, 4.0])
        peeked = store.peek("r", budget, now)
        verdict = store.reserve("r", budget, now, hold=HOLD)
        assert peeked.reason == verdict.reason
        assert peeked.until == verdict.until
        if verdict.go:
            assert verdict.slot is not None
            assert verdict.used == peeked.used + 1
            assert verdict.free == max(0, peeked.free - 1)
            store.settle("r", verdict.slot, now + rng.choice([0.0, 0.3]))


# -- free slots ----------------------------------------------------------------------------


def test_free_slots_in_the_window(store: BudgetStore) -> None:
    budget = Budget(Rate(3, 10.0), "acme", Quota(4, MONTH))
    assert store.peek("r", budget, T).free == 3
    store.reserve("r", budget, T, hold=HOLD)
    assert store.peek("r", budget, T).free == 2
    store.reserve("r", budget, T, hold=HOLD)
    store.reserve("r", budget, T, hold=HOLD)
    assert store.peek("r", budget, T).free == 0
    assert store.peek("r", budget, T + 15).free == 1  # the window is free, the quota has 1 left
    assert store.peek("other", budget, T).free == 1  # another robot of the org: the quota's
    store.lock_out("other", T + 100)
    assert store.peek("other", budget, T + 20).free == 0


# -- lockouts ------------------------------------------------------------------------------


def test_a_lockout_holds_every_sender_of_the_robot(handles: Handles) -> None:
    one, two = handles(), handles()
    one.lock_out("r", T + 600)
    assert two.peek("r", R3, T) == Verdict("lockout", 600.0, T + 600, 0, renews=SEPT_END)
    assert two.reserve("r", R3, T + 10, hold=HOLD) == Verdict(
        "lockout", 590.0, T + 600, 0, renews=SEPT_END
    )
    assert two.reserve("r", Budget(None), T + 20, hold=HOLD).reason == "lockout"  # no rate
    assert two.reserve("other", R3, T, hold=HOLD).go
    assert two.reserve("r", R3, T + 600, hold=HOLD).go


def test_a_later_lockout_wins_and_an_earlier_never_shortens(handles: Handles) -> None:
    one, two = handles(), handles()
    one.lock_out("r", T + 100)
    two.lock_out("r", T + 50)
    assert one.peek("r", R3, T).until == T + 100
    two.lock_out("r", T + 200)
    assert one.peek("r", R3, T).until == T + 200
    one.lock_out("r", T + 150)
    assert two.peek("r", R3, T).until == T + 200
    assert two.peek("r", R3, T + 199.5).wait == 0.5


# -- the org quota ---------------------------------------------------------------------------


def test_spend_quota_stops_every_robot_of_the_org(handles: Handles) -> None:
    one, two = handles(), handles()
    acme = Budget(Rate(3, 10.0), "acme", Quota(100, MONTH))
    other = Budget(Rate(3, 10.0), "other", Quota(100, MONTH))
    one.spend_quota("acme", T + 100)
    assert two.reserve("a", acme, T, hold=HOLD) == Verdict(
        "quota", 100.0, T + 100, 0, renews=SEPT_END
    )
    assert two.reserve("b", Budget(None, "acme"), T, hold=HOLD).reason == "quota"  # no quota set
    assert two.reserve("a", other, T, hold=HOLD).go  # the same robot under another org
    two.spend_quota("acme", T + 50)  # an earlier end never shortens it
    assert one.peek("a", acme, T + 60).until == T + 100
    assert one.reserve("a", acme, T + 100, hold=HOLD).go


def test_the_quota_limit_holds_until_the_period_renews(store: BudgetStore) -> None:
    budget = Budget(Rate(10, 1.0), "acme", Quota(2, 60.0))
    start, end = quota_period(Quota(2, 60.0), T + 5)
    assert store.reserve("a", budget, T + 5, hold=HOLD).go
    assert store.reserve("b", budget, T + 6, hold=HOLD).go  # another robot, one org
    refused = store.reserve("a", budget, T + 7, hold=HOLD)
    assert refused == Verdict("quota", end - (T + 7), end, 0, used=2, renews=end)
    assert store.reserve("a", budget, end, hold=HOLD) == Verdict(
        "go", 0.0, end, 1, used=1, renews=end + 60
    )
    assert store.usage(budget, start) == 2
    assert store.usage(budget, end) == 1


def test_a_quota_without_a_window_holds_all_the_same(store: BudgetStore) -> None:
    budget = Budget(None, "acme", Quota(2, 60.0))
    start, end = quota_period(Quota(2, 60.0), T)
    for i in range(2):
        verdict = store.reserve(f"robot-{i}", budget, start + i, hold=HOLD)
        assert verdict.go
        assert verdict.slot is not None
        store.settle(f"robot-{i}", verdict.slot, start + i + 0.1)
    assert store.reserve("robot-0", budget, start + 3, hold=HOLD) == Verdict(
        "quota", end - start - 3, end, 0, used=2, renews=end
    )
    assert store.reserve("robot-0", budget, end, hold=HOLD).go


def test_usage_counts_per_org_and_per_period(store: BudgetStore) -> None:
    a = Budget(Rate(100, 1.0), "a", Quota(100, 60.0))
    b = Budget(None, "b", Quota(100, 60.0))
    start, _ = quota_period(Quota(100, 60.0), T)
    for i in range(3):
        store.reserve(f"robot-{i}", a, start + i, hold=HOLD)
    store.reserve("robot-0", b, start + 1, hold=HOLD)
    assert store.usage(a, start) == 3
    assert store.usage(a, start + 59) == 3
    assert store.usage(b, start + 30) == 1
    assert store.usage(a, start + 60) == 0  # the next period
    assert store.usage(Budget(None, "nobody"), start) == 0


def test_the_month_turns_in_shanghai(store: BudgetStore) -> None:
    budget = Budget(Rate(100, 1.0), "acme", Quota(3000))
    december = utc("2026-12-31T15:59:59")  # still December in Shanghai
    january = utc("2026-12-31T16:00:00")  # January 1st, 00:00 in Shanghai
    assert store.reserve("r", budget, december, hold=HOLD).used == 1
    verdict = store.reserve("r", budget, january, hold=HOLD)
    assert (verdict.used, verdict.renews) == (1, utc("2027-01-31T16:00:00"))
    assert store.usage(budget, december) == 1
    assert store.usage(budget, january) == 1
    assert store.usage(budget, utc("2027-01-31T15:59:59")) == 1
    assert store.usage(Budget(None, "acme", Quota(3000, MONTH, "UTC")), january) == 0


def test_orgs_without_a_quota_are_counted_by_the_month(store: BudgetStore) -> None:
    budget = Budget(Rate(5, 1.0), "plain")
    for i in range(4):
        slot = store.reserve("r", budget, T + i, hold=HOLD).slot
        assert slot is not None
        store.settle("r", slot, T + i + 0.1)
    assert store.usage(budget, SEPT_END - 1) == 4
    assert store.usage(budget, SEPT_END) == 0


def test_no_rate_no_quota_always_goes_and_counts(store: BudgetStore) -> None:
    budget = Budget(None, "plain")
    for i in range(100):
        verdict = store.reserve("r", budget, T + i * 0.01, hold=HOLD)
        assert verdict.go
        assert verdict.slot is not None
        store.settle("r", verdict.slot, T + i * 0.01)
    assert store.usage(budget, T) == 100


# -- many senders ----------------------------------------------------------------------------


def _assert_no_window_over(starts: list[float], rate: Rate) -> None:
    starts = sorted(starts)
    for i in range(len(starts) - rate.limit):
        assert starts[i] + rate.window <= starts[i + rate.limit], starts[i : i + rate.limit + 1]


class SharedClock:
    """A clock the threads share: every read moves it on by ``step``.

    A thread reads it, then calls the store: calls reach the store out of the order of
    their ``now``, as they do between real threads. A send counts as arrived when its
    thread reads the clock again after the reserve returned (as late as DingTalk can see it).
    """

    def __init__(self, start: float, step: float) -> None:
        self._lock = threading.Lock()
        self._ticks = 0
        self.start, self.step = start, step

    def __call__(self) -> float:
        with self._lock:
            self._ticks += 1
            return self.start + self._ticks * self.step


@pytest.mark.parametrize("separate", [False, True], ids=["one handle", "a handle each"])
def test_threads_hammering_reserve_never_over_grant(handles: Handles, separate: bool) -> None:
    rate = Rate(3, 10.0)
    budget = Budget(rate, "acme", Quota(1000, MONTH))
    shared = handles()
    stores = [handles() if separate else shared for _ in range(6)]
    clock = SharedClock(T, 0.05)
    start = threading.Barrier(len(stores))
    arrivals: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def sender(store: BudgetStore) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(80):
                verdict = store.reserve("r", budget, clock(), hold=HOLD)
                if verdict.go:
                    assert verdict.slot is not None
                    arrived = clock()
                    with lock:
                        arrivals.append(arrived)
                    store.settle("r", verdict.slot, arrived)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=sender, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert not any(t.is_alive() for t in threads)
    # 480 reserves of 0.05 s each (and a read per arrival): about 24 s, so two windows' worth
    # at least, even when a thread is descheduled between its grant and reading its arrival
    # (its slot, in flight meanwhile, then blocks the window until that late arrival + 10 s)
    assert len(arrivals) >= 2 * rate.limit
    _assert_no_window_over(arrivals, rate)
    assert shared.usage(budget, T) == len(arrivals)


@pytest.mark.parametrize("separate", [False, True], ids=["one handle", "a handle each"])
def test_robots_of_one_org_never_spend_more_than_its_quota(
    handles: Handles, separate: bool
) -> None:
    # Six robots of one org at once, each a thread: the org's count changes under every
    # decision; together they get exactly the quota, never one more.
    budget = Budget(Rate(100, 1.0), "acme", Quota(25, 3600.0))
    start, _ = quota_period(Quota(25, 3600.0), T)
    shared = handles()
    stores = [handles() if separate else shared for _ in range(6)]
    go = threading.Barrier(len(stores))
    granted: list[int] = []
    errors: list[BaseException] = []

    def sender(n: int, store: BudgetStore) -> None:
        try:
            go.wait(timeout=10)
            for i in range(10):
                verdict = store.reserve(f"robot-{n}", budget, start + i * 0.01, hold=HOLD)
                if verdict.go:
                    assert verdict.slot is not None
                    assert verdict.used <= 25
                    granted.append(verdict.used)
                    store.settle(f"robot-{n}", verdict.slot, start + i * 0.01 + 0.005)
                else:
                    assert verdict.reason == "quota"
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=sender, args=(n, s)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert not any(t.is_alive() for t in threads)
    assert len(granted) == 25
    assert sorted(granted) == list(range(1, 26))  # each grant saw the count it made
    assert shared.usage(budget, start) == 25


def test_what_one_handle_records_every_handle_sees(handles: Handles) -> None:
    one, two = handles(), handles()
    slot = one.reserve("r", R1, T, hold=HOLD).slot
    assert slot is not None
    assert two.peek("r", R1, T + 1).provisional
    two.settle("r", slot, T + 2)  # settled through another handle
    assert one.peek("r", R1, T + 3) == Verdict("budget", 9.0, T + 12, 0, used=1, renews=SEPT_END)


# -- close -----------------------------------------------------------------------------------


def test_close_then_reuse(store: BudgetStore) -> None:
    budget = Budget(Rate(2, 10.0), "acme", Quota(10, MONTH))
    first = store.reserve("r", budget, T, hold=HOLD)
    assert first.slot is not None
    store.lock_out("locked", T + 100)
    store.close()
    store.close()  # twice is fine
    assert store.peek("r", budget, T + 1).free == 1  # opened again, nothing forgotten
    assert store.peek("locked", budget, T + 1).reason == "lockout"
    store.settle("r", first.slot, T + 1)
    assert store.reserve("r", budget, T + 2, hold=HOLD).go
    assert store.reserve("r", budget, T + 3, hold=HOLD).reason == "budget"
    assert store.usage(budget, T) == 2
    store.close()
