"""Which robots a command sends to, and how: the options every sending command shares.

Rules kept here (the rules themselves live in the library; this is their command line):

- The robots are :func:`dingwire.config.choose_robots`'s: ``--robot NAME`` (repeatable:
  the message goes to each), else ``--webhook URL [--secret S]`` (a webhook URL, a bare
  access token, or a ``dingtalk://SECRET@TOKEN`` URL), which ``DINGWIRE_WEBHOOK`` /
  ``DINGWIRE_SECRET`` stand in for, else the config file's robot ``default``. With none
  of them the error lists the ways; ``--robot`` with ``--webhook`` or ``--secret`` is an
  error, and so is an empty ``--webhook ""`` or ``--secret ""``.
- Everything is checked before anything is sent: every robot is built, every part of the
  message is built and measured for every robot (its keyword, its default mentions, at
  most ``--max-parts`` parts). A problem with any of them sends nothing, to none of them.
- ``--dry-run`` prints each request as the robot builds it (the URL with the token and sign
  masked, then the JSON body) and sends nothing.
- Waiting is the robot's: every send is ``robot.send(message, split=..., max_parts=...,
  max_wait=...)``, within ``--max-wait`` seconds for the whole command (a minute by
  default: DingTalk's window); ``--no-wait`` is ``--max-wait 0``. Whenever a robot waits
  it says so (its INFO log line), shown on stderr with the robot named as a person would
  name it; a message of many parts that the budget makes wait says first when it will be
  done.
- With several robots, one that fails does not stop the others: each failure is said on
  stderr with the robot's name, and the exit status is the worst of them
  (:func:`dingwire.cli._app.worst_status`). With one robot, its error is the command's.
- Every token and secret is handed to the :class:`~dingwire.cli._app.Invocation` as soon
  as it is read, so that no message printed afterwards can contain it.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from dingwire.cli._app import EXIT_DELIVERED, Invocation, describe_error, exit_status, worst_status

if TYPE_CHECKING:
    from dingwire.config import RobotChoice
    from dingwire.core.messages import MessageLike
    from dingwire.integrations.sending import Estimate
    from dingwire.transport.robots import Robot

__all__ = ["DEFAULT_MAX_PARTS", "Delivery", "Target", "delivery_options", "say"]

#: A minute: DingTalk's window, so a script sending a burst through a robot's budget
#: waits for the next free slot, while a robot DingTalk locked out for 10 minutes fails fast.
DEFAULT_MAX_WAIT = 60.0
#: The library's default (``Robot.send(..., max_parts=10)``), written here so that --help
#: needs no library import; tests/cli check that the two agree.
DEFAULT_MAX_PARTS = 10


def say(text: str) -> None:
    """One line of progress for a person, on stderr (stdout is for data)."""
    click.echo(f"dingwire: {text}", err=True)


def _complete_robot(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Shell completion for ``--robot``: the names in the config file, if it reads.

    A robot that cannot be used (an unset ``${VAR}``) is still a name to complete; only a
    file that cannot be read at all completes nothing.
    """
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
        "robot_names",
        metavar="NAME",
        multiple=True,
        shell_complete=_complete_robot,
        help="Send through this robot from the config file; repeat it to send to several "
        "(the exit status is then the worst of theirs).",
    ),
    click.option(
        "--webhook",
        metavar="URL",
        help="The robot's webhook URL, its access token, or dingtalk://SECRET@TOKEN. "
        "[env: DINGWIRE_WEBHOOK]",
    ),
    click.option(
        "--secret",
        metavar="SECRET",
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
    click.option(
        "--proxy",
        metavar="URL",
        help="Send through this HTTP proxy (http://[user:password@]host:port), instead of "
        "the robot's proxy and HTTPS_PROXY / HTTP_PROXY. TLS is verified through it.",
    ),
    click.option(
        "--no-env-proxy",
        is_flag=True,
        help="Ignore HTTPS_PROXY, HTTP_PROXY and NO_PROXY (and their lower-case forms): "
        "connect directly unless --proxy or the robot's proxy says otherwise.",
    ),
)

_MAX_PARTS_OPTION = click.option(
    "--max-parts",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PARTS,
    show_default=True,
    metavar="N",
    help="Send a long message in at most N parts; one that needs more is refused before "
    "anything is sent, saying how many it would take.",
)


def delivery_options(
    *, dry_run_help: str, splits: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the robot options, ``--dry-run``, the waiting options and ``--quiet`` to a command
    (and ``--max-parts`` to one that ``splits`` long messages).

    The command receives them bundled as one keyword argument, ``delivery``.
    """
    options = (
        *_ROBOT_OPTIONS,
        *((_MAX_PARTS_OPTION,) if splits else ()),
        click.option("--dry-run", is_flag=True, help=dry_run_help),
        click.option(
            "--max-wait",
            type=click.FloatRange(min=0),
            default=DEFAULT_MAX_WAIT,
            metavar="SECONDS",
            help="Wait at most this long (default 60, for the whole command) for the robots "
            "to be free to send: the minute budget (20 messages a minute), a DingTalk "
            "lockout (10 minutes after a 130101), the org's quota. A longer wait exits 4 at "
            "once, sending nothing more; every wait is said on stderr.",
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
                robot_names=tuple(kwargs.pop("robot_names")),
                webhook=kwargs.pop("webhook"),
                secret=kwargs.pop("secret"),
                config_file=kwargs.pop("config_file") or invocation.config_file,
                proxy=kwargs.pop("proxy"),
                env_proxy=not kwargs.pop("no_env_proxy"),
                dry_run=kwargs.pop("dry_run"),
                max_wait=0.0 if no_wait else max_wait,
                max_parts=kwargs.pop("max_parts", None),
                quiet=kwargs.pop("quiet"),
                invocation=invocation,
            )
            delivery.remember_given()
            return command(*args, delivery=delivery, **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


@dataclass(frozen=True)
class Target:
    """One robot a command sends to, and how stderr names it."""

    robot: Robot
    label: str  # "ops", or "the robot" for a webhook given directly


@dataclass
class Delivery:
    """The robots a command sends to and how it sends: resolved and used by the command."""

    robot_names: tuple[str, ...]
    webhook: str | None  # as given on the command line; the environment's is read later
    secret: str | None
    config_file: str | None
    proxy: str | None
    env_proxy: bool
    dry_run: bool
    max_wait: float
    max_parts: int | None  # None: the command does not split
    quiet: bool
    invocation: Invocation

    def remember_given(self) -> None:
        """Hand every secret given to this command to the invocation, before any is used."""
        from dingwire.config import webhook_secrets

        for webhook in (self.webhook, os.environ.get("DINGWIRE_WEBHOOK"), self.proxy):
            self.invocation.remember(*webhook_secrets(webhook))
        self.invocation.remember(self.secret, os.environ.get("DINGWIRE_SECRET"))

    # -- the robots -----------------------------------------------------------------------

    @functools.cached_property
    def targets(self) -> list[Target]:
        """The robots to send to, built; raise when any cannot be (after saying each)."""
        from dingwire.config import choose_robots
        from dingwire.core.errors import ConfigError, DingwireError

        if self.proxy is not None and not self.proxy.strip():
            raise ConfigError(
                "--proxy is empty: give a proxy URL, or --no-env-proxy to connect directly"
            )
        choices = choose_robots(
            self.robot_names,
            webhook=self.webhook,
            secret=self.secret,
            path=self.config_file,
        )
        if not choices:
            from dingwire.config import CONFIG_LOOKUP, load_config

            config = load_config(self.config_file)
            where = str(config.path) if config.path else f"none found: {CONFIG_LOOKUP}"
            raise ConfigError(
                "no robot given; name one with\n"
                f"  --robot NAME                 a robot from the config file ({where})\n"
                "  --webhook URL [--secret S]   a webhook URL, an access token, or a "
                "dingtalk:// URL\n"
                "  DINGWIRE_WEBHOOK / DINGWIRE_SECRET   the same, in the environment"
            )
        built: list[Target] = []
        failed: list[tuple[str, BaseException]] = []
        for choice in choices:
            label = choice.name or "the robot"
            try:
                built.append(Target(self._make(choice), label))
            except DingwireError as error:
                if len(choices) == 1:
                    raise
                failed.append((label, error))
        if failed:
            self._report_failures(failed, f"{len(failed)} of {len(choices)} robots cannot be used")
            raise click.exceptions.Exit(worst_status(exit_status(e) for _, e in failed))
        return built

    def _make(self, choice: RobotChoice) -> Robot:
        from dingwire.config import webhook_secrets

        settings = choice.settings
        self.invocation.remember(settings.get("secret"))
        for url in (settings.get("webhook"), settings.get("proxy")):
            self.invocation.remember(*webhook_secrets(url))
        overrides: dict[str, Any] = {}
        if self.proxy is not None:
            overrides["proxy"] = self.proxy.strip()
        if not self.env_proxy:
            overrides["trust_env"] = False
        robot = choice.make(None, **overrides)
        self.invocation.alias(repr(robot), f"robot {robot.name}" if robot.name else "the robot")
        return robot

    # -- sending ----------------------------------------------------------------------

    def deliver(
        self,
        message: MessageLike | Callable[[Robot], MessageLike],
        *,
        split: bool = False,
        verb: str = "sent",
    ) -> int:
        """Send ``message`` to every robot (or print it, with ``--dry-run``).

        ``message`` may be a function of the robot, for a message made to fit each. With
        ``split``, a message over DingTalk's limit goes as numbered parts, in order. With
        one robot its error raises; with several, each is said and the worst exit status
        is returned.
        """
        targets = self.targets
        plans: list[tuple[Target, MessageLike, list[bytes]]] = []
        failed: list[tuple[str, BaseException]] = []
        for target in targets:
            # Every part, for every robot, is built and measured here, before anything is sent.
            try:
                each = message(target.robot) if callable(message) else message
                plans.append((target, each, self._bodies(target.robot, each, split)))
            except Exception as error:
                if len(targets) == 1 or not _is_dingwire(error):
                    raise
                failed.append((target.label, error))
        if failed:
            self._report_failures(
                failed, f"the message cannot go to {len(failed)} of {len(targets)} robots"
            )
            return worst_status(exit_status(e) for _, e in failed)
        if self.dry_run:
            self._print_requests(plans)
            return EXIT_DELIVERED
        return self._send(plans, split=split, verb=verb)

    def _bodies(self, robot: Robot, message: MessageLike, split: bool) -> list[bytes]:
        if split and self.max_parts is not None:
            return robot.bodies(message, split=True, max_parts=self.max_parts)
        return robot.bodies(message, split=split)

    def _send(
        self, plans: list[tuple[Target, MessageLike, list[bytes]]], *, split: bool, verb: str
    ) -> int:
        # Say why a send is slow (a wait for the budget or a lockout, a retry); errors say
        # themselves.
        self.invocation.show_logs(40 if self.quiet else 20)  # logging.ERROR / logging.INFO
        deadline = time.monotonic() + self.max_wait
        several = len(plans) > 1
        failed: list[tuple[str, BaseException]] = []
        for target, message, bodies in plans:
            robot = target.robot
            if len(bodies) > 1 and not self.quiet:
                self._say_estimate(target, len(bodies))
            options: dict[str, Any] = {"split": split}
            if split and self.max_parts is not None:
                options["max_parts"] = self.max_parts
            wait = max(0.0, deadline - time.monotonic()) if several else self.max_wait
            try:
                result = robot.send(message, max_wait=wait, **options)
            except Exception as error:
                if not several or not _is_dingwire(error):
                    raise
                self.invocation.show_traceback(error)
                say(f"robot {target.label}: {self.invocation.scrub(describe_error(error))}")
                failed.append((target.label, error))
                continue
            if not self.quiet:
                to = f" to {robot.name}" if robot.name else ""
                count = f" in {result.parts} parts" if result.parts > 1 else ""
                say(f"{verb}{to}{count}")
        if failed:
            statuses = ", ".join(f"{label} (exit {exit_status(e)})" for label, e in failed)
            done = len(plans) - len(failed)
            say(f"{verb} to {done} of {len(plans)} robots; failed: {statuses}")
            return worst_status(exit_status(e) for _, e in failed)
        return EXIT_DELIVERED

    def _say_estimate(self, target: Target, parts: int) -> None:
        from dingwire.integrations.sending import estimate

        guess = estimate(target.robot, parts)
        if guess is not None:
            say(_estimate_line(guess, target.robot.name, self.max_wait))

    def _report_failures(self, failed: Sequence[tuple[str, BaseException]], summary: str) -> None:
        for label, error in failed:
            self.invocation.show_traceback(error)
            say(f"robot {label}: {self.invocation.scrub(describe_error(error))}")
        say(f"{summary} (see above); nothing was sent to any")

    def _print_requests(self, plans: Sequence[tuple[Target, MessageLike, list[bytes]]]) -> None:
        """Print each request as it would go out: ``POST <masked URL>``, then the body."""
        from dingwire.core.redact import mask_url
        from dingwire.integrations.sending import preview

        counts: list[str] = []
        for target, _, bodies in plans:
            for request in preview(target.robot, bodies):
                click.echo(f"{request.method} {mask_url(request.url, whole=True)}")
                click.echo(self.invocation.scrub(request.body.decode("utf-8")))
            count = f"{len(bodies)} parts" if len(bodies) > 1 else "1 message"
            counts.append(f"{target.label}: {count}" if len(plans) > 1 else count)
        if not self.quiet:
            say(f"dry run: nothing sent ({'; '.join(counts)})")


def _is_dingwire(error: BaseException) -> bool:
    from dingwire.core.errors import DingwireError

    return isinstance(error, DingwireError)


def _estimate_line(guess: Estimate, name: str | None, max_wait: float) -> str:
    """``sending 12 parts to ops at 20/60s: done by about 14:03``."""
    now = time.time()
    # "About" and rounded up: the minute it will be done in, at the latest.
    moment = math.ceil(guess.done_by / 60) * 60
    shown = "%H:%M" if moment - now < 86_400 else "%Y-%m-%d %H:%M"
    to = f" to {name}" if name else ""
    line = (
        f"sending {guess.parts} parts{to} at {guess.rate}: "
        f"done by about {time.strftime(shown, time.localtime(moment))}"
    )
    needed = guess.done_by - now
    if needed > max_wait:
        line += f" (beyond --max-wait {max_wait:g}: give --max-wait {math.ceil(needed)})"
    return line
