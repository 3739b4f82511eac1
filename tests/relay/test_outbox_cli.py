"""``dingwire outbox``: list, show, retry and purge on the relay's queue, beside a relay."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dingwire.cli import cli
from dingwire.relay.model import DigestLine, Outgoing
from dingwire.relay.outbox import SqliteOutbox

TOKEN = "0123456789abcdef" * 4


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert TOKEN not in result.output
    return result


def message(robot: str, title: str, *, key: str | None = None) -> Outgoing:
    return Outgoing(
        robot=robot,
        body={"msgtype": "markdown", "markdown": {"title": title, "text": f"### {title}"}},
        kind="markdown",
        lines=(DigestLine("firing", title, f"🔥 **FIRING** {title}"),),
        priority=1,
        source="alertmanager",
        dedupe_key=key,
        received=1_764_000_000.0,
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


@pytest.fixture
def config(tmp_path: Path, path: Path) -> Path:
    file = tmp_path / "dingwire.toml"
    file.write_text(
        "[robots.ops]\n"
        f'webhook = "https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"\n'
        "[relay]\n"
        f'queue = "sqlite:///{path}"\n',  # an absolute path: sqlite:////tmp/...
        encoding="utf-8",
    )
    return file


@pytest.fixture
def relay(path: Path) -> Iterator[SqliteOutbox]:
    """The relay's handle on the outbox, open the whole time the commands run."""
    with SqliteOutbox(path) as outbox:
        yield outbox


@pytest.fixture
def ids(relay: SqliteOutbox) -> dict[str, str]:
    """One message in each state but sending: queued, sent, retrying, dead (x2)."""
    names = ["sent", "retrying", "dead", "dead2", "queued"]
    answers = relay.enqueue(
        [message("ops" if n != "dead2" else "dev", f"Alert {n}") for n in names],
        now=1_764_000_000.0,
        dedupe_window=300.0,
    )
    got = dict(zip(names, (a.id for a in answers), strict=True))
    relay.claim("ops", now=1_764_000_001.0, owner="relay", lease=30.0, limit=3)
    relay.claim("dev", now=1_764_000_001.0, owner="relay", lease=30.0, limit=3)
    relay.ack(
        [got["sent"]], now=1_764_000_002.0, reply={"errcode": 0, "errmsg": "ok"}, digest="dg7"
    )
    relay.nack(
        [got["retrying"]],
        owner="relay",
        now=1_764_000_002.0,
        retry_at=1_764_000_060.0,
        error="HTTP 502 from DingTalk",
    )
    relay.kill(
        [got["dead"], got["dead2"]],
        now=1_764_000_003.0,
        error="310000 keywords not in content",
        reply={"errcode": 310000, "errmsg": "keywords not in content"},
    )
    return got


def lines(result: Result) -> list[str]:
    return result.stdout.splitlines()


def ids_listed(result: Result) -> Sequence[str]:
    return [line.split()[0] for line in lines(result)[1:]]


def test_list_shows_the_newest_first(config: Path, ids: dict[str, str]) -> None:
    result = invoke("outbox", "--config", str(config), "list")
    assert result.exit_code == 0, result.output
    head, *rows = lines(result)
    assert head.split() == ["ID", "STATE", "ROBOT", "TRIES", "RECEIVED"]
    assert ids_listed(result) == [ids[n] for n in ["queued", "dead2", "dead", "retrying", "sent"]]
    by_id = {row.split()[0]: row for row in rows}
    assert by_id[ids["dead"]].split()[1:4] == ["dead", "ops", "1"]
    assert "310000 keywords not in content" in by_id[ids["dead"]]
    assert "HTTP 502 from DingTalk" in by_id[ids["retrying"]]
    assert "Alert queued" in by_id[ids["queued"]]


def test_the_global_config_option_works_too(config: Path, ids: dict[str, str]) -> None:
    result = invoke("--config", str(config), "outbox", "list", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert ids_listed(result) == [ids["queued"], ids["dead2"]]


def test_list_filters_by_state_and_robot(config: Path, ids: dict[str, str]) -> None:
    dead = invoke("outbox", "--config", str(config), "list", "--state", "dead")
    assert ids_listed(dead) == [ids["dead2"], ids["dead"]]
    ops_dead = invoke(
        "outbox", "--config", str(config), "list", "--state", "dead", "--robot", "ops"
    )
    assert ids_listed(ops_dead) == [ids["dead"]]
    none = invoke("outbox", "--config", str(config), "list", "--state", "sending")
    assert none.exit_code == 0
    assert lines(none) == ["no messages in state sending"]
    bad = invoke("outbox", "--config", str(config), "list", "--state", "lost")
    assert bad.exit_code == 2


def test_list_json_is_one_object_a_line_without_bodies(config: Path, ids: dict[str, str]) -> None:
    result = invoke("outbox", "--config", str(config), "list", "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in lines(result)]
    assert [r["id"] for r in records] == [
        ids[n] for n in ["queued", "dead2", "dead", "retrying", "sent"]
    ]
    sent = records[-1]
    assert sent["state"] == "sent"
    assert sent["digest"] == "dg7"
    assert sent["reply"] == {"errcode": 0, "errmsg": "ok"}
    assert sent["history"][0]["outcome"] == "sent"
    assert "body" not in sent


def test_show_tells_everything_about_one(config: Path, ids: dict[str, str]) -> None:
    result = invoke("outbox", "--config", str(config), "show", ids["dead"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert f"id:            {ids['dead']}" in text
    assert "state:         dead" in text
    assert "attempts:      1" in text
    assert "error:         310000 keywords not in content" in text
    assert '"errcode": 310000' in text
    assert "attempt:" in text
    assert "dead: 310000 keywords not in content" in text
    assert '"title": "Alert dead"' in text  # the body


def test_show_json(config: Path, ids: dict[str, str]) -> None:
    result = invoke("outbox", "--config", str(config), "show", ids["sent"], "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["body"]["markdown"]["title"] == "Alert sent"
    assert (record["state"], record["digest"], record["digest_size"]) == ("sent", "dg7", 1)


def test_show_an_unknown_id_exits_1(config: Path, ids: dict[str, str]) -> None:
    result = invoke("outbox", "--config", str(config), "show", "nosuchid")
    assert result.exit_code == 1
    assert "no message nosuchid" in result.stderr


def test_retry_one(config: Path, ids: dict[str, str], relay: SqliteOutbox) -> None:
    result = invoke("outbox", "--config", str(config), "retry", ids["dead"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{ids['dead']} queued again"
    record = relay.get(ids["dead"])
    assert record is not None
    assert (record.state, record.failing_since) == ("queued", None)
    # what cannot be retried says why
    sent = invoke("outbox", "--config", str(config), "retry", ids["sent"])
    assert sent.exit_code == 1
    assert "is sent: only dead or retrying messages are retried" in sent.stderr
    unknown = invoke("outbox", "--config", str(config), "retry", "nosuchid")
    assert unknown.exit_code == 1
    assert "no message nosuchid" in unknown.stderr


def test_retry_every_dead(config: Path, ids: dict[str, str], relay: SqliteOutbox) -> None:
    result = invoke("outbox", "--config", str(config), "retry", "--dead")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2 dead messages queued again"
    assert relay.list(state="dead") == []
    again = invoke("outbox", "--config", str(config), "retry", "--dead")
    assert again.stdout.strip() == "0 dead messages queued again"


@pytest.mark.parametrize(
    "args", [["retry"], ["retry", "x", "--dead"], ["purge"], ["purge", "--sent", "soon"]]
)
def test_retry_and_purge_need_to_be_told_what(
    config: Path, ids: dict[str, str], args: list[str], relay: SqliteOutbox
) -> None:
    result = invoke("outbox", "--config", str(config), *args)
    assert result.exit_code == 2
    assert "--dead" in result.output or "--sent" in result.output
    assert len(relay.list(state="dead")) == 2


def test_purge_dead(config: Path, ids: dict[str, str], relay: SqliteOutbox) -> None:
    result = invoke("outbox", "--config", str(config), "purge", "--dead")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2 dead messages deleted"
    assert relay.get(ids["dead"]) is None
    assert {r.state for r in relay.list()} == {"queued", "sent", "retrying"}


def test_purge_old_sent_messages(config: Path, ids: dict[str, str], relay: SqliteOutbox) -> None:
    # sent at 1_764_000_002 (November 2025): more than a day ago, and not more than 100 years
    kept = invoke("outbox", "--config", str(config), "purge", "--sent", "36500d")
    assert kept.exit_code == 0, kept.output
    assert kept.stdout.strip() == "0 sent messages deleted"
    assert relay.get(ids["sent"]) is not None
    result = invoke("outbox", "--config", str(config), "purge", "--sent", "1d", "--dead")
    assert result.exit_code == 0, result.output
    assert lines(result) == ["2 dead messages deleted", "1 sent message deleted"]
    assert relay.get(ids["sent"]) is None
    assert {r.state for r in relay.list()} == {"queued", "retrying"}


def test_queue_overrides_the_config(tmp_path: Path, ids: dict[str, str], path: Path) -> None:
    result = invoke("outbox", "--queue", f"sqlite:///{path}", "list", "--state", "dead")
    assert result.exit_code == 0, result.output
    assert len(ids_listed(result)) == 2


def test_the_default_queue_is_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dingwire.toml").write_text("", encoding="utf-8")
    missing = invoke("outbox", "--config", "dingwire.toml", "list")
    assert missing.exit_code == 2
    assert f"no outbox at {tmp_path / 'dingwire-outbox.sqlite3'}" in missing.stderr
    assert not (tmp_path / "dingwire-outbox.sqlite3").exists()  # nothing created
    with SqliteOutbox(tmp_path / "dingwire-outbox.sqlite3") as relay:
        relay.enqueue([message("ops", "here")], now=1.0, dedupe_window=1.0)
    found = invoke("outbox", "--config", "dingwire.toml", "list", "--json")
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["robot"] == "ops"


@pytest.mark.parametrize(
    ("queue", "said"),
    [
        ("memory://", "inside the relay's process"),
        ("redis:///0", "names no host"),
        ("ftp://x", "[relay] queue"),
    ],
)
def test_queues_there_is_nothing_to_open_of(queue: str, said: str) -> None:
    result = invoke("outbox", "--queue", queue, "list")
    assert result.exit_code == 2
    assert said in result.stderr


def test_a_redis_queue_that_does_not_answer_is_a_network_error() -> None:
    from tests.redis_server import free_port

    result = invoke("outbox", "--queue", f"redis://:pw-1234@127.0.0.1:{free_port()}/0", "list")
    assert result.exit_code == 3
    assert "try again" in result.stderr
    assert "pw-1234" not in result.output + result.stderr


def test_a_bad_relay_table_is_a_config_error(tmp_path: Path) -> None:
    file = tmp_path / "dingwire.toml"
    file.write_text("[relay]\nqueue = 5\n", encoding="utf-8")
    result = invoke("outbox", "--config", str(file), "list")
    assert result.exit_code == 2
    assert "queue" in result.stderr


def test_an_outbox_that_cannot_be_used_exits_3(path: Path) -> None:
    path.write_bytes(b"not a database at all" * 200)
    result = invoke("outbox", "--queue", f"sqlite:///{path}", "list")
    assert result.exit_code == 3
    assert "try again" in result.stderr
