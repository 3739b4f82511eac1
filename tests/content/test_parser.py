"""The top-level boundaries found without parsing agree with markdown-it's."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dingwire.content.parser import inline_spans, top_level_ranges
from tests.content.helpers import tokens
from tests.content.strategies import CHAOS, DOCUMENT, SLOW


def _straddles(text: str) -> list[int]:
    """Boundaries found by the scan that some top-level block of markdown-it crosses."""
    lines = text.split("\n")
    starts = [start for start, _ in top_level_ranges(lines)]
    blocks = [t.map for t in tokens(text) if t.level == 0 and t.map and t.nesting >= 0]
    return [b for b in starts for m in blocks if m[0] < b < m[1]]


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(st.one_of(DOCUMENT, CHAOS, st.text()))
def test_no_block_crosses_a_boundary(text: str) -> None:
    assert _straddles(text.replace("\r", "\n")) == []


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(st.one_of(DOCUMENT, CHAOS))
def test_ranges_cover_every_non_blank_line(text: str) -> None:
    lines = text.split("\n")
    covered = {i for start, end in top_level_ranges(lines) for i in range(start, end)}
    assert {i for i, line in enumerate(lines) if line.strip(" \t")} <= covered


def test_a_fence_in_a_list_item_is_told_from_one_at_the_top() -> None:
    # "  ```" closes the item's fence here; read as opening a top-level one, it would put
    # everything after it out of step.
    text = "* ```\n  code\n  ```\n* b\n\n- c\n\n- ```\n\n  ```\n\n- d\n\ne"
    assert _straddles(text) == []
    assert top_level_ranges(text.split("\n")) == [(0, 4), (5, 12), (13, 14)]


def test_a_list_that_starts_indented_goes_on_at_column_0() -> None:
    text = "para\n  - a\n\n- b\n\nafter"
    assert _straddles(text) == []
    assert top_level_ranges(text.split("\n")) == [(0, 4), (5, 6)]


def test_fences_and_html_blocks_hold_their_blank_lines() -> None:
    text = "a\n\n```\ncode\n\nmore code\n```\n\n<!--\n\ncomment\n-->\n\nb"
    assert top_level_ranges(text.split("\n")) == [(0, 1), (2, 7), (8, 12), (13, 14)]


def test_spans_cover_links_images_code_and_html() -> None:
    text = "x [l](https://a.example) ![i](https://b.example) `c` <b> &amp; \\* <https://c.example>"
    found = [text[a:b] for a, b in inline_spans(text)]
    assert found == [
        "[l](https://a.example)",
        "![i](https://b.example)",
        "`c`",
        "<b>",
        "&amp;",
        "\\*",
        "<https://c.example>",
    ]


def test_a_list_started_indented_after_a_quoted_code_block() -> None:
    # Found by hypothesis: "  - 0" opens a top-level list, which "- <div>" continues.
    assert _straddles(">     x\n\n  - 0\n\n- <div>\n  *hi*\n  </div>") == []
