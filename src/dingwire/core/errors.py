"""Every error dingwire raises, in one tree.

::

    DingwireError                     .advice on every error
    ├── ConfigError                   no robot, bad config file, bad ``dingtalk://`` URL
    ├── BudgetStoreError              the shared budget store (Redis) cannot be reached and
    │                                 on_store_error is "fail": nothing was sent
    ├── MessageError (ValueError)     a message that DingTalk would refuse; .field
    │   └── TooLargeError             the JSON body is over 20,000 bytes; .size, .limit
    │       └── TooManyPartsError         split, it would take more than max_parts; .parts
    ├── TransportError                nothing usable came back
    │   ├── ConnectError              the connection was never made: safe to retry
    │   ├── DeliveryUnknownError      sent, but no reply: the message may have arrived
    │   │   ├── RequestTimeoutError       no reply in time
    │   │   └── ConnectionLostError       the connection dropped before the reply
    │   └── BadResponseError          an HTTP error or a reply that is not DingTalk's JSON
    │       └── GatewayThrottledError     a 3xx, an HTML page or JSON without errcode: slow
    │                                     down (also a RateLimitedError); .retry_after
    ├── RateLimitedError              budget spent or locked out; .retry_after, .until, .reason
    │   └── QuotaExceededError        the org's quota is spent; .org, .quota, .renews_at
    └── ApiError                      DingTalk answered errcode != 0; .errcode, .errmsg
        ├── SecurityError             310000, one of:
        │   ├── SignatureError            sign not match (wrong or missing secret)
        │   ├── TimestampError            timestamp outside DingTalk's 1-hour window
        │   ├── KeywordError              none of the robot's keywords in the message
        │   └── IpNotAllowedError         this machine's IP is not on the allow-list
        ├── TokenError                unknown or missing access_token
        ├── RobotDisabledError        robot disabled or removed, group disbanded
        ├── ThrottledError            130101 / 410100 (also a RateLimitedError)
        ├── QuotaRefusedError         90030 / 90020: DingTalk says the org's quota is spent
        │                             (also a QuotaExceededError)
        ├── BodyTooLargeError         460101 / 101002 (also a TooLargeError)
        ├── InvalidRequestError       missing or malformed field, bad JSON, bad msgtype
        ├── ContentRejectedError      430101-430104: DingTalk's content filter
        └── ServerBusyError           -1: try again

DingTalk's replies are classified once, in :func:`error_for`, which understands both the
legacy English ``errmsg`` and the newer ``description:…;solution:…`` form. Every error can
be shown to a person as it is: none of them ever holds a token, sign or secret.
"""

from __future__ import annotations

import re
from typing import Any

from dingwire.core.limits import MAX_BODY_BYTES

__all__ = [
    "ApiError",
    "BadResponseError",
    "BodyTooLargeError",
    "BudgetStoreError",
    "ConfigError",
    "ConnectError",
    "ConnectionLostError",
    "ContentRejectedError",
    "DeliveryUnknownError",
    "DingwireError",
    "GatewayThrottledError",
    "InvalidRequestError",
    "IpNotAllowedError",
    "KeywordError",
    "MessageError",
    "QuotaExceededError",
    "QuotaRefusedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RobotDisabledError",
    "SecurityError",
    "ServerBusyError",
    "SignatureError",
    "ThrottledError",
    "TimestampError",
    "TokenError",
    "TooLargeError",
    "TooManyPartsError",
    "TransportError",
    "error_for",
]


class DingwireError(Exception):
    """The root of every error dingwire raises.

    ``str(error)`` is one line that says what happened; ``error.advice`` says what to do.
    ``errcode`` and ``errmsg`` are DingTalk's own, when DingTalk answered.
    """

    default_advice = ""

    def __init__(
        self,
        message: str,
        *,
        advice: str | None = None,
        errcode: int | None = None,
        errmsg: str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,
        size: int | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice if advice is not None else self.default_advice
        self.errcode = errcode
        self.errmsg = errmsg
        self.field = field
        self.retry_after = retry_after
        self.status = status
        self.size = size
        self.limit = limit

    def __str__(self) -> str:
        return self.message

    def describe(self) -> str:
        """The message and the advice, for a person reading a terminal or a log."""
        if self.advice:
            return f"{self.message}\n  → {self.advice}"
        return self.message


class ConfigError(DingwireError):
    """The configuration is missing or wrong: no robot given, a bad file, a bad URL."""


class BudgetStoreError(DingwireError):
    """The budget store every host shares (Redis) cannot be reached, and the robot's
    ``on_store_error`` is ``"fail"``: nothing was sent. ``.advice`` says what to do."""

    default_advice = (
        'start the budget store, or set [budget] on_store_error = "local" to count on this '
        "machine alone while it is away"
    )


class MessageError(DingwireError, ValueError):
    """A message DingTalk would refuse; ``field`` names the offending field."""


class TooLargeError(MessageError):
    """The JSON body is over DingTalk's 20,000-byte limit."""

    default_advice = (
        "shorten the message, or send it with split=True "
        "(`dingwire send` splits text and markdown automatically)"
    )


class TooManyPartsError(TooLargeError):
    """Split, the message would take more parts than ``max_parts`` allows; nothing was sent.

    ``parts`` is how many it would take (an estimate when the text was refused for its size
    before splitting; the message then says "about"), ``max_parts`` the ceiling it is over.
    """

    default_advice = "send less, or allow more parts with max_parts="

    def __init__(self, message: str, *, parts: int, max_parts: int, **context: Any) -> None:
        super().__init__(message, **context)
        self.parts = parts
        self.max_parts = max_parts


class TransportError(DingwireError):
    """The request did not get a usable reply from DingTalk."""


class ConnectError(TransportError):
    """The connection was never made (DNS, refused, TLS, proxy): nothing was sent."""

    default_advice = "check the network path to DingTalk (DNS, firewall, proxy)"


class DeliveryUnknownError(TransportError):
    """The request went out but no reply came back: the message may have arrived."""

    default_advice = (
        "the message may or may not have arrived; it is not retried unless "
        "retry_on_timeout=True, because a duplicate alert is worse than a reported error"
    )


class RequestTimeoutError(DeliveryUnknownError):
    """The request was sent but no reply came in time."""


class ConnectionLostError(DeliveryUnknownError):
    """The connection dropped after the request was sent, before the reply."""


class BadResponseError(TransportError):
    """An HTTP error status (``.status``), or a reply that is not DingTalk's JSON."""

    default_advice = (
        "check that the webhook URL points at DingTalk (or a proxy that passes it through)"
    )


class RateLimitedError(DingwireError):
    """Nothing was sent: the robot's budget is spent, or DingTalk locked the robot out.

    ``retry_after`` says how many seconds until a send may go, ``until`` when (epoch
    seconds), ``reason`` why: ``"budget"`` (the minute window), ``"lockout"`` (DingTalk
    throttled the robot) or ``"quota"`` (the organisation's quota).
    """

    default_advice = (
        "wait and send again (a blocking send waits for the minute budget by itself; give "
        "max_wait to wait for a lockout too), or spread messages over more robots"
    )

    def __init__(
        self,
        message: str,
        *,
        until: float | None = None,
        reason: str = "budget",
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.until = until
        self.reason = reason


class QuotaExceededError(RateLimitedError):
    """The organisation's quota of webhook calls is spent; nothing was sent.

    ``org`` names the organisation, ``quota`` its quota (``"3,000/month"``), ``renews_at``
    when the period renews (epoch seconds; ``None`` when DingTalk did not say).
    """

    default_advice = (
        "the organisation's webhook calls are spent until its quota renews (DingTalk bills "
        "them per organisation per month): send less (a relay merges a storm into digests), "
        "or raise the organisation's edition or quota"
    )

    def __init__(
        self,
        message: str,
        *,
        org: str | None = None,
        quota: str | None = None,
        renews_at: float | None = None,
        **context: Any,
    ) -> None:
        context.setdefault("reason", "quota")
        super().__init__(message, **context)
        self.org = org
        self.quota = quota
        self.renews_at = renews_at


class GatewayThrottledError(BadResponseError, RateLimitedError):
    """Something other than DingTalk's errcode JSON came back: a 3xx, an HTML page, or
    JSON without ``errcode`` (the anti-abuse gateway's ``{"status":1111,"wait":5,...}``).

    Never a success and never a refusal: nothing was delivered, and DingTalk asks for less.
    ``retry_after`` is the gateway's ``wait`` when it gave one.
    """

    default_advice = (
        "DingTalk's gateway asked to slow down (or something between here and DingTalk "
        "answered instead of it): send less often, and check any proxy in the way"
    )

    def __init__(self, message: str, **context: Any) -> None:
        context.setdefault("reason", "lockout")
        super().__init__(message, **context)


class ApiError(DingwireError):
    """DingTalk refused the message: ``errcode`` and ``errmsg`` are its own."""

    default_advice = "an errcode dingwire does not know: DingTalk's errmsg above says why"


class SecurityError(ApiError):
    """310000: one of the robot's security settings refused the message."""

    default_advice = "check the robot's security settings (keywords, signing secret, IP allow-list)"


class SignatureError(SecurityError):
    """310000 sign not match: the signature does not match the robot's secret."""

    default_advice = (
        "the signature does not match: check that the secret is the robot's 加签 secret "
        "(it starts with SEC), copied whole, and that the robot really has signing enabled"
    )


class TimestampError(SecurityError):
    """310000 invalid timestamp: outside DingTalk's one-hour window."""

    default_advice = (
        "the timestamp is outside DingTalk's one-hour window: check this machine's clock (NTP)"
    )


class KeywordError(SecurityError):
    """310000 keywords not in content: none of the robot's keywords is in the message."""

    default_advice = (
        "the message contains none of the robot's keywords: list them in keywords=[...] "
        "(or `keywords` in the config) and dingwire adds one when it is missing"
    )


class IpNotAllowedError(SecurityError):
    """310000 ip not in whitelist: this machine's IP is not allowed."""

    default_advice = (
        "this machine's public IP is not on the robot's allow-list: add it (or its range) "
        "in the robot's security settings, or send from an allowed egress"
    )


class TokenError(ApiError):
    """The access_token is unknown or missing (300001, 300005, 400101, 40035)."""

    default_advice = (
        "the access_token is unknown: copy the webhook URL again from the robot's settings; "
        "a robot in an external group may not be reachable"
    )


class RobotDisabledError(ApiError):
    """The robot is disabled or gone, or its group is (400102, 400106, 400013)."""

    default_advice = "the robot is disabled, removed, or its group is gone: ask a group admin"


class ThrottledError(ApiError, RateLimitedError):
    """DingTalk throttled the robot (130101, 410100); ``retry_after`` is the lockout."""

    default_advice = (
        "DingTalk throttled the robot (20 messages a minute; 10 minutes blocked after): "
        "keep rate_limit on, and make sure every sender shares it"
    )

    def __init__(self, message: str, **context: Any) -> None:
        context.setdefault("reason", "lockout")
        super().__init__(message, **context)


class QuotaRefusedError(ApiError, QuotaExceededError):
    """DingTalk answered that the organisation's webhook calls are spent (90030, 90020)."""

    default_advice = QuotaExceededError.default_advice


class BodyTooLargeError(ApiError, TooLargeError):
    """DingTalk refused the body as over 20,000 bytes (460101, 101002, HTTP 413)."""

    default_advice = TooLargeError.default_advice


class InvalidRequestError(ApiError):
    """A field is missing or malformed, bad JSON, or an unsupported msgtype."""

    default_advice = "a field is missing or malformed: compare the body with DingTalk's schema"


class ContentRejectedError(ApiError):
    """DingTalk's content filter refused the message (430101-430104)."""

    default_advice = (
        "DingTalk's content filter refused the message: change the links, text or images"
    )


class ServerBusyError(ApiError):
    """errcode -1: DingTalk is busy; safe to retry."""

    default_advice = "DingTalk is busy: try again shortly"


_ERROR_BY_CODE: dict[int, type[ApiError]] = {
    -1: ServerBusyError,
    300001: TokenError,
    300005: TokenError,
    400101: TokenError,
    400102: RobotDisabledError,
    400106: RobotDisabledError,
    400013: RobotDisabledError,
    130101: ThrottledError,
    410100: ThrottledError,
    460101: BodyTooLargeError,
    101002: BodyTooLargeError,
    430101: ContentRejectedError,
    430102: ContentRejectedError,
    430103: ContentRejectedError,
    430104: ContentRejectedError,
    90030: QuotaRefusedError,
    90020: QuotaRefusedError,
    40035: InvalidRequestError,
    43002: InvalidRequestError,
    43004: InvalidRequestError,
    400105: InvalidRequestError,
}

# 310000 covers four causes; the errmsg tells them apart, in either wording.
_SECURITY_CAUSES: tuple[tuple[re.Pattern[str], type[SecurityError]], ...] = (
    (re.compile(r"keyword|关键词", re.I), KeywordError),
    (re.compile(r"sign not match|签名不匹配", re.I), SignatureError),
    (re.compile(r"timestamp|签名过期|时间戳", re.I), TimestampError),
    (re.compile(r"whitelist|白名单|\bip\b", re.I), IpNotAllowedError),
)

_NEW_STYLE = re.compile(r"(?:description|错误描述)\s*[:：]\s*(?P<desc>[^;；]*)")


def summarise_errmsg(errmsg: str) -> str:
    """The useful part of an errmsg: the description of the newer style, no doc-link tail."""
    match = _NEW_STYLE.search(errmsg)
    if match:
        return match.group("desc").strip()
    return re.sub(r",?\s*more:\s*\[.*?\]\s*$", "", errmsg).strip()


def error_for(errcode: int, errmsg: str, *, clock_note: str | None = None) -> ApiError:
    """The error for a DingTalk reply with ``errcode != 0``.

    ``clock_note`` is added to the advice of an expired-timestamp error; the transport
    passes what it knows about this machine's clock against DingTalk's.
    """
    cls: type[ApiError]
    if errcode == 310000:
        cls = next((c for p, c in _SECURITY_CAUSES if p.search(errmsg)), SecurityError)
    elif errcode == 40035 and "access_token" in errmsg:
        cls = TokenError
    elif errcode in _ERROR_BY_CODE:
        cls = _ERROR_BY_CODE[errcode]
    elif 400000 <= errcode < 500000:
        cls = InvalidRequestError
    else:
        cls = ApiError
    advice = cls.default_advice
    if cls is TimestampError and clock_note:
        advice = f"{advice}; {clock_note}"
    extra: dict[str, Any] = {}
    if cls is BodyTooLargeError:
        extra["limit"] = MAX_BODY_BYTES
    summary = summarise_errmsg(errmsg) or "no errmsg"
    return cls(
        f"DingTalk refused the message: errcode {errcode}: {summary}",
        advice=advice,
        errcode=errcode,
        errmsg=errmsg,
        **extra,
    )
