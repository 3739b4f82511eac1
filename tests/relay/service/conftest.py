"""Stubs of the renderer and the dispatcher, a config with robots, and an app built on them.

The app is tested on its own: the renderer stub turns any payload into one text message
(raising the renderer's :class:`PayloadError` where the real one would), the dispatcher
stub records its wakes, and the outbox is the real :class:`MemoryOutbox` — or a stub that
fails or blocks, where a test needs it to.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient and warns once, at import, on httpx.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from dingwire.config import Config, load_config
from dingwire.relay.alerts import PayloadError
from dingwire.relay.app import create_app
from dingwire.relay.metrics import RelayMetrics
from dingwire.relay.model import DigestLine, Enqueued, Outgoing
from dingwire.relay.outbox import MemoryOutbox, OutboxUnavailable
from dingwire.relay.settings import RelaySettings

TOKEN = "ops-access-token-0123456789abcdef"
SECRET = "SEC0123456789abcdef0123456789abcdef"
AUTH = "relay-bearer-token-9876543210"

CONFIG = f"""
[robots.ops]
webhook = "https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"
secret = "{SECRET}"

[robots.dev]
webhook = "https://oapi.dingtalk.com/robot/send?access_token=dev-token-abcdefabcdef"

"""

BROKEN = """
[robots.broken]
webhook = "https://oapi.dingtalk.com/robot/send?access_token=broken-token-0000"
org = "nowhere"
"""


def make_config(tmp_path: Path, relay: str = "", *, broken: bool = True) -> Config:
    """The config of ``ops``, ``dev`` and (with ``broken``) a robot that cannot be used."""
    file = tmp_path / "dingwire.toml"
    text = CONFIG + (BROKEN if broken else "") + ("\n[relay]\n" + relay if relay else "")
    file.write_text(text, encoding="utf-8")
    return load_config(file, env={})


class StubRenderer:
    """One text message per payload; PayloadError for what is plainly not a payload."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.raws: list[str | None] = []  # the JSON text an alert payload is kept as

    def _outgoing(self, source: str, robot: str, data: Any, now: float) -> Outgoing:
        self.calls.append((source, robot, data))
        key = data.get("groupKey") if source != "messages" else None
        return Outgoing(
            robot=robot,
            body={"msgtype": "text", "text": {"content": f"{source}: {len(str(data))}"}},
            kind="text",
            lines=(DigestLine("firing", "x", "x"),),
            source=source,
            dedupe_key=f"{robot}|{key}" if isinstance(key, str) else None,
            received=now,
        )

    def alertmanager(
        self, robot: str, data: Any, *, now: float, raw: str | None = None
    ) -> Outgoing:
        if not isinstance(data.get("alerts"), list):
            raise PayloadError("alerts: expected an array of alerts", field="alerts")
        self.raws.append(raw)
        return self._outgoing("alertmanager", robot, data, now)

    def grafana(self, robot: str, data: Any, *, now: float, raw: str | None = None) -> Outgoing:
        if not isinstance(data.get("alerts"), list):
            raise PayloadError("alerts: expected an array of alerts", field="alerts")
        self.raws.append(raw)
        return self._outgoing("grafana", robot, data, now)

    def message(self, robot: str, data: Any, *, now: float) -> Outgoing:
        if "text" not in data and "msgtype" not in data and "markdown" not in data:
            raise PayloadError('expected a DingTalk message, or {"text": ...}')
        return self._outgoing("messages", robot, data, now)

    def complete(self, message: Outgoing) -> Outgoing:
        return message


@dataclass
class StubDispatcher:
    woken: list[str] = field(default_factory=list)
    started: int = 0
    stopped: list[float] = field(default_factory=list)
    reconfigured: list[tuple[RelaySettings, Config]] = field(default_factory=list)
    alive: bool = True

    async def start(self) -> None:
        self.started += 1

    async def stop(self, grace: float) -> None:
        self.stopped.append(grace)

    def wake(self, robot: str) -> None:
        self.woken.append(robot)

    def reconfigure(self, settings: RelaySettings, config: Config, renderer: Any = None) -> None:
        self.reconfigured.append((settings, config))


class FailingOutbox(MemoryOutbox):
    """Cannot store: every enqueue (and check) raises OutboxUnavailable."""

    def __init__(self, retry_after: float = 7.0) -> None:
        super().__init__()
        self.retry_after = retry_after

    def enqueue(
        self, messages: Sequence[Outgoing], *, now: float, dedupe_window: float
    ) -> list[Enqueued]:
        raise OutboxUnavailable("database is locked", retry_after=self.retry_after)

    def check(self) -> None:
        raise OutboxUnavailable("disk I/O error", retry_after=self.retry_after)

    def get(self, id: str) -> Any:
        raise OutboxUnavailable("database is locked", retry_after=self.retry_after)


class GatedOutbox(MemoryOutbox):
    """Enqueue waits at a gate, so a test can look at the answer before the commit."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.returned = threading.Event()

    def enqueue(
        self, messages: Sequence[Outgoing], *, now: float, dedupe_window: float
    ) -> list[Enqueued]:
        self.entered.set()
        assert self.gate.wait(10)
        answers = super().enqueue(messages, now=now, dedupe_window=dedupe_window)
        self.returned.set()
        return answers


@dataclass
class Relay:
    """One app under test and everything it was built from."""

    app: Starlette
    client: TestClient
    outbox: MemoryOutbox
    renderer: StubRenderer
    dispatcher: StubDispatcher
    metrics: RelayMetrics
    config: Config
    settings: RelaySettings


MakeRelay = Callable[..., Relay]


@pytest.fixture
def make_relay(tmp_path: Path) -> Iterator[MakeRelay]:
    clients: list[TestClient] = []

    def make(
        relay: str = "",
        *,
        outbox: MemoryOutbox | None = None,
        reload: Any = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Relay:
        config = make_config(tmp_path, relay)
        relay_settings = RelaySettings.from_config(config)
        if settings:
            relay_settings = RelaySettings.from_mapping({**config.relay, **settings})
        outbox = outbox if outbox is not None else MemoryOutbox()
        renderer = StubRenderer()
        dispatcher = StubDispatcher()
        metrics = RelayMetrics()
        app = create_app(
            relay_settings,
            config,
            outbox=outbox,
            renderer=renderer,
            dispatcher=dispatcher,
            metrics=metrics,
            clock=lambda: 1_800_000_000.0,
            reload=reload,
        )
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Relay(app, client, outbox, renderer, dispatcher, metrics, config, relay_settings)

    yield make
    for client in clients:
        client.__exit__(None, None, None)
