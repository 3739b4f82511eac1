"""Named robots for the library, the CLI and the relay: one TOML file, the environment, URLs.

The file is found at ``$DINGWIRE_CONFIG``, else ``./dingwire.toml``, else
``$XDG_CONFIG_HOME/dingwire/config.toml`` (``~/.config/dingwire/config.toml`` when
``XDG_CONFIG_HOME`` is not set)::

    [robots.ops]
    webhook = "https://oapi.dingtalk.com/robot/send?access_token=${OPS_TOKEN}"
    secret = "${OPS_SECRET}"
    keywords = ["告警"]
    mention = { mobiles = ["13800000000"], user_ids = [], all = false }
    rate_limit = "20/60s"
    lockout = "600s"
    timeout = "5s"
    proxy = "http://proxy.internal:3128"
    org = "acme"                    # robots without one belong to the org "default"

    [orgs.acme]
    quota = "3000/month"            # webhook calls per calendar month, all robots of the org
    timezone = "Asia/Shanghai"      # when the month turns (the default)

    [budget]
    store = "local"                 # or "memory://", "sqlite:///path/budget.sqlite3",
                                    # "redis://host:6379/0" (every host that points at it)
    on_store_error = "local"        # Redis away: count on this machine ("local") or "fail"
                                    # (the default of the relay's robots: they wait)

Rules kept here:

- Every key is checked when the file is read, for its type and then its value, by the same
  parsers the robots use (:func:`~dingwire.core.policy.parse_duration`, ``parse_rate``,
  ``parse_quota``, :class:`~dingwire.core.messages.At`). An error names the file, the table,
  the key, what was given and what is expected: ``dingwire.toml [robots.ops]: secret:
  expected a string (the robot's SEC… secret), got an integer``. Unknown keys are errors,
  so a typo cannot silently turn signing off; so is an empty value, which never means
  "the default" or "no limit" in disguise.
- A problem stays with its table. A robot with a bad key or an unset ``${VAR}`` is kept
  with the reason (:attr:`RobotConfig.problems`): :meth:`Config.robot` raises it for that
  robot, while the others stay usable and ``dingwire robots`` lists it as unusable. A bad
  ``[orgs.NAME]`` stops that org's robots, a bad ``[budget]`` every robot, a bad
  ``[relay]`` only the relay. Only a file that cannot be read as TOML (not UTF-8, nested
  too deeply, malformed) or that has an unknown section fails as a whole.
- ``${VAR}`` is read from the environment, inside strings only (``$$`` is a literal
  ``$``); a variable that is not set is an error that names it.
- Secrets never show: where a secret, a webhook or a proxy has the wrong type, the error
  says only which type it has; a webhook is shown masked.
- Outside the file, ``DINGWIRE_WEBHOOK`` (a URL, a token or a ``dingtalk://SECRET@TOKEN``
  URL) and ``DINGWIRE_SECRET`` make a robot called ``default``; :func:`choose_robots` is
  the one rule for which robots a command sends through.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload
from urllib.parse import parse_qsl, unquote, urlsplit

from dingwire.core.budget import DEFAULT_TIMEZONE, Quota, parse_quota
from dingwire.core.errors import ConfigError, MessageError
from dingwire.core.messages import At
from dingwire.core.policy import parse_duration, parse_lockout, parse_rate, parse_timeout
from dingwire.core.redact import MASK, mask_token, mask_url
from dingwire.core.urls import DEFAULT_BASE_URL, normalise_webhook

if TYPE_CHECKING:
    from dingwire.transport.base import BaseRobot
    from dingwire.transport.robots import Robot

RobotT = TypeVar("RobotT", bound="BaseRobot")

__all__ = [
    "CONFIG_FILES",
    "CONFIG_LOOKUP",
    "Config",
    "OrgConfig",
    "RobotChoice",
    "RobotConfig",
    "choose_robots",
    "config_path",
    "expand_env",
    "expand_tree",
    "load_config",
    "read_toml",
    "settings_from_url",
    "webhook_secrets",
    "webhook_settings",
]

#: Where the config file is looked for, in order (the first that exists is read).
CONFIG_FILES = (
    "$DINGWIRE_CONFIG",
    "./dingwire.toml",
    "$XDG_CONFIG_HOME/dingwire/config.toml",
    "~/.config/dingwire/config.toml",
)
#: The same, for a person: what help texts and errors say.
CONFIG_LOOKUP = (
    "$DINGWIRE_CONFIG, else ./dingwire.toml, else $XDG_CONFIG_HOME/dingwire/config.toml "
    "(~/.config/dingwire/config.toml when XDG_CONFIG_HOME is not set)"
)

SECTIONS = ("budget", "orgs", "relay", "robots")
#: Deeper than this is no config dingwire reads: refused before anything recurses into it.
MAX_DEPTH = 32

_VAR = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\})")

Expand = Callable[[str, str], str]  # (value, key) -> value with ${VAR} replaced


# -- the environment ------------------------------------------------------------------------


def expand_env(value: str, *, where: str, env: Mapping[str, str] | None = None) -> str:
    """``value`` with each ``${VAR}`` replaced from ``env`` (``os.environ`` by default)."""
    env = os.environ if env is None else env

    def _sub(match: re.Match[str]) -> str:
        if match.group(1) == "$":
            return "$"
        name = match.group(2)
        if name not in env:
            raise ConfigError(f"{where}: ${{{name}}} is not set in the environment")
        return env[name]

    return _VAR.sub(_sub, value)


def expand_tree(value: Any, where: str, env: Mapping[str, str], *, depth: int = 0) -> Any:
    """:func:`expand_env` applied to every string in parsed TOML (lists and tables too)."""
    if depth > MAX_DEPTH:
        raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        return expand_env(value, where=where, env=env)
    if isinstance(value, list):
        return [expand_tree(v, f"{where}[{i}]", env, depth=depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: expand_tree(v, f"{where}.{k}", env, depth=depth + 1) for k, v in value.items()}
    return value


def _expander(env: Mapping[str, str] | None) -> Expand:
    """Expansion from ``env``; ``None``: none at all (values that come from the environment)."""
    if env is None:
        return lambda value, _key: value
    return lambda value, key: expand_env(value, where=key, env=env)


# -- describing what was given ---------------------------------------------------------------


def _noun(value: Any) -> str:
    """What a TOML value is, in TOML's words."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "table"
    return "date or time"


def _kind(value: Any) -> str:
    noun = _noun(value)
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _shown(value: Any) -> str:
    """``value`` as it would be written in TOML (near enough), cut short."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = f"({_kind(value)})"
    return text if len(text) <= 60 else text[:59] + "…"


def _given(value: Any, *, secret: bool = False) -> str:
    """``the string "fast"``, ``the integer 5``, ``true``; only the type of a secret."""
    if secret or isinstance(value, Mapping):
        return _kind(value)
    if isinstance(value, bool):
        return _shown(value)
    return f"the {_noun(value)} {_shown(value)}"


def _wrong(key: str, expected: str, value: Any, *, secret: bool = False) -> ConfigError:
    return ConfigError(f"{key}: expected {expected}, got {_given(value, secret=secret)}")


# -- one key at a time -------------------------------------------------------------------------


def _text(value: Any, key: str, expected: str, expand: Expand, *, secret: bool = False) -> str:
    """A non-empty string, ``${VAR}`` expanded and stripped."""
    if not isinstance(value, str):
        raise _wrong(key, expected, value, secret=secret)
    text = expand(value, key).strip()
    if not text:
        empty = "empty" if not value.strip() else f"empty once expanded ({value.strip()})"
        raise ConfigError(f"{key}: {empty}; expected {expected}, or leave the key out")
    return text


def _strings(value: Any, key: str, example: str, expand: Expand) -> tuple[str, ...]:
    """An array of non-empty strings (a lone string is refused: it is not a list of one)."""
    expected = f"an array of strings such as {example}"
    if not isinstance(value, list):
        raise _wrong(key, expected, value)
    items: list[str] = []
    for index, item in enumerate(value):
        items.append(_text(item, f"{key}[{index}]", "a string", expand))
    return tuple(items)


def _duration(
    value: Any, key: str, expand: Expand, parse: Callable[..., float] = parse_duration
) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _wrong(key, 'a duration such as "5s", "10m" or a number of seconds', value)
    if isinstance(value, str):
        value = _text(value, key, 'a duration such as "5s"', expand)
    return parse(value, name=key)


def _webhook(value: Any, expand: Expand) -> dict[str, Any]:
    expected = "a string (the robot's webhook URL, its access token or a dingtalk:// URL)"
    webhook = _text(value, "webhook", expected, expand, secret=True)
    if webhook.startswith("dingtalk://"):
        try:
            return settings_from_url(webhook)
        except ConfigError as error:
            raise ConfigError(f"webhook: {error.message}", advice=error.advice) from None
    normalise_webhook(webhook)  # the robot's own rule (core.urls); its errors say "webhook: ..."
    return {"webhook": webhook}


def _mention(value: Any, expand: Expand) -> At:
    expected = 'a table such as { mobiles = ["13800000000"], user_ids = [], all = false }'
    if not isinstance(value, Mapping):
        raise _wrong("mention", expected, value)
    unknown = sorted(set(value) - {"mobiles", "user_ids", "all"})
    if unknown:
        raise ConfigError(f"mention: unknown key {unknown[0]!r} (known: all, mobiles, user_ids)")
    mobiles = _strings(value.get("mobiles", []), "mention.mobiles", '["13800000000"]', expand)
    user_ids = _strings(value.get("user_ids", []), "mention.user_ids", '["manager01"]', expand)
    everyone = value.get("all", False)
    if not isinstance(everyone, bool):
        # "false" in quotes is a string, and a string is true: it would mention everyone.
        raise _wrong("mention.all", "true or false (without quotes)", everyone)
    try:
        return At(mobiles=mobiles, user_ids=user_ids, all=everyone)
    except MessageError as error:
        raise ConfigError(f"mention: {error.message}") from None


def _robot_key(key: str, value: Any, expand: Expand) -> dict[str, Any]:
    """The ``Robot(...)`` arguments one key of ``[robots.NAME]`` gives."""
    if key == "webhook":
        return _webhook(value, expand)
    if key == "secret":
        expected = "a string (the robot's SEC… secret)"
        return {"secret": _text(value, key, expected, expand, secret=True)}
    if key == "keywords":
        return {"keywords": _strings(value, key, '["告警"]', expand)}
    if key == "mention":
        return {"mention": _mention(value, expand)}
    if key == "rate_limit":
        expected = 'a rate such as "20/60s" (or "off": no minute window)'
        return {"rate_limit": parse_rate(_text(value, key, expected, expand))}
    if key == "timeout":
        return {key: _duration(value, key, expand, parse_timeout)}
    if key == "lockout":
        return {key: _duration(value, key, expand, parse_lockout)}
    if key == "proxy":
        expected = 'a proxy URL such as "http://proxy.internal:3128"'
        return {"proxy": _text(value, key, expected, expand, secret=True)}
    if key == "org":
        return {"org": _text(value, key, "the name of an [orgs.NAME] table", expand)}
    raise AssertionError(key)  # pragma: no cover - ROBOT_KEYS lists the keys above


ROBOT_KEYS = (
    "webhook",
    "secret",
    "keywords",
    "mention",
    "rate_limit",
    "lockout",
    "timeout",
    "proxy",
    "org",
)
ORG_KEYS = ("quota", "timezone")
BUDGET_KEYS = ("store", "on_store_error")
RELAY_KEYS = (
    "listen",
    "queue",
    "auth_token",
    "timezone",
    "dedupe_window",
    "max_age",
    "max_body",
    "lease",
    "keep_sent",
    "burst",
    "priority_label",
    "priority_order",
    "mention_label",
    "oncall",
    "template",
    "templates",
    "log_format",
)


def _unknown(key: str, known: Sequence[str]) -> str:
    return f"unknown key {key!r} (known: {', '.join(sorted(known))})"


def _table(value: Any, what: str, *, secret: bool = False) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        given = _given(value, secret=secret)
        raise ConfigError(f"expected a table of settings ({what}), got {given}")
    return value


# -- robots -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RobotConfig:
    """One named robot, where it was defined, and what is wrong with it, if anything.

    ``settings`` are the ``Robot(...)`` keyword arguments its keys give; ``problems`` what
    keeps it from being used (empty when it can be). ``repr`` masks the token and the secret.
    """

    name: str
    source: str
    settings: Mapping[str, Any] = field(repr=False)
    problems: tuple[str, ...] = ()

    def __repr__(self) -> str:
        state = f", problems={len(self.problems)}" if self.problems else ""
        return f"RobotConfig({self.name!r}, {self.describe()!r}, source={self.source!r}{state})"

    @property
    def error(self) -> ConfigError | None:
        """The error :meth:`Config.robot` raises for this robot: its problems, sourced."""
        if not self.problems:
            return None
        first, *others = self.problems
        error = ConfigError(f"{self.source}: {first}")
        for other in others:
            error.add_note(f"and: {other}")
        return error

    def describe(self) -> str:
        """``webhook`` masked, and whether it signs; for ``dingwire robots``."""
        webhook = self.settings.get("webhook")
        if not isinstance(webhook, str):
            return "(no usable webhook)"
        parts = [mask_url(webhook) if "://" in webhook else mask_token(webhook)]  # a bare token
        if self.settings.get("secret"):
            parts.append(f"secret={MASK}")
        if self.settings.get("keywords"):
            parts.append("keywords=" + ",".join(self.settings["keywords"]))
        return " ".join(parts)


def _robot(
    name: str, table: Any, source: str, expand: Expand, *, extra: Sequence[str] = ()
) -> RobotConfig:
    """Check one ``[robots.NAME]`` table; every problem is kept, none raised."""
    settings: dict[str, Any] = {"name": name}
    problems: list[str] = list(extra)
    try:
        table = _table(table, 'webhook = "…"', secret=True)
    except ConfigError as error:
        return RobotConfig(name, source, settings, (error.message,))
    if "webhook" not in table:
        problems.append(
            "webhook is required: the robot's webhook URL, its access token or a dingtalk:// URL"
        )
    for key, value in table.items():
        if key not in ROBOT_KEYS:
            problems.append(_unknown(key, ROBOT_KEYS))
            continue
        try:
            given = _robot_key(key, value, expand)
        except ConfigError as error:
            problems.append(error.message)
            continue
        for setting in given:
            if setting in settings and setting != "name":
                # Both the key and the webhook's dingtalk:// URL set it: one would be lost.
                problems.append(f"{setting}: set twice, as a key and in the dingtalk:// webhook")
        settings.update(given)
    return RobotConfig(name, source, settings, tuple(problems))


# -- orgs, the budget store, the relay ---------------------------------------------------------


@dataclass(frozen=True)
class OrgConfig:
    """One organisation: its monthly (or shorter) quota of webhook calls, if it has one.

    ``error`` says what is wrong with its table; its robots cannot be used then.
    """

    name: str
    quota: Quota | None = None
    timezone: str = DEFAULT_TIMEZONE
    error: ConfigError | None = field(default=None, compare=False)


def _org(name: str, table: Any, where: str, expand: Expand) -> OrgConfig:
    try:
        table = _table(table, 'quota = "3000/month"')
        unknown = sorted(set(table) - set(ORG_KEYS))
        if unknown:
            raise ConfigError(_unknown(unknown[0], ORG_KEYS))
        timezone = DEFAULT_TIMEZONE
        if "timezone" in table:
            timezone = _text(
                table["timezone"], "timezone", 'a zone such as "Asia/Shanghai"', expand
            )
        quota = None
        if "quota" in table:
            text = _text(table["quota"], "quota", 'a quota such as "3000/month"', expand)
            quota = parse_quota(text, timezone=timezone)
        if quota is None:
            Quota(1, timezone=timezone)  # the zone is checked even without a quota
    except ConfigError as error:
        return OrgConfig(name, error=ConfigError(f"{where}: {error.message}"))
    return OrgConfig(name, quota, timezone)


def _budget(table: Any, where: str, expand: Expand) -> tuple[str | None, str | None]:
    """``[budget]``: the store's URL and ``on_store_error``, each ``None`` when not given."""
    table = _table(table, 'store = "local"')
    unknown = sorted(set(table) - set(BUDGET_KEYS))
    if unknown:
        raise ConfigError(_unknown(unknown[0], BUDGET_KEYS))
    store = on_store_error = None
    if "store" in table:
        expected = (
            'a budget store such as "local", "memory://", "sqlite:///path/budget.sqlite3" '
            'or "redis://host:6379/0"'
        )
        store = _text(table["store"], "store", expected, expand)
    if "on_store_error" in table:
        from dingwire.budget.redis import check_on_store_error

        expected = '"local" (count on this machine while Redis is away) or "fail"'
        value = _text(table["on_store_error"], "on_store_error", expected, expand)
        if value not in ("local", "fail"):
            raise _wrong("on_store_error", expected, value)
        on_store_error = check_on_store_error(value)
    return store, on_store_error


def _size(value: Any, key: str, expand: Expand) -> int:
    """Bytes from an integer or ``"16MiB"``, ``"512KiB"``, ``"2MB"``, ``"1000"``."""
    expected = 'a size such as "16MiB", "512KiB" or a number of bytes'
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _wrong(key, expected, value)
    if isinstance(value, str):
        text = _text(value, key, expected, expand)
        match = re.fullmatch(r"(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?", text)
        if not match:
            raise ConfigError(f'{key}: {text[:40]!r} is not a size; write it like "16MiB"')
        value = int(match.group(1)) * _SIZE_UNITS[match.group(2) or "B"]
    size = int(value)
    if size <= 0:
        raise ConfigError(f"{key}: must be more than 0 bytes, got {size}")
    return size


_SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "KiB": 1024,
    "MB": 10**6,
    "MiB": 2**20,
    "GB": 10**9,
    "GiB": 2**30,
}


def _burst(value: Any, expand: Expand) -> int | float:
    """An integer number of sends, or a share of the quota such as ``"5%"`` (a float 0–1)."""
    expected = 'a number of sends such as 10, or a share of the quota such as "5%"'
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _wrong("burst", expected, value)
    if isinstance(value, str):
        text = _text(value, "burst", expected, expand)
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", text)
        if not match or not 0 < float(match.group(1)) <= 100:
            raise ConfigError(f"burst: {text[:40]!r} is not a share; expected {expected}")
        return float(match.group(1)) / 100
    if value < 1:
        raise ConfigError(f"burst: must be at least 1 send, got {value}")
    return value


def _oncall(value: Any, expand: Expand) -> dict[str, At]:
    """``[relay.oncall]``: a label value (e.g. a team) -> who to mention for its alerts."""
    table = _table(value, '[relay.oncall.dba] with mobiles = ["13800000000"]')
    return {str(name): _mention(group, expand) for name, group in table.items()}


def _templates(value: Any, expand: Expand) -> dict[str, str]:
    """``[relay.templates]``: a robot name -> its template file."""
    table = _table(value, 'ops = "templates/ops.md.j2"')
    return {
        str(name): _text(file, f"templates.{name}", "a template file path", expand)
        for name, file in table.items()
    }


def _relay(table: Any, expand: Expand) -> dict[str, Any]:
    table = _table(table, 'listen = "127.0.0.1:8060"')
    settings: dict[str, Any] = {}
    for key, value in table.items():
        if key not in RELAY_KEYS:
            raise ConfigError(_unknown(key, RELAY_KEYS))
        if key in ("dedupe_window", "max_age", "lease", "keep_sent"):
            settings[key] = _duration(value, key, expand)
        elif key == "timezone":
            settings[key] = _text(value, key, 'a zone such as "Asia/Shanghai"', expand)
            Quota(1, timezone=settings[key])  # a zone that exists
        elif key == "auth_token":
            settings[key] = _text(value, key, "a string (the bearer token)", expand, secret=True)
        elif key == "listen":
            settings[key] = _text(value, key, 'an address such as "127.0.0.1:8060"', expand)
        elif key == "max_body":
            settings[key] = _size(value, key, expand)
        elif key == "burst":
            settings[key] = _burst(value, expand)
        elif key == "priority_order":
            settings[key] = _strings(value, key, '["critical", "warning", "info"]', expand)
        elif key in ("priority_label", "mention_label"):
            settings[key] = _text(value, key, 'a label name such as "severity"', expand)
        elif key == "log_format":
            settings[key] = _text(value, key, '"text" or "json"', expand)
            if settings[key] not in ("text", "json"):
                raise _wrong(key, '"text" or "json"', settings[key])
        elif key == "template":
            settings[key] = _text(value, key, "a template file path", expand)
        elif key == "templates":
            settings[key] = _templates(value, expand)
        elif key == "oncall":
            settings[key] = _oncall(value, expand)
        else:
            expected = 'a queue URL such as "sqlite:///./dingwire-outbox.sqlite3"'
            settings[key] = _text(value, key, expected, expand)
    return settings


# -- the file ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The robots, orgs, budget store and relay section of one config file (+ the env's robot).

    A table that has problems is kept with them: :meth:`robot` raises a broken robot's (or
    its org's, or the budget store's) error, :meth:`relay_settings` the relay's.
    """

    path: Path | None = None
    robots: Mapping[str, RobotConfig] = field(default_factory=dict)
    relay: Mapping[str, Any] = field(default_factory=dict)
    orgs: Mapping[str, OrgConfig] = field(default_factory=dict)
    budget_store: str | None = None
    budget_on_store_error: str | None = None
    budget_error: ConfigError | None = None
    relay_error: ConfigError | None = None

    def org(self, name: str) -> OrgConfig:
        """The organisation called ``name``: its table, or one without a quota."""
        return self.orgs.get(name) or OrgConfig(name)

    def entry(self, name: str) -> RobotConfig:
        """The robot called ``name`` as configured, usable or not; unknown names raise."""
        if name not in self.robots:
            where = str(self.path) if self.path else f"no config file found: {CONFIG_LOOKUP}"
            names = ", ".join(sorted(self.robots)) or "none"
            raise ConfigError(f"no robot named {name!r} ({where}; configured: {names})")
        return self.robots[name]

    def problem(self, name: str) -> ConfigError | None:
        """Why the robot called ``name`` cannot be used, or ``None`` when it can."""
        entry = self.entry(name)
        if entry.error is not None:
            return entry.error
        org = self.org(entry.settings.get("org", "default"))
        if org.error is not None:
            error = ConfigError(org.error.message)
            error.add_note(f"the robot {name!r} belongs to the org {org.name!r}")
            return error
        return self.budget_error

    def robot(self, name: str) -> dict[str, Any]:
        """The keyword arguments of ``Robot(...)`` for the robot called ``name``."""
        problem = self.problem(name)
        if problem is not None:
            raise problem
        settings = dict(self.robots[name].settings)
        org = self.org(settings.get("org", "default"))
        if org.quota is not None:
            settings["quota"] = org.quota
        if self.budget_store is not None:
            settings["budget_store"] = self.budget_store
        if self.budget_on_store_error is not None:
            settings["on_store_error"] = self.budget_on_store_error
        return settings

    def choice(self, name: str) -> RobotChoice:
        """The robot called ``name``, ready to be built, or with the reason it cannot be."""
        try:
            return RobotChoice(name, self.entry(name).source, self.robot(name))
        except ConfigError as error:
            source = self.robots[name].source if name in self.robots else "--robot"
            return RobotChoice(name, source, error=error)

    def relay_settings(self) -> Mapping[str, Any]:
        """The ``[relay]`` table, checked; raises what is wrong with it."""
        if self.relay_error is not None:
            raise self.relay_error
        return self.relay


def config_path(env: Mapping[str, str] | None = None) -> Path | None:
    """The config file in use: the first of :data:`CONFIG_FILES` that exists, or ``None``."""
    env = os.environ if env is None else env
    if env.get("DINGWIRE_CONFIG"):
        path = Path(env["DINGWIRE_CONFIG"]).expanduser()
        if not path.is_file():
            raise ConfigError(f"DINGWIRE_CONFIG names {str(path)!r}, which is not a file")
        return path
    for candidate in _candidates(env):
        if candidate.is_file():
            return candidate
    return None


def _candidates(env: Mapping[str, str]) -> list[Path]:
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    xdg = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec: an unset, empty or relative XDG_CONFIG_HOME means ~/.config.
    base = Path(xdg) if os.path.isabs(xdg) else home / ".config"
    return [Path("dingwire.toml"), base / "dingwire" / "config.toml"]


def read_toml(file: Path, what: str) -> dict[str, Any]:
    """``file`` parsed as TOML; a file that cannot be read as TOML is a :class:`ConfigError`."""
    import tomllib

    try:
        with open(file, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(file)!r} does not exist") from None
    except OSError as error:
        raise ConfigError(f"{file}: cannot be read: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"{file}: not UTF-8 text (byte {error.start}, line {line}); TOML files are UTF-8: "
            "convert it, e.g. iconv -f GBK -t UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{file}: not valid TOML: {error}") from None
    except RecursionError:
        raise ConfigError(
            f"{file}: arrays or tables are nested too deeply for a config file"
        ) from None


def load_config(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> Config:
    """Read the config file (found as :func:`config_path` says when ``path`` is None).

    Raises :class:`ConfigError` only when the file as a whole cannot be read; a table's
    problems are kept with it (see :class:`Config`).
    """
    env = os.environ if env is None else env
    file = Path(path) if path is not None else config_path(env)
    data: dict[str, Any] = {}
    if file is not None:
        data = read_toml(file, "config file")
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ConfigError(
                f"{file}: unknown section [{unknown[0]}] (known: {', '.join(SECTIONS)})"
            )
        for section in SECTIONS:
            if section in data and not isinstance(data[section], Mapping):
                raise ConfigError(
                    f"{file}: {section} must be a section of [{section}…] tables, "
                    f"got {_given(data[section])}"
                )
    expand = _expander(env)

    orgs: dict[str, OrgConfig] = {}
    for name, table in data.get("orgs", {}).items():
        orgs[name] = _org(name, table, f"{file} [orgs.{name}]", expand)

    robots: dict[str, RobotConfig] = {}
    for name, table in data.get("robots", {}).items():
        robots[name] = _robot(name, table, f"{file} [robots.{name}]", expand)
    if env.get("DINGWIRE_WEBHOOK") and "default" not in robots:
        table = {"webhook": env["DINGWIRE_WEBHOOK"]}
        if env.get("DINGWIRE_SECRET"):
            table["secret"] = env["DINGWIRE_SECRET"]
        names = "DINGWIRE_WEBHOOK, DINGWIRE_SECRET" if "secret" in table else "DINGWIRE_WEBHOOK"
        # Values from the environment are taken as they are: no ${VAR} in them.
        robots["default"] = _robot("default", table, f"environment ({names})", _expander(None))
    for name, robot in robots.items():
        org = robot.settings.get("org")
        if org is not None and org not in orgs and org != "default":
            known = ", ".join(sorted(orgs)) or "none"
            problem = f"org: {org!r} has no [orgs.{org}] table (configured: {known})"
            robots[name] = RobotConfig(
                robot.name, robot.source, robot.settings, (*robot.problems, problem)
            )

    store = on_store_error = budget_error = None
    try:
        store, on_store_error = _budget(data.get("budget", {}), f"{file} [budget]", expand)
    except ConfigError as error:
        budget_error = ConfigError(f"{file} [budget]: {error.message}")

    relay: dict[str, Any] = {}
    relay_error = None
    try:
        relay = _relay(data.get("relay", {}), expand)
    except ConfigError as error:
        relay_error = ConfigError(f"{file} [relay]: {error.message}")

    return Config(
        path=file,
        robots=robots,
        relay=relay,
        orgs=orgs,
        budget_store=store,
        budget_on_store_error=on_store_error,
        budget_error=budget_error,
        relay_error=relay_error,
    )


# -- dingtalk:// URLs and webhooks as given --------------------------------------------------

_URL_OPTIONS = ("keywords", "timeout", "rate_limit", "lockout", "proxy", "base_url", "org", "quota")


def _split_dingtalk_url(url: str) -> tuple[str | None, str, list[str], str]:
    """``dingtalk://[SECRET@]TOKEN[/MOBILE...][?query]`` → secret, token, path, query."""
    rest, _, query = url[len("dingtalk://") :].partition("?")
    head, *path = [unquote(p) for p in rest.split("/")]
    secret, at, token = head.rpartition("@")
    return (secret if at else None), token, path, query


def settings_from_url(url: str) -> dict[str, Any]:
    """``Robot(...)`` keyword arguments from ``dingtalk://[SECRET@]TOKEN[/MOBILE...][?opts]``.

    Mobiles in the path become default mentions (apprise's form); ``?keywords=a,b``,
    ``timeout``, ``rate_limit``, ``lockout``, ``proxy``, ``org``, ``quota`` and ``base_url``
    set options, each checked as the config file's keys are (an option given twice, or
    empty, is an error).
    """
    if not url.startswith("dingtalk://"):
        raise ConfigError(f"{mask_url(url)!r} is not a dingtalk:// URL")
    secret, token, path, query = _split_dingtalk_url(url)
    if not token:
        raise ConfigError("dingtalk:// URL has no token; write dingtalk://SECRET@TOKEN")
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _URL_OPTIONS:
            raise ConfigError(
                f"dingtalk:// URL: unknown option {key!r} (known: {', '.join(sorted(_URL_OPTIONS))})"
            )
        if key in options:
            raise ConfigError(f"dingtalk:// URL: option {key!r} is given twice; keep one")
        if not value.strip():
            raise ConfigError(f"dingtalk:// URL: option {key!r} is empty; give it a value")
        options[key] = value.strip()
    base = options.pop("base_url", DEFAULT_BASE_URL).rstrip("/")
    settings: dict[str, Any] = {"webhook": f"{base}/robot/send?access_token={token}"}
    if secret is not None:
        settings["secret"] = secret
    try:
        for key, value in options.items():
            if key == "keywords":
                settings["keywords"] = tuple(k for k in value.split(",") if k.strip())
            elif key == "timeout":
                settings[key] = parse_timeout(value)
            elif key == "lockout":
                settings[key] = parse_lockout(value)
            elif key == "rate_limit":
                settings[key] = parse_rate(value)
            elif key == "quota":
                settings[key] = parse_quota(value)
            else:
                settings[key] = value
        mobiles = tuple(p for p in path if p)
        if mobiles:
            settings["mention"] = At(mobiles=mobiles)
    except (ConfigError, MessageError) as error:
        raise ConfigError(f"dingtalk:// URL: {error.message}") from None
    return settings


def webhook_secrets(webhook: str | None) -> list[str]:
    """The secret parts of a webhook as given, valid or not, to keep out of what is shown.

    A URL's query values but the timestamp (``access_token``, and a misspelt ``acess_token``
    or ``token`` too), its password, a bare token, a ``dingtalk://`` URL's secret and token.
    """
    if not webhook or not webhook.strip():
        return []
    webhook = webhook.strip()
    if webhook.startswith("dingtalk://"):
        secret, token, _, _ = _split_dingtalk_url(webhook)
        return [s for s in (secret, token) if s]
    if "://" not in webhook:
        return [webhook]  # a bare access token
    try:
        parts = urlsplit(webhook)
        password = parts.password
    except ValueError:
        return [webhook]  # not even a URL: all of it is kept out
    found = [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "timestamp"]
    return [s for s in (*found, password) if s]


def webhook_settings(
    webhook: str, secret: str | None = None, *, secret_from: str = "the secret"
) -> dict[str, Any]:
    """``Robot(...)`` arguments for a webhook given directly: a URL, a bare access token or
    a ``dingtalk://`` URL, with ``secret`` (``secret_from`` names it in errors)."""
    webhook = webhook.strip()
    if not webhook.startswith("dingtalk://"):
        return {"webhook": webhook, "secret": secret or None}
    settings = settings_from_url(webhook)
    if secret and settings.get("secret") not in (None, secret):
        raise ConfigError(
            f"the dingtalk:// URL carries a secret and {secret_from} gives another; keep one"
        )
    if secret:
        settings["secret"] = secret
    return settings


@dataclass(frozen=True)
class RobotChoice:
    """A robot a command was told to send through, ready to be built, or why it cannot be.

    ``name`` is its name in the config file (``None`` for a webhook given directly),
    ``source`` where it came from (``dingwire.toml [robots.ops]``, ``--webhook``,
    ``DINGWIRE_WEBHOOK``), ``settings`` its complete ``Robot(...)`` arguments.
    """

    name: str | None
    source: str
    settings: Mapping[str, Any] = field(default_factory=dict, repr=False)
    error: ConfigError | None = None

    @overload
    def make(self, cls: None = None, **overrides: Any) -> Robot: ...

    @overload
    def make(self, cls: type[RobotT], **overrides: Any) -> RobotT: ...

    def make(self, cls: type[BaseRobot] | None = None, **overrides: Any) -> BaseRobot:
        """The robot (a :class:`~dingwire.Robot` unless ``cls``). Its problems, and what the
        robot itself refuses, raise a :class:`ConfigError` that names where it came from."""
        if self.error is not None:
            raise self.error
        if cls is None:
            from dingwire.transport.robots import Robot

            cls = Robot
        try:
            return cls(**{**self.settings, **overrides})
        except ConfigError as error:
            if self.name is None or error.message.startswith(self.source):
                raise  # a webhook given directly: the error already says what was given
            raise ConfigError(f"{self.source}: {error.message}", advice=error.advice) from None


def _direct(webhook: str, secret: str | None, source: str, secret_from: str) -> RobotChoice:
    try:
        return RobotChoice(None, source, webhook_settings(webhook, secret, secret_from=secret_from))
    except ConfigError as error:
        return RobotChoice(None, source, error=error)


def choose_robots(
    names: Sequence[str] = (),
    *,
    webhook: str | None = None,
    secret: str | None = None,
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[RobotChoice]:
    """The robots a command sends through; the first of these that applies wins:

    1. ``names`` (``--robot NAME``, repeatable): those robots of the config file, each once;
    2. ``webhook`` (``--webhook URL``, else ``$DINGWIRE_WEBHOOK``) with ``secret``
       (``--secret S``, else ``$DINGWIRE_SECRET``), as :func:`webhook_settings` reads them;
    3. the config file's robot called ``default``.

    ``webhook`` and ``secret`` are what was given explicitly; the environment's are read
    here. Names together with an explicit webhook or secret are an error, and so is an
    empty one: an explicit choice is never silently overridden. An unknown or broken robot
    is returned with its error (:attr:`RobotChoice.error`), so that every one can be
    reported; an empty list means that nothing names a robot.
    """
    env = os.environ if env is None else env
    for value, flag in ((webhook, "--webhook"), (secret, "--secret")):
        if value is not None and not value.strip():
            kind = "webhook URL" if flag == "--webhook" else "signing secret (SEC…)"
            raise ConfigError(
                f"{flag} is empty: give the robot's {kind}, or leave {flag} out "
                "(an unset variable in a script gives an empty value)"
            )
    if names:
        if webhook is not None or secret is not None:
            raise ConfigError("give either --robot NAME or --webhook URL [--secret S], not both")
        config = load_config(path, env=env)
        return [config.choice(name) for name in dict.fromkeys(names)]
    secret_from = "--secret"
    if secret is None and env.get("DINGWIRE_SECRET"):
        secret, secret_from = env["DINGWIRE_SECRET"], "DINGWIRE_SECRET"
    if webhook is not None:
        return [_direct(webhook, secret, "--webhook", secret_from)]
    if env.get("DINGWIRE_WEBHOOK"):
        return [_direct(env["DINGWIRE_WEBHOOK"], secret, "DINGWIRE_WEBHOOK", secret_from)]
    if secret_from == "--secret" and secret is not None:
        raise ConfigError("--secret needs --webhook (a config robot's secret is in the file)")
    config = load_config(path, env=env)
    return [config.choice("default")] if "default" in config.robots else []
