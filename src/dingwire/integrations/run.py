"""Run a command as if dingwire were not there, then report how it went: ``dingwire run``.

Rules kept here:

- The command's output passes through as it comes (bytes, unbuffered on our side), while
  the last ``tail`` lines of stdout and stderr together are kept for the report, with
  terminal colours and carriage-return progress updates removed.
- The command's status is reported as a shell would: 128+N when a signal N killed it, 127
  when it could not be found, 126 when it could not be started.
- The report is markdown: the command, its exit status, how long it took, the host, and
  the tail of its output. Everything taken from the command is scrubbed (the caller's
  ``scrub`` masks the robot's token and secret, and any webhook token or sign), then
  escaped, so the output shows as written and mentions nobody. When it would not fit in
  one message of the robot it goes to, the oldest lines go first (:func:`fit_report`).

>>> outcome = run_command(["true"], tail=20)  # doctest: +SKIP
>>> robot.send(fit_report(outcome, robot, title="backup", host="db01"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from dingwire.core.messages import Markdown
    from dingwire.transport.base import BaseRobot

__all__ = [
    "Outcome",
    "TailBuffer",
    "clean_line",
    "compose_report",
    "fit_report",
    "format_duration",
    "run_command",
]

#: Longest line kept for the report, in characters; the rest is cut with "…".
MAX_LINE = 300
#: Longest command line shown in the report.
MAX_COMMAND = 600
#: The most of one line held while waiting for its end, in bytes.
_MAX_PARTIAL = 4096
#: How long to wait for the output pipes after the command exits: a background process it
#: started may hold them open, and the runner must not wait for that process too.
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
        """The lines kept, oldest first."""
        with self._lock:
            return list(self._lines)


@dataclass(frozen=True)
class Outcome:
    """How a command ended: its status as a shell reports it, how long it ran, its tail."""

    argv: tuple[str, ...]
    status: int
    duration: float
    tail: list[str] = field(default_factory=list)
    problem: str | None = None  # why it could not start

    @property
    def succeeded(self) -> bool:
        """True when the command exited 0."""
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


def run_command(
    argv: Sequence[str],
    *,
    tail: int,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
) -> Outcome:
    """Run ``argv`` with its output passing through live (to this process's stdout and
    stderr unless told otherwise); return how it ended, with the last ``tail`` lines."""
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
    sinks = (stdout or sys.stdout.buffer, stderr or sys.stderr.buffer)
    pumps = [
        threading.Thread(
            target=_pump, args=(process.stdout, sinks[0], buffer, "stdout"), daemon=True
        ),
        threading.Thread(
            target=_pump, args=(process.stderr, sinks[1], buffer, "stderr"), daemon=True
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


def fit_report(
    outcome: Outcome,
    robot: BaseRobot,
    *,
    title: str,
    host: str,
    scrub: Callable[[str], str],
) -> Markdown:
    """The report with as many of the last lines as fit in one message of ``robot`` (its
    keyword and default mentions included)."""
    from dingwire.core.errors import TooLargeError

    lines = list(outcome.tail)
    while True:
        report = compose_report(outcome, title=title, host=host, lines=lines, scrub=scrub)
        try:
            robot.body(report)
        except TooLargeError:
            if not lines:
                raise
            del lines[: max(1, len(lines) // 4)]  # the oldest quarter goes first
        else:
            return report
