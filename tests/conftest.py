"""Shared test settings: every test gets its own rate-limit store and no stray config."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.redis_server import MACHINE_REDIS, RedisServer, answers, send_commands, worker_db

# CI explores the same examples on every run, so that a landing never depends on the draw;
# local runs keep drawing new ones (and remember their failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    cache = tmp_path_factory.mktemp("dingwire-cache")
    monkeypatch.setenv("DINGWIRE_CACHE_DIR", str(cache))
    for var in ("DINGWIRE_CONFIG", "DINGWIRE_WEBHOOK", "DINGWIRE_SECRET"):
        monkeypatch.delenv(var, raising=False)
    # Robots honour HTTPS_PROXY & co.: a developer's proxy must not carry the tests' requests.
    for var in [name for name in os.environ if name.lower().endswith("_proxy")]:
        monkeypatch.delenv(var)
    return cache


@pytest.fixture(scope="session")
def _redis_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The machine's Redis on 127.0.0.1:6379 when it answers, else one of our own.

    ``DINGWIRE_TEST_REDIS=own`` always starts one of our own: two test sessions at once on
    one machine would otherwise empty each other's databases.
    """
    if os.environ.get("DINGWIRE_TEST_REDIS") != "own" and answers(*MACHINE_REDIS):
        yield MACHINE_REDIS
        return
    with RedisServer(tmp_path_factory.mktemp("redis"), fsync="everysec") as server:
        yield ("127.0.0.1", server.port)


@pytest.fixture
def redis_url(_redis_address: tuple[str, int]) -> str:
    """``redis://127.0.0.1:PORT/DB``: a real Redis, this worker's database, emptied first.

    See ``tests/redis_server.py``; tests that kill Redis start a ``RedisServer`` of their own.
    """
    host, port = _redis_address
    db = worker_db()
    reply = send_commands(host, port, [f"SELECT {db}", "FLUSHDB"])
    assert reply == b"+OK\r\n+OK\r\n", f"Redis on {host}:{port} answered {reply!r}"
    return f"redis://{host}:{port}/{db}"
