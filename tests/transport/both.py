"""Send one message with either robot, so that a test can run the same case against both."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from dingwire import AsyncRobot, Robot, SendResult, Text

Send = Callable[..., SendResult]


def sync_send(
    webhook: str, message: Text, *, split: bool = False, max_parts: int = 10, **options: Any
) -> SendResult:
    """``Robot(webhook, **options).send(message, split=..., max_parts=...)``, then closed."""
    with Robot(webhook, **options) as robot:
        return robot.send(message, split=split, max_parts=max_parts)


def async_send(
    webhook: str, message: Text, *, split: bool = False, max_parts: int = 10, **options: Any
) -> SendResult:
    """The same with an ``AsyncRobot`` in ``asyncio.run``."""

    async def main() -> SendResult:
        async with AsyncRobot(webhook, **options) as robot:
            return await robot.send(message, split=split, max_parts=max_parts)

    return asyncio.run(main())


ROBOTS = [pytest.param(sync_send, id="Robot"), pytest.param(async_send, id="AsyncRobot")]
CLASSES = [pytest.param(Robot, id="Robot"), pytest.param(AsyncRobot, id="AsyncRobot")]
