"""Reopening quotes and list items when a message starts in the middle of them."""

from __future__ import annotations

import pytest

from dingwire.content.containers import (
    Item,
    Quote,
    content_prefix,
    continuation,
    item_for,
    prefix_end,
    reopen,
)


def test_item_indentation_is_read_from_its_marker_line() -> None:
    assert item_for("- text", 0, (), "-") == Item(0, "-", 2)
    assert item_for("10.  text", 3, (), "10.") == Item(3, "10.", 5)
    assert item_for("-", 0, (), "-") == Item(0, "-", 2)
    assert item_for("-      code", 0, (), "-") == Item(0, "-", 2)
    assert item_for("> - quoted item", 0, (Quote(),), "-") == Item(0, "-", 2)


@pytest.mark.parametrize(
    ("line", "chain", "reopened"),
    [
        ("  more text", (Item(0, "-", 2),), "- more text"),
        ("     more", (Item(0, "10.", 5),), "10.  more"),
        ("    nested", (Item(0, "-", 2), Item(1, "*", 2)), "- * nested"),
        (">   in a quoted item", (Quote(), Item(0, "-", 2)), "> - in a quoted item"),
        ("- its own marker line", (Item(5, "-", 2),), "- its own marker line"),
        ("lazy line", (Item(0, "-", 2),), "lazy line"),
        ("> quote only", (Quote(),), "> quote only"),
    ],
)
def test_reopen(line: str, chain: tuple[Item | Quote, ...], reopened: str) -> None:
    assert reopen(line, chain) == reopened


def test_continuation_blanks_out_markers_for_repeated_lines() -> None:
    chain = (Quote(), Item(2, "-", 2))
    assert continuation("> - ```", 2, chain) == ">   ```"
    assert continuation(">   | a |", 3, chain) == ">   | a |"
    assert prefix_end(">   | a |", 3, chain) == 4
    assert content_prefix(chain) == ">   "
