"""Budgets judged where DingTalk judges them: by arrival times in the fake's log.

Real senders (one process, two processes, four threads, separate command-line processes)
send through a real fake on a real port whose robot has a shortened budget, the same at both
ends (5/2s). Each round starts with a request that arrives 150 ms late (a new connection,
TLS, imports), then the rest go over kept-open connections: the case in which counting a
send from its start puts one arrival too many into a window. Nothing here reads the
client's own count: only the fake's records (arrival time, errcode).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dingwire import Robot, Text
from dingwire.fake import FakeServer, Fault, RobotHandle

pytestmark = pytest.mark.slow

RATE = "5/2s"
WINDOW = 2.0
LIMIT = 5
LATE = 0.150
ROUNDS = 2
PER_ROUND = 11  # three windows' worth: 5 + 5 + 1


def most_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max((sum(1 for u in ordered if t <= u < t + window) for t in ordered), default=0)


def judge_at_the_fake(ops: RobotHandle, expected: int) -> None:
    records = ops.messages()
    refused = [(r.errcode, r.errmsg) for r in records if r.errcode != 0]
    assert refused == [], "the fake refused some (130101 = over DingTalk's budget)"
    assert len(records) == expected
    assert most_in_any_window([r.time for r in records], WINDOW) <= LIMIT


def a_robot(dingtalk_fake: FakeServer) -> RobotHandle:
    return dingtalk_fake.add_robot(rate_limit=RATE, lockout="60s")


def test_one_process(dingtalk_fake: FakeServer) -> None:
    ops = a_robot(dingtalk_fake)
    for round_ in range(ROUNDS):
        ops.inject_fault(Fault.latency(LATE))
        with Robot(ops.webhook, rate_limit=RATE) as robot:  # a new connection each round
            for i in range(PER_ROUND):
                robot.send(Text(f"round {round_} message {i}"))
    judge_at_the_fake(ops, ROUNDS * PER_ROUND)


def test_four_threads(dingtalk_fake: FakeServer) -> None:
    ops = a_robot(dingtalk_fake)
    errors: list[BaseException] = []

    def sender(robot: Robot, name: str, count: int) -> None:
        try:
            for i in range(count):
                robot.send(Text(f"{name} {i}"))
        except BaseException as error:  # the assertion below reports it
            errors.append(error)

    for round_ in range(ROUNDS):
        ops.inject_fault(Fault.latency(LATE, count=4))  # each thread's first connection
        with Robot(ops.webhook, rate_limit=RATE) as robot:
            threads = [
                threading.Thread(target=sender, args=(robot, f"r{round_}t{t}", 3)) for t in range(4)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
    assert errors == []
    judge_at_the_fake(ops, ROUNDS * 12)


SENDER = """
import sys
from dingwire import Robot, Text
with Robot(sys.argv[1], rate_limit=sys.argv[2]) as robot:
    for i in range(int(sys.argv[3])):
        robot.send(Text(f"{sys.argv[4]} {i}"))
"""


def run_together(commands: list[list[str]], env: dict[str, str]) -> None:
    processes = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for c in commands
    ]
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()


def test_two_processes(dingtalk_fake: FakeServer) -> None:
    ops = a_robot(dingtalk_fake)
    for round_ in range(ROUNDS):
        ops.inject_fault(Fault.latency(LATE, count=2))  # each process's first request
        run_together(
            [
                [sys.executable, "-c", SENDER, ops.webhook, RATE, "6", f"r{round_}p{p}"]
                for p in range(2)
            ],
            dict(os.environ),
        )
    judge_at_the_fake(ops, ROUNDS * 12)


def dingwire_command() -> list[str]:
    return [str(Path(sys.executable).with_name("dingwire"))]


def test_separate_command_line_processes(dingtalk_fake: FakeServer, tmp_path: Path) -> None:
    # Two lanes of cron-like jobs, each a new `dingwire send` process: every one of them
    # opens a new connection, and one in each round arrives late.
    ops = a_robot(dingtalk_fake)
    lanes = 2
    env = {**os.environ, "DINGWIRE_WEBHOOK": ops.webhook}
    config = tmp_path / "dingwire.toml"
    config.write_text(f'[robots.default]\nwebhook = "{ops.webhook}"\nrate_limit = "{RATE}"\n')
    env["DINGWIRE_CONFIG"] = str(config)
    env.pop("DINGWIRE_WEBHOOK")
    lane = ";".join(
        f'"$0" send text "cron job $1 {i}" --quiet || exit 1' for i in range(PER_ROUND // 2 + 1)
    )
    for round_ in range(ROUNDS):
        ops.inject_fault(Fault.latency(LATE, count=lanes))
        run_together(
            [["sh", "-c", lane, *dingwire_command(), f"r{round_}l{n}"] for n in range(lanes)],
            env,
        )
    judge_at_the_fake(ops, ROUNDS * lanes * (PER_ROUND // 2 + 1))


QUOTA_SENDER = """
import sys
from dingwire import QuotaExceededError, Robot, Text
sent = refused = 0
with Robot(sys.argv[1], rate_limit=None, org="acme", quota=sys.argv[2]) as robot:
    for i in range(int(sys.argv[3])):
        try:
            robot.send(Text(f"{sys.argv[4]} {i}"))
            sent += 1
        except QuotaExceededError as error:
            refused += 1
            assert "renews" in str(error), error
print(sent, refused)
"""


def test_an_org_quota_is_shared_by_processes(dingtalk_fake: FakeServer) -> None:
    # The fake bills the org as DingTalk does and answers 90030 past its quota: none may
    # come back, and exactly the quota is delivered.
    dingtalk_fake.add_org("acme", quota="7/month")
    ops = dingtalk_fake.add_robot(rate_limit=None, org="acme")
    other = dingtalk_fake.add_robot(rate_limit=None, org="acme")
    commands = [
        [sys.executable, "-c", QUOTA_SENDER, robot.webhook, "7/month", "5", f"p{n}"]
        for n, robot in enumerate((ops, other, ops))
    ]
    processes = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in commands
    ]
    outcomes = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err.decode()
        outcomes.append(tuple(int(n) for n in out.split()))
    assert sum(sent for sent, _ in outcomes) == 7
    assert sum(refused for _, refused in outcomes) == 8
    records = ops.messages() + other.messages()
    assert [r.errcode for r in records] == [0] * 7  # never a 90030 from DingTalk
