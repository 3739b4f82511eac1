"""The logging handler: what one ``logger.error(...)`` costs the application with it attached.

Each candidate is one handler on a logger of its own; the table gives p50, p99 and the
mean in microseconds per call of ``logger.error("disk full on %s", "db-1")`` and of
``logger.exception(...)`` inside an ``except`` (a traceback attached), beside:

- a ``NullHandler`` (the floor: building the record is logging's own cost);
- a plain ``logging.handlers.QueueHandler`` on an unbounded ``queue.SimpleQueue`` (the
  standard way not to block; it formats the message and the traceback in the caller);
- ``DingTalkHandler`` with its sending thread live (an in-process fake DingTalk, a 2 s
  window, DingTalk's 20/60s budget): the records fold while the thread drains the queue.

And the wall time of 350 ``logger.error`` calls in a tight loop (the issue's storm) with
the DingTalk handler, with how many messages the fake received for them after close().

    .venv/bin/python bench/bench_handler.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import queue
import statistics
import sys
import time
from collections.abc import Callable

from dingwire.fake import InProcessFake
from dingwire.integrations.handler import DingTalkHandler


def fresh_logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"bench.{name}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def plain(logger: logging.Logger) -> Callable[[], float]:
    def one() -> float:
        start = time.perf_counter()
        logger.error("disk full on %s", "db-1")
        return time.perf_counter() - start

    return one


def with_traceback(logger: logging.Logger) -> Callable[[], float]:
    def one() -> float:
        try:
            raise ValueError("bad input")
        except ValueError:
            start = time.perf_counter()
            logger.exception("import failed")
            return time.perf_counter() - start

    return one


def measure(one: Callable[[], float], calls: int) -> tuple[float, float, float]:
    for _ in range(500):  # warm up
        one()
    times = sorted(one() for _ in range(calls))
    return (
        statistics.median(times) * 1e6,
        times[int(len(times) * 0.99)] * 1e6,
        statistics.fmean(times) * 1e6,
    )


def dingtalk_handler(fake: InProcessFake) -> DingTalkHandler:
    ops = fake.add_robot()
    return DingTalkHandler(ops.client(), window=2.0, title="bench")


def storm(fake: InProcessFake) -> tuple[float, int]:
    ops = fake.add_robot()
    handler = DingTalkHandler(ops.client(), window=2.0, title="storm")
    logger = fresh_logger("storm", handler)
    errors = []
    for i in range(50):
        try:
            raise ValueError(f"bad input {i}")
        except ValueError as error:
            errors.append(error)
    start = time.perf_counter()
    for _ in range(300):
        logger.error("disk full on %s", "db-1")
    for i, error in enumerate(errors):
        logger.error(f"import of batch {i} failed", exc_info=error)
    elapsed = time.perf_counter() - start
    handler.close()
    return elapsed, len(ops.delivered())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls per candidate")
    args = parser.parse_args()
    fake = InProcessFake()

    candidates: list[tuple[str, Callable[[], logging.Handler]]] = [
        ("NullHandler", logging.NullHandler),
        ("QueueHandler (SimpleQueue)", lambda: logging.handlers.QueueHandler(queue.SimpleQueue())),
        ("DingTalkHandler (thread live)", lambda: dingtalk_handler(fake)),
    ]
    rows: list[tuple[str, str, float, float, float]] = []
    for kind, workload in (("error", plain), ("exception", with_traceback)):
        for name, make in candidates:
            handler = make()
            logger = fresh_logger(f"{kind}.{name.split()[0]}", handler)
            rows.append((name, kind, *measure(workload(logger), args.calls)))
            handler.close()

    print(f"\n{'per logger call':<32} {'call':<10} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8}")
    print(f"{'-' * 32} {'-' * 10} {'-' * 8} {'-' * 8} {'-' * 8}")
    floor = {kind: p50 for name, kind, p50, _, _ in rows if name == "NullHandler"}
    for name, kind, p50, p99, mean in rows:
        print(f"{name:<32} {kind:<10} {p50:>8.2f} {p99:>8.2f} {mean:>8.2f}")
    print()
    for name, kind, p50, _, _ in rows:
        if name.startswith("DingTalk"):
            extra = p50 - floor[kind]
            print(f"DingTalkHandler over NullHandler, {kind}: {extra:+.2f} µs per call (p50)")
    elapsed, messages = storm(fake)
    print(f"350 records in a tight loop: {elapsed * 1000:.2f} ms; {messages} message(s) sent")
    print(f"\n{os.cpu_count()} cores, Python {sys.version.split()[0]}, {args.calls} calls each")


if __name__ == "__main__":
    main()
