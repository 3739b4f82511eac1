"""What only the Redis outbox has: a URL with a password that is never shown, bad URLs, Redis
going away and coming back (a Redis of the test's own, killed with ``kill -9``), its
persistence settings, and the ``redis`` package being optional."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dingwire.cli import cli
from dingwire.core.errors import ConfigError
from dingwire.relay.outbox import OutboxUnavailable, open_outbox
from dingwire.relay.outbox.redis import RedisOutbox
from tests.redis_server import RedisServer, free_port

from .conftest import message

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "hunter2-s3cret"


def enqueue(outbox: RedisOutbox, text: str = "disk full", now: float = 100.0) -> str:
    [answer] = outbox.enqueue([message(text=text)], now=now, dedupe_window=300.0)
    return answer.id


# -- the URL ------------------------------------------------------------------------------


def test_open_outbox_routes_redis_urls(redis_url: str) -> None:
    with open_outbox(redis_url) as outbox:  # type: ignore[attr-defined]
        assert isinstance(outbox, RedisOutbox)
        outbox.check()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://127.0.0.1:notaport/0", "not a Redis URL"),
        ("redis:///0", "names no host"),
        ("redis://127.0.0.1:6379/zero", "must be a number"),
        ("unix://", "names no socket"),
    ],
)
def test_a_bad_url_is_a_config_error_naming_the_key(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_outbox(url)
    assert "[relay] queue" in str(caught.value)
    assert says in str(caught.value)


def test_a_bad_url_never_repeats_its_password() -> None:
    for url in (
        f"redis://:{PASSWORD}@127.0.0.1:notaport/0",
        f"redis://user:{PASSWORD}@127.0.0.1:6379/zero",
        f"redis://:{PASSWORD}@127.0.0.1:6379/0?socket_timeout=abc",
    ):
        with pytest.raises(ConfigError) as caught:
            open_outbox(url)
        assert PASSWORD not in str(caught.value)
        assert "**********" in str(caught.value)


def test_the_password_is_never_shown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with RedisServer(tmp_path / "redis", password=PASSWORD) as server:
        good = RedisOutbox(server.url)
        assert PASSWORD not in repr(good)
        assert "**********" in repr(good)
        id = enqueue(good)
        assert good.get(id) is not None
        good.close()
        # a wrong password: unavailable, saying why, without either password
        wrong = RedisOutbox(server.url.replace(PASSWORD, "not-" + PASSWORD))
        with pytest.raises(OutboxUnavailable) as caught:
            enqueue(wrong)
        assert "password" in caught.value.message.lower() or "auth" in caught.value.message
        assert PASSWORD not in caught.value.message
        assert PASSWORD not in str(caught.value)
        wrong.close()
        # dingwire outbox, on the same queue
        result = CliRunner().invoke(cli, ["outbox", "--queue", server.url, "list"])
        assert result.exit_code == 0, result.output
        assert id in result.output
        assert PASSWORD not in result.output
        shown = CliRunner().invoke(cli, ["outbox", "--queue", server.url, "show", id])
        assert shown.exit_code == 0, shown.output
        assert PASSWORD not in shown.output
    # Redis gone: the error, the log line of a new outbox and the CLI show no password
    gone = RedisOutbox(server.url)
    with pytest.raises(OutboxUnavailable) as caught:
        gone.check()
    assert PASSWORD not in caught.value.message
    gone.close()
    result = CliRunner().invoke(cli, ["outbox", "--queue", server.url, "list"])
    assert result.exit_code == 3, result.output
    assert PASSWORD not in result.output
    assert "try again" in result.output
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)
    assert any("503" in r.getMessage() for r in caplog.records)


# -- Redis away and back -------------------------------------------------------------------


def test_redis_killed_is_unavailable_and_back_is_used_again_without_a_restart(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis").start()  # appendonly yes, appendfsync always
    try:
        outbox = RedisOutbox(server.url)
        before = [enqueue(outbox, f"before {i}") for i in range(20)]
        outbox.claim("ops", now=100.0, owner="a", lease=30.0, limit=5)
        server.kill()
        began = time.monotonic()
        for call in (
            lambda: enqueue(outbox, "while away"),
            lambda: outbox.claim("ops", now=101.0, owner="a", lease=30.0, limit=5),
            lambda: outbox.get(before[0]),
            outbox.counts,
            outbox.check,
        ):
            with pytest.raises(OutboxUnavailable) as caught:
                call()
            assert 0 < caught.value.retry_after <= 5
            assert "Redis" in caught.value.message
        assert time.monotonic() - began < 5  # refused at once, not after retries
        server.start()  # the same port and append-only file
        outbox.check()  # the same object: it reconnects by itself
        after = enqueue(outbox, "after")
        # every write that was answered is there (appendfsync always)
        assert all(outbox.get(id) is not None for id in [*before, after])
        counts = outbox.counts()["ops"]
        assert (counts["queued"], counts["sending"]) == (16, 5)
        claimed = outbox.claim("ops", now=200.0, owner="b", lease=30.0, limit=100)
        assert len(claimed) == 21  # the five leases ran out: taken again
        outbox.close()
    finally:
        server.stop()


def test_many_threads_through_a_restart_get_an_answer_or_unavailable(tmp_path: Path) -> None:
    """No call hangs and none is answered without being stored."""
    server = RedisServer(tmp_path / "redis").start()
    outbox = RedisOutbox(server.url)
    stored: list[str] = []
    refused = 0
    lock = threading.Lock()
    stop = threading.Event()

    def work(n: int) -> None:
        nonlocal refused
        i = 0
        while not stop.is_set():
            i += 1
            try:
                id = enqueue(outbox, f"{n}-{i}")
            except OutboxUnavailable:
                with lock:
                    refused += 1
                time.sleep(0.01)
                continue
            with lock:
                stored.append(id)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(stored) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()
        while refused < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.start()
        count = len(stored)
        while len(stored) < count + 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert refused >= 20
        assert len(stored) >= count + 200, "writes did not resume after the restart"
        missing = [id for id in stored if outbox.get(id) is None]
        assert missing == []
    finally:
        stop.set()
        outbox.close()
        server.stop()


def test_redis_down_at_start_is_no_error_until_used(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    outbox = RedisOutbox(f"redis://127.0.0.1:{free_port()}/0")
    assert any("503" in r.getMessage() for r in caplog.records)
    with pytest.raises(OutboxUnavailable):
        outbox.check()
    outbox.close()
    with pytest.raises(OutboxUnavailable) as caught:
        outbox.counts()
    assert "closed" in caught.value.message


# -- persistence ---------------------------------------------------------------------------


def test_settings_that_can_lose_messages_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dingwire.relay.outbox.redis")
    with RedisServer(tmp_path / "always") as server:
        RedisOutbox(server.url).close()
    assert caplog.records == []
    with RedisServer(tmp_path / "everysec", fsync="everysec") as server:
        RedisOutbox(server.url).close()
        [warning] = caplog.records
        assert "appendfsync everysec" in warning.getMessage()
        caplog.clear()
        import redis

        with redis.Redis.from_url(server.url) as client:
            client.config_set("appendonly", "no")
            client.config_set("maxmemory-policy", "allkeys-lru")
        RedisOutbox(server.url).close()
        shown = [r.getMessage() for r in caplog.records]
        assert any("appendonly no" in m for m in shown), shown
        assert any("maxmemory-policy allkeys-lru" in m for m in shown), shown


# -- the redis package is optional ---------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_without_the_redis_package_the_error_says_what_to_install() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['redis'] = None\n"
        "from dingwire.core.errors import ConfigError\n"
        "from dingwire.relay.outbox import open_outbox\n"
        "try:\n"
        "    open_outbox('redis://:pw@127.0.0.1:6379/0')\n"
        "except ConfigError as error:\n"
        "    print(error)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'dingwire[redis]'" in done.stdout
    assert "[relay] queue" in done.stdout


def test_neither_dingwire_nor_the_relays_outbox_imports_redis() -> None:
    done = run_python(
        "import sys\n"
        "import dingwire, dingwire.relay.outbox\n"
        "dingwire.relay.outbox.open_outbox('memory://')\n"
        "print('redis' in sys.modules)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_relays_log_masks_the_queue_password(tmp_path: Path) -> None:
    from dingwire.config import load_config
    from dingwire.relay.logs import config_secrets
    from dingwire.relay.settings import RelaySettings

    path = tmp_path / "dingwire.toml"
    path.write_text(f'[relay]\nqueue = "redis://:{PASSWORD}@127.0.0.1:6379/0"\n', "utf-8")
    config = load_config(path)
    assert PASSWORD in config_secrets(config, RelaySettings.from_config(config))


def test_a_flushed_script_cache_is_loaded_again(tmp_path: Path) -> None:
    """What Redis forgets when it restarts: every script, whatever path calls it (a Redis of
    our own: SCRIPT FLUSH empties the cache of every database)."""
    import redis

    with (
        RedisServer(tmp_path / "redis") as server,
        RedisOutbox(server.url) as outbox,
        redis.Redis.from_url(server.url) as client,
    ):
        first = enqueue(outbox)
        client.script_flush()
        second = enqueue(outbox)  # the writer's pipeline
        client.script_flush()
        claimed = outbox.claim("ops", now=100.0, owner="a", lease=30.0, limit=10)  # a script
        assert [r.id for r in claimed] == [first, second]


def test_submit_enqueue_hands_over_without_waiting(redis_url: str) -> None:
    with RedisOutbox(redis_url) as outbox:
        futures = [
            outbox.submit_enqueue([message(text=f"m{i}")], now=100.0, dedupe_window=300.0)
            for i in range(300)
        ]
        ids = [future.result(timeout=30)[0].id for future in futures]
        assert len(set(ids)) == 300
        assert outbox.counts()["ops"]["queued"] == 300
        # in order of submission: claims come by arrival
        claimed = outbox.claim("ops", now=100.0, owner="a", lease=30.0, limit=300)
        assert [r.id for r in claimed] == ids
        assert outbox.submit_enqueue([], now=1.0, dedupe_window=0.0).result() == []
    with pytest.raises(OutboxUnavailable):
        outbox.submit_enqueue([message()], now=1.0, dedupe_window=0.0)


def test_an_id_already_taken_is_drawn_again_and_nothing_of_the_batch_is_written(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole batch is one script call: an id in use writes nothing of it, the ids in use
    are drawn again, and an id that cannot be drawn free is an answer, not a loop."""
    from dingwire.relay.outbox import redis as redis_module

    with RedisOutbox(redis_url) as outbox:
        first = enqueue(outbox)
        ids = iter([first, "fresh0000000000000001"])
        monkeypatch.setattr(redis_module, "new_id", lambda now: next(ids))
        second = enqueue(outbox, text="second")
        assert second == "fresh0000000000000001"
        record = outbox.get(first)
        assert record is not None
        assert record.message.body["markdown"]["title"] == "disk full"
        monkeypatch.setattr(redis_module, "new_id", lambda now: first)
        with pytest.raises(OutboxUnavailable, match="no free message id"):
            enqueue(outbox, text="third")
        assert outbox.counts()["ops"]["queued"] == 2


def test_an_id_drawn_twice_in_one_batch_is_drawn_again(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two calls of one batch that drew the same id (40 random bits within a millisecond):
    the script finds it as it finds an id in use, and neither overwrites the other."""
    from dingwire.relay.outbox import redis as redis_module

    with RedisOutbox(redis_url) as outbox:
        ids = iter(["same0000000000000001", "same0000000000000001", "fresh000000000000002"])
        monkeypatch.setattr(redis_module, "new_id", lambda now: next(ids))
        jobs = [
            redis_module._Enqueue([message(text=text)], 100.0, 300.0) for text in ("one", "two")
        ]
        outbox._send(jobs)
        answers = [job.future.result(timeout=10) for job in jobs]
        stored = [answer[0].id for answer in answers]
        assert stored == ["same0000000000000001", "fresh000000000000002"]
        titles = []
        for id in stored:
            record = outbox.get(id)
            assert record is not None
            titles.append(record.message.body["markdown"]["title"])
        assert titles == ["one", "two"]
