"""What a test holds: a running fake, its robots, what arrived, and clients wired to it.

:class:`FakeControls` is shared by :class:`~dingwire.fake.server.FakeServer` (a real port)
and :class:`~dingwire.fake.inprocess.InProcessFake` (no socket): they differ only in the
base URL of the webhooks and the transport their clients use. :class:`RobotHandle` is one
configured robot, from the test's side; :class:`OrgHandle` one organisation and its quota.

Rules kept here: the easy way is the right way — ``add_robot`` gives DingTalk's defaults
(20 messages a minute, 10-minute lockout) unless told otherwise, ``secret=True`` makes a
real-looking ``SEC…`` secret, and the clients made here sign, keep their own in-memory
rate-limit budget (never the user's on-disk one) and retry quickly; waiting for a message
waits on the log, never on a fixed sleep. No ``repr`` shows a token or a secret.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from dingwire.budget import MemoryBudgetStore
from dingwire.core.budget import DEFAULT_TIMEZONE, Quota, parse_quota
from dingwire.core.policy import (
    DEFAULT_LOCKOUT,
    DEFAULT_RATE,
    Rate,
    RetryPolicy,
    parse_duration,
    parse_rate,
)
from dingwire.core.redact import MASK, mask_token
from dingwire.fake.config import FakeOrg, FakeRobot, Window
from dingwire.fake.engine import SEND_PATH, FakeDingTalk
from dingwire.fake.faults import Fault
from dingwire.fake.log import Record
from dingwire.transport.http import AsyncTransport, SyncTransport
from dingwire.transport.robots import AsyncRobot, Robot

__all__ = ["FakeControls", "OrgHandle", "RobotHandle"]

#: Retries for clients made by the fake's controls: the library's decisions, shorter waits.
QUICK_RETRY = RetryPolicy(attempts=3, base=0.05, cap=0.5)


class RobotHandle:
    """One robot configured in a fake, seen from a test.

    >>> ops = fake.add_robot(secret=True, keywords=["告警"])   # doctest: +SKIP
    >>> ops.client().send(dingwire.Text("告警: disk full"))      # doctest: +SKIP
    >>> ops.messages()[-1].text                                   # doctest: +SKIP
    '告警: disk full'
    """

    def __init__(self, controls: FakeControls, robot: FakeRobot) -> None:
        self._controls = controls
        self.settings = robot

    @property
    def token(self) -> str:
        """The robot's access_token."""
        return self.settings.token

    @property
    def secret(self) -> str | None:
        """The robot's signing secret, if it signs."""
        return self.settings.secret

    @property
    def keywords(self) -> tuple[str, ...]:
        """The robot's keywords, if it is in keyword mode."""
        return self.settings.keywords

    @property
    def webhook(self) -> str:
        """The robot's webhook URL on this fake (unsigned: clients add timestamp and sign)."""
        return self._controls.webhook(self.token)

    def messages(self) -> list[Record]:
        """Every request to this robot, oldest first, refused ones included."""
        return self._controls.messages(self.token)

    def delivered(self) -> list[Record]:
        """The messages DingTalk would have shown (errcode 0), oldest first."""
        return [r for r in self.messages() if r.ok]

    @property
    def last(self) -> Record | None:
        """The latest request to this robot, if any."""
        records = self.messages()
        return records[-1] if records else None

    def wait_for(self, count: int = 1, *, timeout: float = 5.0) -> list[Record]:
        """Wait until this robot has ``count`` delivered messages; return them."""
        return self._controls.wait_for(count, robot=self.token, timeout=timeout)

    def client(self, **options: Any) -> Robot:
        """A :class:`dingwire.Robot` for this robot (its secret, the fake's transport)."""
        return self._controls.client(self.token, self.secret, **options)

    def async_client(self, **options: Any) -> AsyncRobot:
        """A :class:`dingwire.AsyncRobot` for this robot."""
        return self._controls.async_client(self.token, self.secret, **options)

    def inject_fault(self, fault: Fault) -> None:
        """Make this robot's next ``fault.count`` requests fail."""
        self._controls.fake.inject_fault(fault, robot=self.token)

    def reset_limits(self) -> None:
        """Forget this robot's rate-limit window and lockout."""
        self._controls.fake.reset_limits(self.token)

    def __repr__(self) -> str:
        secret = f", secret={MASK!r}" if self.secret else ""
        keywords = f", keywords={list(self.keywords)!r}" if self.keywords else ""
        return f"RobotHandle({mask_token(self.token)!r}{secret}{keywords})"


class OrgHandle:
    """One organisation configured in a fake, seen from a test: its quota and its use.

    >>> acme = fake.add_org("acme", quota="20/5m")               # doctest: +SKIP
    >>> ops = acme.add_robot()                                   # doctest: +SKIP
    >>> acme.used, acme.left                                     # doctest: +SKIP
    (0, 20)
    """

    def __init__(self, controls: FakeControls, org: FakeOrg) -> None:
        self._controls = controls
        self.settings = org

    @property
    def name(self) -> str:
        """The organisation's name (what a robot's ``org`` names)."""
        return self.settings.name

    @property
    def quota(self) -> Quota | None:
        """Its quota, or ``None`` (counted, never refused)."""
        return self.settings.quota

    @property
    def used(self) -> int:
        """Calls counted in the current period."""
        return self._controls.fake.org_usage(self.name, self._controls._now())[0]

    @property
    def left(self) -> int | None:
        """Calls left in the current period (``None`` without a quota)."""
        quota = self.quota
        return None if quota is None else max(0, quota.limit - self.used)

    @property
    def renews(self) -> float:
        """When the current period ends (epoch seconds): the count starts again then."""
        return self._controls.fake.org_usage(self.name, self._controls._now())[1]

    def add_robot(self, token: str | None = None, **options: Any) -> RobotHandle:
        """A robot of this organisation (``add_robot``'s options)."""
        return self._controls.add_robot(token, org=self.name, **options)

    def reset(self) -> None:
        """Forget the count of calls: the quota is whole again."""
        self._controls.fake.reset_org(self.name)

    def __repr__(self) -> str:
        quota = str(self.quota) if self.quota is not None else "no quota"
        return f"OrgHandle({self.name!r}, {quota})"


class FakeControls:
    """Robots, messages, faults and clients of one fake. Subclasses give the base URL and
    the transports."""

    fake: FakeDingTalk

    @property
    def base_url(self) -> str:
        """Where the fake answers, e.g. ``http://127.0.0.1:8765``."""
        raise NotImplementedError

    def _now(self) -> float:
        return time.time()

    def _sync_transport(self) -> SyncTransport | None:
        return None

    def _async_transport(self) -> AsyncTransport | None:
        return None

    # -- robots -------------------------------------------------------------------------

    def webhook(self, token: str) -> str:
        """The webhook URL of the robot with ``token`` on this fake."""
        return f"{self.base_url}{SEND_PATH}?access_token={quote(token, safe='')}"

    def add_robot(
        self,
        token: str | None = None,
        *,
        secret: str | bool | None = None,
        keywords: Sequence[str] = (),
        ips: Sequence[str] = (),
        rate_limit: str | Rate | None = DEFAULT_RATE,
        lockout: float | str = DEFAULT_LOCKOUT,
        name: str | None = None,
        org: str | None = None,
        window: Window | None = None,
        **more: Any,
    ) -> RobotHandle:
        """Configure a robot and return its handle.

        ``token`` defaults to a fresh 64-hex token; ``secret=True`` makes a fresh ``SEC…``
        secret. ``rate_limit`` takes ``"20/60s"``, a :class:`Rate` or ``None`` (no limit);
        ``window`` is ``"sliding"`` or ``"fixed"`` (the fake's own by default); ``org``
        names an organisation added with :meth:`add_org`, whose quota the robot's calls
        count against. Further keywords (``disabled``, ``errmsg_style``,
        ``throttle_errcode``, ``accept_image``, ``faults``) are
        :class:`~dingwire.fake.config.FakeRobot`'s.
        Adding a robot turns on token checking: unknown tokens get 300005.
        """
        if token is None:
            token = secrets.token_hex(32)
        if secret is True:
            secret = "SEC" + secrets.token_hex(32)
        elif secret is False:
            secret = None
        robot = FakeRobot(
            token,
            secret=secret,
            keywords=tuple(keywords),
            ips=tuple(ips),
            rate_limit=parse_rate(rate_limit),
            lockout=parse_duration(lockout, name="lockout"),
            name=name,
            org=org,
            window=window,
            **more,
        )
        self.fake.add_robot(robot)
        return RobotHandle(self, robot)

    def robot(self, token: str) -> RobotHandle:
        """The handle of the configured robot with ``token``."""
        for robot in self.fake.robots():
            if robot.token == token:
                return RobotHandle(self, robot)
        raise KeyError(f"no robot with token {mask_token(token)!r}")

    def remove_robot(self, token: str) -> None:
        """Forget the robot with ``token``."""
        self.fake.remove_robot(token)

    # -- organisations ------------------------------------------------------------------

    def add_org(
        self,
        name: str,
        quota: str | Quota | None = None,
        *,
        timezone: str | None = None,
    ) -> OrgHandle:
        """Configure an organisation and return its handle.

        ``quota`` takes ``"3000/month"`` (calendar months in ``timezone``: a quota's own,
        else Asia/Shanghai), ``"20/5m"``
        (periods aligned to the epoch), a :class:`~dingwire.core.budget.Quota`, or ``None``
        (counted, never refused). Once a period's calls reach it, the org's robots get
        errcode 90030 until the period renews. Replacing an org starts its count again.
        """
        if timezone is None:
            timezone = quota.timezone if isinstance(quota, Quota) else DEFAULT_TIMEZONE
        org = FakeOrg(name, parse_quota(quota, timezone=timezone), timezone)
        self.fake.add_org(org)
        return OrgHandle(self, org)

    def org(self, name: str) -> OrgHandle:
        """The handle of the configured organisation ``name``."""
        for org in self.fake.orgs():
            if org.name == name:
                return OrgHandle(self, org)
        raise KeyError(f"no organisation {name!r}")

    def remove_org(self, name: str) -> None:
        """Forget the organisation ``name`` (its robots are no longer counted)."""
        self.fake.remove_org(name)

    def reset_limits(self) -> None:
        """Forget every robot's rate-limit window and lockout, and every org's count."""
        self.fake.reset_limits()

    # -- what arrived -------------------------------------------------------------------

    def messages(self, robot: str | None = None) -> list[Record]:
        """Every request the fake answered, oldest first; ``robot`` filters (token or name)."""
        return self.fake.messages(robot)

    def delivered(self, robot: str | None = None) -> list[Record]:
        """The requests answered with errcode 0, oldest first."""
        return [r for r in self.fake.messages(robot) if r.ok]

    def wait_for(
        self, count: int = 1, *, robot: str | None = None, timeout: float = 5.0, ok: bool = True
    ) -> list[Record]:
        """Wait until ``count`` messages (delivered ones, unless ``ok=False``) have arrived,
        for ``robot`` or any; return them all. Raises :class:`TimeoutError`."""
        changed = threading.Condition()

        def wake(_record: Record | None) -> None:
            with changed:
                changed.notify_all()

        unsubscribe = self.fake.log.subscribe(wake)
        try:
            deadline = time.monotonic() + timeout
            with changed:
                while True:
                    records = self.delivered(robot) if ok else self.messages(robot)
                    if len(records) >= count:
                        return records
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(
                            f"{len(records)} of {count} messages arrived within {timeout:g} s"
                        )
                    changed.wait(remaining)
        finally:
            unsubscribe()

    def clear(self, robot: str | None = None) -> None:
        """Forget the logged messages (all, or ``robot``'s)."""
        self.fake.clear(robot)

    def reset(self) -> None:
        """Back to the fake's configuration: its robots and orgs only, no messages, faults,
        limits or org counts."""
        self.fake.reset()

    # -- faults and sessions ------------------------------------------------------------

    def inject_fault(self, fault: Fault, robot: str | None = None) -> None:
        """Make the next ``fault.count`` requests (to ``robot``, or any) fail."""
        self.fake.inject_fault(fault, robot=robot)

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self.fake.clear_faults()

    def open_session(self, robot: str | None = None, *, ttl: float | None = None) -> str:
        """A ``sessionWebhook`` URL (for ``robot``'s conversation) that expires after ``ttl``."""
        session = self.fake.open_session(robot, now=self._now(), ttl=ttl)
        return f"{self.base_url}{session.path}"

    # -- clients ------------------------------------------------------------------------

    def _client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        options.setdefault("budget_store", MemoryBudgetStore())
        options.setdefault("retry", QUICK_RETRY)
        return options

    def client(self, token: str, secret: str | None = None, **options: Any) -> Robot:
        """A :class:`dingwire.Robot` that sends to ``token`` on this fake."""
        transport = self._sync_transport()
        if transport is not None:
            options.setdefault("transport", transport)
        return Robot(self.webhook(token), secret, **self._client_options(options))

    def async_client(self, token: str, secret: str | None = None, **options: Any) -> AsyncRobot:
        """A :class:`dingwire.AsyncRobot` that sends to ``token`` on this fake."""
        transport = self._async_transport()
        if transport is not None:
            options.setdefault("transport", transport)
        return AsyncRobot(self.webhook(token), secret, **self._client_options(options))
