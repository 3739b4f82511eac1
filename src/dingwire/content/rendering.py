"""How :func:`~dingwire.to_dingtalk_markdown` writes markdown-it's tokens back: the rules
are in :mod:`dingwire.content.normalise`; this module keeps them block by block.

Besides those rules, a block is written so that reading the result again gives the same
blocks: a list that cannot interrupt a paragraph gets a blank line before it, two lists of
one kind in a row get different markers, a code block (now a quote) is kept apart from the
paragraph after it, and the characters around ``*`` and ``_`` keep their class, on which
emphasis depends.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from dingwire.content.escape import (
    NBSP,
    escape_text,
    guard_first_char,
    literal_lines,
    protect_line_start,
)
from dingwire.content.parser import inline_tokens, needs_inline_parse, too_deep

if TYPE_CHECKING:
    from markdown_it.token import Token

__all__ = ["RULE", "Block", "Renderer"]

RULE = "─" * 12
"""What a thematic break (``---``) becomes: DingTalk does not draw one."""

_PARA, _HEADING, _QUOTE, _BULLET, _ORDERED = "para", "heading", "quote", "bullet", "ordered"
_EMPHASIS_OPEN = frozenset({"em_open", "strong_open"})
_EMPHASIS_CLOSE = frozenset({"em_close", "strong_close"})
# What the renderer writes so differently from the source that emphasis around it may pair
# up differently when read again: strikethrough markers become text, <br> a line break.
# (Links, escaped HTML and backslash breaks keep the kind of character next to each * and
# _, on which the pairing depends.)
_REWRITTEN = frozenset({"s_open", "s_close", "html_inline"})

_BR = re.compile(r"<br\s*/?>\Z", re.IGNORECASE)
_FONT = re.compile(
    r"""<font\s+color\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'=<>`]+)\s*>\Z|</font\s*>\Z""",
    re.IGNORECASE,
)
# An ATX heading's closing sequence: " ##" at the end would be dropped when read again.
_CLOSING_HASHES = re.compile(r"(?:^|(?<=[ \t]))#+[ \t]*$")


@dataclass(frozen=True, slots=True)
class Block:
    """One rendered block (``text``), and what the block after it needs to know."""

    kind: str
    text: str
    marker: str = ""
    # Whether a list can start right after a paragraph line (CommonMark: non-empty, and an
    # ordered list only from 1); if not, a blank line must come first.
    interrupts: bool = True


def _needs_blank(before: Block, after: Block) -> bool:
    """Whether ``after`` would merge into ``before`` if only a newline separated them."""
    if before.kind == _HEADING:
        return False
    if after.kind == _PARA:
        return True  # a lazy continuation line
    if after.kind == _QUOTE:
        return before.kind == _QUOTE
    if after.kind in (_BULLET, _ORDERED):
        return not after.interrupts
    return False


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def _finish(raw: list[str]) -> list[str]:
    """Inline lines, ready to join with hard breaks: trimmed, line starts made safe."""
    lines = [line.strip(" \t") for line in raw]
    start, end = 0, len(lines)
    while start < end and not lines[start]:
        start += 1
    # A paragraph ends at its last non-blank character, no-break and ideographic spaces
    # included, when it is read again: end it there now.
    while end > start and not lines[end - 1].rstrip():
        end -= 1
    if end > start:
        lines[end - 1] = lines[end - 1].rstrip()
    # An empty line in the middle (<br><br>) stays a line: a no-break space keeps the
    # paragraph from ending there.
    out = [protect_line_start(line) if line else NBSP for line in lines[start:end]]
    if out:
        out[0] = guard_first_char(out[0])
    return out


def _run_of(token: Token | None) -> str:
    """The emphasis character of ``token``, if it is emphasis markup."""
    if token is not None and (token.type in _EMPHASIS_OPEN or token.type in _EMPHASIS_CLOSE):
        return token.markup[0]
    return ""


def _text(content: str, before: Token | None, after: Token | None) -> str:
    """A text token, escaped, except for ``*`` or ``_`` left over from a run whose other
    characters are emphasis markup next to it: escaping them would shorten the run, and
    the length of a run decides what it matches ("***a**" is not "\\***a**")."""
    lead = trail = ""
    char = _run_of(before)
    if char and content.startswith(char):
        rest = content.lstrip(char)
        lead, content = content[: len(content) - len(rest)], rest
    char = _run_of(after)
    if char and content.endswith(char):
        rest = content.rstrip(char)
        trail, content = content[len(rest) :], rest
    return lead + escape_text(content) + trail


def _closes_run(tokens: Sequence[Token], k: int) -> bool:
    return k < len(tokens) and tokens[k].type in _EMPHASIS_CLOSE


def _join(lines: Sequence[str]) -> str:
    """Lines joined by hard breaks: two spaces and a newline, or just a newline after a
    line that ends with a backslash break of its own (an odd run of backslashes, since an
    escaped backslash is two)."""
    out: list[str] = []
    for line in lines[:-1]:
        run = len(line) - len(line.rstrip("\\"))
        out.append(line + ("\n" if run % 2 else "  \n"))
    out.extend(lines[-1:])
    return "".join(out)


def _one_line(lines: Sequence[str]) -> str:
    """Lines as one, their line breaks as spaces (a backslash break's backslash too)."""
    words = []
    for line in lines:
        run = len(line) - len(line.rstrip("\\"))
        words.append(line[:-1] if run % 2 else line)
    return " ".join(w for w in words if w.strip(NBSP)).rstrip()


def _alt(image: Token) -> str:
    """An image's alt text, as the plain text it is shown as (formatting has no place in
    it), escaped, on one line."""
    words: list[str] = []
    for t in image.children or []:
        if t.type in ("text", "text_special", "code_inline", "html_inline"):
            words.append(t.content)
        elif t.type in ("softbreak", "hardbreak"):
            words.append(" ")
        elif t.type == "image":
            words.append(_alt(t))
    # "&" too: plain text "&amp;" must not come back as "&".
    return escape_text(" ".join("".join(words).split()).replace("&", "&amp;"))


def _code_span(token: Token) -> str:
    content, fence = token.content, token.markup
    if (
        content.startswith("`")
        or content.endswith("`")
        or (content.startswith(" ") and content.endswith(" ") and content.strip(" "))
    ):
        # markdown-it took one space off each side: put them back.
        content = f" {content} "
    return f"{fence}{content}{fence}"


def _destination(token: Token, attr: str) -> str:
    url = str(token.attrGet(attr) or "")
    # Unbalanced parentheses would end the destination early; percent-encoded they cannot.
    url = url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
    title = token.attrGet("title")
    if title:
        quoted = str(title).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        return f'{url} "{quoted}"'
    return url


class Renderer:
    """Writes markdown-it's tokens back as DingTalk markdown."""

    def __init__(self, tokens: list[Token], env: dict[str, Any], lines: list[str]) -> None:
        self.tokens = tokens
        self.env = env
        self.lines = lines
        self.deep = too_deep(tokens)

    # -- blocks -------------------------------------------------------------------------

    def top_level(self, out: list[Block]) -> None:
        """Render the top-level blocks, appending them to ``out`` (whose last block is the
        one before them)."""
        tokens = self.tokens
        i = 0
        while i < len(tokens):
            end = self._close(i)
            where = tokens[i].map
            if self.deep and where and too_deep(tokens, i, end):
                # markdown-it stopped reading part of this block: keep all of it as text.
                start, stop = where
                out.extend(_literal_blocks(self.lines[start:stop]))
                i = end
                continue
            block, i = self._block(i, out[-1] if out else None)
            if block is not None:
                out.append(block)

    def _close(self, i: int) -> int:
        """The index after the block that starts at ``i``."""
        tokens, level = self.tokens, self.tokens[i].level
        if tokens[i].nesting != 1:
            return i + 1
        j = i + 1
        while not (tokens[j].nesting == -1 and tokens[j].level == level):
            j += 1
        return j + 1

    def _children(self, i: int, close: str, first: Block | None = None) -> tuple[list[Block], int]:
        """The blocks from ``i`` up to the ``close`` token, and the index after it.
        ``first`` stands before the first of them (see :meth:`_list`)."""
        out: list[Block] = []
        tokens = self.tokens
        while tokens[i].type != close:
            block, i = self._block(i, out[-1] if out else first)
            if block is not None:
                out.append(block)
        return out, i + 1

    def _block(self, i: int, before: Block | None) -> tuple[Block | None, int]:
        token = self.tokens[i]
        kind = token.type
        if kind == "paragraph_open":
            lines = self.inline_lines(self.tokens[i + 1].content)
            return (Block(_PARA, _join(lines)) if lines else None), i + 3
        if kind == "heading_open":
            return self._heading(token, self.tokens[i + 1].content), i + 3
        if kind == "blockquote_open":
            children, end = self._children(i + 1, "blockquote_close")
            text = "\n\n".join(b.text for b in children)
            return Block(_QUOTE, _quote(text) if text else ">"), end
        if kind in ("bullet_list_open", "ordered_list_open"):
            return self._list(i, before)
        if kind in ("fence", "code_block"):
            code = literal_lines(token.content)
            return (Block(_QUOTE, _quote("  \n".join(code))) if code else None), i + 1
        if kind == "html_block":
            return self._html_block(token.content), i + 1
        if kind == "hr":
            return Block(_PARA, RULE), i + 1
        if kind == "table_open":
            return self._table(i, before)
        # Anything else markdown-it may produce: keep its text, literally.
        end = self._close(i)
        if token.map:
            start, stop = token.map
            blocks = _literal_blocks(self.lines[start:stop])
            text = "\n\n".join(b.text for b in blocks)
            return (Block(_PARA, text) if text else None), end
        return None, end

    def _heading(self, token: Token, content: str) -> Block:
        text = "".join(self.inline_lines(content, one_line=True))
        text = _CLOSING_HASHES.sub(lambda m: "\\" + m.group(), text)
        hashes = "#" * int(token.tag[1])
        return Block(_HEADING, f"{hashes} {guard_first_char(text)}" if text else hashes)

    def _list(self, i: int, before: Block | None) -> tuple[Block, int]:
        tokens = self.tokens
        opening = tokens[i]
        ordered = opening.type == "ordered_list_open"
        kind = _ORDERED if ordered else _BULLET
        # Two lists of one kind in a row would be read as one list: alternate the markers.
        if ordered:
            marker = ")" if before and before.kind == _ORDERED and before.marker == "." else "."
        else:
            marker = "*" if before and before.kind == _BULLET and before.marker == "-" else "-"
        items: list[tuple[str, list[Block]]] = []
        loose = False
        j = i + 1
        while tokens[j].type == "list_item_open":
            number = tokens[j].info
            # A bullet list that opens an item sits on the item's marker line: its marker
            # alternates with the item's, since "- - -" would be a horizontal rule.
            opener = None if ordered else Block(_BULLET, "", marker)
            children, j = self._children(j + 1, "list_item_close", opener)
            items.append((f"{number}{marker}" if ordered else marker, children))
        end = j + 1
        item_level = opening.level + 2
        for k in range(i + 1, j):
            t = tokens[k]
            if t.type == "paragraph_open" and t.level == item_level and not t.hidden:
                loose = True
                break
        if not loose:
            loose = any(_needs_blank(a, b) for _, blocks in items for a, b in pairwise(blocks))
        rendered = [_item(m, blocks, loose) for m, blocks in items]
        first_empty = not items[0][1]
        starts_at_one = not ordered or int(tokens[i + 1].info or "1") == 1
        return (
            Block(
                kind,
                ("\n\n" if loose else "\n").join(rendered),
                marker,
                interrupts=starts_at_one and not first_empty,
            ),
            end,
        )

    def _table(self, i: int, before: Block | None) -> tuple[Block | None, int]:
        tokens = self.tokens
        header: list[str] = []
        rows: list[list[list[str]]] = []
        row: list[list[str]] = []
        j = i + 1
        while tokens[j].type != "table_close":
            kind = tokens[j].type
            if kind == "tr_open":
                row = []
            elif kind in ("th_open", "td_open"):
                head = kind == "th_open"
                row.append(self.inline_lines(tokens[j + 1].content, one_line=head))
                j += 2
            elif kind == "tr_close":
                if header or rows:
                    rows.append(row)
                else:
                    header = ["".join(cell) for cell in row]
            j += 1
        end = j + 1
        marker = "*" if before and before.kind == _BULLET and before.marker == "-" else "-"
        # A column empty in every row is still named, once, in the first item.
        filled = [any(k < len(cells) and cells[k] for cells in rows) for k in range(len(header))]
        items = []
        for n, cells in enumerate(rows):
            lines: list[str] = []
            for k, (name, cell) in enumerate(zip(header, cells, strict=False)):
                if cell:
                    lines.append(f"{name}: {cell[0]}" if name else cell[0])
                    lines.extend(cell[1:])
                elif n == 0 and name and not filled[k]:
                    lines.append(f"{name}:")
            if lines:
                items.append(_item(marker, [Block(_PARA, _join(lines))], loose=False))
        if items:
            return Block(_BULLET, "\n".join(items), marker), end
        names = [name for name in header if name]
        # A table with no rows still says something: its column names.
        return (Block(_PARA, " · ".join(names)) if names else None), end

    def _html_block(self, content: str) -> Block | None:
        content = content.rstrip("\n")
        if needs_inline_parse(content):
            tokens = inline_tokens(content, self.env)
            html = [t.content for t in tokens if t.type == "html_inline"]
            if html and all(_FONT.match(h) or _BR.match(h) for h in html):
                # Only tags DingTalk renders: keep it as markdown with its <font> tags.
                lines = _finish(self._inline(tokens))
                return Block(_PARA, _join(lines)) if lines else None
        lines = literal_lines(content)
        return Block(_PARA, "  \n".join(lines)) if lines else None

    # -- inline -------------------------------------------------------------------------

    def inline_lines(self, content: str, *, one_line: bool = False) -> list[str]:
        """A paragraph's (or cell's) content as lines to join with hard breaks; with
        ``one_line``, as a single line (for a heading or a column name)."""

        def render(tokens: Sequence[Token], literal: bool = False) -> list[str]:
            lines = _finish(self._inline(tokens, literal=literal))
            return [_one_line(lines)] if one_line and lines else lines

        if not needs_inline_parse(content):
            if "\n" not in content and content == content.strip():
                # The common case, a cell or a short line of words: nothing to trim.
                return [protect_line_start(escape_text(content))] if content else []
            lines = _finish([escape_text(line) for line in content.split("\n")])
            return [_one_line(lines)] if one_line and lines else lines
        tokens = inline_tokens(content, self.env)
        lines = render(tokens)
        kinds = {t.type for t in tokens}
        # Emphasis pairs up by rules that look at the characters around each * and _, and
        # the rewriting above may have changed some of those: read the result back, and if
        # it reads differently, show the asterisks as written rather than guess.
        risky = kinds & _EMPHASIS_OPEN and (one_line or kinds & _REWRITTEN)
        if risky and render(inline_tokens(_join(lines), self.env)) != lines:
            lines = render(tokens, literal=True)
        return lines

    def _inline(self, tokens: Sequence[Token], *, literal: bool = False) -> list[str]:
        lines: list[str] = []
        buf: list[str] = []
        links: list[tuple[Token, int, int]] = []
        fonts = 0
        last_break = ""  # what made the line break that nothing has followed yet
        for k, token in enumerate(tokens):
            kind = token.type
            if kind == "text":
                if literal:
                    buf.append(escape_text(token.content))
                    continue
                before = tokens[k - 1] if k else None
                after = tokens[k + 1] if k + 1 < len(tokens) else None
                buf.append(_text(token.content, before, after))
            elif kind == "text_special":
                if token.info == "escape" and token.content == token.markup:
                    # A backslash before a character it cannot escape is a backslash.
                    buf.append(escape_text(token.content))
                else:
                    buf.append(token.markup)  # an escape or an entity, as written
            elif kind in ("softbreak", "hardbreak"):
                if last_break == "br" and not "".join(buf):
                    continue  # "<br>⏎" is one line break, not two
                last_break = "newline"
                opens = k > 0 and tokens[k - 1].type in _EMPHASIS_OPEN
                if kind == "hardbreak" and not literal and (opens or _closes_run(tokens, k + 1)):
                    # A backslash break next to * or _ stays one: two spaces there would
                    # turn "*\\⏎x*" (emphasis) into "*  ⏎x*" (not).
                    buf.append("\\")
                lines.append("".join(buf))
                buf = []
            elif kind in _EMPHASIS_OPEN or kind in _EMPHASIS_CLOSE:
                buf.append(escape_text(token.markup) if literal else token.markup)
            elif kind in ("s_open", "s_close"):
                buf.append("\\~\\~")
            elif kind == "code_inline":
                buf.append(_code_span(token))
            elif kind == "link_open":
                # An autolink inside a link's text is only text: links do not nest.
                # (Its angle brackets stay, as text: what is next to them stays the kind
                # of character it was, on which emphasis depends.)
                nested = bool(links) and token.markup == "autolink"
                links.append((token, len(lines), -1 if nested else len(buf)))
                buf.append("&lt;" if nested else "[")
            elif kind == "link_close":
                opening, at_line, at_buf = links.pop()
                if at_buf < 0:
                    buf.append(">")
                    continue
                if at_line == len(lines) and at_buf == len(buf) - 1:
                    # An empty link text would hide the link: show where it goes.
                    buf.append(escape_text(str(opening.attrGet("href") or "")))
                buf.append(f"]({_destination(opening, 'href')})")
            elif kind == "image":
                buf.append(f"![{_alt(token)}]({_destination(token, 'src')})")
            elif kind == "html_inline":
                html = token.content
                if _BR.match(html):
                    # A line break, unless it sits just inside * or **, whose meaning
                    # depends on the character next to them ("*a<br>*" is emphasis,
                    # "*a  \n*" is not): there it shows as written, which keeps it.
                    after_open = k > 0 and tokens[k - 1].type in _EMPHASIS_OPEN
                    before_close = k + 1 < len(tokens) and tokens[k + 1].type in _EMPHASIS_CLOSE
                    if after_open or before_close:
                        buf.append(escape_text(html))
                    elif last_break == "newline" and not "".join(buf):
                        last_break = "br"  # "⏎<br>" is one line break too
                    else:
                        lines.append("".join(buf))
                        buf = []
                        last_break = "br"
                elif _FONT.match(html) and (not html.startswith("</") or fonts > 0):
                    # A closing tag is kept only when it closes one that was kept.
                    fonts += -1 if html.startswith("</") else 1
                    buf.append(html)
                else:
                    first, *rest = html.split("\n")
                    buf.append(escape_text(first))
                    for part in rest:
                        lines.append("".join(buf))
                        buf = [escape_text(part)]
            else:
                buf.append(escape_text(token.content))
        lines.append("".join(buf))
        return lines


def _item(marker: str, blocks: list[Block], loose: bool) -> str:
    if not blocks:
        return marker
    body = ("\n\n" if loose else "\n").join(b.text for b in blocks)
    pad = " " * (len(marker) + 1)
    first, *rest = body.split("\n")
    return "\n".join([f"{marker} {first}", *(pad + line if line else "" for line in rest)])


def _literal_blocks(lines: Sequence[str]) -> list[Block]:
    """Source lines kept as text: one paragraph per run of non-blank lines."""
    out: list[Block] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            run.append(line)
        elif run:
            text = "  \n".join(literal_lines("\n".join(run)))
            if text:
                out.append(Block(_PARA, text))
            run = []
    return out
