"""Message values: frozen, validated on construction, serialised to DingTalk's exact JSON.

Every class here refuses to exist in a state DingTalk would refuse (or silently mangle):
construction runs the one validator, :func:`~dingwire.core.validation.validate_payload`, in
strict mode on the JSON the message will become, so an error names the JSON field
(``link.messageUrl``) exactly as DingTalk spells it.

Sequences (``At(mobiles=[...])``, ``ActionCard(buttons=[...])``, ``FeedCard([...])``) may
be lists, as people write them; each is kept as a tuple, so a message stays frozen and
hashable. A string that is not text (a lone surrogate) is refused naming its field.

Mind the casing, which is DingTalk's and not ours: ``link.messageUrl``/``picUrl``, but
``feedCard.links[].messageURL``/``picURL``, ``actionCard.singleURL`` and ``btns[].actionURL``.

>>> Text("disk full", at=At(mobiles=["13800000000"])).to_payload()["text"]
{'content': 'disk full\\n@13800000000'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from dingwire.core.errors import MessageError
from dingwire.core.mentions import ensure_mentions
from dingwire.core.validation import validate_payload

__all__ = [
    "ActionCard",
    "At",
    "Button",
    "FeedCard",
    "FeedItem",
    "Link",
    "Markdown",
    "Message",
    "MessageLike",
    "Text",
    "to_payload",
]


def _tuple(field: str, values: object, kind: type) -> tuple[Any, ...]:
    """``values`` (any sequence, or one ``kind``) as a tuple: the message stays hashable."""
    if isinstance(values, kind):
        # At(mobiles="138...") would otherwise become one mention per digit.
        return (values,)
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise MessageError(
            f"{field}: expected a list of {kind.__name__}, got {type(values).__name__}",
            field=field,
        )
    return tuple(values)


def _strings(name: str, values: object) -> tuple[str, ...]:
    result = _tuple(f"at.{name}", values, str)
    for v in result:
        if not isinstance(v, str):
            raise MessageError(
                f"at.{name}: expected strings, got {type(v).__name__}", field=f"at.{name}"
            )
    return result


@dataclass(frozen=True, slots=True)
class At:
    """Who a text or markdown message mentions.

    The ``@mobile`` / ``@userid`` text DingTalk needs in the body for the mention to notify is
    added for you when it is missing. ``mobiles`` and ``user_ids`` take any sequence (a list
    as well as a tuple) and keep it as a tuple.
    """

    mobiles: Sequence[str] = ()
    user_ids: Sequence[str] = ()
    all: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "mobiles", _strings("atMobiles", self.mobiles))
        object.__setattr__(self, "user_ids", _strings("atUserIds", self.user_ids))
        if not isinstance(self.all, bool):
            raise MessageError("at.isAtAll: must be True or False", field="at.isAtAll")
        validate_payload(
            {"msgtype": "text", "text": {"content": "-"}, "at": self.to_payload()}, strict=True
        )

    def __bool__(self) -> bool:
        return bool(self.mobiles or self.user_ids or self.all)

    def to_payload(self) -> dict[str, Any]:
        return {
            "atMobiles": list(self.mobiles),
            "atUserIds": list(self.user_ids),
            "isAtAll": self.all,
        }


class Message:
    """Base of the message classes: ``msgtype`` and ``to_payload()``."""

    __slots__ = ()
    msgtype: str

    def to_payload(self) -> dict[str, Any]:
        raise NotImplementedError

    def _validate(self) -> None:
        validate_payload(self.to_payload(), strict=True)


def _with_at(payload: dict[str, Any], at: At | None) -> dict[str, Any]:
    if at:
        payload["at"] = at.to_payload()
        return ensure_mentions(payload)
    return payload


@dataclass(frozen=True, slots=True)
class Text(Message):
    """A plain text message. Mentions notify: ``@mobile`` text is added when missing."""

    content: str
    at: At | None = field(default=None, kw_only=True)
    msgtype = "text"

    def __post_init__(self) -> None:
        self._validate()

    def to_payload(self) -> dict[str, Any]:
        return _with_at({"msgtype": "text", "text": {"content": self.content}}, self.at)


@dataclass(frozen=True, slots=True)
class Markdown(Message):
    """A markdown message. ``title`` shows in the chat list and notification, not the body."""

    title: str
    text: str
    at: At | None = field(default=None, kw_only=True)
    msgtype = "markdown"

    def __post_init__(self) -> None:
        self._validate()

    def to_payload(self) -> dict[str, Any]:
        body = {"title": self.title, "text": self.text}
        return _with_at({"msgtype": "markdown", "markdown": body}, self.at)


@dataclass(frozen=True, slots=True)
class Link(Message):
    """A link card: title, a short text, a click-through URL and an optional picture."""

    title: str
    text: str
    url: str
    pic_url: str | None = field(default=None, kw_only=True)
    msgtype = "link"

    def __post_init__(self) -> None:
        self._validate()

    def to_payload(self) -> dict[str, Any]:
        body = {"title": self.title, "text": self.text, "messageUrl": self.url}
        body["picUrl"] = self.pic_url or ""
        return {"msgtype": "link", "link": body}


@dataclass(frozen=True, slots=True)
class Button:
    """One button of an :class:`ActionCard`."""

    title: str
    url: str


Orientation: TypeAlias = Literal["vertical", "horizontal"]


@dataclass(frozen=True, slots=True)
class ActionCard(Message):
    """A markdown card with buttons.

    One button becomes DingTalk's whole-card form (``singleTitle``/``singleURL``); several
    become ``btns``. ``orientation`` lays several buttons out ``"vertical"`` or ``"horizontal"``.
    ``buttons`` takes any sequence (a list as well as a tuple) and keeps it as a tuple.
    """

    title: str
    text: str
    buttons: Sequence[Button] = field(kw_only=True)
    orientation: Orientation = field(default="vertical", kw_only=True)
    hide_avatar: bool = field(default=False, kw_only=True)
    msgtype = "actionCard"

    def __post_init__(self) -> None:
        buttons = _tuple("actionCard.btns", self.buttons, Button)
        if not buttons:
            raise MessageError(
                "actionCard.btns: an action card needs at least one button (buttons=[Button(...)])",
                field="actionCard.btns",
            )
        for i, b in enumerate(buttons):
            if not isinstance(b, Button):
                raise MessageError(
                    f"actionCard.btns[{i}]: expected a Button, got {type(b).__name__}",
                    field=f"actionCard.btns[{i}]",
                )
        object.__setattr__(self, "buttons", buttons)
        if self.orientation not in ("vertical", "horizontal"):
            raise MessageError(
                f"actionCard.btnOrientation: orientation must be 'vertical' or 'horizontal', "
                f"got {self.orientation!r}",
                field="actionCard.btnOrientation",
            )
        self._validate()

    def to_payload(self) -> dict[str, Any]:
        card: dict[str, Any] = {
            "title": self.title,
            "text": self.text,
            "btnOrientation": "1" if self.orientation == "horizontal" else "0",
            "hideAvatar": "1" if self.hide_avatar else "0",
        }
        if len(self.buttons) == 1:
            card["singleTitle"] = self.buttons[0].title
            card["singleURL"] = self.buttons[0].url
        else:
            card["btns"] = [{"title": b.title, "actionURL": b.url} for b in self.buttons]
        return {"msgtype": "actionCard", "actionCard": card}


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry of a :class:`FeedCard`: a title, where it leads, and its picture."""

    title: str
    url: str
    pic_url: str


@dataclass(frozen=True, slots=True)
class FeedCard(Message):
    """A list of linked items with pictures (DingTalk shows about nine on mobile).

    ``items`` takes any sequence (a list as well as a tuple) and keeps it as a tuple.
    """

    items: Sequence[FeedItem]
    msgtype = "feedCard"

    def __post_init__(self) -> None:
        items = _tuple("feedCard.links", self.items, FeedItem)
        if not items:
            raise MessageError(
                "feedCard.links: a feed card needs at least one item (items=[FeedItem(...)])",
                field="feedCard.links",
            )
        for i, item in enumerate(items):
            if not isinstance(item, FeedItem):
                raise MessageError(
                    f"feedCard.links[{i}]: expected a FeedItem, got {type(item).__name__}",
                    field=f"feedCard.links[{i}]",
                )
        object.__setattr__(self, "items", items)
        self._validate()

    def to_payload(self) -> dict[str, Any]:
        links = [{"title": i.title, "messageURL": i.url, "picURL": i.pic_url} for i in self.items]
        return {"msgtype": "feedCard", "feedCard": {"links": links}}


MessageLike: TypeAlias = Message | Mapping[str, Any]


def to_payload(message: MessageLike) -> dict[str, Any]:
    """The JSON object for a message or a plain dict, validated (strictly) and with mentions."""
    if isinstance(message, Message):
        return message.to_payload()
    if isinstance(message, Mapping):
        validate_payload(message, strict=True)
        return ensure_mentions(dict(message))
    raise MessageError(
        f"cannot send a {type(message).__name__}: use a dingwire message or a dict",
        field="message",
    )
