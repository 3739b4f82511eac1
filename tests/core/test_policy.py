"""The pure policies: sliding-window decisions, durations, rates, retry delays."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dingwire.core.errors import (
    BadResponseError,
    ConfigError,
    ConnectError,
    ConnectionLostError,
    KeywordError,
    RequestTimeoutError,
    ServerBusyError,
    ThrottledError,
)
from dingwire.core.policy import Rate, RetryPolicy, decide, parse_duration, parse_rate

RATE = Rate(20, 60.0)


def test_free_budget_means_now() -> None:
    assert decide([], 100.0, RATE) == 0.0
    assert decide([100.0 - i for i in range(19)], 100.0, RATE) == 0.0


def test_spent_budget_waits_for_the_oldest_send_that_matters() -> None:
    sent = [10.0 + i for i in range(20)]  # 20 sends at t=10..29
    assert decide(sent, 30.0, RATE) == pytest.approx(40.0)  # t=10 leaves the window at 70
    assert decide(sent, 70.0, RATE) == pytest.approx(0.0)


def test_sliding_not_fixed_minute() -> None:
    # 20 at t=59, then at t=61 a fixed-minute counter would allow 20 more: we do not.
    sent = [59.0] * 20
    assert decide(sent, 61.0, RATE) == pytest.approx(58.0)


def test_lockout_wins_over_a_free_budget() -> None:
    assert decide([], 100.0, RATE, locked_until=700.0) == pytest.approx(600.0)


@given(st.lists(st.floats(0, 1000), max_size=60), st.floats(0, 1000))
def test_decide_never_allows_more_than_the_limit_in_any_window(
    sent: list[float], now: float
) -> None:
    wait = decide(sent, now, RATE)
    at = now + wait
    assert sum(1 for t in sent if t <= at and t + RATE.window - at > 0) < RATE.limit or wait == 0


@given(st.integers(1, 50), st.floats(0.5, 120))
def test_simulated_senders_never_exceed_the_budget(limit: int, window: float) -> None:
    rate = Rate(limit, window)
    now, sent = 0.0, []
    for _ in range(limit * 3):
        while (wait := decide(sent, now, rate)) > 0:  # as a store's caller does: sleep, ask again
            now += max(wait, 1e-6)
        sent.append(now)
        now += 0.01
    for t in sent:
        assert sum(1 for u in sent if u <= t and u + window - t > 0) <= limit


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


def test_throttle_waits_for_the_lockout() -> None:
    policy = RetryPolicy()
    assert policy.delay(1, ThrottledError("x"), random.Random(), lockout=600) == 600
