"""Waiting and exit 4: the minute budget, DingTalk's lockout, the org's quota.

Every send is the robot's own ``send(..., max_wait=--max-wait)``: a spent minute budget is
waited for within ``--max-wait``, a lockout or a spent quota beyond it exits 4 at once, and
every wait is said on stderr. What reached DingTalk is judged by the fake's log.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import dingwire
from dingwire.cli._app import describe_error
from dingwire.core import errors
from dingwire.core.budget import Quota, quota_period
from dingwire.core.policy import RetryPolicy
from dingwire.fake.faults import Fault
from dingwire.fake.server import FakeServer
from dingwire.transport.base import BaseRobot

from .conftest import Invoke

CLOCK = r"\d\d:\d\d:\d\d"


def url_for(fake: FakeServer, token: str, **options: str) -> str:
    """A dingtalk:// URL for ``token`` on the fake, with the robot's options."""
    query = "".join(f"&{k}={v}" for k, v in options.items())
    return f"dingtalk://{token}?base_url={fake.url}{query}"


def shown(moment: float) -> str:
    """A moment as the command line shows it: this machine's clock time."""
    return time.strftime("%H:%M:%S", time.localtime(moment))


def renewal(quota: Quota) -> str:
    """When ``quota``'s current period ends, as the library writes it (month quotas)."""
    end = quota_period(quota, time.time())[1]
    return datetime.fromtimestamp(end, ZoneInfo(quota.timezone)).strftime(
        f"%Y-%m-%d %H:%M {quota.timezone}"
    )


def assert_no_zero_wait(stderr: str) -> None:
    """No line announces a wait of nothing (the old loop's "retrying in 0.0 s")."""
    assert "retrying in 0.0 s" not in stderr
    assert not re.search(r"\b0\.0 s\b", stderr), stderr


# -- the minute budget ----------------------------------------------------------------------


def test_a_wait_for_the_budget_says_what_and_until_when_then_delivers(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot(rate_limit="1/1.5s")
    url = url_for(dingtalk_fake, robot.token, rate_limit="1/1.5s")
    assert invoke("send", "text", "one", "--webhook", url).exit_code == 0
    before = time.time()
    result = invoke("send", "text", "two", "--webhook", url, secrets=[robot.token])
    assert result.exit_code == 0, result.output
    said, sent = result.stderr.splitlines()
    match = re.fullmatch(
        rf"dingwire: the robot waits for its budget \(1/1\.5s\) until ({CLOCK}) "
        r"\((\d+\.\d) s\)",
        said,
    )
    assert match, said
    assert 0 < float(match.group(2)) <= 1.5
    assert match.group(1) in {shown(before + float(match.group(2)) + d) for d in (-1, 0, 1)}
    assert sent == "dingwire: sent"
    assert_no_zero_wait(result.stderr)
    # DingTalk saw the second message a whole window after the first: no 130101.
    first, second = robot.messages()
    assert (first.errcode, second.errcode) == (0, 0)
    assert second.time - first.time >= 1.5


def test_quiet_waits_without_a_word(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    robot = dingtalk_fake.add_robot(rate_limit="1/1s")
    url = url_for(dingtalk_fake, robot.token, rate_limit="1/1s")
    assert invoke("send", "text", "one", "--webhook", url, "-q").exit_code == 0
    result = invoke("send", "text", "two", "--webhook", url, "-q")
    assert (result.exit_code, result.stderr) == (0, "")
    assert [r.errcode for r in robot.messages()] == [0, 0]


def test_a_budget_beyond_max_wait_exits_4_at_once_saying_until_when(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot()
    url = url_for(dingtalk_fake, robot.token, rate_limit="1/60s")
    assert invoke("send", "text", "one", "--webhook", url).exit_code == 0
    started = time.monotonic()
    result = invoke("send", "text", "two", "--webhook", url, "--max-wait", "5")
    assert time.monotonic() - started < 5
    assert result.exit_code == 4
    message, advice = result.stderr.splitlines()
    assert re.fullmatch(
        rf"dingwire: the robot's budget \(1/60s\) is spent until {CLOCK} \(\d+\.\d s\); "
        "nothing was sent",
        message,
    ), message
    assert re.fullmatch(
        r"  → send again after that, or give --max-wait \d+ to wait for it .*", advice
    )
    assert len(robot.messages()) == 1


# -- DingTalk's lockout ----------------------------------------------------------------------


def test_a_lockout_exits_4_at_once_and_is_never_retried(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    # DingTalk lets one message a minute through; dingwire's own budget (20/60s) does not
    # hold the second back, so DingTalk throttles it and locks the robot out for 10 minutes.
    robot = dingtalk_fake.add_robot(rate_limit="1/60s")
    url = url_for(dingtalk_fake, robot.token)
    assert invoke("send", "text", "one", "--webhook", url).exit_code == 0
    started = time.monotonic()
    throttled = invoke("send", "text", "two", "--webhook", url)  # --max-wait 60 < 10 minutes
    assert time.monotonic() - started < 10
    assert throttled.exit_code == 4
    message, advice = throttled.stderr.splitlines()
    assert message.startswith("dingwire: DingTalk refused the message: errcode 130101")
    assert re.search(rf"; locked out by DingTalk until ({CLOCK})$", message), message
    assert advice.startswith("  → DingTalk blocks a robot for 10 minutes")
    assert "--max-wait 600" in advice
    assert [r.errcode for r in robot.messages()] == [0, 130101]  # no retry

    # The next send knows the lockout (the budget store) and sends nothing at all.
    started = time.monotonic()
    locked = invoke("send", "text", "three", "--webhook", url)
    assert time.monotonic() - started < 10
    assert locked.exit_code == 4
    message, advice = locked.stderr.splitlines()
    assert re.fullmatch(
        rf"dingwire: the robot is locked out by DingTalk until {CLOCK} \((\d+) s\); "
        "nothing was sent",
        message,
    ), message
    assert re.fullmatch(r"  → .* give --max-wait \d+ to wait it out", advice), advice
    assert "budget" not in locked.stderr
    assert [r.errcode for r in robot.messages()] == [0, 130101]
    for result in (throttled, locked):
        assert "waits for" not in result.stderr
        assert "retrying" not in result.stderr
        assert_no_zero_wait(result.stderr)


def test_a_lockout_within_max_wait_is_waited_out_and_said(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    # A short lockout (the fake's and the robot's): waiting it out fits in --max-wait.
    robot = dingtalk_fake.add_robot(rate_limit="1/1s", lockout="1s")
    url = url_for(dingtalk_fake, robot.token, lockout="1.5s")
    assert invoke("send", "text", "one", "--webhook", url).exit_code == 0
    result = invoke("send", "text", "two", "--webhook", url, secrets=[robot.token])
    assert result.exit_code == 0, result.output
    assert re.search(
        rf"^dingwire: the robot waits for DingTalk's lockout until {CLOCK} \([01]\.\d s\)$",
        result.stderr,
        re.M,
    ), result.stderr
    assert result.stderr.endswith("dingwire: sent\n")
    assert_no_zero_wait(result.stderr)
    first, throttled, second = robot.messages()
    assert [first.errcode, throttled.errcode, second.errcode] == [0, 130101, 0]
    assert second.time - throttled.time >= 1.5


def test_no_wait_exits_4_on_a_lockout_it_could_have_waited_for(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot(rate_limit="1/1s", lockout="1s")
    url = url_for(dingtalk_fake, robot.token, lockout="30s")
    assert invoke("send", "text", "one", "--webhook", url).exit_code == 0
    assert invoke("send", "text", "two", "--webhook", url, "--no-wait").exit_code == 4
    result = invoke("send", "text", "three", "--webhook", url, "--no-wait")
    assert result.exit_code == 4
    assert "locked out by DingTalk until" in result.stderr
    assert [r.errcode for r in robot.messages()] == [0, 130101]


def test_a_gateway_slow_down_exits_4(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    robot = dingtalk_fake.add_robot()
    robot.inject_fault(Fault.x5(wait=120, count=3))
    result = invoke("send", "text", "x", "--webhook", url_for(dingtalk_fake, robot.token))
    assert result.exit_code == 4
    assert "DingTalk's gateway answered" in result.stderr
    assert "asking to wait 120 s" in result.stderr
    assert len(robot.messages()) == 1


# -- the organisation's quota ----------------------------------------------------------------


def test_dingtalks_90030_exits_4_with_the_quota_line(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot()
    robot.inject_fault(Fault.errcode_reply(90030, "webhook over limit"))
    url = url_for(dingtalk_fake, robot.token)
    refused = invoke("send", "text", "one", "--webhook", url)
    assert refused.exit_code == 4
    message, advice = refused.stderr.splitlines()
    renews = renewal(Quota(1))
    assert message == (
        "dingwire: DingTalk refused the message: errcode 90030: webhook over limit; "
        f"the organisation's quota renews {renews}"
    )
    assert advice.startswith("  → every robot of the organisation 'default' is stopped until")
    # Every later send of the org stops before DingTalk: nothing more reaches it.
    spent = invoke("send", "text", "two", "--webhook", url)
    assert spent.exit_code == 4
    assert spent.stderr.splitlines()[0] == (
        f"dingwire: the organisation 'default' has spent its webhook calls; it renews {renews}, "
        "and nothing was sent"
    )
    assert [r.errcode for r in robot.messages()] == [90030]


def test_a_spent_configured_quota_exits_4_naming_org_quota_and_renewal(
    invoke: Invoke, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    robot = dingtalk_fake.add_robot()
    config = tmp_path / "dingwire.toml"
    config.write_text(
        f'[robots.ops]\nwebhook = "{robot.webhook}"\norg = "acme"\n'
        '[orgs.acme]\nquota = "2/month"\n',
        encoding="utf-8",
    )
    for text in ("one", "two"):
        assert invoke("--config", str(config), "send", "text", text, "-r", "ops").exit_code == 0
    result = invoke("--config", str(config), "send", "text", "three", "-r", "ops")
    assert result.exit_code == 4
    message, advice = result.stderr.splitlines()
    assert message == (
        "dingwire: the organisation 'acme' has spent its quota of 2/month webhook calls; "
        f"it renews {renewal(Quota(2))}, and nothing was sent"
    )
    assert advice.startswith("  → every robot of the organisation 'acme' is stopped until")
    assert [r.text for r in robot.messages()] == ["one", "two"]


# -- exit statuses and advice ----------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        dingwire.RateLimitedError("budget", retry_after=3.0),
        dingwire.RateLimitedError("locked", retry_after=600.0, reason="lockout"),
        dingwire.QuotaExceededError("spent", org="acme", quota="3,000/month"),
        errors.QuotaRefusedError("90030", errcode=90030),
        dingwire.GatewayThrottledError("HTML page", status=200),
        dingwire.ThrottledError("130101", errcode=130101),
    ],
    ids=lambda e: f"{type(e).__name__}-{e.reason}",
)
def test_every_rate_limit_exits_4_with_its_message_and_advice(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, error: errors.RateLimitedError
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(dingwire.Robot, "send", refuse)
    result = invoke("send", "text", "x", "--webhook", "token1234")
    assert result.exit_code == 4
    message, advice = result.stderr.splitlines()
    assert message == f"dingwire: {error.message}"
    assert advice.startswith("  → ")
    assert "max_wait" not in advice


def _library_arguments() -> set[str]:
    """The names a library user writes as ``name=...``: the robot's, its send's, retries'."""
    names = set(inspect.signature(BaseRobot.__init__).parameters)
    names |= set(inspect.signature(dingwire.Robot.send).parameters)
    names |= {f.name for f in dataclasses.fields(RetryPolicy)}
    return names - {"self", "message"}


@pytest.mark.parametrize(
    "cls",
    [
        getattr(errors, name)
        for name in errors.__all__
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), errors.DingwireError)
    ],
    ids=lambda cls: cls.__name__,
)
def test_advice_on_the_command_line_speaks_of_flags_not_arguments(
    cls: type[errors.DingwireError],
) -> None:
    required = {
        name: 12
        for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty
    }
    shown = describe_error(cls("what happened", retry_after=10.0, **required))
    assert "max_wait" not in shown
    for name in _library_arguments():
        assert not re.search(rf"\b{name}=", shown), (name, shown)


@pytest.mark.parametrize(
    ("advice", "flags"),
    [
        ("allow them with max_parts=40", "allow them with --max-parts 40"),
        ("give max_wait=600 to wait", "give --max-wait 600 to wait"),
        ("or send with block=False", "or send with --no-wait"),
        ("set trust_env=False", "set --no-env-proxy"),
        (
            "send it with split=True",
            "send it with splitting (text and markdown split by themselves)",
        ),
    ],
)
def test_advice_written_for_one_error_is_said_in_flags_too(advice: str, flags: str) -> None:
    error = dingwire.ConfigError("what happened", advice=advice)
    assert describe_error(error) == f"what happened\n  → {flags}"
