"""Mentions that notify, and keywords that let a message through.

DingTalk notifies a mentioned person only when ``@<mobile>`` or ``@<userId>`` is also written
in the body of a text or markdown message (API.md §2.8); a robot in keyword mode refuses a
message that contains none of its keywords (§5). Both are fixed here, on the JSON, by adding
only what is missing. Each function returns a new payload and leaves its argument alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dingwire.core.validation import body_key, text_fields

__all__ = [
    "body_key",
    "ensure_keyword",
    "ensure_mentions",
    "keyword_room",
    "keyword_tag",
    "missing_mentions",
]


def keyword_tag(keyword: str) -> str:
    """How a missing keyword is written into a message: ``【告警】``, then a space."""
    return f"【{keyword}】"


def keyword_room(keywords: Sequence[str]) -> int:
    """The most bytes of JSON :func:`ensure_keyword` can add to a message with ``keywords``.

    What a splitter leaves free in each part: ``split(message, limit=MAX_BODY_BYTES -
    keyword_room(keywords))`` gives parts that stay within the limit once tagged.
    """
    if not keywords:
        return 0
    added = json.dumps(f"{keyword_tag(keywords[0])} ", ensure_ascii=False)[1:-1]
    return len(added.encode("utf-8"))


def missing_mentions(payload: Mapping[str, Any]) -> list[str]:
    """The ``@…`` tokens that ``at`` asks for and the body does not contain yet."""
    msgtype = payload.get("msgtype")
    at = payload.get("at")
    if msgtype not in ("text", "markdown") or not isinstance(at, Mapping):
        return []
    body = payload[msgtype][body_key(msgtype)]
    wanted = [*(at.get("atMobiles") or ()), *(at.get("atUserIds") or ())]
    missing: list[str] = []
    for who in dict.fromkeys(wanted):
        token = f"@{who}"
        if not _contains_token(body, token):
            missing.append(token)
    return missing


def _contains_token(body: str, token: str) -> bool:
    # "@1380000000" must not count as present inside "@13800000001".
    start = body.find(token)
    while start != -1:
        end = start + len(token)
        if end == len(body) or not (body[end].isalnum() or body[end] in "_-"):
            return True
        start = body.find(token, start + 1)
    return False


def ensure_mentions(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` with the missing ``@…`` text appended to a text or markdown body."""
    missing = missing_mentions(payload)
    result = dict(payload)
    if not missing:
        return result
    msgtype = payload["msgtype"]
    key = body_key(msgtype)
    if key is None:  # missing_mentions finds none for other types
        return result
    obj = dict(payload[msgtype])
    # Markdown joins single newlines into one line, so the mentions get a paragraph.
    separator = "\n\n" if msgtype == "markdown" else "\n"
    obj[key] = f"{obj[key].rstrip()}{separator}{' '.join(missing)}"
    result[msgtype] = obj
    return result


def ensure_keyword(payload: Mapping[str, Any], keywords: Sequence[str]) -> dict[str, Any]:
    """``payload`` with the first keyword added to its body when it contains none of them.

    The keyword goes in front as a tag, ``【告警】 disk full``, which reads as a label in
    either language. A feed card, which has no body, gets it on its first item's title.
    """
    result = dict(payload)
    if not keywords:
        return result
    fields = text_fields(payload)
    if any(k in f for k in keywords for f in fields):
        return result
    tag = keyword_tag(keywords[0])
    msgtype = payload.get("msgtype")
    if not isinstance(msgtype, str) or not isinstance(payload.get(msgtype), Mapping):
        return result
    obj = dict(payload[msgtype])
    key = body_key(msgtype)
    if key is not None and isinstance(obj.get(key), str):
        text = obj[key]
        hashes, _, rest = text.partition(" ")
        if msgtype in ("markdown", "actionCard") and 0 < len(hashes) <= 6 and set(hashes) == {"#"}:
            # Keep a leading heading a heading: "## Deploy" becomes "## 【发布】 Deploy".
            obj[key] = f"{hashes} {tag} {rest}"
        else:
            obj[key] = f"{tag} {text}"
    elif msgtype == "feedCard" and isinstance(obj.get("links"), list) and obj["links"]:
        first = dict(obj["links"][0])
        first["title"] = f"{tag} {first.get('title', '')}"
        obj["links"] = [first, *obj["links"][1:]]
    result[msgtype] = obj
    return result
