"""``Robot`` and ``AsyncRobot``: the same robot, driven by a blocking or an asyncio loop.

Everything but I/O lives in :class:`~dingwire.transport.base.BaseRobot`; here each robot
only runs the send flow, sending what it yields and sleeping what it asks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from dingwire.core.errors import DingwireError, TransportError
from dingwire.core.limits import DEFAULT_MAX_PARTS
from dingwire.core.messages import MessageLike
from dingwire.core.protocol import Request, SendResult
from dingwire.transport.base import BaseRobot, Reply, StoreCall

if TYPE_CHECKING:
    from dingwire.transport.http import AsyncTransport, SyncTransport

__all__ = ["AsyncRobot", "Robot"]


class _Constructors:
    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> Self:
        """A robot from ``dingtalk://SECRET@TOKEN`` (``dingtalk://TOKEN`` when unsigned).

        Query parameters set options: ``?keywords=告警,alert&timeout=3s&rate_limit=20/60s``,
        and ``base_url=http://127.0.0.1:8000`` points it somewhere other than DingTalk.
        """
        from dingwire.config import settings_from_url

        return cls(**{**settings_from_url(url), **overrides})

    @classmethod
    def from_config(cls, name: str, *, path: str | None = None, **overrides: Any) -> Self:
        """The robot called ``name`` in the config file (see :mod:`dingwire.config`)."""
        from dingwire.config import load_config

        return cls(**{**load_config(path).robot(name), **overrides})


class Robot(BaseRobot, _Constructors):
    """Sends messages to one DingTalk robot; safe to share between threads.

    >>> robot = Robot("https://oapi.dingtalk.com/robot/send?access_token=…", "SEC…")
    >>> robot.send(Text("deploy finished"))  # doctest: +SKIP
    SendResult(errcode=0, errmsg='ok', attempts=1)
    """

    def __init__(
        self,
        webhook: str,
        secret: str | None = None,
        *,
        transport: SyncTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **options: Any,
    ) -> None:
        super().__init__(webhook, secret, **options)
        self._transport = transport
        self._sleep = sleep

    def _client(self) -> SyncTransport:
        if self._transport is None:
            from dingwire.transport.http import StdlibTransport

            self._transport = StdlibTransport(proxy=self.proxy, secrets=self._secrets())
        return self._transport

    def _secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.secret,) if s)

    def send(
        self,
        message: MessageLike,
        *,
        block: bool = True,
        split: bool = False,
        max_parts: int = DEFAULT_MAX_PARTS,
        max_wait: float | None = None,
    ) -> SendResult:
        """Send ``message``; return on ``errcode == 0``, raise a :class:`DingwireError` otherwise.

        When the robot's budget is spent (or DingTalk locked it out), ``send`` waits; with
        ``max_wait`` it waits at most that many seconds in all, and with ``block=False`` not
        at all, raising :class:`RateLimitedError` (``retry_after`` says how long) instead.
        A message over 20,000 bytes raises :class:`TooLargeError` unless ``split=True``,
        which sends it as numbered parts, in order: at most ``max_parts`` of them (10, about
        200 KB, by default); a message that would take more raises
        :class:`TooManyPartsError` before anything is sent.
        """
        flow = self._send_flow(
            message, block=block, split=split, max_parts=max_parts, max_wait=max_wait
        )
        try:
            step = next(flow)
            while True:
                if isinstance(step, Request):
                    outcome: Reply | DingwireError
                    try:
                        outcome = self._client().handle(step, self.timeout)
                    except TransportError as error:
                        outcome = error
                    step = flow.send(outcome)
                elif isinstance(step, StoreCall):
                    step = flow.send(step.function(*step.args))
                else:
                    self._sleep(step)
                    step = next(flow)
        except StopIteration as done:
            result: SendResult = done.value
            return result

    def close(self) -> None:
        """Close the kept-open connections."""
        if self._transport is not None:
            self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncRobot(BaseRobot, _Constructors):
    """The asyncio robot: ``async with AsyncRobot(webhook, secret) as r: await r.send(m)``."""

    def __init__(
        self,
        webhook: str,
        secret: str | None = None,
        *,
        transport: AsyncTransport | None = None,
        **options: Any,
    ) -> None:
        super().__init__(webhook, secret, **options)
        self._transport = transport

    def _client(self) -> AsyncTransport:
        if self._transport is None:
            from dingwire.transport.http import AiohttpTransport

            secrets = tuple(s for s in (self.secret,) if s)
            self._transport = AiohttpTransport(proxy=self.proxy, secrets=secrets)
        return self._transport

    async def send(
        self,
        message: MessageLike,
        *,
        block: bool = True,
        split: bool = False,
        max_parts: int = DEFAULT_MAX_PARTS,
        max_wait: float | None = None,
    ) -> SendResult:
        """Send ``message``; the same contract as :meth:`Robot.send`."""
        flow = self._send_flow(
            message, block=block, split=split, max_parts=max_parts, max_wait=max_wait
        )
        try:
            step = next(flow)
            while True:
                if isinstance(step, Request):
                    outcome: Reply | DingwireError
                    try:
                        outcome = await self._client().handle(step, self.timeout)
                    except TransportError as error:
                        outcome = error
                    step = flow.send(outcome)
                elif isinstance(step, StoreCall):
                    step = flow.send(await self._store_call(step))
                else:
                    import asyncio  # here, so that `import dingwire` stays light

                    await asyncio.sleep(step)
                    step = next(flow)
        except StopIteration as done:
            result: SendResult = done.value
            return result

    async def _store_call(self, call: StoreCall) -> Any:
        """Run a store call; one that would wait (files, other processes) off the loop."""
        store = self.budget_store
        if not getattr(store, "blocking", True):
            return call.function(*call.args)
        nowait = getattr(store, "nowait", None)
        if nowait is not None:
            from dingwire.budget import WouldBlock

            try:
                with nowait():
                    return call.function(*call.args)
            except WouldBlock:
                pass  # busy elsewhere: wait for it in a worker thread
        import asyncio

        return await asyncio.to_thread(call.function, *call.args)

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._transport is not None:
            await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
