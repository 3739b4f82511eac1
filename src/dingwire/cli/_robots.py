"""``dingwire robots``: the robots a command could send through, and where each came from.

Rules kept here: every webhook is shown masked (the token keeps its last four characters,
so robots can be told apart) and a secret only as ``**********``; the listing reads the
same config file, with the same ``${VAR}`` expansion, that ``--robot NAME`` reads.
"""

from __future__ import annotations

import click

from dingwire.cli._app import Invocation

__all__ = ["robots"]


@click.command()
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    help="The config file to read (overrides dingwire --config).",
)
@click.pass_obj
def robots(invocation: Invocation, config_file: str | None) -> None:
    """List the configured robots, secrets masked.

    Robots come from the config file ([robots.NAME] tables) and from DINGWIRE_WEBHOOK /
    DINGWIRE_SECRET (listed as "default").

    \b
    Examples:
      dingwire robots
      dingwire --config ./ci/dingwire.toml robots
    """
    from dingwire.cli._delivery import CONFIG_LOOKUP, tokens
    from dingwire.config import load_config

    config = load_config(config_file or invocation.config_file)
    for robot in config.robots.values():
        # describe() masks; remembering them too keeps any other path from showing them.
        invocation.remember(robot.settings.get("secret"), *tokens(robot.settings.get("webhook")))
    where = str(config.path) if config.path else f"none found ({CONFIG_LOOKUP})"
    click.echo(f"config file: {where}")
    if not config.robots:
        click.echo("no robots configured: add a [robots.NAME] table with a webhook, or set")
        click.echo("DINGWIRE_WEBHOOK (and DINGWIRE_SECRET)")
        return
    width = max(len(name) for name in config.robots)
    for name, robot in config.robots.items():
        click.echo(f"{name:<{width}}  {invocation.mask_secrets(robot.describe())}")
        click.echo(f"{'':<{width}}  from {robot.source}")
