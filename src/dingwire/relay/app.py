"""The relay's HTTP side: intake, message status, health, metrics, reload, the OpenAPI document.

:func:`create_app` builds a Starlette app from the settings and the backends it is given
(outbox, renderer, dispatcher, metrics); nothing here opens a file or a socket, so tests
build it with stubs and serve it with Starlette's ``TestClient``.

Answers, as DESIGN.md ("Relay") says, and the rules kept to give them:

- ``202 {"id": ...}`` only once :meth:`Outbox.enqueue` has returned (it returns after the
  commit); a notification already stored within ``dedupe_window`` answers 202 with the
  first id and ``"duplicate": true``. Only then is the dispatcher woken.
- ``400 {"error": reason}``: the body is not JSON, not an object, or not a payload the
  renderer understands (its :class:`~dingwire.relay.alerts.PayloadError` says what to fix).
- ``401`` with ``WWW-Authenticate`` when ``[relay] auth_token`` is set and the request does
  not carry it (``Authorization: Bearer TOKEN``, or HTTP Basic with the token as password,
  which is what Alertmanager's and Grafana's basic-auth settings send); compared in constant
  time (digests of equal length through :func:`hmac.compare_digest`).
- ``404``: no such robot in the config (or no such message, or no such path).
- ``413``: a body over ``max_body``, known from ``Content-Length`` before a byte is read,
  or counted while a chunked body streams in (the connection is closed after the answer).
- ``503`` with ``Retry-After``: the outbox cannot store (:class:`OutboxUnavailable`), the
  relay is shutting down (draining), or the robot's table is broken (fixed by editing the
  config and reloading, so the sender should retry, not drop the alert).
- Never a 2xx for something not stored, never a 4xx for a temporary failure.

Speed: the intake does the least it can per request — no validation library, the body read
straight from the ASGI ``receive`` channel and parsed once; an alert notification is checked
(what makes it a 400 is found here) and stored as received, and rendered by the dispatcher
when it is sent, so a storm costs the intake its reading and its commit only. A small body
is handed from the event loop to an outbox that groups concurrent commits into one; a
large one goes through a worker thread. The intake's POSTs are raw ASGI handlers that the
app calls before Starlette's router and middleware (:class:`_RelayApp`): 445 → 367 µs of
the relay's CPU per request, 2,151 → 2,576 requests/s in the same run; the router knows
the same routes, for every other path and method.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import time
from base64 import b64decode
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol, cast

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dingwire.config import Config
from dingwire.core.errors import ConfigError
from dingwire.core.redact import scrub
from dingwire.relay.alerts import PayloadError
from dingwire.relay.logs import config_secrets
from dingwire.relay.metrics import CONTENT_TYPE, RelayMetrics
from dingwire.relay.model import Enqueued, Outgoing, Record
from dingwire.relay.openapi import openapi_document
from dingwire.relay.outbox import Outbox, OutboxUnavailable
from dingwire.relay.settings import RelaySettings

__all__ = [
    "DispatcherLike",
    "Intake",
    "RendererLike",
    "Served",
    "create_app",
    "parse_body",
    "record_json",
]

log = logging.getLogger(__name__)

Source = Literal["alertmanager", "grafana", "messages"]
SOURCES: tuple[Source, ...] = ("alertmanager", "grafana", "messages")
Reload = Callable[[], Awaitable[None]]

#: Seconds a sender is asked to wait when the relay drains or a robot's table is broken.
DRAIN_RETRY_AFTER = 10
BROKEN_ROBOT_RETRY_AFTER = 30
#: How long the lifespan gives the dispatcher to finish the sends in flight.
DEFAULT_GRACE = 5.0
_MAX_ID = 200
#: Requests rendered and stored at once: enough for the outbox to group many commits in one.
INTAKE_THREADS = 64
#: Bodies up to this size are rendered on the event loop (well under a millisecond); larger
#: ones (a group of thousands of alerts) in a worker thread, so the loop never stalls.
INLINE_RENDER_BYTES = 64 * 1024
#: While the outbox cannot store, at most one warning in this many seconds says so.
STORE_WARNING_EVERY = 30.0


class RendererLike(Protocol):
    """What the intake needs of :class:`dingwire.relay.render.Renderer`."""

    def alertmanager(
        self, robot: str, data: Any, *, now: float, raw: str | None = None
    ) -> Outgoing: ...

    def grafana(self, robot: str, data: Any, *, now: float, raw: str | None = None) -> Outgoing: ...

    def message(self, robot: str, data: Any, *, now: float) -> Outgoing: ...

    def complete(self, message: Outgoing) -> Outgoing: ...


class DispatcherLike(Protocol):
    """What the app needs of :class:`dingwire.relay.dispatcher.Dispatcher`."""

    async def start(self) -> None: ...

    async def stop(self, grace: float) -> None: ...

    def wake(self, robot: str) -> None: ...

    def reconfigure(
        self, settings: RelaySettings, config: Config, renderer: RendererLike | None = None
    ) -> None: ...

    @property
    def alive(self) -> bool: ...


class _BadBody(Exception):
    """The body is not a JSON object; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refuse_constant(name: str) -> Any:
    raise _BadBody(f"the body is not JSON: {name} is not a JSON number")


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or :class:`_BadBody` with the reason (strict JSON: no
    ``NaN`` or ``Infinity``; UTF-8, -16 or -32 as RFC 8259 allows)."""
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise _BadBody(
            f"the body is not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except UnicodeDecodeError:
        raise _BadBody("the body is not JSON: it is not UTF-8 text") from None
    except RecursionError:
        raise _BadBody("the body is not JSON this relay accepts: nested too deeply") from None
    if not isinstance(data, dict):
        kind = "an array" if isinstance(data, list) else f"a {type(data).__name__}"
        raise _BadBody(f"the body must be a JSON object, got {kind}")
    return data


def _text(body: bytes, data: Any) -> str:
    """The JSON text of a body :func:`parse_body` read as ``data``: the body itself when it
    is UTF-8 (almost always), else ``data`` written again as UTF-8 JSON."""
    if json.detect_encoding(body) == "utf-8":
        return body.decode("utf-8")
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _json_bytes(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _json(
    status: int, data: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(_json_bytes(data), status, headers=headers, media_type="application/json")


def _retry_after(seconds: float) -> dict[str, str]:
    if not math.isfinite(seconds):
        seconds = DRAIN_RETRY_AFTER
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _presented_token(header: str) -> str | None:
    """The token in an ``Authorization`` header: a bearer token, or a Basic password."""
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        return value
    if scheme == "basic":
        try:
            decoded = b64decode(value, validate=True).decode("utf-8")
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            return None
        return decoded.partition(":")[2]
    return None


def _when(moment: float | None) -> float | None:
    return None if moment is None else round(moment, 3)


def record_json(record: Record, secrets: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """``GET /v1/messages/{id}``'s answer: the state of one record, every string scrubbed
    of the config's secrets (a DingTalk reply or a transport error could quote a URL)."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return scrub(value, secrets)
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    message = record.message
    answer: dict[str, Any] = clean(
        {
            "id": record.id,
            "robot": message.robot,
            "state": record.state,
            "source": message.source,
            "kind": message.kind,
            "priority": message.priority,
            "attempts": record.attempts,
            "reply": record.reply,
            "error": record.error,
            "digest": record.digest,
            "digest_size": record.digest_size,
            "received": _when(message.received),
            "updated": _when(record.updated),
            "not_before": _when(record.not_before),
            "failing_since": _when(record.failing_since),
            "sent_at": _when(record.sent_at),
            "history": list(record.history),
        }
    )
    return answer


@dataclass(frozen=True)
class Served:
    """One configuration as the intake serves it. A reload swaps in a new one whole, and a
    request reads it once, so that no request sees one config's robots with another's
    templates or token."""

    settings: RelaySettings
    config: Config
    renderer: RendererLike
    #: Why each configured robot cannot be used (``None``: it can), asked once per config.
    problems: Mapping[str, ConfigError | None]
    secrets: frozenset[str]
    token: bytes | None

    @classmethod
    def of(cls, settings: RelaySettings, config: Config, renderer: RendererLike) -> Served:
        return cls(
            settings,
            config,
            renderer,
            {name: config.problem(name) for name in config.robots},
            frozenset(config_secrets(config, settings)),
            _digest(settings.auth_token) if settings.auth_token else None,
        )

    def authorised(self, authorization: str) -> bool:
        """Whether a request whose ``Authorization`` header is ``authorization`` carries the
        token (always, when none is configured)."""
        if self.token is None:
            return True
        presented = _presented_token(authorization)
        # Digests of the same length: compare_digest then takes the same time for any guess.
        candidate = _digest(presented) if presented is not None else b"\0" * 32
        return hmac.compare_digest(candidate, self.token) and presented is not None

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    def render(self, source: Source, robot: str, body: bytes, now: float) -> Outgoing:
        """Parse and check one request: :class:`_BadBody` / :class:`PayloadError` (400).

        An alert notification is checked and kept as received, rendered when it is sent
        (:meth:`Renderer.complete`); a DingTalk message is checked by the core's validator
        and stored as it will go."""
        data = parse_body(body)
        renderer = self.renderer
        if source == "messages":
            return renderer.message(robot, data, now=now)
        raw = _text(body, data)
        if source == "alertmanager":
            return renderer.alertmanager(robot, data, now=now, raw=raw)
        return renderer.grafana(robot, data, now=now, raw=raw)

    def store(
        self, outbox: Outbox, source: Source, robot: str, body: bytes, now: float
    ) -> Enqueued:
        """Parse, render and enqueue one request; returns after the commit.

        Raises :class:`_BadBody` / :class:`PayloadError` (400) or
        :class:`OutboxUnavailable` (503). Runs in a worker thread.
        """
        outgoing = self.render(source, robot, body, now)
        (answer,) = outbox.enqueue([outgoing], now=now, dedupe_window=self.settings.dedupe_window)
        return answer

    async def store_async(
        self, intake: Intake, source: Source, robot: str, body: bytes, now: float
    ) -> Enqueued:
        """:meth:`store` for the event loop: the same answers and errors.

        A small body (most notifications) is read right here and handed to an outbox that
        takes it without blocking: ``enqueue_soon`` (SQLite: a future of this loop, set
        once for every caller of a commit) or ``submit_enqueue`` (a thread's future). The
        writer groups it with the other callers' — no thread of its own, no hand-offs of
        the GIL between threads. A large body, or an outbox without either, goes through a
        worker thread, so that the loop never stalls.
        """
        outbox = intake.outbox
        soon = getattr(outbox, "enqueue_soon", None)
        submit = getattr(outbox, "submit_enqueue", None)
        if (soon is None and submit is None) or len(body) > INLINE_RENDER_BYTES:
            store = partial(self.store, outbox, source, robot, body, now)
            return await anyio.to_thread.run_sync(store, limiter=intake.limiter)
        outgoing = self.render(source, robot, body, now)
        window = self.settings.dedupe_window
        if soon is not None:  # the loop's own future: one wake-up for a whole commit
            (answer,) = await soon([outgoing], now=now, dedupe_window=window)
        else:
            assert submit is not None
            (answer,) = await asyncio.wrap_future(submit([outgoing], now=now, dedupe_window=window))
        return cast(Enqueued, answer)


class Intake:
    """What the app's endpoints share: the configuration :attr:`served` (swapped by
    :meth:`reconfigure`), the backends, and whether the relay is draining.

    ``draining`` is set when the relay stops taking new work (SIGTERM): every intake then
    answers 503 with ``Retry-After`` while the sends in flight finish.
    """

    def __init__(
        self,
        served: Served,
        *,
        outbox: Outbox,
        dispatcher: DispatcherLike,
        metrics: RelayMetrics,
        clock: Callable[[], float] = time.time,
        reload: Reload | None = None,
    ) -> None:
        self.served = served
        self.outbox = outbox
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.clock = clock
        self.reload = reload
        self.draining = False
        # Worker threads for rendering and storing: the intake's own, so that a flood of
        # payloads never keeps /readyz or /metrics waiting for one of anyio's default 40.
        self.limiter = anyio.CapacityLimiter(INTAKE_THREADS)
        self._document: tuple[Served, dict[str, Any]] | None = None
        # While the outbox cannot store, every sender's retry is refused: one warning per
        # STORE_WARNING_EVERY seconds says so, with how many were refused meanwhile.
        self._warned_at = -math.inf
        self._refused_quietly = 0

    def refused_to_store(self, source: str, robot: str, reason: str) -> None:
        """Log that a payload could not be stored: at once, then at most every
        :data:`STORE_WARNING_EVERY` seconds while it lasts (an outage is not a log flood)."""
        now = self.clock()
        if now - self._warned_at < STORE_WARNING_EVERY:
            self._refused_quietly += 1
            return
        more = self._refused_quietly
        self._warned_at, self._refused_quietly = now, 0
        log.warning(
            "could not store a %s payload for %s: %s%s",
            source,
            robot,
            reason,
            f" ({more} more refused since the last warning)" if more else "",
        )

    def reconfigure(self, settings: RelaySettings, config: Config, renderer: RendererLike) -> None:
        """Serve with a new config and templates from now on (requests already being
        rendered finish with the old ones)."""
        self.served = Served.of(settings, config, renderer)

    def document(self) -> dict[str, Any]:
        """The OpenAPI document for the configuration served now."""
        served = self.served
        if self._document is None or self._document[0] is not served:
            document = openapi_document(
                robots=sorted(served.config.robots), auth=served.token is not None
            )
            self._document = (served, document)
        return self._document[1]


_UNAUTHORISED = {"WWW-Authenticate": 'Bearer realm="dingwire relay"'}


def _unauthorised_answer(authorization: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    given = "a wrong token" if authorization else "no token"
    reason = f"this relay needs its auth_token as 'Authorization: Bearer TOKEN'; got {given}"
    return 401, {"error": reason}, _UNAUTHORISED


def _authorization(request: Request) -> str:
    return request.headers.get("authorization", "")


def _unauthorised(request: Request) -> Response:
    return _json(*_unauthorised_answer(_authorization(request)))


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    """The whole body, or :class:`_TooLarge` as soon as it passes ``limit`` bytes (or its
    ``Content-Length``, ``declared``, says it will)."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _size(limit: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if limit >= factor and limit % factor == 0:
            return f"{limit // factor} {unit}"
    return f"{limit} bytes"


_JSON_TYPE = (b"content-type", b"application/json")


async def _send_json(
    send: Send, status: int, data: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    """An answer as :func:`_json` makes it, sent straight on the ASGI channel."""
    content = _json_bytes(data)
    raw = [(b"content-length", str(len(content)).encode()), _JSON_TYPE]
    if headers:
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


class _IntakeEndpoint:
    """The ASGI endpoint for one kind of payload (Alertmanager, Grafana, a DingTalk message).

    A raw ASGI handler, not a Starlette request handler: the intake is the relay's hot path,
    and :class:`_RelayApp` calls :meth:`handle` without the router and the middleware (the
    router still reaches it through ``__call__``, for a path only it matches)."""

    def __init__(self, intake: Intake, source: Source) -> None:
        self.intake = intake
        self.source = source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handle(scope["path_params"]["robot"], scope, receive, send)

    async def handle(self, robot: str, scope: Scope, receive: Receive, send: Send) -> None:
        intake, source = self.intake, self.source
        metrics = intake.metrics
        authorization, declared = "", None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                declared = value

        async def rejected(
            status: int, reason: str, headers: Mapping[str, str] | None = None
        ) -> None:
            metrics.rejected(source, status)
            await _send_json(send, status, {"error": reason}, headers)

        served = intake.served
        if not served.authorised(authorization):
            metrics.rejected(source, 401)
            await _send_json(send, *_unauthorised_answer(authorization))
            return
        if intake.draining:
            reason = "the relay is shutting down; send it again in a moment"
            await rejected(503, reason, _retry_after(DRAIN_RETRY_AFTER))
            return
        problems = served.problems
        if robot not in problems:
            names = ", ".join(sorted(problems)) or "none"
            shown = robot if len(robot) <= 80 else robot[:80] + "…"
            await rejected(
                404, f"no robot named {shown!r} in the relay's config (configured: {names})"
            )
            return
        problem = problems[robot]
        if problem is not None:
            reason = served.scrub(f"the robot {robot!r} cannot be used: {problem.message}")
            log.error("%s (fix the config, then reload)", reason)
            await rejected(503, reason, _retry_after(BROKEN_ROBOT_RETRY_AFTER))
            return
        limit = served.settings.max_body
        try:
            body = await _read_body(receive, declared, limit)
        except _TooLarge:
            reason = f"the body is over this relay's max_body of {_size(limit)}"
            # The rest of the body is not read: close the connection rather than drain it.
            await rejected(413, reason, {"Connection": "close"})
            return
        except _Disconnected:  # the sender is gone: nobody reads this
            await _send_json(send, 400, {"error": "the sender went away before the whole body"})
            return
        now = intake.clock()
        try:
            answer = await served.store_async(intake, source, robot, body, now)
        except (_BadBody, PayloadError) as error:
            await rejected(400, served.scrub(str(error.reason)))
            return
        except OutboxUnavailable as error:
            intake.refused_to_store(source, robot, served.scrub(error.message))
            reason = f"the relay cannot store it right now ({served.scrub(error.message)}); retry"
            await rejected(503, reason, _retry_after(error.retry_after))
            return
        intake.dispatcher.wake(robot)
        metrics.received(source)
        if answer.duplicate:
            await _send_json(send, 202, {"id": answer.id, "duplicate": True})
        else:
            await _send_json(send, 202, {"id": answer.id})


class _RelayApp(Starlette):
    """The relay's Starlette app, with the intake's POSTs taken before the router: a
    ``POST /dingtalk/R/send`` or ``/v1/robots/R/KIND`` goes straight to its endpoint (the
    router's regular expressions, the request objects and two middleware layers cost the
    hot path a tenth of its time). Every other request, and any path with a ``root_path``,
    goes through Starlette as usual; the router knows the same routes."""

    fast: Mapping[str, _IntakeEndpoint]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            parts = scope["path"].split("/")
            endpoint = None
            if len(parts) == 5 and parts[1] == "v1" and parts[2] == "robots" and parts[3]:
                endpoint = self.fast.get(parts[4])
                robot = parts[3]
            elif len(parts) == 4 and parts[1] == "dingtalk" and parts[3] == "send" and parts[2]:
                endpoint = self.fast.get("alertmanager")
                robot = parts[2]
            if endpoint is not None:
                scope["app"] = self
                await endpoint.handle(robot, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: RelaySettings,
    config: Config,
    *,
    outbox: Outbox,
    renderer: RendererLike,
    dispatcher: DispatcherLike,
    metrics: RelayMetrics,
    clock: Callable[[], float] = time.time,
    reload: Reload | None = None,
    grace: float = DEFAULT_GRACE,
) -> Starlette:
    """The relay's ASGI app, serving ``config``'s robots through the given backends.

    Its lifespan starts the dispatcher and, at shutdown, stops taking new work (503) and
    gives the dispatcher ``grace`` seconds to finish the sends in flight; what was not sent
    stays queued. ``reload`` is what ``POST /-/reload`` (and SIGHUP, in :mod:`.serve`)
    runs; it raises :class:`ConfigError` to refuse a broken config, keeping the old one.
    The :class:`Intake` is at ``app.state.intake``.
    """
    intake = Intake(
        Served.of(settings, config, renderer),
        outbox=outbox,
        dispatcher=dispatcher,
        metrics=metrics,
        clock=clock,
        reload=reload,
    )
    # (State is a str; Mapping's key type is invariant, so mypy needs telling.)
    metrics.watch_outbox(cast("Callable[[], Mapping[str, Mapping[str, int]]]", outbox.counts))

    async def message_status(request: Request) -> Response:
        if not intake.served.authorised(_authorization(request)):
            return _unauthorised(request)
        id: str = request.path_params["id"]
        if len(id) > _MAX_ID:
            return _json(404, {"error": "no message with this id"})
        try:
            record = await anyio.to_thread.run_sync(outbox.get, id)
        except OutboxUnavailable as error:
            reason = (
                f"the relay cannot read its outbox right now ({intake.served.scrub(error.message)})"
            )
            return _json(503, {"error": reason}, _retry_after(error.retry_after))
        if record is None:
            return _json(404, {"error": "no message with this id"})
        return _json(200, record_json(record, intake.served.secrets))

    async def healthz(request: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def readyz(request: Request) -> Response:
        problems: list[str] = []
        if intake.draining:
            problems.append("shutting down")
        if not dispatcher.alive:
            problems.append("the dispatcher is not running")
        try:
            await anyio.to_thread.run_sync(outbox.check)
        except OutboxUnavailable as error:
            problems.append(f"the outbox cannot store: {intake.served.scrub(error.message)}")
        if problems:
            return _json(503, {"ready": False, "problems": problems}, _retry_after(5))
        return _json(200, {"ready": True})

    async def metrics_endpoint(request: Request) -> Response:
        content = await anyio.to_thread.run_sync(metrics.render)
        return Response(content, 200, media_type=CONTENT_TYPE)

    async def reload_endpoint(request: Request) -> Response:
        if not intake.served.authorised(_authorization(request)):
            return _unauthorised(request)
        if intake.reload is None:
            return _json(404, {"error": "this relay was started without a config file to reload"})
        try:
            await intake.reload()
        except ConfigError as error:
            reason = intake.served.scrub(f"{error.message}; the previous configuration stays")
            return _json(400, {"error": reason})
        return _json(200, {"reloaded": True})

    async def openapi(request: Request) -> Response:
        return _json(200, intake.document())

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return _json(error.status_code, {"error": str(error.detail)}, error.headers)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await dispatcher.start()
        try:
            yield
        finally:
            intake.draining = True
            await dispatcher.stop(grace)

    fast: dict[str, _IntakeEndpoint] = {s: _IntakeEndpoint(intake, s) for s in SOURCES}
    alertmanager = fast["alertmanager"]
    routes = [
        Route("/dingtalk/{robot}/send", alertmanager, methods=["POST"]),
        Route("/v1/robots/{robot}/alertmanager", alertmanager, methods=["POST"]),
        Route("/v1/robots/{robot}/grafana", fast["grafana"], methods=["POST"]),
        Route("/v1/robots/{robot}/messages", fast["messages"], methods=["POST"]),
        Route("/v1/messages/{id}", message_status, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/-/reload", reload_endpoint, methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = _RelayApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
    )
    app.fast = fast
    app.state.intake = intake
    return app
