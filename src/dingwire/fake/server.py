"""Running the fake: :class:`FakeServer` in a background thread, :func:`serve` in the foreground.

Rules kept here: the fake binds only where it is told (127.0.0.1 by default) and, for
:class:`FakeServer`, on a port the operating system picks, bound before the server starts so
that the URL is right and no other process can take the port in between; uvicorn runs with
httptools and uvloop when they are installed, without its access log (which would print
tokens and signs); stopping ends the page's live feeds first, so that shutdown never waits
on an open browser tab.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Self

from dingwire.core.errors import ConfigError
from dingwire.fake._extra import require_extra
from dingwire.fake.app import FakeApp, create_app
from dingwire.fake.config import FakeSettings, load_fake_config
from dingwire.fake.controls import FakeControls
from dingwire.fake.engine import FakeDingTalk, robot_label

if TYPE_CHECKING:
    import uvicorn

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "FakeServer", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

require_extra()  # uvicorn is imported when the server starts: say now if it is missing

# The request lines of ``serve`` go to the fake's loggers (``dingwire.fake.app``, …).
_fake_loggers = logging.getLogger(__name__.rpartition(".")[0])

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: one the system picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise ConfigError(f"the fake cannot listen on {host}:{port}: {error.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _uvicorn_server(app: FakeApp, *, log_level: str = "warning") -> uvicorn.Server:
    import uvicorn

    class _Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # An open page holds a live feed forever: end it, or shutdown would wait on it.
            app.broadcaster.close()
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level,
        access_log=False,  # it would print every token and sign
        lifespan="on",
        ws="none",
        loop="auto",  # uvloop when installed
        http="auto",  # httptools when installed
        timeout_graceful_shutdown=2,
        server_header=False,
    )
    return _Server(config)


class FakeServer(FakeControls):
    """The fake on a real port, served from a background thread.

    >>> with FakeServer() as server:                                 # doctest: +SKIP
    ...     ops = server.add_robot(secret=True)
    ...     dingwire.Robot(ops.webhook, ops.secret).send(dingwire.Text("hi"))
    ...     print(server.url, server.messages()[-1].text)
    """

    def __init__(
        self,
        settings: FakeSettings | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        config_path: str | os.PathLike[str] | None = None,
        log_requests: bool = False,
    ) -> None:
        if settings is None:
            settings = load_fake_config(config_path)
        self.fake = FakeDingTalk(settings)
        self.host = host
        self._port = port
        self._log_requests = log_requests
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._app: FakeApp | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        """The port the fake listens on (known once started)."""
        if self._socket is None:
            raise RuntimeError("the fake server is not running: call start() first")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the base of every webhook and of the page."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url

    def start(self) -> Self:
        """Start serving; returns once the fake answers."""
        if self._thread is not None:
            return self
        self._socket = _listen(self.host, self._port)
        ready = threading.Event()
        self._app = create_app(self.fake, log_requests=self._log_requests, on_ready=ready.set)
        self._server = _uvicorn_server(self._app)
        self._thread = threading.Thread(
            target=self._run, args=(self._server, self._socket), name="dingwire-fake", daemon=True
        )
        self._thread.start()
        if not ready.wait(_START_TIMEOUT) or self._error is not None:
            self.stop()
            raise RuntimeError(f"the fake server did not start: {self._error!r}")
        return self

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as error:  # reported by start() and stop()
            self._error = error

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        thread, server = self._thread, self._server
        if thread is None:
            return
        if server is not None:
            server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._thread is not None else "stopped"
        return f"FakeServer({where}, {len(self.fake.robots())} robots)"


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    config_path: str | os.PathLike[str] | None = None,
    *,
    quiet: bool = False,
) -> None:
    """Run the fake in the foreground until interrupted (what ``dingwire fake`` does).

    Loads ``config_path`` (no robots when ``None``: every token accepted), listens on
    ``host:port``, prints where, and logs one line per request (secrets masked) unless
    ``quiet``. Raises :class:`ConfigError` for a bad config file or a port it cannot bind.
    Returns after Ctrl-C / SIGTERM.
    """
    settings = load_fake_config(config_path)
    sock = _listen(host, port)
    loggers = _fake_loggers
    if not quiet and not any(getattr(h, "_dingwire_fake", False) for h in loggers.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        handler._dingwire_fake = True  # type: ignore[attr-defined]  # added once per process
        loggers.addHandler(handler)
        loggers.setLevel(logging.INFO)
        loggers.propagate = False
    fake = FakeDingTalk(settings)
    app = create_app(fake, log_requests=not quiet)
    server = _uvicorn_server(app)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}"
    robots = ", ".join(robot_label(r) for r in settings.robots) or "none: every token accepted"
    print(f"dingwire fake DingTalk on {url}/  (robots: {robots})", file=sys.stderr, flush=True)
    print(f"  webhook: {url}/robot/send?access_token=TOKEN", file=sys.stderr, flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled; stopping is the point
    finally:
        sock.close()
