"""``dingwire send``: one subcommand per DingTalk message type, plus ``raw``.

Rules kept here:

- A subcommand only reads its input and builds the message value; the message classes
  validate it, the robot sends it (:mod:`dingwire.cli._delivery`). Nothing here knows
  DingTalk's JSON except ``raw``, which passes a file through the same validator.
- Long text comes from an argument, ``--file PATH``, or ``-`` (stdin), decoded as UTF-8;
  trailing newlines are dropped (``echo`` adds one; a chat message never needs it).
- Text, markdown and action cards that are too large for one message are split into
  numbered parts (an action card's buttons come with its last part), mentions on the
  last, at most ``--max-parts`` of them (10 by default): one that needs more is refused
  before anything is sent. Links and feed cards are refused when too large (exit status 2).
- ``raw`` reads its JSON strictly, with the core's one reader
  (:func:`dingwire.core.protocol.decode_body`): no NaN, no number too long to send as
  written, no duplicate key, no absurd nesting; each refusal is one line naming the source.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from dingwire.cli._delivery import Delivery, delivery_options, say

if TYPE_CHECKING:
    from dingwire.core.messages import At

__all__ = ["send"]

DRY_RUN_HELP = (
    "Print the request instead of sending it: the URL (token and sign masked), then the "
    "exact JSON body."
)

_FILE = click.Path(exists=True, dir_okay=False, allow_dash=True)

_CONVERT = click.option(
    "--convert",
    is_flag=True,
    help="Rewrite ordinary (GitHub) markdown into what DingTalk renders first: line breaks "
    "kept, tables as lists, code blocks as quoted lines.",
)


def convert_markdown(text: str, convert: bool) -> str:
    """``text``, rewritten for DingTalk when ``convert`` is set."""
    if not convert:
        return text
    from dingwire.content import to_dingtalk_markdown

    return to_dingtalk_markdown(text)


def read_text(value: str | None, file: str | None, *, what: str = "TEXT") -> str:
    """The text given as an argument, ``--file PATH`` or ``-`` (stdin), without trailing newlines."""
    if value is not None and file is not None:
        raise click.UsageError(f"give {what} or --file, not both")
    if value is None and file is None:
        raise click.UsageError(f"give {what} as an argument, --file PATH, or - to read stdin")
    if file is not None:
        data = _read_bytes(file)
    elif value == "-":
        data = sys.stdin.buffer.read()
    else:
        return value or ""
    try:
        text = data.decode("utf-8-sig")  # a BOM from a Windows editor is not content
    except UnicodeDecodeError as error:
        source = "stdin" if file in (None, "-") else file
        raise click.UsageError(
            f"{source} is not UTF-8 text (byte {error.start}); convert it first, "
            "e.g. iconv -f GBK -t UTF-8"
        ) from None
    return text.rstrip("\r\n")


def _read_bytes(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def mention_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--at``, ``--at-user`` and ``--at-all``, passed on as one ``at`` (or ``None``)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from dingwire.core.messages import At

        mobiles, user_ids, everyone = kwargs.pop("at"), kwargs.pop("at_user"), kwargs.pop("at_all")
        at = (
            At(mobiles=mobiles, user_ids=user_ids, all=everyone)
            if (mobiles or user_ids or everyone)
            else None
        )
        return command(*args, at=at, **kwargs)

    options = (
        click.option(
            "--at",
            metavar="MOBILE",
            multiple=True,
            help="Mention this mobile number (repeatable); @MOBILE is added to the text "
            "when missing, so the mention notifies.",
        ),
        click.option(
            "--at-user", metavar="USERID", multiple=True, help="Mention this user id (repeatable)."
        ),
        click.option("--at-all", is_flag=True, help="Mention everyone in the group."),
    )
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


class _InOrder(click.Group):
    """Lists its subcommands in the order they are defined: text first, raw last."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_InOrder)
def send() -> None:
    """Send a message: text, markdown, link, actioncard, feedcard or raw JSON.

    \b
    Examples:
      dingwire send text "deploy finished" --robot ops
      dingwire send markdown --title "Nightly report" --file report.md --robot ops
      dingwire send raw message.json --robot ops --robot oncall

    \b
    Every subcommand takes the robot options (--robot NAME, repeatable, or --webhook URL
    with --secret SECRET, or DINGWIRE_WEBHOOK / DINGWIRE_SECRET in the environment),
    --proxy URL, --dry-run and --no-wait; text, markdown and actioncard take --max-parts.
    """


@send.command()
@click.argument("content", metavar="CONTENT", required=False)
@click.option("--file", "-f", metavar="PATH", type=_FILE, help="Read the text from a file.")
@mention_options
@delivery_options(dry_run_help=DRY_RUN_HELP, splits=True)
def text(content: str | None, file: str | None, at: At | None, delivery: Delivery) -> int:
    """Send a plain text message (split into parts when it is too long).

    CONTENT is the text, or - to read it from stdin.

    \b
    Examples:
      dingwire send text "disk full on db01 @13800000000" --at 13800000000 --robot ops
      df -h | dingwire send text -    # the robot from DINGWIRE_WEBHOOK / DINGWIRE_SECRET
      dingwire send text --file /var/log/summary.txt --robot ops --robot oncall --dry-run
    """
    from dingwire.core.messages import Text

    message = Text(read_text(content, file, what="CONTENT"), at=at)
    return delivery.deliver(message, split=True)


@send.command()
@click.argument("body", metavar="[TEXT]", required=False)
@click.option("--title", required=True, help="Shown in the chat list and the notification.")
@click.option("--file", "-f", metavar="PATH", type=_FILE, help="Read the markdown from a file.")
@click.option(
    "--lint",
    is_flag=True,
    help="Print, on stderr, what DingTalk will not render as written (tables, code "
    "blocks, single line breaks); send anyway (add --dry-run to only check).",
)
@_CONVERT
@mention_options
@delivery_options(dry_run_help=DRY_RUN_HELP, splits=True)
def markdown(
    body: str | None,
    title: str,
    file: str | None,
    lint: bool,
    convert: bool,
    at: At | None,
    delivery: Delivery,
) -> int:
    """Send a markdown message (split into parts when it is too long).

    TEXT is the markdown, or - to read it from stdin. DingTalk renders a subset:
    headings, quotes, bold, italic, links, images and lists.

    \b
    Examples:
      printf '#### Deploy done\\n\\n- api: **v2.3**\\n' | dingwire send markdown --title Deploy - -r ops
      dingwire send markdown --title "Nightly report" --file report.md --lint --robot ops
      dingwire send markdown --title "Test results" --file results.md --convert -r ops
    """
    from dingwire.core.messages import Markdown

    content = convert_markdown(read_text(body, file), convert)
    if lint:
        from dingwire.content import lint_markdown

        issues = lint_markdown(content)
        for issue in issues:
            # The library names its own fix; on the command line the fix is a flag.
            advice = issue.message.replace("to_dingtalk_markdown", "--convert")
            say(f"lint: line {issue.line}: {advice}")
        if not issues and not delivery.quiet:
            say("lint: nothing to report")
    message = Markdown(title, content, at=at)
    return delivery.deliver(message, split=True)


@send.command()
@click.option("--title", required=True, help="The card's title.")
@click.option("--text", "text_", metavar="TEXT", required=True, help="The card's short text.")
@click.option("--url", required=True, help="Where a click on the card leads.")
@click.option("--pic", metavar="URL", help="A picture for the card.")
@delivery_options(dry_run_help=DRY_RUN_HELP)
def link(title: str, text_: str, url: str, pic: str | None, delivery: Delivery) -> int:
    """Send a link card: a title, a short text, a picture, and where it leads.

    \b
    Example:
      dingwire send link --title "Release 2.3" --text "What changed, and why" \\
          --url https://example.com/releases/2.3 --pic https://example.com/logo.png -r ops
    """
    from dingwire.core.messages import Link

    return delivery.deliver(Link(title, text_, url, pic_url=pic))


@send.command()
@click.argument("body", metavar="[TEXT]", required=False)
@click.option("--title", required=True, help="Shown in the chat list and the notification.")
@click.option(
    "--file", "-f", metavar="PATH", type=_FILE, help="Read the card's markdown from a file."
)
@click.option(
    "--button",
    "buttons",
    nargs=2,
    multiple=True,
    required=True,
    metavar="LABEL URL",
    help="A button (repeatable; one button makes the whole card clickable).",
)
@click.option("--horizontal", is_flag=True, help="Lay the buttons out side by side.")
@click.option("--hide-avatar", is_flag=True, help="Hide the robot's avatar.")
@_CONVERT
@delivery_options(dry_run_help=DRY_RUN_HELP, splits=True)
def actioncard(
    body: str | None,
    title: str,
    file: str | None,
    buttons: tuple[tuple[str, str], ...],
    horizontal: bool,
    hide_avatar: bool,
    convert: bool,
    delivery: Delivery,
) -> int:
    """Send an action card: markdown text with buttons.

    TEXT is the card's markdown, or - to read it from stdin. A text too long for one
    message goes first as markdown parts; the card with its buttons comes last.

    \b
    Example:
      dingwire send actioncard --title "Approve deploy?" "#### api v2.3 is ready" \\
          --button Approve https://ci.example.com/approve/42 \\
          --button Reject https://ci.example.com/reject/42 --horizontal --robot ops
    """
    from dingwire.core.messages import ActionCard, Button

    card = ActionCard(
        title,
        convert_markdown(read_text(body, file), convert),
        buttons=tuple(Button(label, url) for label, url in buttons),
        orientation="horizontal" if horizontal else "vertical",
        hide_avatar=hide_avatar,
    )
    return delivery.deliver(card, split=True)


@send.command()
@click.option(
    "--item",
    "items",
    nargs=3,
    multiple=True,
    required=True,
    metavar="TITLE URL PICURL",
    help="An entry: its title, where it leads, its picture (repeatable; mobile shows nine).",
)
@delivery_options(dry_run_help=DRY_RUN_HELP)
def feedcard(items: tuple[tuple[str, str, str], ...], delivery: Delivery) -> int:
    """Send a feed card: a list of linked entries with pictures.

    \b
    Example:
      dingwire send feedcard --robot ops \\
          --item "Release 2.3" https://example.com/2.3 https://example.com/2.3.png \\
          --item "Release 2.2" https://example.com/2.2 https://example.com/2.2.png
    """
    from dingwire.core.messages import FeedCard, FeedItem

    return delivery.deliver(FeedCard(tuple(FeedItem(t, u, p) for t, u, p in items)))


@send.command()
@click.argument("source", metavar="(PATH | -)", type=_FILE)
@delivery_options(dry_run_help=DRY_RUN_HELP)
def raw(source: str, delivery: Delivery) -> int:
    """Send a complete DingTalk message from a JSON file, or - for stdin.

    The JSON is checked against DingTalk's schema (field names are case-sensitive:
    link.messageUrl but feedCard.links[].messageURL) before it is sent; it is not split.

    \b
    Examples:
      dingwire send raw alert.json --robot ops
      echo '{"msgtype":"text","text":{"content":"hello"}}' | dingwire send raw - -r ops
    """
    from dingwire.core.errors import MessageError
    from dingwire.core.protocol import decode_body

    where = "stdin" if source == "-" else source
    try:
        message = decode_body(_read_bytes(source))
    except MessageError as error:
        # The core's one strict reader says "body: …"; here the body is a file or stdin.
        reason = error.message.removeprefix("body: ")
        raise MessageError(f"{where}: {reason}", advice=error.advice, field=error.field) from None
    return delivery.deliver(message)
