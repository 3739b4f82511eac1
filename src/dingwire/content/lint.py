"""What DingTalk will not render in a markdown text, line by line.

:func:`lint_markdown` reads the text as :func:`~dingwire.to_dingtalk_markdown` does
(markdown-it, CommonMark + GFM) and reports each construct outside DingTalk's subset
(API.md §2.7), with the line it starts on (counted from 1). Rules this module keeps:

- It reports, it does not judge style: every issue is something a DingTalk reader would
  see differently from what the author saw in their editor.
- One issue per construct, not per character; a paragraph's single line breaks are one
  issue, on the first of them.
- Nothing inside a code block is reported: the code block is.
- Each message says what happens and what to do; ``to_dingtalk_markdown`` fixes all of
  them but the URLs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it.token import Token

__all__ = ["RULES", "LintIssue", "lint_markdown"]

_FIX = "to_dingtalk_markdown"
RULES: dict[str, str] = {
    "table": f"tables are not rendered by DingTalk; {_FIX} turns them into lists",
    "code-block": (
        "code blocks are not rendered by DingTalk: lines run together and markdown inside "
        f"is read; {_FIX} quotes them line by line"
    ),
    "line-break": (
        f"single line breaks are ignored by DingTalk; end the line with two spaces, or use {_FIX}"
    ),
    "strikethrough": "strikethrough is not rendered by DingTalk: the tildes show",
    "html": "HTML is not rendered by DingTalk (only <font color=...>); the tags may show",
    "rule": f"horizontal rules are not rendered by DingTalk; {_FIX} draws a line of characters",
    "code-span": "inline code is not in DingTalk's markdown subset; the backticks may show",
    "underscore": "DingTalk's subset has *italic* and **bold**; underscores may show as they are",
    "setext-heading": "underlined headings are not in DingTalk's subset; use # headings",
    "autolink": "<url> links are not in DingTalk's subset; write [text](url)",
    "image-http": "http images may not load in DingTalk's web client; use https",
    "image-url": "images need an absolute https URL that DingTalk can fetch",
    "link-url": "links need an absolute URL (https://, dingtalk://, mailto:)",
    "too-deep": "nested too deeply to be read as markdown; it will show as plain text",
}
"""Every rule the linter has, with the message its issues carry."""

_FONT = re.compile(
    r"""<font\s+color\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'=<>`]+)\s*>\Z|</font\s*>\Z|<br\s*/?>\Z""",
    re.IGNORECASE,
)
_Report = Callable[[int, str], None]
_ABSOLUTE = re.compile(r"(?:https?|dingtalk)://\S|mailto:\S", re.IGNORECASE)


@dataclass(frozen=True, slots=True, order=True)
class LintIssue:
    """One thing DingTalk will not render: where (``line``, from 1), which ``rule``, and
    a ``message`` that says what happens and what to do.

    >>> str(LintIssue(3, "table", RULES["table"]))
    '3: tables are not rendered by DingTalk; to_dingtalk_markdown turns them into lists'
    """

    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.line}: {self.message}"


def lint_markdown(text: str) -> list[LintIssue]:
    """The constructs in ``text`` that DingTalk will not render, in line order.

    >>> for issue in lint_markdown("# Deploy\\n\\n| a | b |\\n|---|---|\\n| 1 | 2 |\\n\\n~~old~~ new"):
    ...     print(issue)
    3: tables are not rendered by DingTalk; to_dingtalk_markdown turns them into lists
    7: strikethrough is not rendered by DingTalk: the tildes show

    An empty list means DingTalk shows the text as written.
    """
    from dingwire.content.parser import MAX_NESTING, block_tokens, too_deep

    env: dict[str, Any] = {}
    tokens = block_tokens(text, env)
    found: set[LintIssue] = set()

    def issue(line: int, rule: str) -> None:
        found.add(LintIssue(line + 1, rule, RULES[rule]))

    if too_deep(tokens):
        # Report the line of the last block markdown-it opened before it stopped reading.
        deepest = next(i for i, t in enumerate(tokens) if t.level >= MAX_NESTING - 1)
        issue(next((t.map[0] for t in reversed(tokens[: deepest + 1]) if t.map), 0), "too-deep")
    in_table = 0
    for t in tokens:
        line = t.map[0] if t.map else 0
        kind = t.type
        if kind == "table_open":
            issue(line, "table")
            in_table += 1
        elif kind == "table_close":
            in_table -= 1
        elif kind in ("fence", "code_block"):
            issue(line, "code-block")
        elif kind == "hr":
            issue(line, "rule")
        elif kind == "html_block":
            _lint_html_block(t, env, issue)
        elif kind == "heading_open" and t.markup in ("=", "-"):
            issue(line, "setext-heading")
        elif kind == "inline":
            _lint_inline(t, env, issue, paragraph=not in_table)
    return sorted(found)


def _lint_html_block(token: Token, env: dict[str, Any], issue: _Report) -> None:
    from dingwire.content.parser import inline_tokens

    line = token.map[0] if token.map else 0
    tags = [t.content for t in inline_tokens(token.content, env) if t.type == "html_inline"]
    if not tags or not all(_FONT.match(tag) for tag in tags):
        issue(line, "html")


def _lint_inline(token: Token, env: dict[str, Any], issue: _Report, *, paragraph: bool) -> None:
    from dingwire.content.parser import inline_tokens, needs_inline_parse

    content = token.content
    first = token.map[0] if token.map else 0
    if not needs_inline_parse(content):
        if paragraph and re.search(r"(?<!  )\n", content):  # two spaces make a hard break
            issue(first, "line-break")
        return
    line = first
    soft = False
    for child in inline_tokens(content, env):
        kind = child.type
        if kind == "softbreak":
            if paragraph and not soft:
                issue(line, "line-break")
                soft = True
            line += 1
        elif kind == "hardbreak":
            line += 1
        elif kind == "s_open":
            issue(line, "strikethrough")
        elif kind == "code_inline":
            issue(line, "code-span")
        elif kind in ("em_open", "strong_open") and child.markup.startswith("_"):
            issue(line, "underscore")
        elif kind == "html_inline":
            if not _FONT.match(child.content):
                issue(line, "html")
            line += child.content.count("\n")
        elif kind == "link_open":
            href = str(child.attrGet("href") or "")
            if child.markup == "autolink":
                issue(line, "autolink")
            elif href and not _ABSOLUTE.match(href):
                issue(line, "link-url")
        elif kind == "image":
            src = str(child.attrGet("src") or "")
            if src.lower().startswith("http://"):
                issue(line, "image-http")
            elif not src.lower().startswith(("https://", "dingtalk://")):
                issue(line, "image-url")
