"""What ``Robot`` and ``AsyncRobot`` share: everything but the loop that sends and sleeps.

A send is a generator, :meth:`BaseRobot._send_flow`, that yields what it needs done — a
``Request`` to send, a :class:`StoreCall` on the budget store, or a ``float`` of seconds to
sleep — and receives the reply (or the transport's error, or the store's answer). The sync
robot drives it with ``time.sleep`` and a blocking pool, the async robot with
``asyncio.sleep``, aiohttp and a worker thread for a store that can block. Budgets, signing
with a fresh timestamp for every attempt, classifying the reply and deciding on retries
happen once, here, so the two robots cannot drift apart.

Budgets, as DingTalk counts them (:mod:`dingwire.core.budget`): a send holds its slot in
the store from the moment it starts and is settled when its reply arrives (the latest
DingTalk can have seen it); one that provably never left (no connection) gives the slot
back, one that may have arrived (a timeout after sending) keeps it. A blocking send waits
for the minute budget, but for a lockout or a spent quota only as long as ``max_wait``
allows; otherwise it raises :class:`RateLimitedError` / :class:`QuotaExceededError` at once.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from dingwire.core.budget import MONTH, Budget, Quota, Verdict, parse_quota, quota_period
from dingwire.core.errors import (
    ConfigError,
    ConnectError,
    DingwireError,
    GatewayThrottledError,
    QuotaExceededError,
    QuotaRefusedError,
    RateLimitedError,
    ThrottledError,
)
from dingwire.core.limits import DEFAULT_MAX_PARTS, MAX_KEYWORDS
from dingwire.core.mentions import keyword_room
from dingwire.core.messages import At, MessageLike, to_payload
from dingwire.core.policy import (
    DEFAULT_LOCKOUT,
    DEFAULT_RATE,
    Rate,
    RetryPolicy,
    parse_lockout,
    parse_rate,
    parse_timeout,
)
from dingwire.core.protocol import (
    MAX_BODY_BYTES,
    Request,
    SendResult,
    Webhook,
    check_body_size,
    encode_body,
    parse_reply,
    prepare_payload,
)
from dingwire.core.redact import MASK, mask_url
from dingwire.core.urls import normalise_webhook, robot_key
from dingwire.transport.proxies import choose_proxy

if TYPE_CHECKING:
    from dingwire.budget import BudgetStore

__all__ = ["BaseRobot", "Reply", "StoreCall", "normalise_webhook", "robot_key"]

logger = logging.getLogger(__name__)

#: How often a send that waits on another send still in flight looks again.
IN_FLIGHT_POLL = 0.05

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Reply:
    """What came back over HTTP: status, body, and the ``Date`` header in epoch seconds."""

    status: int
    body: bytes
    server_time: float | None = None


@dataclass(frozen=True, slots=True)
class StoreCall:
    """A budget-store call the driving loop makes for the flow: ``function(*args)``.

    The async robot runs it in a worker thread when the store is ``blocking``.
    """

    function: Callable[..., Any]
    args: tuple[Any, ...]


def _clock_time(moment: float, now: float) -> str:
    """``14:02:31`` (this machine's local time), with the date when it is not within a day."""
    if abs(moment - now) < 86_400:
        return time.strftime("%H:%M:%S", time.localtime(moment))
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def _renewal(quota: Quota | None, moment: float) -> str:
    """When a quota period ends, as its organisation reads it: ``2027-01-01 00:00 Asia/Shanghai``."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = quota.timezone if quota is not None else "Asia/Shanghai"
    local = datetime.fromtimestamp(moment, ZoneInfo(zone))
    if quota is not None and quota.period != MONTH:
        return local.strftime(f"%Y-%m-%d %H:%M:%S {zone}")
    return local.strftime(f"%Y-%m-%d %H:%M {zone}")


def _holds_text_longer_than(message: MessageLike, length: int) -> bool:
    """Whether a field of ``message`` (of its msgtype's object, for a dict) is a string of
    more than ``length`` characters: cheap, and validating nothing."""
    values: Iterable[object] = ()
    if isinstance(message, Mapping):
        body = message.get(str(message.get("msgtype")))
        values = body.values() if isinstance(body, Mapping) else ()
    else:
        values = (getattr(message, f.name, None) for f in fields(message))  # type: ignore[arg-type]
    return any(isinstance(v, str) and len(v) > length for v in values)


def _store(store: BudgetStore | str | None, on_store_error: str | None) -> BudgetStore:
    from dingwire.budget import RedisBudgetStore, default_store, open_store
    from dingwire.budget.redis import check_on_store_error

    if on_store_error is not None:
        check_on_store_error(on_store_error)
    if store is None:
        return default_store()
    if isinstance(store, str):
        return open_store(store, on_store_error=on_store_error)
    if (
        isinstance(store, RedisBudgetStore)
        and on_store_error is not None
        and on_store_error != store.on_error
    ):
        raise ConfigError(
            f"on_store_error: {on_store_error!r}, but the budget store given was made with "
            f"on_error={store.on_error!r}; give it to RedisBudgetStore(..., on_error=...)"
        )
    return store  # memory and local stores are never away: on_store_error has no say


class BaseRobot:
    """The settings of one robot and the send logic both robots share."""

    def __init__(
        self,
        webhook: str,
        secret: str | None = None,
        *,
        keywords: Sequence[str] = (),
        mention: At | None = None,
        timeout: float | str = 5.0,
        proxy: str | None = None,
        trust_env: bool = True,
        rate_limit: str | Rate | None = _UNSET,
        lockout: float | str = DEFAULT_LOCKOUT,
        org: str | None = None,
        quota: str | Quota | None = None,
        budget_store: BudgetStore | str | None = None,
        on_store_error: str | None = None,
        retry: RetryPolicy | None = None,
        name: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if secret is not None and not isinstance(secret, str):
            raise ConfigError("secret: must be a string (the robot's SEC… secret)")
        self._secret = secret.strip() if secret else None
        # The one URL rule (dingwire.core.urls), checked before anything connects.
        self._webhook = Webhook(webhook, self._secret)
        self.webhook = self._webhook.url
        if isinstance(keywords, str):
            keywords = [keywords]
        self.keywords = tuple(k for k in keywords if k)
        if len(self.keywords) > MAX_KEYWORDS:
            raise ConfigError(
                f"keywords: DingTalk allows at most {MAX_KEYWORDS} keywords per robot,"
                f" got {len(self.keywords)}"
            )
        self.mention = mention
        self.timeout = parse_timeout(timeout)
        # The proxy both transports use: this one, else HTTPS_PROXY & co. (unless
        # trust_env=False), checked now rather than at the first send.
        self.trust_env = trust_env
        self.proxy = choose_proxy(self.webhook, proxy, trust_env=trust_env)
        self.rate = DEFAULT_RATE if rate_limit is _UNSET else parse_rate(rate_limit)
        self.lockout = parse_lockout(lockout)
        self.retry = retry if retry is not None else RetryPolicy()
        if org is not None and (not isinstance(org, str) or not org.strip()):
            raise ConfigError(f"org: expected the organisation's name, got {org!r}")
        self.budget = Budget(self.rate, (org or "default").strip(), parse_quota(quota))
        # on_store_error: what a Redis budget store does while Redis is away (its default:
        # count on this machine, "local"; or "fail": sends raise BudgetStoreError).
        self.budget_store: BudgetStore = _store(budget_store, on_store_error)
        self.name = name
        self._clock = clock
        self._rng = random.Random()
        self._key = robot_key(self.webhook)

    @property
    def secret(self) -> str | None:
        """The signing secret (never part of ``repr`` or any log line)."""
        return self._secret

    def __repr__(self) -> str:
        secret = f", secret={MASK!r}" if self._secret else ""
        name = f"{self.name!r}, " if self.name else ""
        return f"{type(self).__name__}({name}{mask_url(self.webhook)!r}{secret})"

    # -- building ---------------------------------------------------------------------

    def _with_default_mention(self, message: MessageLike) -> MessageLike:
        if not self.mention:
            return message
        payload = to_payload(message)
        if self.mention and payload["msgtype"] in ("text", "markdown") and "at" not in payload:
            return to_payload({**payload, "at": self.mention.to_payload()})
        return message

    def payload(self, message: MessageLike) -> dict[str, Any]:
        """The JSON object this robot would send for ``message`` (default mentions, keyword)."""
        return prepare_payload(self._with_default_mention(message), self.keywords)

    def body(self, message: MessageLike) -> bytes:
        """The exact bytes this robot would send; raises :class:`TooLargeError` if too big."""
        return self._body(self.payload(message))

    def bodies(
        self, message: MessageLike, *, split: bool = False, max_parts: int = DEFAULT_MAX_PARTS
    ) -> list[bytes]:
        """The bodies that send ``message``: one, or with ``split=True`` as many as it takes,
        up to ``max_parts``.

        Parts come from :func:`dingwire.split`; the robot's default mention goes with the last
        part only, and room is left in every part for the keyword the robot may add. More
        than ``max_parts`` parts raise :class:`TooManyPartsError`, a text far too long for
        them before it is even encoded.
        """
        if not split:
            return [self.body(message)]
        limit = MAX_BODY_BYTES - keyword_room(self.keywords)
        if _holds_text_longer_than(message, max_parts * limit // 4):
            # Far too long, perhaps: refused before the text is validated and encoded whole.
            from dingwire.content.split import check_max_parts

            check_max_parts(message, limit=limit, max_parts=max_parts)
        whole = self.payload(message)
        body = encode_body(whole)
        if len(body) <= MAX_BODY_BYTES:
            return [body]
        from dingwire.content.split import split as split_message

        parts = split_message(self._with_default_mention(message), limit=limit, max_parts=max_parts)
        return [self._body(prepare_payload(to_payload(part), self.keywords)) for part in parts]

    def _body(self, payload: dict[str, Any]) -> bytes:
        return check_body_size(encode_body(payload))

    def request(self, message: MessageLike, timestamp_ms: int | None = None) -> Request:
        """The signed request for ``message`` at ``timestamp_ms`` (now, by default)."""
        return self._request(self.body(message), timestamp_ms)

    def _request(self, body: bytes, timestamp_ms: int | None = None) -> Request:
        # The webhook was parsed once, when the robot was built: signing is string work.
        if self._secret and timestamp_ms is None:
            timestamp_ms = round(self._clock() * 1000)
        return self._webhook.request(body, timestamp_ms)

    # -- budgets ----------------------------------------------------------------------

    def budget_state(self, now: float | None = None) -> Verdict:
        """What the robot's budget says now, sending nothing: free slots, lockout, quota."""
        moment = self._clock() if now is None else now
        return self.budget_store.peek(self._key, self.budget, moment)

    def _refusal(self, verdict: Verdict, now: float) -> RateLimitedError:
        """The error for a send the budget holds back longer than the caller allows."""
        at = _clock_time(verdict.until, now)
        if verdict.reason == "quota":
            quota = self.budget.quota
            spent = f"its quota of {quota} webhook calls" if quota else "its webhook calls"
            renews = _renewal(quota, verdict.until)
            return QuotaExceededError(
                f"the organisation {self.budget.org!r} has spent {spent}; "
                f"it renews {renews}, and nothing was sent",
                retry_after=verdict.wait,
                until=verdict.until,
                org=self.budget.org,
                quota=str(quota) if quota else None,
                renews_at=verdict.until,
            )
        if verdict.reason == "lockout":
            message = f"the robot is locked out by DingTalk until {at} ({verdict.wait:.0f} s)"
        else:
            message = f"the robot's budget ({self.rate}) is spent until {at} ({verdict.wait:.1f} s)"
        return RateLimitedError(
            f"{message}; nothing was sent",
            retry_after=verdict.wait,
            until=verdict.until,
            reason=verdict.reason,
        )

    def _budget_flow(
        self, soft: float, hard: float
    ) -> Generator[Request | float | StoreCall, Any, Verdict]:
        """Wait for a slot: up to ``soft`` for the minute budget, ``hard`` for the rest."""
        hold = 2 * self.timeout + 1.0  # connect and read: the latest a send can still arrive
        told: tuple[str, float] | None = None
        while True:
            now = self._clock()
            verdict: Verdict = yield StoreCall(self._reserve, (now, hold))
            if verdict.go:
                return verdict
            deadline = soft if verdict.reason == "budget" else hard
            if verdict.until > deadline:
                raise self._refusal(verdict, now)
            if told is None or told[0] != verdict.reason or abs(told[1] - verdict.until) > 1:
                told = (verdict.reason, verdict.until)
                logger.info("%s", self._waiting(verdict, now))
            yield min(verdict.wait, IN_FLIGHT_POLL) if verdict.provisional else verdict.wait

    def _reserve(self, now: float, hold: float) -> Verdict:
        return self.budget_store.reserve(self._key, self.budget, now, hold=hold)

    def _waiting(self, verdict: Verdict, now: float) -> str:
        what = {
            "budget": f"its budget ({self.rate})",
            "lockout": "DingTalk's lockout",
            "quota": f"the organisation {self.budget.org!r}'s quota",
        }[verdict.reason]
        return f"{self} waits for {what} until {_clock_time(verdict.until, now)} ({verdict.wait:.1f} s)"

    # -- sending ----------------------------------------------------------------------

    def _send_flow(
        self,
        message: MessageLike,
        *,
        block: bool,
        split: bool = False,
        max_parts: int = DEFAULT_MAX_PARTS,
        max_wait: float | None = None,
    ) -> Generator[Request | float | StoreCall, Any, SendResult]:
        bodies = self.bodies(message, split=split, max_parts=max_parts)
        if max_wait is not None and not max_wait >= 0:
            raise ValueError("max_wait must be a number of seconds, not negative")
        # The latest moment a wait may end: `soft` for the minute budget (a blocking send
        # waits for it), `hard` for a lockout or a spent quota (only within max_wait).
        now = self._clock()
        if not block:
            soft = hard = now
        elif max_wait is not None:
            soft = hard = now + max_wait
        else:
            soft, hard = math.inf, now
        attempts = 0
        for index, body in enumerate(bodies):
            try:
                result = yield from self._send_body_flow(body, soft, hard)
            except DingwireError as error:
                if len(bodies) > 1:
                    error.add_note(
                        f"part {index + 1} of {len(bodies)} failed; "
                        f"{index} part(s) before it were delivered"
                    )
                raise
            attempts += result.attempts
        return replace(result, attempts=attempts, parts=len(bodies))

    def _send_body_flow(
        self, body: bytes, soft: float, hard: float
    ) -> Generator[Request | float | StoreCall, Any, SendResult]:
        attempt = 0
        while True:
            attempt += 1
            verdict = yield from self._budget_flow(soft, hard)
            timestamp_ms = round(self._clock() * 1000)
            request = self._request(body, timestamp_ms)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("POST %s (%d bytes)", mask_url(request.url), len(body))
            outcome = yield request
            arrived = self._clock()
            if verdict.slot is not None:
                # Counted when the reply came: the latest DingTalk can have seen it. Only a
                # connection never made proves that nothing left.
                never_left = isinstance(outcome, ConnectError)
                yield StoreCall(
                    self.budget_store.settle,
                    (self._key, verdict.slot, None if never_left else arrived),
                )
            try:
                if isinstance(outcome, DingwireError):
                    raise outcome
                result = parse_reply(
                    outcome.status,
                    outcome.body,
                    timestamp_ms=timestamp_ms if self._secret else None,
                    server_time=outcome.server_time,
                )
                return replace(result, attempts=attempt)
            except QuotaRefusedError as error:
                # DingTalk says the org's calls are spent: every robot of the org stops.
                renews = quota_period(self.budget.quota or Quota(1), arrived)[1]
                yield StoreCall(self.budget_store.spend_quota, (self.budget.org, renews))
                error.org, error.renews_at, error.until = self.budget.org, renews, renews
                error.quota = str(self.budget.quota) if self.budget.quota else None
                error.retry_after = renews - arrived
                error.message += (
                    f"; the organisation's quota renews {_renewal(self.budget.quota, renews)}"
                )
                raise
            except (ThrottledError, GatewayThrottledError) as error:
                delay = yield from self._slow_down(error, attempt, arrived, soft, hard)
            except DingwireError as error:
                backoff = self.retry.delay(attempt, error, self._rng)
                if backoff is None:
                    raise
                delay = backoff
                logger.warning(
                    "%s attempt %d failed (%s); retrying in %.1f s", self, attempt, error, delay
                )
            if delay > 0:
                yield delay

    def _slow_down(
        self,
        error: RateLimitedError,
        attempt: int,
        arrived: float,
        soft: float,
        hard: float,
    ) -> Generator[StoreCall, Any, float]:
        """DingTalk said "too fast": lock the robot out for every sender, or wait as asked."""
        named = isinstance(error, GatewayThrottledError) and error.retry_after is not None
        if named:
            # The gateway named its wait: a short pause, like the minute budget's.
            until, deadline = arrived + (error.retry_after or 0.0), soft
        else:
            # 130101 / 410100, or a "slow down" with no wait: DingTalk's lockout, for all.
            until, deadline = arrived + self.lockout, hard
            yield StoreCall(self.budget_store.lock_out, (self._key, until))
            error.retry_after = self.lockout
            error.message += f"; locked out by DingTalk until {_clock_time(until, arrived)}"
        error.until = until
        if self.retry.delay(attempt, error, self._rng) is None or until > deadline:
            raise error
        if named:
            logger.warning("%s: %s; waiting %.1f s", self, error, until - arrived)
            return max(0.0, until - self._clock())
        logger.warning("%s: %s", self, error)
        return 0.0  # the lockout is in the store: the next reservation waits it out
