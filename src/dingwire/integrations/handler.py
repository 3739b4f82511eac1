"""``DingTalkHandler``: a logging handler that tells a DingTalk group, never stalling the app.

::

    import logging
    from dingwire.integrations.handler import DingTalkHandler

    logging.getLogger().addHandler(DingTalkHandler("ops"))   # a robot of dingwire.toml
    logging.getLogger(__name__).error("disk full on %s", "db-1")   # returns at once

Rules kept here:

- **The application never waits and never sees an error.** ``emit`` formats the record's
  message, appends it to a bounded in-memory queue and returns: no I/O, no budget, no
  traceback formatting. When the queue is full the oldest record goes, and is counted: the
  next message says ``N records dropped``. One daemon thread per handler (started by the
  first record, and again in a forked child) does everything else.
- **A storm becomes a few digests.** Records arriving within ``window`` seconds of the first
  one go as one markdown message. Repeats fold into one entry with their count (``× 50``):
  records are the same when their message template (``record.msg``), exception type and
  place (file and line) are. The digest holds as many entries as fit DingTalk's 20,000
  bytes, as the robot itself measures a body (its keyword and default mentions included);
  the rest goes in the next one.
- **Within the robot's budgets.** A digest goes only when the robot's budget has a slot
  (``budget_state`` first, then ``send(block=False)``): while the budget, a lockout or the
  organisation's quota holds, records keep folding into the next digest, so the handler
  never sends into a spent window and DingTalk never answers it 130101.
- **Shown as written.** Logger, level, time, host, process and traceback are shown; every
  value taken from a record is escaped (:func:`dingwire.content.escape_markdown`), so a log
  line cannot format the message, link anywhere or mention anyone. A traceback keeps its
  first line and its last :data:`MAX_TRACEBACK_LINES` lines, each line at most
  :data:`MAX_LINE` characters, and shrinks further when an entry would not fit alone.
- **Its own failures** are reported the way :meth:`logging.Handler.handleError` reports
  (on stderr, and only when ``logging.raiseExceptions``), at most once a minute while a
  failure lasts, at once when it changes. Records logged from a sending thread
  (dingwire's own waits and retries) are never taken in, by this handler or another: no
  loop, whatever the levels.
  Transient failures (network, HTTP 5xx, errcode -1) are retried with backoff, keeping the
  records; permanent refusals (310000, 300005, 400xxx) drop the digest they refused.
- **Flushed at the end.** ``close()`` sends what is left, waiting for the budget at most
  ``timeout`` seconds in all, and returns within it; ``logging.shutdown`` (which runs at
  interpreter exit) and an ``atexit`` hook of this module call it.
- **A relay instead** (``relay="http://127.0.0.1:8060"``): digests go to the relay's
  ``POST /v1/robots/{robot}/messages`` as ``{"title", "markdown"}``; it stores them
  durably and keeps the budgets. A 5xx or no answer is retried like a network failure.

Everything is configurable from :func:`logging.config.dictConfig` (strings are fine:
``window: "2s"``, ``level: ERROR``)::

    "handlers": {"dingtalk": {"class": "dingwire.integrations.handler.DingTalkHandler",
                              "robot": "ops", "level": "ERROR", "window": "2s"}}
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import re
import socket
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dingwire.core.errors import (
    BadResponseError,
    ConfigError,
    ConnectError,
    DingwireError,
    RateLimitedError,
)
from dingwire.core.limits import MAX_BODY_BYTES
from dingwire.core.policy import RetryPolicy, parse_duration
from dingwire.core.redact import mask_url

if TYPE_CHECKING:
    from dingwire.core.messages import Markdown
    from dingwire.transport.base import BaseRobot
    from dingwire.transport.robots import Robot

__all__ = [
    "MAX_LINE",
    "MAX_TRACEBACK_LINES",
    "DingTalkHandler",
    "clean_text",
    "quote_lines",
    "resolve_robot",
    "trim_traceback",
]

#: The most lines of a traceback shown: its first line and the last ones.
MAX_TRACEBACK_LINES = 40
#: Longest line of a traceback or message shown, in characters; the rest is cut with "…".
MAX_LINE = 300
#: Longest log message shown, in characters.
MAX_MESSAGE = 2000
#: DingTalk's body limit, and what the handler leaves free below it for a relay's additions.
MAX_BODY = MAX_BODY_BYTES
RELAY_MARGIN = 1_000
#: Failures of the handler itself are reported at most this often (seconds) while they last.
REPORT_EVERY = 60.0
#: Backoff after a transient failure: from BACKOFF_BASE doubling up to BACKOFF_CAP seconds.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0

_LEVEL_MARK = {logging.CRITICAL: "🔥", logging.ERROR: "🔴", logging.WARNING: "⚠️"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_RETRY = RetryPolicy()
# How an entry too large for a message on its own is shortened, step by step:
# (traceback lines, message characters).
_SHRINK = ((20, MAX_MESSAGE), (10, MAX_MESSAGE), (4, 1000), (0, 500), (0, 100))

# Idents of the threads that send for any DingTalkHandler: records they log (dingwire's
# retries and waits) are not taken in, so that no handler feeds on its own sending.
_SENDERS: set[int] = set()
_LIVE: weakref.WeakSet[DingTalkHandler] = weakref.WeakSet()


# -- robots ---------------------------------------------------------------------------------


def resolve_robot(
    robot: str | BaseRobot | None,
    *,
    secret: str | None = None,
    config: str | os.PathLike[str] | None = None,
) -> Robot:
    """The :class:`~dingwire.Robot` that ``robot`` names.

    - a :class:`~dingwire.Robot`: itself;
    - a string with ``://``: a webhook URL (``https://…``, ``dingtalk://SECRET@TOKEN``),
      with ``secret`` when it signs;
    - another string: the robot of that name in the config file (``config``, else the one
      :data:`dingwire.config.CONFIG_FILES` finds);
    - ``None``: the default robot: ``DINGWIRE_WEBHOOK`` / ``DINGWIRE_SECRET``, else the
      config file's ``[robots.default]``.

    Raises :class:`ConfigError` saying what is missing or wrong.
    """
    from dingwire.config import RobotChoice, choose_robots, webhook_settings
    from dingwire.transport.base import BaseRobot
    from dingwire.transport.robots import Robot

    if isinstance(robot, Robot):
        if secret is not None:
            raise ConfigError("secret: give it to the Robot itself, not beside it")
        return robot
    if isinstance(robot, BaseRobot):
        raise ConfigError(
            f"robot: expected a dingwire.Robot (the handler sends from a thread), "
            f"got {type(robot).__name__}"
        )
    if robot is None:
        if secret is not None:
            raise ConfigError("secret: needs robot= (a webhook URL) beside it")
        choices = choose_robots(path=config)
        if not choices:
            from dingwire.config import CONFIG_LOOKUP

            raise ConfigError(
                "no robot: give robot= (a robot's name or webhook URL), set DINGWIRE_WEBHOOK "
                f"(and DINGWIRE_SECRET), or configure [robots.default] in {CONFIG_LOOKUP}"
            )
        return choices[0].make()
    if not isinstance(robot, str) or not robot.strip():
        raise ConfigError(
            "robot: expected a robot's name, a webhook URL or a dingwire.Robot, "
            f"got {'an empty string' if isinstance(robot, str) else type(robot).__name__}"
        )
    if "://" in robot:
        choice = RobotChoice(None, "robot=", webhook_settings(robot, secret, secret_from="secret"))
        return choice.make()
    if secret is not None:
        raise ConfigError(f"secret: the robot {robot!r} of the config file has its own secret")
    return choose_robots([robot.strip()], path=config)[0].make()


# -- what a message shows -------------------------------------------------------------------


def clean_text(text: str, limit: int) -> str:
    """``text`` fit for a message: no lone surrogate (U+FFFD instead), cut to ``limit``
    characters with "…"."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _SURROGATE.sub("\ufffd", text) if not text.isascii() else text


def trim_traceback(text: str, max_lines: int = MAX_TRACEBACK_LINES) -> list[str]:
    """The lines of a traceback worth showing: the first (``Traceback …``) and the last
    ones (where it failed, and the error), at most ``max_lines`` in all, each cut to
    :data:`MAX_LINE` characters."""
    lines = [line for line in text.rstrip().splitlines() if line.strip()]
    if max_lines <= 0 or not lines:
        return []
    if len(lines) > max_lines:
        if max_lines < 3:
            lines = lines[-max_lines:]
        else:
            left_out = len(lines) - (max_lines - 1)
            lines = [lines[0], f"… {left_out} lines left out …", *lines[-(max_lines - 2) :]]
    return [clean_text(line, MAX_LINE) for line in lines]


def quote_lines(lines: Iterable[str]) -> str:
    """Lines shown as written in one markdown quote (escaped; a hard break between them:
    DingTalk joins single newlines)."""
    from dingwire.content import escape_markdown

    return "  \n".join(f"> {escape_markdown(line) or ' '}" for line in lines)


def _local_time(moment: float, fmt: str = "%H:%M:%S") -> str:
    return time.strftime(fmt, time.localtime(moment))


@dataclass(eq=False)
class _Entry:
    """One distinct record and its repeats."""

    key: tuple[Any, ...]
    record: logging.LogRecord
    message: str
    count: int = 1
    last: float = 0.0
    _traceback: str | None = field(default=None, repr=False)

    def traceback(self) -> str:
        """The record's traceback text (and stack), formatted once, on the sending thread."""
        if self._traceback is None:
            record = self.record
            parts = []
            try:
                if record.exc_text:
                    parts.append(record.exc_text)
                elif record.exc_info and record.exc_info[0] is not None:
                    import traceback

                    parts.append("".join(traceback.format_exception(*record.exc_info)))
                if record.stack_info:
                    parts.append(record.stack_info)
            except Exception as error:  # a broken __str__ must not lose the record
                parts.append(f"(the traceback could not be formatted: {type(error).__name__})")
            self._traceback = "\n".join(parts)
            # The frames are no longer needed: let them go.
            record.exc_info = None
        return self._traceback

    def render(self, max_lines: int = MAX_TRACEBACK_LINES, max_message: int = MAX_MESSAGE) -> str:
        """This entry as a markdown block."""
        from dingwire.content import escape_markdown

        record = self.record
        place = f"{os.path.basename(record.pathname)}:{record.lineno}"
        if record.funcName and record.funcName != "<module>":
            place += f" in {record.funcName}"
        head = [
            f"**{escape_markdown(record.levelname)}**",
            escape_markdown(clean_text(record.name, 120)),
            _local_time(record.created),
            escape_markdown(clean_text(place, 200)),
        ]
        if self.count > 1:
            head.append(f"**× {self.count}** until {_local_time(self.last)}")
        block = [" · ".join(head)]
        message = escape_markdown(clean_text(self.message, max_message), line_breaks=True)
        block.append(message.strip() or "(empty message)")
        lines = trim_traceback(self.traceback(), max_lines)
        text = "  \n".join(block)
        if lines:
            text += "\n\n" + quote_lines(lines)
        return text


def _key(record: logging.LogRecord, message: str) -> tuple[Any, ...]:
    """What makes records the same: template, exception type, place."""
    template = record.msg if isinstance(record.msg, str) else message
    exc = record.exc_info[0].__qualname__ if record.exc_info and record.exc_info[0] else None
    return (template, exc, record.pathname, record.lineno)


@dataclass(frozen=True)
class _Digest:
    """One message of the handler: the markdown, and how many entries it carries."""

    message: Markdown
    entries: int
    records: int


def _compose_digest(
    entries: Sequence[_Entry],
    *,
    title: str,
    host: str,
    pid: int,
    dropped: int,
    size: Callable[[Markdown], int],
    limit: int = MAX_BODY,
) -> _Digest:
    """The next message for ``entries``: as many of them, in order, as fit ``limit`` bytes
    measured by ``size`` (a body's bytes); the first one always, its traceback and message
    shortened until it fits."""
    from dingwire.content import escape_markdown
    from dingwire.content.size import json_size
    from dingwire.core.messages import Markdown

    def message_for(blocks: list[str], used: list[_Entry], more: int) -> Markdown:
        records = sum(e.count for e in used)
        level = max(e.record.levelno for e in used)
        first = clean_text(" ".join(used[0].message.split()), 80) or "(empty message)"
        count = f" ×{records}" if records > 1 else ""
        heading_title = clean_text(title, 100)
        mark = _LEVEL_MARK.get(level, "ℹ️")
        what = f"{records} log record{'s' if records > 1 else ''}"
        if len(used) > 1:
            what += f", {len(used)} distinct"
        parts = [
            f"#### {mark} {escape_markdown(heading_title)}: {what}",
            f"**Host:** {escape_markdown(clean_text(host, 120))} · **PID:** {pid} · "
            f"{_local_time(used[0].record.created, '%Y-%m-%d %H:%M:%S %Z')}",
        ]
        if dropped:
            parts.append(
                f"*{dropped} record{'s' if dropped > 1 else ''} dropped: the queue was full*"
            )
        parts.extend(blocks)
        if more:
            parts.append(
                f"*{more} more distinct record{'s' if more > 1 else ''} in the next message*"
            )
        name = logging.getLevelName(level)
        return Markdown(clean_text(f"[{name}{count}] {title}: {first}", 120), "\n\n".join(parts))

    blocks: list[str] = []
    used: list[_Entry] = []
    # A cheap running estimate first (the frame, then each block's JSON bytes), then the
    # robot's own measure of the whole body decides.
    frame = size(message_for(["x"], [entries[0]], len(entries))) + 120
    total = frame
    for entry in entries:
        block = entry.render()
        cost = json_size(block) + 4  # and the "\n\n" before it
        if used and total + cost > limit:
            # The estimate is on the safe side: the exact measure has the last word.
            exact = size(message_for([*blocks, block], [*used, entry], len(entries)))
            if exact > limit:
                break
            cost = exact - total
        blocks.append(block)
        used.append(entry)
        total += cost
    while True:
        message = message_for(blocks, used, len(entries) - len(used))
        if size(message) <= limit:
            return _Digest(message, len(used), sum(e.count for e in used))
        if len(used) > 1:
            blocks.pop()
            used.pop()
            continue
        # One entry too large on its own: fewer traceback lines, then a shorter message.
        for max_lines, max_message in _SHRINK:
            blocks[0] = used[0].render(max_lines, max_message)
            message = message_for(blocks, used, len(entries) - 1)
            if size(message) <= limit:
                return _Digest(message, 1, used[0].count)
        raise DingwireError("a log record does not fit in a message even trimmed")


# -- the handler ----------------------------------------------------------------------------


@dataclass
class _Outcome:
    """How an attempt went: ``sent`` (``entries`` of them), or the budget holds ``wait``
    seconds, or ``error`` (``permanent``: its ``entries`` are dropped; else retried later)."""

    sent: bool = False
    entries: int = 0
    wait: float | None = None
    error: BaseException | None = None
    permanent: bool = False

    def error_retry_after(self) -> float:
        retry_after = getattr(self.error, "retry_after", None)
        return float(retry_after) if isinstance(retry_after, int | float) else 0.0


class DingTalkHandler(logging.Handler):
    """Sends log records to a DingTalk robot as digests, from a background thread.

    ``robot`` is a robot's name in the config file, a webhook URL (``secret`` beside it
    when it signs), a :class:`~dingwire.Robot`, or ``None`` for the default robot
    (``DINGWIRE_WEBHOOK``, else ``[robots.default]``); ``config`` a config file to read
    instead of the usual lookup. ``window`` (seconds or ``"2s"``) is how long records are
    gathered into one message; ``max_queue`` how many records wait at most (the oldest are
    dropped and counted beyond it); ``title`` names the application in each message
    (default: the program's name and the host); ``timeout`` how long ``close()`` may
    take to send what is left.

    ``relay`` (``"http://127.0.0.1:8060"``) hands the digests to a running relay instead,
    as the robot named ``robot`` there; ``relay_token`` is its bearer token.

    A robot that cannot be built (an unknown name, a bad URL) raises :class:`ConfigError`
    here, when logging is configured, not at the first error.
    """

    def __init__(
        self,
        robot: str | BaseRobot | None = None,
        level: int | str = logging.ERROR,
        *,
        secret: str | None = None,
        window: float | str = 2.0,
        max_queue: int = 1000,
        title: str | None = None,
        timeout: float | str = 10.0,
        relay: str | None = None,
        relay_token: str | None = None,
        config: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(level)
        self.window = parse_duration(window, name="window", maximum=3600)
        self.timeout = parse_duration(timeout, name="timeout", maximum=3600)
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ConfigError(f"max_queue: expected a whole number from 1 up, got {max_queue!r}")
        self.max_queue = max_queue
        self.host = socket.gethostname()
        program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
        self.title = title if title else f"{program or 'python'} on {self.host}"
        self._relay: str | None = None
        self._relay_token = relay_token
        self._robot: Robot | None = None
        if relay is not None:
            self._relay, self.robot_name = _relay_target(relay, robot, secret)
        else:
            self._robot = resolve_robot(robot, secret=secret, config=config)
            self.robot_name = self._robot.name or "robot"
        self._rng = random.Random()
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        """A fresh queue and no thread (at construction, and in a forked child)."""
        self._cond = threading.Condition(self.lock)
        self._queue: deque[tuple[logging.LogRecord, str]] = deque()
        self._dropped = 0
        self._thread: threading.Thread | None = None
        self._idle = False
        self._closing = False
        self._closed = False
        self._flush = False
        self._deadline = 0.0
        self._unsent = 0

    def __repr__(self) -> str:
        target = f"relay {mask_url(self._relay)}" if self._relay else repr(self._robot)
        return f"<DingTalkHandler {target} ({logging.getLevelName(self.level)})>"

    # -- the application's side: never blocks, never raises ----------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Queue ``record`` for the sending thread; returns at once."""
        try:
            if threading.get_ident() in _SENDERS or self._closed:
                return
            message = record.getMessage()
            with self._cond:
                if self._thread is None:
                    self._start()
                queue = self._queue
                if len(queue) >= self.max_queue:
                    queue.popleft()
                    self._dropped += 1
                queue.append((record, message))
                if self._idle or len(queue) == self.max_queue // 2:
                    self._idle = False
                    self._cond.notify()
        except Exception:
            self.handleError(record)

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name="dingwire-handler", daemon=True)
        self._thread = thread
        thread.start()

    def flush(self) -> None:
        """Send what is queued now, without waiting for the window to end (returns at once)."""
        with self._cond:
            self._flush = True
            self._cond.notify()

    def close(self) -> None:
        """Send what is left (within ``timeout`` seconds in all), then stop."""
        with self._cond:
            if self._closed:
                return
            self._closing = True
            self._deadline = time.monotonic() + self.timeout
            thread = self._thread
            self._cond.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.timeout)
            if thread.is_alive() and self._unsent:
                self._report_loss(self._unsent, "were still unsent when close() timed out")
        with self._cond:
            self._closed = True
        _LIVE.discard(self)
        super().close()

    # -- the sending thread -------------------------------------------------------------

    def _run(self) -> None:
        ident = threading.get_ident()
        _SENDERS.add(ident)
        try:
            self._loop()
        except Exception:
            # A bug here must not pass silently; the application goes on anyway.
            self.handleError(logging.makeLogRecord({"msg": "DingTalkHandler stopped"}))
        finally:
            _SENDERS.discard(ident)

    def _loop(self) -> None:
        pending: dict[tuple[Any, ...], _Entry] = {}
        dropped = 0
        since: float | None = None  # when the oldest unsent record came (monotonic)
        not_before = 0.0  # the budget or a backoff holds until then (monotonic)
        failures = 0
        reported = -REPORT_EVERY
        told: tuple[type[BaseException], str] | None = None
        while True:
            with self._cond:
                while True:
                    taken, lost = self._take(pending)
                    dropped += lost
                    if taken and since is None:
                        since = time.monotonic()
                    self._unsent = sum(e.count for e in pending.values()) + len(self._queue)
                    now = time.monotonic()
                    if self._closing:
                        if not pending:
                            return
                        due = max(now, not_before)
                        if due > self._deadline:
                            if not self._closed:  # else close() has said it already
                                self._report_loss(self._unsent, "could not be sent before close()")
                            return
                    elif not pending:
                        self._idle = True
                        self._flush = False  # nothing was left to flush
                        self._cond.wait()
                        continue
                    else:
                        assert since is not None
                        due = max(not_before, now if self._flush else since + self.window)
                    if now >= due:
                        self._flush = False
                        break
                    self._cond.wait(due - now)
            # Outside the lock: the application's records keep coming meanwhile.
            entries = list(pending.values())
            outcome = self._attempt(entries, dropped)
            now = time.monotonic()
            if outcome.sent or outcome.permanent:
                # Sent, or refused for good: those entries are done either way.
                for entry in entries[: outcome.entries]:
                    del pending[entry.key]
                if outcome.sent:
                    dropped = 0
                failures = 0
                since = now if pending else None
            elif outcome.error is not None and outcome.wait is None:
                failures += 1
                ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1))
                outcome.wait = max(
                    self._rng.uniform(ceiling / 2, ceiling), outcome.error_retry_after()
                )
            not_before = now + (outcome.wait or 0.0)
            if outcome.error is not None:
                # Told once a minute while a failure lasts, and at once when it changes.
                kind = (type(outcome.error), str(outcome.error))
                if kind != told or now - reported >= REPORT_EVERY:
                    reported, told = now, kind
                    self._report(outcome.error, entries[0].record)
            elif outcome.sent:
                told = None

    def _take(self, pending: dict[tuple[Any, ...], _Entry]) -> tuple[int, int]:
        """Fold the queued records into ``pending`` (under the lock); return how many were
        taken and how many were dropped (the queue's count, and distinct entries beyond
        ``max_queue``)."""
        queue = self._queue
        taken = len(queue)
        dropped, self._dropped = self._dropped, 0
        while queue:
            record, message = queue.popleft()
            key = _key(record, message)
            entry = pending.get(key)
            if entry is None:
                pending[key] = _Entry(key, record, message, last=record.created)
                if len(pending) > self.max_queue:
                    oldest = next(iter(pending))
                    dropped += pending.pop(oldest).count
            else:
                entry.count += 1
                entry.last = record.created
        return taken, dropped

    def _attempt(self, entries: list[_Entry], dropped: int) -> _Outcome:
        """Try to send the next digest of ``entries``."""
        robot = self._robot
        digest: _Digest | None = None
        try:
            if robot is not None:
                verdict = robot.budget_state()
                if not verdict.go:
                    # The minute budget holds: nothing failed, records keep folding. A
                    # lockout or a spent quota is worth telling (it came from elsewhere).
                    error = (
                        None if verdict.reason == "budget" else robot._refusal(verdict, time.time())
                    )
                    return _Outcome(wait=max(0.05, verdict.wait), error=error)
                size = _robot_size(robot)
            else:
                size = _relay_size
            digest = _compose_digest(
                entries,
                title=self.title,
                host=self.host,
                pid=os.getpid(),
                dropped=dropped,
                size=size,
                limit=MAX_BODY if robot is not None else MAX_BODY - RELAY_MARGIN,
            )
            if robot is not None:
                robot.send(digest.message, block=False)
            else:
                self._post_relay(digest.message)
            return _Outcome(sent=True, entries=digest.entries)
        except RateLimitedError as error:
            # Raced for the last slot, a lockout, DingTalk throttling anyway: wait it out.
            wait = max(0.05, error.retry_after or 1.0)
            return _Outcome(wait=wait, error=None if error.reason == "budget" else error)
        except DingwireError as error:
            if _RETRY.retryable(error):
                return _Outcome(error=error)
            count = digest.entries if digest is not None else 1
            return _Outcome(error=error, permanent=True, entries=count)
        except Exception as error:
            count = digest.entries if digest is not None else len(entries)
            return _Outcome(error=error, permanent=True, entries=count)

    # -- the relay ----------------------------------------------------------------------

    def _post_relay(self, message: Markdown) -> None:
        import urllib.error
        import urllib.request
        from urllib.parse import quote

        assert self._relay is not None
        url = f"{self._relay}/v1/robots/{quote(self.robot_name, safe='')}/messages"
        shown = mask_url(self._relay)
        body = json.dumps({"title": message.title, "markdown": message.text}, ensure_ascii=False)
        headers = {"Content-Type": "application/json"}
        if self._relay_token:
            headers["Authorization"] = f"Bearer {self._relay_token}"
        request = urllib.request.Request(url, body.encode(), headers, method="POST")
        # The relay is this host's or the network's: no proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=10) as reply:
                reply.read()
        except urllib.error.HTTPError as error:
            status = error.code
            reason = _relay_reason(error)
            retry_after = _seconds(error.headers.get("Retry-After"))
            if status == 429:
                raise RateLimitedError(
                    f"the relay at {shown} asks to slow down ({reason})",
                    retry_after=retry_after,
                    reason="lockout",
                ) from None
            raise BadResponseError(
                f"the relay at {shown} answered HTTP {status}: {reason}",
                status=status,
                retry_after=retry_after,
            ) from None
        except (urllib.error.URLError, OSError) as error:
            why = getattr(error, "reason", error)
            raise ConnectError(f"the relay at {shown} cannot be reached: {why}") from None

    # -- reporting its own failures -----------------------------------------------------

    def _report(self, error: BaseException, record: logging.LogRecord) -> None:
        """Report ``error`` as :meth:`logging.Handler.handleError` does (stderr, when
        ``logging.raiseExceptions``)."""
        try:
            raise error
        except BaseException:
            self.handleError(record)

    def _report_loss(self, count: int, why: str) -> None:
        plural = "s" if count != 1 else ""
        error = DingwireError(f"DingTalkHandler: {count} log record{plural} {why}")
        self._report(error, logging.makeLogRecord({"msg": str(error)}))


def _robot_size(robot: Robot) -> Callable[[Markdown], int]:
    from dingwire.core.protocol import encode_body

    def size(message: Markdown) -> int:
        return len(encode_body(robot.payload(message)))

    return size


def _relay_size(message: Markdown) -> int:
    from dingwire.content.size import json_size

    return json_size(message.title) + json_size(message.text) + 30


def _relay_target(relay: str, robot: object, secret: str | None) -> tuple[str, str]:
    from urllib.parse import urlsplit

    if not isinstance(relay, str) or urlsplit(relay.strip()).scheme not in ("http", "https"):
        raise ConfigError(
            f"relay: expected the relay's URL, like http://127.0.0.1:8060, got {relay!r}"
        )
    if secret is not None:
        raise ConfigError("secret: the relay knows its robots' secrets; leave secret out")
    if robot is None:
        robot = "default"
    if not isinstance(robot, str) or not robot.strip() or "://" in robot:
        raise ConfigError("robot: with relay=, the name of one of the relay's robots")
    return relay.strip().rstrip("/"), robot.strip()


def _relay_reason(error: Any) -> str:
    try:
        data = json.loads(error.read(4096) or b"{}")
        reason = data.get("error") if isinstance(data, dict) else None
    except Exception:
        reason = None
    return str(reason or error.reason or "no reason given")[:300]


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


# -- process life ---------------------------------------------------------------------------


def _close_all() -> None:
    for handler in list(_LIVE):
        handler.close()


def _after_fork() -> None:
    # The sending threads stayed in the parent: a child starts its own at its first record,
    # with an empty queue (the parent sends what it had).
    _SENDERS.clear()
    for handler in list(_LIVE):
        handler._reset()


atexit.register(_close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
