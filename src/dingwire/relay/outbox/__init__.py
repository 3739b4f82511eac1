"""Outbox backends: memory, SQLite (the default), Redis (scale-out); :func:`open_outbox`.

>>> from dingwire.relay.outbox import open_outbox
>>> outbox = open_outbox("memory://")
>>> outbox.counts()
{}
"""

from dingwire.relay.outbox._contract import Outbox, OutboxUnavailable, RobotBacklog
from dingwire.relay.outbox.memory import MemoryOutbox
from dingwire.relay.outbox.sqlite import SqliteOutbox
from dingwire.relay.outbox.url import open_outbox

__all__ = [
    "MemoryOutbox",
    "Outbox",
    "OutboxUnavailable",
    "RobotBacklog",
    "SqliteOutbox",
    "open_outbox",
]
