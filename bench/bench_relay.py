"""The relay (``dingwire serve``) measured end to end, side by side in one run.

Every part runs as its own process on 127.0.0.1, as in production: the fake DingTalk
(``python -m dingwire.fake``), the relay (``python -m dingwire serve``, SQLite outbox in WAL
mode), and the load.

1. **Durable intake.** ``wrk`` (``apt-get install wrk``) POSTs a 2 KB Alertmanager payload
   to ``/v1/robots/R/alertmanager`` — each request its own notification (a Lua script
   numbers the ``groupKey``, so nothing is a duplicate) — once against the relay and once
   against a bare ASGI app on the same uvicorn that reads the body and answers 202 without
   storing. Requests/s, p99 and the ratio; afterwards the outbox must hold at least as many
   records as the relay answered 202 (never a 202 before the commit).
2. **Storms** of 1,000 and 10,000 alerts (four to a notification, eight concurrent posters)
   at one robot whose minute budget is shortened to ``20/WINDOWs`` (3 s unless told; the fake
   counts the same, at arrival): messages used, alerts per message, windows used, alerts
   delivered per window while the storm drains (a window here stands for DingTalk's minute),
   beside the physical limit of 20 messages × 20,000 bytes per window at the storm's own
   bytes per alert line; never a refusal; the relay's peak RSS (``VmHWM``) through the storm.
3. **Storms under an org quota**, the month shortened to 20 s: 400 alerts at 20 calls a
   period, 2,000 at 5 (more than one period can carry: the rest waits for the renewal):
   calls used, periods, calls ahead of the pace ``quota × elapsed share + burst`` (must be
   0), refusals (must be 0: never a 90030).

With ``--redis`` the intake is measured also with ``queue = "redis://…"`` (a ``redis-server``
of its own on 127.0.0.1, append-only with ``appendfsync always``, or the one ``--redis-url``
names; its database is emptied first), beside SQLite in the same run, and then three relays
on that one Redis, each loaded by a ``wrk`` of its own at the same time (a third of the
connections each): their combined rate, and every 202 found in Redis after.

With ``--repeat N`` every intake target runs N times, in turn (SQLite, Redis, three relays,
the bare app, then again): a row is the median run, with the range of its rates. On a
shared machine one run of a target can differ from the next by a third; taken in turn,
what slows the machine down slows every target alike.

    .venv/bin/python bench/bench_relay.py [--duration 10] [--connections 32] [--window 3]
        [--repeat 5] [--redis] [--redis-url redis://127.0.0.1:6379/9]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the end-to-end tests' process harness is reused, not copied

from tests.redis_server import RedisServer  # noqa: E402
from tests.relay.e2e.harness import (  # noqa: E402
    FakeProcess,
    FakeRobot,
    Process,
    RelayProcess,
    RelayRobot,
    alert,
    free_port,
    notification,
    post_all,
    python_env,
    wait_until,
)

TOKEN = "bench" + "7" * 55 + "5e1a"
PATH = "/v1/robots/bench/alertmanager"
PAYLOAD_BYTES = 2048
LINE_LIMIT = 20_000  # bytes per DingTalk message
MESSAGES_PER_WINDOW = 20


# -- the payload and the wrk script -----------------------------------------------------------


def intake_payload() -> str:
    """A realistic Alertmanager notification of ~2 KB, with ``@@N@@`` where wrk numbers it."""
    alerts = [
        alert(
            "HighRequestLatency",
            severity=("critical", "warning")[i % 2],
            instance=f"api-{i}.prod.example.com:9100",
            summary=f"p99 latency above 2s on api-{i} for 5 minutes",
            extra_labels={"service": "checkout", "team": "payments", "zone": "cn-hangzhou-h"},
        )
        for i in range(3)
    ]
    payload = notification(alerts, group={"alertname": "HighRequestLatency", "batch": "@@N@@"})
    runbook = "https://wiki.example.cn/runbooks/latency#"
    payload["commonAnnotations"] = {"runbook": runbook}
    size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
    payload["commonAnnotations"] = {"runbook": runbook + "x" * max(0, PAYLOAD_BYTES - size)}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


WRK_SCRIPT = r"""
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  n = n + 1
  local body = string.gsub(template, "@@N@@", tid .. "-" .. n)
  return wrk.format(nil, nil, nil, body)
end
template = [==[@@PAYLOAD@@]==]
"""


def run_wrk(url: str, script: Path, *, duration: int, connections: int) -> dict[str, float]:
    """``wrk`` against ``url``: requests/s, p99 (ms), requests answered and non-2xx ones."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert p99, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "none",  # type: ignore[dict-item]
    }


# -- the bare ASGI app: what intake costs without storing -----------------------------------


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body and answers ``202 {"id": ...}``, storing nothing."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["path"] == "/healthz":
        status, body = 200, b"ok"
    else:
        status, body = 202, b'{"id":"bare"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(
        bare_app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http="auto",
        loop="auto",
    )


# -- measurements ----------------------------------------------------------------------------


def rss_mb(pid: int) -> tuple[float, float]:
    """The current and peak resident set size of ``pid``, in MB (from /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    now = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    return now / 1024, peak / 1024


def outbox_total(url: str) -> int:
    from dingwire.relay.outbox import open_outbox

    outbox = open_outbox(url)
    try:
        return sum(sum(states.values()) for states in outbox.counts().values())
    finally:
        outbox.close()


def run_wrk_at_once(
    urls: Sequence[str], script: Path, *, duration: int, connections: int
) -> dict[str, float]:
    """One ``wrk`` per url, all at once, ``connections`` shared among them: the sums (the
    worst p99)."""
    results: list[dict[str, float]] = []
    each = max(2, connections // len(urls))
    scripts = [script]
    for k in range(1, len(urls)):  # each wrk numbers its own groups: no duplicates between them
        text = script.read_text("utf-8").replace('tid .. "-"', f'"w{k}-" .. tid .. "-"', 1)
        scripts.append(script.with_name(f"post-{k}.lua"))
        scripts[-1].write_text(text, "utf-8")

    def one(url: str, script: Path) -> None:
        results.append(run_wrk(url, script, duration=duration, connections=each))

    threads = [threading.Thread(target=one, args=pair) for pair in zip(urls, scripts, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == len(urls), "a wrk failed"
    if len(results) == 1:
        return results[0]
    return {
        "rps": sum(r["rps"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "requests": sum(r["requests"] for r in results),
        "non_2xx": sum(r["non_2xx"] for r in results),
        "socket_errors": ", ".join(str(r["socket_errors"]) for r in results),  # type: ignore[dict-item]
    }


def empty_redis(url: str) -> None:
    import redis

    with redis.Redis.from_url(url) as client:
        client.flushdb()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def intake(
    args: argparse.Namespace,
    work: Path,
    redis_url: str | None = None,
    redis_pid: int | None = None,
) -> list[tuple[str, dict[str, float]]]:
    payload = intake_payload()
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT.replace("@@PAYLOAD@@", payload), "utf-8")
    print(
        f"intake: {len(payload.encode())}-byte payload, {args.connections} connections, "
        f"{args.duration}s each",
        flush=True,
    )
    targets: list[tuple[str, str | None, int]] = [("SQLite outbox", None, 1)]
    if args.memory_outbox:
        targets.append(("memory:// outbox", "memory://", 1))
    if redis_url is not None:
        targets.append(("Redis outbox", redis_url, 1))
        targets.append(("3 relays, one Redis, combined", redis_url, 3))
    runs: dict[str, list[dict[str, float]]] = {}
    homes = iter(range(10_000))
    # Round after round, every target once a round: a machine that slows down or speeds up
    # during the run (other work on it) moves every target's figures alike.
    for _ in range(args.repeat):
        for label, queue, count in targets:
            home = work / f"intake-{next(homes)}"
            result = intake_relay(args, home, script, queue, count, redis_url, redis_pid)
            runs.setdefault(f"dingwire serve ({label})", []).append(result)
        runs.setdefault("bare ASGI app, no storage", []).append(intake_bare(args, work, script))
    return [(name, summary(results)) for name, results in runs.items()]


def summary(results: list[dict[str, float]]) -> dict[str, float]:
    """A target's runs in one row: the median run (by req/s), with the range of req/s."""
    ordered = sorted(results, key=lambda r: r["rps"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["rps_min"], row["rps_max"] = ordered[0]["rps"], ordered[-1]["rps"]
    row["rss_mb"] = max(r["rss_mb"] for r in results)
    return row


def intake_relay(
    args: argparse.Namespace,
    home: Path,
    script: Path,
    queue: str | None,
    count: int,
    redis_url: str | None,
    redis_pid: int | None,
) -> dict[str, float]:
    """One run of ``count`` relays on one outbox under ``wrk``; every 202 checked stored."""
    home.mkdir()
    if queue is not None and queue.startswith("redis"):
        empty_redis(queue)
    fake = FakeProcess(home, [FakeRobot(TOKEN, name="bench")]).start()
    relay_settings = {"queue": queue} if queue else {}
    relays = []
    for k in range(count):  # each in a directory of its own, as on hosts of their own
        (home / f"relay{k}").mkdir()
        robots = [RelayRobot("bench", TOKEN)]
        relays.append(RelayProcess(home / f"relay{k}", fake, robots, relay=relay_settings))
    for relay in relays:
        relay.start()
    try:
        watched = [relay.process.pid for relay in relays]
        if redis_pid is not None and queue == redis_url:
            watched.append(redis_pid)
        cpu = [cpu_seconds(pid) for pid in watched]
        result = run_wrk_at_once(
            [relay.url + PATH for relay in relays],
            script,
            duration=args.duration,
            connections=args.connections,
        )
        used = [cpu_seconds(pid) - before for pid, before in zip(watched, cpu, strict=True)]
        result["relay_cpu"] = sum(used[: len(relays)]) / args.duration
        if len(used) > len(relays):
            result["redis_cpu"] = used[-1] / args.duration
        result["rss_mb"] = max(rss_mb(relay.process.pid)[1] for relay in relays)
        if queue != "memory://":  # every 202 is stored (the memory outbox dies with it)
            stored = outbox_total(queue or f"sqlite:///{relays[0].outbox}")
            answered = result["requests"] - result["non_2xx"]
            result["stored"] = stored
            assert stored >= answered, f"{answered} answered 202 but only {stored} stored"
        return result
    finally:
        for relay in relays:
            relay.stop()
        fake.stop()


def intake_bare(args: argparse.Namespace, work: Path, script: Path) -> dict[str, float]:
    """One run of the bare ASGI app (reads the body, answers 202, stores nothing)."""
    port = free_port()
    bare = Process(
        "bare",
        [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)],
        cwd=work,
        env=python_env(),
    )
    bare.start()
    try:
        bare.wait_http(f"http://127.0.0.1:{port}/healthz")
        result = run_wrk(
            f"http://127.0.0.1:{port}{PATH}",
            script,
            duration=args.duration,
            connections=args.connections,
        )
        result["rss_mb"] = rss_mb(bare.pid)[1]
        return result
    finally:
        bare.stop()


def storm(alerts: int, window: float, work: Path) -> dict[str, float]:
    """One storm of ``alerts`` alerts through a fresh relay; what it cost and how it went."""
    home = work / f"storm-{alerts}"
    home.mkdir()
    rate = f"20/{window:g}s"
    fake = FakeProcess(home, [FakeRobot(TOKEN, rate_limit=rate, lockout="60s", name="bench")])
    fake.start()
    relay = RelayProcess(home, fake, [RelayRobot("bench", TOKEN, rate_limit=rate, lockout="60s")])
    relay.start()
    names = [f"B{i:06d}" for i in range(alerts)]
    payloads = []
    for start in range(0, alerts, 4):
        group = {"job": f"storm-{start // 4}"}
        chunk = [
            alert(
                name,
                severity=("critical", "warning", "info")[i % 3],
                instance=f"web-{i % 50}:9100",
                extra_labels=group,
            )
            for i, name in enumerate(names[start : start + 4], start)
        ]
        payloads.append(notification(chunk, group=group))
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], rss_mb(relay.process.pid)[0])
            except (FileNotFoundError, AttributeError):
                return
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        began = time.time()
        post_all(relay, PATH, payloads, posters=8)
        posted = time.time() - began
        pattern = re.compile(r"B\d{6}")
        seen: set[str] = set()

        def all_in() -> list[dict[str, Any]] | None:
            delivered = fake.delivered("bench")
            seen.clear()
            for m in delivered:
                seen.update(pattern.findall(json.dumps(m["body"], ensure_ascii=False)))
            return delivered if len(seen) >= alerts else None

        delivered = wait_until(
            all_in,
            timeout=max(120.0, alerts / 40),
            what=f"{alerts} alerts",
            interval=0.5,
            details=relay.output,
        )
        finished = time.time()
        calls = fake.messages("bench")
        refused = [m["errcode"] for m in calls if m["errcode"] != 0]
        _, hwm = rss_mb(relay.process.pid)
    finally:
        done.set()
        relay.stop()
        fake.stop()
    times = sorted(m["time"] for m in delivered)
    per_message = [
        len(set(pattern.findall(json.dumps(m["body"], ensure_ascii=False)))) for m in delivered
    ]
    sizes = [m["size"] for m in delivered]
    first = times[0]
    windows = math.floor((times[-1] - first) / window) + 1
    by_window = [0] * windows
    for m, n in zip(delivered, per_message, strict=True):
        by_window[min(windows - 1, int((m["time"] - first) / window))] += n
    full = by_window[1:-1] or by_window  # the windows the storm filled, not its first or last
    bytes_per_alert = sum(sizes) / alerts
    return {
        "alerts": alerts,
        "posted_s": posted,
        "messages": len(delivered),
        "alerts_per_message": alerts / len(delivered),
        "max_alerts_in_message": max(per_message),
        "max_bytes": max(sizes),
        "windows": windows,
        "sustained_per_window": statistics.median(full),
        "physical_per_window": MESSAGES_PER_WINDOW * LINE_LIMIT / bytes_per_alert,
        "bytes_per_alert": bytes_per_alert,
        "first_s": first - began,
        "all_in_s": finished - began,
        "refused": len(refused),
        "rss_peak_mb": max(peak[0], hwm),
    }


def quota_storm(alerts: int, quota: int, period: float, work: Path) -> dict[str, float]:
    """A storm under an org quota of ``quota`` calls per ``period`` seconds (a month, made
    short): starting with a period, how the relay paced it and what it spent."""
    home = work / f"quota-{alerts}-{quota}"
    home.mkdir()
    orgs = {"acme": f"{quota}/{period:g}s"}
    fake = FakeProcess(home, [FakeRobot(TOKEN, org="acme", rate_limit="20/3s", name="bench")], orgs)
    fake.start()
    relay = RelayProcess(
        home, fake, [RelayRobot("bench", TOKEN, org="acme", rate_limit="20/3s")], orgs=orgs
    )
    relay.start()
    pattern = re.compile(r"Q\d{6}")
    payloads = []
    for start in range(0, alerts, 4):
        group = {"job": f"quota-{start // 4}"}
        chunk = [
            alert(f"Q{i:06d}", extra_labels=group) for i in range(start, min(alerts, start + 4))
        ]
        payloads.append(notification(chunk, group=group))
    try:
        wait_until(lambda: time.time() % period < 0.5, timeout=period + 5, what="a new period")
        began = time.time()
        post_all(relay, PATH, payloads, posters=8)
        seen: set[str] = set()

        def all_in() -> bool:
            seen.clear()
            for m in fake.delivered("bench"):
                seen.update(pattern.findall(json.dumps(m["body"], ensure_ascii=False)))
            return len(seen) >= alerts

        wait_until(
            all_in,
            timeout=period * (alerts / 500 / quota + 3),
            what="the quota storm",
            interval=0.5,
            details=relay.output,
        )
        calls = fake.messages("bench")
    finally:
        relay.stop()
        fake.stop()
    burst = max(1, quota // 20)
    ahead = 0
    counts: dict[float, int] = {}
    for m in calls:
        start = math.floor(m["time"] / period) * period
        counts[start] = counts.get(start, 0) + 1
        if counts[start] > min(quota, math.floor(quota * (m["time"] - start) / period) + burst):
            ahead += 1
    return {
        "alerts": alerts,
        "quota": quota,
        "calls": len(calls),
        "refused": sum(m["errcode"] != 0 for m in calls),
        "ahead": ahead,
        "periods": len(counts),
        "most_in_period": max(counts.values()),
        "alerts_per_call": alerts / len(calls),
        "all_in_s": max(m["time"] for m in calls) - began,
        "period": period,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per target")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="intake rounds (each target once a round); rows show the median and the range",
    )
    parser.add_argument("--window", type=float, default=3.0, help="the storm robot's window (s)")
    parser.add_argument("--storms", default="1000,10000", help="storm sizes, comma-separated")
    parser.add_argument("--no-intake", action="store_true")
    parser.add_argument("--no-quota", action="store_true")
    parser.add_argument(
        "--memory-outbox",
        action="store_true",
        help="also measure the relay with a memory:// outbox (what storing costs)",
    )
    parser.add_argument(
        "--redis",
        action="store_true",
        help="also measure the intake on a Redis outbox, and three relays on one Redis",
    )
    parser.add_argument(
        "--redis-url", metavar="URL", help="the Redis for --redis (its database is emptied)"
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    if not args.no_intake and shutil.which("wrk") is None:
        print("bench_relay: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    print(
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {sys.version.split()[0]}, workdir {work}",
        flush=True,
    )
    try:
        if not args.no_intake:
            with ExitStack() as stack:
                redis_url, redis_pid = args.redis_url, None
                if args.redis and redis_url is None:
                    server = stack.enter_context(RedisServer(work / "redis", fsync="always"))
                    redis_url = server.url
                    assert server.process is not None
                    redis_pid = server.process.pid
                rows = intake(args, work, redis_url, redis_pid)
            width = max(44, *(len(name) for name, _ in rows))
            print(
                f"\n{'durable intake, 2 KB Alertmanager payloads':<{width}} {'req/s':>8} "
                f"{'range':>13} {'p99 ms':>8} {'requests':>9} {'non-2xx':>8} {'stored':>8} "
                f"{'RSS MB':>7} {'relay CPU':>9} {'Redis CPU':>9}"
            )
            print(
                f"{'-' * width} {'-' * 8} {'-' * 13} {'-' * 8} {'-' * 9} {'-' * 8} {'-' * 8} "
                f"{'-' * 7} {'-' * 9} {'-' * 9}"
            )
            for name, r in rows:
                stored = f"{int(r['stored']):>8}" if "stored" in r else f"{'-':>8}"
                relay_cpu = f"{r['relay_cpu']:>9.2f}" if "relay_cpu" in r else f"{'-':>9}"
                redis_cpu = f"{r['redis_cpu']:>9.2f}" if "redis_cpu" in r else f"{'-':>9}"
                span = f"{r['rps_min']:.0f}-{r['rps_max']:.0f}"
                print(
                    f"{name:<{width}} {r['rps']:>8.0f} {span:>13} {r['p99_ms']:>8.1f} "
                    f"{int(r['requests']):>9} {int(r['non_2xx']):>8} {stored} "
                    f"{r['rss_mb']:>7.0f} {relay_cpu} {redis_cpu}"
                )
            print(
                f"req/s: the median of {args.repeat} run(s) of each, taken in turn (range: "
                "slowest-fastest); its p99, CPU and requests are the median run's"
            )
            print("CPU: cores used on average during the run (2 cores in all)")
            ratio = rows[0][1]["rps"] / rows[-1][1]["rps"]
            print(f"relay / bare: {ratio:.0%} of the bare app's rate")
        results = [storm(int(n), args.window, work) for n in args.storms.split(",") if n]
        if results:
            print(
                f"\nstorms at one robot, budget 20/{args.window:g}s (a window stands for "
                "DingTalk's minute), 4 alerts a payload, 8 posters"
            )
            keys = [
                ("alerts", "alerts", "{:.0f}"),
                ("posted in (s)", "posted_s", "{:.1f}"),
                ("first message after (s)", "first_s", "{:.2f}"),
                ("all delivered after (s)", "all_in_s", "{:.1f}"),
                ("messages used", "messages", "{:.0f}"),
                ("alerts per message (mean)", "alerts_per_message", "{:.1f}"),
                ("alerts in the largest", "max_alerts_in_message", "{:.0f}"),
                ("largest body (bytes)", "max_bytes", "{:.0f}"),
                ("windows used", "windows", "{:.0f}"),
                ("alerts/robot/window, sustained", "sustained_per_window", "{:.0f}"),
                ("physical limit (20 × 20,000 B)", "physical_per_window", "{:.0f}"),
                ("  at bytes per alert line", "bytes_per_alert", "{:.0f}"),
                ("refused by the fake (130101…)", "refused", "{:.0f}"),
                ("relay RSS peak (MB)", "rss_peak_mb", "{:.0f}"),
            ]
            print(f"{'':<32}" + "".join(f"{int(r['alerts']):>10}" for r in results))
            for label, key, fmt in keys[1:]:
                print(f"{label:<32}" + "".join(f"{fmt.format(r[key]):>10}" for r in results))
        if not args.no_quota:
            runs = [quota_storm(400, 20, 20.0, work), quota_storm(2000, 5, 20.0, work)]
            print("\nstorms under an org quota (a month made 20 s; the fake counts every call)")
            print(
                f"{'alerts':>7} {'quota':>9} {'calls':>6} {'alerts/call':>12} {'periods':>8} "
                f"{'max/period':>11} {'ahead of pace':>14} {'refused':>8} {'all in (s)':>11}"
            )
            for q in runs:
                print(
                    f"{q['alerts']:>7.0f} {q['quota']:>4.0f}/{q['period']:<3.0f}s {q['calls']:>6.0f} "
                    f"{q['alerts_per_call']:>12.0f} {q['periods']:>8.0f} {q['most_in_period']:>11.0f} "
                    f"{q['ahead']:>14.0f} {q['refused']:>8.0f} {q['all_in_s']:>11.1f}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
