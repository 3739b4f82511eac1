"""The fake's configuration: which robots exist, how each is secured, how the fake answers.

::

    [fake]                          # optional; these are the defaults
    errmsg_style = "new"            # or "legacy": DingTalk's errmsg wording (API.md §4.1)
    throttle_errcode = 130101       # or 410100: the code of a throttled robot
    accept_image = false            # accept the undocumented {"msgtype": "image"} (API.md §7)
    session_ttl = "90m"             # lifetime of a /robot/sendBySession session
    history = 5000                  # requests kept for /api/messages and the page
    window = "sliding"              # or "fixed": how the rate limit's window is counted

    [orgs.acme]                     # an organisation: its robots share a quota (API.md §3)
    quota = "3000/month"            # or "20/5m"; "none": counted, never refused (90030)
    timezone = "Asia/Shanghai"      # the calendar of "month" periods

    [robots.tok1]                   # the table name is the robot's access_token
    name = "ops group"              # optional: how the page names the conversation
    secret = "SEC..."               # optional: 加签
    keywords = ["告警"]              # optional: keyword mode (at most 10)
    ips = ["127.0.0.1", "10.0.0.0/8"]   # optional: IP allow-list (IPv4 only, like DingTalk)
    rate_limit = "20/60s"           # DingTalk's; "none" turns it off
    lockout = "600s"                # how long a robot stays throttled after going over
    disabled = false                # true: every send gets 400102 机器人已停用
    org = "acme"                    # optional: the [orgs.NAME] it belongs to
    window = "fixed"                # optional: this robot's own window model
    errmsg_style = "legacy"         # optional: this robot's own style (and throttle_errcode,
                                    #   accept_image)
    faults = [{ kind = "http", status = 503, count = 2 }]   # optional: its first requests fail

Rules kept here: unknown keys are errors (a typo must not silently turn a check off);
values that make no sense are errors too (a lockout or a session lifetime that is NaN,
infinite, negative or absurd; text with a lone surrogate, which is not text);
``${VAR}`` is read from the environment as in the library's config; with no robots the
fake accepts every token without security checks, as DESIGN.md says; a robot's ``org``
must name a configured organisation; quotas are :func:`dingwire.core.budget.parse_quota`'s.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from dingwire.config import expand_env, expand_tree, read_toml
from dingwire.core.budget import DEFAULT_TIMEZONE, MONTH, Quota, parse_quota
from dingwire.core.errors import ConfigError
from dingwire.core.limits import MAX_KEYWORDS
from dingwire.core.policy import DEFAULT_LOCKOUT, DEFAULT_RATE, Rate, parse_duration, parse_rate
from dingwire.fake.faults import Fault
from dingwire.fake.jsonio import lone_surrogate
from dingwire.fake.replies import Style
from dingwire.fake.sessions import check_ttl

__all__ = [
    "DEFAULT_SESSION_TTL",
    "WINDOWS",
    "FakeOrg",
    "FakeRobot",
    "FakeSettings",
    "Window",
    "load_fake_config",
    "parse_fake_config",
]

#: A session webhook lives about 90 minutes (API.md §3).
DEFAULT_SESSION_TTL = 5400.0
#: The longest lockout a robot may have, in seconds (DingTalk's is 10 minutes).
MAX_LOCKOUT = 86400.0
THROTTLE_CODES = (130101, 410100)
STYLES: tuple[Style, ...] = ("new", "legacy")

#: How a robot's rate-limit window is counted: ``sliding`` (any ``window`` seconds) or
#: ``fixed`` (calendar windows aligned to the epoch), see :mod:`dingwire.core.budget`.
Window = Literal["sliding", "fixed"]
WINDOWS: tuple[Window, ...] = ("sliding", "fixed")

_ROBOT_KEYS = frozenset(
    {
        "name",
        "secret",
        "keywords",
        "ips",
        "rate_limit",
        "lockout",
        "disabled",
        "org",
        "window",
        "errmsg_style",
        "throttle_errcode",
        "accept_image",
        "faults",
    }
)
_FAKE_KEYS = frozenset(
    {
        "errmsg_style",
        "throttle_errcode",
        "accept_image",
        "session_ttl",
        "history",
        "faults",
        "window",
    }
)
_ORG_KEYS = frozenset({"quota", "timezone"})


def _style(value: object, where: str) -> Style:
    if value not in STYLES:
        raise ConfigError(f"{where}: errmsg_style must be 'new' or 'legacy', got {value!r}")
    return value


def _throttle(value: object, where: str) -> int:
    if value not in THROTTLE_CODES or isinstance(value, bool):
        raise ConfigError(f"{where}: throttle_errcode must be 130101 or 410100, got {value!r}")
    return value


def _window(value: object, where: str) -> Window:
    if value not in WINDOWS:
        raise ConfigError(f"{where}: window must be 'sliding' or 'fixed', got {value!r}")
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    for item in value:
        _text(item, where)
    return tuple(value)


def _text(value: str, where: str) -> None:
    """Refuse a string that cannot be UTF-8 (a lone surrogate): it could be neither signed,
    nor matched, nor shown."""
    bad = lone_surrogate(value)
    if bad is not None:
        raise ConfigError(
            f"{where}: holds a lone surrogate ({bad!r}), which is not text; fix the string"
        )


@dataclass(frozen=True, slots=True)
class FakeRobot:
    """One robot of the fake: its token and security settings. Refuses bad settings.

    ``errmsg_style``, ``throttle_errcode``, ``accept_image`` and ``window`` left at
    ``None`` follow the fake's :class:`FakeSettings`; ``org`` names the :class:`FakeOrg`
    whose quota the robot's calls count against.
    """

    token: str
    secret: str | None = None
    keywords: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    rate_limit: Rate | None = DEFAULT_RATE
    lockout: float = DEFAULT_LOCKOUT
    name: str | None = None
    disabled: bool = False
    errmsg_style: Style | None = None
    throttle_errcode: int | None = None
    accept_image: bool | None = None
    faults: tuple[Fault, ...] = field(default=())
    org: str | None = None
    window: Window | None = None

    def __post_init__(self) -> None:
        if isinstance(self.name, str):
            _text(self.name, "robot: name")
        where = f"robot {self.name or 'with token ' + _short(self.token)}"
        if not isinstance(self.token, str) or not self.token:
            raise ConfigError(f"{where}: the token must be a non-empty string")
        _text(self.token, f"{where}: token")
        if self.secret is not None and not isinstance(self.secret, str):
            raise ConfigError(f"{where}: secret must be a string")
        if self.secret is not None:
            _text(self.secret, f"{where}: secret")
        object.__setattr__(self, "secret", self.secret or None)
        object.__setattr__(self, "keywords", _strings(self.keywords, f"{where}: keywords"))
        if len(self.keywords) > MAX_KEYWORDS or any(not k for k in self.keywords):
            raise ConfigError(f"{where}: DingTalk allows 1 to {MAX_KEYWORDS} non-empty keywords")
        object.__setattr__(self, "ips", _strings(self.ips, f"{where}: ips"))
        for ip in self.ips:
            try:
                network = ipaddress.ip_network(ip, strict=False)
            except ValueError:
                raise ConfigError(f"{where}: ips: {ip!r} is not an IP or a CIDR range") from None
            if network.version != 4:
                raise ConfigError(f"{where}: ips: DingTalk has no IPv6 allow-list ({ip!r})")
        if self.errmsg_style is not None:
            _style(self.errmsg_style, where)
        if self.throttle_errcode is not None:
            _throttle(self.throttle_errcode, where)
        if self.window is not None:
            _window(self.window, where)
        if self.org is not None and (not isinstance(self.org, str) or not self.org.strip()):
            raise ConfigError(f"{where}: org must be the name of an [orgs.NAME] table")
        if self.org is not None:
            _text(self.org, f"{where}: org")
        parse_duration(self.lockout, name=f"{where}: lockout", maximum=MAX_LOCKOUT)
        object.__setattr__(self, "faults", tuple(self.faults))

    @classmethod
    def from_table(cls, token: str, table: object, *, where: str) -> FakeRobot:
        """A robot from its ``[robots.TOKEN]`` table (or the JSON of ``POST /api/robots``)."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: expected a table of settings")
        unknown = set(table) - _ROBOT_KEYS
        if unknown:
            known = ", ".join(sorted(_ROBOT_KEYS))
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {known})")
        kwargs: dict[str, Any] = {}
        for key in ("name", "secret", "org"):
            if table.get(key) is not None:
                if not isinstance(table[key], str):
                    raise ConfigError(f"{where}: {key} must be a string")
                kwargs[key] = table[key]
        for key in ("keywords", "ips"):
            if key in table:
                kwargs[key] = _strings(table[key], f"{where}: {key}")
        if "rate_limit" in table:
            value = table["rate_limit"]
            kwargs["rate_limit"] = None if value in (None, False) else parse_rate(str(value))
        if "lockout" in table:
            kwargs["lockout"] = parse_duration(table["lockout"], name=f"{where}: lockout")
        for key in ("disabled", "accept_image"):
            if key in table:
                if not isinstance(table[key], bool):
                    raise ConfigError(f"{where}: {key} must be true or false")
                kwargs[key] = table[key]
        if "errmsg_style" in table:
            kwargs["errmsg_style"] = _style(table["errmsg_style"], where)
        if "throttle_errcode" in table:
            kwargs["throttle_errcode"] = _throttle(table["throttle_errcode"], where)
        if "window" in table:
            kwargs["window"] = _window(table["window"], where)
        if "faults" in table:
            kwargs["faults"] = _faults(table["faults"], f"{where}: faults")
        try:
            return cls(token, **kwargs)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None

    def to_json(self) -> dict[str, Any]:
        """What the fake may show about this robot: never the token or the secret."""
        return {
            "name": self.name,
            "signed": self.secret is not None,
            "keywords": list(self.keywords),
            "ips": list(self.ips),
            "rate_limit": str(self.rate_limit) if self.rate_limit else None,
            "lockout": self.lockout,
            "disabled": self.disabled,
            "org": self.org,
            "window": self.window,
        }


def _short(token: object) -> str:
    text = str(token)
    # backslashreplace: an error message must be printable, whatever the token holds.
    tail = text[-4:].encode("utf-8", "backslashreplace").decode("utf-8")
    return f"…{tail}" if len(text) > 8 else "(short)"


def _faults(value: object, where: str) -> tuple[Fault, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of fault tables")
    return tuple(Fault.from_json(item, where=f"{where}[{i}]") for i, item in enumerate(value))


@dataclass(frozen=True, slots=True)
class FakeOrg:
    """An organisation: robots whose webhook calls share one quota (API.md §3).

    ``quota`` ``None``: calls are counted (by the calendar month) but never refused. The
    quota's periods are counted in ``timezone``, which replaces the quota's own.

    >>> FakeOrg("acme", parse_quota("20/5m")).to_json()["quota"]
    '20/300s'
    """

    name: str
    quota: Quota | None = None
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("org: the name must be a non-empty string")
        _text(self.name, "org: name")
        where = f"org {self.name!r}"
        if self.quota is not None and not isinstance(self.quota, Quota):
            raise ConfigError(f"{where}: quota must be a Quota (see parse_quota) or None")
        if not isinstance(self.timezone, str):
            raise ConfigError(f"{where}: timezone must be a string such as 'Asia/Shanghai'")
        try:
            Quota(1, MONTH, self.timezone)  # refuses an unknown time zone
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
        if self.quota is not None and self.quota.timezone != self.timezone:
            object.__setattr__(self, "quota", replace(self.quota, timezone=self.timezone))

    @property
    def periods(self) -> Quota:
        """The quota whose periods the calls are counted in (the month, without a quota)."""
        return self.quota if self.quota is not None else Quota(1, MONTH, self.timezone)

    @classmethod
    def from_table(cls, name: str, table: object, *, where: str) -> FakeOrg:
        """An organisation from its ``[orgs.NAME]`` table (or the JSON of ``POST /api/orgs``)."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: expected a table of settings")
        unknown = set(table) - _ORG_KEYS
        if unknown:
            known = ", ".join(sorted(_ORG_KEYS))
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {known})")
        timezone = table.get("timezone", DEFAULT_TIMEZONE)
        if not isinstance(timezone, str):
            raise ConfigError(f"{where}: timezone must be a string such as 'Asia/Shanghai'")
        value = table.get("quota")
        try:
            if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
                quota = None
            else:
                quota = parse_quota(value, timezone=timezone)
            return cls(name, quota, timezone)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None

    def to_json(self) -> dict[str, Any]:
        """The organisation as the org API shows it (its use is the engine's to add)."""
        quota = self.quota
        return {
            "name": self.name,
            "quota": str(quota) if quota is not None else None,
            "limit": quota.limit if quota is not None else None,
            "period": quota.period if quota is not None else MONTH,
            "timezone": self.timezone,
        }


@dataclass(frozen=True, slots=True)
class FakeSettings:
    """Everything the fake is configured with: its robots and how it answers."""

    robots: tuple[FakeRobot, ...] = ()
    errmsg_style: Style = "new"
    throttle_errcode: int = 130101
    accept_image: bool = False
    session_ttl: float = DEFAULT_SESSION_TTL
    history: int = 5000
    faults: tuple[Fault, ...] = ()
    orgs: tuple[FakeOrg, ...] = ()
    window: Window = "sliding"

    def __post_init__(self) -> None:
        object.__setattr__(self, "robots", tuple(self.robots))
        object.__setattr__(self, "faults", tuple(self.faults))
        object.__setattr__(self, "orgs", tuple(self.orgs))
        _style(self.errmsg_style, "fake")
        _throttle(self.throttle_errcode, "fake")
        _window(self.window, "fake")
        if self.history < 1:
            raise ConfigError("fake: history must be at least 1")
        check_ttl(self.session_ttl, name="fake: session_ttl")
        tokens = [r.token for r in self.robots]
        if len(set(tokens)) != len(tokens):
            raise ConfigError("fake: two robots have the same token")
        names = [o.name for o in self.orgs]
        if len(set(names)) != len(names):
            raise ConfigError("fake: two organisations have the same name")
        for robot in self.robots:
            if robot.org is not None and robot.org not in names:
                who = robot.name or f"with token {_short(robot.token)}"
                raise ConfigError(
                    f"fake: robot {who} belongs to org {robot.org!r}, which has no "
                    f"[orgs.{robot.org}] table"
                )


def parse_fake_config(
    data: Mapping[str, Any], *, where: str = "fake config", env: Mapping[str, str] | None = None
) -> FakeSettings:
    """:class:`FakeSettings` from parsed TOML (``${VAR}`` expanded from ``env``)."""
    env = os.environ if env is None else env
    unknown = set(data) - {"fake", "robots", "orgs"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown section [{sorted(unknown)[0]}] (known: fake, orgs, robots)"
        )
    fake = expand_tree(data.get("fake", {}), f"{where}: [fake]", env)
    if not isinstance(fake, Mapping):
        raise ConfigError(f"{where}: [fake] must be a table")
    unknown = set(fake) - _FAKE_KEYS
    if unknown:
        known = ", ".join(sorted(_FAKE_KEYS))
        raise ConfigError(f"{where}: [fake]: unknown key {sorted(unknown)[0]!r} (known: {known})")
    kwargs: dict[str, Any] = {}
    if "errmsg_style" in fake:
        kwargs["errmsg_style"] = _style(fake["errmsg_style"], f"{where}: [fake]")
    if "throttle_errcode" in fake:
        kwargs["throttle_errcode"] = _throttle(fake["throttle_errcode"], f"{where}: [fake]")
    if "accept_image" in fake:
        if not isinstance(fake["accept_image"], bool):
            raise ConfigError(f"{where}: [fake]: accept_image must be true or false")
        kwargs["accept_image"] = fake["accept_image"]
    if "session_ttl" in fake:
        kwargs["session_ttl"] = check_ttl(fake["session_ttl"], name=f"{where}: [fake]: session_ttl")
    if "history" in fake:
        if not isinstance(fake["history"], int) or isinstance(fake["history"], bool):
            raise ConfigError(f"{where}: [fake]: history must be an integer")
        kwargs["history"] = fake["history"]
    if "faults" in fake:
        kwargs["faults"] = _faults(fake["faults"], f"{where}: [fake].faults")
    if "window" in fake:
        kwargs["window"] = _window(fake["window"], f"{where}: [fake]")
    org_tables = data.get("orgs", {})
    if not isinstance(org_tables, Mapping):
        raise ConfigError(f"{where}: [orgs] must be a table of [orgs.NAME] tables")
    orgs = [
        FakeOrg.from_table(
            str(name),
            expand_tree(table, f"{where}: [orgs.{name}]", env),
            where=f"{where}: [orgs.{name}]",
        )
        for name, table in org_tables.items()
    ]
    tables = data.get("robots", {})
    if not isinstance(tables, Mapping):
        raise ConfigError(f"{where}: [robots] must be a table of [robots.TOKEN] tables")
    robots = [
        FakeRobot.from_table(
            expand_env(token, where=f"{where}: [robots]", env=env),
            expand_tree(table, f"{where}: [robots.…]", env),
            where=f"{where}: [robots.{_short(token)}]",
        )
        for token, table in tables.items()
    ]
    try:
        return FakeSettings(robots=tuple(robots), orgs=tuple(orgs), **kwargs)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def load_fake_config(
    path: str | os.PathLike[str] | None, *, env: Mapping[str, str] | None = None
) -> FakeSettings:
    """Read the fake's TOML file; ``None`` is the default: no robots, every token accepted."""
    if path is None:
        return FakeSettings()
    file = Path(path)
    data = read_toml(file, "fake config")
    return parse_fake_config(data, where=str(file), env=env)
