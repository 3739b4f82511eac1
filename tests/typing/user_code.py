"""Code as a user writes it, from the README and the docs: mypy --strict must accept it all.

Checked by ``test_typing.py``, never run (it would post to DingTalk). Keep it the way people
write: lists where the docs write lists, literals where they write literals, no casts.
"""

from __future__ import annotations

import asyncio

import pytest

import dingwire
from dingwire.fake import FakeServer, Fault, InProcessFake


def ten_lines(report_markdown: str) -> None:
    robot = dingwire.Robot(
        "https://oapi.dingtalk.com/robot/send?access_token=…",
        secret="SEC…",  # the robot's 加签 secret
        keywords=["告警"],  # its keywords, if it has any: one is added when missing
    )
    robot.send(dingwire.Text("disk full on db-1", at=dingwire.At(mobiles=["13800000000"])))
    robot.send(dingwire.Markdown("Nightly report", report_markdown), split=True)


def every_kind_of_message(robot: dingwire.Robot, oncall: list[str]) -> list[dingwire.SendResult]:
    buttons = [dingwire.Button("Ack", "https://ops.example.com/ack")]
    buttons.append(dingwire.Button("Runbook", "https://ops.example.com/runbook"))
    items = [
        dingwire.FeedItem(f"incident {n}", f"https://ops.example.com/{n}", "https://ops/p.png")
        for n in range(3)
    ]
    messages: list[dingwire.Message] = [
        dingwire.Text("deploy finished", at=dingwire.At(mobiles=oncall, user_ids=["manager1"])),
        dingwire.Markdown("Nightly", "## all green", at=dingwire.At(all=True)),
        dingwire.Link("Release notes", "v2 is out", "https://example.com/notes"),
        dingwire.Link("With a picture", "x", "https://a/", pic_url="https://a/p.png"),
        dingwire.ActionCard("Alert", "disk full", buttons=buttons, orientation="horizontal"),
        dingwire.ActionCard("One button", "x", buttons=[dingwire.Button("Open", "https://a/")]),
        dingwire.FeedCard(items),
        dingwire.FeedCard([dingwire.FeedItem("one", "https://a/", "https://a/p.png")]),
    ]
    return [robot.send(message) for message in messages]


def a_mention_from_a_set_or_a_tuple(robot: dingwire.Robot, team: set[str]) -> None:
    robot.send(dingwire.Text("standup", at=dingwire.At(mobiles=sorted(team))))
    robot.send(dingwire.Text("standup", at=dingwire.At(mobiles=("13800000000",))))


def messages_are_values() -> None:
    seen = {dingwire.Text("x", at=dingwire.At(mobiles=["1"])), dingwire.Text("x")}
    card = dingwire.ActionCard("t", "x", buttons=[dingwire.Button("a", "https://a/")])
    first: dingwire.Button = card.buttons[0]
    mobiles: list[str] = list(dingwire.At(mobiles=["138"]).mobiles)
    print(len(seen), first.title, mobiles)


def a_raw_dict(robot: dingwire.Robot) -> dingwire.SendResult:
    robot.send({"msgtype": "text", "text": {"content": "hello"}})
    payload = {"msgtype": "markdown", "markdown": {"title": "t", "text": "**bold**"}}
    return robot.send(payload)


def errors_say_what_to_do(robot: dingwire.Robot) -> float | None:
    try:
        robot.send(dingwire.Text("x"), block=False)
    except dingwire.QuotaExceededError as error:
        print(error.org, error.quota, error.renews_at)
    except dingwire.RateLimitedError as error:
        print(error.reason, error.until)
        return error.retry_after
    except dingwire.ApiError as error:
        print(error.errcode, error.errmsg, error.advice)
    except dingwire.DingwireError as error:
        print(error.describe())
    return None


def budgets_and_options() -> dingwire.Robot:
    robot = dingwire.Robot(
        "https://oapi.dingtalk.com/robot/send?access_token=…",
        org="acme",
        quota="3000/month",
        rate_limit="20/60s",
        lockout="600s",
        timeout=5,
        proxy="http://proxy.internal:3128",
        budget_store=dingwire.MemoryBudgetStore(),
        retry=dingwire.RetryPolicy(attempts=5, base=1, cap=10, retry_on_timeout=True),
    )
    state = robot.budget_state()
    print(state.wait, state.reason)
    robot.send(dingwire.Text("x"), max_wait=60)
    dingwire.Robot("https://oapi.dingtalk.com/robot/send?access_token=…", rate_limit=None)
    dingwire.Robot("0123abcd", rate_limit=dingwire.Rate(20, 60), quota=dingwire.Quota(3000))
    return robot


async def the_async_robot(webhook: str, secret: str, lines: list[str]) -> None:
    async with dingwire.AsyncRobot(webhook, secret) as robot:
        await asyncio.gather(*(robot.send(dingwire.Text(line)) for line in lines))
    other = dingwire.AsyncRobot(webhook, keywords=["告警"])
    result = await other.send(dingwire.Markdown("t", "long " * 9000), split=True)
    print(result.parts)
    await other.aclose()


def urls_and_config() -> None:
    with dingwire.Robot.from_url("dingtalk://SECRET@TOKEN") as robot:
        robot.send(dingwire.Text("hi"))
    dingwire.Robot.from_url("dingtalk://SEC…@TOKEN/13800000000?keywords=告警,alert&timeout=3s")
    dingwire.Robot.from_config("ops").close()


def signing_and_content(report: str) -> None:
    sign: str = dingwire.sign("SEC…", 1_700_000_000_000)
    url: str = dingwire.signed_url("https://oapi.dingtalk.com/robot/send?access_token=…", "SEC…", 0)
    for issue in dingwire.lint_markdown(report):
        print(issue)
    text = f"#### Alert: {dingwire.escape_markdown('**DROP TABLE**')}"
    long = dingwire.Markdown(
        "Nightly report",
        dingwire.to_dingtalk_markdown(report) + text,
        at=dingwire.At(mobiles=["13800000000"]),
    )
    # split() of a Markdown is typed list[Message], so docs/content.md's `[p.title for p in
    # parts]` needs a narrowing a user would not expect (content/split.py's overloads).
    parts = [p for p in dingwire.split(long) if isinstance(p, dingwire.Markdown)]
    last_at = parts[-1].at
    print(sign, url, [p.title for p in parts], last_at.mobiles if last_at else ())
    raw_parts = dingwire.split({"msgtype": "text", "text": {"content": "x " * 20_000}})
    print(raw_parts[0]["text"])


def test_alert_reaches_the_group(dingtalk_fake: FakeServer) -> None:
    ops = dingtalk_fake.add_robot(secret=True, keywords=["告警"])
    dingwire.Robot(ops.webhook, ops.secret).send(dingwire.Text("告警: disk full"))
    assert ops.delivered()[-1].text == "告警: disk full"


def the_fake_on_a_real_port() -> None:
    with FakeServer() as server:
        ops = server.add_robot(secret=True)
        ops.client().send(dingwire.Text("hi"))
        ops.inject_fault(Fault.http(503, count=2))
        server.inject_fault(Fault.busy())
        print(server.url, server.messages())


def test_the_quota_runs_out(dingtalk_fake_inprocess: InProcessFake) -> None:
    acme = dingtalk_fake_inprocess.add_org("acme", quota="2/month")
    ops = acme.add_robot()
    ops.client().send(dingwire.Text("one"))
    ops.client().send(dingwire.Text("two"))
    with pytest.raises(dingwire.QuotaExceededError):
        ops.client().send(dingwire.Text("three"))
    last = ops.last
    assert last is not None
    assert (acme.used, acme.left, last.errcode) == (2, 0, 90030)


def test_a_late_arrival_is_logged_late() -> None:
    now = [1_700_000_000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    fake = InProcessFake(clock=lambda: now[0], sleep=sleep)
    ops = fake.add_robot()
    ops.inject_fault(Fault.latency(2.5))
    ops.client().send(dingwire.Text("late"))
