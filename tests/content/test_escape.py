"""escape_markdown: untrusted values shown as written, and nothing else.

An escaped value, put anywhere in a line of markdown, must not change the formatting, start
a block, make a link, image, autolink or HTML, or mention anyone; rendered, it must read as
the value did.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dingwire.content import escape_markdown
from dingwire.content.escape import ZWSP, literal_lines, protect_line_start
from dingwire.core.mentions import missing_mentions
from tests.content.helpers import READER, rendered_text, tokens, walk

DANGEROUS = [
    "**bold** and *italic* and __under__ and _x_",
    "~~struck~~ and ~single~",
    "`code` and ```fence```",
    "[click](https://evil.example) and ![img](https://evil.example/x.png)",
    "<https://evil.example> and <mail@evil.example>",
    "<b>html</b> <script>alert(1)</script> <!-- comment -->",
    '<font color="red">red</font>',
    "&lt;b&gt; &amp; &#35;",
    "# heading",
    "###### six",
    "> quote",
    "- bullet",
    "+ plus",
    "* star",
    "1. ordered",
    "2) ordered",
    "---",
    "===",
    "***",
    "| a | b |",
    "|---|---|",
    ":---:",
    "    indented code",
    "\tindented by a tab",
    "[ref]: https://evil.example",
    "[ref]",
    "trailing backslash \\",
    "line one\nline two",
    "a\n\n\nb",
    "heading\n===",
    "row | one\n--- | ---",
    "@all please look",
    "@13800000000 call me",
    "mail me at ops@example.com",
    "https://evil.example/path and www.evil.example",
    "dingtalk://dingtalkclient/page/link?url=x",
    "a_b_c and snake_case",
    "\\*already escaped\\*",
    "😀 部署失败 e\u0301",
]
CONTEXTS = [
    "{}",
    "Alert: {} (end)",
    "- item {}",
    "> quoted {}",
    "## {}",
    "[{}](https://ok.example)",
    "**{}**",
    "| label | value |\n|---|---|\n| x | {} |",
]
# What a value may add to the rendering: text, line breaks, and nothing else.
ALLOWED_INLINE = {"text", "softbreak", "hardbreak", "text_special"}


def inline_types(markdown: str) -> list[str]:
    """The types of the inline tokens (inside paragraphs, headings, cells) of ``markdown``."""
    return [c.type for t in tokens(markdown) if t.children for c in walk(t.children)]


def blocks(markdown: str) -> list[str]:
    return [t.type for t in tokens(markdown)]


# Where a line break can go: the value's extra lines continue the paragraph.
MULTILINE_CONTEXTS = [c for c in CONTEXTS if not c.startswith(("## ", "| "))]


def _same_structure(context: str, escaped: str) -> None:
    # What the context renders to with a harmless value is what it must render to with
    # the escaped dangerous one.
    markdown = context.format(escaped)
    assert blocks(markdown) == blocks(context.format("plain")), markdown
    plain = [t for t in inline_types(context.format("plain")) if t not in ALLOWED_INLINE]
    got = [t for t in inline_types(markdown) if t not in ALLOWED_INLINE]
    assert got == plain, markdown


@pytest.mark.parametrize("value", DANGEROUS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_a_value_adds_nothing_but_text(value: str, context: str) -> None:
    _same_structure(context, escape_markdown(value))


@pytest.mark.parametrize("value", DANGEROUS)
@pytest.mark.parametrize("context", MULTILINE_CONTEXTS)
def test_line_breaks_add_nothing_but_text(value: str, context: str) -> None:
    _same_structure(context, escape_markdown(value, line_breaks=True))


def _normal(text: str) -> str:
    """How a value reads once rendered: spaces kept, zero-width spaces invisible."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines).replace("\u00a0", " ")


def _seen(escaped: str) -> str:
    return _normal(rendered_text(escaped).replace(ZWSP, ""))


@pytest.mark.parametrize("value", DANGEROUS)
def test_a_value_reads_as_written(value: str) -> None:
    assert _seen(escape_markdown(value)) == _normal(" ".join(value.splitlines()))
    assert _seen(escape_markdown(value, line_breaks=True)) == _normal(value)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.booleans())
def test_any_text_renders_as_plain_text(value: str, line_breaks: bool) -> None:
    markdown = "Label: " + escape_markdown(value, line_breaks=line_breaks) + " (end)"
    assert blocks(markdown) in (
        ["paragraph_open", "inline", "paragraph_close"],
        [],
    )
    assert set(inline_types(markdown)) <= ALLOWED_INLINE
    seen = rendered_text(markdown)
    # Every @ is followed by a zero-width space, so DingTalk sees no mention.
    assert all(seen[i + 1 : i + 2] == ZWSP for i, ch in enumerate(seen) if ch == "@")
    assert "://" not in seen


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain words", "plain words"),
        ("", ""),
        ("   ", " "),
        ("*x*", "\\*x\\*"),
        ("a_b", "a\\_b"),
        ("<b>", "&lt;b>"),
        ("a & b", "a &amp; b"),
        ("a | b", "a \\| b"),
        ("# h", "\\# h"),
        ("> q", "&gt; q"),
        ("- x", "\\- x"),
        ("1. x", "1\\. x"),
        ("  two spaces", "&nbsp;\u00a0two spaces"),
        ("a\nb", "a b"),
        ("a\n\nb", "a\u00a0 b"),
        ("@all", "@\u200ball"),
        ("https://x.example", "https:/\u200b/x.example"),
        ("www.x.example", "www\u200b.x.example"),
        (42, "42"),
    ],
)
def test_known_escapes(value: object, escaped: str) -> None:
    assert escape_markdown(value) == escaped


@pytest.mark.parametrize(
    ("value", "escaped"),
    [("a\nb", "a  \nb"), ("a\n\nb", "a  \n\u00a0  \nb"), ("a\r\n  b", "a  \n\u00a0\u00a0b")],
)
def test_known_escapes_with_line_breaks(value: str, escaped: str) -> None:
    assert escape_markdown(value, line_breaks=True) == escaped


@pytest.mark.parametrize("value", ["@13800000000 disk full", "owner: @ops_lead", "@all"])
def test_an_escaped_mention_is_not_a_mention(value: str) -> None:
    # core.mentions decides whether DingTalk's @ text is present; for an escaped value it
    # is not, so the message's own `at` still gets its real @ token written in.
    body = {
        "msgtype": "markdown",
        "markdown": {"title": "t", "text": escape_markdown(value)},
        "at": {"atMobiles": ["13800000000"], "atUserIds": ["ops_lead"], "isAtAll": False},
    }
    assert missing_mentions(body) == ["@13800000000", "@ops_lead"]


def test_a_table_cell_stays_one_cell() -> None:
    markdown = f"| a | b |\n|---|---|\n| {escape_markdown('x | y | z')} | 2 |"
    cells = [t for t in tokens(markdown) if t.type == "td_open"]
    assert len(cells) == 2


@pytest.mark.parametrize(
    ("line", "protected"),
    [
        ("# h", "\\# h"),
        ("#hashtag", "#hashtag"),
        ("####### seven", "####### seven"),
        ("+ x", "\\+ x"),
        ("+1", "+1"),
        ("-5 degrees", "-5 degrees"),
        ("---", "\\---"),
        ("===", "\\==="),
        ("|--|", "\\|--|"),
        (":-:", "\\:-:"),
        ("3.14 is pi", "3.14 is pi"),
        ("12) x", "12\\) x"),
        ("1234567890. x", "1234567890. x"),
        ("> q", "&gt; q"),
        ("text", "text"),
    ],
)
def test_line_starts(line: str, protected: str) -> None:
    assert protect_line_start(line) == protected
    # What it protects against is real: the line alone is not a paragraph, protected it is.
    if protected != line:
        assert next(t.type for t in READER.parse(protected)) == "paragraph_open"


def test_literal_lines_keep_indentation_and_drop_edge_blank_lines() -> None:
    assert literal_lines("\n\n  a\n\n\tb\n\n") == ["&nbsp;\u00a0a", "\u00a0", "\u00a0" * 4 + "b"]
