"""Where a message text may be cut: between blocks, then between lines, then characters.

A text becomes a sequence of :class:`Piece`\\ s; joined with their separators they give the
text back. :mod:`dingwire.content.split` packs pieces into messages and asks a piece to
:meth:`~Piece.explode` only when it does not fit a message on its own. Rules kept here:

- **Markdown is cut between top-level blocks.** Those are found without parsing the whole
  text (see :func:`~dingwire.content.parser.top_level_ranges`); markdown-it parses only a
  stretch that does not fit one message.
- **A block too large for a message** is cut along its structure: a list between items, a
  quote between its blocks, a table between rows (the header is repeated), a list item
  between its blocks, a code block between lines (the fence is closed and opened again);
  then a paragraph between lines, never inside a link, image, code span, HTML tag or escape;
  then a line between characters (see :mod:`dingwire.content.size`), inside a word only
  where one word is longer than a message.
- **A cut inside a block says so**: the part ends with :data:`MARK`. A cut between list
  items, table rows or the blocks of a quote needs no mark.
- **The next message reopens the containers**: a list item's marker is written again, the
  ``>`` of a quote are on every line anyway (see :mod:`dingwire.content.containers`).
- **Plain text** (a text message) is cut between paragraphs, then lines, then characters.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dingwire.content import containers
from dingwire.content.containers import Container, Item, Quote
from dingwire.content.parser import block_tokens, inline_spans, too_deep, top_level_ranges
from dingwire.content.size import Cutter, json_size
from dingwire.core.errors import TooLargeError

if TYPE_CHECKING:
    from markdown_it.token import Token

__all__ = ["MARK", "Piece", "markdown_pieces", "text_pieces"]

MARK = "…(continued)"
"""Ends a message whose last block goes on in the next one."""

Splitter = Callable[["Piece", int], list["Piece"]]
Chain = tuple[Container, ...]

# A stretch that is one heading: an ATX heading line, or a line and its underline.
_HEADING = re.compile(r" {0,3}(?:#{1,6}(?:[ \t][^\n]*)?|[^\n]+\n {0,3}(?:=+|-+)[ \t]*)\Z")


@dataclass(eq=False, slots=True)
class Piece:
    """A stretch of text that can start or end a message.

    ``sep`` joins it to the piece before it in the same message; ``head`` is written before
    it when it starts a message (a repeated table header or code fence); ``tail`` after it
    when a message ends with it but its block goes on (:data:`MARK`, a closing fence).
    ``chain`` are the quotes and list items it sits in; ``keep`` marks a heading, which
    should start the message of the block it heads rather than end the one before.
    """

    text: str
    sep: str = "\n\n"
    head: str = ""
    tail: str = ""
    chain: Chain = ()
    splitter: Splitter | None = field(default=None, repr=False)
    keep: bool = False  # a heading: it goes in the part of what follows it

    def opening(self) -> str:
        """The text when this piece starts a message: its head, list items reopened."""
        return _reopen(self.head + self.text, self.chain)

    def explode(self, room: int) -> list[Piece]:
        """Smaller pieces with the same text; at the finest level (characters) each fits
        ``room`` bytes when it starts a message, tail included."""
        if self.splitter is None:
            raise TooLargeError(
                f"a part needs {json_size(self.opening()):,} bytes here, over the {room:,} left",
                size=json_size(self.opening()),
                limit=room,
            )
        return self.splitter(self, room)


def _reopen(text: str, chain: Chain) -> str:
    if not any(isinstance(c, Item) for c in chain):
        return text
    first, newline, rest = text.partition("\n")
    return containers.reopen(first, chain) + newline + rest


def _frame(pieces: list[Piece], parent: Piece) -> list[Piece]:
    """The parent's separator and head go to the first piece, its tail to the last."""
    pieces[0].sep = parent.sep
    if not pieces[0].head:
        pieces[0].head = parent.head
    pieces[-1].tail = parent.tail
    return pieces


# -- plain text ---------------------------------------------------------------------------


def text_pieces(text: str) -> list[Piece]:
    """A text message's content as pieces: paragraphs, cut at lines then characters."""
    lines = text.split("\n")
    out: list[Piece] = []
    start: int | None = None
    blanks = 0
    for i, line in enumerate([*lines, ""]):
        if line.strip():
            if start is None:
                start, sep = i, "\n" * (blanks + 1)
            continue
        if start is not None:
            out.append(Piece("\n".join(lines[start:i]), sep, splitter=_text_lines))
            start, blanks = None, 0
        blanks += 1
    return out


def _text_lines(parent: Piece, room: int) -> list[Piece]:
    lines = parent.text.split("\n")
    pieces = [Piece(line, "\n", tail="\n" + MARK, splitter=_text_chars) for line in lines]
    return _frame(pieces, parent)


def _text_chars(parent: Piece, room: int) -> list[Piece]:
    return _chars(parent, room, heads=lambda p: parent.head if p == 0 else "")


# -- markdown -----------------------------------------------------------------------------


def markdown_pieces(text: str, env: dict[str, Any] | None = None) -> list[Piece]:
    """A markdown text as pieces: its top-level blocks, cut further on demand.

    ``env`` holds markdown-it's link reference definitions, which tell links from brackets.
    """
    source = _Source(text.split("\n"), env or {})
    pieces = []
    for start, end in top_level_ranges(source.lines):
        text = "\n".join(source.lines[start:end])
        pieces.append(
            Piece(
                text,
                "\n\n",
                splitter=source.segment_splitter(start),
                keep=_HEADING.match(text) is not None,
            )
        )
    return pieces


@dataclass(slots=True)
class _Node:
    """A block of markdown-it's parse, by the lines of the whole text it covers."""

    type: str
    markup: str
    info: str
    start: int
    end: int
    children: list[_Node]


def _tree(tokens: Sequence[Token], offset: int) -> list[_Node]:
    root: list[_Node] = []
    stack: list[list[_Node]] = [root]
    for t in tokens:
        if t.nesting == -1:
            stack.pop()
            continue
        if t.type == "inline":
            continue
        start, end = (t.map[0] + offset, t.map[1] + offset) if t.map else (-1, -1)
        node = _Node(t.type.removesuffix("_open"), t.markup, t.info, start, end, [])
        stack[-1].append(node)
        if t.nesting == 1:
            stack.append(node.children)
    return root


class _Source:
    """The lines of one markdown text, and how each kind of block in them is cut."""

    def __init__(self, lines: list[str], env: dict[str, Any]) -> None:
        self.lines = lines
        self.env = env

    def _end(self, node: _Node, chain: Chain) -> int:
        """The line after ``node``, without the blank lines it may end with (``>`` alone
        is a blank line inside a quote)."""
        end = node.end
        while end > node.start + 1:
            line = self.lines[end - 1]
            if line[containers.prefix_end(line, None, chain) :].strip(" \t"):
                break
            end -= 1
        return end

    def segment_splitter(self, start: int) -> Splitter:
        def split(parent: Piece, room: int) -> list[Piece]:
            end = start + parent.text.count("\n") + 1
            tokens = block_tokens("\n".join(self.lines[start:end]))
            nodes = _tree(tokens, start)
            if too_deep(tokens) or not nodes:
                # markdown-it stopped reading, or found nothing but link definitions: cut
                # the stretch as lines of text.
                return self._lines(parent, start, end, (), spans=False)
            return self._blocks(parent, nodes, (), start)

        return split

    def _blocks(
        self, parent: Piece, nodes: Sequence[_Node], chain: Chain, first: int, tail: str = ""
    ) -> list[Piece]:
        """Pieces for sibling blocks, joined as in the source; ``tail`` ends each but the
        last when a message ends there."""
        pieces: list[Piece] = []
        prev_end = first
        for k, node in enumerate(nodes):
            start = first if k == 0 else node.start
            end = self._end(node, chain)
            sep = "\n" + "".join(line + "\n" for line in self.lines[prev_end:start])
            pieces.append(
                Piece(
                    "\n".join(self.lines[start:end]),
                    sep,
                    tail=tail,
                    chain=chain,
                    splitter=self._node_splitter(node, chain, start),
                    keep=node.type == "heading",
                )
            )
            prev_end = end
        return _frame(pieces, parent)

    def _node_splitter(self, node: _Node, chain: Chain, start: int) -> Splitter:
        def split(parent: Piece, room: int) -> list[Piece]:
            end = self._end(node, chain)
            kind = node.type
            if kind in ("bullet_list", "ordered_list") and node.children:
                return self._blocks(parent, node.children, chain, start)
            if kind == "list_item" and node.children:
                return self._item(parent, node, chain, start)
            if kind == "blockquote" and node.children:
                return self._blocks(parent, node.children, (*chain, Quote()), start)
            if kind == "table":
                return self._table(parent, node, chain, start, end, room)
            if kind == "fence":
                return self._fence(parent, node, chain, start, end, room)
            return self._lines(parent, start, end, chain, spans=kind in ("paragraph", "heading"))

        return split

    def _item(self, parent: Piece, node: _Node, chain: Chain, start: int) -> list[Piece]:
        item = containers.item_for(self.lines[start], start, chain, node.info + node.markup)
        inner = (*chain, item)
        mark = "\n" + containers.content_prefix(inner) + MARK
        first = node.children[0].start
        if first <= start:
            return self._blocks(parent, node.children, inner, start, mark)
        # The marker is alone on its line: that line goes first, on its own.
        lead = Piece("\n".join(self.lines[start:first]), chain=chain)
        rest = self._blocks(parent, node.children, inner, first, mark)
        lead.sep, lead.head = rest[0].sep, rest[0].head
        rest[0].sep, rest[0].head = "\n", ""
        return [lead, *rest]

    def _table(
        self, parent: Piece, node: _Node, chain: Chain, start: int, end: int, room: int
    ) -> list[Piece]:
        rows = [r for body in node.children if body.type == "tbody" for r in body.children]
        if not rows or rows[0].start < 0:
            return self._lines(parent, start, end, chain, spans=True)
        header = range(start, rows[0].start)
        repeat = "".join(containers.continuation(self.lines[i], i, chain) + "\n" for i in header)
        if not _leaves_room(room, repeat, [self.lines[r.start] for r in rows], ""):
            return self._lines(parent, start, end, chain, spans=True)
        pieces = []
        for k, row in enumerate(rows):
            line = row.start
            before = "".join(self.lines[i] + "\n" for i in header) if k == 0 else ""
            pieces.append(
                Piece(
                    before + self.lines[line],
                    "\n",
                    head="" if k == 0 else repeat,
                    chain=chain,
                    splitter=self._line_splitter(
                        line, len(before), chain, repeat, MARK, spans=True
                    ),
                )
            )
        return _frame(pieces, parent)

    def _fence(
        self, parent: Piece, node: _Node, chain: Chain, start: int, end: int, room: int
    ) -> list[Piece]:
        lines, fence = self.lines, node.markup
        last = lines[end - 1]
        closing = last[containers.prefix_end(last, end - 1, chain) :].strip(" \t")
        closed = end - 1 > start and closing.startswith(fence) and set(closing) == {fence[0]}
        body_end = end - 1 if closed else end
        if body_end <= start + 1:
            return self._lines(parent, start, end, chain, spans=False)
        repeat = containers.continuation(lines[start], start, chain) + "\n"
        prefix = containers.content_prefix(chain)
        close = f"\n{prefix}{fence}\n{prefix}{MARK}"
        if not _leaves_room(room, repeat, lines[start + 1 : body_end], close):
            return self._lines(parent, start, end, chain, spans=False)
        pieces = []
        for line in range(start + 1, body_end):
            before = lines[start] + "\n" if line == start + 1 else ""
            after = "\n" + lines[end - 1] if closed and line == body_end - 1 else ""
            pieces.append(
                Piece(
                    before + lines[line] + after,
                    "\n",
                    head="" if before else repeat,
                    tail=close,
                    chain=chain,
                    splitter=self._line_splitter(
                        line, len(before), chain, repeat, close, spans=False
                    ),
                )
            )
        return _frame(pieces, parent)

    # -- lines and characters -------------------------------------------------------------

    def _lines(
        self, parent: Piece, start: int, end: int, chain: Chain, *, spans: bool
    ) -> list[Piece]:
        """A leaf block cut between lines that no link (or the like) spans."""
        lines = self.lines[start:end]
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line) + 1)
        protected = sorted(self._spans(start, end, chain)) if spans else []
        # A line stays with the next one when a protected span runs from one into the other.
        joined = [False] * len(lines)
        for a, b in protected:
            k = bisect_left(offsets, a + 1)  # first line that starts after a
            while k < len(offsets) - 1 and offsets[k] - 1 < b:
                joined[k - 1] = True
                k += 1
        mark = "\n" + containers.content_prefix(chain) + MARK
        pieces: list[Piece] = []
        group = 0
        i = 0
        for k in range(len(lines)):
            if joined[k] and k < len(lines) - 1:
                continue
            base, stop = offsets[group], offsets[k + 1] - 1
            own: list[tuple[int, int]] = []
            while i < len(protected) and protected[i][0] < stop:
                a, b = protected[i]
                own.append((a - base, b - base))
                i += 1
            pieces.append(
                Piece(
                    "\n".join(lines[group : k + 1]),
                    "\n",
                    tail=mark,
                    chain=chain,
                    splitter=self._group_splitter(start + group, own, chain),
                )
            )
            group = k + 1
        return _frame(pieces, parent)

    def _spans(self, start: int, end: int, chain: Chain) -> list[tuple[int, int]]:
        """Protected spans (links, images, code spans…) in ``lines[start:end]`` joined."""
        content: list[str] = []
        con_starts: list[int] = []
        src_starts: list[int] = []
        con = src = 0
        for lineno in range(start, end):
            line = self.lines[lineno]
            cut = containers.prefix_end(line, lineno, chain)
            con_starts.append(con)
            src_starts.append(src + cut)
            content.append(line[cut:])
            con += len(line) - cut + 1
            src += len(line) + 1

        def at(offset: int) -> int:
            k = bisect_right(con_starts, offset) - 1
            return src_starts[k] + offset - con_starts[k]

        return [(at(a), at(b)) for a, b in inline_spans("\n".join(content), self.env)]

    def _group_splitter(self, first: int, spans: list[tuple[int, int]], chain: Chain) -> Splitter:
        """Cuts a group of lines (usually one) of a leaf block between characters."""

        def split(parent: Piece, room: int) -> list[Piece]:
            fixed: list[tuple[int, int]] = []
            starts: list[int] = []
            heads: list[str] = []
            pos = 0
            for k, line in enumerate(parent.text.split("\n")):
                cut = containers.prefix_end(line, first + k, chain)
                # A cut may fall after a line's marks and its first character, not among them.
                fixed.append((pos - 1, pos + cut + 1) if k == 0 else (pos - 1, pos + cut))
                starts.append(pos)
                heads.append(containers.continuation(line[:cut], first + k, chain))
                pos += len(line) + 1

            def head_at(p: int) -> str:
                return parent.head if p == 0 else heads[bisect_right(starts, p) - 1]

            return _chars(parent, room, heads=head_at, fixed=fixed, protected=spans)

        return split

    def _line_splitter(
        self, line: int, at: int, chain: Chain, repeat: str, cut_tail: str, *, spans: bool
    ) -> Splitter:
        """Cuts a piece holding one source line (a table row, a line of code, with the
        header or fence lines around it) between the characters of that line. ``spans``:
        the line holds markdown (a table row), whose links must stay whole."""

        def split(parent: Piece, room: int) -> list[Piece]:
            source = self.lines[line]
            cut = containers.prefix_end(source, line, chain)
            fixed = [(-1, at + cut + 1)]
            if at + len(source) < len(parent.text):
                fixed.append((at + len(source) - 1, len(parent.text) + 1))
            protected: list[tuple[int, int]] = []
            if spans:
                content = source[cut:]
                protected = [
                    (at + cut + a, at + cut + b) for a, b in inline_spans(content, self.env)
                ]
            cont = repeat + containers.continuation(source[:cut], line, chain)

            def head_at(p: int) -> str:
                return parent.head if p == 0 else cont

            return _chars(
                parent, room, heads=head_at, fixed=fixed, protected=protected, cut_tail=cut_tail
            )

        return split


def _leaves_room(room: int, head: str, lines: Sequence[str], tail: str) -> bool:
    """Whether every one of ``lines`` fits a part that repeats ``head`` and ends with
    ``tail``. If not, a table or code block is cut as lines of text instead: better a
    header not repeated than rows cut in the middle."""
    widest = max((json_size(line) for line in lines), default=0)
    return json_size(head) + widest + json_size(tail) <= room


def _longest(
    cutter: Cutter,
    p: int,
    head: str,
    room: int,
    chain: Chain,
    tail: str,
    *,
    anywhere: bool = False,
) -> Piece | None:
    """The longest piece from ``p`` that fits ``room`` with ``head`` and ``tail``
    (``anywhere``: cutting a visible character that is longer than a message)."""
    budget = room - (json_size(_reopen(head, chain)) if head else 0) - json_size(tail)
    while budget > 0:
        end = cutter.cut(p, budget, anywhere=anywhere)
        if end <= p:
            return None
        piece = Piece(cutter.text[p:end], "", head=head, tail=tail, chain=chain)
        # Reopening a list item can change the first line's width (a tab becomes a marker
        # and spaces): measure what will really be sent.
        over = json_size(piece.opening()) + json_size(tail) - room
        if over <= 0:
            return piece
        budget -= over
    return None


def _chars(
    parent: Piece,
    room: int,
    *,
    heads: Callable[[int], str],
    fixed: Sequence[tuple[int, int]] = (),
    protected: Sequence[tuple[int, int]] = (),
    cut_tail: str = MARK,
) -> list[Piece]:
    """``parent`` cut between characters: every piece fits ``room`` when it starts a
    message. Trailing whitespace stays with the last piece, so none is blank."""
    text, chain = parent.text, parent.chain
    body_end = len(text.rstrip())
    cutter = Cutter(text[:body_end], protected, fixed)
    out: list[Piece] = []
    p = 0
    rest_after = json_size(text[body_end:]) + json_size(parent.tail)
    while True:
        head = heads(p)
        # The rest, if it fits (without the repeated header or fence, if need be). Its size
        # comes from the cutter's running sums; only a rest that fits is measured whole.
        last = None
        for h in (head, "") if head else ("",):
            guess = (json_size(_reopen(h, chain)) if h else 0) + cutter.size(p, body_end)
            if guess + rest_after <= room:
                last = Piece(text[p:], "", head=h, tail=parent.tail, chain=chain)
                if json_size(last.opening()) + json_size(last.tail) <= room:
                    break
                last = None
        if last is not None:
            out.append(last)
            break
        piece = _longest(cutter, p, head, room, chain, cut_tail)
        if piece is None and head:
            # The repeated header or fence leaves no room: go on without it.
            piece = _longest(cutter, p, "", room, chain, cut_tail)
        if piece is None:
            piece = _longest(cutter, p, "", room, chain, cut_tail, anywhere=True)
        if piece is None:
            raise TooLargeError(
                f"a limit that leaves {room:,} bytes for text is too small to cut this "
                "text into parts",
                size=json_size(text),
                limit=room,
            )
        out.append(piece)
        p += len(piece.text)
    out[0].sep = parent.sep
    return out
