"""open_outbox: the forms ``[relay] queue`` takes, and a helpful error for the rest."""

from __future__ import annotations

import pytest

from dingwire.core.errors import ConfigError
from dingwire.relay.outbox import MemoryOutbox, open_outbox


@pytest.mark.parametrize("url", ["memory://", "memory", " memory:// "])
def test_memory(url: str) -> None:
    outbox = open_outbox(url)
    assert isinstance(outbox, MemoryOutbox)
    outbox.close()


def test_each_memory_outbox_is_its_own() -> None:
    a, b = open_outbox("memory://"), open_outbox("memory://")
    assert a is not b


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://host/1"])
def test_redis_is_not_available_yet(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_outbox(url)
    text = str(caught.value)
    assert "[relay] queue" in text
    assert "Redis" in text
    assert "issue 11" in text


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


def test_an_error_does_not_repeat_a_password() -> None:
    with pytest.raises(ConfigError) as caught:
        open_outbox("redis://:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in str(caught.value)
