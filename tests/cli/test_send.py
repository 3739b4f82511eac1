"""``dingwire send``: every message type against the fake, and every exit status."""

from __future__ import annotations

import inspect
import json
import re
import time
from pathlib import Path

import pytest

import dingwire
from dingwire.cli._delivery import DEFAULT_MAX_PARTS
from dingwire.fake.faults import Fault
from dingwire.fake.server import FakeServer

from .conftest import Invoke


def robot_args(fake: FakeServer, **options: object) -> tuple[list[str], list[str | None]]:
    """A robot on the fake: the CLI arguments for it, and the secrets that must not leak."""
    robot = fake.add_robot(**options)  # type: ignore[arg-type]
    args = ["--webhook", robot.webhook]
    if robot.secret:
        args += ["--secret", robot.secret]
    return args, [robot.token, robot.secret]


# -- every message type -------------------------------------------------------------------


def test_text_is_delivered_signed(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, secrets = robot_args(dingtalk_fake, secret=True)
    result = invoke("send", "text", "deploy finished", *args, secrets=secrets)
    assert result.exit_code == 0, result.output
    assert result.stderr == "dingwire: sent\n"
    assert result.stdout == ""
    [record] = dingtalk_fake.delivered()
    assert record.payload == {"msgtype": "text", "text": {"content": "deploy finished"}}


def test_text_from_stdin_and_from_a_file(
    invoke: Invoke, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    args, secrets = robot_args(dingtalk_fake)
    assert invoke("send", "text", "-", *args, input="磁盘满了\n", secrets=secrets).exit_code == 0
    note = tmp_path / "note.txt"
    note.write_text("from a file\n\n", encoding="utf-8")
    assert invoke("send", "text", "--file", str(note), *args, secrets=secrets).exit_code == 0
    assert [r.text for r in dingtalk_fake.delivered()] == ["磁盘满了", "from a file"]


def test_mentions_notify(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    result = invoke(
        "send", "text", "disk full", "--at", "13800000000", "--at-user", "ops01", "--at-all", *args
    )
    assert result.exit_code == 0, result.output
    [record] = dingtalk_fake.delivered()
    assert record.payload["at"] == {
        "atMobiles": ["13800000000"],
        "atUserIds": ["ops01"],
        "isAtAll": True,
    }
    assert "@13800000000" in record.payload["text"]["content"]
    assert "@ops01" in record.payload["text"]["content"]


def test_markdown(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    text = "#### Deploy\n\n- api: **v2.3**"
    result = invoke("send", "markdown", "--title", "Deploy", text, "--at", "13800000000", *args)
    assert result.exit_code == 0, result.output
    [record] = dingtalk_fake.delivered()
    assert record.payload["markdown"]["title"] == "Deploy"
    assert record.payload["markdown"]["text"].startswith(text)
    assert record.payload["at"]["atMobiles"] == ["13800000000"]


def test_markdown_lint_reports_and_still_sends(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    table = "| a | b |\n|---|---|\n| 1 | 2 |"
    result = invoke("send", "markdown", "--title", "T", table, "--lint", *args)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == (
        "dingwire: lint: line 1: tables are not rendered by DingTalk; --convert turns them "
        "into lists"
    )
    assert len(dingtalk_fake.delivered()) == 1


def test_markdown_lint_after_convert_reports_what_is_left(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    args, _ = robot_args(dingtalk_fake)
    text = "| a | b |\n|---|---|\n| 1 | 2 |\n\n[docs](/relative)"
    result = invoke("send", "markdown", "--title", "T", text, "--convert", "--lint", *args)
    assert result.exit_code == 0, result.output
    lint = [line for line in result.stderr.splitlines() if "lint:" in line]
    assert len(lint) == 1
    assert "absolute URL" in lint[0]


def test_markdown_lint_on_clean_text(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    result = invoke("send", "markdown", "--title", "T", "#### fine", "--lint", "--dry-run", *args)
    assert result.exit_code == 0, result.output
    assert "lint: nothing to report" in result.stderr
    assert dingtalk_fake.messages() == []


def test_markdown_convert_rewrites_for_dingtalk(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    table = "| job | result |\n|---|---|\n| lint | ok |"
    result = invoke("send", "markdown", "--title", "T", table, "--convert", *args)
    assert result.exit_code == 0, result.output
    assert dingtalk_fake.delivered()[0].payload["markdown"]["text"] == "- job: lint  \n  result: ok"


def test_actioncard_convert(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    result = invoke(
        "send",
        "actioncard",
        "--title",
        "T",
        "line one\nline two",
        "--convert",
        "--button",
        "Open",
        "https://e.com",
        *args,
    )
    assert result.exit_code == 0, result.output
    assert dingtalk_fake.delivered()[0].payload["actionCard"]["text"] == "line one  \nline two"


def test_link(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    result = invoke(
        "send",
        "link",
        "--title",
        "Release 2.3",
        "--text",
        "What changed",
        "--url",
        "https://example.com/2.3",
        "--pic",
        "https://example.com/p.png",
        *args,
    )
    assert result.exit_code == 0, result.output
    assert dingtalk_fake.delivered()[0].payload["link"] == {
        "title": "Release 2.3",
        "text": "What changed",
        "messageUrl": "https://example.com/2.3",
        "picUrl": "https://example.com/p.png",
    }


def test_actioncard_with_buttons(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    result = invoke(
        "send",
        "actioncard",
        "--title",
        "Approve?",
        "#### api v2.3 is ready",
        "--button",
        "Approve",
        "https://ci.example.com/a",
        "--button",
        "Reject",
        "https://ci.example.com/r",
        "--horizontal",
        *args,
    )
    assert result.exit_code == 0, result.output
    card = dingtalk_fake.delivered()[0].payload["actionCard"]
    assert card["btnOrientation"] == "1"
    assert card["btns"] == [
        {"title": "Approve", "actionURL": "https://ci.example.com/a"},
        {"title": "Reject", "actionURL": "https://ci.example.com/r"},
    ]


def test_actioncard_with_one_button_from_stdin(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    result = invoke(
        "send",
        "actioncard",
        "--title",
        "Read",
        "-",
        "--button",
        "Open",
        "https://e.com/x",
        "--hide-avatar",
        *args,
        input="#### the text\n",
    )
    assert result.exit_code == 0, result.output
    card = dingtalk_fake.delivered()[0].payload["actionCard"]
    assert card["text"] == "#### the text"
    assert (card["singleTitle"], card["singleURL"], card["hideAvatar"]) == (
        "Open",
        "https://e.com/x",
        "1",
    )


def test_feedcard(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    result = invoke(
        "send",
        "feedcard",
        "--item",
        "One",
        "https://e.com/1",
        "https://e.com/1.png",
        "--item",
        "Two",
        "https://e.com/2",
        "https://e.com/2.png",
        *args,
    )
    assert result.exit_code == 0, result.output
    links = dingtalk_fake.delivered()[0].payload["feedCard"]["links"]
    assert [link["messageURL"] for link in links] == ["https://e.com/1", "https://e.com/2"]


def test_raw_from_a_file_and_stdin(
    invoke: Invoke, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    args, _ = robot_args(dingtalk_fake)
    message = {"msgtype": "markdown", "markdown": {"title": "T", "text": "**raw**"}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(message), encoding="utf-8")
    assert invoke("send", "raw", str(path), *args).exit_code == 0
    assert invoke("send", "raw", "-", *args, input=json.dumps(message)).exit_code == 0
    assert [r.payload for r in dingtalk_fake.delivered()] == [message, message]


# -- splitting ----------------------------------------------------------------------------


def test_long_text_is_split_and_says_how_many_parts(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    args, _ = robot_args(dingtalk_fake, secret=True)
    text = "\n".join(f"line {i}: " + "磁盘" * 40 for i in range(300))  # ~75 kB of JSON
    result = invoke("send", "text", "-", "--at", "13800000000", *args, input=text)
    assert result.exit_code == 0, result.output
    records = dingtalk_fake.delivered()
    assert len(records) >= 4
    assert result.stderr == f"dingwire: sent in {len(records)} parts\n"
    assert all(len(r.text or "") < 20_000 for r in records)
    assert "at" in records[-1].payload
    assert "at" not in records[0].payload


def test_long_markdown_is_split(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    text = "\n\n".join(f"#### part {i}\n\n" + "x" * 900 for i in range(40))
    result = invoke("send", "markdown", "--title", "Long", "-", *args, input=text)
    assert result.exit_code == 0, result.output
    assert len(dingtalk_fake.delivered()) >= 2
    assert "parts" in result.stderr


def test_dry_run_of_a_split_message_prints_every_part(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    args, _ = robot_args(dingtalk_fake)
    result = invoke("send", "text", "-", "--dry-run", *args, input="word " * 9000)
    assert result.exit_code == 0, result.output
    posts = [line for line in result.stdout.splitlines() if line.startswith("POST ")]
    assert len(posts) >= 2
    assert f"({len(posts)} parts)" in result.stderr
    assert dingtalk_fake.messages() == []


def test_a_link_too_large_is_a_usage_error(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    long = "x" * 25_000
    result = invoke("send", "link", "--title", "T", "--text", long, "--url", "https://e.com", *args)
    assert result.exit_code == 2
    assert "20,000" in result.stderr
    assert dingtalk_fake.messages() == []


def test_a_long_action_card_goes_as_markdown_parts_then_the_card(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    args, _ = robot_args(dingtalk_fake)
    text = "\n\n".join(f"paragraph {i}: " + "x" * 900 for i in range(30))
    result = invoke(
        "send", "actioncard", "--title", "T", "-", "--button", "b", "https://e.com", *args,
        input=text,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = dingtalk_fake.delivered()
    assert [r.msgtype for r in records] == ["markdown"] * (len(records) - 1) + ["actionCard"]
    assert result.stderr == f"dingwire: sent in {len(records)} parts\n"


# -- the ceiling on parts -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["text", "markdown", "actioncard"])
def test_more_parts_than_max_parts_is_refused_before_anything_is_sent(
    invoke: Invoke, dingtalk_fake: FakeServer, command: str
) -> None:
    args, _ = robot_args(dingtalk_fake)
    extra = {"text": [], "markdown": ["--title", "T"], "actioncard": ["--title", "T"]}[command]
    buttons = ["--button", "b", "https://e.com"] if command == "actioncard" else []
    text = "\n\n".join(f"paragraph {i}: " + "x" * 900 for i in range(60))  # ~55 kB: 3+ parts
    result = invoke("send", command, *extra, "-", *buttons, "--max-parts", "2", *args, input=text)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    parts = re.search(r"would take (?:about )?(\d+) parts, more than --max-parts 2", line)
    assert parts, line
    assert f"give --max-parts {parts.group(1)} to send them all" in line
    assert "max_parts" not in line
    assert dingtalk_fake.messages() == []
    allowed = invoke(
        "send", command, *extra, "-", *buttons, "--max-parts", parts.group(1), *args, input=text
    )
    assert allowed.exit_code == 0, allowed.output
    assert len(dingtalk_fake.delivered()) == int(parts.group(1))


def test_max_parts_defaults_to_the_librarys_ten(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    assert (
        inspect.signature(dingwire.Robot.send).parameters["max_parts"].default == DEFAULT_MAX_PARTS
    )
    args, _ = robot_args(dingtalk_fake)
    result = invoke("send", "text", "-", *args, input="word " * 60_000)  # ~300 kB
    assert result.exit_code == 2
    assert "more than --max-parts 10 allows" in result.stderr
    assert dingtalk_fake.messages() == []


def test_a_huge_input_is_refused_quickly(
    invoke: Invoke, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    args, _ = robot_args(dingtalk_fake)
    big = tmp_path / "big.log"
    big.write_bytes(b"0123456789 abcdefghij\n" * 2_300_000)  # ~50 MB
    started = time.monotonic()
    result = invoke("send", "text", "--file", str(big), *args)
    assert time.monotonic() - started < 5  # well under a second on an idle machine
    assert result.exit_code == 2
    assert "--max-parts" in result.stderr
    assert dingtalk_fake.messages() == []


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_max_parts_must_be_a_positive_number(invoke: Invoke, value: str) -> None:
    result = invoke("send", "text", "hi", "--max-parts", value, "--webhook", "abcdefgh12345678")
    assert result.exit_code == 2
    assert "--max-parts" in result.stderr


def test_only_commands_that_split_take_max_parts(invoke: Invoke) -> None:
    result = invoke("send", "link", "--title", "t", "--text", "x", "--url", "https://e.com",
                    "--max-parts", "3", "--webhook", "abcdefgh12345678")  # fmt: skip
    assert result.exit_code == 2
    assert "No such option '--max-parts'" in result.stderr


def test_a_long_message_that_must_wait_says_when_it_will_be_done(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot()
    # Two a second: the third part waits for the window, and the estimate says so first.
    url = f"dingtalk://{robot.token}?base_url={dingtalk_fake.url}&rate_limit=2/1s"
    text = "\n\n".join(f"paragraph {i}: " + "x" * 900 for i in range(60))
    result = invoke("send", "text", "-", "--webhook", url, input=text, secrets=[robot.token])
    assert result.exit_code == 0, result.output
    parts = len(robot.delivered())
    assert parts >= 3
    lines = result.stderr.splitlines()
    assert re.fullmatch(
        rf"dingwire: sending {parts} parts at 2/1s: done by about \d\d:\d\d", lines[0]
    ), lines[0]
    assert lines[-1] == f"dingwire: sent in {parts} parts"


def test_a_long_message_that_fits_the_budget_says_no_estimate(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    args, _ = robot_args(dingtalk_fake)
    text = "\n\n".join(f"paragraph {i}: " + "x" * 900 for i in range(30))
    result = invoke("send", "text", "-", *args, input=text)
    assert result.exit_code == 0, result.output
    assert "done by about" not in result.stderr


# -- dry run ------------------------------------------------------------------------------


def test_dry_run_prints_the_exact_body_masks_token_and_sign_and_sends_nothing(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot(secret=True, keywords=["告警"])
    result = invoke(
        "send",
        "text",
        "disk full",
        "--webhook",
        robot.webhook,
        "--secret",
        str(robot.secret),
        "--dry-run",
        secrets=[robot.token, robot.secret],
    )
    assert result.exit_code == 0, result.output
    url, body = result.stdout.splitlines()
    assert url.startswith(f"POST {dingtalk_fake.url}/robot/send?access_token=…{robot.token[-4:]}")
    assert "&timestamp=" in url
    assert url.endswith("&sign=**********")
    assert body == '{"msgtype":"text","text":{"content":"disk full"}}'
    assert result.stderr == "dingwire: dry run: nothing sent (1 message)\n"
    assert dingtalk_fake.messages() == []


def test_dry_run_shows_the_keyword_and_default_mentions_of_a_config_robot(
    invoke: Invoke, tmp_path: Path
) -> None:
    config = tmp_path / "dingwire.toml"
    config.write_text(
        '[robots.ops]\nwebhook = "http://127.0.0.1:9/robot/send?access_token=opstoken1234"\n'
        'keywords = ["告警"]\nmention = { mobiles = ["13800000000"] }\n',
        encoding="utf-8",
    )
    result = invoke("--config", str(config), "send", "text", "disk full", "-r", "ops", "--dry-run")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.splitlines()[1])
    assert payload["text"]["content"].startswith("【告警】 disk full")
    assert payload["at"]["atMobiles"] == ["13800000000"]


# -- robot selection ----------------------------------------------------------------------


def test_no_robot_lists_the_ways(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = invoke("send", "text", "hello")
    assert result.exit_code == 2
    for way in ("--robot NAME", "--webhook URL", "DINGWIRE_WEBHOOK"):
        assert way in result.stderr
    assert "Traceback" not in result.output


def test_environment_robot(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    robot = dingtalk_fake.add_robot(secret=True)
    env = {"DINGWIRE_WEBHOOK": robot.webhook, "DINGWIRE_SECRET": str(robot.secret)}
    result = invoke("send", "text", "from env", env=env, secrets=[robot.token, robot.secret])
    assert result.exit_code == 0, result.output
    assert dingtalk_fake.delivered()[0].text == "from env"


def test_dingtalk_url_robot(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    robot = dingtalk_fake.add_robot(secret=True)
    url = f"dingtalk://{robot.secret}@{robot.token}?base_url={dingtalk_fake.url}"
    result = invoke(
        "send", "text", "via url", "--webhook", url, secrets=[robot.token, robot.secret]
    )
    assert result.exit_code == 0, result.output
    assert dingtalk_fake.delivered()[0].text == "via url"


def test_dingtalk_url_with_another_secret_is_refused(invoke: Invoke) -> None:
    url = "dingtalk://SECone@tok?base_url=http://127.0.0.1:9"
    result = invoke("send", "text", "x", "--webhook", url, "--secret", "SECtwo")
    assert result.exit_code == 2
    assert "carries a secret" in result.stderr


def test_config_robot_with_environment_variables(
    invoke: Invoke, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    robot = dingtalk_fake.add_robot(secret=True, keywords=["告警"])
    config = tmp_path / "dingwire.toml"
    config.write_text(
        "[robots.ops]\n"
        'webhook = "${FAKE_URL}/robot/send?access_token=${OPS_TOKEN}"\n'
        'secret = "${OPS_SECRET}"\n'
        'keywords = ["告警"]\n',
        encoding="utf-8",
    )
    env = {"FAKE_URL": dingtalk_fake.url, "OPS_TOKEN": robot.token, "OPS_SECRET": str(robot.secret)}
    secrets = [robot.token, robot.secret]
    result = invoke(
        "send",
        "text",
        "disk full",
        "--robot",
        "ops",
        "--config",
        str(config),
        env=env,
        secrets=secrets,
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == "dingwire: sent to ops\n"
    assert robot.delivered()[0].text == "【告警】 disk full"


def test_config_robot_default_is_used_when_none_is_named(
    invoke: Invoke, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    robot = dingtalk_fake.add_robot()
    config = tmp_path / "dingwire.toml"
    config.write_text(f'[robots.default]\nwebhook = "{robot.webhook}"\n', encoding="utf-8")
    result = invoke("send", "text", "hi", env={"DINGWIRE_CONFIG": str(config)})
    assert result.exit_code == 0, result.output
    assert len(robot.delivered()) == 1


def test_config_with_an_unset_variable_names_it(invoke: Invoke, tmp_path: Path) -> None:
    config = tmp_path / "dingwire.toml"
    config.write_text('[robots.ops]\nwebhook = "${NOT_SET_ANYWHERE}"\n', encoding="utf-8")
    result = invoke("--config", str(config), "send", "text", "x", "--robot", "ops")
    assert result.exit_code == 2
    assert "${NOT_SET_ANYWHERE} is not set" in result.stderr


def test_unknown_config_robot(invoke: Invoke, tmp_path: Path) -> None:
    config = tmp_path / "dingwire.toml"
    config.write_text('[robots.ops]\nwebhook = "abcdefgh12345678"\n', encoding="utf-8")
    result = invoke("send", "text", "x", "--robot", "nope", "--config", str(config))
    assert result.exit_code == 2
    assert "no robot named 'nope'" in result.stderr
    assert "configured: ops" in result.stderr


def test_robot_and_webhook_together_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("send", "text", "x", "--robot", "ops", "--webhook", "abcdefgh12345678")
    assert result.exit_code == 2
    assert "not both" in result.stderr


def test_robot_wins_over_the_environment(
    invoke: Invoke, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    robot = dingtalk_fake.add_robot()
    config = tmp_path / "dingwire.toml"
    config.write_text(f'[robots.ops]\nwebhook = "{robot.webhook}"\n', encoding="utf-8")
    env = {"DINGWIRE_WEBHOOK": "http://127.0.0.1:9/robot/send?access_token=elsewhere"}
    result = invoke("send", "text", "x", "-r", "ops", "--config", str(config), env=env)
    assert result.exit_code == 0, result.output
    assert len(robot.delivered()) == 1


def test_secret_without_webhook_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("send", "text", "x", "--secret", "SECabc")
    assert result.exit_code == 2
    assert "--secret needs --webhook" in result.stderr


def test_a_bad_webhook_is_a_configuration_error(invoke: Invoke) -> None:
    result = invoke("send", "text", "x", "--webhook", "https://example.com/no-token")
    assert result.exit_code == 2
    assert "has no access_token" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--webhook", "abcdefgh12345678", "--secret", ""], "--secret is empty"),
        (["--webhook", "abcdefgh12345678", "--secret", "  "], "--secret is empty"),
        (["--webhook", ""], "--webhook is empty"),
        (["--webhook", "abcdefgh12345678", "--proxy", ""], "--proxy is empty"),
    ],
)
def test_an_empty_flag_is_an_error(invoke: Invoke, args: list[str], message: str) -> None:
    result = invoke("send", "text", "x", *args, "--dry-run")
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_proxy_sends_through_the_proxy(
    invoke: Invoke, dingtalk_fake: FakeServer, refusing_url: str
) -> None:
    args, secrets = robot_args(dingtalk_fake)
    proxy = refusing_url.split("/robot/")[0]  # nothing listens there
    result = invoke("send", "text", "x", *args, "--proxy", proxy, secrets=secrets)
    assert result.exit_code == 3, result.output  # it went to the proxy, which is not there
    assert dingtalk_fake.messages() == []
    assert invoke("send", "text", "x", *args, secrets=secrets).exit_code == 0


@pytest.mark.parametrize(
    ("variables", "flags", "status"),
    [
        ({"HTTP_PROXY": "{proxy}"}, [], 3),  # the environment's proxy is used
        ({"http_proxy": "{proxy}"}, [], 3),
        ({"HTTP_PROXY": "{proxy}"}, ["--no-env-proxy"], 0),  # unless told not to
        ({"HTTP_PROXY": "{proxy}", "NO_PROXY": "127.0.0.1"}, [], 0),
        ({"HTTP_PROXY": "http://127.0.0.1:9"}, ["--proxy", "{proxy}"], 3),  # --proxy wins
    ],
)
def test_the_environments_proxy_is_honoured(
    invoke: Invoke,
    dingtalk_fake: FakeServer,
    refusing_url: str,
    variables: dict[str, str],
    flags: list[str],
    status: int,
) -> None:
    args, secrets = robot_args(dingtalk_fake)
    proxy = refusing_url.split("/robot/")[0]  # nothing listens there
    env = {k: v.format(proxy=proxy) for k, v in variables.items()}
    flags = [f.format(proxy=proxy) for f in flags]
    result = invoke("send", "text", "x", *args, *flags, env=env, secrets=secrets)
    assert result.exit_code == status, result.output
    assert len(dingtalk_fake.delivered()) == (1 if status == 0 else 0)


def test_a_proxys_password_never_shows(invoke: Invoke, refusing_url: str) -> None:
    port = refusing_url.split(":")[2].split("/")[0]
    result = invoke(
        "send", "text", "x", "--webhook", "abcdefgh12345678", "--proxy",
        f"http://ops:pr0xyPassw0rd@127.0.0.1:{port}", secrets=["pr0xyPassw0rd", "abcdefgh12345678"],
    )  # fmt: skip
    assert result.exit_code in (2, 3)


# -- input errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send", "text"], "give CONTENT as an argument, --file PATH, or - to read stdin"),
        (["send", "text", "a", "--file", "/dev/null"], "not both"),
        (["send", "markdown", "x"], "Missing option '--title'"),
        (["send", "link", "--title", "t", "--text", "x"], "Missing option '--url'"),
        (["send", "actioncard", "--title", "t", "x"], "Missing option '--button'"),
        (["send", "feedcard"], "Missing option '--item'"),
        (["send", "text", "--file", "/no/such/file"], "does not exist"),
        (["send", "raw"], "Missing argument"),
    ],
)
def test_usage_errors(invoke: Invoke, args: list[str], message: str) -> None:
    result = invoke(*args, "--webhook", "abcdefgh12345678")
    assert result.exit_code == 2
    assert message in result.stderr


def test_an_invalid_message_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke(
        "send",
        "link",
        "--title",
        "t",
        "--text",
        "x",
        "--url",
        "ftp://nope",
        "--webhook",
        "abcdefgh12345678",
    )
    assert result.exit_code == 2
    assert "link.messageUrl" in result.stderr


def test_empty_text_is_refused(invoke: Invoke) -> None:
    result = invoke("send", "text", "-", "--webhook", "abcdefgh12345678", input="\n")
    assert result.exit_code == 2
    assert "text.content" in result.stderr


def test_raw_that_is_not_json(invoke: Invoke) -> None:
    result = invoke("send", "raw", "-", "--webhook", "abcdefgh12345678", input='{"msgtype": ')
    assert result.exit_code == 2
    assert result.stderr.startswith("dingwire: stdin: not JSON: ")
    assert "line 1" in result.stderr


TEXT_JSON = '{"msgtype":"text","text":{"content":%s}}'


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, ["nested too deep"]),
        ('{"a":' * 100_000 + "1" + "}" * 100_000, ["nested too deep"]),
        (TEXT_JSON % ("1" * 5000), ["5,000 characters"]),
        (TEXT_JSON % "NaN", ["NaN"]),
        (TEXT_JSON % "-Infinity", ["-Infinity"]),
        (TEXT_JSON % "1e400", ["1e400", "too large"]),
        ('{"msgtype":"text","msgtype":"markdown"}', ["msgtype", "twice"]),
        ("[1, 2]", ["a message is a JSON object"]),
        ('"text"', ["a message is a JSON object"]),
        ("", ["not JSON", "line 1, column 1"]),
    ],
    ids=["deep-arrays", "deep-objects", "5000-digits", "nan", "infinity", "1e400", "twice",
         "array", "string", "empty"],
)  # fmt: skip
def test_raw_json_is_read_strictly_with_one_clear_line(
    invoke: Invoke, data: str, words: list[str]
) -> None:
    result = invoke("send", "raw", "-", "--webhook", "abcdefgh12345678", input=data)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("dingwire: stdin: ")
    for word in words:
        assert word in line
    assert "internal error" not in line


def test_raw_json_from_a_file_names_the_file(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "alert.json"
    path.write_bytes(b'{"msgtype": NaN}')
    result = invoke("send", "raw", str(path), "--webhook", "abcdefgh12345678")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"dingwire: {path}: ")
    assert "NaN" in line


def test_raw_json_that_is_not_utf8_names_the_source(invoke: Invoke) -> None:
    data = '{"msgtype":"text","text":{"content":"磁盘"}}'.encode("gbk")
    result = invoke("send", "raw", "-", "--webhook", "abcdefgh12345678", input=data)
    assert result.exit_code == 2
    assert result.stderr.startswith("dingwire: stdin: not UTF-8")


def test_raw_json_with_a_byte_order_mark_is_read(invoke: Invoke) -> None:
    data = "\ufeff" + TEXT_JSON % '"hello"'
    result = invoke("send", "raw", "-", "--webhook", "abcdefgh12345678", "--dry-run", input=data)
    assert result.exit_code == 0, result.output


def test_raw_with_dingtalks_casing_mistake(invoke: Invoke) -> None:
    message = {
        "msgtype": "link",
        "link": {"title": "t", "text": "x", "messageURL": "https://e.com"},
    }
    result = invoke("send", "raw", "-", "--webhook", "abcdefgh12345678", input=json.dumps(message))
    assert result.exit_code == 2
    assert "link.messageUrl" in result.stderr


def test_text_that_is_not_utf8(invoke: Invoke) -> None:
    result = invoke(
        "send", "text", "-", "--webhook", "abcdefgh12345678", input="磁盘".encode("gbk")
    )
    assert result.exit_code == 2
    assert "not UTF-8" in result.stderr


# -- what DingTalk and the network say ----------------------------------------------------


def test_wrong_secret_exits_1_with_errcode_and_advice(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot(secret=True)
    wrong = "SEC" + "0" * 64
    result = invoke(
        "send",
        "text",
        "x",
        "--webhook",
        robot.webhook,
        "--secret",
        wrong,
        secrets=[robot.token, wrong],
    )
    assert result.exit_code == 1
    first, advice = result.stderr.splitlines()
    assert first.startswith("dingwire: DingTalk refused the message: errcode 310000")
    assert advice.startswith("  → the signature does not match")


def test_missing_keyword_exits_1(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake, keywords=["告警"])
    result = invoke("send", "text", "no keyword here", *args)
    assert result.exit_code == 1
    assert "errcode 310000" in result.stderr
    assert "keywords" in result.stderr


def test_unknown_token_exits_1(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    dingtalk_fake.add_robot()  # with a robot configured, other tokens are unknown
    result = invoke("send", "text", "x", "--webhook", dingtalk_fake.webhook("unknowntoken99"))
    assert result.exit_code == 1
    assert "errcode 300005" in result.stderr


def test_connection_refused_exits_3(invoke: Invoke, refusing_url: str) -> None:
    result = invoke("send", "text", "x", "--webhook", refusing_url, secrets=["refused0token"])
    assert result.exit_code == 3
    assert "could not connect" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("  → ")


def test_a_gateway_error_exits_3(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake)
    dingtalk_fake.inject_fault(Fault.http(502, count=5))
    result = invoke("send", "text", "x", *args)
    assert result.exit_code == 3
    assert "HTTP 502" in result.stderr


def test_spent_budget_with_no_wait_exits_4(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    robot = dingtalk_fake.add_robot()
    url = f"dingtalk://{robot.token}?base_url={dingtalk_fake.url}&rate_limit=1/60s"
    assert invoke("send", "text", "one", "--webhook", url).exit_code == 0
    result = invoke("send", "text", "two", "--webhook", url, "--no-wait")
    assert result.exit_code == 4
    assert "budget" in result.stderr
    assert len(robot.messages()) == 1


def test_spent_budget_beyond_max_wait_exits_4(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    robot = dingtalk_fake.add_robot()
    url = f"dingtalk://{robot.token}?base_url={dingtalk_fake.url}&rate_limit=1/60s"
    assert invoke("send", "text", "one", "--webhook", url).exit_code == 0
    result = invoke("send", "text", "two", "--webhook", url, "--max-wait", "5")
    assert result.exit_code == 4


def test_spent_budget_waits_for_the_next_slot(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    robot = dingtalk_fake.add_robot()
    # One message per 1.5 s: the second send comes well inside the window, so it must wait.
    url = f"dingtalk://{robot.token}?base_url={dingtalk_fake.url}&rate_limit=1/1.5s"
    assert invoke("send", "text", "one", "--webhook", url).exit_code == 0
    result = invoke("send", "text", "two", "--webhook", url)
    assert result.exit_code == 0, result.output
    assert "dingwire: the robot waits for its budget (1/1.5s) until " in result.stderr
    assert [r.text for r in robot.delivered()] == ["one", "two"]


def test_throttled_by_dingtalk_exits_4_at_once(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, _ = robot_args(dingtalk_fake, rate_limit="1/60s")
    assert invoke("send", "text", "one", *args).exit_code == 0
    result = invoke("send", "text", "two", *args)  # waiting allowed, but not 10 minutes
    assert result.exit_code == 4
    assert "errcode 130101" in result.stderr or "errcode 410100" in result.stderr


def test_a_failed_part_says_which(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    # DingTalk lets one message a minute through this robot: part 2 is throttled.
    args, _ = robot_args(dingtalk_fake, rate_limit="1/60s")
    result = invoke("send", "text", "-", "--no-wait", *args, input="word " * 9000)
    assert result.exit_code == 4
    assert "part 2 of " in result.stderr
    assert "1 part(s) before it were delivered" in result.stderr
    assert len(dingtalk_fake.delivered()) == 1


def test_a_timeout_exits_3_and_says_the_message_may_have_arrived(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot()
    dingtalk_fake.inject_fault(Fault("slow", delay=0.5))
    url = f"dingtalk://{robot.token}?base_url={dingtalk_fake.url}&timeout=0.1s"
    result = invoke("send", "text", "x", "--webhook", url, secrets=[robot.token])
    assert result.exit_code == 3
    assert "no reply within 0.1 s" in result.stderr
    assert "may have arrived" in result.stderr


def test_debug_logs_each_request_masked(invoke: Invoke, dingtalk_fake: FakeServer) -> None:
    args, secrets = robot_args(dingtalk_fake, secret=True)
    result = invoke("--debug", "send", "text", "x", *args, secrets=secrets)
    assert result.exit_code == 0, result.output
    assert "dingwire: POST " in result.stderr
    assert "sign=**********" in result.stderr
