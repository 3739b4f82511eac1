"""Text that markdown shows exactly as written: untrusted values, and the literal lines of code.

Rules this module keeps:

- Every character that could start markdown syntax in the middle of a line is escaped:
  ``\\ ` * _ [ ] ~`` with a backslash, ``<`` as ``&lt;`` (so no HTML, autolink or
  ``<font>`` can begin), and, in untrusted values, ``& |`` too (``&amp;`` keeps ``&lt;``
  literal; ``\\|`` keeps a value from adding a table cell).
- What is special only at the start of a line (``#`` headings, ``>`` quotes, ``-``/``+``
  bullets, ``1.`` items, ``===`` underlines, ``|:-`` table rules) is escaped there, and only
  there, by :func:`protect_line_start`.
- Leading spaces become no-break spaces: markdown would otherwise drop them, or read four of
  them as a code block.
- An untrusted value cannot notify anyone or link anywhere: ``@`` is followed by a zero-width
  space (``@all`` and ``@13800000000`` still read the same, but DingTalk sees no mention) and
  ``scheme://`` URLs are broken the same way, so no client turns them into links.

Every escape used here is standard CommonMark; rendered, the text reads as it was written.
"""

from __future__ import annotations

import re

__all__ = [
    "NBSP",
    "ZWSP",
    "escape_markdown",
    "escape_text",
    "guard_first_char",
    "literal_lines",
    "protect_line_start",
]

NBSP = "\u00a0"
ZWSP = "\u200b"

# What markdown reacts to anywhere in a line. ``!`` and ``(``/``)`` need no escape once
# ``[`` and ``]`` have one: images and links cannot start without them.
_INLINE = {
    "\\": "\\\\",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "~": "\\~",
    "<": "&lt;",
}
_TEXT = str.maketrans(_INLINE)
# Untrusted values also lose entities (``&lt;`` must show as typed) and table pipes. One
# table, one pass: a second pass would escape the first one's escapes.
_VALUE = str.maketrans({**_INLINE, "&": "&amp;", "|": "\\|"})

# Block syntax at the start of a line, after the escapes above have been applied:
# a heading, a quote, a bullet, a setext underline or thematic break, a table rule,
# and an ordered-list number (whose delimiter gets the escape).
_LINE_START = re.compile(
    r"""
      \#{1,6} (?=[ \t]|$)
    | >
    | [-+] (?=[ \t]|$)
    | = (?=[= \t]*$)
    | [-|:] (?=[-|: \t]*$)
    | \d{1,9} (?P<delim>[.)]) (?=[ \t]|$)
    """,
    re.VERBOSE,
)
_MENTION = re.compile(r"@")
# ``https://``, ``ftp://``, ``dingtalk://``… and ``www.``: what link detectors look for.
_URLISH = re.compile(r"(?<=:/)(?=/)|(?<=\bwww)(?=\.)", re.IGNORECASE)


def escape_text(text: str) -> str:
    """``text`` with every character escaped that markdown could read as inline syntax.

    Line-start syntax is :func:`protect_line_start`'s job.

    >>> escape_text("snake_case *not bold* <b>")
    'snake\\\\_case \\\\*not bold\\\\* &lt;b>'
    """
    return text.translate(_TEXT)


def protect_line_start(line: str) -> str:
    """``line`` (already inline-escaped) with block syntax at its start escaped.

    >>> protect_line_start("# not a heading"), protect_line_start("2. not an item")
    ('\\\\# not a heading', '2\\\\. not an item')
    """
    m = _LINE_START.match(line)
    if m is None:
        return line
    if m.group("delim") is not None:
        i = m.start("delim")
        return f"{line[:i]}\\{line[i:]}"
    # ">" has no backslash escape in older renderers; the entity works everywhere.
    return "&gt;" + line[1:] if line[0] == ">" else "\\" + line


def _leading_spaces(line: str) -> tuple[str, str]:
    """The indentation of ``line`` as no-break spaces (tabs to 4-column stops), and the rest."""
    stripped = line.lstrip(" \t")
    indent = line[: len(line) - len(stripped)]
    return NBSP * len(indent.expandtabs(4)), stripped


def _keep_inner_spaces(text: str) -> str:
    # Markdown collapses runs of spaces; keep their width but leave one breakable space.
    if "  " not in text:
        return text
    return re.sub(r" {2,}", lambda m: NBSP * (len(m.group()) - 1) + " ", text)


def literal_lines(text: str, *, untrusted: bool = False) -> list[str]:
    """Lines of markdown that show each line of ``text`` as written, spaces included.

    Join them with ``"  \\n"`` (a hard break). Blank lines inside become a no-break space so
    the lines stay one paragraph; leading and trailing blank lines are dropped.

    >>> literal_lines("def f():\\n    return *x")
    ['def f():', '\\xa0\\xa0\\xa0\\xa0return \\\\*x']
    """
    raw = text.expandtabs(4).splitlines()
    while raw and not raw[-1].strip():
        raw.pop()
    start = 0
    while start < len(raw) and not raw[start].strip():
        start += 1
    out: list[str] = []
    for line in raw[start:]:
        indent, rest = _leading_spaces(line.rstrip())
        rest = _defuse(rest.translate(_VALUE)) if untrusted else escape_text(rest)
        rest = _keep_inner_spaces(rest)
        out.append(indent + rest if indent else protect_line_start(rest) or NBSP)
    if out:
        out[0] = guard_first_char(out[0])
    return out


def guard_first_char(line: str) -> str:
    """``line`` with a leading whitespace character written as an entity.

    A paragraph loses the whitespace it starts with, even no-break and ideographic spaces;
    an entity survives, and reads the same.
    """
    if line and line[0].isspace():
        entity = "&nbsp;" if line[0] == NBSP else f"&#x{ord(line[0]):X};"
        return entity + line[1:]
    return line


def _defuse(text: str) -> str:
    return _URLISH.sub(ZWSP, _MENTION.sub("@" + ZWSP, text))


def escape_markdown(value: object, *, line_breaks: bool = False) -> str:
    r"""``value`` as markdown text that shows exactly what it says, and does nothing else.

    For untrusted values put into a markdown message (alert labels, log lines, user names):
    the result cannot change formatting, start a heading, list, quote, table or code block,
    contain HTML, a link, an image or an autolink, or mention anyone (``@all`` and
    ``@13800000000`` are shown, but DingTalk does not act on them). Leading and repeated
    spaces are kept. It is safe anywhere in a line of markdown: a paragraph, a heading, a
    list item, a quote, a link text, a table cell.

    Newlines become spaces, since a heading or a table row cannot hold a line break. With
    ``line_breaks=True`` they become line breaks instead, for a value that goes into a
    paragraph, a list item or a quote. Not meant for URLs: put a trusted URL in your own
    ``[text](url)``.

    >>> escape_markdown("**urgent** @all see <https://evil.example>")
    '\\*\\*urgent\\*\\* @\u200ball see &lt;https:/\u200b/evil.example>'
    >>> escape_markdown("disk full\nat /var", line_breaks=True)
    'disk full  \nat /var'
    """
    text = value if isinstance(value, str) else str(value)
    if not text:
        return ""
    if not line_breaks:
        text = " ".join(text.splitlines())
    lines = literal_lines(text, untrusted=True)
    if not lines:
        # Only whitespace: one space changes nothing around it.
        return " "
    return "  \n".join(lines)
