"""The relay's outbox: durable enqueues per second, and claims + acks per second.

Enqueue: each call stores one message (what one HTTP intake request does), from 1 or 8
threads, on the SQLite outbox with group commit (one writer thread, one commit for every
call waiting) and with one commit per call; the memory outbox as the ceiling. Every SQLite
call returns only after its commit, with ``synchronous=FULL`` (an fsync per commit). The
table gives calls per second and the p50 / p99 latency of one call.

Claim + ack: a backlog of messages for one robot is claimed and acked one at a time (a
robot sending each message alone) and fifty at a time (a digest); records per second.

Redis: the Redis outbox against a ``redis-server`` of its own on 127.0.0.1 (append-only,
``appendfsync always``: a reply only after the fsync, as SQLite's ``synchronous=FULL``; and
``everysec`` beside it), or the one ``--redis URL`` names (its ``dingwire:bench:*`` keys are
deleted after). "redis, XADD" is the floor a stream would start from: one ``XADD`` of the
stored message a call, with none of the outbox's indexes, dedupe or Lua.

    .venv/bin/python bench/bench_outbox.py [--calls 4000] [--dir DIR] [--redis URL]

``--dir`` picks the filesystem (the default is a temporary directory under the working
directory, not /tmp, which may be in memory and make fsync free).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dingwire.relay.model import DigestLine, Outgoing
from dingwire.relay.outbox import MemoryOutbox, Outbox, SqliteOutbox
from dingwire.relay.outbox._common import encode_message

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' redis-server harness is reused, not copied

from tests.redis_server import RedisServer  # noqa: E402

Row = tuple[str, float, float, float]  # name, per second, p50 ms, p99 ms


def _message(i: int) -> Outgoing:
    text = f"🔥 **FIRING** HighLatency · instance=web-{i} severity=critical — p99 above 2s"
    return Outgoing(
        robot="ops",
        body={
            "msgtype": "markdown",
            "markdown": {"title": f"[FIRING:1] HighLatency web-{i}", "text": text * 4},
        },
        kind="markdown",
        lines=(DigestLine("firing", "HighLatency", text),),
        priority=0,
        source="alertmanager",
        dedupe_key=f"{i:064x}",
        received=1_764_000_000.0 + i,
    )


def enqueue_rate(name: str, outbox: Outbox, threads: int, calls: int) -> Row:
    """``calls`` one-message enqueues spread over ``threads`` threads."""
    per_thread = calls // threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start_line = threading.Barrier(threads + 1)

    def work(n: int) -> None:
        mine = latencies[n]
        start_line.wait()
        for i in range(per_thread):
            k = n * per_thread + i
            began = time.perf_counter()
            outbox.enqueue([_message(k)], now=1_764_000_000.0 + k, dedupe_window=300.0)
            mine.append(time.perf_counter() - began)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    start_line.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    times = sorted(t for mine in latencies for t in mine)
    return (
        name,
        len(times) / elapsed,
        statistics.median(times) * 1e3,
        times[int(len(times) * 0.99)] * 1e3,
    )


def claim_ack_rate(name: str, outbox: Outbox, records: int, batch: int) -> Row:
    """Claim ``batch`` records, ack them, until ``records`` are sent."""
    for start in range(0, records, 500):
        chunk = [_message(start + i) for i in range(min(500, records - start))]
        outbox.enqueue(chunk, now=1_764_000_000.0, dedupe_window=0.0)
    times: list[float] = []
    sent = 0
    began = time.perf_counter()
    while sent < records:
        t0 = time.perf_counter()
        got = outbox.claim("ops", now=1_764_000_100.0, owner="bench", lease=30.0, limit=batch)
        outbox.ack(
            [r.id for r in got],
            now=1_764_000_100.0,
            reply={"errcode": 0, "errmsg": "ok"},
            digest="d" if batch > 1 else None,
        )
        times.append(time.perf_counter() - t0)
        sent += len(got)
        assert got, "the backlog ran out early"
    elapsed = time.perf_counter() - began
    times.sort()
    return (
        name,
        sent / elapsed,
        statistics.median(times) * 1e3,
        times[int(len(times) * 0.99)] * 1e3,
    )


class _StreamFloor:
    """Only what a stream-based outbox would do at least per enqueue: one ``XADD``."""

    def __init__(self, url: str, key: str) -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url)
        self.key = key

    def enqueue(self, messages: Any, *, now: float, dedupe_window: float) -> list[Any]:
        return [self.client.xadd(self.key, {"m": encode_message(m)}) for m in messages]

    def close(self) -> None:
        self.client.delete(self.key)
        self.client.close()


@contextmanager
def redis_servers(url: str | None, directory: Path) -> Iterator[dict[str, str]]:
    """``{"always": url, "everysec": url}``: Redis servers of our own, or ``url`` for both."""
    if url is not None:
        yield {"always": url, "everysec": url}
        return
    with (
        RedisServer(directory / "redis-always", fsync="always") as always,
        RedisServer(directory / "redis-everysec", fsync="everysec") as everysec,
    ):
        yield {"always": always.url, "everysec": everysec.url}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000, help="enqueue calls per row")
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="where the files go")
    parser.add_argument("--redis", metavar="URL", help="a Redis to use instead of our own")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="dingwire-bench-outbox-", dir=args.dir))
    files = iter(range(1000))
    with redis_servers(args.redis, directory) as servers:
        run(args, directory, files, servers)


def run(args: Any, directory: Path, files: Iterator[int], servers: dict[str, str]) -> None:
    from dingwire.relay.outbox.redis import RedisOutbox

    prefixes = iter(range(1000))

    def redis(fsync: str) -> RedisOutbox:
        return _Cleaned(servers[fsync], prefix=f"dingwire:bench:{next(prefixes)}:")

    class _Cleaned(RedisOutbox):
        """Deletes its keys when closed (a shared Redis is left as it was)."""

        def close(self) -> None:
            keys = list(self._client.scan_iter(match=self._prefix + "*", count=1000))
            for start in range(0, len(keys), 500):
                self._client.delete(*keys[start : start + 500])
            super().close()

    def sqlite(group: bool) -> SqliteOutbox:
        return SqliteOutbox(directory / f"outbox-{next(files)}.sqlite3", group_commit=group)

    def measure(name: str, make: Callable[[], Outbox], run: Callable[[Outbox], Row]) -> Row:
        outbox = make()
        try:
            row = run(outbox)
            if isinstance(outbox, SqliteOutbox):
                name += f" ({outbox.commits:,} commits)"
            return (name, *row[1:])
        finally:
            outbox.close()

    calls = args.calls
    enqueues = [
        measure("sqlite, group commit, 1 thread", lambda: sqlite(True),
                lambda o: enqueue_rate("", o, 1, calls // 4)),
        measure("sqlite, group commit, 8 threads", lambda: sqlite(True),
                lambda o: enqueue_rate("", o, 8, calls)),
        measure("sqlite, commit per call, 1 thread", lambda: sqlite(False),
                lambda o: enqueue_rate("", o, 1, calls // 4)),
        measure("sqlite, commit per call, 8 threads", lambda: sqlite(False),
                lambda o: enqueue_rate("", o, 8, calls // 2)),
        measure("redis, appendfsync always, 1 thread", lambda: redis("always"),
                lambda o: enqueue_rate("", o, 1, calls // 4)),
        measure("redis, appendfsync always, 8 threads", lambda: redis("always"),
                lambda o: enqueue_rate("", o, 8, calls)),
        measure("redis, appendfsync everysec, 8 threads", lambda: redis("everysec"),
                lambda o: enqueue_rate("", o, 8, calls)),
        measure("redis, XADD (a stream's floor), always, 8 threads",
                lambda: _StreamFloor(servers["always"], "dingwire:bench:stream"),  # type: ignore[arg-type, return-value]
                lambda o: enqueue_rate("", o, 8, calls)),
        measure("memory, 8 threads", MemoryOutbox, lambda o: enqueue_rate("", o, 8, calls)),
    ]  # fmt: skip
    records = max(500, calls // 2)
    claims = [
        measure("sqlite, claim 1 + ack", lambda: sqlite(True),
                lambda o: claim_ack_rate("", o, records // 2, 1)),
        measure("sqlite, claim 50 + ack (a digest)", lambda: sqlite(True),
                lambda o: claim_ack_rate("", o, records * 2, 50)),
        measure("redis, claim 1 + ack", lambda: redis("always"),
                lambda o: claim_ack_rate("", o, records // 2, 1)),
        measure("redis, claim 50 + ack (a digest)", lambda: redis("always"),
                lambda o: claim_ack_rate("", o, records * 2, 50)),
        measure("memory, claim 1 + ack", MemoryOutbox,
                lambda o: claim_ack_rate("", o, records // 2, 1)),
        measure("memory, claim 50 + ack (a digest)", MemoryOutbox,
                lambda o: claim_ack_rate("", o, records * 2, 50)),
    ]  # fmt: skip
    shutil.rmtree(directory, ignore_errors=True)

    width = max(len(row[0]) for row in enqueues + claims)
    for title, unit, rows in (
        ("enqueue, one message a call", "calls/s", enqueues),
        ("claim + ack", "records/s", claims),
    ):
        print(f"\n{title:<{width}} {unit:>10} {'p50 ms':>8} {'p99 ms':>8}")
        print(f"{'-' * width} {'-' * 10} {'-' * 8} {'-' * 8}")
        for name, rate, p50, p99 in rows:
            print(f"{name:<{width}} {rate:>10,.0f} {p50:>8.2f} {p99:>8.2f}")
    print(
        f"\n{os.cpu_count()} cores, Python {sys.version.split()[0]}, files in {args.dir}, "
        "synchronous=FULL; Redis "
        f"{'at ' + args.redis if args.redis else 'of our own on 127.0.0.1'}; "
        "p50/p99 of one call (claim + ack: of one round)"
    )


if __name__ == "__main__":
    main()
