"""``dingwire serve``: one relay process — config, outbox, templates, metrics, dispatcher, app,
on uvicorn.

Rules kept here:

- Everything that can be wrong with the config is found before the port opens: the
  ``[relay]`` table, every template (the renderer compiles them; an error names file and
  line), the outbox URL, the address to listen on. A robot whose table is broken is logged
  and answered 503 (the sender retries until the config is fixed and reloaded).
- The socket is bound here, before uvicorn starts, so ``listen = "127.0.0.1:0"`` works and
  the URLs logged at start carry the real port. The intake URLs to paste into Alertmanager
  and Grafana are logged for every robot.
- SIGTERM (or Ctrl-C): the intake answers 503 at once, uvicorn stops accepting and lets the
  requests in flight finish (:data:`CONNECTIONS_GRACE`), then the lifespan gives the
  dispatcher :data:`DISPATCH_GRACE` to finish its sends; the rest stays queued. The process
  then exits 0, within 10 s of the signal.
- SIGHUP and ``POST /-/reload`` reload the config file and templates: all of it is loaded
  and checked first, and only then swapped in (intake, dispatcher, secret masking, log
  format); on any error the old one stays and the reason is logged. ``listen`` and
  ``queue`` take effect at the next start (said in the log when they changed).
- uvicorn runs with httptools and uvloop (when installed), one worker, without its access
  log: the intake is the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from dingwire.config import CONFIG_LOOKUP, Config, load_config
from dingwire.core.errors import ConfigError
from dingwire.relay.app import DispatcherLike, Intake, RendererLike, create_app
from dingwire.relay.logs import SecretFilter, config_secrets, configure_logging, set_log_format
from dingwire.relay.metrics import RelayMetrics
from dingwire.relay.outbox import Outbox
from dingwire.relay.settings import RelaySettings

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette

__all__ = [
    "CONNECTIONS_GRACE",
    "DISPATCH_GRACE",
    "Service",
    "build",
    "intake_urls",
    "parse_listen",
    "run",
]

log = logging.getLogger(__name__)

#: Seconds uvicorn lets the requests in flight finish after SIGTERM.
CONNECTIONS_GRACE = 3.0
#: Seconds the dispatcher then has to finish the sends in flight (3 + 5 < 10).
DISPATCH_GRACE = 5.0

LoadRenderer = Callable[[RelaySettings, Config], RendererLike]
MakeDispatcher = Callable[
    [RelaySettings, Config, Outbox, RelayMetrics, RendererLike], DispatcherLike
]
OpenOutbox = Callable[[str], Outbox]


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:8060"``, ``"[::1]:8060"``, ``":8060"`` (every interface, as
    prometheus-webhook-dingtalk writes it) → host and port."""
    text = listen.strip()
    host, colon, port_text = text.rpartition(":")
    expected = 'write it as "127.0.0.1:8060" (or "[::1]:8060", or ":8060" for every interface)'
    if not colon or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"[relay] listen: {text!r} is not an address with a port; {expected}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"[relay] listen: {text!r}: an IPv6 address goes in brackets; {expected}")
    return host or "0.0.0.0", int(port_text)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: a free one), or a ConfigError saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ConfigError(f"[relay] listen: cannot resolve {host!r}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"[relay] listen: cannot listen on {host}:{port}: {error.strerror}"
        ) from None
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    """``http://HOST:PORT`` for what ``sock`` listens on (this machine's name for a
    wildcard address, which is what a sender elsewhere would use)."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def intake_urls(base: str, robots: list[str]) -> list[str]:
    """The lines logged at start: per robot, the URL for Alertmanager, Grafana and curl."""
    lines = []
    for robot in robots:
        lines.append(
            f"robot {robot}: Alertmanager webhook_configs url: {base}/dingtalk/{robot}/send"
        )
        lines.append(
            f"robot {robot}: Grafana webhook contact point URL: {base}/v1/robots/{robot}/grafana"
        )
        lines.append(
            f"robot {robot}: messages (curl -d '{{\"text\": ...}}'): {base}/v1/robots/{robot}/messages"
        )
    return lines


def _default_renderer(settings: RelaySettings, config: Config) -> RendererLike:
    from dingwire.relay.render import Renderer

    return Renderer.load(settings, config)


def _default_dispatcher(
    settings: RelaySettings,
    config: Config,
    outbox: Outbox,
    metrics: RelayMetrics,
    renderer: RendererLike,
) -> DispatcherLike:
    from dingwire.relay.dispatcher import Dispatcher

    return Dispatcher(settings, config, outbox, metrics, renderer=renderer)


def _default_outbox(url: str) -> Outbox:
    from dingwire.relay.outbox import open_outbox

    return open_outbox(url)


@dataclass
class _Loaded:
    config: Config
    settings: RelaySettings
    renderer: RendererLike


def _warn_about_robots(config: Config) -> None:
    if not config.robots:
        log.warning("no robots are configured: every intake answers 404 (add [robots.NAME])")
    for name in sorted(config.robots):
        problem = config.problem(name)
        if problem is not None:
            log.error("robot %s cannot be used: %s (its intake answers 503)", name, problem.message)


class Service:
    """The parts of one relay process and what reloads them (see the module docstring).

    Built by :func:`build`; :meth:`serve` runs it on a socket until SIGTERM.
    """

    def __init__(
        self,
        config_path: Path | None,
        loaded: _Loaded,
        *,
        outbox: Outbox,
        metrics: RelayMetrics,
        dispatcher: DispatcherLike,
        load_renderer: LoadRenderer,
        masking: SecretFilter | None = None,
    ) -> None:
        self.config_path = config_path
        self.config = loaded.config
        self.settings = loaded.settings
        self.outbox = outbox
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.masking = masking
        self._load_renderer = load_renderer
        self._lock = asyncio.Lock()
        self._reloading: asyncio.Task[None] | None = None
        self.app: Starlette = create_app(
            loaded.settings,
            loaded.config,
            outbox=outbox,
            renderer=loaded.renderer,
            dispatcher=dispatcher,
            metrics=metrics,
            reload=self.reload,
            grace=DISPATCH_GRACE,
        )

    @property
    def intake(self) -> Intake:
        intake: Intake = self.app.state.intake
        return intake

    def _load(self) -> _Loaded:
        """Read and check the config file and compile its templates (in a worker thread)."""
        config = load_config(self.config_path)
        settings = RelaySettings.from_config(config)
        renderer = self._load_renderer(settings, config)
        return _Loaded(config, settings, renderer)

    async def reload(self) -> None:
        """Load the config file and templates again and serve with them; on any error keep
        the old ones and raise :class:`ConfigError` with the reason (file and line for a
        template)."""
        async with self._lock:
            try:
                loaded = await anyio.to_thread.run_sync(self._load)
            except ConfigError as error:
                log.error("reload refused, the previous configuration stays: %s", error.message)
                raise
            except Exception as error:  # a file that vanished, a bug in a template's loader
                log.exception("reload refused, the previous configuration stays")
                raise ConfigError(f"reload failed: {error}") from error
            old = self.settings
            for key in ("listen", "queue"):
                if getattr(loaded.settings, key) != getattr(old, key):
                    log.warning("[relay] %s changed: it takes effect when the relay restarts", key)
            self.dispatcher.reconfigure(loaded.settings, loaded.config, loaded.renderer)
            self.intake.reconfigure(loaded.settings, loaded.config, loaded.renderer)
            self.config, self.settings = loaded.config, loaded.settings
            if self.masking is not None:
                self.masking.update(config_secrets(loaded.config, loaded.settings))
                set_log_format(loaded.settings.log_format)
            _warn_about_robots(loaded.config)
            log.info(
                "reloaded %s: %d robots",
                self.config_path or "the configuration",
                len(loaded.config.robots),
            )

    def reload_from_signal(self) -> None:
        """SIGHUP: reload in the background (the outcome is logged)."""

        async def reload() -> None:
            with contextlib.suppress(ConfigError):  # logged by reload()
                await self.reload()

        task = asyncio.get_running_loop().create_task(reload())
        self._reloading = task  # keep a reference until it is done

    def uvicorn_server(self, sock: socket.socket) -> uvicorn.Server:
        """The uvicorn server for :attr:`app` (see the module docstring)."""
        import uvicorn

        service = self
        url = base_url(sock)

        class _Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                # Stop taking work at once; and exit 0 once drained, instead of uvicorn's
                # re-raising the signal at the end (which would kill the process with it).
                if not self.should_exit:
                    log.info(
                        "signal %s: draining (new work answered 503)", signal.Signals(sig).name
                    )
                service.intake.draining = True
                if self.should_exit:
                    self.force_exit = True
                self.should_exit = True

            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets)
                if self.should_exit:
                    return
                # Not in the main thread (tests) or not on Unix: POST /-/reload still works.
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    asyncio.get_running_loop().add_signal_handler(
                        signal.SIGHUP, service.reload_from_signal
                    )
                log.info(
                    "relay listening on %s (outbox %s, %d robots)",
                    url,
                    service.settings.queue,
                    len(service.config.robots),
                )
                for line in intake_urls(url, sorted(service.config.robots)):
                    log.info("%s", line)

        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="info",
            access_log=False,
            lifespan="on",
            ws="none",
            loop="auto",
            http="auto",
            timeout_graceful_shutdown=int(CONNECTIONS_GRACE),
            server_header=False,
            proxy_headers=False,  # nothing here reads the client's address: no X-Forwarded-*
            backlog=2048,
        )
        return _Server(config)

    def serve(self, sock: socket.socket) -> None:
        """Run on ``sock`` until SIGTERM or SIGINT; then drain and return."""
        server = self.uvicorn_server(sock)
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
            self.outbox.close()
        if not server.started:
            raise ConfigError("the relay did not start (the reason is logged above)")
        log.info("stopped; what was not sent stays queued in %s", self.settings.queue)


def build(
    config_path: str | Path | None,
    *,
    config: Config | None = None,
    load_renderer: LoadRenderer = _default_renderer,
    make_dispatcher: MakeDispatcher = _default_dispatcher,
    open_outbox: OpenOutbox = _default_outbox,
    masking: SecretFilter | None = None,
) -> Service:
    """Load and check everything ``config_path`` (or the usual lookup) describes and build
    the relay's parts; nothing is listening yet. Raises :class:`ConfigError`.

    ``config``: the file, already loaded. ``masking``: the filter :func:`configure_logging`
    returned, when this process logs as the relay (it then follows ``log_format`` and is
    fed the config's secrets, now and at every reload).
    """
    if config is None:
        config = load_config(config_path)
    settings = RelaySettings.from_config(config)
    if masking is not None:
        masking.update(config_secrets(config, settings))
        set_log_format(settings.log_format)
    renderer = load_renderer(settings, config)
    _warn_about_robots(config)
    outbox = open_outbox(settings.queue)
    try:
        metrics = RelayMetrics()
        dispatcher = make_dispatcher(settings, config, outbox, metrics, renderer)
        return Service(
            config.path,
            _Loaded(config, settings, renderer),
            outbox=outbox,
            metrics=metrics,
            dispatcher=dispatcher,
            load_renderer=load_renderer,
            masking=masking,
        )
    except BaseException:
        outbox.close()
        raise


def run(config_path: str | Path | None = None, **parts: Any) -> None:
    """``dingwire serve``: log as ``[relay] log_format`` says, build, bind, serve until
    SIGTERM. Raises :class:`ConfigError` for anything the operator must fix (before the
    port opens)."""
    masking = configure_logging("text")
    config = load_config(config_path)
    if config.path is None and not config.robots:
        # Nothing to relay to, and an outbox would appear in whatever directory this is.
        raise ConfigError(
            f"dingwire serve: no config file found (looked at {CONFIG_LOOKUP}): pass --config "
            "FILE, a TOML file with [robots.NAME] tables and a [relay] section "
            "(docs/relay.md shows one)"
        )
    settings = RelaySettings.from_config(config)
    host, port = parse_listen(settings.listen)
    sock = _bind(host, port)  # first: a port in use is the likeliest mistake
    try:
        service = build(config_path, config=config, masking=masking, **parts)
    except BaseException:
        sock.close()
        raise
    service.serve(sock)
