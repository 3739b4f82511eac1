"""``dingwire.integrations.sending``: a dry run's requests, and when many parts are done."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

import dingwire
from dingwire.core.policy import Rate
from dingwire.integrations.sending import Estimate, estimate, preview
from dingwire.transport.base import robot_key

WEBHOOK = "http://127.0.0.1:9/robot/send?access_token=sendingtoken"
SECRET = "SECb90923e19e58b466481e9e7b7a5b4f108a4531abde590ad3967fb29f0eae5c68"


def make(**options: object) -> dingwire.Robot:
    return dingwire.Robot(WEBHOOK, budget_store=dingwire.MemoryBudgetStore(), **options)  # type: ignore[arg-type]


def test_preview_is_the_robots_own_signed_request() -> None:
    robot = make(secret=SECRET)
    [request] = preview(robot, robot.bodies(dingwire.Text("hi")), timestamp_ms=1582163555000)
    query = parse_qs(urlsplit(request.url).query)
    assert query["timestamp"] == ["1582163555000"]
    assert query["sign"] == [dingwire.sign(SECRET, 1582163555000)]
    assert request.body == b'{"msgtype":"text","text":{"content":"hi"}}'
    assert request == robot.request(dingwire.Text("hi"), 1582163555000)


def test_preview_of_an_unsigned_robot_has_no_sign() -> None:
    robot = make()
    [request] = preview(robot, [b"{}"])
    assert request.url == WEBHOOK


def test_no_estimate_when_every_part_can_go_now() -> None:
    robot = make(rate_limit="5/60s")
    assert estimate(robot, 5, now=1000.0) is None
    assert estimate(make(rate_limit=None), 500, now=1000.0) is None


def test_the_parts_beyond_the_free_slots_take_a_window_per_limit() -> None:
    robot = make(rate_limit="2/60s")
    assert estimate(robot, 3, now=1000.0) == Estimate(3, Rate(2, 60.0), 1060.0)
    assert estimate(robot, 5, now=1000.0) == Estimate(5, Rate(2, 60.0), 1120.0)


def test_a_spent_budget_counts_its_slots() -> None:
    robot = make(rate_limit="2/60s")
    robot.budget_store.reserve(robot_key(robot.webhook), robot.budget, 1000.0, hold=1.0)
    guess = estimate(robot, 2, now=1000.5)
    assert guess is not None
    assert guess.done_by == pytest.approx(1060.5)


def test_a_lockout_starts_the_count_when_it_ends() -> None:
    robot = make(rate_limit="2/60s")
    robot.budget_store.lock_out(robot_key(robot.webhook), 1600.0)
    assert estimate(robot, 2, now=1000.0) == Estimate(2, Rate(2, 60.0), 1600.0)
    assert estimate(robot, 3, now=1000.0) == Estimate(3, Rate(2, 60.0), 1660.0)
