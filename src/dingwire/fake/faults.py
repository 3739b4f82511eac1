"""Faults on demand: the next N requests fail the way networks and DingTalk fail.

Seven kinds, enough to exercise every retry path of a client or a relay without
monkeypatching anything:

- ``http``: an HTTP error status (503 by default) with the gateway's HTML page; nothing is
  delivered.
- ``errcode``: HTTP 200 with a DingTalk errcode (-1 ``系统繁忙`` by default); nothing is
  delivered.
- ``slow``: the request is handled as usual (the message *is* delivered) and the answer
  comes ``delay`` seconds late, so a client with a shorter timeout sees a timeout.
- ``drop``: the connection is closed without an answer; the message is lost unless
  ``deliver`` is true (the "delivered, but the client cannot know" case).
- ``x5``: HTTP 200 with the anti-abuse JSON of DingTalk's gateway, no ``errcode``
  (``{"status":1111,"wait":5,"source":"x5","punish":"deny",…}``, API.md §3, §4.1);
  ``wait`` is the seconds it asks for. Nothing is delivered.
- ``redirect``: HTTP 302 to ``location`` (the fake's own verify page by default) with a
  small HTML body, as some users see while a robot is throttled. Nothing is delivered.
- ``latency``: the request *arrives* ``delay`` seconds late (a slow first connection): the
  carrier (the ASGI app, an in-process transport) waits before it takes the arrival time,
  then the request is handled as usual — delivered, and logged at its late arrival. A
  client that gives up first (its timeout is shorter) sends nothing.

A fault belongs to one robot (by token) or to every request (``robot=None``). Faults are
used up in the order they were added, one request at a time (one fault per request), the
robot's own before the global ones (:class:`FaultQueue`). ``http``, ``errcode``, ``x5``,
``redirect`` and a ``drop`` that does not deliver answer in DingTalk's place: the request
meets none of DingTalk's checks (:attr:`Fault.answers`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from dingwire.core.errors import ConfigError
from dingwire.fake.jsonio import lone_surrogate

__all__ = ["DEFAULT_LOCATION", "DEFAULT_WAIT", "FAULT_KINDS", "Fault", "FaultKind", "FaultQueue"]

FaultKind = Literal["http", "errcode", "slow", "drop", "x5", "redirect", "latency"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "http",
    "errcode",
    "slow",
    "drop",
    "x5",
    "redirect",
    "latency",
)

#: Where a ``redirect`` fault sends the client: a verify page on the fake itself.
DEFAULT_LOCATION = "/verify"
#: The seconds an ``x5`` answer asks the client to wait, as in DingTalk's example.
DEFAULT_WAIT = 5
_MAX_DELAY = 600.0
# The kinds that answer in DingTalk's place (a ``drop`` only when it does not deliver).
_ANSWERING = frozenset({"http", "errcode", "drop", "x5", "redirect"})

_KEYS = frozenset(
    {
        "kind",
        "count",
        "status",
        "errcode",
        "errmsg",
        "delay",
        "deliver",
        "wait",
        "location",
        "robot",
    }
)


def _location_ok(value: object) -> bool:
    # A header value: printable ASCII, no CR/LF (no header injection), a path or an http(s) URL.
    return (
        isinstance(value, str)
        and 0 < len(value) <= 2000
        and all(" " < c <= "~" for c in value)
        and (value.startswith("/") or value.lower().startswith(("http://", "https://")))
    )


@dataclass(frozen=True, slots=True)
class Fault:
    """How the next ``count`` requests fail. Build one with the class methods.

    >>> Fault.http(503, count=2).describe()
    'http 503'
    >>> Fault.latency(0.25).to_json()
    {'kind': 'latency', 'count': 1, 'delay': 0.25}
    """

    kind: FaultKind
    count: int = 1
    status: int = 503
    errcode: int = -1
    errmsg: str | None = None
    delay: float = 0.0
    deliver: bool = False
    wait: int = DEFAULT_WAIT
    location: str = DEFAULT_LOCATION

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigError(f"fault: kind must be one of {', '.join(FAULT_KINDS)}")
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1:
            raise ConfigError("fault: count must be a positive integer")
        if not (isinstance(self.status, int) and 100 <= self.status <= 599):
            raise ConfigError("fault: status must be an HTTP status code")
        if not isinstance(self.errcode, int) or isinstance(self.errcode, bool):
            raise ConfigError("fault: errcode must be an integer")
        if self.errmsg is not None and (
            not isinstance(self.errmsg, str) or lone_surrogate(self.errmsg) is not None
        ):
            raise ConfigError("fault: errmsg must be text (no lone surrogate)")
        if self.kind in ("slow", "latency") and not (0 < self.delay <= _MAX_DELAY):
            raise ConfigError(f"fault: a {self.kind} fault needs a delay between 0 and 600 seconds")
        if isinstance(self.wait, bool) or not isinstance(self.wait, int) or self.wait < 0:
            raise ConfigError("fault: wait must be a whole number of seconds, 0 or more")
        if not _location_ok(self.location):
            raise ConfigError(
                "fault: location must be a path ('/verify') or an http(s) URL, "
                "printable ASCII without spaces"
            )

    @classmethod
    def http(cls, status: int = 503, *, count: int = 1) -> Fault:
        """Answer with HTTP ``status`` (a gateway error page), delivering nothing."""
        return cls("http", count=count, status=status)

    @classmethod
    def errcode_reply(
        cls, errcode: int = -1, errmsg: str | None = None, *, count: int = 1
    ) -> Fault:
        """Answer HTTP 200 with ``errcode`` (and DingTalk's errmsg for it), delivering nothing."""
        return cls("errcode", count=count, errcode=errcode, errmsg=errmsg)

    @classmethod
    def busy(cls, *, count: int = 1) -> Fault:
        """Answer errcode -1 ``系统繁忙``: DingTalk asks the client to try again."""
        return cls.errcode_reply(-1, count=count)

    @classmethod
    def slow(cls, delay: float, *, count: int = 1) -> Fault:
        """Deliver the message, but answer ``delay`` seconds late."""
        return cls("slow", count=count, delay=float(delay))

    @classmethod
    def drop(cls, *, count: int = 1, deliver: bool = False) -> Fault:
        """Close the connection without an answer (after delivering, if ``deliver``)."""
        return cls("drop", count=count, deliver=deliver)

    @classmethod
    def x5(cls, wait: int = DEFAULT_WAIT, *, count: int = 1) -> Fault:
        """Answer HTTP 200 with the gateway's anti-abuse JSON (no errcode) asking to ``wait``
        seconds, delivering nothing."""
        return cls("x5", count=count, wait=wait)

    @classmethod
    def redirect(cls, location: str = DEFAULT_LOCATION, *, count: int = 1) -> Fault:
        """Answer HTTP 302 to ``location`` (the fake's verify page), delivering nothing."""
        return cls("redirect", count=count, location=location)

    @classmethod
    def latency(cls, delay: float, *, count: int = 1) -> Fault:
        """Make the request arrive ``delay`` seconds late, then handle it as usual."""
        return cls("latency", count=count, delay=float(delay))

    @property
    def answers(self) -> bool:
        """Whether the fault answers in DingTalk's place (the request meets no check)."""
        return self.kind in _ANSWERING and not (self.kind == "drop" and self.deliver)

    def describe(self) -> str:
        """A short label for the message log and the page: ``"http 503"``, ``"slow 2s"``."""
        if self.kind == "http":
            return f"http {self.status}"
        if self.kind == "errcode":
            return f"errcode {self.errcode}"
        if self.kind == "slow":
            return f"slow {self.delay:g}s"
        if self.kind == "x5":
            return f"x5 wait {self.wait}s"
        if self.kind == "redirect":
            return "redirect 302"
        if self.kind == "latency":
            return f"latency {self.delay * 1000:g}ms"
        return "drop (delivered)" if self.deliver else "drop"

    def to_json(self) -> dict[str, Any]:
        """The fault as the JSON fault API shows it."""
        data: dict[str, Any] = {"kind": self.kind, "count": self.count}
        if self.kind == "http":
            data["status"] = self.status
        elif self.kind == "errcode":
            data["errcode"] = self.errcode
            if self.errmsg is not None:
                data["errmsg"] = self.errmsg
        elif self.kind in ("slow", "latency"):
            data["delay"] = self.delay
        elif self.kind == "x5":
            data["wait"] = self.wait
        elif self.kind == "redirect":
            data["location"] = self.location
        else:
            data["deliver"] = self.deliver
        return data

    @classmethod
    def from_json(cls, data: object, *, where: str = "fault") -> Fault:
        """A fault from its JSON or TOML form: ``{kind = "http", status = 503, count = 2}``.

        A ``robot`` key is allowed (and ignored here): the fault API takes it alongside.
        Raises :class:`ConfigError` naming ``where`` for anything malformed.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a table such as {{ kind = 'http', count = 1 }}")
        unknown = set(data) - _KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(FAULT_KINDS)}")
        errmsg = data.get("errmsg")
        if errmsg is not None and not isinstance(errmsg, str):
            raise ConfigError(f"{where}: errmsg must be a string")
        delay = data.get("delay", 0.0)
        deliver = data.get("deliver", False)
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise ConfigError(f"{where}: delay must be a number of seconds")
        if isinstance(delay, int) and abs(delay) > _MAX_DELAY:
            delay = float("inf")  # refused below; float() of a huge int would overflow
        if not isinstance(deliver, bool):
            raise ConfigError(f"{where}: deliver must be true or false")
        location = data.get("location", DEFAULT_LOCATION)
        if not isinstance(location, str):
            raise ConfigError(f"{where}: location must be a string")
        try:
            return cls(
                cast(FaultKind, kind),
                count=data.get("count", 1),
                status=data.get("status", 503),
                errcode=data.get("errcode", -1),
                errmsg=errmsg,
                delay=float(delay),
                deliver=deliver,
                wait=data.get("wait", DEFAULT_WAIT),
                location=location,
            )
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}".replace("fault: ", "")) from None


class _Pending:
    __slots__ = ("fault", "remaining")

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.remaining = fault.count


class FaultQueue:
    """The pending faults: each robot's (by token) and the global ones (``None``), in order.

    Not thread-safe: the engine holds its lock around every call.
    """

    def __init__(self) -> None:
        self._queues: dict[str | None, deque[_Pending]] = {}

    def __bool__(self) -> bool:
        return bool(self._queues)

    def add(self, fault: Fault, robot: str | None = None) -> None:
        """Make the next ``fault.count`` requests (to ``robot``'s token, or any) fail."""
        self._queues.setdefault(robot, deque()).append(_Pending(fault))

    def take(self, token: str | None, *, only: FaultKind | None = None) -> Fault | None:
        """The next fault for ``token`` (its own, then the global ones), counted down; with
        ``only``, taken only when it is of that kind."""
        if not self._queues:
            return None
        for key in (token, None) if token is not None else (None,):
            queue = self._queues.get(key)
            if queue:
                pending = queue[0]
                if only is not None and pending.fault.kind != only:
                    return None
                pending.remaining -= 1
                if pending.remaining <= 0:
                    queue.popleft()
                return pending.fault
        return None

    def pending(self) -> list[tuple[str | None, Fault, int]]:
        """``(token or None, fault, requests left)`` for every fault not yet used up."""
        return [(k, p.fault, p.remaining) for k, q in self._queues.items() for p in q]

    def clear(self, robot: str | None = None, *, everywhere: bool = True) -> None:
        """Drop pending faults: all of them, or (``everywhere=False``) only ``robot``'s."""
        if everywhere:
            self._queues = {}
        else:
            self._queues.pop(robot, None)
