"""Named robots for the library, the CLI and the relay: one TOML file, the environment, URLs.

The file is found at ``$DINGWIRE_CONFIG``, else ``./dingwire.toml``, else
``~/.config/dingwire/config.toml``::

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
    store = "local"                 # or "memory://", "sqlite:///path/budget.sqlite3"

``${VAR}`` is read from the environment (``$$`` is a literal ``$``); a variable that is not
set is an error that names it. Outside the file, ``DINGWIRE_WEBHOOK`` (a URL, a token or a
``dingtalk://SECRET@TOKEN`` URL) and ``DINGWIRE_SECRET`` make a robot called ``default``.
Unknown keys are errors, so a typo cannot silently turn signing off.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from dingwire.core.budget import DEFAULT_TIMEZONE, Quota, parse_quota
from dingwire.core.errors import ConfigError, MessageError
from dingwire.core.messages import At
from dingwire.core.protocol import DEFAULT_BASE_URL
from dingwire.core.redact import MASK, mask_token, mask_url

__all__ = [
    "Config",
    "OrgConfig",
    "RobotConfig",
    "config_path",
    "expand_env",
    "expand_tree",
    "load_config",
    "read_toml",
    "settings_from_url",
]

ROBOT_KEYS = frozenset(
    {
        "webhook",
        "secret",
        "keywords",
        "mention",
        "rate_limit",
        "lockout",
        "timeout",
        "proxy",
        "org",
    }
)
ORG_KEYS = frozenset({"quota", "timezone"})
BUDGET_KEYS = frozenset({"store"})
SECTIONS = frozenset({"robots", "orgs", "budget", "relay"})
_VAR = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\})")


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


def expand_tree(value: Any, where: str, env: Mapping[str, str]) -> Any:
    """:func:`expand_env` applied to every string in parsed TOML (lists and tables too)."""
    if isinstance(value, str):
        return expand_env(value, where=where, env=env)
    if isinstance(value, list):
        return [expand_tree(v, f"{where}[{i}]", env) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: expand_tree(v, f"{where}.{k}", env) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class RobotConfig:
    """One named robot and where it was defined; ``repr`` masks the token and the secret."""

    name: str
    source: str
    settings: Mapping[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        return f"RobotConfig({self.name!r}, {self.describe()!r}, source={self.source!r})"

    def describe(self) -> str:
        """``webhook`` masked, and whether it signs; for ``dingwire robots``."""
        webhook = str(self.settings["webhook"])
        parts = [mask_url(webhook) if "://" in webhook else mask_token(webhook)]  # a bare token
        if self.settings.get("secret"):
            parts.append(f"secret={MASK}")
        if self.settings.get("keywords"):
            parts.append("keywords=" + ",".join(self.settings["keywords"]))
        return " ".join(parts)


def _mention(value: Any, where: str) -> At:
    if not isinstance(value, Mapping) or set(value) - {"mobiles", "user_ids", "all"}:
        raise ConfigError(f"{where}: expected {{ mobiles = [...], user_ids = [...], all = false }}")
    try:
        return At(
            mobiles=tuple(value.get("mobiles", ())),
            user_ids=tuple(value.get("user_ids", ())),
            all=bool(value.get("all", False)),
        )
    except MessageError as error:
        raise ConfigError(f"{where}: {error}") from None


def _robot_settings(name: str, table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table of settings")
    unknown = set(table) - ROBOT_KEYS
    if unknown:
        known = ", ".join(sorted(ROBOT_KEYS))
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {known})")
    if not table.get("webhook"):
        raise ConfigError(f"{where}: webhook is required")
    webhook = str(table["webhook"])
    settings: dict[str, Any] = {"name": name}
    if webhook.startswith("dingtalk://"):
        settings.update(settings_from_url(webhook))
    else:
        settings["webhook"] = webhook
    for key in ("secret", "proxy", "timeout", "lockout", "rate_limit"):
        if key in table:
            settings[key] = table[key] if table[key] != "" else None
    if "org" in table:
        org = table["org"]
        if not isinstance(org, str) or not org.strip():
            raise ConfigError(
                f"{where}.org: expected the name of an [orgs.NAME] table, got {org!r}"
            )
        settings["org"] = org.strip()
    if "keywords" in table:
        keywords = table["keywords"]
        if isinstance(keywords, str):
            keywords = [keywords]
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise ConfigError(f"{where}.keywords: expected a list of strings")
        settings["keywords"] = tuple(keywords)
    if "mention" in table:
        settings["mention"] = _mention(table["mention"], f"{where}.mention")
    return settings


@dataclass(frozen=True)
class OrgConfig:
    """One organisation: its monthly (or shorter) quota of webhook calls, if it has one."""

    name: str
    quota: Quota | None = None
    timezone: str = DEFAULT_TIMEZONE


def _org(name: str, table: Any, where: str) -> OrgConfig:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table with quota = '3000/month'")
    unknown = set(table) - ORG_KEYS
    if unknown:
        known = ", ".join(sorted(ORG_KEYS))
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {known})")
    timezone = table.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(timezone, str):
        raise ConfigError(f"{where}.timezone: expected a zone name such as 'Asia/Shanghai'")
    try:
        quota = parse_quota(table.get("quota"), timezone=timezone)
        if quota is None:
            Quota(1, timezone=timezone)  # the zone is checked even without a quota
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    return OrgConfig(name, quota, timezone)


@dataclass(frozen=True)
class Config:
    """The robots, orgs, budget store and relay section of one config file (+ the env's robot)."""

    path: Path | None = None
    robots: Mapping[str, RobotConfig] = field(default_factory=dict)
    relay: Mapping[str, Any] = field(default_factory=dict)
    orgs: Mapping[str, OrgConfig] = field(default_factory=dict)
    budget_store: str | None = None

    def org(self, name: str) -> OrgConfig:
        """The organisation called ``name``: its table, or one without a quota."""
        return self.orgs.get(name) or OrgConfig(name)

    def robot(self, name: str) -> dict[str, Any]:
        """The keyword arguments of ``Robot(...)`` for the robot called ``name``."""
        if name not in self.robots:
            where = str(self.path) if self.path else "no config file found"
            names = ", ".join(sorted(self.robots)) or "none"
            raise ConfigError(f"no robot named {name!r} ({where}; configured: {names})")
        settings = dict(self.robots[name].settings)
        org = self.org(settings.get("org", "default"))
        if org.quota is not None:
            settings["quota"] = org.quota
        if self.budget_store is not None:
            settings["budget_store"] = self.budget_store
        return settings


def config_path(env: Mapping[str, str] | None = None) -> Path | None:
    """The config file in use: ``$DINGWIRE_CONFIG``, ``./dingwire.toml``, or the user's."""
    env = os.environ if env is None else env
    if env.get("DINGWIRE_CONFIG"):
        path = Path(env["DINGWIRE_CONFIG"]).expanduser()
        if not path.is_file():
            raise ConfigError(f"DINGWIRE_CONFIG names {str(path)!r}, which is not a file")
        return path
    for candidate in (Path("dingwire.toml"), Path("~/.config/dingwire/config.toml").expanduser()):
        if candidate.is_file():
            return candidate
    return None


def read_toml(file: Path, what: str) -> dict[str, Any]:
    """``file`` parsed as TOML; a missing or malformed file is a :class:`ConfigError`."""
    try:
        with open(file, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(file)!r} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{file}: not valid TOML: {error}") from None


def load_config(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> Config:
    """Read the config file (found as :func:`config_path` says when ``path`` is None)."""
    env = os.environ if env is None else env
    file = Path(path) if path is not None else config_path(env)
    data: dict[str, Any] = {}
    if file is not None:
        data = read_toml(file, "config file")
        unknown = set(data) - SECTIONS
        if unknown:
            raise ConfigError(f"{file}: unknown section [{sorted(unknown)[0]}]")
    robots: dict[str, RobotConfig] = {}
    tables = data.get("robots", {})
    if not isinstance(tables, Mapping):
        raise ConfigError(f"{file}: [robots] must be a table of [robots.NAME] tables")
    for name, table in tables.items():
        where = f"{file}: [robots.{name}]"
        expanded = expand_tree(table, where, env)
        robots[name] = RobotConfig(
            name, f"{file} [robots.{name}]", _robot_settings(name, expanded, where)
        )
    if env.get("DINGWIRE_WEBHOOK") and "default" not in robots:
        table = {"webhook": env["DINGWIRE_WEBHOOK"]}
        if env.get("DINGWIRE_SECRET"):
            table["secret"] = env["DINGWIRE_SECRET"]
        source = "environment (DINGWIRE_WEBHOOK" + (
            ", DINGWIRE_SECRET)" if "secret" in table else ")"
        )
        robots["default"] = RobotConfig(
            "default", source, _robot_settings("default", table, source)
        )
    orgs: dict[str, OrgConfig] = {}
    org_tables = data.get("orgs", {})
    if not isinstance(org_tables, Mapping):
        raise ConfigError(f"{file}: [orgs] must be a table of [orgs.NAME] tables")
    for name, table in org_tables.items():
        where = f"{file}: [orgs.{name}]"
        orgs[name] = _org(name, expand_tree(table, where, env), where)
    for robot in robots.values():
        org_name = robot.settings.get("org")
        if org_name is not None and org_name not in orgs and org_name != "default":
            names = ", ".join(sorted(orgs)) or "none"
            raise ConfigError(
                f"{robot.source}: org {org_name!r} has no [orgs.{org_name}] table "
                f"(configured: {names})"
            )
    budget = expand_tree(data.get("budget", {}), f"{file}: [budget]", env)
    if not isinstance(budget, Mapping) or set(budget) - BUDGET_KEYS:
        raise ConfigError(f"{file}: [budget] takes one key, store = 'local' (or a store URL)")
    store = budget.get("store")
    if store is not None and not isinstance(store, str):
        raise ConfigError(f"{file}: [budget] store: expected a string such as 'local'")
    relay = expand_tree(data.get("relay", {}), f"{file}: [relay]", env)
    return Config(path=file, robots=robots, relay=relay, orgs=orgs, budget_store=store)


_URL_OPTIONS = frozenset(
    {"keywords", "timeout", "rate_limit", "lockout", "proxy", "base_url", "org", "quota"}
)


def settings_from_url(url: str) -> dict[str, Any]:
    """``Robot(...)`` keyword arguments from ``dingtalk://[SECRET@]TOKEN[/MOBILE...][?opts]``.

    Mobiles in the path become default mentions (apprise's form); ``?keywords=a,b``,
    ``timeout``, ``rate_limit``, ``lockout``, ``proxy`` and ``base_url`` set options.
    """
    if not url.startswith("dingtalk://"):
        raise ConfigError(f"{mask_url(url)!r} is not a dingtalk:// URL")
    rest, _, query = url[len("dingtalk://") :].partition("?")
    head, *path = [unquote(p) for p in rest.split("/")]
    secret, at, token = head.rpartition("@")
    if not token:
        raise ConfigError("dingtalk:// URL has no token; write dingtalk://SECRET@TOKEN")
    options = {k: v[-1] for k, v in parse_qs(query).items()}
    unknown = set(options) - _URL_OPTIONS
    if unknown:
        raise ConfigError(
            f"dingtalk:// URL: unknown option {sorted(unknown)[0]!r} "
            f"(known: {', '.join(sorted(_URL_OPTIONS))})"
        )
    base = options.pop("base_url", DEFAULT_BASE_URL).rstrip("/")
    settings: dict[str, Any] = {"webhook": f"{base}/robot/send?access_token={token}"}
    if at:
        settings["secret"] = secret
    if "keywords" in options:
        settings["keywords"] = tuple(k for k in options.pop("keywords").split(",") if k)
    settings.update(options)
    mobiles = tuple(p for p in path if p)
    if mobiles:
        settings["mention"] = At(mobiles=mobiles)
    return settings
