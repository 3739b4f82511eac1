"""How many sends a robot and an organisation may make, and when: pure rules, no clock.

Rules kept here — every budget store (memory, machine-local SQLite, Redis), every robot and
the fake decide with these functions, so that they cannot disagree:

Minute window (``Rate``), counted where DingTalk counts: at arrival
    DingTalk counts a message when it *arrives*; a sender only knows that it arrived some
    time between the moment it started sending and the moment the reply came back. So a
    send holds a :class:`Slot` from the moment it starts, and once the reply is in, the
    slot ends at the reply's time — the latest moment DingTalk can have seen it. A slot
    still in flight counts as arriving *now*, whatever now is; one in flight past its
    ``expires`` (its sender died, say) counts as having arrived at ``expires``.

    A new send may start at ``now`` when fewer than ``limit`` slots end after
    ``now - window``. That is enough for no window *as DingTalk sees it* ever to hold more
    than ``limit`` arrivals, whatever the latency of each request: of any ``limit + 1``
    arrivals within one window, the one whose send started last saw the other ``limit``
    slots still counting when it was decided (each ended, at the earliest, at its arrival,
    less than a window before that start). Calendar-minute windows are windows too, so
    the rule is safe for both models; :func:`fixed_window_wait` is the calendar one, for
    the fake.

Lockout
    After a 130101 / 410100, no sender of the robot tries until ``locked_until``.

Organisation quota (``Quota``)
    Every send of an organisation's robots counts against its period: a calendar month in
    the quota's time zone (``"3000/month"``, DingTalk's billing), or a fixed period aligned
    to the epoch (``"20/5m"``). When ``used >= limit`` nothing goes until the period renews;
    a ``spent_until`` set from DingTalk's own answer (90030) says the same.

Pacing (for the relay)
    :func:`pace_allowance` spreads a quota over its period: at any moment at most
    ``limit × elapsed share + burst`` may have been sent.

:func:`judge` combines the three into one :class:`Verdict`: go now, or how long to wait,
for what, and whether the wait may end sooner (a slot still in flight may be settled early).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dingwire.core.errors import ConfigError
from dingwire.core.policy import Rate, parse_duration

__all__ = [
    "DEFAULT_TIMEZONE",
    "MONTH",
    "Budget",
    "Quota",
    "Reason",
    "Slot",
    "Verdict",
    "fixed_window_wait",
    "judge",
    "pace_allowance",
    "parse_quota",
    "quota_period",
    "slot_end",
    "window_wait",
]

#: DingTalk bills by the calendar month in China.
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: The ``period`` of a calendar-month quota.
MONTH: Literal["month"] = "month"

Reason = Literal["go", "budget", "lockout", "quota"]


@dataclass(frozen=True, slots=True)
class Slot:
    """One send as a budget store keeps it.

    ``started``: when the send was decided; ``arrived``: when its reply came back (the
    latest DingTalk can have seen it), ``None`` while in flight; ``expires``: the latest an
    in-flight send can still be arriving (its timeouts), after which it counts as arrived.
    """

    started: float
    arrived: float | None = None
    expires: float = math.inf


def slot_end(slot: Slot, now: float) -> tuple[float, bool]:
    """The time ``slot`` counts as arrived at, seen at ``now``, and whether it is in flight."""
    if slot.arrived is not None:
        return slot.arrived, False
    if slot.expires <= now:
        return slot.expires, False
    return now, True


def window_wait(ends: Iterable[float], now: float, rate: Rate) -> float:
    """Seconds until one more send may start under ``rate`` (sliding window); 0.0: now.

    ``ends`` are the arrival times of earlier sends (any order; old ones are ignored).
    """
    # A send ending at t counts while t + window - now > 0: the same expression as the
    # wait below, so that float rounding can never count a send and then wait zero for it.
    recent = sorted(t for t in ends if t + rate.window - now > 0)
    if len(recent) < rate.limit:
        return 0.0
    # The send that frees a slot is the limit-th most recent one.
    return recent[len(recent) - rate.limit] + rate.window - now


def fixed_window_wait(ends: Iterable[float], now: float, rate: Rate) -> float:
    """Seconds until one more send may arrive under calendar windows aligned to the epoch.

    The model some servers use: windows ``[k·window, (k+1)·window)``, each holding at most
    ``limit`` arrivals. A sender cannot know which model DingTalk uses; :func:`window_wait`
    is safe for both, so only the fake uses this one.
    """
    start = math.floor(now / rate.window) * rate.window
    count = sum(1 for t in ends if start <= t < start + rate.window)
    return 0.0 if count < rate.limit else start + rate.window - now


@dataclass(frozen=True, slots=True)
class Quota:
    """At most ``limit`` sends per period, all robots of an organisation together.

    ``period`` is :data:`MONTH` (calendar months in ``timezone``) or a number of seconds
    (periods aligned to the epoch).
    """

    limit: int
    period: float | Literal["month"] = MONTH
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ConfigError(f"quota: needs a limit of at least 1, got {self.limit!r}")
        if self.period != MONTH and not (
            isinstance(self.period, int | float) and math.isfinite(self.period) and self.period >= 1
        ):
            shown = self if isinstance(self.period, int | float) else repr(self.period)
            raise ConfigError(f"quota: the period must be 'month' or at least 1 s, got {shown}")
        _zone(self.timezone)  # refuse an unknown zone when the quota is made

    def __str__(self) -> str:
        per = "month" if self.period == MONTH else f"{self.period:g}s"
        return f"{self.limit:,}/{per}"


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"timezone: {name!r} is not a time zone; write one like 'Asia/Shanghai'"
        ) from None


_QUOTA = re.compile(r"^\s*(\d[\d_,]*)\s*/\s*(.+?)\s*$")


def parse_quota(value: str | Quota | None, *, timezone: str = DEFAULT_TIMEZONE) -> Quota | None:
    """``"3000/month"`` → ``Quota(3000)``; ``"20/5m"`` → 20 per five minutes; ``None``: none."""
    if value is None or isinstance(value, Quota):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"quota: expected a string such as '3000/month', got {value!r}")
    match = _QUOTA.match(value)
    if not match:
        raise ConfigError(f"quota: {value!r} is not a quota; write it like '3000/month'")
    limit = int(match.group(1).replace("_", "").replace(",", ""))
    per = match.group(2).lower()
    if per in ("month", "1month", "mo"):
        return Quota(limit, MONTH, timezone)
    seconds = parse_duration(per if per[:1].isdigit() else f"1{per}", name="quota")
    return Quota(limit, seconds, timezone)


def quota_period(quota: Quota, now: float) -> tuple[float, float]:
    """The start and end (epoch seconds) of the quota period that ``now`` falls in."""
    if quota.period != MONTH:
        period = float(quota.period)
        start = math.floor(now / period) * period
        return start, start + period
    # Every send asks; a month's bounds are remembered per zone (a pure function's memo).
    known = _MONTHS.get(quota.timezone)
    if known is not None and known[0] <= now < known[1]:
        return known
    bounds = _month(quota.timezone, now)
    _MONTHS[quota.timezone] = bounds
    return bounds


_MONTHS: dict[str, tuple[float, float]] = {}


def _month(timezone: str, now: float) -> tuple[float, float]:
    zone = _zone(timezone)
    local = datetime.fromtimestamp(now, zone)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    return first.timestamp(), following.timestamp()


def pace_allowance(quota: Quota, now: float, *, burst: int | None = None) -> int:
    """How many sends of the period may have gone by ``now`` at an even pace.

    ``limit × elapsed share of the period + burst`` (burst: 5% of the limit by default, at
    least 1), never more than the limit.
    """
    start, end = quota_period(quota, now)
    extra = max(1, quota.limit // 20) if burst is None else burst
    share = min(1.0, max(0.0, (now - start) / (end - start)))
    return min(quota.limit, math.floor(quota.limit * share) + extra)


@dataclass(frozen=True, slots=True)
class Budget:
    """The rules one robot sends under: its minute window and its organisation's quota."""

    rate: Rate | None
    org: str = "default"
    quota: Quota | None = None

    def period(self, now: float) -> tuple[float, float]:
        """The quota period of ``now``: the org's own, or the calendar month for counting."""
        return quota_period(self.quota or _COUNTING, now)


# Orgs without a quota are still counted, by the month, so that `dingwire robots` shows use.
_COUNTING = Quota(1, MONTH, DEFAULT_TIMEZONE)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rules say at ``now``: go (``wait == 0``), or wait ``wait`` s for ``reason``.

    ``until`` is ``now + wait``; ``provisional`` means the wait may end sooner, because a
    slot in flight decides it; ``free`` is how many sends the window has room for now (the
    relay's digest decision); ``used`` is the org's count this period and ``renews`` when
    that period ends.
    """

    reason: Reason
    wait: float
    until: float
    free: int
    provisional: bool = False
    used: int = 0
    renews: float = math.inf
    slot: int | None = field(default=None, compare=False)

    @property
    def go(self) -> bool:
        """True when a send may start now."""
        return self.reason == "go"

    def granted(self, slot: int) -> Verdict:
        """This go verdict once a store has recorded ``slot`` (and counted it for the org)."""
        # Built directly: dataclasses.replace costs more than the whole decision.
        return Verdict(
            self.reason,
            self.wait,
            self.until,
            max(0, self.free - 1),
            self.provisional,
            self.used + 1,
            self.renews,
            slot,
        )


def judge(
    budget: Budget,
    now: float,
    *,
    slots: Sequence[Slot] = (),
    locked_until: float = 0.0,
    used: int = 0,
    spent_until: float = 0.0,
    barrier: float | None = None,
) -> Verdict:
    """May one more send start at ``now``, and if not, how long until it may, and why.

    ``slots`` are the robot's recent sends, ``locked_until`` its lockout, ``used`` the
    org's count in the period of ``now``, ``spent_until`` a quota DingTalk said was spent.
    ``barrier``: a store that lost its state (deleted, damaged) counts the window as full
    from that moment on — it cannot know what was sent just before.
    """
    _, renews = budget.period(now)
    ends: list[float] = []
    in_flight: list[float] = []
    for slot in slots:
        end, flying = slot_end(slot, now)
        (in_flight if flying else ends).append(end)
    waits: list[tuple[float, Reason, bool]] = []
    free = budget.rate.limit if budget.rate is not None else 1 << 30
    if budget.rate is not None:
        rate = budget.rate
        barred = [] if barrier is None else [barrier] * rate.limit
        all_ends = ends + in_flight + barred
        counted = sum(1 for t in all_ends if t + rate.window - now > 0)
        free = max(0, rate.limit - counted)
        wait = window_wait(all_ends, now, rate)
        if wait > 0:
            # In flight counts as "arrived now": the true end comes with its reply, sooner
            # than a window from now, so whoever waits should look again then.
            settled = window_wait(ends + barred, now, rate)
            waits.append((wait, "budget", settled < wait))
    if locked_until > now:
        waits.append((locked_until - now, "lockout", False))
        free = 0
    quota_end = 0.0
    if budget.quota is not None and used >= budget.quota.limit:
        quota_end = renews
    if spent_until > now:
        quota_end = max(quota_end, spent_until)
    if quota_end > now:
        waits.append((quota_end - now, "quota", False))
        free = 0
    if budget.quota is not None:
        free = min(free, max(0, budget.quota.limit - used))
    if not waits:
        return Verdict("go", 0.0, now, free, used=used, renews=renews)
    # The longest wait decides; on a tie the harder reason names it (quota > lockout).
    order = {"budget": 0, "lockout": 1, "quota": 2}
    wait, reason, provisional = max(waits, key=lambda w: (w[0], order[w[1]]))
    return Verdict(reason, wait, now + wait, free, provisional, used=used, renews=renews)
