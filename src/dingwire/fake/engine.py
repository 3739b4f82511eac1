"""DingTalk's robot endpoint as plain Python: a request and the time in, an answer out.

:class:`FakeDingTalk` is the whole behaviour of the fake; the ASGI app and the in-process
transports only carry requests to :meth:`FakeDingTalk.handle` and answers back. It reads no
clock (``now`` is an argument, epoch seconds) and opens no socket. It ties together what
the fake knows, each in its module: the robots (:mod:`~dingwire.fake.robots`), their budgets
and the organisations' (:mod:`~dingwire.fake.budgets`), the sessions
(:mod:`~dingwire.fake.sessions`), the faults (:mod:`~dingwire.fake.faults`), DingTalk's
checks in order (:mod:`~dingwire.fake.checks`) and the message log
(:mod:`~dingwire.fake.log`).

Rules kept here (API.md §1–5, §9):

- Every answer is HTTP 200 with ``{"errcode","errmsg"}``, except what a fault asks for
  (an HTTP error, the gateway's ``x5`` JSON, a 302 redirect).
- A request first finds its robot (by ``access_token``, or by its session), then takes its
  fault, if any: the robot's own before the global ones, one per request. A fault that
  answers in DingTalk's place answers now; any other request meets the checks of
  :data:`~dingwire.fake.checks.SEND_CHECKS` (or ``SESSION_CHECKS``) in order, and the first
  that fails answers; a request that passes them all is delivered (``ok``) and counted in
  its robot's rate-limit window.
- A ``latency`` fault acts before arrival, so the carrier takes it first
  (:meth:`FakeDingTalk.take_latency`) and hands it to :meth:`FakeDingTalk.handle`; a
  ``slow`` or ``drop`` fault acts on the answer, after the checks.
- ``now`` is the moment the whole request arrived (the carrier takes it after reading the
  body, and after a ``latency`` fault's wait); the log records it, and every budget is
  counted at it, as DingTalk counts at arrival.
- An organisation's quota counts every ``/robot/send`` call that reaches one of its robots
  (past the token check, whatever the answer after it; not the ones a fault answers in
  DingTalk's place).
- With no robots configured every token is accepted without security checks; each token
  still gets DingTalk's rate limit.
- Every request is logged (:mod:`dingwire.fake.log`) with its secrets masked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from dingwire.core.errors import ConfigError
from dingwire.core.protocol import MAX_BODY_BYTES
from dingwire.fake import replies
from dingwire.fake.budgets import OrgBudget
from dingwire.fake.checks import SEND_CHECKS, SESSION_CHECKS, first_refusal
from dingwire.fake.config import FakeOrg, FakeRobot, FakeSettings
from dingwire.fake.faults import Fault, FaultQueue
from dingwire.fake.log import MessageLog, Record, masked_query
from dingwire.fake.robots import Robots, RobotState, robot_id, robot_label
from dingwire.fake.rules import Context, first_params, parse_body
from dingwire.fake.sessions import SESSION_PATH, Session, Sessions

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

_RAW_PREVIEW = 2000  # characters of a non-JSON body kept for the log


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
        self._robots = Robots()
        self._faults = FaultQueue()
        self._sessions = Sessions()
        self._orgs: dict[str, OrgBudget] = {}
        self.reset()

    # -- management ---------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the configured robots, orgs and faults; no state, counts, sessions or
        messages."""
        with self._lock:
            self._robots.clear()
            self._faults.clear()
            self._sessions.clear()
            self._orgs = {org.name: OrgBudget(org) for org in self.settings.orgs}
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
            self._robots.add(robot)
            self._faults.clear(robot.token, everywhere=False)
            for fault in robot.faults:
                self.inject_fault(fault, robot=robot.token)

    def remove_robot(self, token: str) -> bool:
        """Forget the robot with ``token``; whether there was one."""
        with self._lock:
            self._faults.clear(token, everywhere=False)
            return self._robots.remove(token)

    def robots(self) -> list[FakeRobot]:
        """The configured robots."""
        with self._lock:
            return [state.robot for state in self._robots.configured()]

    def robots_json(self) -> list[dict[str, Any]]:
        """Every robot the fake knows (configured, or seen when none are), as the page shows
        them: masked token, no secret."""
        with self._lock:
            return [state.to_json() for state in self._robots.everyone()]

    def reset_limits(self, token: str | None = None) -> None:
        """Forget the rate-limit window and lockout of one robot, or of all robots and
        every organisation's count."""
        with self._lock:
            for state in self._robots.everyone():
                if token is None or state.robot.token == token:
                    state.budget.reset()
            if token is None:
                for name in self._orgs:
                    self.reset_org(name)

    # -- organisations ------------------------------------------------------------------

    def add_org(self, org: FakeOrg) -> None:
        """Configure the organisation ``org`` (replacing one of that name: its count starts
        again). Its robots are those whose ``org`` is its name."""
        with self._lock:
            self._orgs[org.name] = OrgBudget(org)

    def remove_org(self, name: str) -> bool:
        """Forget the organisation ``name`` (its robots are no longer counted); whether there
        was one."""
        with self._lock:
            return self._orgs.pop(name, None) is not None

    def orgs(self) -> list[FakeOrg]:
        """The configured organisations."""
        with self._lock:
            return [budget.org for budget in self._orgs.values()]

    def org_usage(self, name: str, now: float) -> tuple[int, float]:
        """``(calls counted, when the period renews)`` for the organisation ``name`` at
        ``now``. Raises :class:`KeyError` for an unknown one."""
        with self._lock:
            used, _, end = self._orgs[name].usage(now)
            return used, end

    def reset_org(self, name: str) -> None:
        """Forget the organisation's count of calls (its quota is whole again)."""
        with self._lock:
            budget = self._orgs.get(name)
            if budget is not None:
                budget.reset()

    def orgs_json(self, now: float) -> list[dict[str, Any]]:
        """Every organisation with its use at ``now``: quota, used, left, renews, robots."""
        with self._lock:
            configured = self._robots.configured()
            return [
                budget.to_json(now, [s.label for s in configured if s.robot.org == name])
                for name, budget in self._orgs.items()
            ]

    # -- faults and sessions ------------------------------------------------------------

    def inject_fault(self, fault: Fault, robot: str | None = None) -> None:
        """Make the next ``fault.count`` requests (to ``robot``'s token, or any) fail."""
        with self._lock:
            self._faults.add(fault, robot)

    def pending_faults(self) -> list[tuple[str | None, Fault, int]]:
        """``(token or None, fault, requests left)`` for every fault not yet used up."""
        with self._lock:
            return self._faults.pending()

    def pending_faults_json(self) -> list[dict[str, Any]]:
        """The pending faults as the fault API shows them (robots by label, not token)."""
        with self._lock:
            result = []
            for token, fault, remaining in self._faults.pending():
                state = self._robots.get(token) if token is not None else None
                label = state.label if state else (None if token is None else "unknown robot")
                result.append({"robot": label, **fault.to_json(), "remaining": remaining})
            return result

    def clear_faults(self, robot: str | None = None, *, everywhere: bool = True) -> None:
        """Drop pending faults: all of them, or (``everywhere=False``) only ``robot``'s."""
        with self._lock:
            self._faults.clear(robot, everywhere=everywhere)

    def open_session(
        self, robot: str | None = None, *, now: float, ttl: float | None = None
    ) -> Session:
        """A new ``sessionWebhook`` session for ``robot`` (a token), expiring after ``ttl``."""
        ttl = self.settings.session_ttl if ttl is None else ttl
        with self._lock:
            return self._sessions.open(robot, now=now, ttl=ttl)

    # -- the log ------------------------------------------------------------------------

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
        params = first_params(request.query)
        with self._lock:
            key: str | None
            if request.path == SESSION_PATH:
                session = self._sessions.peek(params.get("session", ""), now)
                key = session.robot if session is not None else None
            else:
                key = params.get("access_token", "")
            return self._faults.take(key, only="latency")

    def handle(self, request: Incoming, now: float, *, fault: Fault | None = None) -> Outcome:
        """Answer ``request`` as DingTalk would, ``now`` being its arrival (epoch seconds).

        ``fault``: the fault the request already took (a latency fault, from
        :meth:`take_latency`); then it takes no other. A latency fault taken here instead
        (the caller did not ask first) cannot delay an arrival that has happened: the
        request is handled at ``now``.
        """
        ctx = Context(request, first_params(request.query), now, self.settings)
        with self._lock:
            token: str | None
            if request.path == SESSION_PATH:
                ctx.session = self._sessions.get(ctx.params.get("session", ""), now)
                token = ctx.session.robot if ctx.session is not None else None
                ctx.robot = self._robots.get(token) if token is not None else None
                checks = SESSION_CHECKS
            else:
                token = ctx.params.get("access_token", "")
                ctx.robot = self._robots.lookup(token)
                org = ctx.robot.robot.org if ctx.robot is not None else None
                ctx.org = self._orgs.get(org) if org is not None else None
                checks = SEND_CHECKS
            if fault is None:
                fault = self._faults.take(ctx.robot.robot.token if ctx.robot else token)
            if fault is not None and fault.answers:
                return self._faulted(ctx, fault)
            refusal = first_refusal(checks, ctx)
            if refusal is None:
                errcode, errmsg = 0, "ok"
                if ctx.robot is not None and ctx.robot.robot.rate_limit is not None:
                    ctx.robot.budget.count(now)
            else:
                errcode, errmsg = refusal.reason.errcode, refusal.errmsg(ctx.style)
            record = self._record(ctx, errcode, errmsg, 200, fault)
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

    # -- answers and records ------------------------------------------------------------

    def _faulted(self, ctx: Context, fault: Fault) -> Outcome:
        """The answer of a fault that answers in DingTalk's place."""
        if fault.kind == "errcode":
            errmsg = fault.errmsg or replies.errmsg_for_code(fault.errcode, ctx.style)
            record = self._record(ctx, fault.errcode, errmsg, 200, fault)
            body = replies.reply_body(fault.errcode, errmsg)
            return Outcome(200, body, errcode=fault.errcode, errmsg=errmsg, record=record)
        if fault.kind == "http":
            record = self._record(ctx, None, None, fault.status, fault)
            page = replies.gateway_page(fault.status)
            return Outcome(fault.status, page, content_type="text/html", record=record)
        if fault.kind == "x5":
            record = self._record(ctx, None, None, 200, fault)
            return Outcome(200, replies.x5_body(fault.wait), record=record)
        if fault.kind == "redirect":
            record = self._record(ctx, None, None, 302, fault)
            return Outcome(
                302,
                replies.redirect_page(fault.location),
                content_type="text/html",
                record=record,
                headers=(("location", fault.location),),
            )
        record = self._record(ctx, None, None, 0, fault)
        return Outcome(0, b"", drop=True, record=record)

    def _record(
        self,
        ctx: Context,
        errcode: int | None,
        errmsg: str | None,
        status: int,
        fault: Fault | None,
    ) -> Record:
        request = ctx.request
        payload = ctx.payload
        if not ctx.parsed and request.body and len(request.body) <= MAX_BODY_BYTES:
            payload = parse_body(request.body)
        raw = None
        if payload is None and request.body:
            raw = request.body[: _RAW_PREVIEW * 4].decode("utf-8", "replace")[:_RAW_PREVIEW]
        state: RobotState | None = ctx.robot
        if state is not None:
            label, rid, token = state.label, state.id, state.robot.token
        elif ctx.session is not None:
            label, rid, token = "session", robot_id(ctx.session.id), ""
        else:
            label, rid, token = "unknown robot", "unknown", ""
        query = masked_query(request.query) if request.query else ""

        def build(record_id: int) -> Record:
            return Record(
                id=record_id,
                time=ctx.now,
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
