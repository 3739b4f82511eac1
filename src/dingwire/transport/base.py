"""What ``Robot`` and ``AsyncRobot`` share: everything but the loop that sends and sleeps.

A send is a generator, :meth:`BaseRobot._send_flow`, that yields what it needs done — a
``Request`` to send or a ``float`` of seconds to sleep — and receives the reply (or the
transport's error). The sync robot drives it with ``time.sleep`` and a blocking pool, the
async robot with ``asyncio.sleep`` and aiohttp. Rate limiting, signing with a fresh
timestamp for every attempt, classifying the reply and deciding on retries happen once,
here, so the two robots cannot drift apart.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dingwire.core.errors import (
    ConfigError,
    DingwireError,
    RateLimitedError,
    ThrottledError,
    TooLargeError,
)
from dingwire.core.messages import At, MessageLike, to_payload
from dingwire.core.policy import (
    DEFAULT_LOCKOUT,
    DEFAULT_RATE,
    Rate,
    RetryPolicy,
    parse_duration,
    parse_rate,
)
from dingwire.core.protocol import (
    DEFAULT_BASE_URL,
    MAX_BODY_BYTES,
    Request,
    SendResult,
    encode_body,
    parse_reply,
    prepare_payload,
)
from dingwire.core.redact import MASK, mask_url
from dingwire.core.signing import sign_query, signing_template, unsigned_url
from dingwire.transport.ratelimit import RateStore, default_store

__all__ = ["BaseRobot", "Reply", "normalise_webhook", "robot_key"]

logger = logging.getLogger("dingwire")

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Reply:
    """What came back over HTTP: status, body, and the ``Date`` header in epoch seconds."""

    status: int
    body: bytes
    server_time: float | None = None


def robot_key(webhook: str) -> str:
    """The name of a robot's shared budget: a hash of its URL without timestamp and sign."""
    parts = urlsplit(unsigned_url(webhook))
    base = f"{parts.netloc}{parts.path}?{parts.query}"
    return hashlib.sha256(base.encode()).hexdigest()[:24]


def normalise_webhook(webhook: str) -> str:
    """A full webhook URL from a URL or a bare access token; refuse anything else."""
    webhook = webhook.strip()
    if not webhook:
        raise ConfigError("webhook: empty; give the robot's webhook URL or its access token")
    if "://" not in webhook:
        if any(c in webhook for c in "/?&= "):
            raise ConfigError(f"webhook: {mask_url(webhook)!r} is neither a URL nor a token")
        return f"{DEFAULT_BASE_URL}/robot/send?access_token={webhook}"
    parts = urlsplit(webhook)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"webhook: {mask_url(webhook)!r} is not an http(s) URL "
            "(for dingtalk://SECRET@TOKEN use Robot.from_url)"
        )
    if "access_token" not in parse_qs(parts.query) and "session" not in parse_qs(parts.query):
        raise ConfigError(
            f"webhook: {mask_url(webhook)!r} has no access_token; copy the whole URL "
            "from the robot's settings"
        )
    return webhook


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
        rate_limit: str | Rate | None = _UNSET,
        lockout: float | str = DEFAULT_LOCKOUT,
        retry: RetryPolicy | None = None,
        rate_store: RateStore | None = None,
        name: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.webhook = normalise_webhook(webhook)
        if secret is not None and not isinstance(secret, str):
            raise ConfigError("secret: must be a string (the robot's SEC… secret)")
        self._secret = secret.strip() if secret else None
        if isinstance(keywords, str):
            keywords = [keywords]
        self.keywords = tuple(k for k in keywords if k)
        if len(self.keywords) > 10:
            raise ConfigError("keywords: DingTalk allows at most 10 keywords per robot")
        self.mention = mention
        self.timeout = parse_duration(timeout, name="timeout")
        if self.timeout <= 0:
            raise ConfigError("timeout: must be positive; dingwire never waits forever")
        self.proxy = proxy or None
        self.rate = DEFAULT_RATE if rate_limit is _UNSET else parse_rate(rate_limit)
        self.lockout = parse_duration(lockout, name="lockout")
        self.retry = retry if retry is not None else RetryPolicy()
        self.rate_store: RateStore = rate_store if rate_store is not None else default_store()
        self.name = name
        self._clock = clock
        self._rng = random.Random()
        self._key = robot_key(self.webhook)
        self._template = signing_template(self.webhook)

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

    def bodies(self, message: MessageLike, *, split: bool = False) -> list[bytes]:
        """The bodies that send ``message``: one, or with ``split=True`` as many as it takes.

        Parts come from :func:`dingwire.split`; the robot's default mention goes with the last
        part only, and room is left in every part for the keyword the robot may add.
        """
        if not split:
            return [self.body(message)]
        whole = self.payload(message)
        body = encode_body(whole)
        if len(body) <= MAX_BODY_BYTES:
            return [body]
        from dingwire.content import split as split_message

        room = max((len(f"【{k}】 ".encode()) for k in self.keywords), default=0)
        parts = split_message(self._with_default_mention(message), limit=MAX_BODY_BYTES - room)
        return [self._body(prepare_payload(to_payload(part), self.keywords)) for part in parts]

    def _body(self, payload: dict[str, Any]) -> bytes:
        body = encode_body(payload)
        if len(body) > MAX_BODY_BYTES:
            raise TooLargeError(
                f"the message is {len(body):,} bytes of JSON; "
                f"DingTalk accepts at most {MAX_BODY_BYTES:,}",
                size=len(body),
                limit=MAX_BODY_BYTES,
            )
        return body

    def request(self, message: MessageLike, timestamp_ms: int | None = None) -> Request:
        """The signed request for ``message`` at ``timestamp_ms`` (now, by default)."""
        return self._request(self.body(message), timestamp_ms)

    def _request(self, body: bytes, timestamp_ms: int | None = None) -> Request:
        url = self.webhook
        if self._secret:
            ts = timestamp_ms if timestamp_ms is not None else round(self._clock() * 1000)
            # signed_url(), with the webhook parsed once per robot rather than per send.
            prefix, suffix = self._template
            url = f"{prefix}{sign_query(self._secret, ts)}{suffix}"
        return Request(url=url, body=body)

    # -- sending ----------------------------------------------------------------------

    def _send_flow(
        self,
        message: MessageLike,
        *,
        block: bool,
        split: bool = False,
        max_wait: float | None = None,
    ) -> Generator[Request | float, Reply | DingwireError, SendResult]:
        bodies = self.bodies(message, split=split)
        if max_wait is not None and max_wait < 0:
            raise ValueError("max_wait must not be negative")
        # The latest moment a wait (budget, lockout) may end; past it, raise instead.
        now = self._clock()
        deadline = now if not block else now + max_wait if max_wait is not None else math.inf
        attempts = 0
        for index, body in enumerate(bodies):
            try:
                result = yield from self._send_body_flow(body, deadline)
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
        self, body: bytes, deadline: float
    ) -> Generator[Request | float, Reply | DingwireError, SendResult]:
        attempt = 0
        while True:
            attempt += 1
            while True:
                now = self._clock()
                wait = self.rate_store.acquire(self._key, self.rate, now)
                if wait <= 0:
                    break
                if now + wait > deadline:
                    why = (
                        "the robot is locked out"
                        if self.rate is None
                        else (f"the robot's budget ({self.rate}) is spent")
                    )
                    raise RateLimitedError(f"{why}; next send in {wait:.1f} s", retry_after=wait)
                logger.info("dingwire: %s waits %.1f s for its rate limit", self, wait)
                yield wait
            timestamp_ms = round(self._clock() * 1000)
            request = self._request(body, timestamp_ms)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("dingwire: POST %s (%d bytes)", mask_url(request.url), len(body))
            outcome = yield request
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
            except ThrottledError as error:
                # DingTalk blocked the robot anyway (another sender, another host):
                # every sender that shares the store stays quiet for the lockout.
                self.rate_store.lock_out(self._key, self._clock() + self.lockout)
                error.retry_after = self.lockout
                delay = self._retry_delay(attempt, error, deadline)
            except DingwireError as error:
                delay = self._retry_delay(attempt, error, deadline)
            yield delay

    def _retry_delay(self, attempt: int, error: DingwireError, deadline: float) -> float:
        delay = self.retry.delay(attempt, error, self._rng)
        if delay is None:
            raise error
        if isinstance(error, ThrottledError) and self._clock() + self.lockout > deadline:
            raise error  # waiting out the lockout is more than the caller allows
        # A throttled robot's wait is in the store: the next acquire() sleeps it out.
        logger.warning(
            "dingwire: %s attempt %d failed (%s); retrying in %.1f s", self, attempt, error, delay
        )
        return delay
