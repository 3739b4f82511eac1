"""The request a robot sends and what its reply means: no sockets, no clock.

``build_request`` turns a message into the exact bytes DingTalk gets: strict validation,
mentions that notify, a keyword when the robot needs one, compact UTF-8 JSON (CJK is sent
as UTF-8, not ``\\uXXXX``, which would triple its size), the 20,000-byte limit checked before
anything is sent, and the signed URL. ``parse_reply`` turns DingTalk's answer into a
:class:`SendResult` or raises the matching error from :mod:`dingwire.core.errors`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dingwire.core.errors import (
    BadResponseError,
    BodyTooLargeError,
    GatewayThrottledError,
    TooLargeError,
    error_for,
)
from dingwire.core.mentions import ensure_keyword
from dingwire.core.messages import MessageLike, to_payload
from dingwire.core.redact import mask_url
from dingwire.core.signing import SIGN_WINDOW_MS, signed_url

__all__ = [
    "DEFAULT_BASE_URL",
    "HEADERS",
    "MAX_BODY_BYTES",
    "MAX_GATEWAY_WAIT",
    "Request",
    "SendResult",
    "build_request",
    "clock_note",
    "encode_body",
    "parse_reply",
    "prepare_payload",
]

DEFAULT_BASE_URL = "https://oapi.dingtalk.com"
MAX_BODY_BYTES = 20_000
HEADERS: Mapping[str, str] = {"Content-Type": "application/json; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request to DingTalk. Its ``repr`` masks the token and the sign."""

    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=lambda: dict(HEADERS))
    method: str = "POST"

    def __repr__(self) -> str:
        return f"Request({self.method} {mask_url(self.url)}, {len(self.body)} bytes)"


@dataclass(frozen=True, slots=True)
class SendResult:
    """DingTalk accepted the message (``errcode == 0``).

    ``attempts`` counts the requests it took (retries included); ``parts`` the messages it
    was split into (1 unless sent with ``split=True``).
    """

    errcode: int = 0
    errmsg: str = "ok"
    attempts: int = 1
    parts: int = 1


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as it goes on the wire."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def prepare_payload(message: MessageLike, keywords: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON object to send: validated, mentions written in, a keyword added if needed."""
    return ensure_keyword(to_payload(message), keywords)


def build_request(
    webhook: str,
    message: MessageLike,
    *,
    secret: str | None = None,
    timestamp_ms: int | None = None,
    keywords: Sequence[str] = (),
    limit: int = MAX_BODY_BYTES,
) -> Request:
    """The request that sends ``message`` through ``webhook``.

    Raises :class:`MessageError` for an invalid message and :class:`TooLargeError` when
    the body is over ``limit`` bytes. With a ``secret``, ``timestamp_ms`` is required.
    """
    body = encode_body(prepare_payload(message, keywords))
    if len(body) > limit:
        raise TooLargeError(
            f"the message is {len(body):,} bytes of JSON; DingTalk accepts at most {limit:,}",
            size=len(body),
            limit=limit,
        )
    url = webhook
    if secret:
        if timestamp_ms is None:
            raise ValueError("a signed request needs timestamp_ms")
        url = signed_url(webhook, secret, timestamp_ms)
    return Request(url=url, body=body)


def clock_note(timestamp_ms: int | None, server_time: float | None) -> str | None:
    """What the reply's ``Date`` says about this machine's clock, for a timestamp error."""
    if timestamp_ms is None or server_time is None:
        return None
    skew = timestamp_ms / 1000 - server_time
    if abs(skew) * 1000 > SIGN_WINDOW_MS:
        direction = "ahead of" if skew > 0 else "behind"
        return f"this machine's clock is {abs(skew) / 60:.0f} minutes {direction} DingTalk's"
    if abs(skew) > 60:
        direction = "ahead of" if skew > 0 else "behind"
        return f"this machine's clock is {abs(skew):.0f} s {direction} DingTalk's"
    return (
        "this machine's clock agrees with DingTalk's, so the timestamp was probably "
        "computed once and reused for over an hour"
    )


#: 4xx statuses that mean "too many": the rest of 4xx without an errcode is a wrong URL.
_SLOW_DOWN_STATUSES = frozenset({403, 429})

#: The longest ``wait`` a gateway answer is taken at its word for (its per-IP ban is 5 min).
MAX_GATEWAY_WAIT = 600.0


def _gateway_wait(reply: object) -> float | None:
    """The ``wait`` (seconds) of an anti-abuse answer such as ``{"status":1111,"wait":5}``."""
    if not isinstance(reply, dict):
        return None
    wait = reply.get("wait")
    if isinstance(wait, bool) or not isinstance(wait, int | float | str):
        return None
    try:
        seconds = float(wait)
    except ValueError:
        return None
    if not seconds >= 0:  # NaN too
        return None
    return min(seconds, MAX_GATEWAY_WAIT)


def parse_reply(
    status: int,
    body: bytes,
    *,
    timestamp_ms: int | None = None,
    server_time: float | None = None,
) -> SendResult:
    """The outcome of a reply: a :class:`SendResult`, or the error DingTalk's errcode means.

    ``timestamp_ms`` (the one signed into the request) and ``server_time`` (the reply's
    ``Date``, in epoch seconds) let a timestamp error say whether the clock is off.
    """
    if status == 413:
        raise BodyTooLargeError(
            "DingTalk's gateway refused the body as too large (HTTP 413)",
            status=status,
            limit=MAX_BODY_BYTES,
        )
    try:
        reply = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        reply = None
    if not isinstance(reply, dict) or not isinstance(reply.get("errcode"), int):
        snippet = body[:120].decode("utf-8", "replace").replace("\n", " ")
        if status >= 500 or (status >= 400 and status not in _SLOW_DOWN_STATUSES):
            # A 5xx is retried with backoff; a 404 or a 401 is a wrong URL or a proxy in
            # the way, not DingTalk asking for less: neither is a ten-minute lockout.
            raise BadResponseError(f"DingTalk answered HTTP {status}: {snippet!r}", status=status)
        # A 3xx, an HTML page, JSON without errcode: DingTalk's gateway (or something in
        # front of it) saying "slow down" its own way (API.md §4.1). Never success, never a
        # refusal: nothing was delivered, and the gateway's `wait` is honoured.
        wait = _gateway_wait(reply)
        kind = f"HTTP {status}" if status != 200 else "a reply without an errcode"
        waits = f", asking to wait {wait:g} s" if wait is not None else ""
        raise GatewayThrottledError(
            f"DingTalk's gateway answered {kind}{waits}; nothing was delivered: {snippet!r}",
            status=status,
            retry_after=wait,
        )
    errcode: int = reply["errcode"]
    errmsg = str(reply.get("errmsg", ""))
    if errcode != 0:
        raise error_for(errcode, errmsg, clock_note=clock_note(timestamp_ms, server_time))
    if status != 200:
        raise BadResponseError(f"DingTalk answered HTTP {status} with errcode 0", status=status)
    return SendResult(errcode=0, errmsg=errmsg or "ok")
