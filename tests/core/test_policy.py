"""The pure policies: durations, rates, retry delays (the window rule: test_budget.py)."""

import random

import pytest

from dingwire.core.errors import (
    BadResponseError,
    ConfigError,
    ConnectError,
    ConnectionLostError,
    GatewayThrottledError,
    KeywordError,
    QuotaExceededError,
    QuotaRefusedError,
    RequestTimeoutError,
    ServerBusyError,
    ThrottledError,
)
from dingwire.core.policy import Rate, RetryPolicy, parse_duration, parse_rate


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("600s", 600), ("10m", 600), ("1.5h", 5400), ("250ms", 0.25), ("5", 5), (3, 3), ("2min", 120)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["soon", "-5s", "5 parsecs", True, ""])
def test_parse_duration_errors_say_how_to_write_it(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"duration|negative"):
        parse_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("20/60s", Rate(20, 60)),
        ("5/s", Rate(5, 1)),
        ("100/1h", Rate(100, 3600)),
        ("20/m", Rate(20, 60)),
    ],
)
def test_parse_rate(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


def test_parse_rate_none_and_errors() -> None:
    assert parse_rate(None) is None
    assert parse_rate("off") is None
    for bad in ("twenty a minute", "0/60s", "20/0s"):
        with pytest.raises(ConfigError, match="rate_limit"):
            parse_rate(bad)


def test_retry_only_what_is_safe() -> None:
    policy = RetryPolicy()
    assert policy.retryable(ConnectError("x"))
    assert policy.retryable(ServerBusyError("x", errcode=-1))
    assert policy.retryable(ThrottledError("x", errcode=130101))
    assert policy.retryable(BadResponseError("x", status=503))
    assert not policy.retryable(BadResponseError("x", status=404))
    assert not policy.retryable(BadResponseError("not json", status=200))
    assert not policy.retryable(KeywordError("x", errcode=310000))
    assert not policy.retryable(RequestTimeoutError("x"))
    assert not policy.retryable(ConnectionLostError("x"))
    opted_in = RetryPolicy(retry_on_timeout=True)
    assert opted_in.retryable(RequestTimeoutError("x"))
    assert opted_in.retryable(ConnectionLostError("x"))


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(attempts=10, base=1.0, cap=8.0)
    rng = random.Random(1)
    error = ConnectError("x")
    delays = [policy.delay(n, error, rng) for n in range(1, 10)]
    assert all(d is not None for d in delays)
    assert 0.5 <= delays[0] <= 1.0  # type: ignore[operator]
    assert 1.0 <= delays[1] <= 2.0  # type: ignore[operator]
    assert all(d <= 8.0 for d in delays)  # type: ignore[operator]
    assert policy.delay(10, error, rng) is None  # out of attempts


def test_throttle_waits_for_what_the_error_names() -> None:
    # The robot puts the lockout (or the gateway's `wait`) into retry_after before asking.
    policy = RetryPolicy()
    assert policy.delay(1, ThrottledError("x", retry_after=600.0), random.Random()) == 600
    assert policy.delay(1, GatewayThrottledError("x", retry_after=5.0), random.Random()) == 5
    assert policy.delay(3, ThrottledError("x", retry_after=600.0), random.Random()) is None


def test_a_spent_quota_is_never_retried() -> None:
    policy = RetryPolicy(attempts=10)
    assert not policy.retryable(QuotaRefusedError("x", errcode=90030))
    assert not policy.retryable(QuotaExceededError("x"))
    assert policy.delay(1, QuotaRefusedError("x", errcode=90030), random.Random()) is None
