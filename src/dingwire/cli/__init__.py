"""The ``dingwire`` command line: a click group and thin subcommands over the library.

``main`` is the console script (``dingwire``, and ``python -m dingwire``); ``cli`` is the
click group, for ``click.testing.CliRunner``. The commands, their options and the exit
statuses are documented in ``docs/cli.md`` and by ``dingwire --help``:
0 delivered, 1 refused by DingTalk, 2 usage or configuration error, 3 network error or
timeout, 4 rate limited.
"""

from dingwire.cli._app import cli, exit_status, main

__all__ = ["cli", "exit_status", "main"]
