"""``dingwire serve``: the relay, in the foreground.

The relay (Starlette, uvicorn, Jinja2, prometheus-client, aiohttp) is imported only when
this command runs; without the ``relay`` extra the command says which package is missing
and what to install, and exits 2, instead of failing with an ImportError.
"""

from __future__ import annotations

import click

from dingwire.cli._app import Invocation

__all__ = ["serve"]

INSTALL = "pip install 'dingwire[relay]'"


@click.command()
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    help="The config file to read (overrides dingwire --config): [robots.NAME] tables "
    "and the [relay] section.",
)
@click.pass_obj
def serve(invocation: Invocation, config_file: str | None) -> None:
    """Run the relay: Alertmanager and Grafana alerts in, budgeted messages out.

    It listens on [relay] listen (default 127.0.0.1:8060), stores every notification in
    the outbox ([relay] queue) before answering 202, and delivers it within each robot's
    rate limit and its org's quota, merging a backlog into digests. On start it logs the
    URLs to paste into Alertmanager and Grafana. SIGTERM drains and exits; SIGHUP (or
    POST /-/reload) reloads the config and templates.

    \b
    Examples:
      dingwire serve
      dingwire serve --config /etc/dingwire/dingwire.toml
      kill -HUP $(pidof dingwire)      # reload after editing the config
    """
    from dingwire.core.errors import ConfigError

    try:
        from dingwire.relay.serve import run
    except ModuleNotFoundError as error:
        top = (error.name or "").partition(".")[0]
        if not top or top == "dingwire":
            raise  # a module of dingwire's own is missing: a bug, shown as one
        raise ConfigError(
            f"dingwire serve needs the relay extra ({top} is not installed): {INSTALL}"
        ) from None
    run(config_file or invocation.config_file)
