"""A faithful local stand-in for DingTalk's robot endpoint, with a live preview page.

::

    from dingwire.fake import FakeServer, InProcessFake, Fault

    with FakeServer() as server:                  # a real port on 127.0.0.1
        ops = server.add_robot(secret=True, keywords=["告警"])
        ops.client().send(dingwire.Text("告警: disk full"))
        assert ops.delivered()[-1].text == "告警: disk full"

The behaviour lives in :class:`FakeDingTalk` (plain Python, no I/O); :class:`FakeServer`
serves it over HTTP (Starlette on uvicorn), :class:`InProcessFake` hands requests to it
without a socket. ``dingwire fake`` runs :func:`serve`. Every name here loads on first use,
so importing the package (and the pytest plugin in it) costs nothing. Starlette and uvicorn
come with the ``fake`` extra and are imported only by the server and the app
(``create_app``, ``FakeServer``, ``serve``); without them those names raise an
:class:`ImportError` that ends in ``pip install 'dingwire[fake]'``, and the rest works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dingwire.fake.app import FakeApp, create_app
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

_HOMES = {
    "dingwire.fake.app": ("FakeApp", "create_app"),
    "dingwire.fake.config": (
        "FakeOrg",
        "FakeRobot",
        "FakeSettings",
        "load_fake_config",
        "parse_fake_config",
    ),
    "dingwire.fake.controls": ("FakeControls", "OrgHandle", "RobotHandle"),
    "dingwire.fake.engine": ("FakeDingTalk", "Incoming", "Outcome", "Session"),
    "dingwire.fake.faults": ("Fault",),
    "dingwire.fake.inprocess": ("AsyncInProcessTransport", "InProcessFake", "InProcessTransport"),
    "dingwire.fake.log": ("Record",),
    "dingwire.fake.server": ("DEFAULT_PORT", "FakeServer", "serve"),
}
_LAZY = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    # Every name loads on first use: the pytest plugin, which pytest loads in every project
    # that installed dingwire, costs nothing; the server side (Starlette, uvicorn) loads only
    # when asked for, and says what to install when it is missing.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dingwire.fake' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
