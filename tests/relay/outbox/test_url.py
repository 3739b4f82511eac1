"""open_outbox: the forms ``[relay] queue`` takes, and a helpful error for the rest."""

from __future__ import annotations

import pytest

from dingwire.core.errors import ConfigError
from dingwire.relay.outbox import MemoryOutbox, OutboxUnavailable, open_outbox
from tests.redis_server import free_port


@pytest.mark.parametrize("url", ["memory://", "memory", " memory:// "])
def test_memory(url: str) -> None:
    outbox = open_outbox(url)
    assert isinstance(outbox, MemoryOutbox)
    outbox.close()


def test_each_memory_outbox_is_its_own() -> None:
    a, b = open_outbox("memory://"), open_outbox("memory://")
    assert a is not b


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:{port}/0", "rediss://127.0.0.1:{port}/1", "unix:///nonexistent"]
)
def test_redis_urls_open_a_redis_outbox(url: str) -> None:
    from dingwire.relay.outbox.redis import RedisOutbox

    # nothing listens there: opening is no error, using it is unavailable
    outbox = open_outbox(url.format(port=free_port()))
    assert isinstance(outbox, RedisOutbox)
    with pytest.raises(OutboxUnavailable):
        outbox.check()
    outbox.close()


@pytest.mark.parametrize(
    "url", ["", "postgres://db/x", "sqlite://relative", "file:///tmp/x", "sqlite:///", "x"]
)
def test_anything_else_names_the_key_and_the_forms(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_outbox(url)
    text = str(caught.value)
    assert "[relay] queue" in text
    assert "memory://" in text
    assert "sqlite:///" in text
    assert "sqlite:////" in text
    assert "redis://" in text


def test_an_error_does_not_repeat_a_password() -> None:
    with pytest.raises(ConfigError) as caught:
        open_outbox("postgres://:hunter2@127.0.0.1:5432/0")
    assert "hunter2" not in str(caught.value)
