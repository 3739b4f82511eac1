"""When to retry, and how rates and durations are written: pure functions; the caller sleeps.

Rates and durations
    ``Rate(limit, window)`` — at most ``limit`` sends in *any* ``window`` seconds; the
    rule that applies it, counted at arrival, is :func:`dingwire.core.budget.window_wait`.
    ``parse_rate("20/60s")`` and ``parse_duration("10m")`` read them as people write them.

Retries
    ``RetryPolicy.delay(attempt, error, rng)`` is the wait before attempt ``attempt + 1``, or
    ``None`` to give up. Only failures that cannot have delivered the message, or that
    DingTalk says to retry, are retried: the connection never made, HTTP 5xx, errcode -1,
    throttling and the gateway's "slow down" (after the wait they name, ``retry_after``).
    A timeout after sending is retried only on request; a spent quota never.
"""

from __future__ import annotations

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
    "Rate",
    "RetryPolicy",
    "parse_duration",
    "parse_rate",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "": 1.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|)\s*$")


def parse_duration(value: str | int | float, *, name: str = "duration") -> float:
    """Seconds from ``"600s"``, ``"10m"``, ``"1.5h"``, ``"250ms"`` or a plain number."""
    if isinstance(value, bool):
        raise ConfigError(f"{name}: expected a duration such as '5s', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ConfigError(
                f"{name}: {value!r} is not a duration; write it like '5s', '10m', '250ms'"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ConfigError(f"{name}: must not be negative, got {value!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` sends in any ``window`` seconds."""

    limit: int
    window: float

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0:
            raise ConfigError(f"rate_limit: needs at least 1 per positive window, got {self}")

    def __str__(self) -> str:
        return f"{self.limit}/{self.window:g}s"


DEFAULT_RATE = Rate(20, 60.0)
DEFAULT_LOCKOUT = 600.0


def parse_rate(value: str | Rate | None) -> Rate | None:
    """``"20/60s"`` → ``Rate(20, 60.0)``; ``"5/s"`` and ``"100/1h"`` work; ``None`` is no limit."""
    if value is None or isinstance(value, Rate):
        return value
    text = str(value).strip()
    if text.lower() in ("none", "off", ""):
        return None
    count, sep, per = text.partition("/")
    if not sep or not count.strip().isdigit():
        raise ConfigError(f"rate_limit: {value!r} is not a rate; write it like '20/60s'")
    per = per.strip()
    window = parse_duration(per if per[:1].isdigit() else f"1{per}", name="rate_limit")
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
