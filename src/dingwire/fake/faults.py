"""Faults on demand: the next N requests fail the way networks and DingTalk fail.

Four kinds, enough to exercise every retry path of a client or a relay without
monkeypatching anything:

- ``http``: an HTTP error status (503 by default) with the gateway's HTML page; nothing is
  delivered.
- ``errcode``: HTTP 200 with a DingTalk errcode (-1 ``系统繁忙`` by default); nothing is
  delivered.
- ``slow``: the request is handled as usual (the message *is* delivered) and the answer
  comes ``delay`` seconds late, so a client with a shorter timeout sees a timeout.
- ``drop``: the connection is closed without an answer; the message is lost unless
  ``deliver`` is true (the "delivered, but the client cannot know" case).

A fault belongs to one robot (by token) or to every request (``robot=None``). Faults are
used up in the order they were added, one request at a time, the robot's own before the
global ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from dingwire.core.errors import ConfigError

__all__ = ["FAULT_KINDS", "Fault", "FaultKind"]

FaultKind = Literal["http", "errcode", "slow", "drop"]
FAULT_KINDS: tuple[FaultKind, ...] = ("http", "errcode", "slow", "drop")

_KEYS = frozenset({"kind", "count", "status", "errcode", "errmsg", "delay", "deliver", "robot"})


@dataclass(frozen=True, slots=True)
class Fault:
    """How the next ``count`` requests fail. Build one with the class methods.

    >>> Fault.http(503, count=2)
    Fault(kind='http', count=2, status=503, errcode=-1, errmsg=None, delay=0.0, deliver=False)
    """

    kind: FaultKind
    count: int = 1
    status: int = 503
    errcode: int = -1
    errmsg: str | None = None
    delay: float = 0.0
    deliver: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigError(f"fault: kind must be one of {', '.join(FAULT_KINDS)}")
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1:
            raise ConfigError("fault: count must be a positive integer")
        if not (isinstance(self.status, int) and 100 <= self.status <= 599):
            raise ConfigError("fault: status must be an HTTP status code")
        if not isinstance(self.errcode, int) or isinstance(self.errcode, bool):
            raise ConfigError("fault: errcode must be an integer")
        if self.kind == "slow" and not (0 < self.delay <= 600):
            raise ConfigError("fault: a slow fault needs a delay between 0 and 600 seconds")

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

    def describe(self) -> str:
        """A short label for the message log and the page: ``"http 503"``, ``"slow 2s"``."""
        if self.kind == "http":
            return f"http {self.status}"
        if self.kind == "errcode":
            return f"errcode {self.errcode}"
        if self.kind == "slow":
            return f"slow {self.delay:g}s"
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
        elif self.kind == "slow":
            data["delay"] = self.delay
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
        if not isinstance(deliver, bool):
            raise ConfigError(f"{where}: deliver must be true or false")
        try:
            return cls(
                cast(FaultKind, kind),
                count=data.get("count", 1),
                status=data.get("status", 503),
                errcode=data.get("errcode", -1),
                errmsg=errmsg,
                delay=float(delay),
                deliver=deliver,
            )
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}".replace("fault: ", "")) from None
