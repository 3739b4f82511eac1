"""Which robot a command sends to, and how: the options every sending command shares.

Rules kept here:

- The robot comes from exactly one place, first match wins: ``--robot NAME`` (the config
  file); ``--webhook URL [--secret S]`` (a webhook URL, a bare access token, or a
  ``dingtalk://SECRET@TOKEN`` URL), which ``DINGWIRE_WEBHOOK`` / ``DINGWIRE_SECRET``
  stand in for; a robot called ``default`` in the config file. With none of them the
  error lists the ways. ``--robot`` with ``--webhook`` (or ``--secret``) on the command
  line is a usage error: an explicit choice is never silently overridden.
- A message is checked whole before anything is sent: every part of a split message is
  built and measured first, so a bad part never leaves the earlier ones delivered alone.
- ``--dry-run`` prints the exact request (the URL with the token and sign masked, then the
  JSON body) and sends nothing.
- Waiting is the robot's: every send, of one part or many, is ``robot.send(message,
  split=..., max_wait=--max-wait)``. It waits for a free slot — the robot's minute budget
  (shared by every process on the machine), a DingTalk lockout (10 minutes after a 130101),
  the org's quota — only when the slot comes within ``--max-wait`` seconds in all (a
  minute by default: DingTalk's window); otherwise it sends nothing and raises at once, so
  a lockout exits 4 at once rather than hanging a script or a CI job. ``--no-wait`` is
  ``--max-wait 0``. Whenever the robot waits it says so (its INFO log line: what it waits
  for, until when), shown on stderr with the robot named as a person would name it.
- Every token and secret is handed to the :class:`~dingwire.cli._app.Invocation` as soon
  as it is read, so that no message printed afterwards can contain it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import click
from click.core import ParameterSource

from dingwire.cli._app import Invocation

if TYPE_CHECKING:
    from dingwire.core.messages import MessageLike
    from dingwire.transport.robots import Robot

__all__ = ["Delivery", "delivery_options", "say", "tokens"]

CONFIG_LOOKUP = "$DINGWIRE_CONFIG, ./dingwire.toml, ~/.config/dingwire/config.toml"
#: A minute: DingTalk's window, so a script sending a burst through a robot's budget
#: waits for the next free slot, while a robot DingTalk locked out for 10 minutes fails fast.
DEFAULT_MAX_WAIT = 60.0


def say(text: str) -> None:
    """One line of progress for a person, on stderr (stdout is for data)."""
    click.echo(f"dingwire: {text}", err=True)


def _complete_robot(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Shell completion for ``--robot``: the names in the config file, if it reads."""
    from click.shell_completion import CompletionItem

    from dingwire.config import load_config
    from dingwire.core.errors import ConfigError

    path = ctx.params.get("config_file") or ctx.find_root().params.get("config_file")
    try:
        config = load_config(path)
    except (ConfigError, OSError):
        return []
    return [CompletionItem(name) for name in config.robots if name.startswith(incomplete)]


_ROBOT_OPTIONS: tuple[Callable[[Any], Any], ...] = (
    click.option(
        "--robot",
        "-r",
        "robot_name",
        metavar="NAME",
        shell_complete=_complete_robot,
        help="Send through this robot from the config file.",
    ),
    click.option(
        "--webhook",
        metavar="URL",
        envvar="DINGWIRE_WEBHOOK",
        help="The robot's webhook URL, its access token, or dingtalk://SECRET@TOKEN. "
        "[env: DINGWIRE_WEBHOOK]",
    ),
    click.option(
        "--secret",
        metavar="SECRET",
        envvar="DINGWIRE_SECRET",
        help="The robot's signing (加签) secret, SEC…; prefer the environment variable, "
        "which other users cannot see in the process list. [env: DINGWIRE_SECRET]",
    ),
    click.option(
        "--config",
        "config_file",
        metavar="FILE",
        type=click.Path(exists=True, dir_okay=False),
        help="The config file for --robot (overrides dingwire --config).",
    ),
)


def delivery_options(*, dry_run_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the robot options, ``--dry-run``, the waiting options and ``--quiet`` to a command.

    The command receives them bundled as one keyword argument, ``delivery``.
    """
    options = (
        *_ROBOT_OPTIONS,
        click.option("--dry-run", is_flag=True, help=dry_run_help),
        click.option(
            "--max-wait",
            type=click.FloatRange(min=0),
            default=DEFAULT_MAX_WAIT,
            metavar="SECONDS",
            help="Wait at most this long (default 60) for the robot to be free to send: "
            "its minute budget (20 messages a minute), a DingTalk lockout (10 minutes "
            "after a 130101), the org's quota. A longer wait exits 4 at once, sending "
            "nothing; every wait is said on stderr.",
        ),
        click.option(
            "--no-wait",
            is_flag=True,
            help="Never wait: exit 4 at once when the budget is spent or the robot is "
            "locked out (--max-wait 0).",
        ),
        click.option("--quiet", "-q", is_flag=True, help="Print nothing when all goes well."),
    )

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            invocation = ctx.ensure_object(Invocation)
            no_wait, max_wait = kwargs.pop("no_wait"), kwargs.pop("max_wait")
            delivery = Delivery(
                robot_name=kwargs.pop("robot_name"),
                webhook=kwargs.pop("webhook"),
                secret=kwargs.pop("secret"),
                config_file=kwargs.pop("config_file") or invocation.config_file,
                dry_run=kwargs.pop("dry_run"),
                max_wait=0.0 if no_wait else max_wait,
                quiet=kwargs.pop("quiet"),
                webhook_source=ctx.get_parameter_source("webhook"),
                secret_source=ctx.get_parameter_source("secret"),
                invocation=invocation,
            )
            invocation.remember(delivery.secret, *tokens(delivery.webhook))
            return command(*args, delivery=delivery, **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def tokens(webhook: str | None) -> list[str]:
    """The secret parts of a webhook as given: its access token, a dingtalk:// secret."""
    if not webhook:
        return []
    webhook = webhook.strip()
    if webhook.startswith("dingtalk://"):
        head = webhook[len("dingtalk://") :].split("/", 1)[0].split("?", 1)[0]
        secret, _, token = head.rpartition("@")
        return [secret, token]
    if "://" not in webhook:
        return [webhook]  # a bare access token
    return parse_qs(urlsplit(webhook).query).get("access_token", [])


def _from_flag(source: ParameterSource | None) -> bool:
    return source is ParameterSource.COMMANDLINE


@dataclass
class Delivery:
    """The robot a command sends to and how it sends: resolved and used by the command."""

    robot_name: str | None
    webhook: str | None
    secret: str | None
    config_file: str | None
    dry_run: bool
    max_wait: float
    quiet: bool
    webhook_source: ParameterSource | None
    secret_source: ParameterSource | None
    invocation: Invocation

    @functools.cached_property
    def robot(self) -> Robot:
        """The robot to send through (raises ``UsageError``/``ConfigError`` if there is none)."""
        from dingwire.transport.robots import Robot

        settings = self._settings()
        self.invocation.remember(settings.get("secret"), *tokens(settings.get("webhook")))
        return Robot(**settings)

    def _settings(self) -> dict[str, Any]:
        # The config module (and tomllib) is imported only on the paths that read a file.
        if self.robot_name is not None:
            if _from_flag(self.webhook_source) or _from_flag(self.secret_source):
                raise click.UsageError(
                    "give either --robot NAME or --webhook URL [--secret S], not both"
                )
            from dingwire.config import load_config

            return load_config(self.config_file).robot(self.robot_name)
        if self.webhook:
            if self.webhook.strip().startswith("dingtalk://"):
                from dingwire.config import settings_from_url

                settings = settings_from_url(self.webhook.strip())
                if self.secret and settings.get("secret") not in (None, self.secret):
                    where = "--secret" if _from_flag(self.secret_source) else "DINGWIRE_SECRET"
                    raise click.UsageError(
                        f"the dingtalk:// URL carries a secret and {where} gives another; keep one"
                    )
                if self.secret:
                    settings["secret"] = self.secret
                return settings
            return {"webhook": self.webhook, "secret": self.secret or None}
        if _from_flag(self.secret_source):
            raise click.UsageError("--secret needs --webhook (a config robot's is in the file)")
        from dingwire.config import load_config
        from dingwire.core.errors import ConfigError

        config = load_config(self.config_file)
        if "default" in config.robots:
            return config.robot("default")
        where = str(config.path) if config.path else f"none found: {CONFIG_LOOKUP}"
        raise ConfigError(
            "no robot given; name one with\n"
            f"  --robot NAME                 a robot from the config file ({where})\n"
            "  --webhook URL [--secret S]   a webhook URL, an access token, or a dingtalk:// URL\n"
            "  DINGWIRE_WEBHOOK / DINGWIRE_SECRET   the same, in the environment"
        )

    # -- sending ----------------------------------------------------------------------

    def deliver(self, message: MessageLike, *, split: bool = False, verb: str = "sent") -> None:
        """Send ``message`` (or print it, with ``--dry-run``); raise on failure.

        With ``split``, a message over DingTalk's limit goes as numbered parts, in order.
        """
        # Every part is built and measured here, before anything is sent.
        bodies = self.robot.bodies(message, split=split)
        if self.dry_run:
            self.print_requests(bodies)
            return
        # Say why a send is slow (a wait for the budget or a lockout, a retry); errors say
        # themselves.
        self.invocation.show_logs(40 if self.quiet else 20)  # logging.ERROR / logging.INFO
        robot = self.robot
        self.invocation.alias(repr(robot), f"robot {robot.name}" if robot.name else "the robot")
        robot.send(message, split=split, max_wait=self.max_wait)
        if not self.quiet:
            to = f" to {robot.name}" if robot.name else ""
            count = f" in {len(bodies)} parts" if len(bodies) > 1 else ""
            say(f"{verb}{to}{count}")

    def print_requests(self, bodies: Sequence[bytes]) -> None:
        """Print each request as it would go out: ``POST <masked URL>``, then the body."""
        import time

        from dingwire.core.redact import mask_url
        from dingwire.core.signing import signed_url

        robot = self.robot
        timestamp_ms = round(time.time() * 1000)
        url = (
            signed_url(robot.webhook, robot.secret, timestamp_ms) if robot.secret else robot.webhook
        )
        for body in bodies:
            click.echo(f"POST {mask_url(url)}")
            click.echo(self.invocation.scrub(body.decode("utf-8")))
        if not self.quiet:
            count = f"{len(bodies)} parts" if len(bodies) > 1 else "1 message"
            say(f"dry run: nothing sent ({count})")
