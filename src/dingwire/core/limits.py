"""DingTalk's numbers, each written once (API.md §2, §5)."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_PARTS", "MAX_BODY_BYTES", "MAX_KEYWORDS"]

#: The largest request body DingTalk accepts, in bytes of UTF-8 JSON.
MAX_BODY_BYTES = 20_000
#: How many keywords a robot in keyword mode can have.
MAX_KEYWORDS = 10
#: dingwire's own ceiling: the most parts ``split`` cuts a message into unless told otherwise
#: (about 200 KB of text; each part is one of the 20 messages a minute a robot may send).
DEFAULT_MAX_PARTS = 10
