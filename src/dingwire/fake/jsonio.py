"""JSON in and out of the fake: strict on the way in, always valid on the way out.

Rules kept here:

- What the fake reads is JSON as RFC 8259 writes it: UTF-8, no ``NaN`` or ``Infinity``
  (Python's :func:`json.loads` takes both; a strict parser, and DingTalk's Java, need not).
- A number too large for Python to hold as it was written (``1e400`` would become
  infinity, an integer of more than 4,300 digits is refused by ``int``) is kept as its text,
  a string: the log can show it, and it never becomes an infinity.
- Nesting is at most 512 deep (Jackson, the usual Java parser, stops at 1,000): anything
  the fake accepted it can serve again, inside a list of records, on every Python.
- A lone surrogate (``"\\ud800"``, valid JSON syntax but not text) is replaced by U+FFFD
  where the fake keeps what DingTalk would accept (a message body), and refused where it is
  a setting (the JSON API).
- Everything the fake serves is encoded by :func:`dumps`: compact UTF-8, ``allow_nan=False``
  (a NaN that got this far is a bug, raised, never served), no lone surrogate. Any strict
  parser reads it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

__all__ = ["MAX_DEPTH", "NotJsonError", "dumps", "loads", "lone_surrogate"]

#: How deep JSON may nest in what the fake reads.
MAX_DEPTH = 512

_LONE = re.compile("[\ud800-\udfff]")  # after parsing, every surrogate left is a lone one
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # only such escapes can make one


class NotJsonError(ValueError):
    """The bytes are not strict JSON; ``str(error)`` says why, in a few words."""


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in ``text`` (which no UTF-8 can hold), if any."""
    found = _LONE.search(text)
    return found.group() if found else None


def _constant(name: str) -> Any:
    raise NotJsonError(f"{name} is not a JSON number")


def _float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def _int(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:  # more digits than int() converts
        return text


def loads(data: bytes, *, lone_surrogates: Literal["replace", "refuse"]) -> Any:
    """The JSON value in ``data``; raises :class:`NotJsonError` saying why it is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotJsonError(f"not UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except NotJsonError:
        raise
    except RecursionError:
        raise NotJsonError("nested too deeply") from None
    except ValueError as error:
        reason = str(error)
        raise NotJsonError(reason[:1].lower() + reason[1:]) from None
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        raise NotJsonError(f"nested more than {MAX_DEPTH} deep")
    if _MAYBE_SURROGATE.search(data):
        if lone_surrogates == "refuse":
            found = _find_lone(value)
            if found is not None:
                raise NotJsonError(f"{found!r} holds a lone surrogate, which is not text")
        else:
            value = _replace_lone(value)
    return value


def dumps(data: Any) -> bytes:
    """``data`` as compact UTF-8 JSON that any strict parser reads (CJK as itself)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate came from elsewhere than a parsed body
        return _LONE.sub("\ufffd", text).encode("utf-8")


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def _find_lone(value: Any) -> str | None:
    """The first string (or key) in ``value`` that holds a lone surrogate."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _LONE.search(node):
                return node
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def _replace_lone(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings and keys replaced by U+FFFD.

    Parsed JSON only (dicts, lists, scalars), changed in place where it nests.
    """
    if isinstance(value, str):
        return _LONE.sub("\ufffd", value)
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            items = list(node.items())
            node.clear()
            for key, item in items:
                if isinstance(item, str):
                    item = _LONE.sub("\ufffd", item)
                elif isinstance(item, dict | list):
                    stack.append(item)
                node[_LONE.sub("\ufffd", key)] = item
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = _LONE.sub("\ufffd", item)
                elif isinstance(item, dict | list):
                    stack.append(item)
    return value
