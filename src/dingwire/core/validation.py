"""The one message validator: what DingTalk accepts, and what dingwire insists on.

``validate_payload(payload, strict=False)`` checks what DingTalk itself checks (the fake
uses this mode): a known ``msgtype``, its payload object, every required field present as a
non-empty string under its exact casing (``link.messageUrl`` but ``feedCard.links[].messageURL``),
``btnOrientation``/``hideAvatar`` as ``"0"``/``"1"`` or ``0``/``1``, and a well-formed ``at``.
Unknown keys are ignored, as DingTalk ignores them.

``strict=True`` (the library's mode) also refuses what DingTalk would accept but never
show as meant: URLs that are not http(s) or ``dingtalk://``, a mention on a message type
that cannot carry one, mobiles or user ids that are empty or contain spaces.

Failures raise :class:`~dingwire.core.errors.MessageError` whose ``field`` is the JSON path
(``"actionCard.btns[1].actionURL"``); ``errcode`` is 400105 for an unsupported msgtype.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dingwire.core.errors import MessageError

__all__ = [
    "MENTIONABLE_TYPES",
    "MSGTYPES",
    "check_url",
    "text_fields",
    "validate_payload",
]

MSGTYPES = ("text", "link", "markdown", "actionCard", "feedCard")
MENTIONABLE_TYPES = frozenset({"text", "markdown"})

_URL_SCHEMES = ("http://", "https://", "dingtalk://")


def _fail(field: str, problem: str, *, errcode: int | None = None) -> MessageError:
    return MessageError(f"{field}: {problem}", field=field, errcode=errcode)


def check_url(field: str, value: object) -> None:
    """Raise unless ``value`` is an absolute http(s) or ``dingtalk://`` URL."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, "a URL is required")
    if not value.lower().startswith(_URL_SCHEMES) or len(value.split("://", 1)[1]) == 0:
        raise _fail(field, f"must be an http(s) or dingtalk:// URL, got {value[:80]!r}")
    if any(c.isspace() for c in value):
        raise _fail(field, "a URL cannot contain spaces (percent-encode them as %20)")


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


def _mentions_anyone(at: Mapping[str, Any]) -> bool:
    return bool(at.get("atMobiles") or at.get("atUserIds") or at.get("isAtAll"))


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
