"""What a command needs around a robot's ``send``: its exact requests, and how long parts take.

Rules kept here:

- :func:`preview` is what ``--dry-run`` prints: the requests as the robot itself builds them
  now (its signing, its keyword, its default mentions), so a dry run can never drift from
  a send. Show them masked (:func:`dingwire.core.redact.mask_url`).
- :func:`estimate` says when a message of several parts will be done at the robot's
  minute budget, as the budget store sees it now: ``None`` when every part can go at once.
  It is an estimate at the robot's rate (the parts beyond the free slots need a window for
  every ``limit`` of them), not a promise: other senders share the budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dingwire.core.policy import Rate
    from dingwire.core.protocol import Request
    from dingwire.transport.base import BaseRobot

__all__ = ["Estimate", "estimate", "preview"]


def preview(
    robot: BaseRobot, bodies: Sequence[bytes], *, timestamp_ms: int | None = None
) -> list[Request]:
    """The requests ``robot`` would send for ``bodies`` (from ``robot.bodies(...)``) now."""
    if timestamp_ms is None:
        timestamp_ms = round(time.time() * 1000)
    # The robot's own request builder: the one place a webhook is signed.
    return [robot._request(body, timestamp_ms) for body in bodies]


@dataclass(frozen=True, slots=True)
class Estimate:
    """``parts`` parts at ``rate``: done by about ``done_by`` (epoch seconds)."""

    parts: int
    rate: Rate
    done_by: float


def estimate(robot: BaseRobot, parts: int, *, now: float | None = None) -> Estimate | None:
    """When ``parts`` messages through ``robot`` will be done, if its budget makes them wait.

    ``None`` when they can all go now, or when the robot has no minute budget.
    """
    rate = robot.rate
    if rate is None or parts < 1:
        return None
    moment = time.time() if now is None else now
    verdict = robot.budget_state(moment)
    if verdict.go and parts <= verdict.free:
        return None
    if verdict.reason in ("lockout", "quota"):
        # Nothing goes before it ends; then a whole window is free.
        start, free = verdict.until, rate.limit
    else:
        start, free = moment, verdict.free
    waiting = max(0, parts - free)
    return Estimate(parts, rate, start + math.ceil(waiting / rate.limit) * rate.window)
