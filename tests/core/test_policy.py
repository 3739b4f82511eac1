"""The pure policies: durations, rates, retry delays (the window rule: test_budget.py)."""

import math
import random

import pytest

from dingwire import Robot
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
from dingwire.core.policy import (
    MAX_LIMIT,
    MAX_LOCKOUT,
    MAX_TIMEOUT,
    MAX_WINDOW,
    MIN_WINDOW,
    Rate,
    RetryPolicy,
    parse_duration,
    parse_lockout,
    parse_rate,
    parse_timeout,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("600s", 600),
        ("10m", 600),
        ("1.5h", 5400),
        ("250ms", 0.25),
        ("5", 5),
        (3, 3),
        ("2min", 120),
        ("1d", 86400),
        (0, 0),
        (" 5 s ", 5),
    ],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


# (value, what the error says): each a ConfigError that names the setting.
BAD_DURATIONS: list[tuple[object, str]] = [
    ("soon", "is not a duration; write it like '5s'"),
    ("5 parsecs", "is not a duration"),
    ("", "is not a duration"),
    ("nan", "is not a duration"),
    ("inf", "is not a duration"),
    ("1e3s", "is not a duration"),
    ("５s", "is not a duration"),  # a full-width digit
    ("-5s", "must not be negative, got '-5s'"),
    (-1, "must not be negative"),
    (-0.5, "must not be negative"),
    (math.nan, "NaN is not a duration"),
    (float("-nan"), "NaN is not a duration"),
    (math.inf, "must be a finite number of seconds"),
    (-math.inf, "must not be negative"),
    ("9" * 400, "must be a finite number of seconds"),  # float("999…") is inf
    (10**400, "must be a finite number of seconds"),  # too large for a float at all
    (-(10**400), "must not be negative"),
    (True, "expected a duration such as '5s'"),
    (False, "expected a duration"),
    (None, "expected a duration"),
    ([5], "expected a duration"),
    (b"5s", "expected a duration"),
]


@pytest.mark.parametrize(("bad", "says"), BAD_DURATIONS)
def test_durations_that_make_no_sense_are_refused(bad: object, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(bad, name="robots.ops: lockout")  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith("robots.ops: lockout: ")
    assert says in message
    assert len(message) < 200  # a 400-digit number is not repeated whole


def test_parse_duration_bounds_on_request() -> None:
    assert parse_duration(0, name="lockout") == 0
    with pytest.raises(ConfigError, match=r"^timeout: must be more than zero"):
        parse_duration("0s", name="timeout", positive=True)
    assert parse_duration("10m", name="timeout", maximum=600) == 600
    with pytest.raises(ConfigError, match=r"^timeout: '11m' is more than the 10m allowed"):
        parse_duration("11m", name="timeout", maximum=600)


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("20/60s", Rate(20, 60)),
        ("5/s", Rate(5, 1)),
        ("100/1h", Rate(100, 3600)),
        ("20/m", Rate(20, 60)),
        (" 20 / 60s ", Rate(20, 60)),
        ("1/1d", Rate(1, 86400)),
        ("10000/60s", Rate(10_000, 60)),
        ("20/60", Rate(20, 60)),
    ],
)
def test_parse_rate(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


def test_no_limit_is_said_as_such() -> None:
    assert parse_rate(None) is None
    assert parse_rate("off") is None
    assert parse_rate(" None ") is None


# (value, what the error says)
BAD_RATES: list[tuple[object, str]] = [
    ("20/", "has no window after the '/'"),  # it used to be 20 a second
    ("20/ ", "has no window"),
    ("20", "is not a rate; write it like '20/60s'"),
    ("", "is not a rate"),  # an unset ${VAR} is not "no limit"
    ("twenty a minute", "is not a rate"),
    ("/60s", "is not a rate"),
    ("2.5/60s", "the count '2.5' must be a whole number"),
    ("-1/60s", "the count '-1' must be a whole number"),
    ("1e3/60s", "must be a whole number"),
    ("0/60s", "the count must be from 1 to 10,000"),
    ("10001/60s", "from 1 to 10,000 sends, got 10,001; for no limit write rate_limit=None"),
    ("999999999/1s", "for no limit"),
    ("20/0s", "the window must be from 1 s to a day, got 0 s"),
    ("20/0.5s", "from 1 s to a day, got 0.5 s"),
    ("20/500ms", "got 0.5 s"),
    ("20/ms", "got 0.001 s"),
    ("20/2d", "got 172800 s; for no limit"),
    ("20/25h", "from 1 s to a day"),
    ("20/nan", "the window 'nan' is not a duration"),
    ("20/x", "the window 'x' is not a duration"),
    ("20/-5s", "must not be negative"),
    ("20/1e400s", "is not a duration"),
    (20, "expected a rate such as '20/60s'"),
    (20.0, "expected a rate"),
    (True, "expected a rate"),
    (["20/60s"], "expected a rate"),
]


@pytest.mark.parametrize(("bad", "says"), BAD_RATES)
def test_rates_that_make_no_sense_are_refused(bad: object, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rate(bad)  # type: ignore[arg-type]
    assert str(caught.value).startswith("rate_limit: ")
    assert says in str(caught.value)


@pytest.mark.parametrize(
    ("limit", "window", "says"),
    [
        (0, 60.0, "from 1 to 10,000"),
        (10_001, 60.0, "for no limit"),
        (2.5, 60.0, "the count must be a whole number of sends, got 2.5"),
        (True, 60.0, "whole number"),
        ("20", 60.0, "whole number"),
        (20, 0.999, "the window must be from 1 s to a day"),
        (20, 86_400.5, "from 1 s to a day"),
        (20, math.nan, "got nan"),
        (20, math.inf, "got inf"),
        (20, -60.0, "from 1 s"),
        (20, "60s", "the window must be seconds"),
        (20, True, "the window must be seconds"),
    ],
)
def test_a_rate_cannot_be_built_that_makes_no_sense(
    limit: object, window: object, says: str
) -> None:
    with pytest.raises(ConfigError, match=r"^rate_limit: ") as caught:
        Rate(limit, window)  # type: ignore[arg-type]
    assert says in str(caught.value)


def test_the_bounds_of_a_rate_are_accepted() -> None:
    assert Rate(1, 1) == Rate(1, 1.0)
    assert Rate(MAX_LIMIT, MAX_WINDOW).limit == 10_000
    assert (MIN_WINDOW, MAX_WINDOW) == (1.0, 86_400.0)


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"attempts": 0}, "retry.attempts: "),
        ({"attempts": -1}, "retry.attempts: "),
        ({"attempts": 2.5}, "got 2.5"),
        ({"attempts": True}, "got True"),
        ({"attempts": math.inf}, "retry.attempts"),
        ({"base": math.nan}, "retry.base: must be a finite number"),
        ({"base": math.inf}, "retry.base: must be a finite"),
        ({"base": -0.5}, "retry.base: must be a finite number of seconds, not negative"),
        ({"cap": math.nan}, "retry.cap: "),
        ({"cap": -1}, "retry.cap: "),
        ({"cap": math.inf}, "retry.cap: "),
        ({"cap": "30s"}, "retry.cap: expected seconds"),
        ({"base": True}, "retry.base: expected seconds"),
        ({"retry_on_timeout": "yes"}, "retry.retry_on_timeout: must be True or False"),
    ],
)
def test_a_retry_policy_that_makes_no_sense_is_refused(
    settings: dict[str, object], says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        RetryPolicy(**settings)  # type: ignore[arg-type]
    assert says in str(caught.value)


def test_a_retry_policy_takes_sane_numbers() -> None:
    assert RetryPolicy(attempts=1).delay(1, ConnectError("x"), random.Random()) is None
    assert RetryPolicy(attempts=2, base=0, cap=0).delay(1, ConnectError("x"), random.Random()) == 0


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


HOOK = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef"


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"timeout": math.nan}, "timeout: NaN is not a duration"),
        ({"timeout": math.inf}, "timeout: must be a finite number of seconds"),
        ({"timeout": -1}, "timeout: must not be negative"),
        ({"timeout": 0}, "timeout: must be more than zero"),
        ({"timeout": "0s"}, "timeout: must be more than zero"),
        ({"timeout": "11m"}, "timeout: '11m' is more than the 10m allowed"),
        ({"timeout": True}, "timeout: expected a duration"),
        ({"timeout": "fast"}, "timeout: 'fast' is not a duration"),
        ({"lockout": math.nan}, "lockout: NaN is not a duration"),
        ({"lockout": "-600s"}, "lockout: must not be negative"),
        ({"lockout": math.inf}, "lockout: must be a finite number"),
        ({"lockout": 0}, "lockout: must be more than zero"),
        ({"lockout": "2d"}, "lockout: '2d' is more than the 1d allowed"),
        ({"rate_limit": "20/"}, "rate_limit: '20/' has no window"),
        ({"rate_limit": "20/0.5s"}, "rate_limit: the window must be from 1 s to a day"),
        ({"rate_limit": "1000000/60s"}, "rate_limit: the count must be from 1 to 10,000 sends"),
    ],
)
def test_a_robot_refuses_settings_that_make_no_sense(
    settings: dict[str, object], says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Robot(HOOK, budget_store="memory://", **settings)  # type: ignore[arg-type]
    assert str(caught.value).startswith(says)


def test_a_robot_takes_the_sane_ones() -> None:
    with Robot(HOOK, budget_store="memory://", timeout="10m", lockout="1d", rate_limit="1/1d") as r:
        assert (r.timeout, r.lockout, r.rate) == (600, 86_400, Rate(1, 86_400))
    with Robot(HOOK, budget_store="memory://", rate_limit=None) as r:
        assert r.rate is None


def test_the_robots_bounds_are_one_rule_for_the_config_too() -> None:
    assert parse_timeout("10m") == MAX_TIMEOUT == 600
    assert parse_lockout("1d") == MAX_LOCKOUT == 86_400
    with pytest.raises(ConfigError, match=r"^robots\.ops: lockout: must be more than zero"):
        parse_lockout(0, name="robots.ops: lockout")
    with pytest.raises(ConfigError, match=r"^robots\.ops: timeout: .* more than the 10m"):
        parse_timeout(601, name="robots.ops: timeout")
