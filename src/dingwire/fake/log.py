"""The fake's message log: every request it answered, in order, with no secret in it.

Rules kept here:

- A :class:`Record` holds what a test or a person needs (time, robot, parsed body,
  errcode, errmsg, HTTP status, fault) and nothing that grants access: the query string is
  stored with every value masked but ``timestamp``'s (:func:`masked_query`: a token under a
  misspelled name, ``acess_token=`` or ``token=``, is masked like the rest), the robot is
  named by its configured name or its masked token, and the token itself is kept out of
  every JSON view (it is held only so that a test can filter by the token it knows).
- The payload is kept JSON-safe (:mod:`dingwire.fake.jsonio`), so that every view of the
  log is JSON a strict parser reads.
- Ids increase by one per request and never repeat, even across :meth:`MessageLog.clear`,
  so a live page can ask for "everything after id N".
- The log keeps the last ``capacity`` records; older ones are forgotten in batches so
  that appending stays O(1).
- Listeners are told of each new record (and of a clear, with ``None``) after the lock is
  released: a slow listener cannot stall the fake.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from dingwire.core.redact import mask_query
from dingwire.fake import jsonio

__all__ = ["MessageLog", "Record", "masked_query"]

_BODY_FIELD = {"text": "content", "markdown": "text", "link": "text", "actionCard": "text"}


def masked_query(query: str) -> str:
    """``query`` as the log shows it: every value masked but ``timestamp``'s
    (:func:`dingwire.core.redact.mask_query`, the one rule), each parameter first decoded as
    DingTalk decodes it, so that ``access%5Ftoken=…`` is shown (and masked) as the
    ``access_token`` it is.

    >>> masked_query("access%5Ftoken=0123456789abcdef&timestamp=1&acess_token=x&sign=y")
    'access_token=…cdef&timestamp=1&acess_token=**********&sign=**********'
    """
    items = []
    for item in query.split("&"):
        if "=" not in item:
            items.append(item)  # a value without a name may be a token: the rule masks it
            continue
        for key, value in parse_qsl(item, keep_blank_values=True):
            items.append(f"{quote(key, safe='')}={quote(value, safe='')}")
    return mask_query("&".join(items))


@dataclass(frozen=True, slots=True)
class Record:
    """One request the fake answered.

    ``payload`` is the parsed JSON body (``None`` when the body was not JSON; then ``raw``
    holds the start of it). ``errcode`` is ``None`` when no DingTalk answer was given (an
    HTTP error fault, a dropped connection).
    """

    id: int
    time: float
    robot: str
    robot_id: str
    path: str
    query: str
    client: str | None
    payload: Any
    raw: str | None
    size: int
    status: int
    errcode: int | None
    errmsg: str | None
    fault: str | None = None
    token: str = field(default="", repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """DingTalk accepted the message (errcode 0)."""
        return self.errcode == 0

    @property
    def msgtype(self) -> str | None:
        """The body's ``msgtype``, if it had one."""
        if isinstance(self.payload, Mapping) and isinstance(self.payload.get("msgtype"), str):
            return str(self.payload["msgtype"])
        return None

    @property
    def text(self) -> str | None:
        """The main text: ``text.content``, or the ``text`` of markdown, link and action card."""
        msgtype = self.msgtype
        if msgtype is None or msgtype not in _BODY_FIELD:
            return None
        obj = self.payload.get(msgtype)
        value = obj.get(_BODY_FIELD[msgtype]) if isinstance(obj, Mapping) else None
        return value if isinstance(value, str) else None

    @property
    def title(self) -> str | None:
        """The ``title`` of a markdown, link or action card message."""
        msgtype = self.msgtype
        obj = self.payload.get(msgtype) if msgtype else None
        value = obj.get("title") if isinstance(obj, Mapping) else None
        return value if isinstance(value, str) else None

    def matches(self, robot: str | None) -> bool:
        """Whether this record belongs to ``robot``: its token, name/label, or id."""
        return robot is None or robot in (self.token, self.robot, self.robot_id)

    def to_json(self) -> dict[str, Any]:
        """The record as ``GET /api/messages`` shows it (no token, no sign, no secret)."""
        return {
            "id": self.id,
            "time": self.time,
            "robot": self.robot,
            "robot_id": self.robot_id,
            "path": self.path,
            "query": self.query,
            "client": self.client,
            "body": self.payload,
            "raw": self.raw,
            "size": self.size,
            "status": self.status,
            "errcode": self.errcode,
            "errmsg": self.errmsg,
            "fault": self.fault,
        }

    def to_json_bytes(self) -> bytes:
        """:meth:`to_json` encoded compactly, CJK as UTF-8, valid for any strict parser."""
        return jsonio.dumps(self.to_json())


Listener = Callable[[Record | None], None]


class MessageLog:
    """The last ``capacity`` records, thread-safe, with listeners for live views."""

    def __init__(self, capacity: int = 5000) -> None:
        self.capacity = capacity
        self._records: list[Record] = []
        self._next_id = 1
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    @property
    def last_id(self) -> int:
        """The id of the newest record ever appended (0 before the first)."""
        return self._next_id - 1

    def append(self, build: Callable[[int], Record]) -> Record:
        """Keep the record ``build(id)`` makes with the next id; tell the listeners."""
        with self._lock:
            record = build(self._next_id)
            self._next_id += 1
            self._records.append(record)
            if len(self._records) > 2 * self.capacity:
                # Trimming in batches keeps append O(1) amortised.
                del self._records[: len(self._records) - self.capacity]
            listeners = list(self._listeners) if self._listeners else ()
        for listener in listeners:
            listener(record)
        return record

    def records(self, robot: str | None = None, *, after: int = 0) -> list[Record]:
        """The kept records, oldest first; only ``robot``'s, only those with id > ``after``."""
        with self._lock:
            records = self._records[-self.capacity :]
        if after:
            records = [r for r in records if r.id > after]
        if robot is not None:
            records = [r for r in records if r.matches(robot)]
        return records

    def clear(self, robot: str | None = None) -> None:
        """Forget every record, or ``robot``'s (ids keep increasing); tell the listeners."""
        with self._lock:
            if robot is None:
                self._records = []
            else:
                self._records = [r for r in self._records if not r.matches(robot)]
            listeners = list(self._listeners)
        for listener in listeners:
            listener(None)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with each new record (``None`` on a clear); returns unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe
