"""One line of Python to tell a group: ``notify`` and ``report_failures``.

::

    from dingwire.integrations.notify import notify, report_failures

    notify("backup finished")                              # the default robot
    notify("**3** files failed", title="backup", robot="ops")

    @report_failures(title="nightly import")               # or: with report_failures(...):
    def main() -> None: ...

Rules kept here:

- The robot is found as the handler finds it (:func:`~dingwire.integrations.handler.resolve_robot`):
  a name in the config file, a webhook URL, a :class:`~dingwire.Robot`, or by default
  ``DINGWIRE_WEBHOOK`` / ``DINGWIRE_SECRET``, else the config file's ``[robots.default]``.
  It is looked up when a message is sent, not when a decorator is applied, so importing a
  decorated module needs no configuration.
- ``notify`` sends as the robot sends: it waits for the minute budget, raises what DingTalk
  refuses, and sends a text too long for one message as numbered parts.
- ``report_failures`` sends the exception and its traceback (escaped, trimmed to fit one
  message), the host and the process, and then re-raises the exception, unchanged. A report
  that cannot be sent never hides the failure: the exception goes on with a note saying
  why the report did not go, and a warning is logged under this module's name. Only
  :class:`Exception`\\ s are reported: ``KeyboardInterrupt`` and ``SystemExit`` pass
  through. Async functions and ``async with`` are reported too (the send runs in a worker
  thread, off the event loop).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from dingwire.integrations.handler import (
    MAX_TRACEBACK_LINES,
    clean_text,
    quote_lines,
    resolve_robot,
    trim_traceback,
)

if TYPE_CHECKING:
    from dingwire.core.messages import Markdown
    from dingwire.core.protocol import SendResult
    from dingwire.transport.base import BaseRobot
    from dingwire.transport.robots import Robot

__all__ = ["notify", "report_failures"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def notify(
    text: str, *, robot: str | BaseRobot | None = None, title: str | None = None
) -> SendResult:
    """Send ``text`` through ``robot`` (the default robot when ``None``): a text message,
    or a markdown one titled ``title`` when a title is given. Returns DingTalk's result;
    raises what the robot raises (:class:`~dingwire.ConfigError` when no robot is found).

    >>> notify("deploy finished")                           # doctest: +SKIP
    >>> notify("**db-1** is back", title="db-1")            # doctest: +SKIP
    """
    from dingwire.core.messages import Markdown, Text

    message = Text(text) if title is None else Markdown(title, text)
    return resolve_robot(robot).send(message, split=True)


def failure_report(
    error: BaseException, *, title: str, robot: BaseRobot, host: str | None = None
) -> Markdown:
    """The markdown report of ``error``: what failed, where, and its traceback, within one
    message of ``robot`` (the traceback's oldest lines go first)."""
    import traceback

    from dingwire.content import escape_markdown
    from dingwire.core.errors import TooLargeError
    from dingwire.core.messages import Markdown

    host = host or socket.gethostname()
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    summary = f"{type(error).__name__}: {error}"
    text = "".join(traceback.format_exception(error))
    for max_lines, max_summary in ((MAX_TRACEBACK_LINES, 2000), (20, 1000), (4, 300), (0, 300)):
        shown = clean_text(summary, max_summary)
        parts = [
            f"#### ❌ {escape_markdown(clean_text(title, 100))}",
            f"- **Error:** {escape_markdown(shown)}\n"
            f"- **Host:** {escape_markdown(clean_text(host, 120))}\n"
            f"- **Process:** {escape_markdown(clean_text(program, 120))} (PID {os.getpid()})\n"
            f"- **Time:** {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        ]
        lines = trim_traceback(text, max_lines)
        if lines:
            parts.append(quote_lines(lines))
        report = Markdown(clean_text(f"{title}: {summary}", 120), "\n\n".join(parts))
        try:
            robot.body(report)
        except TooLargeError:
            continue
        return report
    raise TooLargeError("the failure report does not fit in one message")


class report_failures:
    """Report an exception to DingTalk, then re-raise it: a context manager and a decorator.

    ::

        with report_failures(title="nightly backup"):
            run_backup()

        @report_failures(robot="ops")
        async def sync_accounts() -> None: ...

    ``robot`` is found as :func:`notify` finds it, when a failure is reported; ``title``
    defaults to ``"<program> failed on <host>"``.
    """

    def __init__(self, robot: str | BaseRobot | None = None, *, title: str | None = None) -> None:
        self.robot = robot
        self.title = title

    # -- context manager ---------------------------------------------------------------

    def __enter__(self) -> report_failures:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, Exception):
            self._report(exc)
        # Returning None: the exception (if any) goes on as it was.

    async def __aenter__(self) -> report_failures:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, Exception):
            import asyncio

            await asyncio.to_thread(self._report, exc)

    # -- decorator -----------------------------------------------------------------------

    @overload
    def __call__(self, func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]: ...

    @overload
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, func: Callable[P, Any]) -> Callable[P, Any]:
        """``func`` with its failures reported (an ``async def`` stays one)."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                async with self:
                    return await func(*args, **kwargs)

            return run_async

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> Any:
            with self:
                return func(*args, **kwargs)

        return run

    # -- sending ---------------------------------------------------------------------------

    def _report(self, error: Exception) -> None:
        """Send the report of ``error``; a report that fails adds a note, never hides it."""
        try:
            robot: Robot = resolve_robot(self.robot)
            host = socket.gethostname()
            program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
            title = self.title or f"{program or 'python'} failed on {host}"
            robot.send(failure_report(error, title=title, robot=robot, host=host))
        except Exception as failure:
            why = f"{type(failure).__name__}: {failure}"
            logger.warning("the failure report could not be sent to DingTalk: %s", why)
            error.add_note(f"dingwire: the failure report could not be sent ({why})")
