"""The one markdown reading behind :mod:`dingwire.content`: CommonMark plus GFM tables and
strikethrough, through markdown-it-py, loaded on first use so ``import dingwire`` stays light.

Rules this module keeps:

- Every module of the package reads markdown the same way, so what the linter reports, what
  the normaliser rewrites and where the splitter cuts agree.
- Nesting is allowed up to :data:`MAX_NESTING` levels. Past it markdown-it drops the rest of
  the block without a word; :func:`too_deep` tells callers, who then keep that block as text.
- Inline parsing is done only where the text has a character that can start inline syntax:
  markdown-it spends most of its time on tokens, and most table cells, headings and list
  items are plain words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token

__all__ = [
    "MAX_NESTING",
    "block_tokens",
    "inline_spans",
    "inline_tokens",
    "needs_inline_parse",
    "too_deep",
    "top_level_ranges",
]

MAX_NESTING = 100

# The characters at which a markdown-it inline rule (other than plain text and line breaks)
# can match: escapes, code spans, strikethrough, emphasis, links, images, HTML, autolinks,
# entities. Text without any of them is words and line breaks only.
_INLINE_TRIGGER = re.compile(r"[\\`~*_\[<&]")


_FENCE = re.compile(r" {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_ITEM = re.compile(r" {0,3}(?:(?P<bullet>[-+*])|\d{1,9}(?P<delim>[.)]))(?:[ \t]|$)")
_HTML_BLOCKS = (
    (re.compile(r" {0,3}<(?:script|pre|style|textarea)(?:[ \t>]|$)", re.I),
     re.compile(r"</(?:script|pre|style|textarea)>", re.I)),
    (re.compile(r" {0,3}<!--"), re.compile(r"-->")),
    (re.compile(r" {0,3}<\?"), re.compile(r"\?>")),
    (re.compile(r" {0,3}<![A-Za-z]"), re.compile(r">")),
    (re.compile(r" {0,3}<!\[CDATA\["), re.compile(r"\]\]>")),
)  # fmt: skip


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING})
    md.enable(["table", "strikethrough"])
    # Inline content is parsed on demand (see inline_tokens); escapes and entities stay
    # separate tokens so that they can be written back exactly as the author wrote them.
    md.disable(["inline", "text_join"])
    return md


def block_tokens(text: str, env: dict[str, Any] | None = None) -> list[Token]:
    """markdown-it's block tokens for ``text``; inline tokens carry ``content`` only."""
    return _parser().parse(text, {} if env is None else env)


def needs_inline_parse(content: str) -> bool:
    """Whether ``content`` can hold inline syntax beyond words and line breaks."""
    return _INLINE_TRIGGER.search(content) is not None


def inline_tokens(content: str, env: dict[str, Any] | None = None) -> list[Token]:
    """markdown-it's inline tokens for ``content`` (a paragraph, heading or table cell)."""
    md = _parser()
    tokens: list[Token] = []
    md.inline.parse(content, md, {} if env is None else env, tokens)
    return tokens


def top_level_ranges(lines: Sequence[str]) -> list[tuple[int, int]]:
    """Line ranges ``(start, end)`` that each hold whole top-level blocks (blank lines
    between ranges belong to none; every other line to one).

    Found without parsing where a scan of line starts can be sure: after a blank line, a
    line starting in column 0 starts a new top-level block, unless a code fence or an HTML
    block that runs across blank lines is open, or the line is the next item of a list
    (same bullet, or same ``.``/``)`` after a number). Every boundary found so is one
    markdown-it agrees with; markdown-it may find more inside one range (a heading right
    after a paragraph, say).

    A fence or such an HTML block indented by one to three spaces may belong to a list item
    or stand at the top level: only parsing tells, so a text with one is parsed.
    """
    try:
        return _scan(lines)
    except _Unsure:
        return _parsed_ranges(lines)


class _Unsure(Exception):
    """The scan met a line whose meaning depends on the blocks around it."""


def _scan(lines: Sequence[str]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start: int | None = None
    last = -1
    fence: tuple[str, int] | None = None
    closer: re.Pattern[str] | None = None
    after_blank = True
    # The kinds of marker ("-", "+", "*", "." or ")") of the lists that may still be open
    # at the top level: an item of one of them after a blank line may continue its list.
    # Items indented up to three spaces count too (they may belong to a top-level list),
    # which can only make the scan find fewer boundaries, never a wrong one.
    listing: set[str] = set()
    for i, line in enumerate(lines):
        if fence is not None or closer is not None:
            if fence is not None and _closes(line, fence):
                fence = None
            elif closer is not None and closer.search(line):
                closer = None
            last = i
            continue
        if not line.strip(" \t"):
            after_blank = True
            continue
        m = _ITEM.match(line)
        kind = (m["bullet"] or m["delim"]) if m else None
        if start is not None and after_blank and line[0] not in " \t" and kind not in listing:
            out.append((start, last + 1))
            start = None
            listing = set()
        if kind is not None:
            listing.add(kind)
        if start is None:
            start = i
        after_blank = False
        last = i
        first = line.lstrip(" ")[:1]
        if first in ("`", "~"):
            m = _FENCE.match(line)
            if m and not (m["fence"][0] == "`" and "`" in m["info"]):
                if line[0] == " ":
                    raise _Unsure
                fence = (m["fence"][0], len(m["fence"]))
        elif first == "<":
            for opener, end in _HTML_BLOCKS:
                m = opener.match(line)
                if m:
                    if line[0] == " ":
                        raise _Unsure
                    if not end.search(line, m.end()):
                        closer = end
                    break
    if start is not None:
        out.append((start, last + 1))
    return out


def _parsed_ranges(lines: Sequence[str]) -> list[tuple[int, int]]:
    """:func:`top_level_ranges` from markdown-it's parse: a range from each top-level block
    (or from the first line, if link definitions come before any block) to the next."""
    tokens = block_tokens("\n".join(lines))
    starts = sorted({t.map[0] for t in tokens if t.level == 0 and t.map and t.nesting >= 0})
    filled = [i for i, line in enumerate(lines) if line.strip(" \t")]
    if not filled:
        return []
    if not starts or starts[0] > filled[0]:
        starts.insert(0, filled[0])
    out: list[tuple[int, int]] = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        while end > start and not lines[end - 1].strip(" \t"):
            end -= 1
        if end > start:
            out.append((start, end))
    return out


def _closes(line: str, fence: tuple[str, int]) -> bool:
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3:
        return False
    char, length = fence
    run = len(stripped) - len(stripped.lstrip(char))
    return run >= length and not stripped[run:].strip(" \t")


# Inline constructs that a cut must not fall inside: a cut there would break a link or an
# image, or show the markup of a code span, an HTML tag, an entity or an escape.
_ATOMS = ("escape", "backticks", "link", "image", "autolink", "html_inline", "entity")
_SPANS = "dingwire.spans"


@cache
def _span_parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING})
    md.enable(["table", "strikethrough"])
    ruler = md.inline.ruler
    for name in _ATOMS:
        ruler.at(name, _recording(ruler.__rules__[ruler.__find__(name)].fn))
    return md


def _recording(rule: Callable[[StateInline, bool], bool]) -> Callable[[StateInline, bool], bool]:
    def record(state: StateInline, silent: bool) -> bool:
        start = state.pos
        matched = rule(state, silent)
        if matched and not silent:
            state.env[_SPANS].append((start, state.pos))
        return matched

    return record


def inline_spans(content: str, env: Mapping[str, Any] | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` offsets in ``content`` of its links, images, code spans, HTML tags,
    entities and escapes. ``env`` carries link reference definitions, if any."""
    if not needs_inline_parse(content):
        return []
    md = _span_parser()
    spans: list[tuple[int, int]] = []
    run_env: dict[str, Any] = {**(env or {}), _SPANS: spans}
    md.inline.parse(content, md, run_env, [])
    return spans


def too_deep(tokens: Sequence[Token], start: int = 0, end: int | None = None) -> bool:
    """Whether markdown-it reached its nesting limit (and so dropped text) in ``tokens``."""
    stop = len(tokens) if end is None else end
    return any(tokens[i].level >= MAX_NESTING - 1 for i in range(start, stop))
