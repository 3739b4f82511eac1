"""The quote markers and list-item indentation in front of a line of markdown.

A block nested in quotes and list items carries their marks on every line: ``> `` for a
quote, the item's indentation (or, on its first line, its marker ``- `` / ``3. ``). When
:mod:`dingwire.content.cutting` starts a new message in the middle of such a block, the new
message must open the same containers again. Rules this module keeps:

- A quote is reopened by its own ``>`` marks, which every line already has.
- A list item is reopened by writing its marker where the first line has the item's
  indentation: ``  more text`` inside ``- item`` becomes ``- more text``; the lines after it
  keep their indentation and so stay inside the item. Ordered items keep their number.
- Lines repeated in a new message (a table header, a code fence) lose their item markers,
  which belong to the first message only.
- Tabs count to the next multiple of four columns, as in CommonMark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Container", "Item", "Quote", "content_prefix", "continuation", "item_for", "reopen"]


@dataclass(frozen=True, slots=True)
class Quote:
    """A block quote."""


@dataclass(frozen=True, slots=True)
class Item:
    """A list item: the line of its marker, the marker, and the column its content starts at
    (counted from where its container's content starts)."""

    line: int
    marker: str
    indent: int


Container = Quote | Item


def _skip_blanks(line: str, pos: int, col: int, target: int) -> tuple[int, int]:
    """Skip spaces and tabs from ``pos`` (at column ``col``) until column ``target``."""
    while pos < len(line) and col < target and line[pos] in " \t":
        col = col + 1 if line[pos] == " " else (col // 4 + 1) * 4
        pos += 1
    return pos, col


@dataclass(frozen=True, slots=True)
class _Mark:
    container: Container
    start: int
    end: int
    width: int  # columns covered
    marker_line: bool = False


def _marks(line: str, lineno: int | None, chain: Sequence[Container]) -> list[_Mark]:
    """Where each container of ``chain`` marks ``line``, outermost first.

    Stops at the first container the line does not continue (a lazy line, a blank line).
    """
    marks: list[_Mark] = []
    pos = col = 0
    for c in chain:
        if isinstance(c, Quote):
            p, cl = _skip_blanks(line, pos, col, col + 3)
            if p >= len(line) or line[p] != ">":
                break
            p, cl = p + 1, cl + 1
            if p < len(line) and line[p] in " \t":
                p, cl = p + 1, cl + 1
            marks.append(_Mark(c, pos, p, cl - col))
        elif lineno == c.line:
            p, cl = _skip_blanks(line, pos, col, col + 3)
            if not line.startswith(c.marker, p):
                break
            p, cl = _skip_blanks(line, p + len(c.marker), cl + len(c.marker), col + c.indent)
            marks.append(_Mark(c, pos, p, cl - col, marker_line=True))
        else:
            p, cl = _skip_blanks(line, pos, col, col + c.indent)
            if cl < col + c.indent and p < len(line):
                break  # a lazy continuation line: not indented into the item
            marks.append(_Mark(c, pos, p, cl - col))
        pos, col = p, cl
    return marks


def item_for(line: str, lineno: int, chain: Sequence[Container], marker: str) -> Item:
    """The :class:`Item` whose ``marker`` starts ``line`` inside ``chain``."""
    marks = _marks(line, lineno, chain)
    pos = marks[-1].end if marks else 0
    col = sum(m.width for m in marks)
    p, cl = _skip_blanks(line, pos, col, col + 3)
    start_col = col
    if line.startswith(marker, p):
        p, cl = p + len(marker), cl + len(marker)
    after, after_col = _skip_blanks(line, p, cl, cl + 5)
    spaces = after_col - cl
    if after >= len(line) or spaces == 0 or spaces > 4:
        # An empty first line, or indented code right after the marker: content is one
        # column after the marker.
        indent = cl + 1 - start_col
    else:
        indent = after_col - start_col
    return Item(lineno, marker, indent)


def prefix_end(line: str, lineno: int | None, chain: Sequence[Container]) -> int:
    """Where the text of ``line`` starts, after its container marks."""
    marks = _marks(line, lineno, chain)
    return marks[-1].end if marks else 0


def continuation(line: str, lineno: int | None, chain: Sequence[Container]) -> str:
    """``line`` with item markers blanked out, as it reads when repeated in a new message."""
    out, pos = [], 0
    for m in _marks(line, lineno, chain):
        if m.marker_line:
            out.append(line[pos : m.start])
            out.append(" " * m.width)
            pos = m.end
    out.append(line[pos:])
    return "".join(out)


def reopen(line: str, chain: Sequence[Container]) -> str:
    """``line``, the first of a new message, with the list items around it opened again."""
    out, pos = [], 0
    for m in _marks(line, None, chain):
        if isinstance(m.container, Item) and not m.marker_line:
            marker = m.container.marker
            out.append(line[pos : m.start])
            out.append(marker + " " * max(1, m.width - len(marker)))
            pos = m.end
    if not out:
        return line
    out.append(line[pos:])
    return "".join(out)


def content_prefix(chain: Sequence[Container]) -> str:
    """What puts a new line of text inside every container of ``chain``."""
    return "".join("> " if isinstance(c, Quote) else " " * c.indent for c in chain)
