"""Long messages split into parts that each fit DingTalk's body limit.

:func:`split` keeps these rules:

- **The whole body counts.** Every part's JSON body, exactly as
  :func:`~dingwire.core.protocol.encode_body` writes it (title, numbering, mentions and
  all), is at most ``limit`` bytes. Sizes are added up piece by piece as parts are packed,
  never by encoding a growing part again and again, so splitting is linear in the text.
- **Cut where the reader expects it**: between blocks first, inside a block only when the
  block alone is larger than a part, and then it says so (see
  :mod:`dingwire.content.cutting`). Never inside a character, a link or an image.
- **Parts are numbered** ``(1/3)``: in the title of a markdown message (the chat list and
  the notification show it), at the front of a text message's content.
- **Mentions go with the last part**, so that the notification arrives when the whole
  message has. The other parts carry no ``at``.
- **A message that fits is returned as it is**, in a list of one.
- **A ceiling**: more than ``max_parts`` parts (10 by default, about 200 KB) are refused
  with :class:`~dingwire.core.errors.TooManyPartsError`. A text whose characters alone
  need more is refused before anything is parsed or encoded, looking at no more of it than
  it takes to know (so a 50 MB file is refused at once); any other is counted exactly.
- Text and markdown messages split, and an action card too: its text goes out as markdown
  parts and the card, with its buttons, comes last. Link and feed cards have nothing that
  can be cut and raise :class:`~dingwire.core.errors.TooLargeError`.
- A dict payload is split into dicts; its other fields go on every part (a ``msgUuid``
  gets the part number, so that DingTalk does not take part 2 for a repeat of part 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from dingwire.core.errors import MessageError, TooLargeError, TooManyPartsError
from dingwire.core.limits import DEFAULT_MAX_PARTS
from dingwire.core.mentions import body_key
from dingwire.core.messages import ActionCard, At, Markdown, Message, Text, to_payload
from dingwire.core.protocol import MAX_BODY_BYTES, encode_body

if TYPE_CHECKING:
    from dingwire.content.cutting import Piece

__all__ = ["DEFAULT_MAX_PARTS", "check_max_parts", "split"]

Part = Message | dict[str, Any]

# A line that may hold a link reference definition: "[label]: destination".
_DEFINITION_HINT = re.compile(r"^ {0,3}\[(?:\\.|[^\]\\])+\]:", re.MULTILINE)
_LABEL = re.compile(r"\[((?:\\.|[^\[\]\\])+)\]")
# Stands in for the text when measuring a part's envelope (followed by the @ tokens, so
# that ensure_mentions finds them all and adds nothing there).
_PLACEHOLDER = "x"


@overload
def split(
    message: Message, limit: int = MAX_BODY_BYTES, *, max_parts: int = DEFAULT_MAX_PARTS
) -> list[Message]: ...


@overload
def split(
    message: Mapping[str, Any], limit: int = MAX_BODY_BYTES, *, max_parts: int = DEFAULT_MAX_PARTS
) -> list[dict[str, Any]]: ...


def split(
    message: Message | Mapping[str, Any],
    limit: int = MAX_BODY_BYTES,
    *,
    max_parts: int = DEFAULT_MAX_PARTS,
) -> list[Any]:
    """``message`` as parts whose JSON bodies are each at most ``limit`` bytes.

    Text and markdown (and action-card) messages are cut between blocks, numbered
    ``(1/3)``, and their mentions go with the last part. A message that fits comes back
    unchanged, as ``[message]``. A dict comes back as dicts.

    >>> parts = split(Markdown("Nightly report", "## Results\\n\\n" + "all ok\\n\\n" * 4000))
    >>> len(parts), parts[0].title, parts[-1].title
    (3, 'Nightly report (1/3)', 'Nightly report (3/3)')

    A robot that adds a keyword tag to each part passes ``limit=20000 - len(tag bytes)``.
    Raises :class:`TooManyPartsError` (a :class:`TooLargeError`) when it would take more
    than ``max_parts`` parts — before anything is parsed when the text's size alone says
    so — and :class:`TooLargeError` for a link or feed card that does not fit, or when
    ``limit`` leaves no room for text once the title, numbering and mentions are counted.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        raise ValueError(f"limit must be a positive number of bytes, got {limit!r}")
    check_max_parts(message, limit=limit, max_parts=max_parts)
    payload = to_payload(message)  # validates a dict, and adds the @ tokens mentions need
    size = len(encode_body(payload))
    if size <= limit:
        return [message]
    shape = _shape(message, payload, size, limit)
    texts = _pack_all(shape, limit)
    if len(texts) > max_parts:
        raise _too_many(len(texts), max_parts, limit, estimated=False)
    parts = [shape.part(i, len(texts), text) for i, text in enumerate(texts, 1)]
    for i, part in enumerate(parts, 1):
        body = len(encode_body(to_payload(part)))
        if body > limit:  # the arithmetic above is exact; this would be a bug
            raise RuntimeError(f"part {i} came out at {body} bytes, over {limit}")
    return parts


# -- the ceiling --------------------------------------------------------------------------

# What str.strip() takes away besides ASCII whitespace (str.isspace() beyond ASCII).
_WIDE_SPACES = "\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
_WIDE_SPACES += "\u2028\u2029\u202f\u205f\u3000"
_ASCII_SPACES = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_SCAN = 1 << 16  # characters looked at in one go: bounds the memory a scan takes


def check_max_parts(
    message: Message | Mapping[str, Any],
    *,
    limit: int = MAX_BODY_BYTES,
    max_parts: int = DEFAULT_MAX_PARTS,
) -> None:
    """Refuse, cheaply, a message whose text alone needs more than ``max_parts`` parts.

    Splitting drops whitespace at most (blank lines, the break where a part ends), and a
    part carries less than ``limit`` bytes of text, so a text with more than ``max_parts *
    limit`` bytes of other characters takes more than ``max_parts`` parts. Only as much of
    the text is looked at as it takes to know that: refusing a 50 MB text reads a few
    hundred kilobytes of it, and encodes, copies and parses none of it. Anything else
    passes, for :func:`split` to count exactly. Raises :class:`TooManyPartsError`, or
    ``ValueError`` for a ``max_parts`` that is not a positive whole number.
    """
    if not isinstance(max_parts, int) or isinstance(max_parts, bool) or max_parts < 1:
        raise ValueError(f"max_parts must be a whole number of parts, 1 or more, got {max_parts!r}")
    text = _splittable_text(message)
    capacity = max_parts * limit
    if text is None or 4 * len(text) <= capacity:  # UTF-8: at most 4 bytes a character
        return
    seen = size = 0  # bytes of other characters than whitespace; bytes of JSON, about
    for start in range(0, len(text), _SCAN):
        chunk = text[start : start + _SCAN]
        data = chunk.encode("utf-8", "surrogatepass")
        seen += len(data.translate(None, _ASCII_SPACES))
        size += len(data) + data.count(b"\n")  # a line break is written \n
        if not chunk.isascii():
            seen -= sum(chunk.count(c) * len(c.encode()) for c in _WIDE_SPACES if c in chunk)
        if seen > capacity:
            # The whole text as its start goes, for the message: about how many parts.
            scanned = min(len(text), start + _SCAN)
            estimate = -(-size * len(text) // (scanned * limit))
            raise _too_many(max(estimate, max_parts + 1), max_parts, limit, estimated=True)


def _splittable_text(message: Message | Mapping[str, Any]) -> str | None:
    """The text :func:`split` would cut, read without validating anything."""
    if isinstance(message, Text):
        return message.content
    if isinstance(message, Markdown | ActionCard):
        return message.text
    if not isinstance(message, Mapping):
        return None
    msgtype = message.get("msgtype")
    if msgtype not in ("text", "markdown", "actionCard"):
        return None
    body = message.get(msgtype)
    text = body.get(body_key(msgtype)) if isinstance(body, Mapping) else None
    return text if isinstance(text, str) else None


def _too_many(parts: int, max_parts: int, limit: int, *, estimated: bool) -> TooManyPartsError:
    kb = max_parts * limit // 1000
    count = f"about {parts:,} parts" if estimated else f"{parts:,} parts"
    return TooManyPartsError(
        f"split, the message would take {count} of {limit:,} bytes; max_parts={max_parts} "
        f"allows {max_parts} (about {kb:,} KB); nothing was sent",
        advice=(
            f"send less (a file, a link to it), or allow {parts:,} parts with "
            f"max_parts={parts}: each part is one of the 20 messages a minute DingTalk "
            "takes from a robot"
        ),
        parts=parts,
        max_parts=max_parts,
        size=None,
        limit=limit,
    )


@dataclass(frozen=True, slots=True)
class _Shape:
    """How to cut one message's text and how to build each of its parts."""

    markdown: bool
    text: str
    make: Callable[[str, str, bool, int], Part]  # (title suffix, text, last, number)
    mention_tokens: tuple[str, ...]
    mention_sep: str

    def part(self, i: int, n: int, text: str) -> Part:
        suffix = f"({i}/{n})" if n > 1 else ""
        return self.make(suffix, text, i == n, i)

    def envelope(self, n: int) -> int:
        """The most bytes, besides the text, that a part of ``n`` takes (the last part,
        which has the mentions and, for a card, the buttons; numbered ``n/n``)."""
        from dingwire.content.size import json_size

        placeholder = " ".join([_PLACEHOLDER, *self.mention_tokens])
        part = self.make(f"({n}/{n})" if n > 1 else "", placeholder, True, n)
        body = len(encode_body(to_payload(part)))
        reserve = json_size(self.mention_sep + " ".join(self.mention_tokens))
        return body - json_size(placeholder) + (reserve if self.mention_tokens else 0)


def _titled(title: str, suffix: str) -> str:
    return f"{title} {suffix}" if suffix else title


def _numbered(text: str, suffix: str) -> str:
    return f"{suffix} {text}" if suffix else text


def _mention_tokens(at: Mapping[str, Any] | None) -> tuple[str, ...]:
    if not at:
        return ()
    wanted = [*(at.get("atMobiles") or ()), *(at.get("atUserIds") or ())]
    return tuple(f"@{who}" for who in dict.fromkeys(wanted))


def _shape(message: Any, payload: dict[str, Any], size: int, limit: int) -> _Shape:
    msgtype = payload["msgtype"]
    too_large = f"the {msgtype} message is {size:,} bytes of JSON, over the limit of {limit:,}"
    if msgtype not in ("text", "markdown", "actionCard"):
        raise TooLargeError(
            f"{too_large}; a {msgtype} message cannot be split: shorten it",
            size=size,
            limit=limit,
        )
    if isinstance(message, Message):
        return _message_shape(message)
    return _dict_shape(dict(message))


def _message_shape(message: Message) -> _Shape:
    if isinstance(message, Text):
        at = message.at

        def text_part(suffix: str, text: str, last: bool, i: int) -> Part:
            return Text(_numbered(text, suffix), at=at if last else None)

        return _Shape(False, message.content, text_part, _tokens_of(at), "\n")
    if isinstance(message, Markdown):
        title, at = message.title, message.at

        def markdown_part(suffix: str, text: str, last: bool, i: int) -> Part:
            return Markdown(_titled(title, suffix), text, at=at if last else None)

        return _Shape(True, message.text, markdown_part, _tokens_of(at), "\n\n")
    assert isinstance(message, ActionCard)
    card = message

    def card_part(suffix: str, text: str, last: bool, i: int) -> Part:
        title = _titled(card.title, suffix)
        if not last:
            return Markdown(title, text)
        return ActionCard(
            title,
            text,
            buttons=card.buttons,
            orientation=card.orientation,
            hide_avatar=card.hide_avatar,
        )

    return _Shape(True, card.text, card_part, (), "")


def _tokens_of(at: At | None) -> tuple[str, ...]:
    return _mention_tokens(at.to_payload()) if at else ()


def _dict_shape(payload: dict[str, Any]) -> _Shape:
    msgtype = payload["msgtype"]
    key = body_key(msgtype)
    assert key is not None
    body = dict(payload[msgtype])
    at = payload.get("at")
    rest = {k: v for k, v in payload.items() if k not in ("msgtype", msgtype, "at")}

    def dict_part(suffix: str, text: str, last: bool, i: int) -> Part:
        part: dict[str, Any]
        if msgtype == "text":
            part = {"msgtype": "text", "text": {**body, key: _numbered(text, suffix)}}
        else:
            title = _titled(str(body["title"]), suffix)
            if msgtype == "actionCard" and not last:
                part = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
            else:
                part = {"msgtype": msgtype, msgtype: {**body, "title": title, key: text}}
        part.update(rest)
        if suffix and "msgUuid" in rest:
            part["msgUuid"] = f"{rest['msgUuid']}-{i}"
        if last and at is not None:
            part["at"] = at
        return part

    if msgtype == "text":
        return _Shape(False, str(body[key]), dict_part, _mention_tokens(at), "\n")
    tokens = _mention_tokens(at) if msgtype == "markdown" else ()
    return _Shape(True, str(body[key]), dict_part, tokens, "\n\n")


# -- packing ------------------------------------------------------------------------------


def _pack_all(shape: _Shape, limit: int) -> list[str]:
    # The cutting machinery loads on first use, so that importing dingwire stays cheap.
    from dingwire.content.cutting import markdown_pieces, text_pieces
    from dingwire.content.size import json_size

    text = shape.text.replace("\r\n", "\n").replace("\r", "\n")
    refs = _References.find(text) if shape.markdown else None
    if refs is not None:
        text = refs.text
    # "(n/n)" is part of every part's size, so the number of digits of n must be known
    # before packing: guess it from the total (parts come out nearly full), and pack again
    # only if the guess was short.
    n = 9
    while 0 < (limit - shape.envelope(n)) * n < json_size(text) * 5 // 4:
        n = n * 10 + 9
    while True:
        room = limit - shape.envelope(n)
        if room <= json_size("x") + 2:
            raise TooLargeError(
                f"a limit of {limit:,} bytes leaves no room for text once the title, "
                "numbering and mentions are counted",
                size=limit - room,
                limit=limit,
            )
        pieces = (
            markdown_pieces(text, refs.env if refs else None)
            if shape.markdown
            else text_pieces(text)
        )
        if not pieces:
            raise MessageError("there is no text to split", field="text")
        texts = _pack(pieces, room, refs)
        if len(texts) <= n:
            return texts
        n = n * 10 + 9  # one more digit in "(n/n)"


def _pack(pieces: Sequence[Piece], room: int, refs: _References | None) -> list[str]:
    """Pieces packed greedily into texts of at most ``room`` bytes each.

    Sizes are added up as pieces go in (each piece is measured once, or once more when it
    starts a part), so packing is linear in the text.
    """
    from dingwire.content.size import json_size

    out: list[str] = []
    # The current part: each piece, as written, its bytes, and the definitions it brought.
    part: list[tuple[Piece, str, int, set[int]]] = []
    size = defs = 0
    used: set[int] = set()

    def flush() -> None:
        nonlocal part, size, defs, used
        text = "".join(written for _, written, _, _ in part) + part[-1][0].tail
        if refs is not None and used:
            text += refs.block(used)
        out.append(text)
        part, size, defs, used = [], 0, 0, set()

    stack = list(reversed(pieces))
    while stack:
        piece = stack.pop()
        tail = json_size(piece.tail)
        needed = refs.needed(piece) if refs is not None else set()
        if part:
            new = needed - used
            more = refs.size(used | new) - defs if refs is not None and new else 0
            written = piece.sep + piece.text
            grown = size + json_size(written)
            if grown + tail + defs + more <= room:
                part.append((piece, written, grown - size, new))
                size, defs = grown, defs + more
                used |= new
                continue
            heading, _, bytes_, brought = part[-1]
            if heading.keep and len(part) > 1 and not brought:
                # A heading starts the next part, with what it heads.
                part.pop()
                size -= bytes_
                flush()
                stack += [piece, heading]
                continue
        opening = piece.opening()
        own = refs.size(needed) if refs is not None and needed else 0
        if json_size(opening) + tail + own <= room:
            if part:
                flush()
            size, defs, used = json_size(opening), own, set(needed)
            part = [(piece, opening, size, needed)]
            continue
        # Too large for any part: cut it, and let its first pieces fill this part.
        stack.extend(reversed(piece.explode(room - own)))
    if part:
        flush()
    return out


@dataclass(frozen=True, slots=True)
class _References:
    """Link reference definitions (``[label]: url``), taken out of the text and written
    again at the end of each part whose links use them."""

    text: str
    env: dict[str, Any]
    runs: tuple[str, ...]
    labels: Mapping[str, frozenset[int]]

    @classmethod
    def find(cls, text: str) -> _References | None:
        """The definitions in markdown ``text``, or None when it has none."""
        if not _DEFINITION_HINT.search(text):
            return None
        from dingwire.content.parser import block_tokens, top_level_ranges

        lines = text.split("\n")
        env: dict[str, Any] = {}
        # A definition is a line that no top-level block covers; only stretches that may
        # hold one are parsed.
        loose: list[int] = []
        for start, end in top_level_ranges(lines):
            if not any(_DEFINITION_HINT.match(line) for line in lines[start:end]):
                continue
            covered = [False] * (end - start)
            for t in block_tokens("\n".join(lines[start:end]), env):
                if t.level == 0 and t.map:
                    covered[t.map[0] : t.map[1]] = [True] * (t.map[1] - t.map[0])
            loose += [
                start + k for k, c in enumerate(covered) if not c and lines[start + k].strip()
            ]
        if not env.get("references"):
            return None
        runs: list[str] = []
        labels: dict[str, set[int]] = {}
        k = 0
        while k < len(loose):
            j = k + 1
            while j < len(loose) and loose[j] == loose[j - 1] + 1:
                j += 1
            run = [lines[i] for i in loose[k:j]]
            run_env: dict[str, Any] = {}
            block_tokens("\n".join(run), run_env)
            for label in run_env.get("references", {}):
                labels.setdefault(label, set()).add(len(runs))
            runs.append("\n".join(run))
            for i in loose[k:j]:
                lines[i] = ""
            k = j
        return cls(
            "\n".join(lines),
            env,
            tuple(runs),
            {label: frozenset(found) for label, found in labels.items()},
        )

    def needed(self, piece: Piece) -> set[int]:
        """The definition runs that ``piece``'s links may use."""
        from markdown_it.common.utils import normalizeReference

        found: set[int] = set()
        for m in _LABEL.finditer(piece.head + piece.text):
            found |= self.labels.get(normalizeReference(m.group(1)), frozenset())
        return found

    def block(self, runs: set[int]) -> str:
        return "\n\n" + "\n".join(self.runs[i] for i in sorted(runs))

    def size(self, runs: set[int]) -> int:
        from dingwire.content.size import json_size

        return json_size(self.block(runs)) if runs else 0
