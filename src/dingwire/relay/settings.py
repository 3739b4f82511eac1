"""The relay's settings: ``[relay]`` of the config file, with its defaults, typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dingwire.config import Config
from dingwire.core.budget import DEFAULT_TIMEZONE
from dingwire.core.messages import At

__all__ = ["DEFAULT_QUEUE", "RelaySettings"]

DEFAULT_QUEUE = "sqlite:///./dingwire-outbox.sqlite3"


@dataclass(frozen=True)
class RelaySettings:
    """Everything ``[relay]`` can say; every field has the documented default.

    ``burst`` is a number of sends, or (a float below 1) a share of each org's quota;
    ``None`` is the default, 5% of the quota and at least 1. ``keep_sent``: how long a sent
    message stays in the outbox (``GET /v1/messages/{id}`` answers for it) before the
    dispatcher purges it; ``0`` keeps every one. ``oncall`` maps a value of the
    ``mention_label`` label to who is mentioned for alerts carrying it. ``template`` is the
    file that replaces the default template for every robot, ``templates`` per robot.
    """

    listen: str = "127.0.0.1:8060"
    queue: str = DEFAULT_QUEUE
    auth_token: str | None = field(default=None, repr=False)
    timezone: str = DEFAULT_TIMEZONE
    dedupe_window: float = 300.0
    max_age: float = 86_400.0
    max_body: int = 16 * 2**20
    lease: float = 30.0
    keep_sent: float = 7 * 86_400.0  # then a sent record is purged; 0: kept for ever
    burst: int | float | None = None
    priority_label: str = "severity"
    priority_order: tuple[str, ...] = ("critical", "warning", "info")
    mention_label: str = "oncall"
    oncall: Mapping[str, At] = field(default_factory=dict)
    template: str | None = None
    templates: Mapping[str, str] = field(default_factory=dict)
    log_format: str = "text"

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> RelaySettings:
        """From the checked ``[relay]`` table (:meth:`Config.relay_settings`)."""
        return cls(**dict(table))

    @classmethod
    def from_config(cls, config: Config) -> RelaySettings:
        """From a loaded config; raises its ``[relay]`` error, if it has one."""
        return cls.from_mapping(config.relay_settings())

    def priority(self, severity: str | None) -> int:
        """The rank of ``severity`` (0 = most urgent); unknown or missing: after all known."""
        if severity is not None:
            lowered = severity.strip().lower()
            for rank, name in enumerate(self.priority_order):
                if name.lower() == lowered:
                    return rank
        return len(self.priority_order)

    def burst_for(self, limit: int) -> int:
        """The pacing burst for an org quota of ``limit`` sends."""
        if self.burst is None:
            return max(1, limit // 20)
        if isinstance(self.burst, float):
            return max(1, int(limit * self.burst))
        return self.burst
