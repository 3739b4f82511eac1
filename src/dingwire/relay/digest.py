"""Digests: many waiting alerts merged into few DingTalk messages, each within the body limit.

Pure functions, no clock, no I/O. The dispatcher calls :func:`build_digests` when a robot
has more waiting than its budget can send one by one. Rules kept here:

- **Nothing is dropped.** Every :class:`~dingwire.relay.model.DigestLine` of every record
  appears in exactly one digest (a line longer than :data:`MAX_LINE_BYTES` is cut, and says
  so with ``…``, but it is there).
- **Order.** Records are packed in the order given (the outbox's claim order: priority,
  then arrival); a record's lines stay together in one digest when they fit in one. Within
  a digest the lines are grouped by status and alertname, groups in order of first
  appearance, lines in arrival order.
- **Size as DingTalk counts it.** Every digest's body, exactly as the robot puts it on the
  wire (compact UTF-8 JSON, the keyword the robot would add included), is at most
  ``max_bytes``: sizes are added up with :func:`dingwire.content.size.json_size` while
  packing, and each finished body is measured once with the core's own encoder.
- **A record larger than a digest** is sent as digests of its own lines, numbered
  ``(1/3)``, never mixed with other records; its mentions go with the last part.
- **Titles with counts**: ``[FIRING:312, RESOLVED:4] HighLatency, DiskFull +3``.
- **Mentions merged**: the union of the records' ``at`` blocks (a record without one
  mentions whom the robot mentions by default), and the ``@`` text written once, at the end.
- **The keyword kept**: the robot's first keyword is added as the robot itself would add it
  (:func:`dingwire.core.mentions.ensure_keyword`), so the robot adds nothing more.
- Cards are never merged: :func:`build_digests` refuses them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dingwire.content.escape import escape_markdown
from dingwire.content.size import Cutter, json_size
from dingwire.core.errors import MessageError
from dingwire.core.limits import MAX_BODY_BYTES
from dingwire.core.mentions import keyword_room
from dingwire.core.messages import At
from dingwire.core.protocol import encode_body, prepare_payload
from dingwire.relay.model import DigestLine, Record

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_TITLE_BYTES",
    "Digest",
    "Packer",
    "build_digests",
    "mentions_of",
]

#: The most bytes (of JSON) one alert's line takes in a digest; longer lines are cut.
MAX_LINE_BYTES = 2_000
#: The most bytes (of JSON) a digest's title takes.
MAX_TITLE_BYTES = 160

_STATUS_MARK = {"firing": "🔥", "resolved": "✅"}
_STATUS_ORDER = {"firing": 0, "resolved": 1}
_NEWLINE = 2  # "\n" inside a JSON string
_PARAGRAPH = 4  # "\n\n"
_COUNT_ROOM = 7  # the digits of a group's count: up to 9,999,999
_PART_ROOM = 16  # " (999/999)" in the title and the heading


@dataclass(frozen=True, slots=True)
class Digest:
    """One DingTalk message carrying the lines of one or more records.

    ``records``: the ids of the records whose lines it carries (in packing order);
    ``body``: the complete markdown payload, keyword and ``@`` text in, ready to send;
    ``lines``: how many lines (alerts) it carries; ``size``: its JSON body in bytes;
    ``part`` / ``parts``: for a record too large for one digest, which of its digests this is
    (``1`` / ``1`` otherwise). ``id`` is derived from the records and the part, so the same
    digest built again has the same id.
    """

    id: str
    records: tuple[str, ...]
    body: dict[str, Any]
    lines: int
    size: int
    part: int = 1
    parts: int = 1


@dataclass(frozen=True, slots=True)
class _Line:
    status: str
    name: str
    text: str  # "- " + the line, one line, capped
    cost: int  # its bytes in the text, with the newline before it


@dataclass(frozen=True, slots=True)
class _Mentions:
    mobiles: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    all: bool = False


def mentions_of(record: Record, default: At | None = None) -> At | None:
    """Whom ``record`` mentions when sent: its body's ``at``, else the robot's ``default``."""
    body = record.message.body
    at = body.get("at")
    if not isinstance(at, Mapping):
        return default if default else None
    mobiles = [m for m in at.get("atMobiles") or () if isinstance(m, str) and m]
    user_ids = [u for u in at.get("atUserIds") or () if isinstance(u, str) and u]
    everyone = at.get("isAtAll") is True
    if not (mobiles or user_ids or everyone):
        return None
    try:
        return At(mobiles, user_ids, everyone)
    except MessageError:
        # One bad entry (intake checks less strictly) must not cost the others their mention.
        def good(key: str, who: str) -> bool:
            try:
                At(mobiles=[who]) if key == "mobiles" else At(user_ids=[who])
            except MessageError:
                return False
            return True

        return At(
            [m for m in mobiles if good("mobiles", m)],
            [u for u in user_ids if good("user_ids", u)],
            everyone,
        )


def _one_line(text: str) -> str:
    return " ".join(text.split("\n")).replace("\r", " ")


def _cap(text: str, limit: int) -> str:
    """``text`` within ``limit`` bytes of JSON, cut between whole characters, with ``…``."""
    if json_size(text) <= limit:
        return text
    end = Cutter(text).cut(0, limit - 3)  # "…" is three bytes
    return text[:end].rstrip() + "…"


def _fallback_line(record: Record) -> DigestLine:
    """A line for a record that brought none: its title or the first line of its text."""
    body = record.message.body
    obj = body.get(str(body.get("msgtype")))
    text = ""
    if isinstance(obj, Mapping):
        for key in ("title", "content", "text"):
            value = obj.get(key)
            if isinstance(value, str) and value.strip():
                text = value.strip().splitlines()[0]
                break
    text = text or "(message)"
    return DigestLine("", text, escape_markdown(text))


def _lines(record: Record) -> list[_Line]:
    out = []
    for line in record.message.lines or (_fallback_line(record),):
        text = "- " + _cap(_one_line(line.text) or "(empty)", MAX_LINE_BYTES)
        out.append(_Line(line.status, _one_line(line.name), text, json_size(text) + _NEWLINE))
    return out


def _header(status: str, name: str, count: int) -> str:
    shown = escape_markdown(_cap(name, MAX_TITLE_BYTES)) or "(no name)"
    if status:
        mark = _STATUS_MARK.get(status.lower(), "•")
        return f"**{mark} {escape_markdown(status.upper())} · {shown}** ({count})"
    return f"**{shown}** ({count})"


def _header_cost(status: str, name: str) -> int:
    # The header with room for any count, the paragraph breaks around it.
    return json_size(_header(status, name, 0)) - 1 + _COUNT_ROOM + 2 * _PARAGRAPH


def _mention_cost(who: str) -> int:
    # " @who" in the text, and '"who",' in the at block's list.
    return json_size(who) + 2 + json_size(who) + 3


def _title(lines: Sequence[_Line], part: int, parts: int) -> str:
    counts: dict[str, int] = {}
    names: dict[str, None] = {}
    for line in lines:
        counts[line.status.lower()] = counts.get(line.status.lower(), 0) + 1
        names.setdefault(line.name or "(no name)", None)
    order = sorted(counts, key=lambda s: (_STATUS_ORDER.get(s, 2) if s else 3, s))
    tally = ", ".join(f"{(s or 'messages').upper()}:{counts[s]}" for s in order)
    title = f"[{tally}]"
    if parts > 1:
        title += f" ({part}/{parts})"
    shown: list[str] = []
    room = MAX_TITLE_BYTES - json_size(title) - 12  # " +9999 more"
    for name in names:
        cost = json_size(name) + 2
        if cost > room:
            break
        shown.append(name)
        room -= cost
    if shown:
        title += " " + ", ".join(shown)
    if len(shown) < len(names):
        title += f" +{len(names) - len(shown)}"
    return _cap(title, MAX_TITLE_BYTES)


class _Pack:
    """One digest being filled: its lines, groups, mentions and bytes so far."""

    def __init__(self) -> None:
        self.records: list[str] = []
        self.lines: list[_Line] = []
        self.groups: set[tuple[str, str]] = set()
        self.mobiles: dict[str, None] = {}
        self.user_ids: dict[str, None] = {}
        self.all = False
        self.bytes = 0

    def cost(self, lines: Iterable[_Line], at: At | None) -> int:
        """The bytes ``lines`` (and the mentions ``at``) would add to this digest."""
        total = 0
        groups = set(self.groups)
        for line in lines:
            key = (line.status, line.name)
            if key not in groups:
                groups.add(key)
                total += _header_cost(*key)
            total += line.cost
        if at is not None:
            fresh = [m for m in at.mobiles if m not in self.mobiles]
            fresh += [u for u in at.user_ids if u not in self.user_ids]
            total += sum(_mention_cost(w) for w in dict.fromkeys(fresh))
        return total

    def add(self, record_id: str, lines: Sequence[_Line], at: At | None, cost: int) -> None:
        if not self.records or self.records[-1] != record_id:
            self.records.append(record_id)
        self.lines.extend(lines)
        self.groups.update((line.status, line.name) for line in lines)
        if at is not None:
            self.mobiles.update(dict.fromkeys(at.mobiles))
            self.user_ids.update(dict.fromkeys(at.user_ids))
            self.all = self.all or at.all
        self.bytes += cost

    def at(self) -> _Mentions:
        return _Mentions(tuple(self.mobiles), tuple(self.user_ids), self.all)


def _envelope(keywords: Sequence[str]) -> int:
    """The bytes of a digest body besides its lines, groups and mentions: the most a title
    (twice: the title and the heading), the JSON around them and the keyword can take."""
    title = "x" * (MAX_TITLE_BYTES + _PART_ROOM)
    # escape_markdown can make a byte of title four ("<" → "&lt;", "\\" → "\\\\" in JSON)
    heading = "#### " + "x" * 4 * (MAX_TITLE_BYTES + _PART_ROOM)
    empty = {
        "msgtype": "markdown",
        "markdown": {"title": title, "text": heading},
        "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False},
    }
    return len(encode_body(empty)) + keyword_room(keywords) + _PARAGRAPH


def _text(pack_lines: Sequence[_Line], heading: str, mentions: _Mentions | None) -> str:
    groups: dict[tuple[str, str], list[_Line]] = {}
    for line in pack_lines:
        groups.setdefault((line.status, line.name), []).append(line)
    blocks = [heading]
    for (status, name), lines in groups.items():
        blocks.append(_header(status, name, len(lines)))
        blocks.append("\n".join(line.text for line in lines))
    if mentions is not None:
        tokens = [f"@{w}" for w in dict.fromkeys((*mentions.mobiles, *mentions.user_ids))]
        if tokens:
            blocks.append(" ".join(tokens))
    return "\n\n".join(blocks)


def _finish(
    pack: _Pack,
    keywords: Sequence[str],
    *,
    part: int = 1,
    parts: int = 1,
    mentions: _Mentions | None = None,
) -> Digest:
    title = _title(pack.lines, part, parts)
    at = pack.at() if mentions is None else mentions
    text = _text(pack.lines, "#### " + escape_markdown(title), at)
    payload: dict[str, Any] = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    if at.mobiles or at.user_ids or at.all:
        payload["at"] = {
            "atMobiles": list(at.mobiles),
            "atUserIds": list(at.user_ids),
            "isAtAll": at.all,
        }
    body = prepare_payload(payload, keywords)
    size = len(encode_body(body))
    seed = "\0".join((*pack.records, f"{part}/{parts}"))
    digest_id = "dg_" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:20]
    return Digest(digest_id, tuple(pack.records), body, len(pack.lines), size, part, parts)


def _split_record(
    record: Record, lines: Sequence[_Line], at: At | None, keywords: Sequence[str], room: int
) -> list[Digest]:
    """Digests of one record's own lines (it does not fit in one)."""
    packs: list[_Pack] = [_Pack()]
    # Room for the record's mentions is kept in every part; they go with the last one.
    mention_room = _Pack().cost((), at)
    for line in lines:
        cost = packs[-1].cost((line,), None)
        if packs[-1].lines and packs[-1].bytes + cost + mention_room > room:
            packs.append(_Pack())
            cost = packs[-1].cost((line,), None)
        packs[-1].add(record.id, (line,), None, cost)
    last = _Pack()
    last.add(record.id, (), at, 0)
    none = _Mentions()
    return [
        _finish(
            p,
            keywords,
            part=i + 1,
            parts=len(packs),
            mentions=last.at() if p is packs[-1] else none,
        )
        for i, p in enumerate(packs)
    ]


class Packer:
    """Packs records into digests one at a time, as :func:`build_digests` does: in order,
    each record's lines kept together when they fit in one digest.

    :attr:`messages` says how many messages the records given so far make, without
    building a body (the dispatcher renders a backlog until it has enough for the messages
    it may send); :meth:`digests` builds them. Raises :class:`ValueError` for a card
    (cards are never merged) or a ``max_bytes`` too small to hold a digest at all.
    """

    def __init__(
        self,
        *,
        keywords: Sequence[str] = (),
        mention: At | None = None,
        max_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.keywords = tuple(keywords)
        self.mention = mention
        self.max_bytes = max_bytes
        self.room = max_bytes - _envelope(keywords)
        if self.room < MAX_LINE_BYTES + 1_000:
            raise ValueError(f"max_bytes: {max_bytes:,} is too small for a digest")
        # In order: packs being filled or filled, and the parts of records too large for one.
        self._out: list[_Pack | list[Digest]] = []
        self._pack = _Pack()
        self.messages = 0

    def add(self, record: Record) -> int:
        """Pack ``record``; the messages packed so far."""
        if record.message.kind == "card":
            raise ValueError(f"record {record.id}: cards are never merged into digests")
        lines = _lines(record)
        at = mentions_of(record, self.mention)
        pack = self._pack
        cost = pack.cost(lines, at)
        if pack.records and pack.bytes + cost > self.room:
            pack = self._pack = _Pack()
            cost = pack.cost(lines, at)
        if cost <= self.room:
            if not pack.records:
                self._out.append(pack)
                self.messages += 1
            pack.add(record.id, lines, at, cost)
            return self.messages
        # Too large for a digest of its own: its lines, in parts, on their own.
        parts = _split_record(record, lines, at, self.keywords, self.room)
        self._out.append(parts)
        self.messages += len(parts)
        self._pack = _Pack()
        return self.messages

    def digests(self) -> list[Digest]:
        """The digests of every record packed, in order."""
        digests: list[Digest] = []
        for item in self._out:
            digests.extend(item if isinstance(item, list) else [_finish(item, self.keywords)])
        for digest in digests:
            if digest.size > self.max_bytes:  # the packing's arithmetic is wrong: never send it
                raise AssertionError(
                    f"digest {digest.id} is {digest.size:,} bytes > {self.max_bytes:,}"
                )
        return digests


def build_digests(
    records: Sequence[Record],
    *,
    keywords: Sequence[str] = (),
    mention: At | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> list[Digest]:
    """``records`` (text and markdown messages) merged into as few digests as fit.

    ``keywords`` and ``mention`` are the sending robot's (its keyword is added as it would
    add it; ``mention`` is whom a record without an ``at`` block mentions). Every digest's
    body is at most ``max_bytes`` of JSON. Raises :class:`ValueError` for a card (cards are
    never merged) or a ``max_bytes`` too small to hold a digest at all.
    """
    packer = Packer(keywords=keywords, mention=mention, max_bytes=max_bytes)
    for record in records:
        packer.add(record)
    return packer.digests()
