"""Each of DingTalk's checks as a small function; :mod:`dingwire.fake.checks` puts them in order.

A rule takes the :class:`Context` of one request and returns ``None`` when the request
passes, or the :class:`Refusal` DingTalk answers with. Rules run in the order of the table
and only while the ones before them passed, so each may rely on those: after
``token_known`` the request has a robot, after ``body_is_a_json_object`` a payload.

Rules kept here:

- Signing and validation are the core's (:func:`dingwire.core.signing.signature_matches`,
  :func:`dingwire.core.validation.validate_payload` in DingTalk's non-strict mode): the fake
  has no copy of either. A reused timestamp/sign pair is accepted, as DingTalk does.
- The sign is checked on the URL-decoded query value, as DingTalk's servlet reads it: an
  unencoded ``+`` arrives as a space and no longer matches.
- Two rules change what the fake counts: ``quota_left`` counts the call against the
  organisation's quota (API.md §3: DingTalk bills calls, whatever the answer after the token
  check), ``within_rate_limit`` locks a robot out when it goes over its rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from dingwire.core.errors import MessageError
from dingwire.core.protocol import MAX_BODY_BYTES
from dingwire.core.signing import SIGN_WINDOW_MS, signature_matches
from dingwire.core.validation import text_fields, validate_payload
from dingwire.fake import jsonio, replies
from dingwire.fake.budgets import OrgBudget
from dingwire.fake.config import FakeSettings
from dingwire.fake.replies import Reason, Style
from dingwire.fake.robots import RobotState
from dingwire.fake.sessions import Session

if TYPE_CHECKING:
    from dingwire.fake.engine import Incoming

__all__ = [
    "Context",
    "Refusal",
    "access_token_present",
    "body_is_a_json_object",
    "body_within_size",
    "content_type_is_json",
    "first_params",
    "ip_allowed",
    "keyword_present",
    "message_valid",
    "method_is_post",
    "parse_body",
    "quota_left",
    "robot_enabled",
    "session_known",
    "sign_matches",
    "signed",
    "timestamp_fresh",
    "token_known",
    "within_rate_limit",
]


@dataclass(frozen=True, slots=True)
class Refusal:
    """DingTalk's answer to a request that failed a check: the reason, and what fills its
    errmsg's placeholders (``{ip}``, ``{field}``)."""

    reason: Reason
    details: Mapping[str, str] = field(default_factory=dict)

    def errmsg(self, style: Style) -> str:
        """The errmsg in ``style``."""
        return self.reason.errmsg(style, **self.details)


@dataclass(slots=True)
class Context:
    """One request as the rules see it. ``payload`` is set once the body was parsed."""

    request: Incoming
    params: Mapping[str, str]
    now: float
    settings: FakeSettings
    robot: RobotState | None = None
    session: Session | None = None
    org: OrgBudget | None = None
    payload: Any = None
    parsed: bool = False

    @property
    def style(self) -> Style:
        """The errmsg wording of the request's robot, else the fake's."""
        robot = self.robot
        if robot is not None and robot.robot.errmsg_style is not None:
            return robot.robot.errmsg_style
        return self.settings.errmsg_style

    @property
    def accept_image(self) -> bool:
        """Whether the request's robot (else the fake) accepts ``{"msgtype": "image"}``."""
        robot = self.robot
        if robot is not None and robot.robot.accept_image is not None:
            return robot.robot.accept_image
        return self.settings.accept_image

    @property
    def known(self) -> RobotState:
        """The request's robot, for the rules that run after ``token_known``."""
        assert self.robot is not None, "a robot rule ran before token_known"
        return self.robot


def first_params(query: str) -> dict[str, str]:
    """The query's parameters, URL-decoded; of repeated ones the first, as DingTalk's
    servlet reads them."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params.setdefault(key, value)
    return params


def parse_body(body: bytes) -> Any:
    """The JSON object in ``body``, or ``None`` when it is not one (strict JSON, see
    :mod:`dingwire.fake.jsonio`: no NaN; a lone surrogate becomes U+FFFD)."""
    try:
        value = jsonio.loads(body, lone_surrogates="replace")
    except jsonio.NotJsonError:
        return None
    return value if isinstance(value, dict) else None


def _refuse(reason: Reason, **details: str) -> Refusal:
    return Refusal(reason, details)


# -- the request ------------------------------------------------------------------------


def method_is_post(ctx: Context) -> Refusal | None:
    """43002: DingTalk's endpoints take POST only."""
    return None if ctx.request.method == "POST" else _refuse(replies.NEED_POST)


def access_token_present(ctx: Context) -> Refusal | None:
    """40035: the query has a non-empty ``access_token``."""
    return None if ctx.params.get("access_token") else _refuse(replies.NO_TOKEN)


def token_known(ctx: Context) -> Refusal | None:
    """300005: the token is a robot's (every token is, when none are configured)."""
    return None if ctx.robot is not None else _refuse(replies.UNKNOWN_TOKEN)


def session_known(ctx: Context) -> Refusal | None:
    """300001: the ``session`` is open."""
    return None if ctx.session is not None else _refuse(replies.NO_SESSION)


def quota_left(ctx: Context) -> Refusal | None:
    """90030: the robot's organisation has quota left this period; counts the call."""
    if ctx.org is not None and not ctx.org.admit(ctx.now):
        return _refuse(replies.QUOTA_SPENT)
    return None


def robot_enabled(ctx: Context) -> Refusal | None:
    """400102: the robot is not disabled."""
    return _refuse(replies.ROBOT_DISABLED) if ctx.known.robot.disabled else None


# -- the body ---------------------------------------------------------------------------


def content_type_is_json(ctx: Context) -> Refusal | None:
    """43004: ``Content-Type: application/json``, any parameters, any case."""
    content_type = (ctx.request.content_type or "").split(";", 1)[0].strip().lower()
    return None if content_type == "application/json" else _refuse(replies.BAD_CONTENT_TYPE)


def body_within_size(ctx: Context) -> Refusal | None:
    """460101: the body is at most 20,000 bytes."""
    return _refuse(replies.TOO_LARGE) if len(ctx.request.body) > MAX_BODY_BYTES else None


def body_is_a_json_object(ctx: Context) -> Refusal | None:
    """40035: the body is a JSON object in UTF-8."""
    ctx.payload = parse_body(ctx.request.body)
    ctx.parsed = True
    return _refuse(replies.BAD_JSON) if ctx.payload is None else None


# -- security ---------------------------------------------------------------------------


def ip_allowed(ctx: Context) -> Refusal | None:
    """310000: the client's IP is on the robot's allow-list, if it has one."""
    robot = ctx.known
    if not robot.networks or robot.ip_allowed(ctx.request.client_ip):
        return None
    return _refuse(replies.IP_NOT_ALLOWED, ip=ctx.request.client_ip or "unknown")


def signed(ctx: Context) -> Refusal | None:
    """310000 (sign not match): a robot with a secret needs ``timestamp`` and ``sign``."""
    if ctx.known.robot.secret is None:
        return None
    if ctx.params.get("timestamp") and ctx.params.get("sign"):
        return None
    return _refuse(replies.SIGN_NOT_MATCH)


def timestamp_fresh(ctx: Context) -> Refusal | None:
    """310000 (invalid timestamp): the timestamp is epoch milliseconds within an hour."""
    if ctx.known.robot.secret is None:
        return None
    timestamp = ctx.params["timestamp"]
    # ASCII digits only: "²" and "٣" are digits to str.isdigit, not to DingTalk (or int).
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 19:
        return _refuse(replies.INVALID_TIMESTAMP)
    if abs(ctx.now * 1000 - int(timestamp)) > SIGN_WINDOW_MS:
        return _refuse(replies.INVALID_TIMESTAMP)
    return None


def sign_matches(ctx: Context) -> Refusal | None:
    """310000 (sign not match): the sign is the robot's secret's for that timestamp."""
    secret = ctx.known.robot.secret
    if secret is None:
        return None
    # first_params already URL-decoded the sign once, as DingTalk's servlet does.
    if signature_matches(secret, int(ctx.params["timestamp"]), ctx.params["sign"]):
        return None
    return _refuse(replies.SIGN_NOT_MATCH)


def keyword_present(ctx: Context) -> Refusal | None:
    """310000 (keywords not in content): a keyword in one of the message's texts."""
    keywords = ctx.known.robot.keywords
    if not keywords:
        return None
    # An image has no text; the one report of it (API.md §5) says it passed a keyword robot.
    if ctx.accept_image and ctx.payload.get("msgtype") == "image":
        return None
    fields = text_fields(ctx.payload)
    if any(k in f for f in fields for k in keywords):
        return None
    return _refuse(replies.KEYWORDS_NOT_IN_CONTENT)


# -- budgets ----------------------------------------------------------------------------


def within_rate_limit(ctx: Context) -> Refusal | None:
    """130101 or 410100: the robot is not locked out and this message keeps within its
    rate (going over locks it out for ``lockout``)."""
    robot = ctx.known.robot
    if robot.rate_limit is None:
        return None
    window = robot.window or ctx.settings.window
    if not ctx.known.budget.throttled(ctx.now, robot.rate_limit, window, robot.lockout):
        return None
    code = robot.throttle_errcode or ctx.settings.throttle_errcode
    return _refuse(replies.THROTTLED_410100 if code == 410100 else replies.THROTTLED_130101)


# -- the message ------------------------------------------------------------------------


def message_valid(ctx: Context) -> Refusal | None:
    """400105 for an unknown ``msgtype``; 400202 / 400402 for a missing or malformed field,
    named as DingTalk names it (``link->messageUrl`` or ``link --》 messageUrl``)."""
    try:
        validate_payload(
            ctx.payload, strict=False, extra_msgtypes=("image",) if ctx.accept_image else ()
        )
    except MessageError as error:
        if error.errcode == 400105:
            return _refuse(replies.UNSUPPORTED_MSGTYPE)
        style = ctx.style
        reason = replies.MISSING_PARAM_NEW if style == "new" else replies.MISSING_PARAM_LEGACY
        separator = " --》 " if style == "new" else "->"
        return _refuse(reason, field=(error.field or "body").replace(".", separator))
    return None
