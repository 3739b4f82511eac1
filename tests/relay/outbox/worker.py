"""A process working on an outbox, for tests/relay/outbox/test_processes.py.

PATH is a SQLite file, or an outbox URL (``redis://…``).

``python -m tests.relay.outbox.worker enqueue PATH THREADS``: enqueues from THREADS threads
without end, printing each id (one line, flushed) only after ``enqueue`` returned.

``python -m tests.relay.outbox.worker claim PATH OWNER NOW LEASE``: claims three at a time
for OWNER (after printing ``ready``, on a line from stdin) until nothing is due, printing ``claimed ID`` for each, acking them, then
``done``. With ``LEASE`` negative it claims once with a lease of ``-LEASE`` and then waits
on stdin without acking (a holder that will die).
"""

from __future__ import annotations

import sys
import threading
import time

from dingwire.relay.model import DigestLine, Outgoing
from dingwire.relay.outbox import Outbox, SqliteOutbox, open_outbox


def _open(path: str) -> Outbox:
    return open_outbox(path) if "://" in path else SqliteOutbox(path)


def _message(text: str) -> Outgoing:
    return Outgoing(
        robot="ops",
        body={"msgtype": "text", "text": {"content": text}},
        kind="text",
        lines=(DigestLine("", text, text),),
    )


def enqueue(path: str, threads: int) -> None:
    outbox = _open(path)
    printing = threading.Lock()

    def work(n: int) -> None:
        i = 0
        while True:
            i += 1
            [answer] = outbox.enqueue([_message(f"{n}-{i}")], now=1.0, dedupe_window=0.0)
            with printing:
                sys.stdout.write(answer.id + "\n")
                sys.stdout.flush()

    workers = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def claim(path: str, owner: str, now: float, lease: float) -> None:
    outbox = _open(path)
    if lease < 0:
        for record in outbox.claim("ops", now=now, owner=owner, lease=-lease, limit=1000):
            print("claimed", record.id, flush=True)
        print("holding", flush=True)
        sys.stdin.read()
        return
    print("ready", flush=True)
    sys.stdin.readline()  # "go": both claimers start together
    while got := outbox.claim("ops", now=now, owner=owner, lease=lease, limit=3):
        for record in got:
            print("claimed", record.id, flush=True)
        time.sleep(0.002)  # the send: the other claimer's turn at the write lock
        outbox.ack([r.id for r in got], now=now, reply={"errcode": 0, "errmsg": "ok"})
    outbox.close()
    print("done", flush=True)


if __name__ == "__main__":
    command, path, *rest = sys.argv[1:]
    if command == "enqueue":
        enqueue(path, int(rest[0]))
    else:
        claim(path, rest[0], float(rest[1]), float(rest[2]))
