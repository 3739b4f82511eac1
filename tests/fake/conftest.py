"""Helpers for the fake's tests: a fixed clock, signed queries, an in-process ASGI caller, and
a strict reader of what the fake serves (JSON as a strict parser reads it, server-sent events)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from dingwire.core.signing import sign
from dingwire.fake.engine import FakeDingTalk, Incoming, Outcome

NOW = 1_700_000_000.0  # a fixed "now" for the engine, epoch seconds
NOW_MS = int(NOW * 1000)
SECRET = "SECb90923e19e58b466481e9e7b7a5b4f108a4531abde590ad3967fb29f0eae5c68"
TOKEN = "a" * 60 + "7f3e"


def strict_json(data: bytes) -> Any:
    """``data`` read as a strict parser reads JSON: UTF-8, no NaN or Infinity, no number that
    overflows a double, no lone surrogate (which an escape can make). Fails the test else."""
    text = data.decode("utf-8")  # strict: a lone surrogate encoded as UTF-8 bytes fails here

    def no_constant(name: str) -> Any:
        raise AssertionError(f"{name} served as JSON: {text[:200]}")

    def finite(number: str) -> float:
        value = float(number)
        assert math.isfinite(value), f"{number} overflows a double: {text[:200]}"
        return value

    value = json.loads(text, parse_constant=no_constant, parse_float=finite)
    # A "\ud800" escape parses to a lone surrogate, which is not text: strict parsers refuse it.
    json.dumps(value, ensure_ascii=False).encode("utf-8")
    return value


def sse_events(stream: bytes) -> list[tuple[str, Any]]:
    """The ``(event, data)`` of a server-sent event stream, each data read by strict_json."""
    events = []
    for block in stream.decode("utf-8").split("\n\n"):
        kind, data = "message", None
        for line in block.split("\n"):
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        if data is not None:
            events.append((kind, strict_json(data.encode("utf-8"))))
    return events


def body(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def text(content: str, **extra: Any) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}, **extra}


def signed_query(
    token: str = TOKEN, secret: str = SECRET, timestamp_ms: int = NOW_MS, *, encode: bool = True
) -> str:
    signature = sign(secret, timestamp_ms)
    shown = quote(signature, safe="") if encode else signature
    return f"access_token={token}&timestamp={timestamp_ms}&sign={shown}"


def send(
    fake: FakeDingTalk,
    payload: Any = None,
    *,
    query: str | None = None,
    raw: bytes | None = None,
    method: str = "POST",
    content_type: str | None = "application/json",
    client_ip: str | None = "127.0.0.1",
    now: float = NOW,
    path: str = "/robot/send",
) -> Outcome:
    request = Incoming(
        method=method,
        path=path,
        query=f"access_token={TOKEN}" if query is None else query,
        content_type=content_type,
        body=raw if raw is not None else body(payload if payload is not None else text("hi")),
        client_ip=client_ip,
    )
    return fake.handle(request, now)


@dataclass
class AsgiReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return strict_json(self.body)


async def _call(
    app: Any,
    method: str,
    path: str,
    query: bytes,
    headers: Iterable[tuple[bytes, bytes]],
    payload: bytes,
    hold: bool = False,
) -> AsgiReply:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    pending = [{"type": "http.request", "body": payload, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        if hold:  # the client stays connected until the answer is in, as over a socket
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send_(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send_)
    start = next(m for m in sent if m["type"] == "http.response.start")
    chunks = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    names = {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])}
    return AsgiReply(start["status"], names, chunks)


def call_asgi(
    app: Any,
    method: str,
    path: str,
    *,
    query: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = ((b"content-type", b"application/json"),),
    body: bytes = b"",
    hold: bool = False,
) -> AsgiReply:
    """One request to an ASGI app in this process (no lifespan, no socket).

    The client hangs up once its body is read, unless ``hold``: then it waits for the
    answer (what a latency fault needs to see).
    """
    return asyncio.run(_call(app, method, path, query, headers, body, hold))


@pytest.fixture
def fake() -> FakeDingTalk:
    return FakeDingTalk()
