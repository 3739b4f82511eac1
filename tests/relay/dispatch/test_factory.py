"""The robots the dispatcher builds from the config: a relay waits while its Redis budget
store is away (``on_store_error = "fail"``) unless the config says otherwise, where a robot
of the library or the command line counts on its machine (``"local"``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dingwire.config import load_config
from dingwire.relay.dispatcher import RELAY_ON_STORE_ERROR, _default_factory
from dingwire.transport.robots import Robot

WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=" + "a" * 64
UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing is asked of it here


def _config(tmp_path: Path, budget: str) -> Path:
    path = tmp_path / "dingwire.toml"
    path.write_text(
        f'[robots.ops]\nwebhook = "{WEBHOOK}"\n\n[budget]\nstore = "{UNREACHABLE}"\n{budget}',
        "utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("budget", "relay", "library"),
    [
        ("", RELAY_ON_STORE_ERROR, "local"),
        ('on_store_error = "local"\n', "local", "local"),
        ('on_store_error = "fail"\n', "fail", "fail"),
    ],
    ids=["unset", "local", "fail"],
)
def test_a_relay_waits_for_its_budget_store_unless_told(
    tmp_path: Path, budget: str, relay: str, library: str
) -> None:
    config = load_config(_config(tmp_path, budget))
    robot = _default_factory(config)("ops")
    try:
        assert robot.budget_store.on_error == relay  # type: ignore[attr-defined]
    finally:
        asyncio.run(robot.aclose())
    plain = config.choice("ops").make(Robot)
    try:
        assert plain.budget_store.on_error == library  # type: ignore[attr-defined]
    finally:
        plain.close()
    assert RELAY_ON_STORE_ERROR == "fail"
