"""The ``dingwire`` group: global options, lazy subcommands, and the one exit-code table.

Rules kept here:

- Every failure becomes an exit status in one place, :func:`exit_status`: 0 delivered;
  1 DingTalk refused the message; 2 usage or configuration error; 3 network error or
  timeout; 4 rate limited: every :class:`~dingwire.RateLimitedError` — a spent minute
  budget, a DingTalk lockout, a spent org quota (:class:`~dingwire.QuotaExceededError`), and
  DingTalk's own 130101, 90030 and gateway "slow down", which are refusals *and* rate
  limits: they exit 4, because waiting is what fixes them.
- With several robots (``--robot a --robot b``) the exit status is the worst of theirs,
  :func:`worst_status`: 2 (fix the command or the config) over 1 (DingTalk refused: fix
  the robot or the message) over 3 (the network: it may have arrived, look) over 4 (rate
  limited: nothing was sent, and waiting fixes it) over 0. What needs a person outranks
  what time fixes.
- Advice is shown in the command line's terms: where the library's speaks of its arguments
  (``max_wait``, ``split=True``, ``max_parts=``), :func:`cli_advice` says it with flags
  (``--max-wait``, ``--max-parts``).
- An error is shown as one or two lines a person can act on (what happened, then what to
  do), scrubbed of every token, sign and secret this invocation knows. A traceback appears
  only with ``--debug``; a bug that is not a dingwire error exits 70, never 1, so that a
  script reading 1 as "DingTalk refused it" is not misled.
- Start-up stays short: this module imports click (and ``re``) and nothing else; a subcommand's module
  is imported only when that subcommand runs, and ``--help`` lists the commands from the
  table below without importing any of them.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import click

__all__ = [
    "EXIT_DELIVERED",
    "EXIT_INTERNAL",
    "EXIT_NETWORK",
    "EXIT_RATE_LIMITED",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "Invocation",
    "cli",
    "cli_advice",
    "describe_error",
    "exit_status",
    "main",
    "worst_status",
]

EXIT_DELIVERED = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_NETWORK = 3
EXIT_RATE_LIMITED = 4
#: A bug in dingwire (BSD's EX_SOFTWARE): distinct from every status a script may act on.
EXIT_INTERNAL = 70
#: Interrupted with Ctrl-C, as a shell reports it.
EXIT_INTERRUPTED = 130
#: The statuses from the most severe to the least (see :func:`worst_status`).
SEVERITY = (
    EXIT_INTERNAL,
    EXIT_USAGE,
    EXIT_REFUSED,
    EXIT_NETWORK,
    EXIT_RATE_LIMITED,
    EXIT_DELIVERED,
)


@dataclass
class Invocation:
    """What one run of ``dingwire`` knows beyond its arguments: ``ctx.obj`` of every command.

    ``secrets`` collects every token and secret the invocation has seen, so that whatever it
    prints on the way out can be scrubbed of them. ``aliases`` rename things in the log
    lines shown on stderr: a robot's ``repr`` becomes ``robot ops`` or ``the robot``.
    """

    debug: bool = False
    config_file: str | None = None
    secrets: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    _handler: Any = None

    def remember(self, *secrets: str | None) -> None:
        """Add ``secrets`` (the empty and the missing are ignored) to what is scrubbed."""
        self.secrets.update(s for s in secrets if s)

    def alias(self, text: str, shown: str) -> None:
        """Show ``text`` as ``shown`` in the log lines on stderr (a robot's ``repr``, say)."""
        if text:
            self.aliases[text] = shown

    def scrub(self, text: str) -> str:
        """``text`` with URL secrets and every remembered secret masked."""
        from dingwire.core.redact import scrub

        return scrub(text, self.secrets)

    def mask_secrets(self, text: str) -> str:
        """``text`` with every remembered secret masked (for text already masked once)."""
        from dingwire.core.redact import scrub

        return scrub(text, self.secrets) if any(s in text for s in self.secrets) else text

    def show_traceback(self, error: BaseException) -> None:
        """With ``--debug``, print ``error``'s traceback on stderr, scrubbed."""
        if self.debug:
            import traceback

            trace = "".join(traceback.format_exception(error)).rstrip()
            click.echo(self.scrub(trace), err=True)

    def show_logs(self, level: int) -> None:
        """Show dingwire's log records from ``level`` up on stderr (waits, retries), scrubbed.

        The lowest level asked for wins, so ``--debug`` keeps its DEBUG.
        """
        import logging

        invocation = self

        class EchoHandler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                line = self.format(record)
                for text, shown in invocation.aliases.items():
                    line = line.replace(text, shown)
                click.echo(invocation.scrub(line), err=True)

        logger = logging.getLogger("dingwire")
        if self._handler is None:
            self._handler = EchoHandler()
            self._handler.setFormatter(logging.Formatter("dingwire: %(message)s"))
            logger.addHandler(self._handler)
            logger.setLevel(level)
        else:
            logger.setLevel(min(level, logger.level))

    def close(self) -> None:
        """Take the log handler away again (CliRunner runs many invocations in a process)."""
        if self._handler is not None:
            import logging

            logger = logging.getLogger("dingwire")
            logger.removeHandler(self._handler)
            logger.setLevel(logging.NOTSET)
            self._handler = None


def exit_status(error: BaseException) -> int:
    """The exit status for ``error``: the whole mapping, in one place."""
    from dingwire.core.errors import (
        ApiError,
        BudgetStoreError,
        ConfigError,
        DingwireError,
        MessageError,
        RateLimitedError,
        TransportError,
    )

    # Order matters: ThrottledError is an ApiError *and* a RateLimitedError (exit 4), and
    # BodyTooLargeError is DingTalk refusing (exit 1) although it is also a TooLargeError.
    if isinstance(error, RateLimitedError):
        return EXIT_RATE_LIMITED
    if isinstance(error, ApiError):
        return EXIT_REFUSED
    if isinstance(error, TransportError | BudgetStoreError):  # the budget store: on the network
        return EXIT_NETWORK
    if isinstance(error, ConfigError | MessageError | click.UsageError):
        return EXIT_USAGE
    if isinstance(error, click.ClickException):
        return error.exit_code
    if isinstance(error, DingwireError | OSError):
        # An unreadable file or stdin is a usage problem; so is any other dingwire error
        # that is not about delivery.
        return EXIT_USAGE
    return EXIT_INTERNAL


def worst_status(statuses: Iterable[int]) -> int:
    """The most severe of ``statuses`` (:data:`SEVERITY`; one it does not know ranks first)."""

    def rank(status: int) -> int:
        return SEVERITY.index(status) if status in SEVERITY else -1

    return min(statuses, key=rank, default=EXIT_DELIVERED)


def describe_error(error: BaseException) -> str:
    """``error`` for a person: what happened, then ``→`` what to do (and any notes)."""
    from dingwire.core.errors import DingwireError

    if isinstance(error, DingwireError) and _too_many_parts(error):
        text = _too_many_parts(error) or ""
    elif isinstance(error, DingwireError):
        # The library's own advice is said in flags too; the message is left as it is (it
        # may show a dingtalk:// URL, whose options are spelt like arguments).
        advice = cli_advice(error) or _in_flags(error.advice)
        text = f"{error.message}\n  → {advice}" if advice else error.message
    elif isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        text = f"{error.strerror}{where}"
    else:
        text = f"internal error: {type(error).__name__}: {error}\n  → run again with --debug "
        text += "for the traceback, and please report it"
    notes = getattr(error, "__notes__", None) or []
    return "\n".join([text, *(f"  {note}" for note in notes)])


def cli_advice(error: BaseException) -> str | None:
    """What to do about ``error`` in the command line's terms, where the library's own
    advice speaks of its arguments (``max_wait``, ``split=True``, ``retry_on_timeout``,
    ``keywords=[...]``).

    ``None`` keeps the error's advice: the library's, when it reads as well on a terminal,
    or one the raiser wrote for this very error.
    """
    import math

    from dingwire.core.errors import (
        DeliveryUnknownError,
        GatewayThrottledError,
        KeywordError,
        QuotaExceededError,
        RateLimitedError,
        ThrottledError,
        TooLargeError,
    )

    if not isinstance(
        error, DeliveryUnknownError | KeywordError | RateLimitedError | TooLargeError
    ):
        return None
    if error.advice != type(error).default_advice:
        return None  # written for this error: it knows better than a table
    if isinstance(error, KeywordError):
        return (
            "the message contains none of the robot's keywords: list them under keywords "
            "in the robot's config (or the keywords option of a dingtalk:// URL), and "
            "dingwire adds one when it is missing"
        )
    wait = f"--max-wait {math.ceil(error.retry_after)}" if error.retry_after else "--max-wait"
    if isinstance(error, QuotaExceededError):
        org = f" {error.org!r}" if error.org else ""
        return (
            f"every robot of the organisation{org} is stopped until its quota renews "
            "(DingTalk counts webhook calls per organisation per month): send less, or "
            "raise the organisation's edition with DingTalk"
        )
    if isinstance(error, ThrottledError):
        return (
            "DingTalk blocks a robot for 10 minutes once it gets more than 20 messages in a "
            f"minute: send again after that, or give {wait} to wait it out; make sure every "
            "sender of this robot shares its budget (other machines, other tools count too)"
        )
    if isinstance(error, GatewayThrottledError):
        return None  # the library's advice is the command line's too
    if isinstance(error, RateLimitedError) and error.reason == "lockout":
        return (
            f"DingTalk blocked this robot after it sent too fast: send again after that, or "
            f"give {wait} to wait it out"
        )
    if isinstance(error, RateLimitedError):
        return (
            f"send again after that, or give {wait} to wait for it (the default waits up "
            "to 60 s); more robots in the group spread the load"
        )
    if isinstance(error, DeliveryUnknownError):
        return (
            "the message may or may not have arrived; dingwire does not send it again by "
            "itself, because a duplicate alert is worse than a reported error"
        )
    return (
        "shorten the message: links and feed cards are sent whole (text, markdown and "
        "action cards are split into parts)"
    )


# The library's arguments, as they appear in its advice, and the flags that say the same.
_FLAGS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bmax_parts=(\d+)"), r"--max-parts \1"),
    (re.compile(r"\bmax_parts=?"), "--max-parts N"),
    (re.compile(r"\bmax_wait=(\d+(?:\.\d+)?)"), r"--max-wait \1"),
    (re.compile(r"\bmax_wait\b"), "--max-wait"),
    (re.compile(r"\bblock=False\b"), "--no-wait"),
    (re.compile(r"\bblock=True\b"), "waiting (the default; --max-wait)"),
    (re.compile(r"\bproxy=(?:\.\.\.|…)?"), "--proxy URL"),
    (re.compile(r"\btrust_env=False\b"), "--no-env-proxy"),
    (re.compile(r"\bsplit=True\b"), "splitting (text and markdown split by themselves)"),
)


def _in_flags(text: str) -> str:
    """``text`` with the library's argument spellings (``max_parts=20``) said as flags."""
    for pattern, flag in _FLAGS:
        text = pattern.sub(flag, text)
    return text


def _too_many_parts(error: BaseException) -> str | None:
    """One line for a message over ``--max-parts``: how many parts, and how to allow them."""
    parts, ceiling = getattr(error, "parts", None), getattr(error, "max_parts", None)
    if not isinstance(parts, int) or not isinstance(ceiling, int):
        return None
    about = "about " if f"about {parts:,} parts" in str(error) else ""
    return (
        f"the message would take {about}{parts:,} parts, more than --max-parts {ceiling} "
        f"allows; nothing was sent: give --max-parts {parts} to send them all, or send less"
    )


def _report(error: BaseException, invocation: Invocation) -> int:
    """Print ``error`` for a person, scrubbed; return its exit status."""
    invocation.show_traceback(error)
    click.echo(f"dingwire: {invocation.scrub(describe_error(error))}", err=True)
    return exit_status(error)


@dataclass(frozen=True)
class _Entry:
    target: str  # "module:attribute"
    short_help: str


# The subcommands, in the order `dingwire --help` lists them. The short help is here so
# that --help needs no subcommand module; tests/cli check it against each command's own.
COMMANDS: dict[str, _Entry] = {
    "send": _Entry(
        "dingwire.cli._send:send",
        "Send a message: text, markdown, link, actioncard, feedcard or raw JSON.",
    ),
    "run": _Entry("dingwire.cli._run:run", "Run a command, then report its outcome to a robot."),
    "sign": _Entry("dingwire.cli._sign:sign", "Print the timestamp and sign for a secret."),
    "robots": _Entry(
        "dingwire.cli._robots:robots",
        "List the robots (secrets masked), their budgets and orgs.",
    ),
    "fake": _Entry("dingwire.cli._fake:fake", "Run the local DingTalk stand-in (with a preview)."),
    "serve": _Entry(
        "dingwire.cli._serve:serve",
        "Run the relay: Alertmanager and Grafana alerts in, budgeted messages out.",
    ),
    "render": _Entry(
        "dingwire.cli._render:render",
        "Print what the relay would send for a payload; send nothing.",
    ),
    "outbox": _Entry("dingwire.cli._outbox:outbox", "Inspect and repair the relay's queue."),
    "config": _Entry(
        "dingwire.cli._config:config",
        "Configuration tools (from-pwd: a prometheus-webhook-dingtalk config as TOML).",
    ),
    "completion": _Entry(
        "dingwire.cli._completion:completion", "Print the shell completion script."
    ),
}


class DingwireGroup(click.Group):
    """A group that imports a subcommand only to run it, and maps every failure to a status."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, _, attribute = entry.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, entry.short_help) for name, entry in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line and exit with the status :func:`exit_status` gives.

        ``CliRunner`` and the console script both come through here, so tests see the
        exit statuses and the messages a shell sees.
        """
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        invocation = Invocation()
        extra.setdefault("obj", invocation)
        try:
            status = super().main(args, prog_name or "dingwire", complete_var, False, **extra)
        except click.Abort:
            click.echo("dingwire: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except click.ClickException as error:
            # Usage errors keep click's own form: the usage line, then what is wrong.
            error.show()
            sys.exit(exit_status(error))
        except Exception as error:
            sys.exit(_report(error, invocation))
        finally:
            invocation.close()
        sys.exit(status if isinstance(status, int) else EXIT_DELIVERED)


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    invocation = ctx.ensure_object(Invocation)
    invocation.debug = value
    if value:
        invocation.show_logs(10)  # logging.DEBUG, without importing logging for nothing
    return value


@click.group(
    "dingwire",
    cls=DingwireGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Run `dingwire COMMAND --help` for a command's options and examples.",
)
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    # The lookup is dingwire.config.CONFIG_LOOKUP's (tests/cli check that they agree): the
    # config module is not imported for --help.
    help="The config file with the named robots. Default: $DINGWIRE_CONFIG, else "
    "./dingwire.toml, else $XDG_CONFIG_HOME/dingwire/config.toml "
    "(~/.config/dingwire/config.toml when XDG_CONFIG_HOME is not set).",
)
@click.option(
    "--debug",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_set_debug,
    help="Show tracebacks and log every request (tokens and signs masked).",
)
@click.version_option(package_name="dingwire", prog_name="dingwire")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None) -> None:
    """Get messages into DingTalk groups through custom robots.

    \b
    Examples:
      dingwire send text "deploy finished" --robot ops
      dingwire send text "disk full on db01" --robot ops --robot oncall
      df -h | DINGWIRE_WEBHOOK="$URL" DINGWIRE_SECRET="$SECRET" dingwire send text -
      dingwire run --robot ops --on failure -- ./nightly-backup.sh

    \b
    The robot comes from --robot NAME (a config file robot; repeat it to send to several),
    --webhook URL [--secret S] (also dingtalk://SECRET@TOKEN), or the environment's
    DINGWIRE_WEBHOOK / DINGWIRE_SECRET.

    \b
    Exit status:
      0  delivered
      1  DingTalk refused the message (errcode and advice on stderr)
      2  usage or configuration error
      3  network error or timeout
      4  rate limited: the robot's budget, a DingTalk lockout, the org's quota
    With several robots, the worst of theirs: 2, then 1, then 3, then 4, then 0.
    """
    ctx.ensure_object(Invocation).config_file = config_file


def main(args: Iterable[str] | None = None) -> NoReturn:
    """The console script: ``dingwire ...`` (and ``python -m dingwire ...``)."""
    cli.main(list(args) if args is not None else None, prog_name="dingwire")
    raise AssertionError("unreachable: cli.main always exits")  # pragma: no cover
