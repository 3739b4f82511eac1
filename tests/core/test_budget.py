"""The pure budget rules of dingwire.core.budget: known answers, then properties that can fail.

The known answers use fixed numbers so that a changed comparison, bound or constant shows.
The properties simulate senders the way a store keeps them (a slot held from its start,
in flight until settled) and check what DingTalk would see: the *arrival* times.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dingwire.core.budget import (
    DEFAULT_TIMEZONE,
    MONTH,
    Budget,
    Quota,
    Slot,
    Verdict,
    fixed_window_wait,
    judge,
    pace_allowance,
    parse_quota,
    quota_period,
    slot_end,
    window_wait,
)
from dingwire.core.errors import ConfigError
from dingwire.core.policy import Rate

INF = math.inf


def utc(text: str) -> float:
    """Epoch seconds of an ISO time written in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# -- window_wait: the sliding window, counted at arrival ------------------------------------

R20 = Rate(20, 60.0)
R3 = Rate(3, 10.0)


@pytest.mark.parametrize(
    ("ends", "now", "rate", "wait"),
    [
        ([], 100.0, R20, 0.0),
        ([81.0 + i for i in range(19)], 100.0, R20, 0.0),  # one short of the limit
        ([10.0 + i for i in range(20)], 30.0, R20, 40.0),  # t=10 leaves at 70
        ([10.0 + i for i in range(20)], 69.5, R20, 0.5),
        ([10.0 + i for i in range(20)], 70.0, R20, 0.0),  # t + window == now: gone
        ([10.0 + i for i in reversed(range(20))], 30.0, R20, 40.0),  # any order
        ([59.0] * 20, 61.0, R20, 58.0),  # sliding, not the calendar minute
        ([0.0] * 50 + [50.0] * 2, 60.0, R3, 0.0),  # old ones ignored
        ([1.0, 2.0, 3.0, 4.0, 5.0], 6.0, R3, 7.0),  # the limit-th most recent decides: 3
        ([5.0, 5.0, 5.0], 6.0, Rate(2, 10.0), 9.0),  # ties
        ([100.0, 100.0, 100.0], 100.0, R3, 10.0),  # ends at now (in flight) count fully
        ([104.0, 101.0, 102.0], 100.0, R3, 11.0),  # ends after now (a clock ahead)
        ([50.0], 55.0, Rate(1, 10.0), 5.0),
        ([45.0], 55.0, Rate(1, 10.0), 0.0),
        ([45.000001], 55.0, Rate(1, 10.0), pytest.approx(1e-6)),
        ([7.0, 8.0], 9.0, R3, 0.0),  # fewer than the limit
    ],
)
def test_window_wait_known_answers(ends: list[float], now: float, rate: Rate, wait: float) -> None:
    assert window_wait(ends, now, rate) == wait


def test_window_wait_takes_any_iterable() -> None:
    assert window_wait(iter([1.0, 2.0, 3.0]), 5.0, R3) == 6.0
    assert window_wait((t for t in [1.0, 2.0]), 5.0, R3) == 0.0


# -- fixed_window_wait: calendar windows aligned to the epoch (the fake's other model) ------


@pytest.mark.parametrize(
    ("ends", "now", "rate", "wait"),
    [
        ([], 15.0, Rate(2, 10.0), 0.0),
        ([10.0, 11.0], 15.0, Rate(2, 10.0), 5.0),  # window [10, 20) full
        ([9.9, 10.0], 15.0, Rate(2, 10.0), 0.0),  # 9.9 is the previous window
        ([10.0, 10.0, 10.0], 10.0, Rate(2, 10.0), 10.0),
        ([10.0, 11.0], 20.0, Rate(2, 10.0), 0.0),  # a new window at 20
        ([10.0, 11.0], 19.75, Rate(2, 10.0), 0.25),
        ([20.0, 21.0], 19.0, Rate(2, 10.0), 0.0),  # later windows do not count
        ([20.0, 20.0], 19.0, Rate(2, 10.0), 0.0),  # the next window starts at 20
        ([60.0] * 20, 119.0, R20, 1.0),
        ([59.0] * 20, 61.0, R20, 0.0),  # the calendar minute lets a burst through
        ([120.0] * 19, 150.0, R20, 0.0),
    ],
)
def test_fixed_window_wait_known_answers(
    ends: list[float], now: float, rate: Rate, wait: float
) -> None:
    assert fixed_window_wait(ends, now, rate) == wait


# -- slot_end ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slot", "now", "end"),
    [
        (Slot(1.0, 5.0, 100.0), 50.0, (5.0, False)),  # settled: its reply's time
        (Slot(1.0, 200.0, 100.0), 150.0, (200.0, False)),  # a reply after expires still wins
        (Slot(1.0, None, 100.0), 50.0, (50.0, True)),  # in flight: arriving now
        (Slot(1.0, None, 100.0), 100.0, (100.0, False)),  # expires == now: arrived then
        (Slot(1.0, None, 100.0), 150.0, (100.0, False)),
        (Slot(1.0), 1e12, (1e12, True)),  # no expiry: in flight for ever
    ],
)
def test_slot_end(slot: Slot, now: float, end: tuple[float, bool]) -> None:
    assert slot_end(slot, now) == end


def test_slot_defaults() -> None:
    assert Slot(3.0) == Slot(3.0, None, INF)


# -- judge -------------------------------------------------------------------------------

B2 = Budget(Rate(2, 10.0))
T = utc("2026-09-10T00:00:00")  # the numbers below are relative to T
SEPT_END = utc("2026-09-30T16:00:00")  # October 1st in Shanghai


def _verdict(reason: str, wait: float, free: int, **kw: object) -> Verdict:
    return Verdict(reason, wait, T + 10 + wait, free, renews=SEPT_END, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "budget", "kwargs", "expected"),
    [
        ("nothing sent", B2, {}, _verdict("go", 0.0, 2)),
        ("one settled", B2, {"slots": [Slot(T + 4, T + 5)]}, _verdict("go", 0.0, 1)),
        (
            "two settled: the older one frees at 15",
            B2,
            {"slots": [Slot(T + 4, T + 5), Slot(T + 5, T + 6)]},
            _verdict("budget", 5.0, 0),
        ),
        (
            "settled a window ago no longer counts",
            B2,
            {"slots": [Slot(T - 9, T - 8), Slot(T - 1, T), Slot(T - 1, T + 1)]},
            _verdict("go", 0.0, 1),
        ),
        (
            "one in flight: provisional",
            B2,
            {"slots": [Slot(T + 4, T + 5), Slot(T + 7, None, T + 40)]},
            _verdict("budget", 5.0, 0, provisional=True),
        ),
        (
            "two in flight: a full window, provisional",
            B2,
            {"slots": [Slot(T + 7, None, T + 40), Slot(T + 8, None, T + 40)]},
            _verdict("budget", 10.0, 0, provisional=True),
        ),
        (
            "in flight among settled ones: given back, the wait would be 2",
            B2,
            {"slots": [Slot(T + 1, T + 2), Slot(T + 3, T + 4), Slot(T + 7, None, T + 40)]},
            _verdict("budget", 4.0, 0, provisional=True),
        ),
        (
            "expired in flight counts at expires, not provisional",
            B2,
            {"slots": [Slot(T + 4, T + 5), Slot(T + 7, None, T + 8)]},
            _verdict("budget", 5.0, 0),
        ),
        ("a barrier fills the window", B2, {"barrier": T + 9}, _verdict("budget", 9.0, 0)),
        ("a barrier a window old", B2, {"barrier": T}, _verdict("go", 0.0, 2)),
        (
            "a barrier and a slot in flight: the barrier decides",
            B2,
            {"barrier": T + 9, "slots": [Slot(T + 9.5, None, T + 40)]},
            _verdict("budget", 9.0, 0),
        ),
        ("locked out", B2, {"locked_until": T + 30}, _verdict("lockout", 20.0, 0)),
        ("a lockout that ended now", B2, {"locked_until": T + 10}, _verdict("go", 0.0, 2)),
        (
            "the longer wait decides: lockout",
            B2,
            {"locked_until": T + 30, "slots": [Slot(T + 4, T + 5), Slot(T + 5, T + 6)]},
            _verdict("lockout", 20.0, 0),
        ),
        (
            "the longer wait decides: budget",
            B2,
            {"locked_until": T + 12, "slots": [Slot(T + 4, T + 5), Slot(T + 5, T + 6)]},
            _verdict("budget", 5.0, 0),
        ),
        (
            "a tie: lockout names it, and it is not provisional",
            B2,
            {"locked_until": T + 15, "slots": [Slot(T + 4, T + 5), Slot(T + 7, None, T + 40)]},
            _verdict("lockout", 5.0, 0),
        ),
        (
            "DingTalk said the quota is spent",
            B2,
            {"spent_until": T + 50},
            _verdict("quota", 40.0, 0),
        ),
        ("a spent that ended now", B2, {"spent_until": T + 10}, _verdict("go", 0.0, 2)),
        (
            "a tie: quota names it over the lockout",
            B2,
            {"spent_until": T + 50, "locked_until": T + 50},
            _verdict("quota", 40.0, 0),
        ),
        (
            "a tie: quota names it over the budget",
            B2,
            {"spent_until": T + 15, "slots": [Slot(T + 4, T + 5), Slot(T + 5, T + 6)]},
            _verdict("quota", 5.0, 0),
        ),
        (
            "the longer wait decides: lockout over quota",
            B2,
            {"spent_until": T + 15, "locked_until": T + 16},
            _verdict("lockout", 6.0, 0),
        ),
        ("no rate: nothing waits for the window", Budget(None), {}, _verdict("go", 0.0, 1 << 30)),
        (
            "no rate, locked out",
            Budget(None),
            {"locked_until": T + 11},
            _verdict("lockout", 1.0, 0),
        ),
        (
            "the org's count does not matter without a quota",
            B2,
            {"used": 10**6},
            _verdict("go", 0.0, 2, used=10**6),
        ),
    ],
)
def test_judge_known_answers(
    name: str, budget: Budget, kwargs: dict[str, object], expected: Verdict
) -> None:
    verdict = judge(budget, T + 10, **kwargs)  # type: ignore[arg-type]
    assert verdict == expected, name
    assert verdict.go is (expected.reason == "go")
    assert verdict.slot is None


QB = Budget(Rate(2, 10.0), "acme", Quota(3, 100.0))


@pytest.mark.parametrize(
    ("used", "spent_until", "expected"),
    [
        (0, 0.0, Verdict("go", 0.0, 150.0, 2, used=0, renews=200.0)),
        (1, 0.0, Verdict("go", 0.0, 150.0, 2, used=1, renews=200.0)),
        (2, 0.0, Verdict("go", 0.0, 150.0, 1, used=2, renews=200.0)),  # free: the quota's
        (3, 0.0, Verdict("quota", 50.0, 200.0, 0, used=3, renews=200.0)),  # used == limit
        (4, 0.0, Verdict("quota", 50.0, 200.0, 0, used=4, renews=200.0)),
        (3, 260.0, Verdict("quota", 110.0, 260.0, 0, used=3, renews=200.0)),  # the later end
        (0, 170.0, Verdict("quota", 20.0, 170.0, 0, used=0, renews=200.0)),
    ],
)
def test_judge_quota(used: int, spent_until: float, expected: Verdict) -> None:
    assert judge(QB, 150.0, used=used, spent_until=spent_until) == expected


def test_judge_quota_with_no_rate_limits_free() -> None:
    budget = Budget(None, "acme", Quota(10, 100.0))
    assert judge(budget, 150.0, used=4).free == 6
    assert judge(budget, 150.0, used=10).reason == "quota"


def test_judge_slots_cut_the_quotas_free() -> None:
    budget = Budget(Rate(5, 10.0), "acme", Quota(10, 100.0))
    verdict = judge(budget, 150.0, used=2, slots=[Slot(149.0, 149.5)] * 3)
    assert (verdict.reason, verdict.free) == ("go", 2)


def test_judge_a_barrier_at_the_epoch_is_a_barrier() -> None:
    # A fake's clock may start at 0: a barrier at 0.0 is one, like any other, and only the
    # slot in flight may make the wait end sooner.
    assert judge(B2, 5.0, barrier=0.0) == Verdict("budget", 5.0, 10.0, 0, renews=B2.period(5)[1])
    verdict = judge(B2, 5.0, barrier=0.0, slots=[Slot(4.0, None, 40.0)])
    assert (verdict.wait, verdict.provisional) == (5.0, False)


def test_judge_renews_at_the_month_end_without_a_quota() -> None:
    # Orgs without a quota are still counted by the Shanghai month.
    assert judge(B2, utc("2026-12-31T15:59:59")).renews == utc("2026-12-31T16:00:00")
    assert judge(B2, utc("2026-12-31T16:00:00")).renews == utc("2027-01-31T16:00:00")


def test_verdict_slot_does_not_take_part_in_equality() -> None:
    assert Verdict("go", 0.0, 1.0, 1, slot=7) == Verdict("go", 0.0, 1.0, 1, slot=8)
    assert Verdict("go", 0.0, 1.0, 1).go
    assert not Verdict("budget", 1.0, 2.0, 0).go


# -- Quota and parse_quota ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "quota"),
    [
        ("3000/month", Quota(3000, MONTH, "Asia/Shanghai")),
        ("3,000/month", Quota(3000)),
        (" 3_000 / Month ", Quota(3000)),
        ("50000/mo", Quota(50000)),
        ("100/1month", Quota(100)),
        ("20/5m", Quota(20, 300.0)),
        ("500/h", Quota(500, 3600.0)),
        ("10/30s", Quota(10, 30.0)),
        ("7/1.5h", Quota(7, 5400.0)),
        ("1/1s", Quota(1, 1.0)),
        ("1__000_/month", Quota(1000)),  # separators anywhere are dropped
    ],
)
def test_parse_quota(text: str, quota: Quota) -> None:
    assert parse_quota(text) == quota


def test_parse_quota_passes_none_and_quotas_through_and_takes_a_zone() -> None:
    assert parse_quota(None) is None
    quota = Quota(5, 60.0)
    assert parse_quota(quota) is quota
    assert parse_quota("3000/month", timezone="UTC") == Quota(3000, MONTH, "UTC")
    assert parse_quota("20/5m", timezone="Europe/Paris") == Quota(20, 300.0, "Europe/Paris")
    assert DEFAULT_TIMEZONE == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (3000, "quota: expected a string such as '3000/month', got 3000"),
        ("lots", "quota: 'lots' is not a quota; write it like '3000/month'"),
        ("3000", "quota: '3000' is not a quota; write it like '3000/month'"),
        ("/month", "quota: '/month' is not a quota"),
        ("-5/month", "quota: '-5/month' is not a quota"),
        ("3000/", "quota: '3000/' is not a quota"),
        ("0/month", "quota: needs a limit of at least 1, got 0"),
        ("20/0s", "quota: the period must be 'month' or at least 1 s, got 20/0s"),
        ("20/500ms", "quota: the period must be 'month' or at least 1 s, got 20/0.5s"),
        ("20/fortnight", "quota: '1fortnight' is not a duration"),
        ("20/2month", "quota: '2month' is not a duration"),
    ],
)
def test_parse_quota_errors_say_how_to_write_it(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_quota(value)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_a_quota_refuses_an_unknown_zone() -> None:
    message = "timezone: 'Mars/Olympus' is not a time zone; write one like 'Asia/Shanghai'"
    with pytest.raises(ConfigError) as caught:
        parse_quota("3000/month", timezone="Mars/Olympus")
    assert str(caught.value) == message
    with pytest.raises(ConfigError) as caught:
        Quota(5, MONTH, "../etc")
    assert str(caught.value).startswith("timezone: '../etc' is not a time zone")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0,), "quota: needs a limit of at least 1, got 0"),
        ((True,), "quota: needs a limit of at least 1, got True"),
        ((2.5,), "quota: needs a limit of at least 1, got 2.5"),
        ((5, 0.5), "quota: the period must be 'month' or at least 1 s, got 5/0.5s"),
        ((5, INF), "quota: the period must be 'month' or at least 1 s, got 5/infs"),
        ((5, "week"), "quota: the period must be 'month' or at least 1 s, got 'week'"),
    ],
)
def test_quota_refuses_what_is_not_a_quota(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Quota(*args)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_quota_str_and_smallest_period() -> None:
    assert str(Quota(3000)) == "3,000/month"
    assert str(Quota(20, 300.0)) == "20/300s"
    assert Quota(1, 1.0).period == 1.0
    assert Quota(1, 1).period == 1


# -- quota_period --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quota", "now", "period"),
    [
        # 2026-12-31T16:00Z is already 2027-01-01 in Shanghai: January's period
        (
            Quota(3000),
            utc("2026-12-31T16:00:00"),
            (utc("2026-12-31T16:00:00"), utc("2027-01-31T16:00:00")),
        ),
        # one second before: still December in Shanghai
        (
            Quota(3000),
            utc("2026-12-31T15:59:59"),
            (utc("2026-11-30T16:00:00"), utc("2026-12-31T16:00:00")),
        ),
        # the same instant by UTC months: still December
        (
            Quota(3000, MONTH, "UTC"),
            utc("2026-12-31T16:00:00"),
            (utc("2026-12-01T00:00:00"), utc("2027-01-01T00:00:00")),
        ),
        # a leap February
        (
            Quota(3000),
            utc("2028-02-20T00:00:00"),
            (utc("2028-01-31T16:00:00"), utc("2028-02-29T16:00:00")),
        ),
        # a month with a DST change: March in New York starts in EST and ends in EDT
        (
            Quota(3000, MONTH, "America/New_York"),
            utc("2026-03-15T12:00:00"),
            (utc("2026-03-01T05:00:00"), utc("2026-04-01T04:00:00")),
        ),
        # a moment with a fraction of a second: the bounds stay whole (a zone of its own,
        # so that no month remembered from another case answers)
        (
            Quota(3000, MONTH, "Asia/Tokyo"),
            utc("2026-12-15T08:30:00") + 0.25,
            (utc("2026-11-30T15:00:00"), utc("2026-12-31T15:00:00")),
        ),
        # fixed periods, aligned to the epoch
        (Quota(20, 300.0), 1000.0, (900.0, 1200.0)),
        (Quota(20, 300.0), 900.0, (900.0, 1200.0)),
        (Quota(20, 300.0), 1199.5, (900.0, 1200.0)),
        (Quota(20, 300.0), 1200.0, (1200.0, 1500.0)),
        (Quota(20, 300.0, "America/New_York"), 1000.0, (900.0, 1200.0)),  # zone ignored
    ],
)
def test_quota_period(quota: Quota, now: float, period: tuple[float, float]) -> None:
    assert quota_period(quota, now) == period


def test_budget_period_counts_by_the_shanghai_month_without_a_quota() -> None:
    assert Budget(None).period(utc("2026-12-31T16:00:00")) == (
        utc("2026-12-31T16:00:00"),
        utc("2027-01-31T16:00:00"),
    )
    assert Budget(None, "acme", Quota(5, 60.0)).period(130.0) == (120.0, 180.0)


@given(st.floats(0, 4e9), st.sampled_from(["Asia/Shanghai", "UTC", "America/New_York"]))
def test_quota_period_holds_now_and_is_a_month(now: float, zone: str) -> None:
    start, end = quota_period(Quota(1, MONTH, zone), now)
    # now within a microsecond (datetime's resolution) of [start, end)
    assert start - 1e-6 <= now < end + 1e-6
    days = (end - start) / 86400
    assert 27.9 < days < 31.1
    first = datetime.fromtimestamp(start + 1, ZoneInfo(zone))
    assert first.day == 1


# -- pace_allowance ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quota", "now", "burst", "allowed"),
    [
        (Quota(20, 100.0), 0.0, None, 1),  # burst at least 1
        (Quota(20, 100.0), 50.0, None, 11),
        (Quota(20, 100.0), 99.0, None, 20),
        (Quota(20, 100.0), 50.0, 0, 10),
        (Quota(20, 100.0), 90.0, 5, 20),  # never more than the limit
        (Quota(20, 100.0), 54.9, 0, 10),  # floor, not round
        (Quota(30, 100.0), 50.0, None, 16),  # burst: 30 // 20 = 1, a whole number
        (Quota(3000, 1000.0), 500.0, None, 1650),  # burst: 5 % of the limit
        (Quota(3000, 1000.0), 1000.0, None, 150),  # a new period starts again
        (Quota(3000), utc("2026-12-31T16:00:00"), None, 150),
        # January 17th, 00:00 in Shanghai: 16 of 31 days gone → floor(1548.4) + 150
        (Quota(3000), utc("2027-01-16T16:00:00"), None, 1698),
    ],
)
def test_pace_allowance(quota: Quota, now: float, burst: int | None, allowed: int) -> None:
    result = pace_allowance(quota, now, burst=burst)
    assert result == allowed
    assert type(result) is int


# -- properties: senders under the rule, seen as DingTalk sees them ---------------------------


@dataclass
class Sender:
    """One send in a simulation: when it wants to go, and what its request does."""

    want: float  # when it first asks
    up: float  # start → arrival at DingTalk
    down: float  # arrival → reply back
    extra: float  # hold beyond the arrival: expires = start + up + extra
    fate: str  # "ok", "refused" (never left), "timeout" (no reply), "died" (never settles)


def simulate(rate: Rate, senders: list[Sender], poll: float) -> tuple[list[float], list[float]]:
    """Senders deciding with judge on slots kept as a store keeps them.

    Returns (start times, arrival times). A waiting sender asks again after the wait, or
    after ``poll`` when the verdict is provisional.
    """
    budget = Budget(rate)
    slots: dict[int, Slot] = {}
    events: list[tuple[float, int, str, int, float | None]] = []
    order = 0

    def push(at: float, what: str, who: int, arrived: float | None = None) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, what, who, arrived))

    for i, sender in enumerate(senders):
        push(sender.want, "try", i)
    starts: list[float] = []
    arrivals: list[float] = []
    steps = 0
    while events:
        steps += 1
        assert steps < 50_000, "the simulation does not finish"
        now, _, what, who, arrived = heapq.heappop(events)
        if what == "settle":
            if arrived is None:
                del slots[who]
            else:
                slots[who] = replace(slots[who], arrived=arrived)
            continue
        verdict = judge(budget, now, slots=list(slots.values()))
        if not verdict.go:
            assert verdict.wait > 0
            assert verdict.until == now + verdict.wait
            later = now + (min(verdict.wait, poll) if verdict.provisional else verdict.wait)
            push(max(later, math.nextafter(now, INF)), "try", who)
            continue
        sender = senders[who]
        hold = sender.up + sender.extra
        slot = len(starts)
        slots[slot] = Slot(now, None, now + hold)
        starts.append(now)
        arrival = now + sender.up
        if sender.fate == "refused":
            push(arrival, "settle", slot, None)
            continue
        arrivals.append(arrival)
        if sender.fate == "ok":
            reply = arrival + sender.down
            push(reply, "settle", slot, reply)
        elif sender.fate == "timeout":  # ambiguous: keeps its slot, counted at its timeout
            push(now + hold, "settle", slot, now + hold)
    return starts, sorted(arrivals)


def assert_no_window_over(arrivals: list[float], rate: Rate) -> None:
    """No window [t, t + window) holds more than ``rate.limit`` of the sorted arrivals."""
    for i in range(len(arrivals) - rate.limit):
        first, over = arrivals[i], arrivals[i + rate.limit]
        crowd = arrivals[i : i + rate.limit + 1]
        assert first + rate.window <= over, f"{len(crowd)} within {rate.window} s: {crowd}"


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Rate, list[Sender], float]:
    limit = draw(st.integers(1, 5))
    window = draw(st.sampled_from([1.0, 2.0, 60.0]) | st.floats(1.0, 30.0))
    latency = st.floats(0.0, 2 * window)
    sender = st.builds(
        Sender,
        want=st.floats(0.0, 3 * window),
        up=latency,
        down=latency,
        extra=st.floats(0.0, window),
        fate=st.sampled_from(["ok", "ok", "ok", "refused", "timeout", "died"]),
    )
    senders = draw(st.lists(sender, min_size=1, max_size=4 * limit + 3))
    poll = draw(st.floats(window / 20, window))
    return Rate(limit, window), senders, poll


SIM = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=300)


@SIM
@given(scenarios())
def test_no_window_as_dingtalk_sees_it_holds_more_than_the_limit(
    scenario: tuple[Rate, list[Sender], float],
) -> None:
    rate, senders, poll = scenario
    starts, arrivals = simulate(rate, senders, poll)
    assert len(starts) == len(senders)  # everybody got to send
    assert_no_window_over(arrivals, rate)


@SIM
@given(
    st.integers(1, 8),
    st.sampled_from([1.0, 2.0, 60.0]) | st.floats(1.0, 100.0),
    st.integers(1, 40),
    st.floats(0.0, 1e9),
)
def test_not_over_careful_n_sends_take_ceil_n_over_l_minus_one_windows(
    limit: int, window: float, n: int, t0: float
) -> None:
    rate = Rate(limit, window)
    senders = [Sender(t0, 0.0, 0.0, 0.0, "ok") for _ in range(n)]
    starts, arrivals = simulate(rate, senders, window)
    windows = math.ceil(n / limit) - 1
    # as soon as allowed: the last starts after exactly that many windows (within rounding)
    assert starts[-1] == pytest.approx(t0 + windows * window, rel=1e-12, abs=1e-6)
    assert_no_window_over(arrivals, rate)


@pytest.mark.parametrize("rtt", [0.0, 0.1, 0.5])
def test_seven_sends_at_five_per_two_seconds(rtt: float) -> None:
    # Two batches: five at once, then two a window after the first batch's replies.
    senders = [Sender(100.0, rtt / 2, rtt / 2, 10.0, "ok") for _ in range(7)]
    starts, arrivals = simulate(Rate(5, 2.0), senders, 0.05)
    assert starts[:5] == [100.0] * 5
    assert starts[5:] == [pytest.approx(102.0 + rtt)] * 2
    assert arrivals[-1] == pytest.approx(102.0 + 1.5 * rtt)


def test_a_send_that_never_left_gives_its_slot_back_and_a_timeout_keeps_it() -> None:
    # The second sender polls every 0.25 s while the first one is in flight (exact floats).
    second = Sender(0.25, 0.25, 0.25, 1.0, "ok")
    starts, _ = simulate(Rate(1, 10.0), [Sender(0.0, 0.5, 0.0, 1.0, "refused"), second], 0.25)
    assert starts == [0.0, 0.5]  # as soon as the refusal is settled
    starts, _ = simulate(Rate(1, 10.0), [Sender(0.0, 0.5, 0.0, 1.0, "timeout"), second], 0.25)
    assert starts == [0.0, 11.5]  # counted at its timeout, 1.5 s after its start
    starts, _ = simulate(Rate(1, 10.0), [Sender(0.0, 0.5, 0.0, 1.0, "died"), second], 0.25)
    assert starts == [0.0, 11.5]  # never settled: counted at its expiry


@given(
    st.lists(st.floats(0.0, 200.0), max_size=30),
    st.floats(0.0, 200.0),
    st.integers(1, 6),
    st.floats(1.0, 60.0),
)
def test_window_wait_is_the_least_wait_that_frees_a_slot(
    ends: list[float], now: float, limit: int, window: float
) -> None:
    rate = Rate(limit, window)
    wait = window_wait(ends, now, rate)
    counted = sum(1 for t in ends if t + window - now > 0)
    assert (wait == 0.0) is (counted < limit)
    if wait > 0:
        at = now + wait
        # at `now + wait` a slot is free; any earlier it is not (outside float rounding)
        assert sum(1 for t in ends if t + window > at + 1e-9 * (1 + abs(at))) < limit
        before = at - 1e-6 * (1 + window)
        if before > now:
            assert sum(1 for t in ends if t + window > before) >= limit


def test_quota_period_remembers_a_month_but_never_past_its_end() -> None:
    quota = Quota(3000)
    december = (utc("2026-11-30T16:00:00"), utc("2026-12-31T16:00:00"))
    january = (utc("2026-12-31T16:00:00"), utc("2027-01-31T16:00:00"))
    assert quota_period(quota, utc("2026-12-15T00:00:00")) == december
    assert quota_period(quota, utc("2026-12-31T16:00:00")) == january  # the end: a new month
    assert quota_period(quota, utc("2026-12-31T15:59:59")) == december  # and back
    assert quota_period(quota, utc("2026-11-30T16:00:00")) == december  # the start is in it
    # each zone its own month
    assert quota_period(Quota(1, MONTH, "UTC"), utc("2026-12-31T16:00:00"))[0] == utc(
        "2026-12-01T00:00:00"
    )


def test_a_granted_verdict_counts_the_send() -> None:
    verdict = Verdict("go", 0.0, 5.0, 3, False, used=7, renews=9.0)
    granted = verdict.granted(42)
    assert granted == Verdict("go", 0.0, 5.0, 2, False, used=8, renews=9.0)
    assert granted.slot == 42
    assert Verdict("go", 0.0, 5.0, 0, True, used=0).granted(1) == Verdict(
        "go", 0.0, 5.0, 0, True, used=1
    )
