"""Outbox backends: memory, SQLite (the default), Redis (scale-out); :func:`open_outbox`."""

from dingwire.relay.outbox._contract import Outbox, OutboxUnavailable, RobotBacklog

__all__ = ["Outbox", "OutboxUnavailable", "RobotBacklog"]
