"""``--robot a --robot b``: the message goes to each; the exit status is the worst of theirs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dingwire.cli._app import worst_status
from dingwire.fake.server import FakeServer

from .conftest import Invoke


@pytest.fixture
def config(dingtalk_fake: FakeServer, tmp_path: Path, refusing_url: str) -> tuple[Path, list[str]]:
    """ops and ci deliver; wrong has the wrong secret (1); down is unreachable (3);
    slow has a spent budget (4)."""
    ops = dingtalk_fake.add_robot(secret=True, keywords=["告警"])
    ci = dingtalk_fake.add_robot()
    wrong = dingtalk_fake.add_robot(secret=True)
    slow = dingtalk_fake.add_robot()
    path = tmp_path / "dingwire.toml"
    path.write_text(
        f'[robots.ops]\nwebhook = "{ops.webhook}"\nsecret = "{ops.secret}"\nkeywords = ["告警"]\n'
        f'[robots.ci]\nwebhook = "{ci.webhook}"\n'
        f'[robots.wrong]\nwebhook = "{wrong.webhook}"\nsecret = "SEC{"0" * 64}"\n'
        f'[robots.down]\nwebhook = "{refusing_url}"\n'
        f'[robots.slow]\nwebhook = "{slow.webhook}"\nrate_limit = "1/60s"\n',
        encoding="utf-8",
    )
    secrets = [h.token for h in (ops, ci, wrong, slow)] + [ops.secret, wrong.secret]
    return path, [s for s in secrets if s]


def robots(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--robot", name)]


def test_the_message_goes_to_each_robot(
    invoke: Invoke, dingtalk_fake: FakeServer, config: tuple[Path, list[str]]
) -> None:
    path, secrets = config
    result = invoke(
        "--config", str(path), "send", "text", "disk full", *robots("ops", "ci"), secrets=secrets
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == "dingwire: sent to ops\ndingwire: sent to ci\n"
    assert [r.text for r in dingtalk_fake.delivered()] == ["【告警】 disk full", "disk full"]


def test_a_name_given_twice_gets_the_message_once(
    invoke: Invoke, dingtalk_fake: FakeServer, config: tuple[Path, list[str]]
) -> None:
    path, secrets = config
    result = invoke("--config", str(path), "send", "text", "x", "-r", "ci", "-r", "ci")
    assert result.exit_code == 0, result.output
    assert len(dingtalk_fake.delivered()) == 1
    assert secrets


def test_one_robot_failing_does_not_stop_the_others_and_is_named(
    invoke: Invoke, dingtalk_fake: FakeServer, config: tuple[Path, list[str]]
) -> None:
    path, secrets = config
    result = invoke(
        "--config", str(path), "send", "text", "x", *robots("wrong", "ci"), secrets=secrets
    )
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        "dingwire: robot wrong: DingTalk refused the message: errcode 310000"
    )
    assert lines[1].startswith("  → the signature does not match")
    assert lines[2] == "dingwire: sent to ci"
    assert lines[3] == "dingwire: sent to 1 of 2 robots; failed: wrong (exit 1)"
    assert [r.text for r in dingtalk_fake.delivered()] == ["x"]


@pytest.mark.parametrize(
    ("names", "status"),
    [
        (("ops", "slow"), 4),  # slow is spent: 4
        (("slow", "down"), 3),  # the network (3) outranks a budget (4)
        (("down", "wrong", "slow"), 1),  # a refusal (1) outranks both
        (("ci", "ops"), 0),
    ],
)
def test_the_exit_status_is_the_worst(
    invoke: Invoke,
    dingtalk_fake: FakeServer,
    config: tuple[Path, list[str]],
    names: tuple[str, ...],
    status: int,
) -> None:
    path, secrets = config
    # Spend slow's budget first (one a minute), so that the next send exits 4 at once.
    assert invoke("--config", str(path), "send", "text", "first", "-r", "slow").exit_code == 0
    result = invoke(
        "--config", str(path), "send", "text", "x", "--no-wait", *robots(*names), secrets=secrets
    )
    assert result.exit_code == status, result.output
    for name in names:
        if name in ("ops", "ci"):
            assert f"dingwire: sent to {name}\n" in result.stderr
        else:
            assert f"dingwire: robot {name}: " in result.stderr
    if status:
        assert result.stderr.splitlines()[-1].startswith(
            f"dingwire: sent to {sum(n in ('ops', 'ci') for n in names)} of {len(names)} robots"
        )


def test_a_robot_that_cannot_be_used_sends_nothing_to_any(
    invoke: Invoke, dingtalk_fake: FakeServer, config: tuple[Path, list[str]]
) -> None:
    path, secrets = config
    result = invoke(
        "--config", str(path), "send", "text", "x", *robots("ci", "nope", "ops"), secrets=secrets
    )
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("dingwire: robot nope: no robot named 'nope'")
    assert (
        lines[-1] == "dingwire: 1 of 3 robots cannot be used (see above); nothing was sent to any"
    )
    assert dingtalk_fake.messages() == []


def test_a_message_one_robot_cannot_take_sends_nothing_to_any(
    invoke: Invoke, dingtalk_fake: FakeServer, config: tuple[Path, list[str]]
) -> None:
    path, secrets = config
    # Fits alone; with ops's keyword tag it is over 20,000 bytes, and a link is not split.
    text = "x" * (20_000 - 100)
    result = invoke(
        "--config", str(path), "send", "link", "--title", "t", "--text", text,
        "--url", "https://e.com", *robots("ci", "ops"), secrets=secrets,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "dingwire: robot ops: " in result.stderr
    assert "robot ci" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "dingwire: the message cannot go to 1 of 2 robots (see above); nothing was sent to any"
    )
    assert dingtalk_fake.messages() == []


def test_dry_run_prints_each_robots_request(
    invoke: Invoke, dingtalk_fake: FakeServer, config: tuple[Path, list[str]]
) -> None:
    path, secrets = config
    result = invoke(
        "--config", str(path), "send", "text", "disk full", "--dry-run", *robots("ops", "ci"),
        secrets=secrets,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ops_url, ops_body, ci_url, ci_body = result.stdout.splitlines()
    assert ops_url.startswith("POST ")
    assert ops_url.endswith("&sign=**********")
    assert json.loads(ops_body)["text"]["content"] == "【告警】 disk full"
    assert ci_url.startswith("POST ")
    assert "sign=" not in ci_url
    assert json.loads(ci_body)["text"]["content"] == "disk full"
    assert result.stderr == "dingwire: dry run: nothing sent (ops: 1 message; ci: 1 message)\n"
    assert dingtalk_fake.messages() == []


def test_run_reports_to_each_robot(
    invoke: Invoke, dingtalk_fake: FakeServer, config: tuple[Path, list[str]]
) -> None:
    path, secrets = config
    code = "import sys; print('done'); sys.exit(4)"
    result = invoke(
        "--config", str(path), "run", *robots("ops", "wrong", "ci"), "--", sys.executable, "-c",
        code, secrets=secrets,
    )  # fmt: skip
    assert result.exit_code == 4  # the command's status, whatever the reports did
    assert "dingwire: reported to ops\n" in result.stderr
    assert "dingwire: reported to ci\n" in result.stderr
    assert "dingwire: robot wrong: DingTalk refused the message" in result.stderr
    titles = [r.title for r in dingtalk_fake.delivered()]
    assert len(titles) == 2
    assert all(t and "failed (exit 4)" in t for t in titles)


@pytest.mark.parametrize(
    ("statuses", "worst"),
    [
        ([], 0),
        ([0, 0], 0),
        ([0, 4], 4),
        ([4, 3], 3),
        ([3, 1], 1),
        ([1, 2], 2),
        ([2, 4, 0, 3, 1], 2),
        ([2, 70], 70),
        ([0, 99], 99),  # a status it does not know is never hidden
    ],
)
def test_worst_status(statuses: list[int], worst: int) -> None:
    assert worst_status(statuses) == worst
