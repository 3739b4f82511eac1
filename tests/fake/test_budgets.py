"""The fake counts the way DingTalk counts: at arrival, in a sliding or a fixed window, and
an organisation's calls against its quota (90030 once spent, until the period renews)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

import dingwire
from dingwire.core.budget import Quota, parse_quota, quota_period
from dingwire.core.errors import ConfigError, error_for
from dingwire.core.policy import Rate
from dingwire.fake import FakeServer, Fault, InProcessFake
from dingwire.fake.config import FakeOrg, FakeRobot, FakeSettings, parse_fake_config
from dingwire.fake.engine import FakeDingTalk, robot_label
from tests.fake.conftest import NOW, TOKEN, send, text

SPENT = {"errcode": 90030, "errmsg": "webhook over limit"}
TIMEOUT = 10


def errcode(outcome: Any) -> int:
    data = json.loads(outcome.body)
    assert isinstance(data["errcode"], int)
    return data["errcode"]


def at(iso: str) -> float:
    """Epoch seconds of an ISO time with its offset: '2026-01-31T23:59:59+08:00'."""
    return datetime.fromisoformat(iso).timestamp()


# -- window models ------------------------------------------------------------------------

BASE = 1_700_000_000.0  # a multiple of 10: fixed 10 s windows start at BASE, BASE + 10, ...
assert BASE % 10 == 0

# (seconds after BASE, sliding answer, fixed answer) for Rate(2, 10) and no lockout, in
# order: two at the end of one calendar window, then more at the start of the next. Refused
# messages do not count.
WINDOW_STEPS = [
    (8.0, 0, 0),
    (9.0, 0, 0),
    (10.0, 130101, 0),  # sliding: 8 and 9 still count; fixed: a new window
    (11.0, 130101, 0),
    (12.0, 130101, 130101),  # fixed: 10 and 11 fill [10, 20)
    (18.5, 0, 130101),  # sliding: 8 has left the window
    (19.99, 0, 130101),  # sliding: 9 has left too
    (20.0, 130101, 0),  # sliding: 18.5 and 19.99; fixed: a new window again
]


@pytest.mark.parametrize("model", ["sliding", "fixed"])
def test_sliding_and_fixed_windows_at_the_boundary(model: str) -> None:
    fake = FakeDingTalk(
        FakeSettings(robots=(FakeRobot(TOKEN, rate_limit=Rate(2, 10), lockout=0),), window=model)  # type: ignore[arg-type]
    )
    column = 1 if model == "sliding" else 2
    seen = [(step[0], errcode(send(fake, now=BASE + step[0]))) for step in WINDOW_STEPS]
    assert seen == [(step[0], step[column]) for step in WINDOW_STEPS]
    # The log holds the arrival times the budget was judged by.
    assert [r.time for r in fake.messages()] == [BASE + step[0] for step in WINDOW_STEPS]


def test_a_robots_window_overrides_the_fakes() -> None:
    robots = (
        FakeRobot("fixed", rate_limit=Rate(1, 10), lockout=0),
        FakeRobot("sliding", rate_limit=Rate(1, 10), lockout=0, window="sliding"),
    )
    fake = FakeDingTalk(FakeSettings(robots=robots, window="fixed"))
    for token, second in (("fixed", 0), ("sliding", 130101)):
        assert errcode(send(fake, query=f"access_token={token}", now=BASE + 9)) == 0
        assert errcode(send(fake, query=f"access_token={token}", now=BASE + 10)) == second


def test_the_lockout_holds_in_both_models() -> None:
    for model in ("sliding", "fixed"):
        fake = FakeDingTalk(
            FakeSettings(robots=(FakeRobot(TOKEN, rate_limit=Rate(1, 10), lockout=600),))
        )
        fake.add_robot(FakeRobot(TOKEN, rate_limit=Rate(1, 10), lockout=600, window=model))  # type: ignore[arg-type]
        assert errcode(send(fake, now=BASE)) == 0
        assert errcode(send(fake, now=BASE + 1)) == 130101
        assert errcode(send(fake, now=BASE + 300)) == 130101  # a new window, still locked
        assert errcode(send(fake, now=BASE + 601)) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"fake": {"window": "calendar"}}, "window must be 'sliding' or 'fixed', got 'calendar'"),
        ({"robots": {"t": {"window": 60}}}, "window must be 'sliding' or 'fixed', got 60"),
        ({"orgs": {"a": {"quota": "lots"}}}, r"\[orgs\.a\]: quota: 'lots' is not a quota"),
        ({"orgs": {"a": {"quota": 3000}}}, "quota: expected a string"),
        ({"orgs": {"a": {"quota": "0/month"}}}, "a limit of at least 1"),
        ({"orgs": {"a": {"quota": "1/month", "timezone": "Mars/Base"}}}, "not a time zone"),
        ({"orgs": {"a": {"timezone": 8}}}, "timezone must be a string"),
        ({"orgs": {"a": {"quotas": "1/month"}}}, "unknown key 'quotas'"),
        ({"orgs": []}, r"\[orgs\] must be a table"),
        ({"robots": {"t": {"org": "nobody"}}}, r"org 'nobody', which has no \[orgs\.nobody\]"),
        ({"robots": {"t": {"org": 5}}}, "org must be a string"),
        ({"robots": {"t": {"org": ""}}}, "org must be the name of an"),
        ({"org": {}}, r"unknown section \[org\] \(known: fake, orgs, robots\)"),
    ],
)
def test_window_and_org_mistakes_are_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_fake_config(data, env={})


def test_window_and_org_keys() -> None:
    settings = parse_fake_config(
        {
            "fake": {"window": "fixed"},
            "orgs": {
                "acme": {"quota": "20/5m"},
                "big": {"quota": "3000/month", "timezone": "UTC"},
                "free": {"quota": "none"},
            },
            "robots": {"tok1": {"org": "acme", "window": "sliding"}, "tok2": {}},
        }
    )
    assert settings.window == "fixed"
    acme, big, free = settings.orgs
    assert acme == FakeOrg("acme", Quota(20, 300.0))
    assert big.quota == parse_quota("3000/month", timezone="UTC")
    assert big.timezone == "UTC"
    assert free.quota is None
    one, two = settings.robots
    assert (one.org, one.window, two.org, two.window) == ("acme", "sliding", None, None)
    assert FakeSettings().window == "sliding"
    # The org's time zone is the one its periods are counted in.
    assert FakeOrg("x", Quota(5, "month", "UTC"), "Asia/Shanghai").quota == Quota(5)


# -- the organisation quota ---------------------------------------------------------------


def org_fake(quota: str, *, timezone: str = "Asia/Shanghai", **robot: Any) -> FakeDingTalk:
    org = FakeOrg("acme", parse_quota(quota, timezone=timezone), timezone)
    return FakeDingTalk(
        FakeSettings(
            orgs=(org,),
            robots=(
                FakeRobot(TOKEN, org="acme", rate_limit=None, **robot),
                FakeRobot("sibling", org="acme", rate_limit=None),
                FakeRobot("outsider", rate_limit=None),
            ),
        )
    )


def test_a_spent_quota_answers_90030_until_the_period_renews() -> None:
    fake = org_fake("3/5m")
    start, end = quota_period(parse_quota("3/5m"), NOW)  # periods aligned to the epoch
    assert (start, end) == (1_699_999_800.0, 1_700_000_100.0)
    for offset in (0.0, 1.0):
        assert errcode(send(fake, now=NOW + offset)) == 0
    assert errcode(send(fake, query="access_token=sibling", now=NOW + 2)) == 0  # shared
    for now in (NOW + 3, end - 0.001):
        spent = send(fake, now=now)
        assert json.loads(spent.body) == SPENT
        assert spent.status == 200
        assert spent.record is not None
        assert not spent.record.ok
    assert errcode(send(fake, query="access_token=sibling", now=NOW + 4)) == 90030
    assert errcode(send(fake, query="access_token=outsider", now=NOW + 4)) == 0  # no org
    assert errcode(send(fake, now=end)) == 0  # the period renewed
    assert [r.text for r in fake.messages() if r.ok].count("hi") == 5
    (org,) = fake.orgs_json(end)
    assert (org["used"], org["left"], org["renews"]) == (1, 2, end + 300)


# Asia/Shanghai is UTC+8 all year: its month turns at 16:00 UTC on the last day.
LAST_SECOND_OF_JANUARY = at("2026-01-31T23:59:59+08:00")  # still January in UTC too
FIRST_SECOND_OF_FEBRUARY = at("2026-02-01T00:00:00+08:00")  # 2026-01-31T16:00Z: January in UTC
assert datetime.fromtimestamp(FIRST_SECOND_OF_FEBRUARY, UTC).month == 1


@pytest.mark.parametrize(
    ("timezone", "now", "answer"),
    [
        ("Asia/Shanghai", LAST_SECOND_OF_JANUARY, 90030),
        ("Asia/Shanghai", FIRST_SECOND_OF_FEBRUARY, 0),  # Shanghai's February
        ("UTC", FIRST_SECOND_OF_FEBRUARY, 90030),  # still January in UTC
        ("UTC", at("2026-02-01T00:00:00+00:00"), 0),
    ],
)
def test_a_monthly_quota_renews_when_the_month_turns_in_its_time_zone(
    timezone: str, now: float, answer: int
) -> None:
    fake = org_fake("2/month", timezone=timezone)
    for day in ("2026-01-01T00:00:00+08:00", "2026-01-15T12:00:00+08:00"):
        assert errcode(send(fake, now=at(day) + 8 * 3600)) == 0  # in January everywhere
    assert errcode(send(fake, now=at("2026-01-31T12:00:00+00:00"))) == 90030
    assert errcode(send(fake, now=now)) == answer


def test_the_renewal_time_is_the_first_of_the_next_month_in_shanghai() -> None:
    fake = org_fake("3000/month")
    send(fake, now=LAST_SECOND_OF_JANUARY)
    (org,) = fake.orgs_json(LAST_SECOND_OF_JANUARY)
    assert org == {
        "name": "acme",
        "quota": "3,000/month",
        "limit": 3000,
        "period": "month",
        "timezone": "Asia/Shanghai",
        "used": 1,
        "left": 2999,
        "period_start": at("2026-01-01T00:00:00+08:00"),
        "renews": FIRST_SECOND_OF_FEBRUARY,
        "robots": [robot_label(FakeRobot(TOKEN)), robot_label(FakeRobot("sibling"))],
    }
    assert fake.orgs_json(FIRST_SECOND_OF_FEBRUARY)[0]["used"] == 0


# What counts: every call that reaches a robot of the org past the token check, whatever
# the answer after it; not what a fault answers in DingTalk's place, not a session message.
COUNTING_CASES: list[tuple[str, dict[str, Any], dict[str, Any], Fault | None, bool]] = [
    # (case, robot settings, request, fault, counted)
    ("delivered", {}, {}, None, True),
    ("keyword refused", {"keywords": ("告警",)}, {}, None, True),
    ("bad JSON", {}, {"raw": b"{"}, None, True),
    ("wrong content type", {}, {"content_type": "text/plain"}, None, True),
    ("disabled robot", {"disabled": True}, {}, None, True),
    ("slow fault", {}, {}, Fault.slow(1), True),
    ("drop, delivered", {}, {}, Fault.drop(deliver=True), True),
    ("latency fault", {}, {}, Fault.latency(0.5), True),
    ("GET", {}, {"method": "GET"}, None, False),
    ("unknown token", {}, {"query": "access_token=nope"}, None, False),
    ("no token", {}, {"query": ""}, None, False),
    ("another robot, no org", {}, {"query": "access_token=outsider"}, None, False),
    ("http fault", {}, {}, Fault.http(503), False),
    ("errcode fault", {}, {}, Fault.busy(), False),
    ("drop fault", {}, {}, Fault.drop(), False),
    ("x5 fault", {}, {}, Fault.x5(), False),
    ("redirect fault", {}, {}, Fault.redirect(), False),
]


@pytest.mark.parametrize(
    ("robot", "request_", "fault", "counted"),
    [case[1:] for case in COUNTING_CASES],
    ids=[case[0] for case in COUNTING_CASES],
)
def test_what_counts_against_the_quota(
    robot: dict[str, Any], request_: dict[str, Any], fault: Fault | None, counted: bool
) -> None:
    fake = org_fake("1/month", **robot)
    if fault is not None:
        fake.inject_fault(fault)
    send(fake, **request_)
    assert fake.org_usage("acme", NOW)[0] == (1 if counted else 0)
    after = send(fake, query="access_token=sibling")
    assert errcode(after) == (90030 if counted else 0)


def test_session_messages_do_not_count() -> None:
    fake = org_fake("1/month")
    session = fake.open_session(TOKEN, now=NOW)
    query = session.path.split("?", 1)[1]
    assert errcode(send(fake, text("reply"), query=query, path="/robot/sendBySession")) == 0
    assert errcode(send(fake)) == 0


def test_the_quota_comes_after_the_method_and_the_token_and_before_everything_else() -> None:
    fake = org_fake("1/month", disabled=True)
    assert errcode(send(fake)) == 400102  # counted
    assert errcode(send(fake, method="GET")) == 43002
    assert errcode(send(fake, query="access_token=nope")) == 300005
    for request in ({}, {"content_type": "text/plain"}, {"raw": b"x" * 20_001}):
        assert errcode(send(fake, **request)) == 90030  # before disabled, type and size


def test_both_styles_say_webhook_over_limit() -> None:
    for style in ("legacy", "new"):
        org = FakeOrg("acme", parse_quota("1/month"))
        fake = FakeDingTalk(
            FakeSettings(
                orgs=(org,),
                robots=(FakeRobot(TOKEN, org="acme"),),
                errmsg_style=style,  # type: ignore[arg-type]
            )
        )
        send(fake)
        assert json.loads(send(fake).body) == SPENT
    assert isinstance(error_for(90030, "webhook over limit"), dingwire.QuotaExceededError)


def test_reset_and_reset_limits_forget_the_count() -> None:
    fake = org_fake("1/month")
    send(fake)
    assert errcode(send(fake)) == 90030
    fake.reset_limits(TOKEN)  # one robot: its window and lockout only
    assert errcode(send(fake)) == 90030
    fake.reset_limits()
    assert errcode(send(fake)) == 0
    assert errcode(send(fake)) == 90030
    fake.reset_org("acme")
    assert errcode(send(fake)) == 0
    fake.reset()
    assert fake.org_usage("acme", NOW) == (0, quota_period(parse_quota("1/month"), NOW)[1])
    assert errcode(send(fake)) == 0


def test_orgs_at_run_time() -> None:
    fake = FakeDingTalk()
    with pytest.raises(ConfigError, match="org 'acme' is not configured"):
        fake.add_robot(FakeRobot("t", org="acme"))
    fake.add_org(FakeOrg("acme", parse_quota("1/month")))
    fake.add_robot(FakeRobot("t", org="acme"))
    assert errcode(send(fake, query="access_token=t")) == 0
    assert errcode(send(fake, query="access_token=t")) == 90030
    fake.add_org(FakeOrg("acme", parse_quota("2/month")))  # replaced: counted afresh
    assert errcode(send(fake, query="access_token=t")) == 0
    assert fake.remove_org("acme")
    assert not fake.remove_org("acme")
    for _ in range(3):
        assert errcode(send(fake, query="access_token=t")) == 0  # no org: not counted


def test_an_org_without_a_quota_is_counted_and_never_refused() -> None:
    fake = FakeDingTalk(
        FakeSettings(orgs=(FakeOrg("free"),), robots=(FakeRobot(TOKEN, org="free"),))
    )
    for _ in range(5):
        assert errcode(send(fake)) == 0
    (org,) = fake.orgs_json(NOW)
    assert (org["used"], org["quota"], org["left"]) == (5, None, None)


# -- through the controls, the plugin and the JSON API ------------------------------------


def test_add_org_and_its_handle_in_process() -> None:
    now = [NOW]
    fake = InProcessFake(clock=lambda: now[0])
    acme = fake.add_org("acme", quota="2/5m")
    ops = acme.add_robot(rate_limit=None)
    dev = fake.add_robot(org="acme", window="fixed")
    assert (acme.used, acme.left, acme.renews) == (0, 2, 1_700_000_100.0)
    ops.client().send(dingwire.Text("one"))
    dev.client().send(dingwire.Text("two"))
    assert (acme.used, acme.left) == (2, 0)
    with pytest.raises(dingwire.QuotaExceededError):
        ops.client(retry=dingwire.RetryPolicy(attempts=1)).send(dingwire.Text("three"))
    assert ops.last is not None
    assert (ops.last.errcode, ops.last.errmsg) == (90030, "webhook over limit")
    now[0] = acme.renews
    assert ops.client().send(dingwire.Text("four")).errcode == 0
    assert fake.org("acme").used == 1
    acme.reset()
    assert acme.used == 0
    assert repr(acme) == "OrgHandle('acme', 2/300s)"
    fake.remove_org("acme")
    with pytest.raises(KeyError, match="no organisation 'acme'"):
        fake.org("acme")
    with pytest.raises(ConfigError, match="not configured"):
        fake.add_robot(org="nobody")


def test_add_org_takes_a_quota_and_a_time_zone() -> None:
    fake = InProcessFake()
    assert fake.add_org("a", "3000/month").settings.timezone == "Asia/Shanghai"
    utc = fake.add_org("b", Quota(10, "month", "UTC"))
    assert utc.settings.timezone == "UTC"
    assert fake.add_org("c", "10/month", timezone="Europe/Berlin").quota == Quota(
        10, "month", "Europe/Berlin"
    )
    assert fake.add_org("d").quota is None


def test_the_org_api(dingtalk_fake: FakeServer) -> None:
    url = dingtalk_fake.url
    made = requests.post(
        f"{url}/api/orgs", json={"name": "acme", "quota": "2/month"}, timeout=TIMEOUT
    )
    assert made.status_code == 201
    assert made.json()["org"]["quota"] == "2/month"
    assert made.json()["org"]["used"] == 0
    robot = requests.post(
        f"{url}/api/robots",
        json={"token": "tok-acme", "org": "acme", "window": "fixed", "name": "acme ops"},
        timeout=TIMEOUT,
    )
    assert robot.status_code == 201
    assert (robot.json()["robot"]["org"], robot.json()["robot"]["window"]) == ("acme", "fixed")
    webhook = dingtalk_fake.webhook("tok-acme")
    message = {"msgtype": "text", "text": {"content": "x"}}
    answers = [requests.post(webhook, json=message, timeout=TIMEOUT).json() for _ in range(3)]
    assert answers[2] == SPENT
    assert [a["errcode"] for a in answers[:2]] == [0, 0]
    (org,) = requests.get(f"{url}/api/orgs", timeout=TIMEOUT).json()["orgs"]
    assert org["name"] == "acme"
    assert org["robots"] == ["acme ops"]
    assert (org["limit"], org["used"], org["left"]) == (2, 2, 0)
    assert org["renews"] > time.time() > org["period_start"]
    listed = requests.get(f"{url}/api/robots", timeout=TIMEOUT).json()["robots"]
    assert [r["org"] for r in listed] == ["acme"]
    for bad, error in [
        ({"quota": "1/month"}, '"name"'),
        ({"name": "x", "quota": "lots"}, "not a quota"),
        ({"name": "x", "timezone": "Nowhere/Land"}, "not a time zone"),
        ({"name": "x", "colour": 1}, "unknown key 'colour'"),
        ({"name": ""}, "non-empty"),
    ]:
        answer = requests.post(f"{url}/api/orgs", json=bad, timeout=TIMEOUT)
        assert answer.status_code == 400
        assert error in answer.json()["error"]
    orphan = requests.post(
        f"{url}/api/robots", json={"token": "t2", "org": "nobody"}, timeout=TIMEOUT
    )
    assert orphan.status_code == 400
    assert "not configured" in orphan.json()["error"]
    bad_window = requests.post(
        f"{url}/api/robots", json={"token": "t3", "window": "weekly"}, timeout=TIMEOUT
    )
    assert "window must be 'sliding' or 'fixed'" in bad_window.json()["error"]
    assert requests.delete(f"{url}/api/orgs/acme", timeout=TIMEOUT).json() == {"removed": True}
    assert requests.delete(f"{url}/api/orgs/acme", timeout=TIMEOUT).status_code == 404


def test_the_plugin_fixture_adds_orgs_and_resets_them(dingtalk_fake: FakeServer) -> None:
    acme = dingtalk_fake.add_org("acme", quota="1/month")
    ops = dingtalk_fake.add_robot(org="acme")
    assert ops.client().send(dingwire.Text("one")).errcode == 0
    assert acme.used == 1
    dingtalk_fake.reset_limits()
    assert acme.used == 0
    dingtalk_fake.reset()
    assert dingtalk_fake.fake.orgs() == []
