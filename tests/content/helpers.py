"""Reading markdown back the way DingTalk's renderer would (CommonMark + GFM tables and
strikethrough, via markdown-it), to check what the content functions produce."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from dingwire.content.cutting import MARK
from dingwire.core.messages import Message, to_payload
from dingwire.core.protocol import encode_body

READER = MarkdownIt("commonmark", {"maxNesting": 100}).enable(["table", "strikethrough"])


def tokens(text: str) -> list[Token]:
    return READER.parse(text)


def walk(tokens_: list[Token]) -> Iterator[Token]:
    """Every token, inline children included, in order."""
    for t in tokens_:
        yield t
        if t.children:
            yield from walk(t.children)


def rendered_text(text: str) -> str:
    """The text a reader sees: text tokens, with line breaks as newlines."""
    out: list[str] = []
    for t in walk(tokens(text)):
        if t.type in ("text", "code_inline"):
            out.append(t.content)
        elif t.type in ("softbreak", "hardbreak"):
            out.append("\n")
    return "".join(out)


def body_size(part: Message | dict[str, Any]) -> int:
    return len(encode_body(to_payload(part)))


def part_text(part: Message | dict[str, Any]) -> str:
    """The main text of a part, as sent."""
    payload = to_payload(part)
    msgtype = payload["msgtype"]
    key = "content" if msgtype == "text" else "text"
    return str(payload[msgtype][key])


_NUMBER = re.compile(r"^\(\d+/\d+\) ")


def joined(parts: list[Any]) -> str:
    """The parts' texts, numbering and continuation marks taken out, run together."""
    texts = []
    for part in parts:
        payload = to_payload(part)
        msgtype = payload["msgtype"]
        text = payload[msgtype]["content" if msgtype == "text" else "text"]
        texts.append(_NUMBER.sub("", text).replace(MARK, ""))
    return "".join(texts)


def is_subsequence(needles: list[str], haystack: str) -> bool:
    """Whether ``needles`` all occur in ``haystack``, in order, without overlapping."""
    pos = 0
    for needle in needles:
        found = haystack.find(needle, pos)
        if found < 0:
            return False
        pos = found + len(needle)
    return True


def visible_lines(text: str) -> str:
    """``text`` without its blank lines, counting ``>`` alone (blank in a quote) as blank:
    a split may drop those where it cuts."""
    return "\n".join(line for line in text.split("\n") if line.strip(" \t>"))


def visible_chars(text: str) -> str:
    """The non-blank characters of :func:`visible_lines`."""
    return "".join(ch for ch in visible_lines(text) if not ch.isspace())


def chars_kept(original: str, result: str) -> bool:
    """Whether every visible character of ``original`` is in ``result``, in order."""
    it = iter(ch for ch in result if not ch.isspace())
    return all(ch in it for ch in visible_chars(original))
