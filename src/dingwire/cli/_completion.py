"""``dingwire completion``: click's shell completion script for bash, zsh or fish.

The script calls ``dingwire`` back with ``_DINGWIRE_COMPLETE`` set; click answers those
calls before any command runs, so completing is as fast as ``dingwire --help``.
"""

from __future__ import annotations

import os

import click

__all__ = ["completion"]

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS), required=False)
@click.pass_context
def completion(ctx: click.Context, shell: str | None) -> None:
    """Print the shell completion script.

    SHELL is bash, zsh or fish; by default the one $SHELL names.

    \b
    Set it up once:
      bash:  echo 'eval "$(dingwire completion bash)"' >> ~/.bashrc
      zsh:   echo 'eval "$(dingwire completion zsh)"' >> ~/.zshrc
      fish:  dingwire completion fish > ~/.config/fish/completions/dingwire.fish
    """
    from click.shell_completion import get_completion_class

    if shell is None:
        shell = os.path.basename(os.environ.get("SHELL", ""))
        if shell not in SHELLS:
            raise click.UsageError("name the shell: dingwire completion bash|zsh|fish")
    complete = get_completion_class(shell)
    assert complete is not None  # click ships all three
    root = ctx.find_root().command
    click.echo(complete(root, {}, "dingwire", "_DINGWIRE_COMPLETE").source())
