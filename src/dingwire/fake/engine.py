"""DingTalk's robot endpoint as plain Python: a request and the time in, an answer out.

:class:`FakeDingTalk` is the whole behaviour of the fake; the ASGI app and the in-process
transports only carry requests to :meth:`FakeDingTalk.handle` and answers back. It reads no
clock (``now`` is an argument, epoch seconds) and opens no socket.

Rules kept here (API.md §1–5, §9):

- Every answer is HTTP 200 with ``{"errcode","errmsg"}``, except what a fault asks for
  (an HTTP error, the gateway's ``x5`` JSON, a 302 redirect).
- ``POST /robot/send`` is checked in this order, and the first failure answers:
  method (43002) → access_token (40035 missing, 300005 unknown when robots are configured)
  → the organisation's quota (90030) → 400102 for a disabled robot → Content-Type (43004)
  → size over 20,000 bytes (460101) → JSON object (40035) → IP allow-list (310000) →
  timestamp within one hour (310000) → sign (310000) → keywords (310000) → rate limit and
  lockout (130101 or 410100) → per-type validation (400105 for the msgtype, 400202 /
  400402 for a field) → ``ok``.
- Signing and validation are the core's (:func:`dingwire.core.signing.signature_matches`,
  :func:`dingwire.core.validation.validate_payload` in DingTalk's non-strict mode): the
  fake has no copy of either. A reused timestamp/sign pair is accepted, as DingTalk does.
- ``now`` is the moment the whole request arrived (the carrier takes it after reading the
  body, and after a ``latency`` fault's wait); the log records it, and every budget is
  counted at it, as DingTalk counts at arrival.
- The rate limit counts the messages the robot delivered, in a sliding window
  (:func:`dingwire.core.budget.window_wait`) or in calendar windows aligned to the epoch
  (:func:`dingwire.core.budget.fixed_window_wait`), as configured; going over it throttles
  the robot for ``lockout``.
- An organisation's quota counts every ``/robot/send`` call that reaches one of its robots
  (past the token check, whatever the answer after it; not the ones a fault answers in
  DingTalk's place), in the period of :func:`dingwire.core.budget.quota_period`; once the
  period holds ``quota.limit`` calls, the rest get 90030 until the period renews.
- Faults are taken one per request, the robot's own before the global ones, in order. A
  ``latency`` fault acts before arrival, so the carrier takes it first
  (:meth:`FakeDingTalk.take_latency`) and hands it to :meth:`FakeDingTalk.handle`.
- With no robots configured every token is accepted without security checks; each token
  still gets DingTalk's rate limit.
- ``POST /robot/sendBySession?session=…`` needs no token or signature; an unknown or
  expired session is ``300001 session 不存在``.
- Every request is logged (:mod:`dingwire.fake.log`) with its secrets masked.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import secrets
import threading
from collections import deque
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, quote

from dingwire.core.budget import fixed_window_wait, quota_period, window_wait
from dingwire.core.errors import ConfigError, MessageError
from dingwire.core.protocol import MAX_BODY_BYTES
from dingwire.core.redact import MASK, mask_token
from dingwire.core.signing import SIGN_WINDOW_MS, signature_matches
from dingwire.core.validation import text_fields, validate_payload
from dingwire.fake import replies
from dingwire.fake.config import FakeOrg, FakeRobot, FakeSettings, Window
from dingwire.fake.faults import Fault
from dingwire.fake.log import MessageLog, Record
from dingwire.fake.replies import Reason, Style

__all__ = [
    "SEND_PATH",
    "SESSION_PATH",
    "FakeDingTalk",
    "Incoming",
    "Outcome",
    "Session",
    "masked_query",
    "robot_id",
    "robot_label",
]

SEND_PATH = "/robot/send"
SESSION_PATH = "/robot/sendBySession"

# What a gateway in front of DingTalk answers when it is down (tengine's page).
_GATEWAY_PAGE = (
    "<html><head><title>{status} {phrase}</title></head><body><center><h1>{status} {phrase}"
    "</h1></center><hr><center>Tengine</center></body></html>"
)
_PHRASES = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
# The faults that answer in DingTalk's place (a ``drop`` only when it does not deliver).
_ANSWERING = frozenset({"http", "errcode", "drop", "x5", "redirect"})
_RAW_PREVIEW = 2000  # characters of a non-JSON body kept for the log
_MAX_IMPLICIT_ROBOTS = 10_000  # tokens remembered when no robots are configured


def robot_id(token: str) -> str:
    """A stable, public id for the robot with ``token`` (a hash: it reveals nothing)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def robot_label(robot: FakeRobot) -> str:
    """How the page and the log name a robot: its name, else its masked token."""
    if robot.name:
        return robot.name
    if len(robot.token) > 8:
        return mask_token(robot.token)
    return f"robot {robot_id(robot.token)[:6]}"


@dataclass(frozen=True, slots=True)
class Incoming:
    """An HTTP request as the fake sees it. ``query`` is the raw (percent-encoded) string."""

    method: str
    path: str
    query: str = ""
    content_type: str | None = "application/json"
    body: bytes = b""
    client_ip: str | None = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The fake's answer: what to send back, after ``delay`` seconds, or ``drop`` the line.

    ``headers`` are extra response headers (a redirect's ``Location``); a relative
    ``Location`` is relative to the fake's own URL.
    """

    status: int
    body: bytes
    content_type: str = "application/json"
    errcode: int | None = None
    errmsg: str | None = None
    delay: float = 0.0
    drop: bool = False
    record: Record | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Session:
    """A ``sessionWebhook`` session: its id, its robot's token (if any), when it expires."""

    id: str
    robot: str | None
    expires_at: float

    @property
    def path(self) -> str:
        """The path and query of the session webhook."""
        return f"{SESSION_PATH}?session={self.id}"

    def to_json(self, base_url: str = "") -> dict[str, Any]:
        """The session as ``POST /api/sessions`` answers it."""
        return {
            "session": self.id,
            "webhook": f"{base_url}{self.path}",
            "expires_at": self.expires_at,
            "sessionWebhookExpiredTime": round(self.expires_at * 1000),
        }


class _RobotState:
    """One robot's settings and what the fake remembers about it."""

    __slots__ = ("configured", "id", "label", "locked_until", "networks", "robot", "sent")

    def __init__(self, robot: FakeRobot, *, configured: bool) -> None:
        self.robot = robot
        self.configured = configured
        self.id = robot_id(robot.token)
        self.label = robot_label(robot)
        self.networks = [ipaddress.IPv4Network(ip, strict=False) for ip in robot.ips]
        self.sent: deque[float] = deque()
        self.locked_until = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "token": mask_token(self.robot.token),
            "configured": self.configured,
            "locked_until": self.locked_until or None,
            **self.robot.to_json(),
        }


class _OrgState:
    """One organisation and its count of calls in the current quota period."""

    __slots__ = ("org", "period", "used")

    def __init__(self, org: FakeOrg) -> None:
        self.org = org
        self.period = -math.inf  # the start of the period ``used`` counts
        self.used = 0

    def usage(self, now: float) -> tuple[int, float, float]:
        """``(used, period start, period end)`` at ``now``."""
        start, end = quota_period(self.org.periods, now)
        return (self.used if start == self.period else 0), start, end

    def admit(self, now: float) -> bool:
        """Count one call at ``now``, unless the period's quota is spent (then False)."""
        used, start, _ = self.usage(now)
        quota = self.org.quota
        if quota is not None and used >= quota.limit:
            return False
        self.period, self.used = start, used + 1
        return True

    def to_json(self, now: float, robots: list[str]) -> dict[str, Any]:
        used, start, end = self.usage(now)
        quota = self.org.quota
        return {
            **self.org.to_json(),
            "used": used,
            "left": max(0, quota.limit - used) if quota is not None else None,
            "period_start": start,
            "renews": end,
            "robots": robots,
        }


@dataclass(slots=True)
class _Pending:
    fault: Fault
    remaining: int


@dataclass(slots=True)
class _Verdict:
    reason: Reason | None = None
    details: dict[str, str] | None = None
    payload: Any = None
    parsed: bool = False


def _first_params(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        # DingTalk's servlet reads the first of repeated parameters.
        params.setdefault(key, value)
    return params


def masked_query(query: str) -> str:
    """``query`` re-encoded from its decoded parameters with the secret ones masked.

    Rebuilding from the decoded pairs (rather than masking the raw text) also catches a
    parameter whose *name* is percent-encoded, ``access%5Ftoken=…``, which DingTalk decodes.
    """
    parts = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        lowered = key.lower()
        if lowered == "access_token":
            shown = mask_token(value) if value else ""
        elif lowered in ("sign", "session"):
            shown = MASK if value else ""
        else:
            shown = quote(value, safe="")
        parts.append(f"{quote(key, safe='')}={shown}")
    return "&".join(parts)


def _parse_json(body: bytes) -> Any:
    """The JSON object in ``body``, or ``None`` when it is not one."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _field_path(field: str, style: Style) -> str:
    # "actionCard.btns[1].actionURL" as DingTalk prints it: "actionCard->btns[1]->actionURL"
    # in the legacy wording, "actionCard --》 btns[1] --》 actionURL" in the newer one.
    return field.replace(".", " --》 " if style == "new" else "->")


class FakeDingTalk:
    """The fake DingTalk: robots, their state, sessions, faults and the message log.

    Thread-safe. ``handle`` is the endpoint; the other methods manage the fake.

    >>> fake = FakeDingTalk()
    >>> fake.add_robot(FakeRobot("tok1", keywords=("告警",)))
    >>> request = Incoming("POST", "/robot/send", "access_token=tok1",
    ...                    body='{"msgtype":"text","text":{"content":"告警: disk"}}'.encode())
    >>> fake.handle(request, now=1700000000.0).errcode
    0
    """

    def __init__(self, settings: FakeSettings | None = None) -> None:
        self.settings = settings if settings is not None else FakeSettings()
        self.log = MessageLog(self.settings.history)
        self._lock = threading.RLock()
        self._robots: dict[str, _RobotState] = {}
        self._implicit: dict[str, _RobotState] = {}
        self._faults: dict[str | None, deque[_Pending]] = {}
        self._sessions: dict[str, Session] = {}
        self._orgs: dict[str, _OrgState] = {}
        self.reset()

    # -- management ---------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the configured robots, orgs and faults; no state, counts, sessions or
        messages."""
        with self._lock:
            self._robots = {}
            self._implicit = {}
            self._faults = {}
            self._sessions = {}
            self._orgs = {org.name: _OrgState(org) for org in self.settings.orgs}
            for robot in self.settings.robots:
                self.add_robot(robot)
            for fault in self.settings.faults:
                self.inject_fault(fault)
        self.log.clear()

    def add_robot(self, robot: FakeRobot) -> None:
        """Configure ``robot`` (replacing one with the same token, and its state).

        Its ``org`` must be one the fake knows (:meth:`add_org`), else :class:`ConfigError`.
        """
        with self._lock:
            if robot.org is not None and robot.org not in self._orgs:
                raise ConfigError(
                    f"robot: org {robot.org!r} is not configured; add the organisation first"
                )
            self._robots[robot.token] = _RobotState(robot, configured=True)
            self._faults.pop(robot.token, None)
            for fault in robot.faults:
                self.inject_fault(fault, robot=robot.token)

    def remove_robot(self, token: str) -> bool:
        """Forget the robot with ``token``; whether there was one."""
        with self._lock:
            self._faults.pop(token, None)
            return self._robots.pop(token, None) is not None

    def robots(self) -> list[FakeRobot]:
        """The configured robots."""
        with self._lock:
            return [s.robot for s in self._robots.values()]

    def robots_json(self) -> list[dict[str, Any]]:
        """Every robot the fake knows (configured, or seen when none are), as the page shows
        them: masked token, no secret."""
        with self._lock:
            states = [*self._robots.values(), *self._implicit.values()]
            return [s.to_json() for s in states]

    def reset_limits(self, token: str | None = None) -> None:
        """Forget the rate-limit window and lockout of one robot, or of all robots and
        every organisation's count."""
        with self._lock:
            for state in [*self._robots.values(), *self._implicit.values()]:
                if token is None or state.robot.token == token:
                    state.sent.clear()
                    state.locked_until = 0.0
            if token is None:
                for name in self._orgs:
                    self.reset_org(name)

    # -- organisations ------------------------------------------------------------------

    def add_org(self, org: FakeOrg) -> None:
        """Configure the organisation ``org`` (replacing one of that name: its count starts
        again). Its robots are those whose ``org`` is its name."""
        with self._lock:
            self._orgs[org.name] = _OrgState(org)

    def remove_org(self, name: str) -> bool:
        """Forget the organisation ``name`` (its robots are no longer counted); whether there
        was one."""
        with self._lock:
            return self._orgs.pop(name, None) is not None

    def orgs(self) -> list[FakeOrg]:
        """The configured organisations."""
        with self._lock:
            return [state.org for state in self._orgs.values()]

    def org_usage(self, name: str, now: float) -> tuple[int, float]:
        """``(calls counted, when the period renews)`` for the organisation ``name`` at
        ``now``. Raises :class:`KeyError` for an unknown one."""
        with self._lock:
            used, _, end = self._orgs[name].usage(now)
            return used, end

    def reset_org(self, name: str) -> None:
        """Forget the organisation's count of calls (its quota is whole again)."""
        with self._lock:
            state = self._orgs.get(name)
            if state is not None:
                state.period, state.used = -math.inf, 0

    def orgs_json(self, now: float) -> list[dict[str, Any]]:
        """Every organisation with its use at ``now``: quota, used, left, renews, robots."""
        with self._lock:
            result = []
            for name, state in self._orgs.items():
                robots = [s.label for s in self._robots.values() if s.robot.org == name]
                result.append(state.to_json(now, robots))
            return result

    def inject_fault(self, fault: Fault, robot: str | None = None) -> None:
        """Make the next ``fault.count`` requests (to ``robot``'s token, or any) fail."""
        with self._lock:
            self._faults.setdefault(robot, deque()).append(_Pending(fault, fault.count))

    def pending_faults(self) -> list[tuple[str | None, Fault, int]]:
        """``(token or None, fault, requests left)`` for every fault not yet used up."""
        with self._lock:
            return [(k, p.fault, p.remaining) for k, q in self._faults.items() for p in q]

    def pending_faults_json(self) -> list[dict[str, Any]]:
        """The pending faults as the fault API shows them (robots by label, not token)."""
        with self._lock:
            result = []
            for token, queue in self._faults.items():
                state = self._robots.get(token) if token is not None else None
                label = state.label if state else (None if token is None else "unknown robot")
                for pending in queue:
                    result.append(
                        {"robot": label, **pending.fault.to_json(), "remaining": pending.remaining}
                    )
            return result

    def clear_faults(self, robot: str | None = None, *, everywhere: bool = True) -> None:
        """Drop pending faults: all of them, or (``everywhere=False``) only ``robot``'s."""
        with self._lock:
            if everywhere:
                self._faults = {}
            else:
                self._faults.pop(robot, None)

    def open_session(
        self, robot: str | None = None, *, now: float, ttl: float | None = None
    ) -> Session:
        """A new ``sessionWebhook`` session for ``robot`` (a token), expiring after ``ttl``."""
        ttl = self.settings.session_ttl if ttl is None else ttl
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
                del self._sessions[key]
            session = Session(secrets.token_hex(16), robot, now + ttl)
            self._sessions[session.id] = session
            return session

    def messages(self, robot: str | None = None) -> list[Record]:
        """What arrived, oldest first (every request, refused ones too); ``robot`` filters by
        token, name or id."""
        return self.log.records(robot)

    def clear(self, robot: str | None = None) -> None:
        """Forget the logged messages, or ``robot``'s (robots, limits and faults stay)."""
        self.log.clear(robot)

    # -- the endpoint -------------------------------------------------------------------

    def take_latency(self, request: Incoming, now: float) -> Fault | None:
        """The ``latency`` fault ``request`` meets, taken (counted down), or ``None``.

        A carrier calls this before :meth:`handle`: when the next fault for the request's
        robot (its own first, then the global ones) is a latency fault, it waits
        ``fault.delay`` seconds, takes the arrival time, and passes the fault to
        ``handle(request, arrival, fault=fault)``. Any other next fault is left for
        ``handle``. ``now`` is the time before the wait (it decides a session's expiry).
        """
        if not self._faults or request.path not in (SEND_PATH, SESSION_PATH):
            return None
        params = _first_params(request.query)
        with self._lock:
            key: str | None
            if request.path == SESSION_PATH:
                session = self._sessions.get(params.get("session", ""))
                key = session.robot if session is not None and session.expires_at > now else None
            else:
                key = params.get("access_token", "")
            return self._take_fault(key, only="latency")

    def handle(self, request: Incoming, now: float, *, fault: Fault | None = None) -> Outcome:
        """Answer ``request`` as DingTalk would, ``now`` being its arrival (epoch seconds).

        ``fault``: the fault the request already took (a latency fault, from
        :meth:`take_latency`); then it takes no other. A latency fault taken here instead
        (the caller did not ask first) cannot delay an arrival that has happened: the
        request is handled at ``now``.
        """
        params = _first_params(request.query)
        with self._lock:
            session: Session | None = None
            if request.path == SESSION_PATH:
                session = self._session(params.get("session", ""), now)
                token = session.robot if session is not None else None
                state = self._robots.get(token) if token is not None else None
            else:
                token = params.get("access_token", "")
                state = self._state_for(token)
            if fault is None:
                fault = self._take_fault(state.robot.token if state is not None else token)
            if (
                fault is not None
                and fault.kind in _ANSWERING
                and not (fault.kind == "drop" and fault.deliver)
            ):
                return self._faulted(request, state, fault, now)
            style = self._style(state)
            if request.path == SESSION_PATH:
                verdict = self._check_session(request, session, state)
            else:
                verdict = self._check_send(request, params, state, now, style)
            if verdict.reason is None:
                errcode, errmsg = 0, "ok"
                if state is not None and state.robot.rate_limit is not None:
                    state.sent.append(now)
            else:
                errcode = verdict.reason.errcode
                errmsg = verdict.reason.errmsg(style, **(verdict.details or {}))
            record = self._record(
                request, state, now, verdict, errcode, errmsg, 200, fault, session
            )
            outcome = Outcome(
                200,
                replies.reply_body(errcode, errmsg),
                errcode=errcode,
                errmsg=errmsg,
                record=record,
            )
            if fault is not None:
                if fault.kind == "slow":
                    return replace(outcome, delay=fault.delay)
                if fault.kind == "drop":
                    return replace(outcome, drop=True)
            return outcome

    # -- the checks ---------------------------------------------------------------------

    def _state_for(self, token: str) -> _RobotState | None:
        if not token:
            return None
        if self._robots:
            return self._robots.get(token)
        state = self._implicit.get(token)
        if state is None:
            if len(self._implicit) >= _MAX_IMPLICIT_ROBOTS:
                del self._implicit[next(iter(self._implicit))]
            state = _RobotState(FakeRobot(token), configured=False)
            self._implicit[token] = state
        return state

    def _session(self, session_id: str, now: float) -> Session | None:
        session = self._sessions.get(session_id)
        if session is not None and session.expires_at <= now:
            del self._sessions[session_id]
            return None
        return session

    def _style(self, state: _RobotState | None) -> Style:
        if state is not None and state.robot.errmsg_style is not None:
            return state.robot.errmsg_style
        return self.settings.errmsg_style

    def _take_fault(self, token: str | None, *, only: str | None = None) -> Fault | None:
        """The next fault for ``token`` (its own, then the global ones), counted down; with
        ``only``, taken only when it is of that kind."""
        if not self._faults:
            return None
        for key in (token, None) if token is not None else (None,):
            queue = self._faults.get(key)
            if queue:
                pending = queue[0]
                if only is not None and pending.fault.kind != only:
                    return None
                pending.remaining -= 1
                if pending.remaining <= 0:
                    queue.popleft()
                return pending.fault
        return None

    def _check_common(self, request: Incoming, verdict: _Verdict) -> Reason | None:
        content_type = (request.content_type or "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            return replies.BAD_CONTENT_TYPE
        if len(request.body) > MAX_BODY_BYTES:
            return replies.TOO_LARGE
        verdict.payload = _parse_json(request.body)
        verdict.parsed = True
        if verdict.payload is None:
            return replies.BAD_JSON
        return None

    def _check_send(
        self,
        request: Incoming,
        params: dict[str, str],
        state: _RobotState | None,
        now: float,
        style: Style,
    ) -> _Verdict:
        verdict = _Verdict()
        token = params.get("access_token", "")
        if request.method != "POST":
            verdict.reason = replies.NEED_POST
            return verdict
        if not token:
            verdict.reason = replies.NO_TOKEN
            return verdict
        if state is None:
            verdict.reason = replies.UNKNOWN_TOKEN
            return verdict
        robot = state.robot
        org = self._orgs.get(robot.org) if robot.org is not None else None
        if org is not None and not org.admit(now):
            verdict.reason = replies.QUOTA_SPENT
            return verdict
        if robot.disabled:
            verdict.reason = replies.ROBOT_DISABLED
            return verdict
        verdict.reason = self._check_common(request, verdict)
        if verdict.reason is not None:
            return verdict
        payload = verdict.payload
        if state.networks and not self._ip_allowed(request.client_ip, state):
            verdict.reason = replies.IP_NOT_ALLOWED
            verdict.details = {"ip": request.client_ip or "unknown"}
            return verdict
        if robot.secret is not None:
            verdict.reason = self._check_signature(params, robot.secret, now)
            if verdict.reason is not None:
                return verdict
        accept_image = self._accept_image(state)
        is_image = accept_image and payload.get("msgtype") == "image"
        # An image has no text; the one report of it (API.md §5) says it passed a keyword robot.
        if robot.keywords and not is_image:
            fields = text_fields(payload)
            if not any(k in f for f in fields for k in robot.keywords):
                verdict.reason = replies.KEYWORDS_NOT_IN_CONTENT
                return verdict
        if robot.rate_limit is not None:
            rate = robot.rate_limit
            # Arrivals a window ago count in neither model (a fixed window starts later).
            while state.sent and state.sent[0] <= now - rate.window:
                state.sent.popleft()
            if state.locked_until > now:
                verdict.reason = self._throttle_reason(state)
                return verdict
            wait = fixed_window_wait if self._window(state) == "fixed" else window_wait
            if wait(state.sent, now, rate) > 0:
                state.locked_until = now + robot.lockout
                verdict.reason = self._throttle_reason(state)
                return verdict
        self._validate(verdict, accept_image, style)
        return verdict

    def _check_session(
        self, request: Incoming, session: Session | None, state: _RobotState | None
    ) -> _Verdict:
        verdict = _Verdict()
        if request.method != "POST":
            verdict.reason = replies.NEED_POST
        elif session is None:
            verdict.reason = replies.NO_SESSION
        else:
            verdict.reason = self._check_common(request, verdict)
            if verdict.reason is None:
                self._validate(verdict, self._accept_image(state), self._style(state))
        return verdict

    def _ip_allowed(self, client_ip: str | None, state: _RobotState) -> bool:
        try:
            address = ipaddress.ip_address(client_ip or "")
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is None:
                return False  # DingTalk has no IPv6 allow-list
            address = address.ipv4_mapped
        return any(address in network for network in state.networks)

    def _check_signature(self, params: dict[str, str], secret: str, now: float) -> Reason | None:
        timestamp, sign = params.get("timestamp"), params.get("sign")
        if not timestamp or not sign:
            return replies.SIGN_NOT_MATCH
        if not timestamp.isdigit() or len(timestamp) > 19:
            return replies.INVALID_TIMESTAMP
        timestamp_ms = int(timestamp)
        if abs(now * 1000 - timestamp_ms) > SIGN_WINDOW_MS:
            return replies.INVALID_TIMESTAMP
        # parse_qsl already URL-decoded the sign once, as DingTalk's servlet does: an
        # unencoded "+" arrives as a space and no longer matches.
        if not signature_matches(secret, timestamp_ms, sign):
            return replies.SIGN_NOT_MATCH
        return None

    def _accept_image(self, state: _RobotState | None) -> bool:
        if state is not None and state.robot.accept_image is not None:
            return state.robot.accept_image
        return self.settings.accept_image

    def _window(self, state: _RobotState) -> Window:
        return state.robot.window or self.settings.window

    def _throttle_reason(self, state: _RobotState) -> Reason:
        code = state.robot.throttle_errcode or self.settings.throttle_errcode
        return replies.THROTTLED_410100 if code == 410100 else replies.THROTTLED_130101

    def _validate(self, verdict: _Verdict, accept_image: bool, style: Style) -> None:
        try:
            validate_payload(
                verdict.payload, strict=False, extra_msgtypes=("image",) if accept_image else ()
            )
        except MessageError as error:
            if error.errcode == 400105:
                verdict.reason = replies.UNSUPPORTED_MSGTYPE
            else:
                verdict.reason = (
                    replies.MISSING_PARAM_NEW if style == "new" else replies.MISSING_PARAM_LEGACY
                )
                verdict.details = {"field": _field_path(error.field or "body", style)}

    # -- answers and records ------------------------------------------------------------

    def _faulted(
        self, request: Incoming, state: _RobotState | None, fault: Fault, now: float
    ) -> Outcome:
        verdict = _Verdict()
        if fault.kind == "errcode":
            errmsg = fault.errmsg or replies.errmsg_for_code(fault.errcode, self._style(state))
            record = self._record(request, state, now, verdict, fault.errcode, errmsg, 200, fault)
            body = replies.reply_body(fault.errcode, errmsg)
            return Outcome(200, body, errcode=fault.errcode, errmsg=errmsg, record=record)
        if fault.kind == "http":
            phrase = _PHRASES.get(fault.status, "Error")
            page = _GATEWAY_PAGE.format(status=fault.status, phrase=phrase).encode()
            record = self._record(request, state, now, verdict, None, None, fault.status, fault)
            return Outcome(fault.status, page, content_type="text/html", record=record)
        if fault.kind == "x5":
            record = self._record(request, state, now, verdict, None, None, 200, fault)
            return Outcome(200, replies.x5_body(fault.wait), record=record)
        if fault.kind == "redirect":
            record = self._record(request, state, now, verdict, None, None, 302, fault)
            page = replies.redirect_page(fault.location)
            return Outcome(
                302,
                page,
                content_type="text/html",
                record=record,
                headers=(("location", fault.location),),
            )
        record = self._record(request, state, now, verdict, None, None, 0, fault)
        return Outcome(0, b"", drop=True, record=record)

    def _record(
        self,
        request: Incoming,
        state: _RobotState | None,
        now: float,
        verdict: _Verdict,
        errcode: int | None,
        errmsg: str | None,
        status: int,
        fault: Fault | None,
        session: Session | None = None,
    ) -> Record:
        payload = verdict.payload
        if not verdict.parsed and request.body and len(request.body) <= MAX_BODY_BYTES:
            payload = _parse_json(request.body)
        raw = None
        if payload is None and request.body:
            raw = request.body[: _RAW_PREVIEW * 4].decode("utf-8", "replace")[:_RAW_PREVIEW]
        if state is not None:
            label, rid, token = state.label, state.id, state.robot.token
        elif session is not None:
            label, rid, token = "session", robot_id(session.id), ""
        else:
            label, rid, token = "unknown robot", "unknown", ""
        query = masked_query(request.query) if request.query else ""

        def build(record_id: int) -> Record:
            return Record(
                id=record_id,
                time=now,
                robot=label,
                robot_id=rid,
                path=request.path,
                query=query,
                client=request.client_ip,
                payload=payload,
                raw=raw,
                size=len(request.body),
                status=status,
                errcode=errcode,
                errmsg=errmsg,
                fault=fault.describe() if fault is not None else None,
                token=token,
            )

        return self.log.append(build)
