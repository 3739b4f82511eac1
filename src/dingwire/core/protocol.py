"""The request a robot sends and what its reply means: no sockets, no clock.

Rules kept here — both robots build their requests from these pieces, and
:func:`build_request` is the same pieces in one call:

- :func:`prepare_payload`: strict validation (:mod:`dingwire.core.validation`), mentions
  that notify, a keyword when the robot needs one.
- :func:`encode_body`: compact UTF-8 JSON (CJK is sent as UTF-8, not ``\\uXXXX``, which
  would triple its size); NaN and infinities never go out (``allow_nan=False``), and what
  cannot be encoded is a :class:`MessageError` naming its field.
- :func:`check_body_size`: the 20,000-byte limit, checked before anything is sent.
- :class:`Webhook`: the URL checked once (:func:`dingwire.core.urls.normalise_webhook`) and
  parsed once, so that signing each attempt with a fresh timestamp is string work only.
- :func:`decode_body`: JSON text read strictly, for a message someone wrote by hand.

``parse_reply`` turns DingTalk's answer into a :class:`SendResult` or raises the matching
error from :mod:`dingwire.core.errors`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dingwire.core.errors import (
    BadResponseError,
    BodyTooLargeError,
    GatewayThrottledError,
    MessageError,
    TooLargeError,
    error_for,
)
from dingwire.core.limits import MAX_BODY_BYTES
from dingwire.core.mentions import ensure_keyword
from dingwire.core.messages import MessageLike, to_payload
from dingwire.core.redact import MASK, mask_url
from dingwire.core.signing import SIGN_WINDOW_MS, sign_query, signing_template
from dingwire.core.urls import DEFAULT_BASE_URL, normalise_webhook
from dingwire.core.validation import MAX_DEPTH, check_values

__all__ = [
    "DEFAULT_BASE_URL",
    "HEADERS",
    "MAX_BODY_BYTES",
    "MAX_GATEWAY_WAIT",
    "MAX_JSON_BYTES",
    "Request",
    "SendResult",
    "Webhook",
    "build_request",
    "check_body_size",
    "clock_note",
    "decode_body",
    "encode_body",
    "parse_reply",
    "prepare_payload",
]

HEADERS: Mapping[str, str] = {"Content-Type": "application/json; charset=utf-8"}
#: The most JSON text :func:`decode_body` reads (a message is at most 20,000 bytes compact;
#: this leaves room for indentation).
MAX_JSON_BYTES = 1_000_000
#: The longest number :func:`decode_body` reads, in characters.
_MAX_NUMBER_CHARS = 40


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


class Webhook:
    """A robot's webhook and its secret: the requests that go to it, each signed.

    The URL is checked when the webhook is made (a :class:`ConfigError` before any
    connection) and parsed once; :meth:`request` only joins strings and signs.

    >>> hook = Webhook("https://oapi.dingtalk.com/robot/send?access_token=T", "SECx")
    >>> hook.request(b"{}", timestamp_ms=1000).url[:60]
    'https://oapi.dingtalk.com/robot/send?access_token=T&timestamp'
    """

    __slots__ = ("_prefix", "_secret", "_suffix", "url")

    def __init__(self, url: str, secret: str | None = None, *, name: str = "webhook") -> None:
        self.url = normalise_webhook(url, name=name)
        self._secret = secret or None
        self._prefix, self._suffix = signing_template(self.url)

    def request(self, body: bytes, timestamp_ms: int | None = None) -> Request:
        """The request that posts ``body``, signed at ``timestamp_ms`` (needed with a secret)."""
        if self._secret is None:
            return Request(url=self.url, body=body)
        if timestamp_ms is None:
            raise ValueError("a signed request needs timestamp_ms")
        query = sign_query(self._secret, timestamp_ms)
        return Request(url=f"{self._prefix}{query}{self._suffix}", body=body)

    def __repr__(self) -> str:
        secret = f", secret={MASK!r}" if self._secret else ""
        return f"Webhook({mask_url(self.url)!r}{secret})"


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as it goes on the wire.

    Raises :class:`MessageError` naming the field that JSON cannot carry (NaN, a lone
    surrogate, a ``set``…).
    """
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError) as error:
        check_values(payload)  # names the field
        raise MessageError(f"body: cannot be sent as JSON ({error})", field="body") from None


def check_body_size(body: bytes, limit: int = MAX_BODY_BYTES) -> bytes:
    """``body``, or :class:`TooLargeError` when it is over ``limit`` bytes."""
    if len(body) > limit:
        raise TooLargeError(
            f"the message is {len(body):,} bytes of JSON; DingTalk accepts at most {limit:,}",
            size=len(body),
            limit=limit,
        )
    return body


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
    """The request that sends ``message`` through ``webhook``: what a robot sends.

    Raises :class:`ConfigError` for a bad webhook, :class:`MessageError` for an invalid
    message and :class:`TooLargeError` when the body is over ``limit`` bytes. With a
    ``secret``, ``timestamp_ms`` is required.
    """
    hook = Webhook(webhook, secret)
    body = check_body_size(encode_body(prepare_payload(message, keywords)), limit)
    return hook.request(body, timestamp_ms)


def decode_body(data: bytes | str, *, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The message in JSON text someone wrote (a file, stdin), read strictly.

    Refused with one clear :class:`MessageError` each: more than ``max_bytes``, bytes that
    are not UTF-8 (a BOM is fine), text that is not JSON or not one object, ``NaN`` and
    ``Infinity``, a key given twice in one object, a number of more than 40 characters,
    nesting deeper than :data:`~dingwire.core.validation.MAX_DEPTH`, and what
    :func:`~dingwire.core.validation.check_values` refuses. The result is not yet checked
    as a message: :func:`~dingwire.core.messages.to_payload` does that.

    >>> decode_body(b'{"msgtype": "text", "text": {"content": "hi"}}')["text"]
    {'content': 'hi'}
    """
    size = len(data)
    if size > max_bytes:
        raise MessageError(
            f"body: {size:,} {'bytes' if isinstance(data, bytes) else 'characters'} of JSON "
            f"is more than the {max_bytes:,} read (DingTalk takes at most "
            f"{MAX_BODY_BYTES:,} bytes)",
            field="body",
        )
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise MessageError(
                f"body: not UTF-8 (byte {error.start:,} is {data[error.start]:#04x}); "
                "save the file as UTF-8",
                field="body",
            ) from None
    else:
        text = data
    try:
        value = json.loads(
            text,
            parse_constant=_no_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
            object_pairs_hook=_object,
        )
    except RecursionError:
        raise MessageError(
            f"body: the JSON is nested too deep (a message is at most {MAX_DEPTH} deep)",
            field="body",
        ) from None
    except json.JSONDecodeError as error:
        raise MessageError(
            f"body: not JSON: {error.msg} (line {error.lineno}, column {error.colno})",
            field="body",
        ) from None
    if not isinstance(value, dict):
        raise MessageError(
            f"body: a message is a JSON object ({{...}}), not {_json_kind(value)}", field="body"
        )
    check_values(value)
    return value


def _no_constant(name: str) -> Any:
    raise MessageError(f"body: {name} is not a number JSON can carry", field="body")


def _long_number(text: str) -> MessageError:
    return MessageError(
        f"body: a number of {len(text):,} characters ({text[:12]}…) is longer than the "
        f"{_MAX_NUMBER_CHARS} dingwire reads",
        field="body",
    )


def _parse_int(text: str) -> int:
    if len(text) > _MAX_NUMBER_CHARS:
        raise _long_number(text)
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > _MAX_NUMBER_CHARS:
        raise _long_number(text)
    number = float(text)
    if number in (math.inf, -math.inf):
        raise MessageError(f"body: {text} is too large for a JSON number", field="body")
    return number


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MessageError(
                f"body: the key {key[:40]!r} is given twice in one object; keep one",
                field="body",
            )
        result[key] = value
    return result


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}
    return kinds.get(type(value), "a number")


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
