"""The relay's log lines: text or JSON (``[relay] log_format``), every known secret masked.

Rules kept here:

- One handler on the root logger, on stderr, so that dingwire's, Starlette's and uvicorn's
  records all come out one way. Text: ``2026-12-02T10:21:18.123Z INFO dingwire.relay.serve:
  message``; JSON: one object per line with ``time`` (UTC, ISO 8601), ``level``,
  ``logger``, ``message``, ``exception`` (the traceback, when there is one) and whatever
  the caller passed as ``extra=``.
- Secrets never reach a line: :class:`SecretFilter`, on that handler, rewrites each record's
  message, traceback and stack with :func:`dingwire.core.redact.scrub` — every URL's secret
  parameters, and each secret of the config (webhook tokens, signing secrets, proxy
  passwords, ``auth_token``) wherever it appears. Reloading the config feeds it the new
  secrets (:meth:`SecretFilter.update`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from dingwire.config import Config, webhook_secrets
from dingwire.core.redact import scrub
from dingwire.relay.settings import RelaySettings

__all__ = [
    "JsonFormatter",
    "SecretFilter",
    "TextFormatter",
    "config_secrets",
    "configure_logging",
    "set_log_format",
]


def config_secrets(config: Config, settings: RelaySettings | None = None) -> set[str]:
    """Every secret ``config`` holds: each robot's webhook token(s), signing secret and
    proxy password, the relay's ``auth_token`` and the password of its ``queue`` URL."""
    secrets: set[str] = set()
    for robot in config.robots.values():
        values = robot.settings
        secret = values.get("secret")
        if isinstance(secret, str) and secret:
            secrets.add(secret)
        for key in ("webhook", "proxy"):
            url = values.get(key)
            if isinstance(url, str):
                secrets.update(webhook_secrets(url))
    token = settings.auth_token if settings is not None else config.relay.get("auth_token")
    if isinstance(token, str) and token:
        secrets.add(token)
    queue = settings.queue if settings is not None else config.relay.get("queue")
    if isinstance(queue, str):
        try:
            password = urlsplit(queue.strip()).password
        except ValueError:
            password = None
        if password:
            secrets.add(unquote(password))
    return secrets


# What every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class SecretFilter(logging.Filter):
    """Masks the secrets in every record that passes (it never drops one)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Mask these secrets from now on (the config was reloaded)."""
        self._secrets = frozenset(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be shown of it
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = scrub(message, secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, secrets)
        for key, value in vars(record).items():
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, scrub(value, secrets))
        return True


def _utc(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER: MESSAGE`` (then the traceback, if any)."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return f"{_utc(record)} {super().format(record)}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


def _formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def _installed() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_dingwire_relay", False)]


def set_log_format(log_format: str) -> None:
    """Write the lines of the handler :func:`configure_logging` installed as ``log_format``
    says from now on (the config was reloaded)."""
    for handler in _installed():
        handler.setFormatter(_formatter(log_format))


def configure_logging(
    log_format: str,
    secrets: Iterable[str] = (),
    *,
    stream: IO[str] | None = None,
    level: int = logging.INFO,
) -> SecretFilter:
    """Send every log record to ``stream`` (stderr) as ``log_format`` (``"text"`` or
    ``"json"``) says, secrets masked; replaces a handler this function installed before.
    Returns the filter, to :meth:`~SecretFilter.update` on reload."""
    root = logging.getLogger()
    for old in _installed():
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._dingwire_relay = True  # type: ignore[attr-defined]
    handler.setFormatter(_formatter(log_format))
    masking = SecretFilter(secrets)
    handler.addFilter(masking)
    root.addHandler(handler)
    root.setLevel(level)
    return masking
