"""``dingwire outbox``: the relay's queue for operators, on the same store while it runs.

Rules kept here:

- The outbox is the one ``[relay] queue`` of the config file names (``--queue`` overrides
  it), opened with :func:`dingwire.relay.outbox.open_outbox`: several processes may use a
  SQLite outbox at once, so a running relay keeps working while an operator looks or
  repairs.
- A SQLite file that is not there is not created: the relay creates it; a command that
  finds none says where it looked (a relative path is from the working directory, as the
  relay reads it). A ``memory://`` queue lives inside the relay's process: nothing to show.
- Exit status: 0 done; 1 no such message, or it cannot be retried; 2 a usage or
  configuration error; 3 the outbox cannot be used right now (locked, disk): try again.
- Nothing printed carries a secret: bodies and replies hold none, and every line is
  scrubbed of what the invocation knows anyway.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dingwire.cli._app import EXIT_NETWORK, EXIT_REFUSED, Invocation

if TYPE_CHECKING:
    from dingwire.relay.model import Record
    from dingwire.relay.outbox import Outbox

__all__ = ["outbox"]

_STATES = ("queued", "sending", "sent", "retrying", "dead")  # dingwire.relay.model.STATES
_META = "dingwire.outbox"


def record_json(record: Record, *, body: bool = True) -> dict[str, Any]:
    """What ``--json`` prints of one record (the body only when ``body``)."""
    message = record.message
    data: dict[str, Any] = {
        "id": record.id,
        "robot": message.robot,
        "state": record.state,
        "attempts": record.attempts,
        "kind": message.kind,
        "priority": message.priority,
        "source": message.source,
        "dedupe_key": message.dedupe_key,
        "received": message.received,
        "not_before": record.not_before,
        "lease_until": record.lease_until,
        "owner": record.owner,
        "failing_since": record.failing_since,
        "error": record.error,
        "reply": record.reply,
        "digest": record.digest,
        "digest_size": record.digest_size,
        "sent_at": record.sent_at,
        "updated": record.updated,
        "history": list(record.history),
        "lines": [line.text for line in message.lines],
    }
    if body:
        data["body"] = message.body
    return data


def _when(moment: float | None) -> str:
    if moment is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def _summary(record: Record) -> str:
    """One line about a record: its error when it failed, else what it says."""
    if record.error and record.state in ("retrying", "dead"):
        text = record.error
    else:
        first = record.message.lines[0] if record.message.lines else None
        text = (first.name or first.text) if first is not None else ""
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:59] + "…"


def _open(ctx: click.Context) -> Outbox:
    """The outbox of ``--queue`` or the config's ``[relay] queue``."""
    from dingwire.config import load_config
    from dingwire.core.errors import ConfigError
    from dingwire.relay.outbox import open_outbox
    from dingwire.relay.settings import RelaySettings

    invocation = ctx.find_object(Invocation) or Invocation()
    options = ctx.meta[_META]
    url: str | None = options["queue"]
    if url is None:
        config = load_config(options["config_file"] or invocation.config_file)
        url = RelaySettings.from_config(config).queue
    text = url.strip()
    if text in ("memory", "memory://"):
        raise ConfigError(
            "[relay] queue: a memory:// outbox lives inside the relay's process; there is "
            "nothing to show from here (use sqlite:///... to keep messages across restarts)"
        )
    if text.startswith("sqlite:///"):
        path = Path(text[len("sqlite:///") :])
        if path.name and not path.exists():
            raise ConfigError(
                f"[relay] queue: there is no outbox at {path.absolute()} (the relay creates "
                "it when it starts; a relative path is from the working directory)"
            )
    return open_outbox(url)


def _run(ctx: click.Context, work: Any) -> int:
    """``work(outbox)`` on the opened outbox; an unavailable outbox exits 3."""
    from dingwire.relay.outbox import OutboxUnavailable

    invocation = ctx.find_object(Invocation) or Invocation()
    try:
        outbox = _open(ctx)
    except OutboxUnavailable as error:
        click.echo(f"dingwire: {invocation.scrub(error.message)}; try again", err=True)
        return EXIT_NETWORK
    try:
        status: int = work(outbox, invocation)
        return status
    except OutboxUnavailable as error:
        click.echo(f"dingwire: {invocation.scrub(error.message)}; try again", err=True)
        return EXIT_NETWORK
    finally:
        outbox.close()


@click.group()
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    help="The config file whose [relay] queue to open (overrides dingwire --config).",
)
@click.option(
    "--queue",
    metavar="URL",
    help="The outbox to open instead of the config's [relay] queue, "
    "e.g. sqlite:///./dingwire-outbox.sqlite3.",
)
@click.pass_context
def outbox(ctx: click.Context, config_file: str | None, queue: str | None) -> None:
    """Inspect and repair the relay's queue.

    Works on the outbox of [relay] queue in the config file, also while the relay runs.

    \b
    Examples:
      dingwire outbox list --state dead
      dingwire outbox show 0193a1b2c3d4e5f60718
      dingwire outbox retry --dead
      dingwire outbox purge --dead --sent 7d

    \b
    Exit status:
      0  done
      1  no such message, or it cannot be retried
      2  usage or configuration error
      3  the outbox cannot be used right now (locked, disk): try again
    """
    ctx.meta[_META] = {"config_file": config_file, "queue": queue}


@outbox.command("list")
@click.option("--state", type=click.Choice(_STATES), help="Only messages in this state.")
@click.option("--robot", metavar="NAME", help="Only this robot's messages.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="At most this many (the newest first).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, no bodies.")
@click.pass_context
def list_(
    ctx: click.Context, state: str | None, robot: str | None, limit: int, as_json: bool
) -> int:
    """List messages, the newest first.

    \b
    Examples:
      dingwire outbox list --state dead
      dingwire outbox list --robot ops --limit 10 --json
    """

    def work(outbox: Outbox, invocation: Invocation) -> int:
        records = outbox.list(state=state, robot=robot, limit=limit)  # type: ignore[arg-type]
        if as_json:
            for record in records:
                line = json.dumps(record_json(record, body=False), ensure_ascii=False)
                click.echo(invocation.scrub(line))
            return 0
        if not records:
            click.echo("no messages" + (f" in state {state}" if state else ""))
            return 0
        rows = [
            (
                r.id,
                r.state,
                r.message.robot,
                str(r.attempts),
                _when(r.message.received or r.updated),
                _summary(r),
            )
            for r in records
        ]
        head = ("ID", "STATE", "ROBOT", "TRIES", "RECEIVED", "")
        widths = [max(len(row[i]) for row in [head, *rows]) for i in range(5)]
        for row in [head, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            click.echo(invocation.scrub("  ".join([*cells, row[5]]).rstrip()))
        return 0

    return _run(ctx, work)


@outbox.command()
@click.argument("id")
@click.option("--json", "as_json", is_flag=True, help="The whole record as one JSON object.")
@click.pass_context
def show(ctx: click.Context, id: str, as_json: bool) -> int:
    """Show one message: its state, attempts, DingTalk's reply, digest and body.

    \b
    Examples:
      dingwire outbox show 0193a1b2c3d4e5f60718
      dingwire outbox show 0193a1b2c3d4e5f60718 --json
    """

    def work(outbox: Outbox, invocation: Invocation) -> int:
        record = outbox.get(id)
        if record is None:
            click.echo(f"dingwire: no message {id} in the outbox", err=True)
            return EXIT_REFUSED
        if as_json:
            text = json.dumps(record_json(record), ensure_ascii=False, indent=2)
            click.echo(invocation.scrub(text))
            return 0
        message = record.message
        fields = [
            ("id", record.id),
            ("robot", message.robot),
            ("state", record.state),
            ("attempts", str(record.attempts)),
            ("source", message.source),
            ("kind", message.kind),
            ("priority", str(message.priority)),
            ("received", _when(message.received)),
            ("due", _when(record.not_before) if record.state in ("queued", "retrying") else ""),
            ("lease", f"{record.owner} until {_when(record.lease_until)}" if record.owner else ""),
            ("failing since", _when(record.failing_since) if record.failing_since else ""),
            ("error", record.error or ""),
            ("reply", json.dumps(record.reply, ensure_ascii=False) if record.reply else ""),
            ("sent", _when(record.sent_at) if record.sent_at else ""),
            (
                "digest",
                f"{record.digest} ({record.digest_size} messages)" if record.digest else "",
            ),
            ("dedupe key", message.dedupe_key or ""),
        ]
        for name, value in fields:
            if value:
                click.echo(invocation.scrub(f"{name + ':':<15}{value}"))
        for entry in record.history:
            outcome = f"{_when(entry.get('at'))} {entry.get('outcome')}"
            if entry.get("error"):
                outcome += f": {entry['error']}"
            click.echo(invocation.scrub(f"{'attempt:':<15}{outcome}"))
        click.echo("body:")
        body = json.dumps(message.body, ensure_ascii=False, indent=2)
        click.echo(invocation.scrub(body))
        return 0

    return _run(ctx, work)


@outbox.command()
@click.argument("id", required=False)
@click.option("--dead", is_flag=True, help="Every dead message (instead of one ID).")
@click.pass_context
def retry(ctx: click.Context, id: str | None, dead: bool) -> int:
    """Queue a dead or retrying message again, due now.

    With --dead instead of an ID: every dead message. Its attempts and last error stay
    on the record; a message that was sent is never sent again.

    \b
    Examples:
      dingwire outbox retry 0193a1b2c3d4e5f60718
      dingwire outbox retry --dead
    """
    if (id is None) == (not dead):
        raise click.UsageError("give a message ID or --dead (not both)", ctx=ctx)

    def work(outbox: Outbox, invocation: Invocation) -> int:
        now = time.time()
        if dead:
            count = outbox.retry_dead(now=now)
            click.echo(f"{count} dead message{'s' if count != 1 else ''} queued again")
            return 0
        assert id is not None
        if outbox.retry(id, now=now):
            click.echo(f"{id} queued again")
            return 0
        record = outbox.get(id)
        if record is None:
            click.echo(f"dingwire: no message {id} in the outbox", err=True)
        else:
            click.echo(
                f"dingwire: {id} is {record.state}: only dead or retrying messages are retried",
                err=True,
            )
        return EXIT_REFUSED

    return _run(ctx, work)


@outbox.command()
@click.option("--dead", is_flag=True, help="Delete every dead message.")
@click.option(
    "--sent",
    "sent_age",
    metavar="AGE",
    help="Delete the messages sent more than AGE ago (e.g. 7d, 12h).",
)
@click.pass_context
def purge(ctx: click.Context, dead: bool, sent_age: str | None) -> int:
    """Delete dead messages (--dead), or old sent ones (--sent AGE).

    Nothing queued, sending or retrying is ever purged. The relay itself purges the
    messages sent more than [relay] keep_sent ago (default 7d); until then GET
    /v1/messages/ID answers for them.

    \b
    Examples:
      dingwire outbox purge --dead
      dingwire outbox purge --sent 7d
    """
    from dingwire.core.policy import parse_duration

    if not dead and sent_age is None:
        raise click.UsageError("say what to purge: --dead, --sent AGE, or both", ctx=ctx)
    age = None if sent_age is None else parse_duration(sent_age, name="--sent")

    def work(outbox: Outbox, invocation: Invocation) -> int:
        if dead:
            count = outbox.purge_dead()
            click.echo(f"{count} dead message{'s' if count != 1 else ''} deleted")
        if age is not None:
            count = outbox.purge_sent(before=time.time() - age)
            click.echo(f"{count} sent message{'s' if count != 1 else ''} deleted")
        return 0

    return _run(ctx, work)
