"""The HTTP clients: urllib3 for ``Robot``, aiohttp for ``AsyncRobot``.

The only code in dingwire that opens sockets to DingTalk. Each client keeps connections
open between sends, always applies the robot's timeout to connecting and to reading, keeps
TLS verification on (also through a proxy), and translates its library's exceptions once,
here, into dingwire's: :class:`ConnectError` when nothing was sent, a
:class:`DeliveryUnknownError` when the request may have arrived. Their messages are
scrubbed of tokens and signs. Both libraries are imported only when a robot first sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

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

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport", "AsyncTransport", "SyncTransport", "Urllib3Transport"]

# Read at most this much of a reply: DingTalk's are tiny; anything bigger is not DingTalk.
MAX_REPLY_BYTES = 1 << 20


class SyncTransport(Protocol):
    def handle(self, request: Request, timeout: float) -> Reply: ...

    def close(self) -> None: ...


class AsyncTransport(Protocol):
    async def handle(self, request: Request, timeout: float) -> Reply: ...

    async def aclose(self) -> None: ...


def _server_time(headers: Mapping[str, str]) -> float | None:
    import email.utils

    value = headers.get("Date") or headers.get("date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _describe(exc: BaseException, secrets: tuple[str, ...]) -> str:
    reason = getattr(exc, "reason", None) or exc
    return scrub(f"{type(exc).__name__}: {reason}", secrets)


class Urllib3Transport:
    """A pooled, thread-safe urllib3 client (through ``proxy`` when given)."""

    def __init__(self, *, proxy: str | None = None, secrets: tuple[str, ...] = ()) -> None:
        import urllib3

        self._secrets = secrets
        self._pool: urllib3.PoolManager
        if proxy:
            self._pool = urllib3.ProxyManager(proxy, num_pools=4, maxsize=8)
        else:
            self._pool = urllib3.PoolManager(num_pools=4, maxsize=8)

    def handle(self, request: Request, timeout: float) -> Reply:
        import urllib3
        from urllib3 import exceptions as e

        try:
            response = self._pool.request(
                request.method,
                request.url,
                body=request.body,
                headers=dict(request.headers),
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                retries=False,
                redirect=False,
                preload_content=False,
            )
            try:
                body = response.read(MAX_REPLY_BYTES)
            finally:
                response.release_conn()
        except (e.ConnectTimeoutError, e.NewConnectionError, e.ProxyError, e.SSLError) as exc:
            raise ConnectError(f"could not connect: {_describe(exc, self._secrets)}") from None
        except e.ReadTimeoutError:
            raise RequestTimeoutError(
                f"no reply within {timeout:g} s; the message may have arrived"
            ) from None
        except e.ProtocolError as exc:
            raise ConnectionLostError(
                f"the connection dropped before the reply: {_describe(exc, self._secrets)}"
            ) from None
        except e.HTTPError as exc:
            raise TransportError(f"HTTP failure: {_describe(exc, self._secrets)}") from None
        return Reply(response.status, body, _server_time(response.headers))

    def close(self) -> None:
        self._pool.clear()


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
        import aiohttp

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
                return Reply(response.status, body, _server_time(response.headers))
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
