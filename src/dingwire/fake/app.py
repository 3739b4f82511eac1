"""The fake as an ASGI application: DingTalk's endpoints, a JSON API and the preview page.

``create_app(fake)`` wraps a :class:`~dingwire.fake.engine.FakeDingTalk`:

- ``POST /robot/send`` and ``POST /robot/sendBySession`` go straight to the engine through a
  small ASGI handler (no router, no request object: this path carries the benchmarks), which
  also carries out late arrivals (``latency``), slow answers, redirects and dropped
  connections. The arrival time it gives the engine is taken once the whole body is in.
- ``GET /api/messages[?robot=&after=]`` and ``DELETE /api/messages[?robot=]``: the log.
- ``GET|POST /api/robots``, ``DELETE /api/robots/{token}``: robots at run time.
- ``GET|POST /api/orgs``, ``DELETE /api/orgs/{name}``: organisations and their quota use.
- ``GET|POST|DELETE /api/faults``: faults on demand. ``POST /api/sessions``: a session
  webhook. ``POST /api/reset``: back to the configuration. ``GET /healthz``.
- ``GET /``: the preview page; ``GET /api/events``: its live feed (server-sent events);
  ``GET /verify``: where a ``redirect`` fault sends clients.

Rules kept here: no response ever carries a token, sign or secret (the log masks them, the
robot list shows labels); the page is static files with a Content-Security-Policy that
allows no inline script, so message content can only ever be text; request logging is
off unless asked for, and masks the query when on; nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any
from urllib.parse import urljoin

from dingwire.fake._extra import missing_extra

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route
    from starlette.types import Message, Receive, Scope, Send
except ModuleNotFoundError as error:  # the fake extra is not installed: say what to install
    raise missing_extra(error) from None

from dingwire.core.errors import ConfigError
from dingwire.core.protocol import MAX_BODY_BYTES
from dingwire.fake import jsonio
from dingwire.fake.config import FakeOrg, FakeRobot
from dingwire.fake.engine import SEND_PATH, SESSION_PATH, FakeDingTalk, Incoming, Outcome
from dingwire.fake.faults import Fault
from dingwire.fake.log import Record
from dingwire.fake.sessions import check_ttl

__all__ = ["FakeApp", "create_app"]

logger = logging.getLogger(__name__)

# Read at most this much of a request body: enough to tell "over 20,000 bytes".
_READ_LIMIT = 1 << 20
_JSON_TYPE = b"application/json;charset=utf-8"
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src * data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
}
_KEEPALIVE_SECONDS = 15.0


def _load_static() -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    root = resources.files("dingwire.fake") / "static"

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, f"{name}/")
                continue
            suffix = name[name.rfind(".") :]
            if suffix in _STATIC_TYPES:
                files[name] = (child.read_bytes(), _STATIC_TYPES[suffix])

    walk(root, "")
    return files


class _Broadcaster:
    """Wakes the page's live feeds when the log changes; costs nothing when none is open."""

    def __init__(self, fake: FakeDingTalk) -> None:
        self._fake = fake
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._event: asyncio.Event | None = None
        self._clients = 0
        self._wake_pending = False
        self._clears = 0
        self._closing = False
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._event = asyncio.Event()
        self._closing = False
        self._unsubscribe = self._fake.log.subscribe(self._on_change)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.close()

    def close(self) -> None:
        """End every live feed (the server is stopping). Call on the event loop."""
        self._closing = True
        self._wake()

    def _on_change(self, record: Record | None) -> None:
        # Called by the engine, on whichever thread changed the log.
        if record is None:
            self._clears += 1
        if not self._clients or self._wake_pending or self._loop is None:
            return
        self._wake_pending = True  # many records in a burst cost one wake-up
        if threading.get_ident() == self._loop_thread:
            self._loop.call_soon(self._wake)
        else:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._wake_pending = False
        if self._event is not None:
            self._event.set()
            self._event = asyncio.Event()

    async def stream(self, after: int) -> AsyncIterator[bytes]:
        """Server-sent events: every record after id ``after``, then each new one."""
        self._clients += 1
        try:
            yield b"retry: 1000\n\n"
            last, clears = after, self._clears
            while not self._closing:
                event = self._event
                if clears != self._clears:
                    clears = self._clears
                    last = 0
                    yield b"event: clear\ndata: {}\n\n"
                for record in self._fake.log.records(after=last):
                    last = record.id
                    yield b"id: %d\nevent: record\ndata: %s\n\n" % (
                        record.id,
                        record.to_json_bytes(),
                    )
                if event is None:
                    return
                try:
                    await asyncio.wait_for(event.wait(), _KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
        finally:
            self._clients -= 1


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        if size < _READ_LIMIT:
            chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _base_url(scope: Scope) -> str:
    host = _header(scope, b"host")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "127.0.0.1"
    return f"{scope.get('scheme', 'http')}://{host}"


async def _arrive_late(delay: float, receive: Receive) -> bool:
    """Wait ``delay`` seconds (a latency fault) without blocking the loop; False when the
    client hung up meanwhile (it gave up before its request arrived)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay
    while (left := deadline - loop.time()) > 0:
        waiting = asyncio.ensure_future(receive())
        try:
            done, _ = await asyncio.wait({waiting}, timeout=left)
        finally:
            if not waiting.done():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
        if done and waiting.result().get("type") == "http.disconnect":
            return False
    return True


async def _drop_connection(send: Send, receive: Receive) -> None:
    """Close the connection without a byte of answer, as a failing network does."""
    # uvicorn's request cycle owns the transport; closing it makes the client see the
    # connection drop before any status line (ASGI itself has no way to say this).
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "close"):
        transport.close()
        await receive()  # wait for the server to notice, so it sends no 500 of its own
        return
    # Elsewhere: start an answer and break off, which every server turns into a drop.
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise ConnectionAbortedError("dingwire fake: dropped the connection on purpose")


class FakeApp:
    """The ASGI application of one fake; ``fake`` is its engine."""

    def __init__(
        self,
        fake: FakeDingTalk,
        *,
        log_requests: bool = False,
        clock: Callable[[], float] = time.time,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.fake = fake
        self.log_requests = log_requests
        self._clock = clock
        self._on_ready = on_ready
        self._static = _load_static()
        self.broadcaster = _Broadcaster(fake)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.api = Starlette(
            routes=[
                Route("/", self._page, methods=["GET"]),
                Route("/healthz", self._healthz, methods=["GET"]),
                Route("/static/{name:path}", self._static_file, methods=["GET"]),
                Route("/api/messages", self._messages, methods=["GET", "DELETE"]),
                Route("/api/events", self._events, methods=["GET"]),
                Route("/api/robots", self._robots, methods=["GET", "POST"]),
                Route("/api/robots/{token}", self._robot, methods=["DELETE"]),
                Route("/api/orgs", self._orgs, methods=["GET", "POST"]),
                Route("/api/orgs/{name}", self._org, methods=["DELETE"]),
                Route("/verify", self._verify, methods=["GET", "POST"]),
                Route("/api/faults", self._faults, methods=["GET", "POST", "DELETE"]),
                Route("/api/sessions", self._sessions, methods=["POST"]),
                Route("/api/reset", self._reset, methods=["POST"]),
            ],
            lifespan=self._lifespan,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in (SEND_PATH, SESSION_PATH):
            await self._robot_endpoint(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.loop = asyncio.get_running_loop()
        self.broadcaster.start()
        if self._on_ready is not None:
            self._on_ready()
        try:
            yield
        finally:
            self.broadcaster.stop()

    # -- DingTalk's endpoints -----------------------------------------------------------

    async def _robot_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        client = scope.get("client")
        request = Incoming(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            content_type=_header(scope, b"content-type"),
            body=body,
            client_ip=client[0] if client else None,
        )
        latency = self.fake.take_latency(request, self._clock())
        if latency is not None and not await _arrive_late(latency.delay, receive):
            return  # the client gave up before its request "arrived": DingTalk never saw it
        # The whole request is in (after a latency fault's wait): this is its arrival.
        outcome = self.fake.handle(request, self._clock(), fault=latency)
        if self.log_requests:
            self._log(outcome)
        if outcome.drop:
            await _drop_connection(send, receive)
            return
        if outcome.delay:
            await asyncio.sleep(outcome.delay)
        content_type = _JSON_TYPE if outcome.content_type == "application/json" else b"text/html"
        headers = [
            (b"content-type", content_type),
            (b"content-length", b"%d" % len(outcome.body)),
        ]
        for name, value in outcome.headers:
            if name.lower() == "location":
                value = urljoin(_base_url(scope) + scope["path"], value)
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
        start: Message = {
            "type": "http.response.start",
            "status": outcome.status,
            "headers": headers,
        }
        await send(start)
        await send({"type": "http.response.body", "body": outcome.body})

    def _log(self, outcome: Outcome) -> None:
        record = outcome.record
        if record is None:
            return
        answer = (
            f"{record.errcode} {record.errmsg}"
            if record.errcode is not None
            else f"HTTP {record.status}"
            if record.status
            else "dropped"
        )
        fault = f" [fault: {record.fault}]" if record.fault else ""
        logger.info("%s %s?%s → %s%s", record.robot, record.path, record.query, answer[:160], fault)

    # -- the page -----------------------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        body, media = self._static["page.html"]
        return Response(body, media_type=media, headers=_page_headers())

    async def _static_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self._static or name == "page.html":
            return PlainTextResponse("not found", status_code=404)
        body, media = self._static[name]
        return Response(body, media_type=media, headers=_page_headers())

    async def _healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def _events(self, request: Request) -> Response:
        after = _int(request.query_params.get("after"), 0)
        after = max(after, _int(request.headers.get("last-event-id"), 0))
        return StreamingResponse(
            self.broadcaster.stream(after),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # -- the JSON API -------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        robot = request.query_params.get("robot") or None
        if request.method == "DELETE":
            self.fake.log.clear(robot)
            return _json({"cleared": True})
        after = _int(request.query_params.get("after"), 0)
        records = self.fake.log.records(robot, after=after)
        return _json({"messages": [r.to_json() for r in records], "last_id": self.fake.log.last_id})

    async def _robots(self, request: Request) -> Response:
        if request.method == "GET":
            return _json({"robots": self.fake.robots_json()})
        data = await _json_body(request)
        if isinstance(data, Response):
            return data
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            return _error('a robot needs a "token" (string)')
        settings = {k: v for k, v in data.items() if k != "token"}
        try:
            robot = FakeRobot.from_table(data["token"], settings, where="robot")
            self.fake.add_robot(robot)
        except ConfigError as error:
            return _error(str(error))
        return _json({"robot": robot.to_json()}, status=201)

    async def _robot(self, request: Request) -> Response:
        if self.fake.remove_robot(request.path_params["token"]):
            return _json({"removed": True})
        return _error("no such robot", status=404)

    async def _orgs(self, request: Request) -> Response:
        if request.method == "GET":
            return _json({"orgs": self.fake.orgs_json(self._clock())})
        data = await _json_body(request)
        if isinstance(data, Response):
            return data
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return _error('an organisation needs a "name" (string)')
        settings = {k: v for k, v in data.items() if k != "name"}
        try:
            org = FakeOrg.from_table(data["name"], settings, where="org")
        except ConfigError as error:
            return _error(str(error))
        self.fake.add_org(org)
        shown = next(o for o in self.fake.orgs_json(self._clock()) if o["name"] == org.name)
        return _json({"org": shown}, status=201)

    async def _org(self, request: Request) -> Response:
        if self.fake.remove_org(request.path_params["name"]):
            return _json({"removed": True})
        return _error("no such organisation", status=404)

    async def _verify(self, request: Request) -> Response:
        # Where a redirect fault points: a page, as DingTalk's login / verify pages are.
        page = (
            "<!doctype html><html><head><title>verify</title></head><body>"
            "<h1>Verification required</h1><p>The fake DingTalk redirected a robot here "
            "(a redirect fault). Nothing was delivered.</p></body></html>"
        )
        return Response(page, media_type="text/html; charset=utf-8", headers=_page_headers())

    async def _faults(self, request: Request) -> Response:
        if request.method == "GET":
            return _json({"faults": self.fake.pending_faults_json()})
        if request.method == "DELETE":
            robot = request.query_params.get("robot")
            self.fake.clear_faults(robot, everywhere=robot is None)
            return _json({"cleared": True})
        data = await _json_body(request)
        if isinstance(data, Response):
            return data
        robot = data.get("robot") if isinstance(data, dict) else None
        if robot is not None and not isinstance(robot, str):
            return _error('"robot" must be a token or null')
        try:
            fault = Fault.from_json(data)
        except ConfigError as error:
            return _error(str(error))
        self.fake.inject_fault(fault, robot=robot)
        return _json({"fault": fault.to_json()}, status=201)

    async def _sessions(self, request: Request) -> Response:
        data = await _json_body(request, default={})
        if isinstance(data, Response):
            return data
        if not isinstance(data, dict):
            return _error("expected a JSON object")
        robot, ttl = data.get("robot"), data.get("ttl")
        if robot is not None and not isinstance(robot, str):
            return _error('"robot" must be a token or null')
        try:
            session = self.fake.open_session(
                robot, now=self._clock(), ttl=None if ttl is None else check_ttl(ttl, name="ttl")
            )
        except ConfigError as error:
            return _error(str(error))
        base = str(request.base_url).rstrip("/")
        return _json(session.to_json(base), status=201)

    async def _reset(self, request: Request) -> Response:
        self.fake.reset()
        return _json({"reset": True})


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": _CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _json(data: Any, status: int = 200) -> Response:
    return Response(jsonio.dumps(data), status_code=status, media_type="application/json")


def _error(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status=status)


async def _json_body(request: Request, default: Any = None) -> Any:
    body = await request.body()
    if not body.strip() and default is not None:
        return default
    if len(body) > MAX_BODY_BYTES * 5:
        return _error("body too large", status=413)
    try:
        return jsonio.loads(body, lone_surrogates="refuse")
    except jsonio.NotJsonError as error:
        return _error(f"the body is not JSON: {error}")


def create_app(
    fake: FakeDingTalk | None = None,
    *,
    log_requests: bool = False,
    clock: Callable[[], float] = time.time,
    on_ready: Callable[[], None] | None = None,
) -> FakeApp:
    """The ASGI app for ``fake`` (a new, unconfigured one by default).

    ``log_requests`` logs one line per DingTalk request to the ``dingwire.fake.app`` logger,
    secrets masked; ``on_ready`` is called once the app has started.
    """
    return FakeApp(
        fake if fake is not None else FakeDingTalk(),
        log_requests=log_requests,
        clock=clock,
        on_ready=on_ready,
    )
