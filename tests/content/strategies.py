"""Hypothesis strategies for markdown documents like the ones people send to DingTalk.

Documents are built from blocks (paragraphs, headings, nested lists and quotes, tables,
code, HTML) whose text mixes ASCII words, Chinese, emoji (joined sequences, flags, skin
tones, combining marks), links, images, emphasis and mentions. :data:`LINK_PATTERN` finds
the links and images they generate, so that tests can check none was broken.

Size comes cheaply, by repetition (a line said forty times, a table of rows said again),
so that generating a hundred documents takes well under a second.
"""

from __future__ import annotations

import re
import string

from hypothesis import HealthCheck
from hypothesis import strategies as st

SLOW = [HealthCheck.too_slow]
"""Health checks these strategies skip: on a busy shared machine, generating documents can
be slow without anything being wrong."""

ASCII_WORDS = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12)
CJK_WORDS = st.text(
    alphabet="部署完成服务延迟错误告警恢复数据库连接超时请检查日志磁盘空间不足",
    min_size=1,
    max_size=8,
)
EMOJI = st.sampled_from(["🚀", "✅", "❌", "👨‍👩‍👧", "🇨🇳🇯🇵", "👍🏽", "e\u0301", "ñ", "⚠️"])
WORDS = st.one_of(ASCII_WORDS, ASCII_WORDS, CJK_WORDS, EMOJI)
URLS = st.builds(
    lambda host, path: f"https://{host}.example.com/{path}",
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10),
    st.text(alphabet=string.ascii_lowercase + string.digits + "/_-", max_size=40),
)
LINKS = st.one_of(
    st.builds(lambda w, u: f"[{w}]({u})", WORDS, URLS),
    st.builds(lambda w, u: f"![{w}]({u}.png)", WORDS, URLS),
    st.builds(lambda u: f"<{u}>", URLS),
)
LINK_PATTERN = re.compile(r"!?\[[^\[\]\n]*\]\(https://[^()\s]*\)|<https://[^<>\s]*>")
"""Matches every link, image and autolink that :data:`LINKS` generates."""

INLINE = st.one_of(
    WORDS,
    WORDS,
    WORDS,
    WORDS.map(lambda w: f"**{w}**"),
    WORDS.map(lambda w: f"*{w}*"),
    WORDS.map(lambda w: f"`{w}`"),
    WORDS.map(lambda w: f"~~{w}~~"),
    WORDS.map(lambda w: f"<b>{w}</b>"),
    WORDS.map(lambda w: f'<font color="red">{w}</font>'),
    st.sampled_from(["@13800000000", "@all", "a_b", "x*y", "#5", "1.", "-", ">", "&amp;", "\\*"]),
    LINKS,
)


def line(min_words: int = 1, max_words: int = 10) -> st.SearchStrategy[str]:
    return st.lists(INLINE, min_size=min_words, max_size=max_words).map(" ".join)


def _repeat(text: st.SearchStrategy[str], most: int, sep: str = " ") -> st.SearchStrategy[str]:
    return st.tuples(text, st.integers(1, most)).map(lambda t: sep.join([t[0]] * t[1]))


LONG_LINE = _repeat(line(5, 10), 60)
PARAGRAPH = st.one_of(st.lists(line(), min_size=1, max_size=5).map("\n".join), LONG_LINE)
HEADING = st.builds(lambda level, text: "#" * level + " " + text, st.integers(1, 6), line(1, 6))
CODE_LINE = st.builds(
    lambda indent, words: " " * indent + " ".join(words),
    st.integers(0, 8),
    st.lists(
        st.one_of(ASCII_WORDS, CJK_WORDS, st.sampled_from(["*", "#", "_", "<", "|", "@x"])),
        max_size=8,
    ),
)
FENCE = _repeat(st.lists(CODE_LINE, min_size=1, max_size=8).map("\n".join), 12, "\n").map(
    lambda body: f"```\n{body}\n```"
)
INDENTED = st.lists(CODE_LINE, min_size=1, max_size=8).map(
    lambda lines: "\n".join("    " + (x or "x") for x in lines)
)


def _table(header: list[str], rows: list[list[str]], times: int) -> str:
    width = len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * width]
    for row in rows * times:
        cells = (row + [""] * width)[:width]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


TABLE = st.integers(1, 5).flatmap(
    lambda width: st.builds(
        _table,
        st.lists(line(1, 2), min_size=width, max_size=width),
        st.lists(st.lists(line(0, 3), min_size=width, max_size=width), max_size=6),
        st.integers(1, 12),
    )
)
HTML_BLOCK = st.sampled_from(
    ["<div>\n*hi*\n</div>", "<!-- note -->", "<details>\n<summary>x</summary>\n</details>"]
)
HR = st.just("---")


def _indent(text: str, pad: str, first: str) -> str:
    lines = text.split("\n")
    return "\n".join([first + lines[0], *((pad + x) if x else "" for x in lines[1:])])


def _containers(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    items = st.lists(children, min_size=1, max_size=4)
    bullet = st.tuples(st.sampled_from("-*+"), items, st.booleans()).map(
        lambda t: ("\n\n" if t[2] else "\n").join(_indent(x, "  ", t[0] + " ") for x in t[1])
    )
    ordered = st.tuples(st.integers(1, 120), items).map(
        lambda t: "\n".join(
            _indent(x, " " * (len(str(t[0] + i)) + 2), f"{t[0] + i}. ") for i, x in enumerate(t[1])
        )
    )
    quote = children.map(lambda x: "\n".join(f"> {y}" if y else ">" for y in x.split("\n")))
    return st.one_of(bullet, ordered, quote)


def _nested(items: list[tuple[int, str]]) -> str:
    lines, depth = [], 0
    for wanted, text in items:
        depth = min(wanted, depth + 1)
        lines.append("  " * depth + "- " + text)
    return "\n".join(lines)


DEEP_LIST = st.lists(st.tuples(st.integers(0, 40), line(1, 4)), min_size=1, max_size=60).map(
    _nested
)
"""A list nested up to forty levels deep (each item at most one level deeper than the last)."""

LEAF = st.one_of(PARAGRAPH, PARAGRAPH, HEADING, FENCE, INDENTED, TABLE, HTML_BLOCK, HR, DEEP_LIST)
BLOCK = st.recursive(LEAF, _containers, max_leaves=6)
DOCUMENT = st.lists(
    st.tuples(BLOCK, st.sampled_from(["\n\n", "\n\n\n", "\n"])), min_size=1, max_size=8
).map(lambda blocks: "".join(b + sep for b, sep in blocks).strip("\n"))
"""A markdown document: blocks separated by blank lines, or by a single newline."""

TEXT = _repeat(
    st.lists(
        st.one_of(WORDS, WORDS, st.sampled_from(["\n", "\n\n", "\t", " "]), LINKS), max_size=60
    ).map(" ".join),
    20,
    "\n",
)
"""Plain text, as in a text message: words, emoji, spaces and newlines."""

_SYNTAX = [
    *"ab c\n\n>-*_`~[]()!<>&#|:1.\\\t",
    *["\u3000", "\u00a0", "é", "👨\u200d👩\u200d👧", "🇨🇳"],
    *["```", "    ", "- ", "1. ", "> ", "<br>", "<!--", "-->", "| a |", "|---|"],
    *["[x](https://e.example)", "&amp;", "<font color=red>", "</font>", "***", "~~", "==="],
]
CHAOS = st.lists(st.sampled_from(_SYNTAX), max_size=120).map("".join)
"""Markdown syntax in any order: whatever a user or a template may produce."""
