"""When to retry, and how rates and durations are written: pure functions; the caller sleeps.

Rates and durations
    ``Rate(limit, window)`` — at most ``limit`` sends in *any* ``window`` seconds; the
    rule that applies it, counted at arrival, is :func:`dingwire.core.budget.window_wait`.
    ``parse_rate("20/60s")`` and ``parse_duration("10m")`` read them as people write them.
    What makes no sense is refused with a :class:`ConfigError` naming the setting: NaN,
    infinities, negatives, ``True``/``False``; a rate without its window (``"20/"``), a
    count that is not a whole number, a window under a second, and "no limit" in disguise —
    more than 10,000 sends a window, or a window over a day (``rate_limit=None`` says it).

Retries
    A :class:`RetryPolicy` is refused unless ``attempts`` is a whole number from 1 and
    ``base``/``cap`` are finite, non-negative seconds.
    ``RetryPolicy.delay(attempt, error, rng)`` is the wait before attempt ``attempt + 1``, or
    ``None`` to give up. Only failures that cannot have delivered the message, or that
    DingTalk says to retry, are retried: the connection never made, HTTP 5xx, errcode -1,
    throttling and the gateway's "slow down" (after the wait they name, ``retry_after``).
    A timeout after sending is retried only on request; a spent quota never.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from dingwire.core.errors import (
    BadResponseError,
    ConfigError,
    ConnectError,
    DeliveryUnknownError,
    DingwireError,
    QuotaExceededError,
    RateLimitedError,
    ServerBusyError,
)

__all__ = [
    "DEFAULT_LOCKOUT",
    "DEFAULT_RATE",
    "MAX_LIMIT",
    "MAX_LOCKOUT",
    "MAX_TIMEOUT",
    "MAX_WINDOW",
    "MIN_WINDOW",
    "Rate",
    "RetryPolicy",
    "parse_duration",
    "parse_lockout",
    "parse_rate",
    "parse_timeout",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "": 1.0}
_DURATION = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|)\s*$", re.ASCII)

#: The bounds of a :class:`Rate`: a window from a second to a day, at most this many sends
#: in it. Anything wider is "no limit" in disguise: write ``rate_limit=None`` for that.
MIN_WINDOW = 1.0
MAX_WINDOW = 86_400.0
MAX_LIMIT = 10_000


def parse_duration(
    value: str | int | float,
    *,
    name: str = "duration",
    positive: bool = False,
    maximum: float | None = None,
) -> float:
    """Seconds from ``"600s"``, ``"10m"``, ``"1.5h"``, ``"250ms"``, ``"1d"`` or a number.

    Refused, with ``name`` first in the :class:`ConfigError`: anything else, ``True`` and
    ``False``, NaN, infinities and negatives; zero too when ``positive``; more than
    ``maximum`` seconds when one is given.

    >>> parse_duration("10m", name="lockout")
    600.0
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(
            f"{name}: expected a duration such as '5s' or a number of seconds, got {_shown(value)}"
        )
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ConfigError(
                f"{name}: {value[:40]!r} is not a duration; write it like '5s', '10m', '250ms'"
            )
        number, unit = float(match.group(1)), match.group(2)
        seconds = number * _UNITS[unit]
    else:
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            seconds = math.inf if value > 0 else -math.inf
    if math.isnan(seconds):
        raise ConfigError(f"{name}: NaN is not a duration; give a number of seconds")
    if seconds < 0:
        raise ConfigError(f"{name}: must not be negative, got {_shown(value)}")
    if math.isinf(seconds):
        raise ConfigError(f"{name}: must be a finite number of seconds, got {_shown(value)}")
    if positive and seconds == 0:
        raise ConfigError(f"{name}: must be more than zero, got {_shown(value)}")
    if maximum is not None and seconds > maximum:
        raise ConfigError(f"{name}: {_shown(value)} is more than the {_seconds(maximum)} allowed")
    return seconds


def _shown(value: object) -> str:
    """``value`` for an error message, cut short (a 5,000-digit number is not news)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}… ({len(text):,} characters)"


def _seconds(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` sends in any ``window`` seconds.

    ``limit`` is a whole number from 1 to :data:`MAX_LIMIT`; ``window`` from
    :data:`MIN_WINDOW` (a second) to :data:`MAX_WINDOW` (a day). DingTalk's is
    ``Rate(20, 60)``; a rate that means "no limit" is written ``None``.
    """

    limit: int
    window: float

    def __post_init__(self) -> None:
        limit, window = self.limit, self.window
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise ConfigError(
                f"rate_limit: the count must be a whole number of sends, got {_shown(limit)}"
            )
        if not 1 <= limit <= MAX_LIMIT:
            raise ConfigError(
                f"rate_limit: the count must be from 1 to {MAX_LIMIT:,} sends, got {limit:,}"
                + ("; for no limit write rate_limit=None ('none')" if limit > MAX_LIMIT else "")
            )
        if isinstance(window, bool) or not isinstance(window, int | float):
            raise ConfigError(f"rate_limit: the window must be seconds, got {_shown(window)}")
        if not MIN_WINDOW <= window <= MAX_WINDOW:  # NaN too
            shown = f"{window:g} s" if math.isfinite(window) else repr(window)
            raise ConfigError(
                f"rate_limit: the window must be from 1 s to a day, got {shown}"
                + ("; for no limit write rate_limit=None ('none')" if window > 1 else "")
            )

    def __str__(self) -> str:
        return f"{self.limit}/{self.window:g}s"


DEFAULT_RATE = Rate(20, 60.0)
DEFAULT_LOCKOUT = 600.0
#: The longest ``timeout`` a robot takes: longer is a slip, and would hold its budget's
#: slots as long (a send counts until its reply could still come).
MAX_TIMEOUT = 600.0
#: The longest ``lockout``: DingTalk's is ten minutes; a day is plenty of margin.
MAX_LOCKOUT = 86_400.0


def parse_timeout(value: str | int | float, *, name: str = "timeout") -> float:
    """A robot's ``timeout``: more than zero (never waiting forever), at most 10 minutes."""
    return parse_duration(value, name=name, positive=True, maximum=MAX_TIMEOUT)


def parse_lockout(value: str | int | float, *, name: str = "lockout") -> float:
    """A robot's ``lockout`` after a 130101: more than zero, at most a day.

    Zero would retry a throttled robot at once, which only makes DingTalk's lockout longer.
    """
    return parse_duration(value, name=name, positive=True, maximum=MAX_LOCKOUT)


_RATE = re.compile(r"^\s*(\S+?)\s*/\s*(\S*)\s*$")


def parse_rate(value: str | Rate | None) -> Rate | None:
    """``"20/60s"`` → ``Rate(20, 60.0)``; ``"5/s"`` and ``"100/1h"`` work.

    ``None`` (or the string ``"none"`` / ``"off"``) is no limit. Refused: a missing window
    (``"20/"``), a count that is not a whole number, and what :class:`Rate` refuses.
    """
    if value is None or isinstance(value, Rate):
        return value
    if not isinstance(value, str):
        raise ConfigError(
            f"rate_limit: expected a rate such as '20/60s' (or 'none'), got {_shown(value)}"
        )
    if value.strip().lower() in ("none", "off"):
        return None
    match = _RATE.match(value)
    if not match:
        raise ConfigError(f"rate_limit: {value[:40]!r} is not a rate; write it like '20/60s'")
    count, per = match.groups()
    if not (count.isascii() and count.isdigit()):
        raise ConfigError(
            f"rate_limit: {value[:40]!r}: the count {count[:20]!r} must be a whole number"
        )
    if not per:
        raise ConfigError(
            f"rate_limit: {value[:40]!r} has no window after the '/'; write it like '20/60s'"
        )
    if per[:1].isalpha():  # "5/s", "20/m": one of the unit
        if per not in _UNITS:
            raise ConfigError(
                f"rate_limit: {value[:40]!r}: the window {per[:20]!r} is not a duration; "
                "write it like '20/60s'"
            )
        per = f"1{per}"
    window = parse_duration(per, name="rate_limit")
    return Rate(int(count), window)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, for the failures that are safe to repeat.

    ``attempts`` counts the first try. A throttled robot, or a gateway that asked to slow
    down, is retried after the wait its error names (``retry_after``).
    """

    attempts: int = 3
    base: float = 0.5
    cap: float = 30.0
    retry_on_timeout: bool = False

    def __post_init__(self) -> None:
        attempts = self.attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigError(
                "retry.attempts: the number of tries, the first one included, is a whole "
                f"number from 1 up, got {_shown(attempts)}"
            )
        for name in ("base", "cap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"retry.{name}: expected seconds, got {_shown(value)}")
            if not 0 <= value < math.inf:  # NaN too
                raise ConfigError(
                    f"retry.{name}: must be a finite number of seconds, not negative, "
                    f"got {_shown(value)}"
                )
        if not isinstance(self.retry_on_timeout, bool):
            raise ConfigError(
                f"retry.retry_on_timeout: must be True or False, got {_shown(self.retry_on_timeout)}"
            )

    def retryable(self, error: DingwireError) -> bool:
        """Whether repeating the request after ``error`` is safe and may succeed."""
        if isinstance(error, QuotaExceededError):
            return False  # not before the period renews: that is no retry
        if isinstance(error, ConnectError | ServerBusyError | RateLimitedError):
            return True
        if isinstance(error, BadResponseError):
            return error.status is not None and error.status >= 500
        if isinstance(error, DeliveryUnknownError):
            return self.retry_on_timeout
        return False

    def delay(self, attempt: int, error: DingwireError, rng: random.Random) -> float | None:
        """The wait before another try after ``attempt`` tries failed; ``None``: give up."""
        if attempt >= self.attempts or not self.retryable(error):
            return None
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            return error.retry_after
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)
