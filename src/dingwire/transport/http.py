"""The HTTP clients: the standard library's for ``Robot``, aiohttp for ``AsyncRobot``.

The only code in dingwire that opens sockets to DingTalk. Each client keeps connections
open between sends, always applies the robot's timeout to connecting and to reading, keeps
TLS verification on (also through a proxy), never follows a redirect, and translates its
library's exceptions once, here, into dingwire's — the same way in both clients (one table
test runs every row against both robots):

===================================================  =============================  =======
what happened                                        error                          sent?
===================================================  =============================  =======
no connection: DNS, refused, TLS, connect timeout,   :class:`ConnectError`          no
the proxy unreachable or refusing the tunnel
no reply within the timeout, once the request went   :class:`RequestTimeoutError`   maybe
the connection closed or reset before the whole      :class:`ConnectionLostError`   maybe
reply came (none at all, or one cut short)
a reply that is not HTTP (a bad status line, ...)    :class:`BadResponseError`      maybe
any HTTP status                                      a :class:`Reply`, no error     yes
===================================================  =============================  =======

Only a :class:`ConnectError` means that nothing left: the robot gives the budget slot back
and may retry. Messages are scrubbed of tokens, signs, secrets and proxy passwords.

Processes and event loops:

- **No connection crosses fork()**: a child drops the connections it inherited without
  using or closing them for the parent (and without the pool's lock, which a thread of
  the parent may have held), and opens its own.
- **An aiohttp session belongs to one event loop.** Each loop the async robot sends on
  gets its own session, which is closed when that loop shuts its async generators down
  (``asyncio.run`` does, on its way out) or on ``aclose()``: one robot serves any number of
  ``asyncio.run`` calls, and none leaves a session open.

This module is imported only when a robot first sends, and aiohttp only when an async
robot does.
"""

from __future__ import annotations

import base64
import http.client
import os
import select
import ssl
import threading
import weakref
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

from dingwire.core.errors import (
    BadResponseError,
    ConnectError,
    ConnectionLostError,
    RequestTimeoutError,
    TransportError,
)
from dingwire.core.protocol import Request
from dingwire.core.redact import scrub
from dingwire.transport.base import Reply
from dingwire.transport.proxies import check_proxy

if TYPE_CHECKING:
    import asyncio

    import aiohttp

__all__ = ["AiohttpTransport", "AsyncTransport", "StdlibTransport", "SyncTransport"]

# Read at most this much of a reply: DingTalk's are tiny; anything bigger is not DingTalk.
MAX_REPLY_BYTES = 1 << 20


class SyncTransport(Protocol):
    """What ``Robot(transport=...)`` sends through; :class:`StdlibTransport` by default.

    ``handle(request, timeout)`` sends ``request.method`` to ``request.url`` with
    ``request.headers`` and ``request.body`` as they are (the URL is signed already; follow
    no redirect) and returns the :class:`Reply`: status, body, the ``Date`` header. Every
    HTTP status is a reply, not an error. ``timeout`` (seconds) bounds connecting and each
    wait for the reply: never wait longer. A failure is raised as a
    :class:`~dingwire.core.errors.TransportError`, and which one matters, because the
    robot's budget and retries rest on it:

    - :class:`ConnectError` only when nothing can have been sent (no connection was made):
      the slot is given back, and the send is retried;
    - :class:`RequestTimeoutError` when the request went out and no reply came in time;
    - :class:`ConnectionLostError` when the connection ended after the request may have
      gone out, before the whole reply;
    - :class:`BadResponseError` (no ``status``) for a reply that is not HTTP.

    Anything else that escapes is a bug and propagates as it is. No message may hold the
    webhook's token, a sign or a secret. ``handle`` is called from many threads at once
    (a ``Robot`` is shared between threads), and after ``fork()`` from the child, which
    must not use a connection of the parent's. ``close()`` closes kept-open connections;
    the robot may send again afterwards, and a transport opens new ones then.
    """

    def handle(self, request: Request, timeout: float) -> Reply: ...

    def close(self) -> None: ...


class AsyncTransport(Protocol):
    """What ``AsyncRobot(transport=...)`` sends through; :class:`AiohttpTransport` by default.

    The contract of :class:`SyncTransport`, with ``handle`` a coroutine: it must not block
    the event loop, it is awaited by many tasks at once, and over its life on several event
    loops one after another (each ``asyncio.run``), or in several threads' loops at once:
    whatever it keeps open belongs to the loop it was opened on. ``aclose()`` closes what
    belongs to the running loop; the robot may send again afterwards.
    """

    async def handle(self, request: Request, timeout: float) -> Reply: ...

    async def aclose(self) -> None: ...


def _server_time(date: str | None) -> float | None:
    """The reply's ``Date`` header in epoch seconds, when it has a readable one."""
    import email.utils

    if not date:
        return None
    try:
        return email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _describe(exc: BaseException, secrets: tuple[str, ...]) -> str:
    reason = getattr(exc, "reason", None) or exc
    # One line, whatever the library wrote (aiohttp's parser errors span several).
    return scrub(" ".join(f"{type(exc).__name__}: {reason}".split()), secrets)


def _proxy_secrets(proxy: str | None) -> tuple[str, ...]:
    """The proxy's password, to keep out of messages as the robot's secret is."""
    if not proxy:
        return ()
    password = urlsplit(proxy).password
    return (unquote(password),) if password else ()


def _lost(exc: BaseException, secrets: tuple[str, ...]) -> ConnectionLostError:
    return ConnectionLostError(
        f"the connection dropped before the reply: {_describe(exc, secrets)}; "
        "the message may have arrived"
    )


def _timed_out(timeout: float) -> RequestTimeoutError:
    return RequestTimeoutError(f"no reply within {timeout:g} s; the message may have arrived")


def _not_http(exc: BaseException, secrets: tuple[str, ...]) -> BadResponseError:
    return BadResponseError(f"the reply is not HTTP: {_describe(exc, secrets)}")


Key = tuple[str, str, int]


class _Pool:
    """Idle connections by (scheme, host, port): this process's own."""

    def __init__(self) -> None:
        self.idle: dict[Key, list[http.client.HTTPConnection]] = {}
        self.lock = threading.Lock()
        _POOLS.add(self)

    def take(self, key: Key) -> http.client.HTTPConnection | None:
        with self.lock:
            idle = self.idle.get(key, [])
            while idle:
                conn = idle.pop()
                sock = conn.sock
                # Readable while idle means the server closed it (or broke the protocol):
                # drop it rather than send a message into a dead connection.
                if sock is not None and not select.select([sock], [], [], 0)[0]:
                    return conn
                conn.close()
        return None

    def give(self, key: Key, conn: http.client.HTTPConnection) -> None:
        with self.lock:
            idle = self.idle.setdefault(key, [])
            if len(idle) < 8:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self.lock:
            conns = [c for group in self.idle.values() for c in group]
            self.idle.clear()
        for conn in conns:
            conn.close()

    def forked(self) -> None:
        """In a child just forked: the parent's connections (and lock) stay the parent's."""
        self.lock = threading.Lock()  # another thread of the parent may have held it
        inherited, self.idle = self.idle, {}
        for conn in (c for group in inherited.values() for c in group):
            # Closes this process's descriptor only: no shutdown, no TLS close_notify, so
            # the parent's connection goes on as before.
            conn.close()


class StdlibTransport:
    """Kept-open ``http.client`` connections, pooled per host; thread-safe.

    The standard library's client costs a fraction of a richer one per request, and a
    robot's needs are narrow: POST, small bodies, keep-alive, a timeout, TLS verified with
    the system's CAs, and an optional ``http://`` proxy (absolute-form requests for http,
    a ``CONNECT`` tunnel for https, ``user:password@`` as Proxy-Authorization).
    """

    def __init__(self, *, proxy: str | None = None, secrets: tuple[str, ...] = ()) -> None:
        proxy = check_proxy(proxy) if proxy else None
        self._secrets = secrets + _proxy_secrets(proxy)
        self._proxy = urlsplit(proxy) if proxy else None
        self._pool = _Pool()
        self._context: ssl.SSLContext | None = None
        # A robot dropped without close() still closes its idle connections.
        weakref.finalize(self, self._pool.close)

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def _proxy_headers(self) -> dict[str, str]:
        assert self._proxy is not None
        if not self._proxy.username:
            return {}
        userinfo = f"{unquote(self._proxy.username)}:{unquote(self._proxy.password or '')}"
        return {"Proxy-Authorization": "Basic " + base64.b64encode(userinfo.encode()).decode()}

    def _connect(
        self, scheme: str, host: str, port: int, timeout: float
    ) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._proxy is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._tls())
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            proxy_host, proxy_port = self._proxy.hostname or "", self._proxy.port or 80
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    proxy_host, proxy_port, timeout=timeout, context=self._tls()
                )
                conn.set_tunnel(host, port, headers=self._proxy_headers())
            else:
                conn = http.client.HTTPConnection(proxy_host, proxy_port, timeout=timeout)
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ConnectError(f"could not connect: {_describe(exc, self._secrets)}") from None
        return conn

    def handle(self, request: Request, timeout: float) -> Reply:
        parts = urlsplit(request.url)
        scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname or "", port)
        conn = self._pool.take(key)
        if conn is None:
            conn = self._connect(scheme, key[1], port, timeout)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        target = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
        headers = dict(request.headers)
        if self._proxy is not None and scheme == "http":
            target = request.url  # absolute form: the proxy forwards it
            headers.update(self._proxy_headers())
        try:
            conn.request(request.method, target, request.body, headers)
            response = conn.getresponse()
            body = response.read(MAX_REPLY_BYTES)
            if response.length and len(body) < MAX_REPLY_BYTES:
                # http.client returns what came when the connection ends early.
                raise http.client.IncompleteRead(body, response.length)
        except TimeoutError:
            conn.close()
            raise _timed_out(timeout) from None
        except (OSError, http.client.IncompleteRead) as exc:  # closed, reset, cut short
            conn.close()
            raise _lost(exc, self._secrets) from None
        except http.client.HTTPException as exc:  # a status line or headers not HTTP's
            conn.close()
            raise _not_http(exc, self._secrets) from None
        if response.will_close or not response.isclosed():
            conn.close()
        else:
            self._pool.give(key, conn)
        return Reply(response.status, body, _server_time(response.getheader("Date")))

    def close(self) -> None:
        self._pool.close()


@dataclass(slots=True)
class _LoopSession:
    """One event loop's session, and the async generator that closes it with the loop."""

    session: aiohttp.ClientSession
    keeper: AsyncGenerator[None, None]


async def _closed_with_the_loop(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    # Started on the session's loop, the loop finalises this generator when it shuts its
    # async generators down (asyncio.run does before closing): the session closes there,
    # on its own loop, with nothing left open.
    try:
        yield
    finally:
        await session.close()


class AiohttpTransport:
    """aiohttp sessions with kept-open connection pools: one per event loop, on first use."""

    def __init__(self, *, proxy: str | None = None, secrets: tuple[str, ...] = ()) -> None:
        self._proxy = check_proxy(proxy) if proxy else None
        self._secrets = secrets + _proxy_secrets(self._proxy)
        self._sessions: dict[asyncio.AbstractEventLoop, _LoopSession] = {}
        _ASYNC_TRANSPORTS.add(self)

    async def _open(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        """A new session for ``loop``, closed when the loop shuts down (or on aclose)."""
        try:
            import aiohttp
        except ModuleNotFoundError:
            msg = "AsyncRobot needs aiohttp: pip install 'dingwire[async]'"
            raise ModuleNotFoundError(msg, name="aiohttp") from None

        # Loops that are gone have closed their sessions on the way out.
        for old in [old for old in self._sessions if old.is_closed()]:
            del self._sessions[old]
        connector = aiohttp.TCPConnector(limit=100, ttl_dns_cache=300)
        session = aiohttp.ClientSession(connector=connector, trust_env=False)
        keeper = _closed_with_the_loop(session)
        self._sessions[loop] = _LoopSession(session, keeper)
        await keeper.asend(None)
        return session

    def _forked(self) -> None:
        """In a child just forked: the parent's sessions stay untouched, and unused."""
        _INHERITED.extend(self._sessions.values())  # never collected: nothing closes them
        self._sessions = {}

    async def handle(self, request: Request, timeout: float) -> Reply:
        import asyncio

        loop = asyncio.get_running_loop()
        state = self._sessions.get(loop)
        if state is not None and not state.session.closed:
            session = state.session
        else:
            session = await self._open(loop)
        import aiohttp

        limits = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
        kwargs: dict[str, Any] = {"proxy": self._proxy} if self._proxy else {}
        secrets = self._secrets
        try:
            async with session.request(
                request.method,
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=limits,
                allow_redirects=False,
                **kwargs,
            ) as response:
                # To the end of the body (a reply cut short raises), at most MAX_REPLY_BYTES.
                body = b""
                while len(body) < MAX_REPLY_BYTES:
                    chunk = await response.content.read(MAX_REPLY_BYTES - len(body))
                    if not chunk:
                        break
                    body += chunk
                return Reply(response.status, body, _server_time(response.headers.get("Date")))
        except aiohttp.ConnectionTimeoutError as exc:
            raise ConnectError(f"could not connect: {_describe(exc, secrets)}") from None
        except (aiohttp.ServerTimeoutError, TimeoutError):
            raise _timed_out(timeout) from None
        except (aiohttp.ClientConnectorError, aiohttp.ClientHttpProxyError) as exc:
            # Not even a connection to DingTalk (a proxy that refused the tunnel included).
            raise ConnectError(f"could not connect: {_describe(exc, secrets)}") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise _lost(exc, secrets) from None  # closed, reset, cut short
        except aiohttp.ClientResponseError as exc:
            # aiohttp's parser refused the reply (its "status" is its own 400, not the server's).
            raise _not_http(exc, secrets) from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"HTTP failure: {_describe(exc, secrets)}") from None

    async def aclose(self) -> None:
        import asyncio

        state = self._sessions.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.keeper.aclose()  # its finally closes the session


# -- fork ---------------------------------------------------------------------------------

_POOLS: weakref.WeakSet[_Pool] = weakref.WeakSet()
_ASYNC_TRANSPORTS: weakref.WeakSet[AiohttpTransport] = weakref.WeakSet()
# What a forked child inherited from its parent's async transports: kept, so that neither
# the collector nor a finaliser ever closes the parent's connections from here.
_INHERITED: list[_LoopSession] = []


def _after_fork_in_child() -> None:
    for pool in list(_POOLS):
        pool.forked()
    for transport in list(_ASYNC_TRANSPORTS):
        transport._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
