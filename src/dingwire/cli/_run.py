"""``dingwire run``: run a command as if dingwire were not there, then report how it went.

The runner and the report are :mod:`dingwire.integrations.run`'s; this is their command.

Rules kept here:

- The robots are resolved before the command starts: a configuration error exits 2 and
  runs nothing, so a typo never costs a nightly job.
- ``dingwire run`` exits with the command's own status (128+N when a signal N killed it,
  127 when it could not be found, 126 when it could not be started), whatever happened to
  the report: a report that cannot be sent is said on stderr, and that is all.
- The report goes to every robot (``--robot`` repeats), made to fit each one's message.
"""

from __future__ import annotations

import click

from dingwire.cli._app import describe_error
from dingwire.cli._delivery import Delivery, delivery_options, say

__all__ = ["run"]


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--title", help="Name the job in the report. Default: the command's name.")
@click.option(
    "--on",
    "report_on",
    type=click.Choice(["always", "failure"]),
    default="always",
    show_default=True,
    help="Report every run, or only runs that fail.",
)
@click.option(
    "--tail",
    type=click.IntRange(0, 200),
    default=20,
    show_default=True,
    metavar="N",
    help="How many of the last lines of output the report shows.",
)
@delivery_options(dry_run_help="Run the command, then print the report instead of sending it.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def run(
    ctx: click.Context,
    title: str | None,
    report_on: str,
    tail: int,
    command: tuple[str, ...],
    delivery: Delivery,
) -> None:
    """Run a command, then report its outcome to a robot.

    The command's output passes through as it runs; then the robot gets the command,
    its exit status, how long it took, the host and the last lines of output.
    dingwire run exits with the command's own status, also when the report cannot be
    sent (that is said on stderr). Put -- before the command when it has options.

    \b
    Examples:
      dingwire run --robot ops -- ./nightly-backup.sh --full
      dingwire run --robot ci --on failure --title "integration tests" -- make test
      dingwire run -r ops -r oncall -- ./deploy.sh     # the report goes to both
    """
    import os
    import socket

    from dingwire.integrations.run import fit_report, run_command

    delivery.targets  # noqa: B018 - resolve them now: a bad robot must not cost a run
    outcome = run_command(command, tail=tail)
    if outcome.problem:
        click.echo(f"dingwire: {outcome.problem}", err=True)
    if report_on == "always" or not outcome.succeeded:
        name = title or os.path.basename(command[0])
        host = socket.gethostname()
        scrub = delivery.invocation.scrub
        try:
            delivery.deliver(
                lambda robot: fit_report(outcome, robot, title=name, host=host, scrub=scrub),
                verb="reported",
            )
        except Exception as error:
            # Whatever went wrong, the command's status is what the caller gets.
            delivery.invocation.show_traceback(error)
            say(f"the report was not sent: {scrub(describe_error(error))}")
    ctx.exit(outcome.status)
