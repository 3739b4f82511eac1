"""``dingwire run``: run a command as if dingwire were not there, then report how it went.

Rules kept here:

- The robot is resolved before the command starts: a configuration error exits 2 and runs
  nothing, so a typo never costs a nightly job.
- The command's output passes through as it comes (bytes, unbuffered on our side), while
  the last ``--tail`` lines of stdout and stderr together are kept for the report, with
  terminal colours and carriage-return progress updates removed.
- ``dingwire run`` exits with the command's own status (128+N when a signal N killed it,
  127 when it could not be found, 126 when it could not be started), whatever happened to
  the report: a report that cannot be sent is said on stderr, and that is all.
- The report is markdown: the command, its exit status, how long it took, the host, and
  the tail of its output. Everything taken from the command is scrubbed of the robot's
  token and secret and of any webhook token or sign, then escaped, so the output shows as
  written. When it would not fit in one message, the oldest lines go first.
"""

from __future__ import annotations

import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

import click

from dingwire.cli._app import describe_error
from dingwire.cli._delivery import Delivery, delivery_options, say

if TYPE_CHECKING:
    from dingwire.core.messages import Markdown

__all__ = ["Outcome", "TailBuffer", "compose_report", "run", "run_command"]

#: Longest line kept for the report, in characters; the rest is cut with "…".
MAX_LINE = 300
#: Longest command line shown in the report.
MAX_COMMAND = 600
#: The most of one line held while waiting for its end, in bytes.
_MAX_PARTIAL = 4096
#: How long to wait for the output pipes after the command exits: a background process it
#: started may hold them open, and `run` must not wait for that process too.
_DRAIN_SECONDS = 2.0

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def clean_line(raw: bytes) -> str:
    """A line of output as a person saw it last: decoded, no colours, last ``\\r`` update."""
    text = _ANSI.sub("", raw.decode("utf-8", "replace")).rstrip("\r")
    text = text.rsplit("\r", 1)[-1]
    return "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in text)


class TailBuffer:
    """The last ``size`` lines written to it, from any number of streams, thread-safe."""

    def __init__(self, size: int) -> None:
        self._lines: deque[str] = deque(maxlen=size)
        self._partial: dict[str, bytearray] = {}
        self._lock = threading.Lock()

    def feed(self, stream: str, chunk: bytes) -> None:
        """Add ``chunk`` of ``stream``'s output (lines may span chunks)."""
        with self._lock:
            partial = self._partial.setdefault(stream, bytearray())
            *complete, rest = chunk.split(b"\n")
            for piece in complete:
                partial += piece
                self._lines.append(clean_line(bytes(partial[:_MAX_PARTIAL])))
                partial.clear()
            room = _MAX_PARTIAL - len(partial)
            if room > 0:
                partial += rest[:room]

    def close(self, stream: str) -> None:
        """``stream`` ended: keep its unfinished last line."""
        with self._lock:
            partial = self._partial.pop(stream, bytearray())
            if partial:
                self._lines.append(clean_line(bytes(partial)))

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)


@dataclass(frozen=True)
class Outcome:
    """How a command ended."""

    argv: tuple[str, ...]
    status: int
    duration: float
    tail: list[str] = field(default_factory=list)
    problem: str | None = None  # why it could not start

    @property
    def succeeded(self) -> bool:
        return self.status == 0

    def describe(self) -> str:
        """``succeeded``, ``failed (exit 3)``, ``killed by SIGTERM``, ``could not start: …``."""
        if self.problem:
            return f"could not start: {self.problem}"
        if self.status == 0:
            return "succeeded"
        if self.status > 128:
            import signal

            try:
                name = signal.Signals(self.status - 128).name
            except ValueError:
                name = None
            if name:
                return f"killed by {name} (exit {self.status})"
        return f"failed (exit {self.status})"


def _pump(source: IO[bytes], sink: IO[bytes], tail: TailBuffer, stream: str) -> None:
    import os

    fd = source.fileno()
    writable = True
    try:
        while chunk := os.read(fd, 65536):
            tail.feed(stream, chunk)
            if writable:
                try:
                    sink.write(chunk)
                    sink.flush()
                except (OSError, ValueError):
                    # Our own stdout is gone (`dingwire run ... | head`): keep reading,
                    # so that the command never blocks on a full pipe.
                    writable = False
    finally:
        tail.close(stream)
        source.close()


def run_command(argv: Sequence[str], *, tail: int) -> Outcome:
    """Run ``argv`` with its output passing through live; return how it ended."""
    import subprocess
    import time

    started = time.monotonic()
    try:
        process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        return Outcome(tuple(argv), 127, 0.0, problem=f"{argv[0]}: command not found")
    except OSError as error:
        return Outcome(tuple(argv), 126, 0.0, problem=f"{argv[0]}: {error.strerror or error}")
    buffer = TailBuffer(tail)
    assert process.stdout is not None
    assert process.stderr is not None
    pumps = [
        threading.Thread(
            target=_pump,
            args=(process.stdout, sys.stdout.buffer, buffer, "stdout"),
            daemon=True,
        ),
        threading.Thread(
            target=_pump,
            args=(process.stderr, sys.stderr.buffer, buffer, "stderr"),
            daemon=True,
        ),
    ]
    for pump in pumps:
        pump.start()
    status: int | None = None
    while status is None:
        try:
            status = process.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached the command too (same process group): report how it ends.
            continue
    duration = time.monotonic() - started
    for pump in pumps:
        pump.join(_DRAIN_SECONDS)
    if status < 0:
        status = 128 - status  # killed by signal -status, as a shell reports it
    return Outcome(tuple(argv), status, duration, buffer.lines())


def format_duration(seconds: float) -> str:
    """``0.42 s``, ``12.3 s``, ``2 min 5 s``, ``1 h 02 min``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compose_report(
    outcome: Outcome,
    *,
    title: str,
    host: str,
    lines: Sequence[str],
    scrub: Callable[[str], str],
) -> Markdown:
    """The report for ``outcome``, showing ``lines`` of its output.

    ``scrub`` masks secrets; it runs on everything taken from the command before escaping.
    """
    import shlex

    from dingwire.content import escape_markdown
    from dingwire.core.messages import Markdown

    def show(text: str, limit: int) -> str:
        return escape_markdown(_cut(scrub(text), limit))

    mark = "✅" if outcome.succeeded else "❌"
    verdict = outcome.describe()
    shown_title = _cut(scrub(title), 80)
    body = [
        f"#### {mark} {escape_markdown(shown_title)} {escape_markdown(verdict)}",
        f"- **Command:** {show(shlex.join(outcome.argv), MAX_COMMAND)}\n"
        f"- **Exit status:** {outcome.status}\n"
        f"- **Duration:** {format_duration(outcome.duration)}\n"
        f"- **Host:** {show(host, 120)}",
    ]
    if lines:
        count = f"last {len(lines)} lines" if len(lines) > 1 else "last line"
        body.append(f"**Output ({count}):**")
        # A hard break (two spaces) per line keeps the lines in one quote: DingTalk joins
        # single newlines, and blank lines would make every line its own quote.
        body.append("  \n".join(f"> {show(line, MAX_LINE) or ' '}" for line in lines))
    elif not outcome.problem:
        body.append("*(no output)*")
    return Markdown(f"{mark} {shown_title} {verdict}", "\n\n".join(body))


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--title", help="Name the job in the report. Default: the command's name.")
@click.option(
    "--on",
    "report_on",
    type=click.Choice(["always", "failure"]),
    default="always",
    show_default=True,
    help="Report every run, or only runs that fail.",
)
@click.option(
    "--tail",
    type=click.IntRange(0, 200),
    default=20,
    show_default=True,
    metavar="N",
    help="How many of the last lines of output the report shows.",
)
@delivery_options(dry_run_help="Run the command, then print the report instead of sending it.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def run(
    ctx: click.Context,
    title: str | None,
    report_on: str,
    tail: int,
    command: tuple[str, ...],
    delivery: Delivery,
) -> None:
    """Run a command, then report its outcome to a robot.

    The command's output passes through as it runs; then the robot gets the command,
    its exit status, how long it took, the host and the last lines of output.
    dingwire run exits with the command's own status, also when the report cannot be
    sent (that is said on stderr). Put -- before the command when it has options.

    \b
    Examples:
      dingwire run --robot ops -- ./nightly-backup.sh --full
      dingwire run --robot ci --on failure --title "integration tests" -- make test
    """
    import os
    import socket

    delivery.robot  # noqa: B018 - resolve it now: a bad robot must not cost a run
    outcome = run_command(command, tail=tail)
    if outcome.problem:
        click.echo(f"dingwire: {outcome.problem}", err=True)
    if report_on == "always" or not outcome.succeeded:
        name = title or os.path.basename(command[0])
        try:
            report = fit_report(outcome, delivery, title=name, host=socket.gethostname())
            delivery.deliver(report, verb="reported")
        except Exception as error:
            # Whatever went wrong, the command's status is what the caller gets.
            delivery.invocation.show_traceback(error)
            text = delivery.invocation.scrub(describe_error(error))
            say(f"the report was not sent: {text}")
    ctx.exit(outcome.status)


def fit_report(outcome: Outcome, delivery: Delivery, *, title: str, host: str) -> Markdown:
    """The report with as many of the last lines as fit in one message."""
    from dingwire.core.errors import TooLargeError

    lines = list(outcome.tail)
    while True:
        report = compose_report(
            outcome, title=title, host=host, lines=lines, scrub=delivery.invocation.scrub
        )
        try:
            delivery.robot.body(report)
        except TooLargeError:
            if not lines:
                raise
            del lines[: max(1, len(lines) // 4)]  # the oldest quarter goes first
        else:
            return report
