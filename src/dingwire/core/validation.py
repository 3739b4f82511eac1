"""The one message validator: what DingTalk accepts, and what dingwire insists on.

``validate_payload(payload, strict=False)`` checks what DingTalk itself checks (the fake
uses this mode): a known ``msgtype``, its payload object, every required field present as a
non-empty string under its exact casing (``link.messageUrl`` but ``feedCard.links[].messageURL``),
``btnOrientation``/``hideAvatar`` as ``"0"``/``"1"`` or ``0``/``1``, and a well-formed ``at``.
Unknown keys are ignored, as DingTalk ignores them.

``strict=True`` (the library's mode) also refuses what DingTalk would accept but never
show as meant: URLs that are not http(s) or ``dingtalk://``, a mention on a message type
that cannot carry one, mobiles or user ids that are empty or contain spaces.

``strict=True`` also refuses what cannot go out as JSON at all (:func:`check_values`): a
string with a lone surrogate (``"\\ud800"``, left by bytes decoded with
``errors="surrogateescape"``), NaN and infinities, integers beyond 64 bits, keys that are not
strings, values that are not JSON (a ``set``, a ``datetime``), nesting deeper than
:data:`MAX_DEPTH` — in every field, unknown ones included.

Failures raise :class:`~dingwire.core.errors.MessageError` whose ``field`` is the JSON path
(``"actionCard.btns[1].actionURL"``); ``errcode`` is 400105 for an unsupported msgtype.

The table of text-bearing fields lives here too: :func:`body_key` (where a message's main
text is: mentions and keyword tags go there) and :func:`text_fields` (every string a person
reads: what a keyword check looks at).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from dingwire.core.errors import MessageError
from dingwire.core.redact import mask_url
from dingwire.core.urls import url_problem

__all__ = [
    "MAX_DEPTH",
    "MENTIONABLE_TYPES",
    "MSGTYPES",
    "body_key",
    "check_url",
    "check_values",
    "text_fields",
    "validate_payload",
]

MSGTYPES = ("text", "link", "markdown", "actionCard", "feedCard")
MENTIONABLE_TYPES = frozenset({"text", "markdown"})

_URL_SCHEMES = ("http", "https", "dingtalk")

#: How deep a message may nest (DingTalk's own go four deep: ``actionCard.btns[1].title``).
MAX_DEPTH = 32
#: The integers JSON carries to DingTalk unharmed (it reads them as 64-bit numbers).
_INT_RANGE = range(-(2**63), 2**63)

#: Per msgtype, the field of its object that holds its main text.
_BODY_KEYS = {"text": "content", "markdown": "text", "link": "text", "actionCard": "text"}


def _fail(field: str, problem: str, *, errcode: int | None = None) -> MessageError:
    return MessageError(f"{field}: {problem}", field=field, errcode=errcode)


def check_url(field: str, value: object) -> None:
    """Raise unless ``value`` is an absolute http(s) or ``dingtalk://`` URL.

    The rule is :func:`dingwire.core.urls.url_problem`'s, non-ASCII letters allowed (a
    browser shows ``https://例子.测试/?q=告警``).
    """
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, "a URL is required")
    problem = url_problem(value, schemes=_URL_SCHEMES, ascii_only=False)
    if problem:
        shown = value if len(value) <= 80 else f"{value[:80]}…"
        raise _fail(field, f"{mask_url(shown, whole=True)!r} {problem}")


def _required_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    field = f"{path}.{key}"
    if key not in obj or obj[key] is None:
        lowered = {k.lower(): k for k in obj}
        hint = ""
        if key.lower() in lowered:
            hint = f" (found {lowered[key.lower()]!r}: DingTalk needs exactly {key!r})"
        raise _fail(field, f"is required{hint}")
    value = obj[key]
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise _fail(field, "must not be empty")
    return value


def _flag(obj: Mapping[str, Any], key: str, path: str) -> None:
    if key not in obj:
        return
    value = obj[key]
    if isinstance(value, bool) or value not in ("0", "1", 0, 1):
        raise _fail(f"{path}.{key}", f'must be "0" or "1", got {value!r}')


def _object(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    obj = payload.get(key)
    if not isinstance(obj, Mapping):
        raise _fail(key, f"a {key!r} object is required for msgtype {key!r}")
    return obj


def _list(obj: Mapping[str, Any], key: str, path: str) -> Sequence[Any]:
    value = obj.get(key)
    if not isinstance(value, list) or not value:
        raise _fail(f"{path}.{key}", "must be a non-empty list")
    return value


def _validate_at(at: object, *, strict: bool) -> None:
    if not isinstance(at, Mapping):
        raise _fail("at", "must be an object")
    for key in ("atMobiles", "atUserIds"):
        if key not in at or at[key] is None:
            continue
        values = at[key]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _fail(f"at.{key}", "must be a list of strings")
        if strict:
            for i, v in enumerate(values):
                if not v.strip() or any(c.isspace() for c in v):
                    raise _fail(f"at.{key}[{i}]", f"{v!r} is not a mobile or user id")
    if "isAtAll" in at and at["isAtAll"] is not None and not isinstance(at["isAtAll"], bool):
        raise _fail("at.isAtAll", "must be true or false")


def validate_payload(
    payload: object, *, strict: bool = False, extra_msgtypes: Sequence[str] = ()
) -> None:
    """Raise :class:`MessageError` unless ``payload`` is a message DingTalk accepts.

    ``extra_msgtypes`` admits undocumented types (the fake's ``image``) unchecked.
    """
    if not isinstance(payload, Mapping):
        raise _fail("body", "a message must be a JSON object")
    msgtype = payload.get("msgtype")
    if not isinstance(msgtype, str) or not msgtype:
        raise _fail("msgtype", "is required", errcode=400105)
    if msgtype in extra_msgtypes:
        return
    if msgtype not in MSGTYPES:
        known = ", ".join(MSGTYPES)
        raise _fail("msgtype", f"{msgtype!r} is not supported (one of: {known})", errcode=400105)
    obj = _object(payload, msgtype)
    if msgtype == "text":
        _required_str(obj, "content", "text")
    elif msgtype == "markdown":
        _required_str(obj, "title", "markdown")
        _required_str(obj, "text", "markdown")
    elif msgtype == "link":
        _required_str(obj, "title", "link")
        _required_str(obj, "text", "link")
        _required_str(obj, "messageUrl", "link")
        if strict:
            check_url("link.messageUrl", obj["messageUrl"])
            if obj.get("picUrl"):
                check_url("link.picUrl", obj["picUrl"])
    elif msgtype == "actionCard":
        _required_str(obj, "title", "actionCard")
        _required_str(obj, "text", "actionCard")
        _flag(obj, "btnOrientation", "actionCard")
        _flag(obj, "hideAvatar", "actionCard")
        if "singleTitle" in obj or "singleURL" in obj:
            _required_str(obj, "singleTitle", "actionCard")
            _required_str(obj, "singleURL", "actionCard")
            if strict:
                check_url("actionCard.singleURL", obj["singleURL"])
        elif "btns" in obj:
            for i, btn in enumerate(_list(obj, "btns", "actionCard")):
                path = f"actionCard.btns[{i}]"
                if not isinstance(btn, Mapping):
                    raise _fail(path, "each button must be an object")
                _required_str(btn, "title", path)
                _required_str(btn, "actionURL", path)
                if strict:
                    check_url(f"{path}.actionURL", btn["actionURL"])
        else:
            raise _fail("actionCard.btns", "an action card needs singleTitle/singleURL or btns")
    elif msgtype == "feedCard":
        for i, item in enumerate(_list(obj, "links", "feedCard")):
            path = f"feedCard.links[{i}]"
            if not isinstance(item, Mapping):
                raise _fail(path, "each link must be an object")
            _required_str(item, "title", path)
            _required_str(item, "messageURL", path)
            _required_str(item, "picURL", path)
            if strict:
                check_url(f"{path}.messageURL", item["messageURL"])
                check_url(f"{path}.picURL", item["picURL"])
    at = payload.get("at")
    if at is not None:
        _validate_at(at, strict=strict)
        if strict and msgtype not in MENTIONABLE_TYPES and _mentions_anyone(at):
            raise _fail("at", f"a {msgtype} message cannot mention anyone (only text and markdown)")
    if strict:
        check_values(payload)


def _mentions_anyone(at: Mapping[str, Any]) -> bool:
    return bool(at.get("atMobiles") or at.get("atUserIds") or at.get("isAtAll"))


def check_values(payload: object) -> None:
    """Raise :class:`MessageError` naming the first field that cannot go out as JSON.

    What can: dicts with string keys, lists and tuples, strings that are text (no lone
    surrogate), finite floats, 64-bit integers, booleans and ``None``, at most
    :data:`MAX_DEPTH` deep.
    """
    if _sendable(payload, 0):
        return  # the common case, without building a path for every field
    stack: list[tuple[object, str, int]] = [(payload, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            _check_text(path or "body", value)
        elif value is None or isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if value not in _INT_RANGE:
                raise _fail(
                    path or "body",
                    f"{_number(value)} is too large; DingTalk reads 64-bit integers",
                )
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _fail(path or "body", f"{value!r} is not a number JSON can carry")
        elif isinstance(value, Mapping | list | tuple):
            if depth >= MAX_DEPTH:
                raise _fail(path or "body", f"is nested more than {MAX_DEPTH} deep")
            children: list[tuple[object, str, int]] = []
            if isinstance(value, Mapping):
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise _fail(path or "body", f"has the key {key!r}; JSON keys are strings")
                    child = f"{path}.{key}" if path else key
                    _check_text(child, key)
                    children.append((item, child, depth + 1))
            else:
                children = [(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
            stack.extend(reversed(children))  # the first problem in reading order is told
        else:
            raise _fail(path or "body", f"a {type(value).__name__} cannot be sent as JSON")


def _sendable(value: object, depth: int) -> bool:
    """Whether ``value`` is plain JSON that :func:`check_values` passes (a quick look).

    Written for speed (the relay looks at every payload it takes): the strings that make
    up most of a payload are checked in the loop, without a call each.
    """
    if type(value) is str:
        return value.isascii() or _is_text(value)
    if type(value) is dict:
        if depth >= MAX_DEPTH:
            return False
        for k, v in value.items():
            if type(k) is not str or not (k.isascii() or _is_text(k)):
                return False
            if type(v) is str:
                if not (v.isascii() or _is_text(v)):
                    return False
            elif not _sendable(v, depth + 1):
                return False
        return True
    if type(value) is list or type(value) is tuple:
        if depth >= MAX_DEPTH:
            return False
        for v in value:
            if type(v) is str:
                if not (v.isascii() or _is_text(v)):
                    return False
            elif not _sendable(v, depth + 1):
                return False
        return True
    if type(value) is int:
        return value in _INT_RANGE
    if type(value) is float:
        return math.isfinite(value)
    return value is None or type(value) is bool


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(field: str, text: str) -> None:
    if text.isascii():
        return
    # A search, not an encode: a 50 MB text must not cost a 150 MB copy to be checked.
    found = _SURROGATE.search(text)
    if found is not None:
        raise _fail(
            field,
            f"holds a lone surrogate ({found.group()!r} at character {found.start()}), "
            "which is not text: decode the source with its real encoding, or with "
            "errors='replace'",
        ) from None


def _number(value: int) -> str:
    """``123…`` as it reads, or ``a 5,000-digit number`` (never converting a huge one)."""
    if value.bit_length() > 10_000:  # str() of it would be slow, or refused
        return f"a number of {value.bit_length():,} bits"
    text = str(value)
    return text if len(text) <= 30 else f"a {len(text.lstrip('-')):,}-digit number"


def body_key(msgtype: str) -> str | None:
    """The field of ``msgtype``'s object that holds its main text, if it has one."""
    return _BODY_KEYS.get(msgtype)


def text_fields(payload: Mapping[str, Any]) -> list[str]:
    """Every human-readable string of a message: what a keyword check looks at."""
    msgtype = payload.get("msgtype")
    obj = payload.get(msgtype) if isinstance(msgtype, str) else None
    found: list[str] = []
    if not isinstance(obj, Mapping):
        return found
    for key in ("content", "title", "text", "singleTitle"):
        if isinstance(obj.get(key), str):
            found.append(obj[key])
    for key in ("btns", "links"):
        items = obj.get(key)
        if isinstance(items, list):
            found.extend(
                i["title"]
                for i in items
                if isinstance(i, Mapping) and isinstance(i.get("title"), str)
            )
    return found
