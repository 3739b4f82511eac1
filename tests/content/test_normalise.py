"""to_dingtalk_markdown (content/normalise.py): ordinary markdown rewritten into the subset DingTalk renders."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dingwire.content import lint_markdown, to_dingtalk_markdown
from dingwire.content.rendering import RULE
from tests.content.helpers import tokens, walk
from tests.content.strategies import CHAOS, DOCUMENT, SLOW

NB = "\u00a0"

KNOWN = [
    # Line breaks survive: every break inside a paragraph becomes a hard break.
    ("one\ntwo\nthree", "one  \ntwo  \nthree"),
    ("one  \ntwo", "one  \ntwo"),
    ("one\\\ntwo", "one  \ntwo"),
    ("a<br>b<br/>c", "a  \nb  \nc"),
    ("para one\n\n\n\npara two", "para one\n\npara two"),
    # Headings, emphasis, links and images are DingTalk's own: kept.
    ("# Title", "# Title"),
    ("Title\n=====", "# Title"),
    ("Sub\n---", "## Sub"),
    ("# C# #", "# C#"),
    ("**bold** *it* _it_ __b__", "**bold** *it* _it_ __b__"),
    ("[DingTalk](https://www.dingtalk.com/)", "[DingTalk](https://www.dingtalk.com/)"),
    ('[t](https://x.example "Title")', '[t](https://x.example "Title")'),
    ("![pic](https://x.example/a.png)", "![pic](https://x.example/a.png)"),
    ("[wiki](https://w.example/a_(b))", "[wiki](https://w.example/a_%28b%29)"),
    # Autolinks and reference links become inline links; an empty link text shows the URL.
    ("<https://x.example/a_b>", "[https://x.example/a\\_b](https://x.example/a_b)"),
    ("[text][r]\n\n[r]: https://r.example", "[text](https://r.example)"),
    ("[](https://e.example)", "[https://e.example](https://e.example)"),
    # Tables become lists: one item per row, a "header: value" line per cell.
    (
        "| job | result |\n|---|:-:|\n| lint | ok |\n| test | **failed** |",
        "- job: lint  \n  result: ok\n- job: test  \n  result: **failed**",
    ),
    ("| a | b |\n|---|---|\n|  | x |\n| y | z |", "- b: x\n- a: y  \n  b: z"),
    # A column empty in every row is still named, once.
    ("| a | b |\n|---|---|\n|  | x |", "- a:  \n  b: x"),
    ("| a | b |\n|---|---|", "a · b"),
    ("| a<br>b |\n|---|\n| c<br>d |", "- a b: c  \n  d"),
    # Code is quoted line by line, literally, indentation kept.
    (
        "```python\ndef f():\n    return *x*\n```",
        f"> def f():  \n> {NB * 4}return \\*x\\*",
    ),
    ("    indented\n      more", f"> indented  \n> {NB * 2}more"),
    ("```\n\n  first\n\nlast\n\n```", f"> &nbsp;{NB}first  \n> {NB}  \n> last"),
    ("```\n```", ""),
    ("```\n# not a heading\n- not a list\n```", "> \\# not a heading  \n> \\- not a list"),
    # Strikethrough and HTML are made harmless; <font color> is kept.
    ("~~old~~ new", "\\~\\~old\\~\\~ new"),
    ("<b>x</b>", "&lt;b>x&lt;/b>"),
    ("<font color=red>red</font>", "<font color=red>red</font>"),
    ('<font color="#ff0000">red</font>', '<font color="#ff0000">red</font>'),
    ('<font size="7">big</font>', '&lt;font size="7">big&lt;/font>'),
    ("<div>\n*hi*\n</div>", "&lt;div>  \n\\*hi\\*  \n&lt;/div>"),
    ("<!-- note -->", "&lt;!-- note -->"),
    ("<font color=red>\n**ALERT**\n</font>", "<font color=red>  \n**ALERT**  \n</font>"),
    # A thematic break, which DingTalk does not draw.
    ("a\n\n---\n\nb", f"a\n\n{RULE}\n\nb"),
    # Stray markup characters are escaped, so the result reads the same every time.
    ("a_b c*d [x] ~t", "a\\_b c\\*d \\[x\\] \\~t"),
    ("\\# kept &amp; &nbsp;", "\\# kept &amp; &nbsp;"),
    ("x\n# y", "x\n\n# y"),
    ("one\n2. two", "one  \n2\\. two"),
    # Lists: markers normalised, numbers kept, nesting kept.
    ("* a\n* b\n  + c", "- a\n- b\n  - c"),
    ("3) x\n4) y", "3. x\n4. y"),
    ("- a\n\n- b", "- a\n\n- b"),
    ("- a\n\n* b", "- a\n\n* b"),
    ("1. a\n\n1) b", "1. a\n\n1) b"),
    ("- a\n  ```\n  code\n  ```\n  after", "- a\n\n  > code\n\n  after"),
    ("> quote\ncontinued", "> quote  \n> continued"),
    ("> a\n>\n> > b", "> a\n>\n> > b"),
    ("", ""),
    ("   \n\n  ", ""),
    # A paragraph starts at its first non-blank character, as in any CommonMark reader.
    ("\u3000indented with an ideographic space", "indented with an ideographic space"),
    ("a<br>\u3000b", "a  \n\u3000b"),
    ("<br>\u3000b", "&#x3000;b"),
]


@pytest.mark.parametrize(("source", "expected"), KNOWN)
def test_known_answers(source: str, expected: str) -> None:
    assert to_dingtalk_markdown(source) == expected
    assert to_dingtalk_markdown(expected) == expected


def _words(text: str) -> Counter[str]:
    return Counter(re.findall(r"[^\W_]+", text))


_SEEN = {"text", "code_inline", "code_block", "fence", "html_block", "html_inline"}


def _read_words(markdown: str) -> Counter[str]:
    """The words a reader of ``markdown`` gets: its text, code, HTML, and link targets (a
    table cell beyond the header's count, say, is not read by anyone)."""
    seen: list[str] = []
    for t in walk(tokens(markdown)):
        if t.type in _SEEN:
            seen.append(t.content)
        seen.extend(str(t.attrs[a]) for a in ("href", "src") if a in t.attrs)
        if t.type == "list_item_open":
            seen.append(t.info)
    return _words(" ".join(seen))


@settings(max_examples=120, deadline=None, suppress_health_check=SLOW)
@given(DOCUMENT)
def test_idempotent_and_nothing_lost(source: str) -> None:
    out = to_dingtalk_markdown(source)
    assert to_dingtalk_markdown(out) == out
    # Every word a reader of the source gets is still there (tables repeat their headers).
    assert not _read_words(source) - _words(out)


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW)
@given(st.one_of(CHAOS, st.text()))
def test_idempotent_on_anything(source: str) -> None:
    out = to_dingtalk_markdown(source)
    assert to_dingtalk_markdown(out) == out


# What to_dingtalk_markdown fixes; the rest (URLs, code spans, underscores) is the author's.
FIXED = {"table", "code-block", "line-break", "strikethrough", "html", "rule", "setext-heading"}


@settings(max_examples=120, deadline=None, suppress_health_check=SLOW)
@given(st.one_of(DOCUMENT, CHAOS))
def test_output_has_nothing_the_linter_flags(source: str) -> None:
    out = to_dingtalk_markdown(source)
    assert not [i for i in lint_markdown(out) if i.rule in FIXED], out


def test_deep_nesting_is_kept_as_text() -> None:
    source = ">" * 150 + " deep words\n\nafter"
    out = to_dingtalk_markdown(source)
    assert "deep words" in out
    assert out.endswith("after")
    assert to_dingtalk_markdown(out) == out


def test_deep_lists_lose_nothing() -> None:
    source = "\n".join("  " * i + f"- level{i}" for i in range(80)) + "\n\nafter"
    out = to_dingtalk_markdown(source)
    assert all(f"level{i}" in out for i in range(80))
    assert out.endswith("after")


def test_result_is_one_paragraph_per_line_break_context() -> None:
    # Lines of one paragraph stay one paragraph, with hard breaks between them.
    out = to_dingtalk_markdown("first line\nsecond line")
    kinds = [t.type for t in tokens(out)]
    assert kinds == ["paragraph_open", "inline", "paragraph_close"]
    assert [c.type for c in tokens(out)[1].children or []] == ["text", "hardbreak", "text"]


def test_large_input_is_linear_enough() -> None:
    # Not a benchmark (see bench/): a guard against a quadratic slip in the renderer.
    block = "## h\n\npara with **bold** and [a link](https://x.example)\n\n- a\n- b\n\n"
    small = to_dingtalk_markdown(block * 50)
    big = to_dingtalk_markdown(block * 1000)
    assert big.count("[a link]") == 1000
    assert len(big) == pytest.approx(len(small) * 20, rel=0.01)


def test_importing_dingwire_does_not_import_markdown_it() -> None:
    code = (
        "import sys, dingwire\n"
        "assert 'markdown_it' not in sys.modules, 'markdown_it imported'\n"
        "dingwire.to_dingtalk_markdown('x')\n"
        "assert 'markdown_it' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
