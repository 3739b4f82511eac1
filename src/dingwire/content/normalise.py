"""Ordinary markdown (CommonMark + GFM) rewritten into what DingTalk shows well.

DingTalk renders a subset of markdown (API.md §2.7): headings, quotes, bold, italic, links,
images and lists. :func:`to_dingtalk_markdown` reads the text with markdown-it and writes it
back in that subset. Rules it keeps:

- **Line breaks survive.** DingTalk joins single newlines; every line break inside a
  paragraph is written as a hard break (two spaces and a newline), blocks are separated by a
  blank line.
- **Tables become lists**, one item per row, one ``header: value`` line per cell.
- **Code blocks stay readable**: each line is quoted (``>``) and written literally, its
  indentation kept with no-break spaces, so nothing in it is read as markdown. The
  language name of a fence is dropped, as any renderer drops it.
- **Strikethrough and raw HTML are made harmless**: ``~~x~~`` shows its tildes, tags show as
  text; ``<font color=...>`` (which DingTalk renders) and ``<br>`` (a line break) are kept.
  A thematic break becomes a line of box-drawing characters.
- **Nothing the author wrote is silently lost**: reference links become inline links,
  autolinks ``[url](url)``, an empty link text its URL; a block nested deeper than
  markdown-it reads is kept as literal text.
- **Idempotent**: ``to_dingtalk_markdown(to_dingtalk_markdown(t)) == to_dingtalk_markdown(t)``.
  Stray ``* _ [ ] ~ ` \\`` are escaped, so the output reads the same way every time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dingwire.content.rendering import Block

__all__ = ["to_dingtalk_markdown"]

_CHUNK_LINES = 400


def to_dingtalk_markdown(text: str) -> str:
    """``text`` (CommonMark + GFM markdown) rewritten in the markdown DingTalk renders.

    >>> to_dingtalk_markdown("Build **failed**\\nsee log")
    'Build **failed**  \\nsee log'
    >>> to_dingtalk_markdown("| job | result |\\n|---|---|\\n| lint | ok |")
    '- job: lint  \\n  result: ok'

    The result is stable: normalising it again changes nothing.
    """
    # The machinery loads on first use, so that importing dingwire stays cheap.
    from dingwire.content.parser import block_tokens, top_level_ranges
    from dingwire.content.rendering import Renderer

    source = text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
    lines = source.split("\n")
    chunks = _chunks(top_level_ranges(lines))
    env: dict[str, Any] = {}
    if "]:" in source:
        # Link reference definitions: links may use one defined further down, so read
        # them all before any inline content is.
        for start, end in chunks:
            if any("]:" in line for line in lines[start:end]):
                block_tokens("\n".join(lines[start:end]), env)
    blocks: list[Block] = []
    for start, end in chunks:
        part = lines[start:end]
        Renderer(block_tokens("\n".join(part), env), env, part).top_level(blocks)
    return "\n\n".join(b.text for b in blocks)


def _chunks(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Runs of whole top-level blocks, about :data:`_CHUNK_LINES` lines each.

    markdown-it is given one run at a time, so that its tokens for a large text are never
    all alive at once: the garbage collector would scan them again and again.
    """
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        if out and end - out[-1][0] <= _CHUNK_LINES:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out
