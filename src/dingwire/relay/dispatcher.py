"""The dispatcher: takes what the outbox holds to DingTalk, robot by robot, within every budget.

One asyncio task per robot runs rounds; a supervisor task looks at the outbox every second
(besides the wakes the intake sends) and starts a robot's task when something is due for it.
The budget rules are never decided here: each round asks the robot's own budget store
(:meth:`~dingwire.transport.base.BaseRobot.budget_state`, the core's
:func:`~dingwire.core.budget.judge` inside it) how many sends are free, and
:func:`~dingwire.core.budget.pace_allowance` how many the organisation's quota allows by now;
every send then reserves its slot through the robot itself (``send(block=False)``), so that
the store, not this module, keeps the window. Rules kept, per round:

- **Idle**: when the robot has room for everything due with slots to spare (half of its
  window, :func:`_reserve`), each message goes out alone, at once.
- **Backlog**: otherwise text and markdown messages are merged into digests
  (:func:`~dingwire.relay.digest.build_digests`) and sends are spaced by ``window / limit``
  (the rate the window sustains), so that arrivals keep filling digests instead of spending
  the window's last slots one message each. Cards go alone, in their turn.
- **Priority**: units go out in the outbox's claim order (priority, then arrival).
- **Rendered when sent**: an alert notification is stored as received; a round renders
  (:meth:`~dingwire.relay.render.Renderer.complete`) what it can send — everything due when
  idle, in a backlog the records whose lines fill the digests it has room for — and gives
  the rest back unrendered. A payload that cannot be rendered is dead with the reason.
- **Quota pacing**: at most ``pace_allowance(quota, now, burst)`` sends in the period so far;
  past it, fewer and larger digests. Warnings at 50/80/95 % of the quota, once a period.
- **Held back, not attempted**: a spent budget, a lockout or a spent quota (``RateLimitedError``
  and ``QuotaExceededError`` before sending, a 130101 or a 90030 after) releases the claims
  without counting an attempt, due when the hold ends; ``max_age`` never counts it.
- **Retries**: what the core's :class:`~dingwire.core.policy.RetryPolicy` calls retryable
  (network, 5xx, -1, the gateway; a timeout too — the relay would rather deliver twice
  than lose) is nacked with jittered exponential backoff (1 s to 5 min) until the record has
  been failing for ``max_age``; anything else (310000, 300005, 400xxx, a message DingTalk
  would refuse) is dead at once with the reason. A digest DingTalk refuses for its content
  is taken apart: its records go alone, so only the offending one dies.
- ``stop(grace)`` lets the sends in flight finish, releases every unsent claim, and returns
  within ``grace``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from dingwire.core.budget import Quota, Verdict, pace_allowance, quota_period
from dingwire.core.errors import (
    ApiError,
    BadResponseError,
    BodyTooLargeError,
    BudgetStoreError,
    ConfigError,
    ConnectError,
    ContentRejectedError,
    DingwireError,
    GatewayThrottledError,
    InvalidRequestError,
    MessageError,
    QuotaExceededError,
    RateLimitedError,
    RequestTimeoutError,
    ThrottledError,
    TooLargeError,
    TransportError,
)
from dingwire.core.policy import Rate, RetryPolicy
from dingwire.relay.alerts import PayloadError
from dingwire.relay.digest import Packer, build_digests
from dingwire.relay.metrics import RelayMetrics
from dingwire.relay.model import Record
from dingwire.relay.outbox._contract import Outbox, OutboxUnavailable
from dingwire.relay.settings import RelaySettings
from dingwire.relay.templates import format_duration

if TYPE_CHECKING:
    from dingwire.config import Config
    from dingwire.relay.app import RendererLike
    from dingwire.transport.robots import AsyncRobot

__all__ = [
    "BACKOFF",
    "CLAIM_LIMIT",
    "MAX_HOLD",
    "MIN_CLAIM",
    "POLL_INTERVAL",
    "QUOTA_WARNINGS",
    "Dispatcher",
    "Round",
]

logger = logging.getLogger(__name__)

#: How often the supervisor looks at the outbox besides the intake's wakes (seconds).
POLL_INTERVAL = 1.0
#: The most records one round claims for a robot, and the fewest (see :func:`_next_claim`).
CLAIM_LIMIT = 2_000
MIN_CLAIM = 200
#: The core's retry policy, as the relay uses it: which failures may succeed later (a
#: timeout too: a duplicate beats a lost alert), and the jittered backoff, 1 s to 5 min.
#: ``attempts`` is no limit here: ``max_age`` ends the retries.
BACKOFF = RetryPolicy(attempts=1_000_000_000, base=1.0, cap=300.0, retry_on_timeout=True)
#: The shares of an org's quota at which a warning is logged, once each per period.
QUOTA_WARNINGS = (0.5, 0.8, 0.95)
#: The longest a robot task sleeps on a hold before it looks again (seconds).
MAX_HOLD = 30.0
# What a round does when a robot cannot be built (config): look again later.
_BROKEN_ROBOT_WAIT = 60.0

T = TypeVar("T")

_HELD_BY = {
    "budget": "its budget",
    "lockout": "DingTalk's lockout",
    "quota": "its org's quota",
    "pace": "the quota's pace",
    "store": "its budget store (unreachable)",
}
#: How often the supervisor purges the sent messages older than ``[relay] keep_sent``.
PURGE_EVERY = 600.0
#: How soon a robot whose budget store cannot be reached ([budget] on_store_error = "fail")
#: tries again; its messages wait, and the wait never counts toward max_age.
STORE_RETRY = 2.0


@dataclass(frozen=True, slots=True)
class Round:
    """What one round for a robot did: DingTalk ``messages`` sent carrying ``records``;
    ``mode`` ``"idle"``, ``"backlog"``, ``"held"`` (a budget, lockout, quota or pace held
    everything back) or ``"empty"``; ``next_at`` the clock time of the next round to run
    (``None``: when woken), ``reason`` what held it back."""

    mode: str
    messages: int = 0
    records: int = 0
    next_at: float | None = None
    reason: str | None = None


@dataclass(slots=True)
class _Unit:
    """What goes out as one send (or, for a record too large for one, a few in a row)."""

    records: list[Record]
    bodies: list[dict[str, Any]]
    digests: list[str | None]
    lines: int
    merged: bool = False


@dataclass(slots=True)
class _Robot:
    """What the dispatcher keeps per robot between rounds."""

    name: str
    event: asyncio.Event = field(default_factory=asyncio.Event)
    interrupt: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    robot: AsyncRobot | None = None
    broken: str | None = None
    claimed: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)  # of the claimed, those failing already
    last_send: float = -math.inf
    mode: str = "idle"
    held: tuple[str, float] | None = None
    store_away: float | None = None  # this round: the budget store failed, held until then
    claim_limit: int = CLAIM_LIMIT  # how many the next round claims (_next_claim)


#: What the relay's robots do when their Redis budget store is away, unless ``[budget]
#: on_store_error`` says otherwise: wait ("fail": the messages stay queued, nothing counts
#: toward ``max_age``, they go when it answers), where a robot of the library or the command
#: line counts on its machine meanwhile ("local"). A relay has nothing to lose by waiting, its
#: messages are stored; counting alone, relays that share a robot could together go over its
#: budget in the seconds after Redis is back.
RELAY_ON_STORE_ERROR = "fail"


def _default_factory(config: Config) -> Callable[[str], AsyncRobot]:
    overrides: dict[str, str] = {}
    if config.budget_on_store_error is None:
        overrides["on_store_error"] = RELAY_ON_STORE_ERROR

    def make(name: str) -> AsyncRobot:
        from dingwire.transport.robots import AsyncRobot

        return config.choice(name).make(AsyncRobot, **overrides)

    return make


def _errcode_label(error: BaseException) -> str:
    """The ``errcode`` label of ``failures_total`` for ``error``."""
    if isinstance(error, ApiError) and error.errcode is not None:
        return str(error.errcode)
    if isinstance(error, GatewayThrottledError):
        return "gateway"
    if isinstance(error, RequestTimeoutError):
        return "timeout"
    if isinstance(error, BadResponseError):
        if error.status is not None and error.status >= 500:
            return "http_5xx"
        return f"http_{error.status}" if error.status is not None else "bad_response"
    if isinstance(error, TransportError):
        return "network"
    return "error"


def _reply_of(error: BaseException) -> dict[str, Any]:
    if isinstance(error, ApiError) and error.errcode is not None:
        return {"errcode": error.errcode, "errmsg": error.errmsg or ""}
    return {"error": str(error)}


def _reserve(limit: int) -> int:
    """Slots of a window kept back from single messages: beyond them, digests.

    Half the window: a burst that leaves half of it free goes out message by message; a
    sustained storm turns into spaced digests early enough that the window never stalls
    long (simulated at 20/60 s with a notification a second: at most 20 s from intake to
    DingTalk, 2.5 s on average, against 30 s and 6.5 s keeping a quarter).
    """
    return max(1, limit // 2)


def _next_claim(limit: int, claimed: int, done: Round) -> int:
    """How many records the next round claims, after one that claimed ``claimed`` of
    ``limit`` and did ``done``.

    What a claim takes and the round does not send is written twice for nothing (claimed,
    then given back), in the transaction the intake's commits wait behind: so a round
    claims about twice what the last one sent (at least :data:`MIN_CLAIM`, enough to see
    a backlog), and four times as many as before when it sent everything it claimed (it
    could have sent more). A round held back says nothing: the limit stays."""
    if done.mode not in ("idle", "backlog"):
        return limit
    if done.records >= claimed >= limit:
        return min(CLAIM_LIMIT, limit * 4)
    return min(CLAIM_LIMIT, max(MIN_CLAIM, 2 * done.records))


def _spacing(rate: Rate | None) -> float:
    """The least time between two sends of a backlog: the rate its window sustains."""
    return rate.window / rate.limit if rate is not None else 0.0


def _when(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment)) if math.isfinite(moment) else "never"


class Dispatcher:
    """Sends what the outbox holds, per robot, within each robot's and org's budget.

    ``robot_factory(name)`` builds the :class:`~dingwire.AsyncRobot` for a robot name
    (default: ``config.choice(name).make(AsyncRobot)``, waiting while a Redis budget store
    is away unless ``[budget] on_store_error`` says otherwise: :data:`RELAY_ON_STORE_ERROR`);
    its robots' own retries are turned off (``attempts=1``): the dispatcher retries through
    the outbox. ``clock`` is the time of the outbox and of the budget questions; give the
    robots the same one.
    ``renderer`` renders the notifications the intake stored unrendered (default: one
    loaded from ``settings`` and ``config`` when the first one is met).
    """

    def __init__(
        self,
        settings: RelaySettings,
        config: Config,
        outbox: Outbox,
        metrics: RelayMetrics,
        *,
        owner: str | None = None,
        robot_factory: Callable[[str], AsyncRobot] | None = None,
        clock: Callable[[], float] = time.time,
        renderer: RendererLike | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.outbox = outbox
        self.metrics = metrics
        self.renderer = renderer
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._factory = robot_factory
        self._clock = clock
        self._robots: dict[str, _Robot] = {}
        self._rng = random.Random()
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._alone: set[str] = set()  # records to send alone (a digest holding them was refused)
        self._parts_sent: dict[str, int] = {}  # record id → parts of it delivered
        self._held_for: dict[str, float] = {}  # record id → seconds held back while failing
        self._quota_warned: dict[str, tuple[float, float]] = {}  # org → (period start, level)
        self._quota_spent: dict[str, float] = {}  # org → until, as last logged
        self._outbox_down = False
        self._closing: set[asyncio.Task[None]] = set()

    # -- life ---------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """Whether the dispatcher runs: started, not stopped, its supervisor not crashed."""
        return self._supervisor is not None and not self._supervisor.done()

    async def start(self) -> None:
        """Start the supervisor (and robot tasks as work appears); returns at once."""
        if self.alive:
            return
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._supervisor = asyncio.create_task(self._supervise(), name="dingwire-dispatcher")
        logger.info("dispatcher started (owner %s)", self.owner)

    def wake(self, robot: str) -> None:
        """Something was enqueued for ``robot``: look now (non-blocking; from the loop)."""
        if self._stopping or self._supervisor is None:
            return
        self._ensure(robot).event.set()

    async def stop(self, grace: float) -> None:
        """Finish the sends in flight, release every unsent claim, within ``grace`` seconds."""
        if self._supervisor is None:
            return
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()
        for state in self._robots.values():
            state.event.set()
        deadline = time.monotonic() + max(0.0, grace)
        tasks = [s.task for s in self._robots.values() if s.task is not None]
        if tasks:
            left = max(0.0, deadline - time.monotonic() - 0.2)  # keep time for the releases
            _, pending = await asyncio.wait(tasks, timeout=left)
            for task in pending:
                task.cancel()
            if pending:
                logger.warning(
                    "dispatcher: %d send(s) still in flight at stop: cancelled", len(pending)
                )
                await asyncio.wait(pending, timeout=0.1)
        self._supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._supervisor
        leftover = 0
        for state in self._robots.values():
            if state.claimed:
                ids = sorted(state.claimed)
                leftover += len(ids)
                try:
                    await self._call(
                        self.outbox.release, ids, owner=self.owner, not_before=self._clock()
                    )
                except OutboxUnavailable as error:
                    logger.warning(
                        "dispatcher: could not release %d claim(s) at stop (%s): "
                        "they are taken again when their lease ends",
                        len(ids),
                        error.message,
                    )
                state.claimed.clear()
            if state.robot is not None:
                with contextlib.suppress(Exception):
                    await state.robot.aclose()
                state.robot = None
            state.task = None
        logger.info("dispatcher stopped; %d unsent claim(s) released", leftover)

    def reconfigure(
        self, settings: RelaySettings, config: Config, renderer: RendererLike | None = None
    ) -> None:
        """New settings, config and templates (a reload): robots whose table changed are
        built again; what is still queued is rendered with the new templates."""
        old = self.config
        self.settings, self.config, self.renderer = settings, config, renderer
        for name, state in self._robots.items():
            before, after = old.robots.get(name), config.robots.get(name)
            same = (before is None and after is None) or (
                before is not None
                and after is not None
                and before.settings == after.settings
                and old.org(before.settings.get("org", "default"))
                == config.org(after.settings.get("org", "default"))
            )
            if not same or state.broken is not None:
                robot, state.robot, state.broken = state.robot, None, None
                if robot is not None:
                    self._close_later(robot)
                state.event.set()
                state.interrupt.set()
                logger.info("robot %r: configuration changed; built again at its next send", name)

    def _close_later(self, robot: AsyncRobot) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: its sessions close with their loop
        task = loop.create_task(robot.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # -- tasks --------------------------------------------------------------------------

    def _ensure(self, name: str) -> _Robot:
        state = self._robots.get(name)
        if state is None:
            state = self._robots[name] = _Robot(name)
        if not self._stopping and (state.task is None or state.task.done()):
            if state.task is not None and not state.task.cancelled():
                error = state.task.exception()
                if error is not None:
                    logger.error("robot %r: its task crashed (%r); started again", name, error)
            state.task = asyncio.create_task(self._work(state), name=f"dingwire-robot-{name}")
        return state

    async def purge_sent(self) -> int:
        """Delete the sent messages older than ``[relay] keep_sent`` (none when it is 0):
        the outbox would otherwise grow for ever. How many; 0 when the outbox cannot."""
        keep = self.settings.keep_sent
        if keep <= 0:
            return 0
        try:
            purged = await self._call(self.outbox.purge_sent, before=self._clock() - keep)
        except OutboxUnavailable as error:
            self._outbox_trouble(error)
            return 0
        if purged:
            logger.info(
                "dispatcher: purged %d sent message(s) older than [relay] keep_sent (%s)",
                purged,
                format_duration(keep),
            )
        return purged

    async def _supervise(self) -> None:
        next_purge = self._clock()
        while not self._stopping:
            if self._clock() >= next_purge:
                next_purge = self._clock() + PURGE_EVERY
                try:
                    await self.purge_sent()
                except Exception:
                    logger.exception("dispatcher: purging sent messages failed unexpectedly")
            try:
                backlog = await self._call(self.outbox.backlog, now=self._clock())
            except OutboxUnavailable as error:
                self._outbox_trouble(error)
            except Exception:
                logger.exception("dispatcher: looking at the outbox failed unexpectedly")
            else:
                self._outbox_fine()
                for name, entry in backlog.items():
                    if entry.due > 0:
                        self._ensure(name).event.set()
            await self._pause(POLL_INTERVAL)

    async def _pause(self, seconds: float, interrupt: asyncio.Event | None = None) -> None:
        """Sleep ``seconds`` (real time), or less if the dispatcher stops or ``interrupt``
        is set."""
        if seconds <= 0 or self._stop_event is None:
            return
        waits = [asyncio.ensure_future(self._stop_event.wait())]
        if interrupt is not None:
            waits.append(asyncio.ensure_future(interrupt.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    async def _work(self, state: _Robot) -> None:
        while not self._stopping:
            state.event.clear()
            try:
                done = await self.step(state.name)
                next_at = done.next_at
            except OutboxUnavailable as error:
                self._outbox_trouble(error)
                next_at = self._clock() + error.retry_after
            except Exception:
                logger.exception(
                    "robot %r: a round failed unexpectedly; trying again in 5 s", state.name
                )
                next_at = self._clock() + 5.0
            if self._stopping:
                return
            if next_at is not None:
                # A hold is kept however often the robot is woken; a long one (a spent
                # quota) is looked at again now and then, and a reload ends it.
                state.interrupt.clear()
                await self._pause(min(next_at - self._clock(), MAX_HOLD), state.interrupt)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.event.wait(), 5 * POLL_INTERVAL)

    def _outbox_trouble(self, error: OutboxUnavailable) -> None:
        if not self._outbox_down:
            logger.error("dispatcher: the outbox is unavailable (%s); retrying", error.message)
        self._outbox_down = True

    def _outbox_fine(self) -> None:
        if self._outbox_down:
            logger.info("dispatcher: the outbox is available again")
        self._outbox_down = False

    async def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """An outbox call, in a worker thread (never on the loop)."""
        return await asyncio.to_thread(function, *args, **kwargs)

    async def _store(self, robot: AsyncRobot, function: Callable[..., T], *args: Any) -> T:
        """A budget-store call, in a worker thread when the store can block."""
        if getattr(robot.budget_store, "blocking", True):
            return await asyncio.to_thread(function, *args)
        return function(*args)

    def _robot(self, state: _Robot) -> AsyncRobot:
        if state.robot is None:
            factory = self._factory or _default_factory(self.config)
            robot = factory(state.name)
            # The outbox retries, with max_age and backoff; the robot tries once.
            robot.retry = replace(robot.retry, attempts=1)
            state.robot = robot
        return state.robot

    # -- one round ----------------------------------------------------------------------

    async def step(self, name: str) -> Round:
        """One round for robot ``name``: claim what is due, send what the budget allows,
        give the rest back. The robot tasks call it; a test with a clock of its own may
        call it directly."""
        state = self._robots.get(name) or self._robots.setdefault(name, _Robot(name))
        now = self._clock()
        try:
            robot = self._robot(state)
        except ConfigError as error:
            if state.broken != error.message:
                logger.error("robot %r cannot send: %s; its messages stay queued", name, error)
            state.broken = error.message
            return Round("held", next_at=now + _BROKEN_ROBOT_WAIT, reason="config")
        state.broken = None
        claimed = await self._call(
            self.outbox.claim,
            name,
            now=now,
            owner=self.owner,
            lease=self.settings.lease,
            limit=state.claim_limit,
        )
        if not claimed:
            state.held = None
            return Round("empty")
        state.claimed.update(r.id for r in claimed)
        state.failing = {r.id for r in claimed if r.failing_since is not None}
        try:
            done = await self._round(state, robot, claimed, now)
            state.claim_limit = _next_claim(state.claim_limit, len(claimed), done)
            return done
        finally:
            # Whatever the round did not settle goes back, due now (never attempted).
            if state.claimed:
                left = [r.id for r in claimed if r.id in state.claimed]
                if left:
                    await self._release(state, left, self._clock())

    async def _round(
        self, state: _Robot, robot: AsyncRobot, claimed: list[Record], now: float
    ) -> Round:
        name = state.name
        try:
            verdict: Verdict = await self._store(robot, robot.budget_state, now)
        except BudgetStoreError:
            until = now + STORE_RETRY
            await self._hold(state, "store", until)
            return Round("held", next_at=until, reason="store")
        self._report_quota(robot, verdict, now)
        if not verdict.go:
            until = verdict.until if not verdict.provisional else now + min(verdict.wait, 0.05)
            await self._hold(state, verdict.reason, until)
            return Round("held", next_at=until, reason=verdict.reason)
        slots = verdict.free
        quota = robot.budget.quota
        if quota is not None:
            allowed, next_pace = self._pace(quota, now, verdict.used)
            if allowed <= 0:
                await self._hold(state, "pace", next_pace)
                return Round("held", next_at=next_pace, reason="pace")
            slots = min(slots, allowed)
        rate = robot.budget.rate
        keep = _reserve(rate.limit) if rate is not None else 0
        backlog = len(claimed) > slots - keep
        spacing = _spacing(rate)
        if backlog and now < state.last_send + spacing:
            until = state.last_send + spacing
            await self._release(state, [r.id for r in claimed], until)
            return Round("held", next_at=until, reason="spacing")
        if backlog != (state.mode == "backlog"):
            if backlog:
                logger.info(
                    "robot %r: backlog (%d waiting, %d send(s) free now): merging into "
                    "digests, at most one send every %.1f s",
                    name,
                    len(claimed),
                    slots,
                    spacing,
                )
            else:
                logger.info("robot %r: backlog cleared; single messages again", name)
        state.mode = "backlog" if backlog else "idle"
        state.held = None
        room = max(1, slots - keep) if backlog else slots
        ready = await self._rendered(state, robot, claimed, room if backlog else None, now)
        if ready is None:
            return Round("held", next_at=now + _BROKEN_ROBOT_WAIT, reason="config")
        units = self._units(robot, ready, merge=backlog)
        lease_end = now + self.settings.lease * 0.8
        messages = records = 0
        state.store_away = None
        for unit in units:
            if self._stopping or room <= 0 or self._clock() > lease_end:
                break
            sent, delivered, stop = await self._send(state, robot, unit, room)
            messages += sent
            records += delivered
            room -= sent
            if stop:
                break
        if state.store_away is not None:
            return Round("held", messages, records, next_at=state.store_away, reason="store")
        if messages:
            with contextlib.suppress(BudgetStoreError):  # only for the quota's warnings
                after = await self._store(robot, robot.budget_state, self._clock())
                self._report_quota(robot, after, self._clock())
        more = any(r.id in state.claimed for r in claimed)
        if backlog:
            return Round("backlog", messages, records, next_at=state.last_send + spacing)
        return Round("idle", messages, records, next_at=self._clock() if more else None)

    def _pace(self, quota: Quota, now: float, used: int) -> tuple[int, float]:
        """Sends the quota's pace allows now beyond ``used``, and when one more is allowed."""
        burst = self.settings.burst_for(quota.limit)
        allowed = pace_allowance(quota, now, burst=burst) - used
        if allowed > 0:
            return allowed, now
        start, end = quota_period(quota, now)
        share = (used - burst + 1) / quota.limit
        moment = start + share * (end - start)
        step = (end - start) / quota.limit / 1000
        while moment < end and pace_allowance(quota, moment, burst=burst) <= used:
            moment += step
        return 0, max(moment, now + 0.001)

    def _report_quota(self, robot: AsyncRobot, verdict: Verdict, now: float) -> None:
        budget = robot.budget
        quota = budget.quota
        self.metrics.quota(budget.org, verdict.used, quota.limit if quota else None)
        if quota is None:
            return
        start, _ = quota_period(quota, now)
        share = verdict.used / quota.limit
        reached = max((level for level in QUOTA_WARNINGS if share >= level), default=0.0)
        warned_start, warned = self._quota_warned.get(budget.org, (start, 0.0))
        if warned_start != start:
            warned = 0.0
        if reached > warned:
            logger.warning(
                "org %r has used %d%% of its quota (%d of %s) this period; it renews %s",
                budget.org,
                round(share * 100),
                verdict.used,
                quota,
                _when(verdict.renews),
            )
        self._quota_warned[budget.org] = (start, max(reached, warned))

    async def _hold(self, state: _Robot, reason: str, until: float) -> None:
        """Nothing more goes now: every claim back, due at ``until``, no attempt counted."""
        waiting = len(state.claimed)
        # Time held back never counts toward max_age: remembered for the failing ones.
        held = max(0.0, until - self._clock())
        for rid in state.claimed & state.failing:
            self._held_for[rid] = self._held_for.get(rid, 0.0) + held
        await self._release(state, sorted(state.claimed), until)
        self.metrics.throttled(state.name, reason)
        if state.held is None or state.held[0] != reason or abs(state.held[1] - until) > 1:
            level = logging.WARNING if reason in ("lockout", "quota", "store") else logging.INFO
            logger.log(
                level,
                "robot %r: held back by %s until %s; %d message(s) wait",
                state.name,
                _HELD_BY.get(reason, reason),
                _when(until),
                waiting,
            )
        state.held = (reason, until)

    async def _release(self, state: _Robot, ids: Sequence[str], not_before: float) -> None:
        if not ids:
            return
        await self._call(self.outbox.release, list(ids), owner=self.owner, not_before=not_before)
        state.claimed.difference_update(ids)

    # -- rendering ----------------------------------------------------------------------

    async def _rendered(
        self,
        state: _Robot,
        robot: AsyncRobot,
        claimed: list[Record],
        room: int | None,
        now: float,
    ) -> list[Record] | None:
        """The records this round can send, rendered: all of ``claimed``, or (a backlog
        with ``room`` messages) the first whose lines fill them; the rest stay claimed,
        unrendered, and go back at the end of the round. A record that cannot be rendered
        is dead with the reason. ``None``: no renderer can be loaded (held, logged)."""
        if room is None and all(r.message.rendered for r in claimed):
            return claimed
        try:
            renderer = self._renderer()
        except ConfigError as error:
            logger.error("the relay cannot render its alerts: %s; they stay queued", error)
            await self._hold(state, "config", now + _BROKEN_ROBOT_WAIT)
            return None
        packer = Packer(keywords=robot.keywords, mention=robot.mention) if room else None
        ready, broken = await asyncio.to_thread(
            _render_records, renderer, claimed, room, set(self._alone), packer
        )
        for record, reason in broken:
            why = f"the stored payload cannot be rendered: {reason}"
            await self._kill(state, [record.id], now, why, {"error": why}, attempted=False)
        return ready

    def _renderer(self) -> RendererLike:
        if self.renderer is None:
            from dingwire.relay.render import Renderer

            self.renderer = Renderer.load(self.settings, self.config)
        return self.renderer

    # -- units --------------------------------------------------------------------------

    def _units(self, robot: AsyncRobot, claimed: list[Record], *, merge: bool) -> list[_Unit]:
        """What goes out, in claim order: each record alone, or (``merge``) digests of the
        text and markdown records, cards and records refused in a digest alone."""
        singles: list[tuple[int, _Unit]] = []
        mergeable: list[tuple[int, Record]] = []
        for index, record in enumerate(claimed):
            if merge and record.message.kind != "card" and record.id not in self._alone:
                mergeable.append((index, record))
            else:
                singles.append((index, self._alone_unit(robot, record)))
        if len(mergeable) == 1:
            index, record = mergeable[0]
            singles.append((index, self._alone_unit(robot, record)))
            mergeable = []
        order = {r.id: i for i, r in mergeable}
        merged: list[tuple[int, _Unit]] = []
        if mergeable:
            by_id = {r.id: r for _, r in mergeable}
            digests = build_digests(
                [r for _, r in mergeable], keywords=robot.keywords, mention=robot.mention
            )
            i = 0
            while i < len(digests):
                digest = digests[i]
                if digest.parts > 1:  # one record's own parts, in a row
                    parts = digests[i : i + digest.parts]
                    record = by_id[digest.records[0]]
                    unit = _Unit(
                        [record],
                        [d.body for d in parts],
                        [d.id for d in parts],
                        sum(d.lines for d in parts),
                    )
                    i += digest.parts
                else:
                    records = [by_id[rid] for rid in digest.records]
                    unit = _Unit(
                        records, [digest.body], [digest.id], digest.lines, merged=len(records) > 1
                    )
                    if len(records) == 1:
                        unit = self._alone_unit(robot, records[0])
                    i += 1
                merged.append((order[unit.records[0].id], unit))
        return [u for _, u in sorted(singles + merged, key=lambda pair: pair[0])]

    def _alone_unit(self, robot: AsyncRobot, record: Record) -> _Unit:
        """``record`` on its own: its body, or when the robot would find it too large,
        digests of its own lines."""
        lines = max(1, len(record.message.lines))
        try:
            robot.body(record.message.body)
        except TooLargeError:
            if record.message.kind == "card":
                return _Unit([record], [record.message.body], [None], lines)
            parts = build_digests([record], keywords=robot.keywords, mention=robot.mention)
            return _Unit(
                [record],
                [d.body for d in parts],
                [d.id if len(parts) > 1 else None for d in parts],
                lines,
            )
        except MessageError:
            pass  # refused when sent: dead with the reason
        return _Unit([record], [record.message.body], [None], lines)

    # -- sending ------------------------------------------------------------------------

    async def _send(
        self, state: _Robot, robot: AsyncRobot, unit: _Unit, room: int
    ) -> tuple[int, int, bool]:
        """Send ``unit``: how many messages went out, how many records were delivered, and
        whether the round must stop."""
        name = state.name
        ids = [r.id for r in unit.records]
        first = self._parts_sent.get(ids[0], 0) if len(unit.bodies) > 1 else 0
        sent = 0
        result = None
        for index in range(first, len(unit.bodies)):
            if sent >= room:
                await self._release(state, ids, self._clock())
                return sent, 0, True
            try:
                result = await robot.send(unit.bodies[index], block=False)
            except BudgetStoreError:  # nothing was sent: the messages wait, no attempt counted
                state.store_away = self._clock() + STORE_RETRY
                await self._hold(state, "store", state.store_away)
                return sent, 0, True
            except DingwireError as error:
                return sent, 0, await self._failed(state, unit, error)
            except Exception as error:  # a bug or a foreign error: never lose the message
                logger.exception("robot %r: unexpected error sending %d record(s)", name, len(ids))
                wrapped = ConnectError(f"unexpected {type(error).__name__}: {error}")
                return sent, 0, await self._failed(state, unit, wrapped)
            sent += 1
            state.last_send = self._clock()
            if index < len(unit.bodies) - 1:
                # A part of a record too large for one message: a message of its own (the
                # last one is counted with the delivery below).
                self._parts_sent[ids[0]] = index + 1
                self.metrics.sent_total.labels(name).inc()
        now = self._clock()
        reply = {"errcode": result.errcode, "errmsg": result.errmsg} if result else None
        digest = unit.digests[-1]
        await self._ack(ids, now, reply, digest)
        state.claimed.difference_update(ids)
        for rid in ids:
            self._parts_sent.pop(rid, None)
            self._held_for.pop(rid, None)
            self._alone.discard(rid)
        self.metrics.sent(
            name,
            records=len(ids),
            alerts=unit.lines,
            latencies=[now - r.message.received for r in unit.records if r.message.received],
        )
        return sent, len(ids), False

    async def _ack(
        self, ids: list[str], now: float, reply: dict[str, Any] | None, digest: str | None
    ) -> None:
        """Record a delivery; the outbox must hear it, or the message goes out again."""
        delay = 0.05
        while True:
            try:
                await self._call(self.outbox.ack, ids, now=now, reply=reply, digest=digest)
                return
            except OutboxUnavailable as error:
                self._outbox_trouble(error)
                if self._clock() - now > self.settings.lease / 2:
                    raise
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 2)

    async def _failed(self, state: _Robot, unit: _Unit, error: DingwireError) -> bool:
        """Settle ``unit`` after ``error``; whether the round must stop."""
        name = state.name
        ids = [r.id for r in unit.records]
        now = self._clock()
        attempted = isinstance(error, ApiError | TransportError)
        if isinstance(error, QuotaExceededError):
            until = error.until or error.renews_at or now + 60.0
            if attempted:
                self.metrics.failure(name, _errcode_label(error))
            org = state.robot.budget.org if state.robot else "default"
            if self._quota_spent.get(org) != until:
                logger.warning(
                    "org %r: its quota is spent (%s); every message of robot %r stays queued "
                    "until it renews at %s",
                    org,
                    error,
                    name,
                    _when(until),
                )
                self._quota_spent[org] = until
            await self._hold(state, "quota", until)
            return True
        if isinstance(error, RateLimitedError) and not attempted:
            # Held back before sending: the budget or a lockout. No attempt.
            until = error.until if error.until is not None else now + (error.retry_after or 1.0)
            await self._hold(state, error.reason, until)
            return True
        if isinstance(error, ThrottledError):
            # DingTalk throttled it although the budget allowed it: another sender shares the
            # robot, or the clock is off. The robot locked itself out; nothing was delivered.
            self.metrics.failure(name, _errcode_label(error))
            until = error.until if error.until is not None else now + robot_lockout(state)
            logger.error(
                "robot %r: DingTalk throttled it (%s) although its budget allowed the send; "
                "does another sender share the robot without sharing its budget store?",
                name,
                error.errcode,
            )
            await self._hold(state, "lockout", until)
            return True
        self.metrics.failure(name, _errcode_label(error))
        delay = BACKOFF.delay(max(r.attempts for r in unit.records) + 1, error, self._rng)
        if (
            delay is None
            and unit.merged
            and isinstance(
                error, ContentRejectedError | InvalidRequestError | BodyTooLargeError | MessageError
            )
        ):
            # Something in the digest was refused: its records go alone, the culprit dies alone.
            logger.warning(
                "robot %r: a digest of %d records was refused (%s); sending them one by one",
                name,
                len(ids),
                error,
            )
            self._alone.update(ids)
            await self._release(state, ids, now)
            return False
        if delay is None:
            await self._kill(state, ids, now, str(error), _reply_of(error), attempted)
            return False
        if isinstance(error, GatewayThrottledError) and error.until is not None:
            delay = max(delay, error.until - now)
        expired = [
            r.id
            for r in unit.records
            if r.failing_since is not None
            and now - r.failing_since - self._held_for.get(r.id, 0.0) >= self.settings.max_age
        ]
        if expired:
            reason = f"failing for {self.settings.max_age:g} s; last error: {error}"
            await self._kill(state, expired, now, reason, _reply_of(error), True)
        retry = [i for i in ids if i not in expired]
        if retry:
            await self._call(
                self.outbox.nack,
                retry,
                owner=self.owner,
                now=now,
                retry_at=now + delay,
                error=str(error),
                reply=_reply_of(error),
            )
            state.claimed.difference_update(retry)
            logger.warning(
                "robot %r: sending %d record(s) failed (%s); next try in %.1f s",
                name,
                len(retry),
                error,
                delay,
            )
        # The rest of the round waits as long: an outage is probed, not hammered.
        rest = sorted(state.claimed)
        await self._release(state, rest, now + delay)
        return True

    async def _kill(
        self,
        state: _Robot,
        ids: list[str],
        now: float,
        error: str,
        reply: dict[str, Any],
        attempted: bool,
    ) -> None:
        await self._call(
            self.outbox.kill, ids, now=now, error=error, reply=reply, attempted=attempted
        )
        state.claimed.difference_update(ids)
        for rid in ids:
            self._parts_sent.pop(rid, None)
            self._held_for.pop(rid, None)
            self._alone.discard(rid)
        self.metrics.dead(state.name, len(ids))
        logger.error("robot %r: %d record(s) dead: %s", state.name, len(ids), error)


def _render_records(
    renderer: RendererLike,
    claimed: list[Record],
    room: int | None,
    alone: set[str],
    packer: Packer | None,
) -> tuple[list[Record], list[tuple[Record, str]]]:
    """``claimed`` rendered, in order — with ``room``, only those that fill that many
    messages, packed by ``packer`` as the round's digests will be (a card, or a record in
    ``alone``, is a message of its own) — and the records that cannot be rendered, with
    the reason."""
    ready: list[Record] = []
    broken: list[tuple[Record, str]] = []
    singles = merged = 0
    for record in claimed:
        if room is not None and singles + merged > room:
            break  # the messages it has room for are full
        message = record.message
        if not message.rendered:
            try:
                message = renderer.complete(message)
            except PayloadError as error:
                broken.append((record, error.reason))
                continue
            except MessageError as error:
                broken.append((record, error.message))
                continue
            record = replace(record, message=message)
        ready.append(record)
        if message.kind == "card" or record.id in alone or packer is None:
            singles += 1
        else:
            merged = packer.add(record)
    return ready, broken


def robot_lockout(state: _Robot) -> float:
    """The lockout the robot of ``state`` assumes after a 130101 (seconds)."""
    return state.robot.lockout if state.robot is not None else 600.0
