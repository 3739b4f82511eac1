"""``dingwire fake``: the local DingTalk stand-in, in the foreground.

The fake (and the web framework under it) is imported only when this command runs, so the
rest of the command line never pays for it; without the ``fake`` extra installed the
command says which package to install instead of failing with an ImportError.
"""

from __future__ import annotations

import click

__all__ = ["fake"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,  # dingwire.fake.server.DEFAULT_PORT, without importing the fake for --help
    show_default=True,
    help="The port to listen on (0: any free port).",
)
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    help="The fake's own robots: [robots.TOKEN] tables with secret, keywords, ips, "
    "rate_limit, lockout. Without it, any token is accepted unchecked.",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not log each request.")
def fake(host: str, port: int, config_file: str | None, quiet: bool) -> None:
    """Run the local DingTalk stand-in (with a preview).

    It answers POST /robot/send the way DingTalk does (signatures, keywords, the size
    and rate limits), logs what it received at GET /api/messages, and shows each
    message as a group would at http://HOST:PORT/. Stop it with Ctrl-C.

    \b
    Examples:
      dingwire fake
      dingwire send text hello --webhook "http://127.0.0.1:8765/robot/send?access_token=t1"
      dingwire fake --config fake-robots.toml --host 0.0.0.0
    """
    try:
        from dingwire.fake.server import serve
    except ImportError as error:
        from dingwire.core.errors import ConfigError

        raise ConfigError(
            f"dingwire fake needs its extra ({error.name or error}): pip install 'dingwire[fake]'"
        ) from None
    serve(host, port, config_file, quiet=quiet)
