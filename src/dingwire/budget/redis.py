"""The budget every host shares: one Redis (``redis://host:port/db`` or ``rediss://…``).

Every robot and relay pointed at the same Redis shares each robot's minute window, its
lockouts and each organisation's quota count, whichever host it runs on.

Rules kept here:

- The decision is the core's: :func:`~dingwire.core.budget.judge`, in Python, on the state
  this store reads. Redis only holds state. Each operation is one Lua script (``EVALSHA``),
  atomic on the server, and *optimistic*: the store judges on the state it last saw and
  sends the script what it expects (the robot's version, its "spent", the barrier, and the
  org's count — exactly, or within the bounds for which ``judge`` itself says the same, see
  ``_bounds``: every send of an org moves its count); the script records the slot only if
  that is still the state, and otherwise answers with the state as it is now, to judge
  again. A settle keeps the state this store saw up to date. So a decision is one round
  trip when nobody else sent for the robot in between (the common case), two when someone
  did, and a window check written a second time in Lua, which could drift from ``judge``,
  never exists. (Why not Lua mirroring ``judge``: the rules — in-flight slots
  counting as arriving now, expiry, barrier, provisional waits, quota periods in a time
  zone — would then live twice, and the contract suite could only sample their agreement.)
- Times are the caller's (``now``, as the contract says), never the Redis server's: hosts
  sharing a robot need synchronised clocks (NTP), as they do for DingTalk's signature
  window anyway. Redis' clock only seeds slot ids and sets expiries.
- Keys are ``dingwire:budget:…``: ``robot:KEY`` (a hash: version, lockout, slots),
  ``used:ORG:PERIOD``, ``spent:ORG``, ``barrier``, ``marker``, ``ids``. Every key but the
  last two expires (a day after its content stops mattering; extended, never shortened), so
  nothing grows for ever. Robot keys are hashes of the webhook, never a token. (Redis 5 or
  later, standalone or a primary; not Redis Cluster: a settle reaches the org's count
  through the slot.)
- A Redis that lost its state (restarted without persistence, flushed) is recognised by the
  ``marker`` key this store saw before: it sets a *barrier* (every robot's window counts as
  full for a window from then on), writes back the lockouts and the sends in flight this
  process knows, and says so once — as the machine-local store does for a lost file.
- When Redis cannot be reached (``on_error``, the config's ``[budget] on_store_error``):
  ``"local"`` (the default) counts in the machine-local store
  (:func:`~dingwire.budget.default_store`) with one warning on ``dingwire.budget``, tries
  Redis again every :data:`RETRY_INTERVAL` seconds, and when it answers writes back the
  lockouts and the sends made meanwhile, then shares its budget again. ``"fail"``: a send
  raises :class:`~dingwire.core.errors.BudgetStoreError` (nothing is sent); a lockout or a
  spent quota learnt meanwhile is kept and written when Redis answers.

  Why ``"local"`` by default: an alert that is not sent because the bookkeeping is away is
  the worst outcome for a library user — and a Redis outage often comes with the very
  incident being alerted on — while counting per host for the length of an outage risks, at
  worst, that several hosts together go over the robot's 20 a minute during a storm and
  DingTalk locks the robot for ten minutes (each host then learns and honours the lockout).
  Choose ``"fail"`` when the budget must never be over-spent (a tight org quota, many hosts
  in lockstep): those sends fail at once, with an error that says why.
- A password in the URL never appears in ``repr``, a log line or an error: the store is
  named by ``host:port/db``.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

from dingwire.core.budget import Budget, Slot, Verdict, judge
from dingwire.core.errors import BudgetStoreError, ConfigError
from dingwire.core.urls import parse_redis_url

if TYPE_CHECKING:
    from dingwire.budget._contract import BudgetStore

__all__ = [
    "DEFAULT_ON_STORE_ERROR",
    "ON_STORE_ERROR",
    "PREFIX",
    "RETRY_INTERVAL",
    "RedisBudgetStore",
    "check_on_store_error",
]

logger = logging.getLogger(__name__)

OnStoreError = Literal["fail", "local"]
#: What a robot does when its Redis budget store cannot be reached (see the module docstring).
ON_STORE_ERROR: tuple[OnStoreError, ...] = ("fail", "local")
DEFAULT_ON_STORE_ERROR: OnStoreError = "local"

PREFIX = "dingwire:budget:"
#: While Redis is away, how often (seconds) a call tries it again.
RETRY_INTERVAL = 2.0
#: How long connecting to Redis, and waiting for an answer, may take (seconds).
CONNECT_TIMEOUT = 1.0
ANSWER_TIMEOUT = 2.0
#: Every key lives at least this long after its content stops mattering.
DAY = 86_400.0
#: A send held longer than this (``hold=math.inf``) is remembered this long.
_MAX_HOLD_KEPT = 7 * DAY
#: How many sends in flight (or made while Redis was away) a store remembers to write back.
_KEPT = 4096

_T = TypeVar("_T")

# -- the scripts ------------------------------------------------------------------------------

_HELPERS = """
local function extend(key, ms)
  ms = tonumber(ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
local function next_id(ids)
  if redis.call('EXISTS', ids) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', ids, t[1] .. string.rep('0', 6 - #t[2]) .. t[2])
  end
  -- a Lua number prints as 1.7e+15: the id goes on as its digits
  return string.format('%d', redis.call('INCR', ids))
end
"""

# KEYS: robot, used, spent, barrier, marker, ids
# ARGV: marker, version, lowest count, spent, barrier, mode, started, expires, robot ms,
# used ms, highest count, gone… — the same state, but for a count within the bounds
_DECIDE = (
    _HELPERS
    + """
local marker = redis.call('GET', KEYS[5])
if marker ~= ARGV[1] then return {'lost', marker or ''} end
local v = redis.call('HGET', KEYS[1], 'v') or '0'
local used = redis.call('GET', KEYS[2]) or '0'
local spent = redis.call('GET', KEYS[3]) or ''
local barrier = redis.call('GET', KEYS[4]) or ''
local count = tonumber(used)
if v ~= ARGV[2] or count < tonumber(ARGV[3]) or count > tonumber(ARGV[11])
    or spent ~= ARGV[4] or barrier ~= ARGV[5] then
  return {'state', v, used, spent, barrier, redis.call('HGETALL', KEYS[1])}
end
if #ARGV >= 12 then  -- slots past every window: forgotten, as judged
  for i = 12, #ARGV do redis.call('HDEL', KEYS[1], 's:' .. ARGV[i]) end
  v = redis.call('HINCRBY', KEYS[1], 'v', 1)
end
if ARGV[6] ~= 'take' then return {'same', used, v} end
local id = next_id(KEYS[6])
redis.call('HSET', KEYS[1], 's:' .. id, ARGV[7] .. '|' .. ARGV[8] .. '||' .. KEYS[2])
local nv = redis.call('HINCRBY', KEYS[1], 'v', 1)
local nu = redis.call('INCR', KEYS[2])
extend(KEYS[1], ARGV[9])
extend(KEYS[2], ARGV[10])
return {'took', id, nv, nu}
"""
)

# KEYS: robot, marker; ARGV: marker, slot, arrived ('' = never left)
_SETTLE = """
local marker = redis.call('GET', KEYS[2])
if marker ~= ARGV[1] then return {'lost', marker or ''} end
local name = 's:' .. ARGV[2]
local value = redis.call('HGET', KEYS[1], name)
if not value then return {'unknown'} end
local started, expires, _, used = string.match(value, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
local count = ''
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], name)
  count = redis.call('GET', used) or '0'
  if tonumber(count) > 0 then count = tostring(redis.call('DECR', used)) end
else
  redis.call('HSET', KEYS[1], name, started .. '|' .. expires .. '|' .. ARGV[3] .. '|' .. used)
end
return {'settled', redis.call('HINCRBY', KEYS[1], 'v', 1), used, count}
"""

# KEYS: robot; ARGV: until, robot ms
_LOCK_OUT = (
    _HELPERS
    + """
if tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[1], 'lock') or '0') then
  redis.call('HSET', KEYS[1], 'lock', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'v', 1)
end
extend(KEYS[1], ARGV[2])
return 1
"""
)

# KEYS: a key holding a time (spent, barrier); ARGV: until, ms — a later time wins
_LATER = (
    _HELPERS
    + """
local current = redis.call('GET', KEYS[1])
if (not current) or tonumber(ARGV[1]) > tonumber(current) then
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('SET', KEYS[1], ARGV[1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
end
extend(KEYS[1], ARGV[2])
return 1
"""
)

# KEYS: marker, barrier; ARGV: new marker, barrier ('' = none), barrier ms — the marker after
_MARK = (
    _HELPERS
    + """
local marker = redis.call('GET', KEYS[1])
if not marker then
  marker = ARGV[1]
  redis.call('SET', KEYS[1], marker)
end
if ARGV[2] ~= '' then
  local current = redis.call('GET', KEYS[2])
  if (not current) or tonumber(ARGV[2]) > tonumber(current) then
    redis.call('SET', KEYS[2], ARGV[2])
  end
  extend(KEYS[2], ARGV[3])
end
return marker
"""
)

# KEYS: robot, used, ids; ARGV: slot ('' = a new one), started, expires, arrived, count,
# robot ms, used ms — a send Redis did not record (lost, or made while it was away)
_INSERT = (
    _HELPERS
    + """
local id = ARGV[1]
if id == '' then id = next_id(KEYS[3]) end
local value = ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. KEYS[2]
if redis.call('HSETNX', KEYS[1], 's:' .. id, value) == 1 then
  redis.call('HINCRBY', KEYS[1], 'v', 1)
  if ARGV[5] == '1' then
    redis.call('INCR', KEYS[2])
    extend(KEYS[2], ARGV[7])
  end
end
extend(KEYS[1], ARGV[6])
return id
"""
)


# -- what a store knows ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _State:
    """A robot's hash and its org's counts as last seen: what the next script expects.

    Replaced whole, never changed: another thread may be judging on it.
    """

    used_key: str
    version: str = "0"
    used: str = "0"
    spent: str = ""
    barrier: str = ""
    locked: float = 0.0
    slots: dict[int, Slot] = field(default_factory=dict)


@dataclass(slots=True)
class _Borrowed:
    """A send the fallback store granted while Redis was away (written back on return)."""

    started: float
    expires: float
    arrived: float | None
    org: str
    period: float
    window: float
    redis_slot: int | None = None


@dataclass(slots=True)
class _Flying:
    """A send this store granted, not settled yet: written back if Redis loses its state."""

    robot: str
    started: float
    expires: float
    used_key: str
    keep_ms: int


class _Lost(Exception):
    """Redis' marker is not the one this store saw: its state is gone."""

    def __init__(self, found: str) -> None:
        super().__init__(found)
        self.found = found


def check_on_store_error(value: object, *, key: str = "on_store_error") -> OnStoreError:
    """``"fail"`` or ``"local"``; anything else is a :class:`ConfigError` naming ``key``."""
    if value not in ON_STORE_ERROR:
        raise ConfigError(f'{key}: expected "fail" or "local", got {value!r}')
    return value


def _num(value: float) -> str:
    """A time as Redis keeps it: Python's shortest exact form (``inf`` for ever)."""
    return repr(float(value))


def _ms(seconds: float) -> int:
    return max(1000, math.ceil(min(seconds, 400 * DAY) * 1000))


class RedisBudgetStore:
    """A :class:`~dingwire.budget.BudgetStore` on Redis, shared by every host that uses it.

    ``url``: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS). ``on_error``:
    ``"local"`` or ``"fail"``, what happens while Redis cannot be reached (module docstring);
    ``fallback``: the store counted in meanwhile (default: the machine-local one). ``clock``
    sets expiries and stamps a barrier. Safe to share between threads; after ``fork()`` the
    child opens its own connections.
    """

    blocking = True

    def __init__(
        self,
        url: str,
        *,
        on_error: OnStoreError = DEFAULT_ON_STORE_ERROR,
        fallback: BudgetStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        checked = parse_redis_url(url, name="budget store")  # first: the errors below quote it
        self.where = checked.where
        self._shown = checked.shown
        self.on_error: OnStoreError = check_on_store_error(on_error)
        try:
            import redis  # noqa: F401  (checked here, used in _connect)
        except ImportError:
            raise ConfigError(
                f"budget store: {self._shown!r} needs the Redis client: "
                "pip install 'dingwire[redis]'"
            ) from None
        self._url = url
        self._password = urlsplit(url).password or ""
        self._fallback = fallback
        self._clock = clock
        self._lock = threading.Lock()
        self._marking = threading.RLock()
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._marker: str | None = None
        self._states: dict[str, _State] = {}  # by robot
        self._lockouts: dict[str, float] = {}  # what this process knows, to write back
        self._spent: dict[str, float] = {}
        self._flying: dict[tuple[str, int], _Flying] = {}
        self._borrowed: dict[tuple[str, int], _Borrowed] = {}
        self._down: str | None = None  # why Redis cannot be used, while it cannot
        self._retry_at = 0.0
        self._lost_told = False
        self._open()

    def __repr__(self) -> str:
        return f"RedisBudgetStore('redis at {self.where}', on_error={self.on_error!r})"

    # -- the connection -------------------------------------------------------------------

    def _open(self) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        try:
            client = redis.Redis.from_url(
                self._url,
                decode_responses=True,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=ANSWER_TIMEOUT,
                retry=Retry(NoBackoff(), 1),  # once: a connection Redis closed on restart
                client_name="dingwire-budget",
            )
        except ValueError as error:
            raise ConfigError(
                f"budget store: {self._shown!r} is not a Redis URL ({self._scrub(error)}); "
                "write it like 'redis://127.0.0.1:6379/0'"
            ) from None
        self._client = client
        self._scripts = {
            name: client.register_script(text)
            for name, text in (
                ("decide", _DECIDE),
                ("settle", _SETTLE),
                ("lock_out", _LOCK_OUT),
                ("later", _LATER),
                ("mark", _MARK),
                ("insert", _INSERT),
            )
        }

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        if self._client is None:
            self._open()
        return self._scripts[name](keys=keys, args=args)

    def _scrub(self, error: BaseException) -> str:
        text = str(error) or type(error).__name__
        return text.replace(self._password, "***") if self._password else text

    # -- Redis away: fail, or count locally --------------------------------------------------

    def _run(
        self,
        on_redis: Callable[[], _T],
        on_fallback: Callable[[BudgetStore], _T],
        quiet: Callable[[], _T],
    ) -> _T:
        """``on_redis()``; while Redis is away ``on_fallback(store)`` ("local") or, in
        "fail" mode, ``quiet()`` — which raises for a decision, and keeps what it can."""
        from redis.exceptions import RedisError

        if self._down is not None and time.monotonic() < self._retry_at:
            return self._away(on_fallback, quiet)
        try:
            if self._down is not None:
                self._come_back()
            return on_redis()
        except RedisError as error:
            self._went_away(error)
        return self._away(on_fallback, quiet)  # outside the except: no chained Redis error

    def _away(self, on_fallback: Callable[[BudgetStore], _T], quiet: Callable[[], _T]) -> _T:
        if self.on_error == "fail":
            return quiet()
        return on_fallback(self._local())

    def _local(self) -> BudgetStore:
        if self._fallback is None:
            from dingwire.budget.local import default_store

            self._fallback = default_store()
        return self._fallback

    def _went_away(self, error: BaseException) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + RETRY_INTERVAL
            if self._down is not None:
                return
            self._down = self._scrub(error)
        if self.on_error == "fail":
            then = 'sends fail with BudgetStoreError until it answers (on_store_error = "fail")'
        else:
            then = (
                f"robots in this process count in {self._local()!r} until it answers, which "
                "other hosts do not see"
            )
        logger.warning(
            "the budget store Redis at %s cannot be reached (%s); %s", self.where, self._down, then
        )

    def _come_back(self) -> None:
        """Redis answers again: write back what was learnt and sent meanwhile (once, however
        many threads find it back at the same moment)."""
        with self._marking:
            if self._down is not None:
                self._write_back_borrowed()

    def _write_back_borrowed(self) -> None:
        with self._lock:
            borrowed = [(key, b) for key, b in self._borrowed.items() if b.redis_slot is None]
        for (robot, _), sent in borrowed:
            # Every send made meanwhile counts in its org's period, and in the robot's
            # window until it has passed; it is settled in Redis too when its reply comes.
            used_key = _used_key(sent.org, sent.period)
            slot = self._script(
                "insert",
                [_robot_key(robot), used_key, PREFIX + "ids"],
                [
                    "",
                    _num(sent.started),
                    _num(sent.expires),
                    "" if sent.arrived is None else _num(sent.arrived),
                    "1",
                    _ms(DAY + sent.window + min(sent.expires - sent.started, _MAX_HOLD_KEPT)),
                    _ms(32 * DAY),
                ],
            )
            sent.redis_slot = int(slot)
        with self._lock:
            for key, sent in borrowed:
                if sent.arrived is not None:  # settled already: nothing more to route
                    self._borrowed.pop(key, None)
        self._write_back_limits()
        with self._lock:
            was, self._down = self._down, None
        if was is not None:
            extra = (
                f"; {len(borrowed)} send(s) made meanwhile were written to it" if borrowed else ""
            )
            logger.info("the budget store Redis at %s answers again%s", self.where, extra)

    def _write_back_limits(self) -> None:
        # All of them (a later one wins in Redis): whether one is over is the callers' clock's
        for robot, until in list(self._lockouts.items()):
            self._lock_out(robot, until)
        for org, until in list(self._spent.items()):
            self._spend(org, until)

    def _refuse(self, what: str = "nothing was sent") -> BudgetStoreError:
        return BudgetStoreError(
            f"the budget store Redis at {self.where} cannot be reached ({self._down}); {what}",
            advice=(
                f"start Redis at {self.where} or fix [budget] store (Robot(budget_store=...)); "
                "to send anyway, counting on this machine alone while Redis is away, set "
                '[budget] on_store_error = "local"'
            ),
        )

    # -- the marker: did Redis lose its state? ---------------------------------------------

    def _lost(self, sent: str, found: str, now: float) -> None:
        """The marker is not ``sent``, the one this store knew (or it knew none yet)."""
        with self._marking:
            if (self._marker or "") != sent:
                return  # another thread of this store has seen to it meanwhile
            self._mark(found, now)

    def _mark(self, found: str, now: float) -> None:
        knew = self._marker
        if knew is None and found:
            self._marker = found  # a Redis others used before: nothing lost for us
            return
        barrier = "" if knew is None else _num(now)
        self._marker = str(
            self._script(
                "mark",
                [PREFIX + "marker", PREFIX + "barrier"],
                [secrets.token_hex(8), barrier, _ms(2 * DAY)],
            )
        )
        if knew is None:
            return
        # Redis lost what it held: the lockouts and the sends in flight this process knows
        # go back, and every window counts as full from now for a window.
        self._states.clear()
        self._write_back_limits()
        for (_, slot), flying in list(self._flying.items()):
            self._script(
                "insert",
                [_robot_key(flying.robot), flying.used_key, PREFIX + "ids"],
                [
                    str(slot),
                    _num(flying.started),
                    _num(flying.expires),
                    "",
                    "0",
                    flying.keep_ms,
                    1000,
                ],
            )
        if not self._lost_told:
            self._lost_told = True
            logger.warning(
                "the budget store Redis at %s lost its state (restarted without persistence, "
                "or flushed); every robot's minute window counts as full until a window has "
                "passed, and the lockouts and sends in flight this process knew were written "
                "back",
                self.where,
            )

    # -- the contract -----------------------------------------------------------------------

    def _decide(self, robot: str, budget: Budget, now: float, hold: float | None) -> Verdict:
        """Judge on the state last seen; Redis records a slot (``hold``) only if it still is."""
        start, renews = budget.period(now)
        used_key = _used_key(budget.org, start)
        keys = [
            _robot_key(robot),
            used_key,
            PREFIX + "spent:" + budget.org,
            PREFIX + "barrier",
            PREFIX + "marker",
            PREFIX + "ids",
        ]
        window = budget.rate.window if budget.rate is not None else 0.0
        while True:
            state = self._states.get(robot) or _State(used_key)
            if state.used_key != used_key:  # another period (or org): its count is a guess
                same_org = state.used_key.rpartition(":")[0] == used_key.rpartition(":")[0]
                state = replace(state, used_key=used_key, used="0", spent=state.spent * same_org)
            verdict = self._judge(state, budget, now)
            low, high = self._bounds(state, budget, now, verdict)
            take = verdict.go and hold is not None
            # Slots past every window are forgotten (a late settle of one changes nothing),
            # by every decision, as the other stores forget them.
            gone = [s for s, slot in state.slots.items() if _gone(slot, now, window)]
            expires = now + hold if hold is not None else now
            args: list[Any] = [
                self._marker or "",
                state.version,
                str(low),
                state.spent,
                state.barrier,
                "take" if take else "peek",
                _num(now),
                _num(expires),
                _ms(DAY + window + min(hold or 0.0, _MAX_HOLD_KEPT)),
                _ms(max(renews - now, 0.0) + DAY),
                str(high),
                *gone,
            ]
            answer = self._script("decide", keys, args)
            kind = answer[0]
            if kind == "same":
                used = str(answer[1])
                if gone or used != state.used:
                    slots = {s: v for s, v in state.slots.items() if s not in gone}
                    fresh = replace(state, version=str(answer[2]), used=used, slots=slots)
                    self._states[robot] = fresh
                    if used != state.used:  # another count, the same verdict
                        return self._judge(fresh, budget, now)
                return verdict
            if kind == "lost":
                self._lost(args[0], answer[1], now)
                continue
            if kind == "took":
                slot, version, used = int(answer[1]), str(answer[2]), str(answer[3])
                slots = {s: v for s, v in state.slots.items() if s not in gone}
                slots[slot] = Slot(now, None, expires)
                if used != str(int(state.used) + 1):  # counted meanwhile, within the bounds
                    verdict = self._judge(replace(state, used=str(int(used) - 1)), budget, now)
                self._states[robot] = replace(state, version=version, used=used, slots=slots)
                with self._lock:
                    if len(self._flying) >= _KEPT:  # senders that never settled: forget one
                        del self._flying[next(iter(self._flying))]
                    self._flying[(robot, slot)] = _Flying(
                        robot, now, expires, used_key, int(args[8])
                    )
                return verdict.granted(slot)
            # "state": someone else changed it; judge on what it is now
            fresh = _parse_state(answer, used_key)
            self._states[robot] = fresh
            if fresh.locked:
                self._lockouts[robot] = max(fresh.locked, self._lockouts.get(robot, 0.0))
            if any(_gone(slot, now, window) for slot in fresh.slots.values()):
                continue  # forget those first (one more round trip), then decide
            again = self._judge(fresh, budget, now)
            if hold is None or not again.go:
                return again  # read atomically: that is the answer

    def _bounds(
        self, state: _State, budget: Budget, now: float, verdict: Verdict
    ) -> tuple[int, int]:
        """The org counts for which ``judge`` says what it said on ``state``.

        Every send of the org changes its count, so a count that must not change would make
        busy orgs conflict on every decision. The count enters ``judge`` only as "below the
        quota" (and "free"); so without a quota any count will do, and a go that ``judge``
        still gives at ``limit - 1`` holds at any count below — asked of ``judge`` itself.
        Anything else must see the very count it was judged on.
        """
        used = int(state.used)
        if budget.quota is None:
            return 0, 1 << 62
        top = budget.quota.limit - 1
        if verdict.go and (
            used == top or self._judge(replace(state, used=str(top)), budget, now).go
        ):
            return 0, top
        return used, used

    def _judge(self, state: _State, budget: Budget, now: float) -> Verdict:
        return judge(
            budget,
            now,
            slots=list(state.slots.values()),
            locked_until=state.locked,
            used=int(state.used),
            spent_until=float(state.spent) if state.spent else 0.0,
            barrier=float(state.barrier) if state.barrier else None,
        )

    def reserve(self, robot: str, budget: Budget, now: float, *, hold: float) -> Verdict:
        def fallback(store: BudgetStore) -> Verdict:
            verdict = store.reserve(robot, budget, now, hold=hold)
            if verdict.slot is not None:
                start, _ = budget.period(now)
                window = budget.rate.window if budget.rate is not None else 0.0
                with self._lock:
                    if len(self._borrowed) >= _KEPT:
                        del self._borrowed[next(iter(self._borrowed))]
                    self._borrowed[(robot, verdict.slot)] = _Borrowed(
                        now, now + hold, None, budget.org, start, window
                    )
            return verdict

        def quiet() -> Verdict:
            raise self._refuse()

        return self._run(lambda: self._decide(robot, budget, now, hold), fallback, quiet)

    def peek(self, robot: str, budget: Budget, now: float) -> Verdict:
        def quiet() -> Verdict:
            raise self._refuse("the budget cannot be read")

        return self._run(
            lambda: self._decide(robot, budget, now, None),
            lambda store: store.peek(robot, budget, now),
            quiet,
        )

    def settle(self, robot: str, slot: int, arrived: float | None) -> None:
        with self._lock:
            borrowed = self._borrowed.get((robot, slot))
            if borrowed is not None:
                if arrived is not None and borrowed.redis_slot is None:
                    borrowed.arrived = arrived  # written back with its arrival
                else:
                    del self._borrowed[(robot, slot)]
        if borrowed is not None:
            self._local().settle(robot, slot, arrived)
            if borrowed.redis_slot is None:
                return
            slot = borrowed.redis_slot  # written back to Redis: settled there too

        def on_redis() -> None:
            while True:
                marker = self._marker or ""
                answer = self._script(
                    "settle",
                    [_robot_key(robot), PREFIX + "marker"],
                    [marker, str(slot), "" if arrived is None else _num(arrived)],
                )
                if answer[0] == "settled":
                    self._settled(robot, slot, arrived, answer)
                if answer[0] != "lost":
                    return
                self._lost(marker, answer[1], self._clock())  # writes it back: settle again

        def nothing(*_: object) -> None:
            # Redis away: a slot it holds counts until it expires, and keeps its count.
            return None

        self._run(on_redis, nothing, nothing)
        with self._lock:
            self._flying.pop((robot, slot), None)

    def _settled(self, robot: str, slot: int, arrived: float | None, answer: list[Any]) -> None:
        """What this settle did, in the state last seen, if nobody changed it meanwhile: the
        next decision then needs no second round trip."""
        _, version, used_key, count = answer
        with self._lock:
            state = self._states.get(robot)
            if state is None or state.version != str(int(version) - 1):
                return
            slots = dict(state.slots)
            old = slots.pop(slot, None)
            if old is None:
                return
            used = state.used
            if arrived is not None:
                slots[slot] = Slot(old.started, arrived, old.expires)
            elif used_key == state.used_key:
                used = str(count)
            else:
                return  # a count the state does not hold changed: learn it next time
            self._states[robot] = replace(state, version=str(version), used=used, slots=slots)

    def _lock_out(self, robot: str, until: float) -> None:
        keep = _ms(max(until - self._clock(), 0.0) + DAY)
        self._script("lock_out", [_robot_key(robot)], [_num(until), keep])

    def lock_out(self, robot: str, until: float) -> None:
        with self._lock:
            self._lockouts[robot] = max(until, self._lockouts.get(robot, 0.0))
        # "fail" mode keeps it (above) and writes it when Redis answers again
        self._run(
            lambda: self._lock_out(robot, until),
            lambda store: store.lock_out(robot, until),
            lambda: None,
        )

    def _spend(self, org: str, until: float) -> None:
        keep = _ms(max(until - self._clock(), 0.0) + DAY)
        self._script("later", [PREFIX + "spent:" + org], [_num(until), keep])

    def spend_quota(self, org: str, until: float) -> None:
        with self._lock:
            self._spent[org] = max(until, self._spent.get(org, 0.0))
        self._run(
            lambda: self._spend(org, until),
            lambda store: store.spend_quota(org, until),
            lambda: None,
        )

    def usage(self, budget: Budget, now: float) -> int:
        start, _ = budget.period(now)

        def on_redis() -> int:
            if self._client is None:
                self._open()
            return int(self._client.get(_used_key(budget.org, start)) or 0)

        def quiet() -> int:
            raise self._refuse("the budget cannot be read")

        return self._run(on_redis, lambda store: store.usage(budget, now), quiet)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _robot_key(robot: str) -> str:
    return PREFIX + "robot:" + robot


def _used_key(org: str, period: float) -> str:
    return f"{PREFIX}used:{org}:{_num(period)}"


def _gone(slot: Slot, now: float, window: float) -> bool:
    """Whether ``slot`` can no longer count in any window from ``now`` on."""
    end = slot.arrived if slot.arrived is not None else slot.expires
    return end + window <= now


def _parse_state(answer: list[Any], used_key: str) -> _State:
    _, version, used, spent, barrier, flat = answer
    locked = 0.0
    slots: dict[int, Slot] = {}
    for name, value in zip(flat[::2], flat[1::2], strict=True):
        if name == "lock":
            locked = float(value)
        elif name.startswith("s:"):
            started, expires, arrived, _ = value.split("|", 3)
            slots[int(name[2:])] = Slot(
                float(started), float(arrived) if arrived else None, float(expires)
            )
    return _State(used_key, str(version), str(used), spent, barrier, locked, slots)
