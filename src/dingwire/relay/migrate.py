"""From prometheus-webhook-dingtalk to the relay: its ``config.yml`` as a ``dingwire.toml``.

What maps (its config format, v2: ``targets`` with ``url``, ``secret``, ``mention``,
``message``; top-level ``timeout``, ``templates`` / ``template``, ``default_message``,
``no_builtin_template``):

- each ``targets.NAME`` becomes ``[robots.NAME]``: ``url`` → ``webhook``, ``secret`` →
  ``secret``, ``mention.mobiles`` / ``mention.all`` → ``mention``, the top-level
  ``timeout`` (a Go duration) → each robot's ``timeout``. Alertmanager keeps its URLs:
  the relay serves the same ``/dingtalk/NAME/send``.
- Go templates cannot be run: ``templates:`` files, ``default_message`` and each target's
  ``message`` are listed in TOML comments (their text commented out) as needing a port to
  Jinja2; until then the relay's default template, at least as informative, is used.
- Anything else is warned about (key names only, never values), in the output and in
  :attr:`Migration.warnings`.

A file that is not YAML, or not a prometheus-webhook-dingtalk config, is a
:class:`~dingwire.core.errors.ConfigError` naming the line or the key. ``$`` in values is
written ``$$``, since dingwire reads ``${VAR}`` from the environment. The output is checked
to be TOML that ``dingwire`` loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dingwire.core.errors import ConfigError, DingwireError

__all__ = ["Migration", "migrate_pwd", "migrate_pwd_file"]

_TOP_KEYS = (
    "no_builtin_template",
    "template",
    "templates",
    "default_message",
    "timeout",
    "targets",
)
_TARGET_KEYS = ("url", "secret", "mention", "message")
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Migration:
    """The converted config: ``toml`` (a whole ``dingwire.toml``), what needs a person
    (``warnings``), and the Go templates to port (``templates``: where each is used)."""

    toml: str
    warnings: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()


# -- TOML writing ----------------------------------------------------------------------------


def _string(value: str) -> str:
    """A TOML basic string holding ``value`` literally for dingwire (``$`` doubled)."""
    return json.dumps(value.replace("$", "$$"), ensure_ascii=False)


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _comment(text: str, indent: str = "#   ") -> list[str]:
    return [f"{indent}{line}".rstrip() for line in text.splitlines() or [""]]


def _env_name(robot: str, what: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", f"{robot}_{what}".upper()).strip("_")


# -- reading ---------------------------------------------------------------------------------


def _load_yaml(text: str, source: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # a safe loader: no Python objects
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = error.problem or error.context or "malformed"
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from None


def _go_seconds(value: object) -> float | None:
    """A Go duration (``5s``, ``1m30s``, ``500ms``) in seconds; ``None`` if it is none."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1e9  # a bare number is nanoseconds to Go's time.Duration
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if not re.fullmatch(f"(?:{_GO_DURATION.pattern})+", text):
        return None
    return sum(float(n) * _GO_UNITS[unit] for n, unit in _GO_DURATION.findall(text))


def _seconds_text(seconds: float) -> str:
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def _strings(value: object, where: str) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise ConfigError(f"{where}[{i}]: expected a string, got {type(item).__name__}")
        out.append(str(item))
    return out


def _message_template(value: object, where: str) -> str | None:
    """A ``message`` / ``default_message`` table ({title, text}) as commented text."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a table with title and text")
    parts = []
    for key in ("title", "text"):
        if key in value and value[key] not in (None, ""):
            parts.append(f"{key}: {value[key]}")
    return "\n".join(parts) or None


@dataclass
class _Robot:
    name: str
    lines: list[str]


def _robot(
    name: str,
    table: object,
    *,
    timeout: str | None,
    env_secrets: bool,
    warnings: list[str],
    templates: list[str],
    variables: list[str],
) -> _Robot:
    where = f"targets.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table with url (and secret, mention, message)")
    unknown = sorted(str(k) for k in table if k not in _TARGET_KEYS)
    for key in unknown:
        warnings.append(f"{where}.{key}: not a prometheus-webhook-dingtalk key; left out")
    url = table.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{where}.url: is required (the robot's webhook URL)")
    url = url.strip()
    lines = [f"[robots.{_key(name)}]"]
    try:
        from dingwire.core.urls import normalise_webhook

        normalise_webhook(url, name=f"{where}.url")
    except DingwireError as error:
        warnings.append(f"{error.message} (kept as it is: check it)")
    if env_secrets:
        query = urlsplit(url).query
        if any(k == "access_token" for k, _ in parse_qsl(query)):
            token_var = _env_name(name, "token")
            variables.append(token_var)
            base = url.partition("?")[0]
            others = "".join(f"&{k}={v}" for k, v in parse_qsl(query) if k != "access_token")
            inner = _string(f"{base}?access_token=")[1:-1] + f"${{{token_var}}}"
            webhook = f'"{inner}{_string(others)[1:-1]}"'
        else:
            url_var = _env_name(name, "webhook")
            variables.append(url_var)
            webhook = f'"${{{url_var}}}"'
        lines.append(f"webhook = {webhook}")
    else:
        lines.append(f"webhook = {_string(url)}")
    secret = table.get("secret")
    if secret not in (None, ""):
        if not isinstance(secret, str):
            raise ConfigError(f"{where}.secret: expected a string (the SEC… secret)")
        if env_secrets:
            secret_var = _env_name(name, "secret")
            variables.append(secret_var)
            lines.append(f'secret = "${{{secret_var}}}"')
        else:
            lines.append(f"secret = {_string(secret)}")
    mention = table.get("mention")
    if mention is not None:
        if not isinstance(mention, Mapping):
            raise ConfigError(f"{where}.mention: expected a table with mobiles and/or all")
        for key in sorted(str(k) for k in mention if k not in ("mobiles", "all")):
            warnings.append(
                f"{where}.mention.{key}: not a prometheus-webhook-dingtalk key; left out"
            )
        mobiles = _strings(mention.get("mobiles"), f"{where}.mention.mobiles")
        everyone = mention.get("all", False)
        if not isinstance(everyone, bool):
            raise ConfigError(f"{where}.mention.all: expected true or false")
        parts = []
        if mobiles:
            parts.append("mobiles = [" + ", ".join(_string(m) for m in mobiles) + "]")
            from dingwire.core.messages import At

            try:
                At(mobiles=mobiles)
            except DingwireError as error:
                warnings.append(f"{where}.mention.mobiles: {error.message}")
        if everyone:
            parts.append("all = true")
        if parts:
            lines.append("mention = { " + ", ".join(parts) + " }")
    if timeout is not None:
        lines.append(f'timeout = "{timeout}"')
    message = _message_template(table.get("message"), f"{where}.message")
    if message is not None:
        templates.append(f"{where}.message (the robot {name!r})")
        lines.append(
            f"# Its own message template (Go): port it to Jinja2 and set [relay] templates.{_key(name)}"
        )
        lines.extend(_comment(message))
    return _Robot(name, lines)


def migrate_pwd(text: str, *, source: str = "config.yml", env_secrets: bool = False) -> Migration:
    """Convert the text of a prometheus-webhook-dingtalk ``config.yml``.

    With ``env_secrets``, tokens and secrets are written as ``${NAME_TOKEN}`` /
    ``${NAME_SECRET}`` (the variables listed in a comment) instead of their values.
    """
    data = _load_yaml(text, source)
    if data is None:
        raise ConfigError(f"{source}: is empty; a prometheus-webhook-dingtalk config has targets")
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a YAML mapping with targets, got {type(data).__name__}"
        )
    warnings: list[str] = []
    templates: list[str] = []
    variables: list[str] = []
    for key in sorted(str(k) for k in data if k not in _TOP_KEYS):
        hint = (
            " (the v1 --ding.profile flags are not read from the file)" if key == "profiles" else ""
        )
        warnings.append(f"{key}: not a prometheus-webhook-dingtalk key; left out{hint}")
    targets = data.get("targets")
    if not isinstance(targets, Mapping) or not targets:
        raise ConfigError(f"{source}: targets: expected a table of targets (name: {{url: …}})")

    timeout = None
    if data.get("timeout") is not None:
        seconds = _go_seconds(data["timeout"])
        from dingwire.core.policy import parse_timeout

        try:
            if seconds is None:
                raise ConfigError("not a Go duration")
            parse_timeout(seconds)
            timeout = _seconds_text(seconds)
        except ConfigError:
            warnings.append(
                "timeout: not a duration dingwire takes (more than 0, at most 10m); "
                "the robots keep dingwire's default (5s)"
            )

    files = _strings(data.get("templates"), "templates") + _strings(
        data.get("template"), "template"
    )
    for file in files:
        templates.append(f"templates: {file}")
    default_message = _message_template(data.get("default_message"), "default_message")
    if default_message is not None:
        templates.append("default_message (every robot without its own message)")
    if data.get("no_builtin_template"):
        warnings.append(
            "no_builtin_template: dingwire's default template is Jinja2 and always there; "
            "a template of yours replaces it through [relay] template"
        )

    robots = [
        _robot(
            str(name),
            table,
            timeout=timeout,
            env_secrets=env_secrets,
            warnings=warnings,
            templates=templates,
            variables=variables,
        )
        for name, table in targets.items()
    ]

    out = [
        f"# dingwire.toml converted from the prometheus-webhook-dingtalk config {source}",
        "# by `dingwire config from-pwd`. Check it with `dingwire robots`, then run",
        "# `dingwire serve --config dingwire.toml`. Alertmanager keeps its webhook URLs:",
        "# http://HOST:8060/dingtalk/NAME/send is served by the relay too.",
    ]
    if variables:
        out += [
            "#",
            "# Set these environment variables (the tokens and secrets of the old config):",
        ]
        out += [f"#   {name}" for name in variables]
    if templates:
        out += [
            "#",
            "# Go templates cannot be used as they are. Port these to Jinja2 (docs/relay.md,",
            '# "Templates"); until then the relay\'s default template is used:',
        ]
        out += [f"#   - {item}" for item in templates]
    if warnings:
        out += ["#", "# Warnings:"]
        out += [f"#   - {warning}" for warning in warnings]
    for robot in robots:
        out += ["", *robot.lines]
    out += [
        "",
        "[relay]",
        "# prometheus-webhook-dingtalk listened on :8060, every interface; the relay listens on",
        '# this machine only unless told otherwise (listen = "0.0.0.0:8060").',
        'listen = "127.0.0.1:8060"',
        'queue = "sqlite:///./dingwire-outbox.sqlite3"',
        'timezone = "Asia/Shanghai"',
    ]
    if default_message is not None or files:
        out.append('# template = "templates/default.md.j2"   # your port of the templates above')
    if default_message is not None:
        out.append("# default_message (Go):")
        out.extend(_comment(default_message))
    if any(".message" in item for item in templates):
        out += ["", "# [relay.templates]   # per robot, once ported:"]
        for robot in robots:
            if any(item.startswith(f"targets.{robot.name}.message") for item in templates):
                out.append(f'# {_key(robot.name)} = "templates/{robot.name}.md.j2"')
    toml_text = "\n".join(out) + "\n"
    _check(toml_text, source)
    return Migration(toml_text, tuple(warnings), tuple(templates))


def _check(text: str, source: str) -> None:
    """The output is TOML dingwire reads (a slip here would be a broken config there)."""
    import tomllib

    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:  # pragma: no cover - a bug in this module
        raise ConfigError(f"{source}: the converted config is not valid TOML ({error})") from None


def migrate_pwd_file(path: str | Path, *, env_secrets: bool = False) -> Migration:
    """Convert the prometheus-webhook-dingtalk config file at ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text (YAML files are UTF-8)") from None
    except OSError as error:
        raise ConfigError(f"{file}: cannot be read: {error.strerror or error}") from None
    return migrate_pwd(text, source=str(file), env_secrets=env_secrets)
