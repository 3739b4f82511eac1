"""``dingwire config``: configuration tools. ``from-pwd`` converts a prometheus-webhook-dingtalk
``config.yml`` into a ``dingwire.toml`` (printed on stdout; warnings on stderr).

The conversion itself is :mod:`dingwire.relay.migrate`'s; this module only wires it. The
converted file holds the tokens and secrets the YAML held (it is a config file, meant for
``> dingwire.toml``); with ``--env-secrets`` it names environment variables instead. The
warnings never show a value, only key names.
"""

from __future__ import annotations

import sys

import click

__all__ = ["config", "from_pwd"]


@click.group()
def config() -> None:
    """Configuration tools (from-pwd: a prometheus-webhook-dingtalk config as TOML).

    \b
    Examples:
      dingwire config from-pwd /etc/prometheus-webhook-dingtalk/config.yml > dingwire.toml
    """


@config.command("from-pwd")
@click.argument(
    "config_yml", metavar="CONFIG.yml", type=click.Path(dir_okay=False, allow_dash=True)
)
@click.option(
    "--env-secrets",
    is_flag=True,
    help="Write each target's token and secret as a ${...} environment variable named "
    "after it (listed at the top) instead of their values.",
)
def from_pwd(config_yml: str, env_secrets: bool) -> None:
    """Print a dingwire.toml for a prometheus-webhook-dingtalk config.

    Each target becomes a [robots.NAME] table (url, secret, mention, the timeout);
    Alertmanager keeps its URLs, since the relay serves /dingtalk/NAME/send too. Go
    templates (templates:, default_message, a target's message) are listed in comments as
    needing a port to Jinja2; until then the relay's default template is used.

    \b
    Examples:
      dingwire config from-pwd /etc/prometheus-webhook-dingtalk/config.yml > dingwire.toml
      dingwire config from-pwd config.yml --env-secrets > dingwire.toml
    """
    from dingwire.relay.migrate import migrate_pwd, migrate_pwd_file

    if config_yml == "-":
        migration = migrate_pwd(sys.stdin.read(), source="<stdin>", env_secrets=env_secrets)
    else:
        migration = migrate_pwd_file(config_yml, env_secrets=env_secrets)
    click.echo(migration.toml, nl=False)
    for warning in migration.warnings:
        click.echo(f"dingwire: warning: {warning}", err=True)
    if migration.templates:
        click.echo(
            f"dingwire: {len(migration.templates)} Go template(s) to port to Jinja2: "
            "listed at the top of the output",
            err=True,
        )
