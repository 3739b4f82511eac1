"""``dingwire render``: what the relay would send for a payload, sending nothing.

It reads the same config as ``dingwire serve`` (robots, ``[relay]`` templates, time zone,
on-call groups), renders the payload with the relay's own renderer and prints the JSON body
DingTalk would receive (the robot's keyword added as the robot adds it). Nothing here holds
a secret: the body has none, and every error is scrubbed of the config's tokens and secrets.
A template error is shown with its file and line, as ``dingwire serve`` would refuse to start.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Any

import click

from dingwire.cli._app import EXIT_USAGE, Invocation

__all__ = ["guess_source", "render"]

_SHORTHAND_KEYS = frozenset({"text", "title", "markdown", "at", "severity"})
_GRAFANA_KEYS = ("orgId", "title", "state", "message")
_GRAFANA_ALERT_KEYS = ("dashboardURL", "panelURL", "silenceURL", "values", "valueString")


class PayloadFileError(click.ClickException):
    """The payload file cannot be read or rendered: a usage error (exit 2)."""

    exit_code = EXIT_USAGE


def guess_source(data: object) -> str | None:
    """``alertmanager``, ``grafana`` or ``messages``, from what the payload holds; or ``None``."""
    if not isinstance(data, Mapping):
        return None
    if "msgtype" in data or (data and set(data) <= _SHORTHAND_KEYS and "alerts" not in data):
        return "messages"
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        return None
    if any(key in data for key in _GRAFANA_KEYS) or any(
        isinstance(alert, Mapping) and any(key in alert for key in _GRAFANA_ALERT_KEYS)
        for alert in alerts
    ):
        return "grafana"
    return "alertmanager"


def _read(payload: str) -> Any:
    try:
        if payload == "-":
            text = sys.stdin.read()
        else:
            with open(payload, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as error:
        raise PayloadFileError(f"{payload}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise PayloadFileError(f"{payload}: not UTF-8 text (a JSON payload is UTF-8)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PayloadFileError(
            f"{payload}: not JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise PayloadFileError(f"{payload}: nested too deeply") from None


@click.command()
@click.option("--robot", required=True, metavar="NAME", help="The configured robot to render for.")
@click.option(
    "--payload",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="The JSON payload: an Alertmanager or Grafana webhook body, or a message (- for stdin).",
)
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    help="The config file to read (overrides dingwire --config).",
)
@click.option(
    "--source",
    type=click.Choice(["alertmanager", "grafana", "messages"]),
    help="Which endpoint the payload is for. Default: guessed from the payload.",
)
@click.option(
    "--full",
    is_flag=True,
    help="Print what the relay stores: the body with its kind, priority, dedupe key and the "
    "digest lines a storm would send instead.",
)
@click.pass_obj
def render(
    invocation: Invocation,
    robot: str,
    payload: str,
    config_file: str | None,
    source: str | None,
    full: bool,
) -> int:
    """Print what the relay would send for a payload; send nothing.

    The payload is rendered as `dingwire serve` renders it for the robot: its template
    ([relay] template / templates), time zone, the robot's mention and the on-call groups
    named by the alerts' labels. The JSON body is printed on stdout.

    \b
    Examples:
      dingwire render --robot ops --payload alert.json
      amtool ... | dingwire render --robot ops --payload - --source alertmanager
      dingwire render --robot ops --payload grafana.json --full
    """
    from dingwire.config import load_config, webhook_secrets
    from dingwire.core.mentions import ensure_keyword
    from dingwire.relay.alerts import PayloadError
    from dingwire.relay.render import Renderer
    from dingwire.relay.settings import RelaySettings

    config = load_config(config_file or invocation.config_file)
    for entry in config.robots.values():
        invocation.remember(entry.settings.get("secret"))
        for url in (entry.settings.get("webhook"), entry.settings.get("proxy")):
            invocation.remember(*webhook_secrets(url))
    invocation.remember(config.relay.get("auth_token"))
    config.entry(robot)  # an unknown robot: ConfigError naming the configured ones
    settings = RelaySettings.from_config(config)
    renderer = Renderer.load(settings, config)

    data = _read(payload)
    chosen = source or guess_source(data)
    if chosen is None:
        raise PayloadFileError(
            f"{payload}: cannot tell what it is (no alerts, no msgtype): "
            "give --source alertmanager, grafana or messages"
        )
    now = time.time()
    try:
        if chosen == "alertmanager":
            out = renderer.alertmanager(robot, data, now=now)
        elif chosen == "grafana":
            out = renderer.grafana(robot, data, now=now)
        else:
            out = renderer.message(robot, data, now=now)
    except PayloadError as error:
        # The relay would answer 400 with this reason.
        raise PayloadFileError(f"{payload}: {invocation.scrub(error.reason)}") from None
    keywords = config.robots[robot].settings.get("keywords") or ()
    body = ensure_keyword(out.body, keywords)
    shown: Any = body
    if full:
        shown = {
            "robot": out.robot,
            "source": out.source,
            "kind": out.kind,
            "priority": out.priority,
            "dedupe_key": out.dedupe_key,
            "body": body,
            "lines": [
                {"status": line.status, "name": line.name, "text": line.text} for line in out.lines
            ],
        }
    click.echo(invocation.mask_secrets(json.dumps(shown, ensure_ascii=False, indent=2)))
    return 0
