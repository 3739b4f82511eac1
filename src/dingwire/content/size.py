"""How many bytes text takes in DingTalk's JSON body, and where a string may be cut.

Rules this module keeps:

- Sizes are what :func:`dingwire.core.protocol.encode_body` puts on the wire: compact JSON,
  ``ensure_ascii=False``, UTF-8. ``"`` and ``\\`` and control characters cost their escapes,
  CJK three bytes, an emoji four.
- A cut never falls inside a character (Python strings are code points, so it cannot) nor
  between the code points of one visible character: not before a combining mark, variation
  selector, zero-width joiner or emoji modifier, not after a joiner, not inside a flag.
- Where it can, a cut falls after whitespace, so that words stay whole.
"""

from __future__ import annotations

import json
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

__all__ = ["Cutter", "json_size"]

_ESCAPED = {"\n": 2, "\r": 2, "\t": 2, "\b": 2, "\f": 2, '"': 2, "\\": 2}
_ZWJ = "\u200d"
# How far back from the largest possible cut to look for a space to cut after.
_WORD_WINDOW = 200


def json_size(text: str) -> int:
    """Bytes that ``text`` takes inside a JSON string on the wire (quotes not counted).

    >>> json_size("ok"), json_size("告警"), json_size('a"b\\n')
    (2, 6, 6)
    """
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text)
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def _char_size(ch: str) -> int:
    o = ord(ch)
    if o < 0x80:
        if o < 0x20 or ch in _ESCAPED:
            return _ESCAPED.get(ch, 6)
        return 1
    if o < 0x800:
        return 2
    return 3 if o < 0x10000 else 4


def _extends(ch: str) -> bool:
    """Whether ``ch`` belongs to the character before it (grapheme "extend")."""
    o = ord(ch)
    return (
        ch == _ZWJ
        or ch == "\u200c"
        or 0x1F3FB <= o <= 0x1F3FF  # skin tones
        or 0xE0020 <= o <= 0xE007F  # emoji tag sequences
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
    )


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


class Cutter:
    """Finds cut positions in ``text`` so that each piece fits a byte budget.

    ``protected`` are ``(start, end)`` spans that a cut should not fall inside (links,
    images, code spans…); ``fixed`` spans even less (the marks that start a line). Only
    when nothing else fits the budget is one of them cut, protected spans first.

    >>> Cutter("hello wide world").cut(0, 11)
    11
    """

    def __init__(
        self,
        text: str,
        protected: Sequence[tuple[int, int]] = (),
        fixed: Sequence[tuple[int, int]] = (),
    ) -> None:
        self.text = text
        self._sums = [0, *accumulate(_char_size(ch) for ch in text)]
        self._protected = _merge(protected)
        self._fixed = _merge(fixed)

    def size(self, start: int, end: int) -> int:
        """Bytes of ``text[start:end]`` on the wire."""
        return self._sums[end] - self._sums[start]

    def cut(self, start: int, budget: int, *, anywhere: bool = False) -> int:
        """The end of the longest good piece from ``start`` within ``budget`` bytes.

        Returns ``len(text)`` when the rest fits, and ``start`` when not even one visible
        character does (with ``anywhere``, the longest run of code points that fits).
        """
        text, sums = self.text, self._sums
        if sums[-1] - sums[start] <= budget:
            return len(text)
        # The largest end that fits the budget.
        limit = bisect_right(sums, sums[start] + budget, start) - 1
        # First outside protected spans and fixed marks; then inside protected spans (a
        # link longer than a message); at last anywhere between whole characters.
        for level in (2, 1, 0):
            best = None
            p = limit
            while p > start:
                span = self._span_at(p, level)
                if span is not None:
                    p = span[0]
                    continue
                if not self._whole_character(p):
                    p -= 1
                    continue
                if best is None:
                    best = p
                if text[p - 1].isspace() and not text[p].isspace():
                    return p
                if best - p >= _WORD_WINDOW:
                    break
                p -= 1
            if best is not None:
                return best
        # ``anywhere``: one "character" longer than a whole message (a run of combining
        # marks or emoji modifiers) can never be sent whole; it is cut between code points
        # rather than refused.
        return limit if anywhere else start

    def _span_at(self, p: int, level: int) -> tuple[int, int] | None:
        span = _containing(self._fixed, p) if level >= 1 else None
        if span is None and level >= 2:
            span = _containing(self._protected, p)
        return span

    def _whole_character(self, p: int) -> bool:
        """Whether a cut before ``text[p]`` keeps every visible character whole."""
        text = self.text
        after, before = text[p], text[p - 1]
        if _extends(after) or before == _ZWJ:
            return False
        if _regional(after) and _regional(before):
            # Flags are pairs of regional indicators: cut only between pairs.
            run = 0
            i = p - 1
            while i >= 0 and _regional(text[i]):
                run += 1
                i -= 1
            return run % 2 == 0
        return True


def _merge(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping spans."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if end - start < 2:
            continue  # nothing to cut inside
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _containing(spans: list[tuple[int, int]], p: int) -> tuple[int, int] | None:
    """The span that ``p`` falls strictly inside, if any."""
    i = bisect_right(spans, (p, p)) - 1
    if i >= 0 and spans[i][0] < p < spans[i][1]:
        return spans[i]
    return None
