"""A faithful local stand-in for DingTalk's robot endpoint, with a live preview page.

::

    from dingwire.fake import FakeServer, InProcessFake, Fault

    with FakeServer() as server:                  # a real port on 127.0.0.1
        ops = server.add_robot(secret=True, keywords=["告警"])
        ops.client().send(dingwire.Text("告警: disk full"))
        assert ops.delivered()[-1].text == "告警: disk full"

The behaviour lives in :class:`FakeDingTalk` (plain Python, no I/O); :class:`FakeServer`
serves it over HTTP (Starlette on uvicorn), :class:`InProcessFake` hands requests to it
without a socket. ``dingwire fake`` runs :func:`serve`. Starlette and uvicorn are imported
only by the server and the app (``create_app``, ``FakeServer``, ``serve``), so the rest —
and the pytest plugin — import fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dingwire.fake.config import (
    FakeOrg,
    FakeRobot,
    FakeSettings,
    load_fake_config,
    parse_fake_config,
)
from dingwire.fake.controls import FakeControls, OrgHandle, RobotHandle
from dingwire.fake.engine import FakeDingTalk, Incoming, Outcome, Session
from dingwire.fake.faults import Fault
from dingwire.fake.inprocess import AsyncInProcessTransport, InProcessFake, InProcessTransport
from dingwire.fake.log import Record

if TYPE_CHECKING:
    from dingwire.fake.app import FakeApp, create_app
    from dingwire.fake.server import DEFAULT_PORT, FakeServer, serve

__all__ = [
    "DEFAULT_PORT",
    "AsyncInProcessTransport",
    "FakeApp",
    "FakeControls",
    "FakeDingTalk",
    "FakeOrg",
    "FakeRobot",
    "FakeServer",
    "FakeSettings",
    "Fault",
    "InProcessFake",
    "InProcessTransport",
    "Incoming",
    "OrgHandle",
    "Outcome",
    "Record",
    "RobotHandle",
    "Session",
    "create_app",
    "load_fake_config",
    "parse_fake_config",
    "serve",
]

_LAZY = {
    "FakeApp": "dingwire.fake.app",
    "create_app": "dingwire.fake.app",
    "DEFAULT_PORT": "dingwire.fake.server",
    "FakeServer": "dingwire.fake.server",
    "serve": "dingwire.fake.server",
}


def __getattr__(name: str) -> Any:
    # The server side needs Starlette and uvicorn: load them on first use only.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dingwire.fake' has no attribute {name!r}")
