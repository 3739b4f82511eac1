"""The robots the fake knows: the configured ones, or (with none configured) each token seen.

Rules kept here:

- A robot is shown everywhere by its configured name or its masked token
  (:func:`robot_label`), and identified by a hash of its token (:func:`robot_id`): neither
  reveals the token.
- With robots configured, only their tokens exist. With none, every non-empty token is a
  robot of DingTalk's defaults, remembered (at most 10,000, the oldest forgotten first) so
  that each still gets DingTalk's rate limit.
- The IP allow-list is IPv4 only, as DingTalk's is: an IPv4-mapped IPv6 address counts as
  its IPv4 address, any other IPv6 address is not on the list.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from dingwire.core.redact import mask_token
from dingwire.fake.budgets import RobotBudget
from dingwire.fake.config import FakeRobot

__all__ = ["RobotState", "Robots", "robot_id", "robot_label"]

_MAX_IMPLICIT_ROBOTS = 10_000  # tokens remembered when no robots are configured


def robot_id(token: str) -> str:
    """A stable, public id for the robot with ``token`` (a hash: it reveals nothing)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def robot_label(robot: FakeRobot) -> str:
    """How the page and the log name a robot: its name, else its masked token."""
    if robot.name:
        return robot.name
    if len(robot.token) > 8:
        return mask_token(robot.token)
    return f"robot {robot_id(robot.token)[:6]}"


class RobotState:
    """One robot's settings and what the fake remembers about it."""

    __slots__ = ("budget", "configured", "id", "label", "networks", "robot")

    def __init__(self, robot: FakeRobot, *, configured: bool) -> None:
        self.robot = robot
        self.configured = configured
        self.id = robot_id(robot.token)
        self.label = robot_label(robot)
        self.networks = [ipaddress.IPv4Network(ip, strict=False) for ip in robot.ips]
        self.budget = RobotBudget()

    def ip_allowed(self, client_ip: str | None) -> bool:
        """Whether ``client_ip`` is on the robot's allow-list."""
        try:
            address = ipaddress.ip_address(client_ip or "")
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is None:
                return False  # DingTalk has no IPv6 allow-list
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def to_json(self) -> dict[str, Any]:
        """The robot as the robot API and the page show it: masked token, no secret."""
        return {
            "id": self.id,
            "label": self.label,
            "token": mask_token(self.robot.token),
            "configured": self.configured,
            "locked_until": self.budget.locked_until or None,
            **self.robot.to_json(),
        }


class Robots:
    """The configured robots by token, and the tokens seen while none are configured."""

    def __init__(self) -> None:
        self._configured: dict[str, RobotState] = {}
        self._implicit: dict[str, RobotState] = {}

    def clear(self) -> None:
        """Forget every robot and what was remembered about it."""
        self._configured = {}
        self._implicit = {}

    def add(self, robot: FakeRobot) -> None:
        """Configure ``robot``, replacing one with the same token (and its state)."""
        self._configured[robot.token] = RobotState(robot, configured=True)

    def remove(self, token: str) -> bool:
        """Forget the configured robot with ``token``; whether there was one."""
        return self._configured.pop(token, None) is not None

    def configured(self) -> list[RobotState]:
        """The configured robots, in the order they were added."""
        return list(self._configured.values())

    def everyone(self) -> list[RobotState]:
        """Every robot the fake knows: configured, then seen."""
        return [*self._configured.values(), *self._implicit.values()]

    def get(self, token: str) -> RobotState | None:
        """The configured robot with ``token``, if any."""
        return self._configured.get(token)

    def lookup(self, token: str) -> RobotState | None:
        """The robot a request with ``token`` reaches: a configured one, or (with none
        configured) the one of that token, remembered from now on; ``None`` for no token or
        an unknown one."""
        if not token:
            return None
        if self._configured:
            return self._configured.get(token)
        state = self._implicit.get(token)
        if state is None:
            if len(self._implicit) >= _MAX_IMPLICIT_ROBOTS:
                del self._implicit[next(iter(self._implicit))]
            state = RobotState(FakeRobot(token), configured=False)
            self._implicit[token] = state
        return state
