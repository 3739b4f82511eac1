"""The relay's log lines: text or JSON, and no secret in either, wherever it hides."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from dingwire.relay.logs import config_secrets, configure_logging, set_log_format
from dingwire.relay.settings import RelaySettings

from .conftest import SECRET, TOKEN, make_config


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging("text", [TOKEN, SECRET], stream=out)
    yield out
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_dingwire_relay", False):
            root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def test_the_configs_secrets_are_every_token_secret_and_the_auth_token(tmp_path: Path) -> None:
    config = make_config(tmp_path, 'auth_token = "bearer-123456"')
    secrets = config_secrets(config, RelaySettings.from_config(config))
    assert {TOKEN, SECRET, "bearer-123456", "dev-token-abcdefabcdef"} <= secrets


def test_a_text_line_has_time_level_logger_and_message(stream: io.StringIO) -> None:
    logging.getLogger("dingwire.relay.x").warning("sent %d to %s", 3, "ops")
    line = stream.getvalue().strip()
    time, level, logger, message = line.split(" ", 3)
    assert time.endswith("Z")
    assert "T" in time
    assert (level, logger, message) == ("WARNING", "dingwire.relay.x:", "sent 3 to ops")


def test_secrets_are_masked_in_messages_arguments_tracebacks_and_extras(
    stream: io.StringIO,
) -> None:
    log = logging.getLogger("uvicorn.error")  # not only dingwire's own loggers
    log.info("POST https://oapi.dingtalk.com/robot/send?access_token=%s", TOKEN)
    try:
        raise RuntimeError(f"secret {SECRET} in an exception")
    except RuntimeError:
        log.exception("failed with %s", SECRET)
    log.info("with extra", extra={"webhook": f"?access_token={TOKEN}"})
    set_log_format("json")
    log.info("as json", extra={"secret": SECRET})
    text = stream.getvalue()
    assert TOKEN not in text
    assert SECRET not in text
    assert "RuntimeError: secret ********** in an exception" in text
    assert "failed with **********" in text


def test_a_json_line_is_one_object_with_the_extras(stream: io.StringIO) -> None:
    set_log_format("json")
    log = logging.getLogger("dingwire.relay.y")
    log.info("queued %s", "ops", extra={"robot": "ops", "records": 3})
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.error("boom", exc_info=True)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "INFO"
    assert first["logger"] == "dingwire.relay.y"
    assert first["message"] == "queued ops"
    assert first["robot"] == "ops"
    assert first["records"] == 3
    assert first["time"].endswith("Z")
    assert "ZeroDivisionError" in second["exception"]


def test_configuring_again_replaces_the_handler(stream: io.StringIO) -> None:
    other = io.StringIO()
    configure_logging("text", stream=other)
    logging.getLogger("dingwire.relay.z").warning("once")
    assert stream.getvalue() == ""
    assert other.getvalue().count("once") == 1
