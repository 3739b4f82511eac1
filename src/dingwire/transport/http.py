"""The HTTP clients: the standard library's for ``Robot``, aiohttp for ``AsyncRobot``.

The only code in dingwire that opens sockets to DingTalk. Each client keeps connections
open between sends, always applies the robot's timeout to connecting and to reading, keeps
TLS verification on (also through a proxy), and translates its library's exceptions once,
here, into dingwire's: :class:`ConnectError` when nothing was sent, a
:class:`DeliveryUnknownError` when the request may have arrived. Their messages are
scrubbed of tokens and signs. This module is imported only when a robot first sends, and
aiohttp only when an async robot does.
"""

from __future__ import annotations

import base64
import http.client
import select
import ssl
import threading
import weakref
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

from dingwire.core.errors import (
    BadResponseError,
    ConfigError,
    ConnectError,
    ConnectionLostError,
    RequestTimeoutError,
    TransportError,
)
from dingwire.core.protocol import Request
from dingwire.core.redact import mask_url, scrub
from dingwire.transport.base import Reply

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport", "AsyncTransport", "StdlibTransport", "SyncTransport"]

# Read at most this much of a reply: DingTalk's are tiny; anything bigger is not DingTalk.
MAX_REPLY_BYTES = 1 << 20


class SyncTransport(Protocol):
    def handle(self, request: Request, timeout: float) -> Reply: ...

    def close(self) -> None: ...


class AsyncTransport(Protocol):
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
    return scrub(f"{type(exc).__name__}: {reason}", secrets)


class StdlibTransport:
    """Kept-open ``http.client`` connections, pooled per host; thread-safe.

    The standard library's client costs a fraction of a richer one per request, and a
    robot's needs are narrow: POST, small bodies, keep-alive, a timeout, TLS verified with
    the system's CAs, and an optional ``http://`` proxy (absolute-form requests for http,
    a ``CONNECT`` tunnel for https, ``user:password@`` as Proxy-Authorization).
    """

    def __init__(self, *, proxy: str | None = None, secrets: tuple[str, ...] = ()) -> None:
        self._secrets = secrets
        self._proxy = urlsplit(proxy) if proxy else None
        if self._proxy is not None and (self._proxy.scheme != "http" or not self._proxy.hostname):
            raise ConfigError(
                f"proxy: {mask_url(proxy or '')!r} is not an http:// proxy URL "
                "(https targets are tunnelled through it with CONNECT)"
            )
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        # A robot dropped without close() still closes its idle connections.
        weakref.finalize(self, _close_idle, self._idle, self._lock)

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

    def _checkout(self, key: tuple[str, str, int]) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                conn = idle.pop()
                sock = conn.sock
                # Readable while idle means the server closed it (or broke the protocol):
                # drop it rather than send a message into a dead connection.
                if sock is not None and not select.select([sock], [], [], 0)[0]:
                    return conn
                conn.close()
        return None

    def _checkin(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < 8:
                idle.append(conn)
                return
        conn.close()

    def handle(self, request: Request, timeout: float) -> Reply:
        parts = urlsplit(request.url)
        scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname or "", port)
        conn = self._checkout(key)
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
        except TimeoutError:
            conn.close()
            raise RequestTimeoutError(
                f"no reply within {timeout:g} s; the message may have arrived"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ConnectionLostError(
                f"the connection dropped before the reply: {_describe(exc, self._secrets)}"
            ) from None
        if response.will_close or not response.isclosed():
            conn.close()
        else:
            self._checkin(key, conn)
        return Reply(response.status, body, _server_time(response.getheader("Date")))

    def close(self) -> None:
        _close_idle(self._idle, self._lock)


def _close_idle(
    idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]], lock: threading.Lock
) -> None:
    with lock:
        conns = [c for group in idle.values() for c in group]
        idle.clear()
    for conn in conns:
        conn.close()


class AiohttpTransport:
    """An aiohttp session with a kept-open connection pool, created on first use."""

    def __init__(self, *, proxy: str | None = None, secrets: tuple[str, ...] = ()) -> None:
        self._proxy = proxy
        self._secrets = secrets
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=100, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def handle(self, request: Request, timeout: float) -> Reply:
        try:
            import aiohttp
        except ModuleNotFoundError:
            msg = "AsyncRobot needs aiohttp: pip install 'dingwire[async]'"
            raise ModuleNotFoundError(msg, name="aiohttp") from None

        session = self._open()
        limits = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
        kwargs: dict[str, Any] = {"proxy": self._proxy} if self._proxy else {}
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
                body = await response.content.read(MAX_REPLY_BYTES)
                return Reply(response.status, body, _server_time(response.headers.get("Date")))
        except aiohttp.ConnectionTimeoutError as exc:
            raise ConnectError(f"could not connect: {_describe(exc, self._secrets)}") from None
        except (aiohttp.ServerTimeoutError, TimeoutError):
            raise RequestTimeoutError(
                f"no reply within {timeout:g} s; the message may have arrived"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(f"could not connect: {_describe(exc, self._secrets)}") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise ConnectionLostError(
                f"the connection dropped before the reply: {_describe(exc, self._secrets)}"
            ) from None
        except aiohttp.ClientResponseError as exc:
            raise BadResponseError(
                f"unreadable reply: {_describe(exc, self._secrets)}", status=exc.status
            ) from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"HTTP failure: {_describe(exc, self._secrets)}") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
