"""Transports that hand a robot's requests straight to a fake in the same process.

:class:`InProcessTransport` is a :class:`~dingwire.transport.http.SyncTransport` and
:class:`AsyncInProcessTransport` an :class:`~dingwire.transport.http.AsyncTransport`: give
one to ``dingwire.Robot(..., transport=...)`` (or ``AsyncRobot``) and every send goes to a
:class:`~dingwire.fake.engine.FakeDingTalk` without a socket.

Rules kept here: the request is the exact one the robot would put on the wire (URL, headers,
body); its arrival time is the transport's clock when it is handed over (after a ``latency``
fault's wait, through the transport's ``sleep``); faults behave as over a network and
surface as the same dingwire errors the HTTP transports raise: a dropped connection is
:class:`ConnectionLostError`, an answer (or an arrival) later than the robot's timeout is
:class:`RequestTimeoutError` after waiting out the timeout — and a request that would have
arrived after the timeout never arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from dingwire.core.errors import ConnectionLostError, RequestTimeoutError
from dingwire.core.protocol import Request
from dingwire.fake.config import FakeSettings
from dingwire.fake.controls import FakeControls
from dingwire.fake.engine import FakeDingTalk, Incoming, Outcome
from dingwire.transport.base import Reply

__all__ = ["IN_PROCESS_BASE_URL", "AsyncInProcessTransport", "InProcessFake", "InProcessTransport"]

#: The base URL of an in-process fake's webhooks (``.invalid`` never resolves).
IN_PROCESS_BASE_URL = "http://dingtalk.fake.invalid"


def _content_type(headers: Mapping[str, str]) -> str | None:
    for key, value in headers.items():
        if key.lower() == "content-type":
            return value
    return None


def _incoming(request: Request, client_ip: str) -> Incoming:
    parts = urlsplit(request.url)
    return Incoming(
        method=request.method.upper(),
        path=parts.path,
        query=parts.query,
        content_type=_content_type(request.headers),
        body=request.body,
        client_ip=client_ip,
    )


def _lost() -> ConnectionLostError:
    return ConnectionLostError(
        "the connection dropped before the reply: the fake dropped it (fault)"
    )


def _timed_out(timeout: float) -> RequestTimeoutError:
    return RequestTimeoutError(f"no reply within {timeout:g} s; the message may have arrived")


def _reply(outcome: Outcome, server_time: float) -> Reply:
    return Reply(outcome.status, outcome.body, server_time)


class InProcessTransport:
    """Sends a robot's requests to ``fake`` directly, as if from ``client_ip``.

    >>> from dingwire import Robot, Text
    >>> fake = FakeDingTalk()
    >>> robot = Robot("http://fake.invalid/robot/send?access_token=t",
    ...               transport=InProcessTransport(fake), rate_limit=None)
    >>> robot.send(Text("hello")).errcode
    0
    """

    def __init__(
        self,
        fake: FakeDingTalk,
        *,
        client_ip: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.fake = fake
        self.client_ip = client_ip
        self._clock = clock
        self._sleep = sleep

    def handle(self, request: Request, timeout: float) -> Reply:
        """Answer ``request`` from the fake, honouring its faults and ``timeout``."""
        incoming = _incoming(request, self.client_ip)
        latency = self.fake.take_latency(incoming, self._clock())
        if latency is not None:
            if latency.delay >= timeout:
                self._sleep(timeout)
                raise _timed_out(timeout)
            self._sleep(latency.delay)
        outcome = self.fake.handle(incoming, self._clock(), fault=latency)
        if outcome.drop:
            raise _lost()
        if outcome.delay:
            if outcome.delay >= timeout:
                self._sleep(timeout)
                raise _timed_out(timeout)
            self._sleep(outcome.delay)
        return _reply(outcome, self._clock())

    def close(self) -> None:
        """Nothing to close: there is no connection."""


class AsyncInProcessTransport:
    """The asyncio twin of :class:`InProcessTransport`."""

    def __init__(
        self,
        fake: FakeDingTalk,
        *,
        client_ip: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.fake = fake
        self.client_ip = client_ip
        self._clock = clock
        self._sleep = sleep

    async def handle(self, request: Request, timeout: float) -> Reply:
        """Answer ``request`` from the fake, honouring its faults and ``timeout``."""
        incoming = _incoming(request, self.client_ip)
        latency = self.fake.take_latency(incoming, self._clock())
        if latency is not None:
            if latency.delay >= timeout:
                await self._sleep(timeout)
                raise _timed_out(timeout)
            await self._sleep(latency.delay)
        outcome = self.fake.handle(incoming, self._clock(), fault=latency)
        if outcome.drop:
            raise _lost()
        if outcome.delay:
            if outcome.delay >= timeout:
                await self._sleep(timeout)
                raise _timed_out(timeout)
            await self._sleep(outcome.delay)
        return _reply(outcome, self._clock())

    async def aclose(self) -> None:
        """Nothing to close: there is no connection."""


class InProcessFake(FakeControls):
    """A fake DingTalk without a server: robots, messages and faults as on a real port,
    clients wired to it through the in-process transports.

    ``clock`` is the fake's time (epoch seconds) and the clients' too, so a test can move
    time forward to expire a lockout or a session; ``sleep`` and ``async_sleep`` are how
    its transports wait out ``slow`` and ``latency`` faults (give ones that move a test
    clock forward, and no test waits for real).

    >>> from dingwire import Text
    >>> fake = InProcessFake()
    >>> ops = fake.add_robot(secret=True, keywords=["告警"])
    >>> ops.client().send(Text("告警: disk full")).errcode
    0
    >>> ops.delivered()[-1].text
    '告警: disk full'
    """

    def __init__(
        self,
        settings: FakeSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        client_ip: str = "127.0.0.1",
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.fake = FakeDingTalk(settings)
        self.clock = clock
        self.client_ip = client_ip
        self.sleep = sleep
        self.async_sleep = async_sleep

    @property
    def base_url(self) -> str:
        """Where the webhooks point: a name that resolves nowhere (no request leaves)."""
        return IN_PROCESS_BASE_URL

    def _now(self) -> float:
        return self.clock()

    def _sync_transport(self) -> InProcessTransport:
        return InProcessTransport(
            self.fake, client_ip=self.client_ip, clock=self.clock, sleep=self.sleep
        )

    def _async_transport(self) -> AsyncInProcessTransport:
        return AsyncInProcessTransport(
            self.fake, client_ip=self.client_ip, clock=self.clock, sleep=self.async_sleep
        )

    def _client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        options.setdefault("clock", self.clock)
        return super()._client_options(options)
