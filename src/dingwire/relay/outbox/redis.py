"""The outbox that many relays share: hashes and sorted sets in one Redis, changed by Lua.

``queue = "redis://host:port/db"`` (``rediss://`` for TLS, ``unix:///path.sock``; a password as
``redis://:PASSWORD@host``). Any number of relay processes, on any number of hosts, and the
``dingwire outbox`` commands work on one queue: a record claimed by one is held by its lease,
a duplicate is found whoever stored the first, and a relay killed in the middle of a send
leaves its claims to the others when their lease runs out.

Why sorted sets and Lua, not a stream with a consumer group
-----------------------------------------------------------
The contract asks for what a stream does not keep: claims by ``priority`` and then arrival
(a stream is arrival order only: one stream per priority and robot, read in turn), a due
time per record (``nack`` with a retry time, ``release`` until a budget renews: a stream
cannot hide an entry until then, so a second, timed structure is needed anyway), a lease
that ends at a time the claimer chose (``XAUTOCLAIM`` takes over by idle time, the same for
every entry, and an entry ``XCLAIM``\\ ed back is delivered again with no way to keep it
unseen until its retry time) and a record read by id with its state, reply and history
(``XRANGE id id`` gives the entry as written, never its state; that needs a hash per record
anyway). A stream would be a log in front of the structures below, not instead of them: one
more write per message, and two places that must agree.

So each record is a hash, and sorted sets index it:

- ``t:ROBOT`` every ``queued``/``retrying`` record by ``not_before`` (exact ``backlog()``
  counts at any ``now``);
- ``o:ROBOT`` those already due, by ``priority × 2^40 + seq`` (claim order);
  ``l:ROBOT`` those due later (after a ``nack``/``release``), by ``not_before``: a claim
  first moves what came due from ``l`` to ``o``;
- ``x:ROBOT`` the ``sending`` records by ``lease_until``: a claim also takes the expired ones,
  merged into claim order (as the SQLite backend does);
- ``s:STATE:ROBOT`` every record by ``seq``, one set per state (``counts()`` is ``ZCARD``,
  ``list()`` reads the newest of each); ``sent`` by ``sent_at`` (``purge_sent``);
- ``dedupe`` key → id and ``dedupe:t`` key → when it was stored.

Every change is one Lua script (``register_script``: ``EVALSHA``, loaded again after a Redis
restart): one round trip, atomic with respect to every other client. A claim costs its
``limit`` and what came due since the last claim, never the backlog. Enqueues go to one
writer thread per process, which sends whatever calls are waiting as one call of the enqueue
script (one round trip, one command for Redis to run and, with ``appendfsync always``, one
fsync for all of them); :meth:`RedisOutbox.submit_enqueue` hands one over without waiting,
as the SQLite backend's does.

Measured (``bench/bench_outbox.py``, 2 shared cores, ``appendfsync always``): the whole
enqueue script from 8 threads ran at 3,200-5,000 calls/s over several days' runs, a bare
``XADD`` of the same message — the least a stream-based outbox would do, before any index
for due times, priorities or states — at 4,700-7,400 from 8 connections. Part of that gap
is the writer, not the script: the ``XADD`` calls wait on eight replies at once, the outbox's
callers share one batch in flight. In Redis the script costs about 28 µs a message (a
tenth of a core at 3,700 a second), and a stream would need most of its indexes beside it
anyway. Claim + ack: about 600-1,400 records/s one at a time, 6,000-9,700 fifty at a time
(a digest). ``docs/redis.md`` has the tables.

What the scripts do not decide
------------------------------
The rules stay in :mod:`._common`, in Python: ids (:func:`new_id`), the stored form of a
message, the state a released record goes back to (:func:`released_state`: both answers
are passed in, the script picks by ``failing_since``), the reply kept for a failure
(:func:`failure_reply`), the shape of an attempt in the history and how many are kept
(:func:`with_attempt`, :data:`HISTORY`). Times are the callers' (``now``), passed as
``repr(float)`` strings so that they come back exact: a script compares them, it never
computes one.

Durability
----------
``enqueue`` returns once Redis has answered the script, i.e. once the write is in Redis's
memory and — with ``appendonly yes`` and ``appendfsync always`` — in the append-only file,
fsynced: Redis writes and fsyncs the AOF before it sends the replies of that event loop
turn (and concurrent writes share one fsync). With ``appendfsync everysec`` a Redis crash
(or power cut) can lose up to a second of what was answered 202; ``appendonly no`` loses
everything since the last snapshot. ``WAITAOF`` (Redis 7.2) is not used: with ``always``
the reply already comes after the fsync, and Debian's Redis (7.0) has no ``WAITAOF``.
``WAIT`` for replicas is not used either: one Redis is the supported topology; a replica
promoted by Sentinel may lack the last writes (``docs/redis.md``). At start the outbox
reads ``appendonly``, ``appendfsync`` and ``maxmemory-policy`` (an evicting policy drops
queued messages) and logs a warning for each that can lose what was answered.

Failures
--------
Whatever Redis error (connection refused or reset, a timeout, ``LOADING`` after a restart,
``OOM``, ``MISCONF``, ``READONLY``) is an :class:`OutboxUnavailable` with a ``retry_after``;
the relay answers 503 with ``Retry-After``. Nothing is retried behind the caller's back (a
retried enqueue whose first answer was lost would store twice); the connection pool
reconnects on the next call, so the relay recovers by itself when Redis is back. The
password of the URL never appears in an error, a log line or ``repr``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dingwire.core.errors import ConfigError
from dingwire.core.redact import mask_url
from dingwire.core.urls import parse_redis_url
from dingwire.relay.model import STATES, Enqueued, Outgoing, Record, State
from dingwire.relay.outbox._common import (
    HISTORY,
    Backlog,
    Outcome,
    decode_message,
    encode_message,
    failure_reply,
    new_future,
    new_id,
    released_state,
    settle,
    with_attempt,
)
from dingwire.relay.outbox._contract import OutboxUnavailable

__all__ = ["MAX_BATCH", "PREFIX", "RedisOutbox"]

#: Every key of the outbox starts with this (one outbox per Redis database).
PREFIX = "dingwire:outbox:"
#: Seconds to connect, and to wait for an answer, before the outbox is unavailable.
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0
#: At most this many enqueue calls share one call of the enqueue script (one round trip).
MAX_BATCH = 256

_T = TypeVar("_T")
log = logging.getLogger(__name__)

# -- the scripts ------------------------------------------------------------------------------
# ARGV[1] is always the key prefix. Records are read back by ``fetch`` in the order of
# _FIELDS (after the id), then the history, oldest first.

_FIELDS = (
    "message",
    "state",
    "attempts",
    "not_before",
    "lease_until",
    "owner",
    "failing_since",
    "error",
    "reply",
    "digest",
    "digest_size",
    "sent_at",
    "updated",
)

_PRELUDE = """
local P = ARGV[1]
local FIELDS = {FIELD_NAMES}
local function rkey(id) return P .. 'r:' .. id end
-- off every index of the unsent (a record that is sent, dead or being claimed again)
local function unschedule(robot, id)
  redis.call('ZREM', P .. 't:' .. robot, id)
  redis.call('ZREM', P .. 'o:' .. robot, id)
  redis.call('ZREM', P .. 'l:' .. robot, id)
  redis.call('ZREM', P .. 'x:' .. robot, id)
end
-- a queued or retrying record, due at not_before: in claim order now, or later
local function schedule(robot, id, not_before, order, due)
  redis.call('ZADD', P .. 't:' .. robot, not_before, id)
  if due then
    redis.call('ZADD', P .. 'o:' .. robot, order, id)
  else
    redis.call('ZADD', P .. 'l:' .. robot, not_before, id)
  end
end
local function move(robot, id, seq, from, to)
  if from ~= to then
    redis.call('ZREM', P .. 's:' .. from .. ':' .. robot, id)
    redis.call('ZADD', P .. 's:' .. to .. ':' .. robot, seq, id)
  end
end
local function attempt(id, entry, keep)
  redis.call('RPUSH', P .. 'h:' .. id, entry)
  redis.call('LTRIM', P .. 'h:' .. id, -tonumber(keep), -1)
end
local function fetch(id)
  local values = redis.call('HMGET', rkey(id), unpack(FIELDS))
  if not values[1] then return false end
  table.insert(values, 1, id)
  values[#values + 1] = redis.call('LRANGE', P .. 'h:' .. id, 0, -1)
  return values
end
-- the records of ids (each once) held by owner ('' = by anyone, unless sent or dead)
local function each(first, owner, skip)
  local ids = {}
  for i = first, #ARGV do
    local id = ARGV[i]
    local key = rkey(id)
    local state = redis.call('HGET', key, 'state')
    if state and not skip[state] then
      if owner == '' or (state == 'sending' and redis.call('HGET', key, 'owner') == owner) then
        ids[#ids + 1] = {id, key, state, redis.call('HGET', key, 'robot'),
                         redis.call('HGET', key, 'seq')}
      end
    end
  end
  return ids
end
local function revive(id, key, state, robot, seq, now)
  unschedule(robot, id)
  move(robot, id, seq, state, 'queued')
  redis.call('HSET', key, 'state', 'queued', 'not_before', now, 'updated', now)
  redis.call('HDEL', key, 'failing_since')
  schedule(robot, id, now, redis.call('HGET', key, 'order'), true)
end
""".replace("FIELD_NAMES", ", ".join(f"'{name}'" for name in _FIELDS))

# ARGV: prefix, cutoff (the earliest call's now - window: older dedupe keys are swept), then
# for each enqueue call of the batch: its count of messages, its now and its window, then
# id, robot, priority, key, message for each of its messages. Answers {'taken', [positions]}
# (positions among every message of the batch) when an id is in use or given twice, and
# nothing is written; else {id, duplicate} per message, in order.
_ENQUEUE = """
local ids = {}
local i = 3
while i <= #ARGV do
  local count = tonumber(ARGV[i])
  for j = i + 3, i + 3 + 5 * (count - 1), 5 do ids[#ids + 1] = ARGV[j] end
  i = i + 3 + 5 * count
end
local taken, seen = {}, {}
for position, id in ipairs(ids) do
  if seen[id] or redis.call('EXISTS', rkey(id)) == 1 then taken[#taken + 1] = position end
  seen[id] = true
end
if #taken > 0 then return {'taken', taken} end
local old = redis.call('ZRANGEBYSCORE', P .. 'dedupe:t', '-inf', '(' .. ARGV[2], 'LIMIT', 0, 256)
for _, key in ipairs(old) do
  redis.call('HDEL', P .. 'dedupe', key)
  redis.call('ZREM', P .. 'dedupe:t', key)
end
local answers = {}
i = 3
while i <= #ARGV do
  local count, now_s, window = tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2])
  local now = tonumber(now_s)
  for j = i + 3, i + 3 + 5 * (count - 1), 5 do
    local id, robot, priority, dkey, message = ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], ARGV[j + 4]
    local first = false
    if dkey ~= '' then
      local stored = redis.call('ZSCORE', P .. 'dedupe:t', dkey)
      if stored and now - tonumber(stored) <= window then
        first = redis.call('HGET', P .. 'dedupe', dkey)
      end
    end
    if first then
      answers[#answers + 1] = {first, 1}
    else
      local seq = redis.call('INCR', P .. 'seq')
      local order = tonumber(priority) * 1099511627776 + seq
      redis.call('HSET', rkey(id), 'robot', robot, 'priority', priority, 'seq', seq,
                 'order', order, 'message', message, 'state', 'queued', 'attempts', 0,
                 'not_before', now_s, 'updated', now_s, 'digest_size', 0)
      if dkey ~= '' then
        redis.call('HSET', rkey(id), 'dkey', dkey)
        redis.call('HSET', P .. 'dedupe', dkey, id)
        redis.call('ZADD', P .. 'dedupe:t', now_s, dkey)
      end
      redis.call('SADD', P .. 'robots', robot)
      redis.call('ZADD', P .. 's:queued:' .. robot, seq, id)
      schedule(robot, id, now_s, order, true)
      answers[#answers + 1] = {id, 0}
    end
  end
  i = i + 3 + 5 * count
end
return answers
"""

# ARGV: prefix, robot, now, owner, lease_until, limit
_CLAIM = """
local robot, now_s, owner, until_s, limit = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local now = tonumber(now_s)
local T, O, L, X = P .. 't:' .. robot, P .. 'o:' .. robot, P .. 'l:' .. robot, P .. 'x:' .. robot
local came = redis.call('ZRANGEBYSCORE', L, '-inf', now_s)
for _, id in ipairs(came) do
  redis.call('ZADD', O, redis.call('HGET', rkey(id), 'order'), id)
end
if #came > 0 then redis.call('ZREMRANGEBYSCORE', L, '-inf', now_s) end
local candidates = {}
local start = 0
while #candidates < limit do
  local page = redis.call('ZRANGE', O, start, start + limit - 1, 'WITHSCORES')
  if #page == 0 then break end
  for j = 1, #page, 2 do
    -- due for a caller whose clock is behind the one that queued it: not yet
    local due = tonumber(redis.call('ZSCORE', T, page[j]))
    if due and due <= now and #candidates < limit then
      candidates[#candidates + 1] = {tonumber(page[j + 1]), page[j]}
    end
  end
  start = start + limit
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', X, '-inf', now_s)) do
  candidates[#candidates + 1] = {tonumber(redis.call('HGET', rkey(id), 'order')), id}
end
table.sort(candidates, function(a, b) return a[1] < b[1] end)
local claimed = {}
for k = 1, math.min(limit, #candidates) do
  local id = candidates[k][2]
  local key = rkey(id)
  local state = redis.call('HGET', key, 'state')
  redis.call('ZREM', T, id)
  redis.call('ZREM', O, id)
  redis.call('ZADD', X, until_s, id)
  move(robot, id, redis.call('HGET', key, 'seq'), state, 'sending')
  redis.call('HSET', key, 'state', 'sending', 'owner', owner, 'lease_until', until_s,
             'updated', now_s)
  claimed[#claimed + 1] = fetch(id)
end
return claimed
"""

# ARGV: prefix, now, reply ('' = none), digest ('' = none), digest_size, entry, keep, ids...
_ACK = """
local now_s, reply, digest, size, entry, keep = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
for _, r in ipairs(each(8, '', {sent = true})) do
  local id, key, state, robot, seq = r[1], r[2], r[3], r[4], r[5]
  unschedule(robot, id)
  move(robot, id, seq, state, 'sent')
  redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('HDEL', key, 'owner', 'lease_until', 'failing_since', 'error', 'reply', 'digest')
  redis.call('HSET', key, 'state', 'sent', 'digest_size', size, 'sent_at', now_s,
             'updated', now_s)
  if reply ~= '' then redis.call('HSET', key, 'reply', reply) end
  if digest ~= '' then redis.call('HSET', key, 'digest', digest) end
  redis.call('ZADD', P .. 'sent', now_s, id)
  attempt(id, entry, keep)
end
return 0
"""

# ARGV: prefix, owner, not_before, state if never failed, state if failing, ids...
_RELEASE = """
local owner, nb, fresh, failing = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
for _, r in ipairs(each(6, owner, {})) do
  local id, key, state, robot, seq = r[1], r[2], r[3], r[4], r[5]
  local to = fresh
  if redis.call('HEXISTS', key, 'failing_since') == 1 then to = failing end
  unschedule(robot, id)
  move(robot, id, seq, state, to)
  redis.call('HDEL', key, 'owner', 'lease_until')
  redis.call('HSET', key, 'state', to, 'not_before', nb)
  schedule(robot, id, nb, redis.call('HGET', key, 'order'), false)
end
return 0
"""

# ARGV: prefix, owner, now, retry_at, error, reply, entry, keep, ids...
_NACK = """
local owner, now_s, retry_at, err, reply, entry, keep = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
for _, r in ipairs(each(9, owner, {})) do
  local id, key, state, robot, seq = r[1], r[2], r[3], r[4], r[5]
  unschedule(robot, id)
  move(robot, id, seq, state, 'retrying')
  redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('HDEL', key, 'owner', 'lease_until')
  redis.call('HSET', key, 'state', 'retrying', 'not_before', retry_at, 'error', err,
             'reply', reply, 'updated', now_s)
  redis.call('HSETNX', key, 'failing_since', now_s)
  schedule(robot, id, retry_at, redis.call('HGET', key, 'order'), false)
  attempt(id, entry, keep)
end
return 0
"""

# ARGV: prefix, now, error, reply ('' = leave it), attempted (1/0), entry, keep, ids...
_KILL = """
local now_s, err, reply, attempted, entry, keep = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
for _, r in ipairs(each(8, '', {sent = true, dead = true})) do
  local id, key, state, robot, seq = r[1], r[2], r[3], r[4], r[5]
  unschedule(robot, id)
  move(robot, id, seq, state, 'dead')
  if attempted == '1' then redis.call('HINCRBY', key, 'attempts', 1) end
  redis.call('HDEL', key, 'owner', 'lease_until')
  redis.call('HSET', key, 'state', 'dead', 'error', err, 'updated', now_s)
  if reply ~= '' then redis.call('HSET', key, 'reply', reply) end
  attempt(id, entry, keep)
end
return 0
"""

# ARGV: prefix, now, id
_RETRY = """
for _, r in ipairs(each(3, '', {queued = true, sending = true, sent = true})) do
  revive(r[1], r[2], r[3], r[4], r[5], ARGV[2])
  return 1
end
return 0
"""

# ARGV: prefix, now
_RETRY_DEAD = """
local count = 0
for _, robot in ipairs(redis.call('SMEMBERS', P .. 'robots')) do
  for _, id in ipairs(redis.call('ZRANGE', P .. 's:dead:' .. robot, 0, -1)) do
    local key = rkey(id)
    revive(id, key, 'dead', robot, redis.call('HGET', key, 'seq'), ARGV[2])
    count = count + 1
  end
end
return count
"""

# ARGV: prefix
_PURGE_DEAD = """
local count = 0
for _, robot in ipairs(redis.call('SMEMBERS', P .. 'robots')) do
  local dead = P .. 's:dead:' .. robot
  for _, id in ipairs(redis.call('ZRANGE', dead, 0, -1)) do
    local dkey = redis.call('HGET', rkey(id), 'dkey')
    if dkey and redis.call('HGET', P .. 'dedupe', dkey) == id then
      redis.call('HDEL', P .. 'dedupe', dkey)
      redis.call('ZREM', P .. 'dedupe:t', dkey)
    end
    redis.call('DEL', rkey(id), P .. 'h:' .. id)
    count = count + 1
  end
  redis.call('DEL', dead)
end
return count
"""

# ARGV: prefix, before
_PURGE_SENT = """
local old = redis.call('ZRANGEBYSCORE', P .. 'sent', '-inf', '(' .. ARGV[2])
for _, id in ipairs(old) do
  local robot = redis.call('HGET', rkey(id), 'robot')
  if robot then redis.call('ZREM', P .. 's:sent:' .. robot, id) end
  redis.call('DEL', rkey(id), P .. 'h:' .. id)
  redis.call('ZREM', P .. 'sent', id)
end
return #old
"""

# ARGV: prefix, ids...
_GET = """
local found = {}
for i = 2, #ARGV do found[#found + 1] = fetch(ARGV[i]) end
return found
"""

# ARGV: prefix, state ('' = any), robot ('' = any), limit, every state...
_LIST = """
local state, robot, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
local robots = {robot}
if robot == '' then robots = redis.call('SMEMBERS', P .. 'robots') end
local states = {state}
if state == '' then states = {unpack(ARGV, 5)} end
local picked = {}
for _, r in ipairs(robots) do
  for _, s in ipairs(states) do
    local page = redis.call('ZREVRANGE', P .. 's:' .. s .. ':' .. r, 0, limit - 1, 'WITHSCORES')
    for j = 1, #page, 2 do picked[#picked + 1] = {tonumber(page[j + 1]), page[j]} end
  end
end
table.sort(picked, function(a, b) return a[1] > b[1] end)
local found = {}
for k = 1, math.min(limit, #picked) do found[#found + 1] = fetch(picked[k][2]) end
return found
"""

# ARGV: prefix, every state...
_COUNTS = """
local result = {}
for _, robot in ipairs(redis.call('SMEMBERS', P .. 'robots')) do
  local row = {robot}
  for i = 2, #ARGV do row[#row + 1] = redis.call('ZCARD', P .. 's:' .. ARGV[i] .. ':' .. robot) end
  result[#result + 1] = row
end
return result
"""

# ARGV: prefix, now
_BACKLOG = """
local now_s = ARGV[2]
local result = {}
for _, robot in ipairs(redis.call('SMEMBERS', P .. 'robots')) do
  local T, X = P .. 't:' .. robot, P .. 'x:' .. robot
  local due = redis.call('ZCOUNT', T, '-inf', now_s) + redis.call('ZCOUNT', X, '-inf', now_s)
  local waiting = redis.call('ZCOUNT', T, '(' .. now_s, '+inf')
  local sending = redis.call('ZCOUNT', X, '(' .. now_s, '+inf')
  if due + waiting + sending > 0 then
    local soonest = redis.call('ZRANGEBYSCORE', T, '(' .. now_s, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    result[#result + 1] = {robot, due, waiting, sending, soonest[2] or false}
  end
end
return result
"""


_STOP = object()


class _Enqueue:
    """One enqueue call waiting for the writer, and the future its caller waits on."""

    __slots__ = ("encoded", "future", "ids", "loop", "now", "window")

    def __init__(
        self,
        messages: Sequence[Outgoing],
        now: float,
        window: float,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.encoded = [
            (m.robot, str(m.priority), m.dedupe_key or "", encode_message(m)) for m in messages
        ]
        self.now = now
        self.window = window
        self.ids = [new_id(now) for _ in messages]
        self.loop = loop
        self.future: Future[list[Enqueued]] | asyncio.Future[list[Enqueued]] = new_future(loop)

    def args(self) -> list[str]:
        """This call's part of the script's arguments: its count, now and window, then each
        message. (An id drawn twice within a millisecond, 40 random bits, is the script's to
        find, with those already in use.)"""
        args = [str(len(self.ids)), _time(self.now), _time(self.window)]
        for id, fields in zip(self.ids, self.encoded, strict=True):
            args += (id, *fields)
        return args


def _time(value: float) -> str:
    """A time as a script gets it: ``repr`` of the float, so that it reads back exact."""
    return repr(float(value))


def _float(value: str | None) -> float | None:
    return None if value is None else float(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _entry(at: float, outcome: str, error: str | None = None) -> str:
    """One attempt of the history, as :func:`with_attempt` makes it."""
    return _json(with_attempt((), at, outcome, error)[-1])


def _record(values: Sequence[Any]) -> Record:
    """The :class:`Record` of what a script's ``fetch`` returned."""
    (id, message, state, attempts, not_before, lease_until, owner, failing_since, error,
     reply, digest, digest_size, sent_at, updated, history) = values  # fmt: skip
    return Record(
        id=id,
        message=decode_message(message),
        state=state,
        attempts=int(attempts),
        not_before=float(not_before),
        lease_until=_float(lease_until),
        owner=owner,
        failing_since=_float(failing_since),
        error=error,
        reply=None if reply is None else json.loads(reply),
        digest=digest,
        digest_size=int(digest_size),
        sent_at=_float(sent_at),
        updated=float(updated),
        history=tuple(json.loads(entry) for entry in history),
    )


class RedisOutbox:
    """An :class:`~dingwire.relay.outbox.Outbox` in the Redis database ``url`` names.

    Opening it connects nothing yet but checks the URL (a :class:`ConfigError` if it is no
    Redis URL) and, when Redis answers, its persistence settings (warnings in the log).

    >>> outbox = RedisOutbox("redis://127.0.0.1:6379/0")  # doctest: +SKIP
    """

    def __init__(self, url: str, *, prefix: str = PREFIX) -> None:
        checked = parse_redis_url(url, name="[relay] queue", unix=True)
        text, self._shown = checked.url, checked.shown
        self._prefix = prefix
        self._closed = False
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Enqueue | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_pid = 0
        try:
            self._client: redis.Redis = redis.Redis.from_url(
                text,
                decode_responses=True,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=SOCKET_TIMEOUT,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=30,
            )
        except (ValueError, TypeError) as error:
            message = str(error).replace(text, self._shown)
            raise ConfigError(f"[relay] queue: {self._shown!r}: {message}") from None
        register = self._client.register_script
        self._enqueue = register(_PRELUDE + _ENQUEUE)
        self._claim = register(_PRELUDE + _CLAIM)
        self._ack = register(_PRELUDE + _ACK)
        self._release = register(_PRELUDE + _RELEASE)
        self._nack = register(_PRELUDE + _NACK)
        self._kill = register(_PRELUDE + _KILL)
        self._retry = register(_PRELUDE + _RETRY)
        self._retry_dead = register(_PRELUDE + _RETRY_DEAD)
        self._purge_dead = register(_PRELUDE + _PURGE_DEAD)
        self._purge_sent = register(_PRELUDE + _PURGE_SENT)
        self._get = register(_PRELUDE + _GET)
        self._list = register(_PRELUDE + _LIST)
        self._counts = register(_PRELUDE + _COUNTS)
        self._backlog = register(_PRELUDE + _BACKLOG)
        self._warn_about_persistence()

    def __repr__(self) -> str:
        return f"RedisOutbox({self._shown!r})"

    # -- calls ------------------------------------------------------------------------------

    def _call(self, work: Callable[[], _T]) -> _T:
        """``work()``, every Redis failure an :class:`OutboxUnavailable` (password masked)."""
        if self._closed:
            raise OutboxUnavailable(f"the outbox {self._shown} is closed", retry_after=1.0)
        try:
            return work()
        except redis.RedisError as error:
            raise self._unavailable(error) from None

    def _unavailable(self, error: redis.RedisError) -> OutboxUnavailable:
        text = mask_url(str(error) or type(error).__name__)
        password = self._client.connection_pool.connection_kwargs.get("password")
        if isinstance(password, str) and password:
            text = text.replace(password, "**********")
        if isinstance(error, redis.BusyLoadingError):
            retry_after = 1.0  # Redis restarted and reads its append-only file: soon
        elif isinstance(error, redis.ConnectionError | redis.TimeoutError):
            retry_after = 2.0
        else:
            retry_after = 5.0
        return OutboxUnavailable(
            f"the Redis outbox {self._shown} cannot be used right now: {text}",
            retry_after=retry_after,
        )

    def _run(self, script: Any, *args: Any) -> Any:
        return self._call(lambda: script(args=[self._prefix, *args]))

    def _warn_about_persistence(self) -> None:
        """Log what in Redis's configuration can lose messages answered 202."""
        try:
            settings = {}
            for name in ("appendonly", "appendfsync", "maxmemory-policy"):
                settings.update(self._client.config_get(name))
        except redis.ResponseError:  # CONFIG renamed or forbidden (a managed Redis)
            log.info(
                "the Redis outbox %s: could not read its persistence settings; it needs "
                "appendonly yes and appendfsync always (docs/redis.md)",
                self._shown,
            )
            return
        except redis.RedisError as error:
            log.warning("%s; the relay answers 503 until it can", self._unavailable(error))
            return
        if settings.get("appendonly") != "yes":
            log.warning(
                "the Redis outbox %s has appendonly %s: a Redis restart loses what was queued "
                "since its last snapshot; set appendonly yes and appendfsync always "
                "(docs/redis.md)",
                self._shown,
                settings.get("appendonly"),
            )
        elif settings.get("appendfsync") != "always":
            log.warning(
                "the Redis outbox %s has appendfsync %s: a crash of Redis's host can lose "
                "up to a second of what was answered 202; appendfsync always loses nothing "
                "(docs/redis.md)",
                self._shown,
                settings.get("appendfsync"),
            )
        policy = settings.get("maxmemory-policy", "noeviction")
        if policy != "noeviction":
            log.warning(
                "the Redis outbox %s has maxmemory-policy %s: when Redis is full it drops "
                "queued messages; set maxmemory-policy noeviction (docs/redis.md)",
                self._shown,
                policy,
            )

    # -- the contract -----------------------------------------------------------------------

    def enqueue(
        self, messages: Sequence[Outgoing], *, now: float, dedupe_window: float
    ) -> list[Enqueued]:
        return self.submit_enqueue(messages, now=now, dedupe_window=dedupe_window).result()

    def submit_enqueue(
        self, messages: Sequence[Outgoing], *, now: float, dedupe_window: float
    ) -> Future[list[Enqueued]]:
        """:meth:`enqueue` without waiting: the future of its answers, set once Redis has
        answered (or to the :class:`OutboxUnavailable` that stopped it). It never blocks:
        the writer thread sends whatever calls are waiting as one script call."""
        future = self._hand_in(messages, now, dedupe_window, None)
        return cast("Future[list[Enqueued]]", future)

    def enqueue_soon(
        self, messages: Sequence[Outgoing], *, now: float, dedupe_window: float
    ) -> asyncio.Future[list[Enqueued]]:
        """:meth:`submit_enqueue` for a caller on an event loop: a future of the running
        loop, set on the loop once Redis has answered — one wake-up of the loop for every
        caller of a script call, not one each. Call it from the loop."""
        loop = asyncio.get_running_loop()
        future = self._hand_in(messages, now, dedupe_window, loop)
        return cast("asyncio.Future[list[Enqueued]]", future)

    def _hand_in(
        self,
        messages: Sequence[Outgoing],
        now: float,
        dedupe_window: float,
        loop: asyncio.AbstractEventLoop | None,
    ) -> Future[list[Enqueued]] | asyncio.Future[list[Enqueued]]:
        if not messages:
            self._call(lambda: None)
            done = new_future(loop)
            done.set_result([])
            return done
        job = _Enqueue(messages, now, dedupe_window, loop)  # encoded in the caller's thread
        with self._lock:
            if self._closed:
                raise OutboxUnavailable(f"the outbox {self._shown} is closed", retry_after=1.0)
            if self._writer is None or self._writer_pid != os.getpid():
                # the first call, or the first in a child started by fork(): a writer of its own
                self._writer_pid = os.getpid()
                self._jobs = queue.SimpleQueue()
                self._writer = threading.Thread(
                    target=self._write_loop, name="dingwire-outbox-redis-writer", daemon=True
                )
                self._writer.start()
            self._jobs.put(job)
        return job.future

    def _write_loop(self) -> None:
        jobs = self._jobs
        stopping = False
        while not stopping:
            first = jobs.get()
            if first is _STOP:
                return
            time.sleep(0)  # let callers just woken by the last answer hand in their next call
            batch = [cast(_Enqueue, first)]
            while len(batch) < MAX_BATCH:
                try:
                    more = jobs.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True  # close() comes after every call it let in
                    break
                batch.append(cast(_Enqueue, more))
            try:
                self._send(batch)
            except BaseException as error:  # a bug here must not leave callers waiting
                settle([(job, None, error) for job in batch])

    def _send(self, batch: list[_Enqueue]) -> None:
        """Every call of ``batch`` in one script (one round trip, one command for Redis to
        run, atomic as a whole); then every future is set."""
        outcomes: list[Outcome] = []
        try:
            self._send_all(batch, outcomes)
        finally:
            settle(outcomes)

    def _send_all(self, batch: list[_Enqueue], outcomes: list[Outcome]) -> None:
        cutoff = _time(min(job.now - job.window for job in batch))
        for _ in range(3):
            args = [self._prefix, cutoff]
            for job in batch:
                args += job.args()
            try:
                result = self._enqueue(args=args)  # loaded again after a restart emptied the cache
            except redis.RedisError as error:
                unavailable = self._unavailable(error)
                outcomes.extend((job, None, unavailable) for job in batch)
                return
            if result and result[0] == "taken":  # ids in use or twice: nothing written, redrawn
                taken = {int(position) - 1 for position in result[1]}
                position = 0
                for job in batch:
                    for k in range(len(job.ids)):
                        if position in taken:
                            job.ids[k] = new_id(job.now)
                        position += 1
                continue
            answers = iter(result)
            for job in batch:
                enqueued = [
                    Enqueued(id, duplicate=bool(duplicate))
                    for id, duplicate in itertools.islice(answers, len(job.ids))
                ]
                outcomes.append((job, enqueued, None))
            return
        drawn = OutboxUnavailable("no free message id after three draws", retry_after=1.0)
        outcomes.extend((job, None, drawn) for job in batch)

    def claim(
        self, robot: str, *, now: float, owner: str, lease: float, limit: int
    ) -> list[Record]:
        if limit <= 0:
            self._call(lambda: None)
            return []
        found = self._run(self._claim, robot, _time(now), owner, _time(now + lease), int(limit))
        return [_record(values) for values in found]

    def backlog(self, *, now: float) -> Mapping[str, Backlog]:
        rows = self._run(self._backlog, _time(now))
        return {
            robot: Backlog(int(due), int(waiting), int(sending), _float(next_due))
            for robot, due, waiting, sending, next_due in rows
        }

    def ack(
        self,
        ids: Sequence[str],
        *,
        now: float,
        reply: Mapping[str, Any] | None,
        digest: str | None = None,
    ) -> None:
        if not ids:
            return
        size = len(ids) if digest is not None else 1
        self._run(
            self._ack,
            _time(now),
            "" if reply is None else _json(dict(reply)),
            digest or "",
            size,
            _entry(now, "sent"),
            HISTORY,
            *dict.fromkeys(ids),
        )

    def release(self, ids: Sequence[str], *, owner: str, not_before: float) -> None:
        if not ids:
            return
        self._run(
            self._release,
            owner,
            _time(not_before),
            released_state(None),
            released_state(not_before),  # any time: the state after a run of failures
            *dict.fromkeys(ids),
        )

    def nack(
        self,
        ids: Sequence[str],
        *,
        owner: str,
        now: float,
        retry_at: float,
        error: str,
        reply: Mapping[str, Any] | None = None,
    ) -> None:
        if not ids:
            return
        self._run(
            self._nack,
            owner,
            _time(now),
            _time(retry_at),
            error,
            _json(failure_reply(reply, error)),
            _entry(now, "retry", error),
            HISTORY,
            *dict.fromkeys(ids),
        )

    def kill(
        self,
        ids: Sequence[str],
        *,
        now: float,
        error: str,
        reply: Mapping[str, Any] | None = None,
        attempted: bool = True,
    ) -> None:
        if not ids:
            return
        kept = _json(failure_reply(reply, error)) if reply is not None or attempted else ""
        self._run(
            self._kill,
            _time(now),
            error,
            kept,
            "1" if attempted else "0",
            _entry(now, "dead", error),
            HISTORY,
            *dict.fromkeys(ids),
        )

    def get(self, id: str) -> Record | None:
        if not id:
            self._call(lambda: None)
            return None
        [found] = self._run(self._get, id)
        return None if found is None else _record(found)

    def list(
        self, *, state: State | None = None, robot: str | None = None, limit: int = 100
    ) -> list[Record]:
        if limit <= 0:
            self._call(lambda: None)
            return []
        found = self._run(self._list, state or "", robot or "", int(limit), *STATES)
        return [_record(values) for values in found]

    def counts(self) -> Mapping[str, Mapping[State, int]]:
        rows = self._run(self._counts, *STATES)
        result: dict[str, dict[State, int]] = {}
        for robot, *numbers in rows:
            if any(numbers):
                result[robot] = {s: int(n) for s, n in zip(STATES, numbers, strict=True)}
        return result

    def retry(self, id: str, *, now: float) -> bool:
        return bool(self._run(self._retry, _time(now), id))

    def retry_dead(self, *, now: float) -> int:
        return int(self._run(self._retry_dead, _time(now)))

    def purge_dead(self) -> int:
        return int(self._run(self._purge_dead))

    def purge_sent(self, *, before: float) -> int:
        """Delete the records sent before ``before``; how many (Redis's memory is not
        endless)."""
        return int(self._run(self._purge_sent, _time(before)))

    def check(self) -> None:
        """Redis answers and takes a write now (a Redis that cannot persist refuses it)."""
        self._call(lambda: self._client.set(self._prefix + "check", "1", px=60_000))

    def close(self) -> None:
        """Finish the enqueues already asked for, then close the connections."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            writer = self._writer if self._writer_pid == os.getpid() else None
            if writer is not None:
                self._jobs.put(_STOP)
        if writer is not None:
            writer.join()
        self._client.close()

    def __enter__(self) -> RedisOutbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
