"""Sizes on the wire, and where strings may be cut."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dingwire.content.size import Cutter, json_size
from dingwire.core.protocol import encode_body


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_json_size_is_what_encode_body_writes(text: str) -> None:
    assert json_size(text) == len(encode_body({"t": text})) - len(encode_body({"t": ""}))


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("", 0),
        ("ok", 2),
        ("告警", 6),
        ("🚀", 4),
        ('"', 2),
        ("\\", 2),
        ("\n", 2),
        ("\x01", 6),
        ("\x7f", 1),
    ],
)
def test_known_sizes(text: str, size: int) -> None:
    assert json_size(text) == size == len(json.dumps(text, ensure_ascii=False).encode()) - 2


def test_cuts_prefer_spaces() -> None:
    cutter = Cutter("alpha beta gamma delta")
    assert cutter.cut(0, 13) == 11  # "alpha beta " — not inside "gamma"
    assert cutter.cut(0, 100) == len(cutter.text)


def test_cuts_avoid_protected_spans_until_they_must() -> None:
    text = "see [a link](https://x.example/p) now"
    cutter = Cutter(text, protected=[(4, 33)])
    assert cutter.cut(0, 20) == 4
    assert cutter.cut(4, 20) < 33  # a span longer than the budget is cut after all


def test_fixed_spans_are_cut_last() -> None:
    cutter = Cutter("> > quoted text here", fixed=[(-1, 5)])
    assert 5 <= cutter.cut(0, 10) <= 10
    assert 0 < cutter.cut(0, 3) <= 3  # nothing else fits: cut, between characters still
    assert cutter.cut(0, 0) == 0


@pytest.mark.parametrize(
    "text", ["👨‍👩‍👧" * 20, "🇨🇳🇯🇵" * 20, "e\u0301" * 50, "👍🏽" * 20, "告" * 50]
)
def test_cuts_keep_visible_characters_whole(text: str) -> None:
    cutter = Cutter(text)
    for budget in range(1, 60):
        end = cutter.cut(0, budget)
        head, rest = text[:end], text[end:]
        assert json_size(head) <= budget
        assert not rest.startswith(("\u200d", "\u0301", "\U0001f3fd"))
        assert not head.endswith("\u200d")
        assert sum(0x1F1E6 <= ord(c) <= 0x1F1FF for c in head) % 2 == 0
