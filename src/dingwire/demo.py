"""``python -m dingwire.demo`` (``make demo``): dingwire end to end, with nothing but this machine.

Starts the fake DingTalk on http://127.0.0.1:8765/ (or a free port if that one is taken),
configures a signed robot and a keyword robot, sends one message of every type through
``dingwire.Robot`` — text with a mention, markdown, link, action cards with one and with
several buttons, a feed card — plus one the keyword robot refuses, prints what happened and
where to look, then keeps serving the page until Ctrl-C.

With the ``relay`` extra it also starts the relay (``dingwire serve``, on
http://127.0.0.1:8060/ or a free port) beside the fake, with a robot of its own, and posts
to it what Alertmanager and Grafana would: a firing notification of two alerts, Grafana's
firing-and-resolved one, the resolution, then a burst of 300 alerts — so the page shows
single alerts and then the digests a storm becomes, within DingTalk's 20 a minute. It prints
both URLs (the page, the relay) and keeps both serving.

``--once`` (or ``DINGWIRE_DEMO_ONCE=1``) exits after checking that everything arrived:
status 0 when it did, 1 when it did not; 2, with one line saying what to install, without
the ``fake`` extra.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dingwire.core.errors import ConfigError, DingwireError
from dingwire.core.messages import (
    ActionCard,
    At,
    Button,
    FeedCard,
    FeedItem,
    Link,
    Markdown,
    Message,
    Text,
)

if TYPE_CHECKING:
    from dingwire.fake.controls import RobotHandle
    from dingwire.fake.log import Record
    from dingwire.fake.server import FakeServer

__all__ = [
    "BURST",
    "DEMO_PORT",
    "RELAY_PORT",
    "Sample",
    "burst_payloads",
    "main",
    "relay_samples",
    "showcase",
]

DEMO_PORT = 8765
RELAY_PORT = 8060
#: Alerts in the demo's storm: more than one window of 20 messages could carry one by one.
BURST = 300


@dataclass(frozen=True)
class Sample:
    """One message of the demo: which robot sends it, what it shows, and whether it should
    arrive."""

    robot: str
    label: str
    message: Message
    should_arrive: bool = True


def showcase(base_url: str) -> list[Sample]:
    """The demo's messages: every type, a mention, escaped HTML, and one refused message.

    Pictures come from the fake itself (``base_url``), so the page needs no internet.
    """
    img = f"{base_url}/static/img"
    site = "https://www.dingtalk.com/"
    return [
        Sample(
            "signed",
            "text with a mention",
            Text(
                "部署完成 ✅ checkout-service v1.4.2 is live. @13800000000 please verify.",
                at=At(mobiles=("13800000000",)),
            ),
        ),
        Sample(
            "signed",
            "markdown",
            Markdown(
                "杭州天气",
                "## 杭州天气 @13800000000\n\n"
                "> 9度，西北风1级，空气良89，相对温度73%\n\n"
                "**今日** *小雨转多云*，详见 [天气](https://www.dingtalk.com)\n\n"
                "- 上午：9°C\n- 下午：12°C\n\n"
                "1. 带伞\n2. 加衣\n\n"
                f"![趋势]({img}/banner.svg)\n\n"
                "###### 10点20分发布",
                at=At(mobiles=("13800000000",)),
            ),
        ),
        Sample(
            "signed",
            "link card",
            Link(
                "时代的火车向前开",
                "这个即将发布的新版本，创始人xx称它为红树林。而在此之前，每当面临重大升级，"
                "产品经理们都会取一个应景的代号。",
                site,
                pic_url=f"{img}/server.svg",
            ),
        ),
        Sample(
            "signed",
            "action card, one button",
            ActionCard(
                "乔布斯 20 年前想打造一间苹果咖啡厅",
                f"![screenshot]({img}/banner.svg)\n\n### 乔布斯 20 年前想打造的苹果咖啡厅\n\n"
                "Apple Store 的设计正从原来满满的科技感走向生活化。",
                buttons=(Button("阅读全文", site),),
            ),
        ),
        Sample(
            "signed",
            "action card, two buttons",
            ActionCard(
                "发布审批",
                "### 发布 v1.4.2 到生产环境？\n\n申请人：**ops-bot**  \n变更：3 个服务",
                buttons=(Button("同意", f"{site}?approve"), Button("拒绝", f"{site}?reject")),
                orientation="horizontal",
            ),
        ),
        Sample(
            "signed",
            "feed card",
            FeedCard(
                (
                    FeedItem("时代的火车向前开", site, f"{img}/banner.svg"),
                    FeedItem("服务器负载周报", f"{site}?weekly", f"{img}/chart.svg"),
                    FeedItem("机房巡检记录", f"{site}?dc", f"{img}/server.svg"),
                )
            ),
        ),
        Sample(
            "keyword",
            "text with the keyword",
            Text("告警: disk /var 91% full on db-1 — <script>alert('shown, never run')</script>"),
        ),
        Sample("keyword", "text without the keyword", Text("disk full"), should_arrive=False),
    ]


def _start(port: int) -> FakeServer:
    from dingwire.fake.server import FakeServer

    try:
        return FakeServer(port=port).start()
    except ConfigError:
        return FakeServer(port=0).start()  # the demo's port is taken: any free one


def run(once: bool, port: int = DEMO_PORT, relay_port: int | None = None) -> int:
    """Run the demo; with ``once``, return 0 when everything arrived as expected, else 1.

    ``relay_port``: where the relay listens (0: a free port); by default 8060 beside the
    fake's 8765, or a free port when the fake's port is not the demo's.
    """
    from dingwire.budget import MemoryBudgetStore
    from dingwire.transport.robots import Robot

    server = _start(port)
    signed = server.add_robot(secret=True, name="运维群 ops (signed)")
    keyword = server.add_robot(keywords=["告警"], name="告警群 alerts (keyword)")
    robots = {
        # Robots of the library, exactly as a user makes them; the keyword robot's client is
        # not told the keyword, so that the message without it is refused.
        "signed": Robot(signed.webhook, signed.secret, budget_store=MemoryBudgetStore()),
        "keyword": Robot(keyword.webhook, budget_store=MemoryBudgetStore()),
    }
    relay: _Relay | None = None
    try:
        samples = showcase(server.url)
        rows: list[tuple[str, str, str, str]] = []
        outcome_ok = True
        for sample in samples:
            robot = robots[sample.robot]
            try:
                robot.send(sample.message)
                result = "delivered"
                arrived = True
            except DingwireError as error:
                reason = str(error).rsplit(": ", 1)[-1]
                result = f"refused: errcode {error.errcode} {reason}"
                arrived = False
            outcome_ok &= arrived == sample.should_arrive
            expected = "" if arrived == sample.should_arrive else "  ← unexpected"
            rows.append((sample.robot, sample.message.msgtype, sample.label, result + expected))
        delivered = len(server.delivered())
        expected_count = sum(s.should_arrive for s in samples)
        outcome_ok &= delivered == expected_count and len(server.messages()) == len(samples)
        _print_table(rows)
        print(f"\n{delivered} of {len(samples)} messages delivered, as expected: {outcome_ok}")

        if relay_port is None:
            relay_port = RELAY_PORT if port == DEMO_PORT and _free(RELAY_PORT) else 0
        relay_ok, relay_rows, relay = _relay_part(server, relay_port)
        if relay_rows:
            print()
            _print_table(relay_rows, ("relay: posted", "to", "answer", "result"))
        outcome_ok &= relay_ok
        print(f"\nopen {server.url}/")
        if relay is not None and relay.url:
            print(f"relay {relay.url}/  (try {relay.url}/metrics, {relay.url}/openapi.json)")
        if once or not outcome_ok:
            return 0 if outcome_ok else 1
        what = "the fake DingTalk and the relay" if relay is not None else "the fake DingTalk"
        print(f"serving {what} until Ctrl-C …", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print()
        return 0
    finally:
        if relay is not None:
            relay.stop()
        for robot in robots.values():
            robot.close()
        server.stop()


# -- the relay: what Alertmanager and Grafana would post ----------------------------------------

_NOT_ENDED = "0001-01-01T00:00:00Z"
_RELAY_ROBOT = "oncall"
_RELAY_EXTRA = ("starlette", "uvicorn", "jinja2", "prometheus_client", "aiohttp")


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _disk_full(now: float, status: str) -> dict[str, Any]:
    """Alertmanager's notification for two full disks (``status`` firing or resolved)."""
    ends = _iso(now) if status == "resolved" else _NOT_ENDED
    alerts = [
        {
            "status": status,
            "labels": {
                "alertname": "DiskFull",
                "instance": f"db-{n}:9100",
                "job": "node",
                "severity": "critical",
                "oncall": "dba",
            },
            "annotations": {
                "summary": f"Disk almost full on db-{n}",
                "description": f"{path} is {used}% full",
            },
            "startsAt": _iso(now - ago),
            "endsAt": ends,
            # Prometheus leaves generatorURL empty when it has no external URL.
            "generatorURL": "http://prometheus.example.cn:9090/graph?g0.expr=disk"
            if n == 1
            else "",
            "fingerprint": fingerprint,
        }
        for n, path, used, ago, fingerprint in (
            (1, "/var", 97, 720, "8c77d5865e910658"),
            (2, "/data", 95, 330, "b15787d733028737"),
        )
    ]
    return {
        "receiver": "dingtalk-relay",
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "job": "node", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.cn:9093",
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
    }


def _grafana(now: float) -> dict[str, Any]:
    """Grafana's webhook contact point: one alert firing, one resolved, with its links."""
    site = "http://grafana.example.cn"
    return {
        "receiver": "dingwire-relay",
        "status": "firing",
        "orgId": 1,
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "High memory usage",
                    "grafana_folder": "Infra",
                    "team": "sre",
                    "instance": "cache-3",
                    "severity": "warning",
                },
                "annotations": {
                    "summary": "cache-3 is running out of memory",
                    "description": "Memory usage on cache-3 is 93%",
                    "runbook_url": "https://wiki.example.cn/runbooks/memory",
                },
                "startsAt": _iso(now - 240),
                "endsAt": _NOT_ENDED,
                "generatorURL": f"{site}/alerting/grafana/mem01/view",
                "fingerprint": "4c1e6e0a8f7d2b90",
                "silenceURL": f"{site}/alerting/silence/new?matcher=alertname%3DHigh+memory+usage",
                "dashboardURL": f"{site}/d/node01",
                "panelURL": f"{site}/d/node01?viewPanel=4",
                "values": {"A": 93.1, "C": 1},
                "valueString": "[ var='A' labels={instance=cache-3} value=93.1 ]",
            },
            {
                "status": "resolved",
                "labels": {
                    "alertname": "Disk latency",
                    "grafana_folder": "Infra",
                    "team": "sre",
                    "instance": "db-4",
                    "severity": "warning",
                },
                "annotations": {"summary": "db-4 disk latency back under 20ms"},
                "startsAt": _iso(now - 1500),
                "endsAt": _iso(now - 600),
                "generatorURL": f"{site}/alerting/grafana/disk02/view",
                "fingerprint": "a8d31f62c0b9e417",
                "silenceURL": f"{site}/alerting/silence/new?matcher=alertname%3DDisk+latency",
                "dashboardURL": "",
                "panelURL": "",
                "values": None,
                "valueString": "",
            },
        ],
        "groupLabels": {"grafana_folder": "Infra"},
        "commonLabels": {"grafana_folder": "Infra", "team": "sre", "severity": "warning"},
        "commonAnnotations": {},
        "externalURL": f"{site}/",
        "version": "1",
        "groupKey": '{}/{__grafana_receiver__="dingwire-relay"}:{grafana_folder="Infra"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1, RESOLVED:1] Infra (sre warning)",
        "state": "alerting",
        "message": "**Firing**\n\nValue: A=93.1, C=1\n",
    }


@dataclass(frozen=True)
class RelaySample:
    """One notification the demo posts to the relay, and texts one message shows when it
    arrived."""

    label: str
    path: str  # where the sender posts it, {robot} for the robot's name
    payload: dict[str, Any]
    shows: tuple[str, ...]

    def arrived(self, records: Sequence[Record]) -> bool:
        """Whether one of ``records`` shows it."""
        return any(all(t in _shown([r]) for t in self.shows) for r in records)


def relay_samples(now: float) -> list[RelaySample]:
    """Alertmanager's firing notification, Grafana's, then Alertmanager's resolution."""
    return [
        RelaySample(
            "Alertmanager: 2 alerts firing",
            "/dingtalk/{robot}/send",  # prometheus-webhook-dingtalk's path: a drop-in
            _disk_full(now, "firing"),
            ("FIRING:2", "Disk almost full on db-1", "Disk almost full on db-2"),
        ),
        RelaySample(
            "Grafana: firing + resolved",
            "/v1/robots/{robot}/grafana",
            _grafana(now),
            ("cache-3 is running out of memory", "db-4 disk latency back under 20ms"),
        ),
        RelaySample(
            "Alertmanager: their resolution",
            "/v1/robots/{robot}/alertmanager",
            _disk_full(now + 1, "resolved"),
            ("RESOLVED:2", "Disk almost full on db-2"),
        ),
    ]


def burst_payloads(now: float, alerts: int = BURST, per_payload: int = 4) -> list[dict[str, Any]]:
    """A storm: ``alerts`` pods crash-looping at once, ``per_payload`` to a notification."""
    kinds = (
        ("KubePodCrashLooping", "critical", "restarted {n} times in 10 minutes"),
        ("KubePodNotReady", "warning", "not ready for {n} minutes"),
        ("HighErrorRate", "warning", "5xx above {n}% for 5 minutes"),
    )
    payloads = []
    for first in range(0, alerts, per_payload):
        group = {"namespace": "checkout", "batch": str(first // per_payload)}
        chunk = []
        for i in range(first, min(alerts, first + per_payload)):
            name, severity, summary = kinds[i % len(kinds)]
            pod = burst_pod(i)
            chunk.append(
                {
                    "status": "firing",
                    "labels": {"alertname": name, "pod": pod, "severity": severity, **group},
                    "annotations": {"summary": f"{pod} {summary.format(n=3 + i % 17)}"},
                    "startsAt": _iso(now - 60 - i),
                    "endsAt": _NOT_ENDED,
                    "generatorURL": "",
                    "fingerprint": f"{0xB0000000 + i:016x}",
                }
            )
        payloads.append(
            {
                "receiver": "dingtalk-relay",
                "status": "firing",
                "alerts": chunk,
                "groupLabels": group,
                "commonLabels": {"namespace": "checkout"},
                "commonAnnotations": {},
                "externalURL": "http://alertmanager.example.cn:9093",
                "version": "4",
                "groupKey": "{}:{" + ",".join(f'{k}="{v}"' for k, v in group.items()) + "}",
                "truncatedAlerts": 0,
            }
        )
    return payloads


def burst_pod(i: int) -> str:
    """The pod of the burst's ``i``-th alert: what shows that it arrived."""
    return f"checkout-7d9f-{i:03d}"


class _Relay:
    """``python -m dingwire serve`` in a temporary directory, for the demo's lifetime."""

    def __init__(self, server: FakeServer, robot: RobotHandle, port: int) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="dingwire-demo-"))
        self.log = self.home / "relay.log"
        config = self.home / "dingwire.toml"
        quote = json.dumps
        config.write_text(
            f"[robots.{_RELAY_ROBOT}]\n"
            f"webhook = {quote(robot.webhook)}\n"
            f"secret = {quote(robot.secret)}\n"
            'keywords = ["告警"]\n'
            "\n[relay]\n"
            f'listen = "127.0.0.1:{port}"\n'
            f"queue = {quote('sqlite:///' + str(self.home / 'outbox.sqlite3'))}\n"
            "\n[relay.oncall.dba]\n"  # alerts labelled oncall="dba" mention the DBA on call
            'mobiles = ["13900000000"]\n'
            "\n[budget]\n"
            'store = "memory://"\n',  # the demo's robot is new each time: no budget on disk
            "utf-8",
        )
        env = {k: v for k, v in os.environ.items() if k != "DINGWIRE_CONFIG"}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dingwire", "serve", "--config", str(config)],
                cwd=self.home,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = ""

    def wait_ready(self, timeout: float = 30.0) -> str | None:
        """The relay's URL once it answers /readyz; ``None`` (log in :meth:`tail`) if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            found = re.search(r"listening on (http://\S+)", self.log.read_text("utf-8", "replace"))
            if found:
                self.url = found.group(1).rstrip("/")
                try:
                    with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as reply:
                        if reply.status == 200:
                            return self.url
                except OSError:
                    pass
            time.sleep(0.1)
        return None

    def post(self, path: str, payload: dict[str, Any]) -> int:
        """POST ``payload`` as JSON; the HTTP status."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return 0

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # drains: the rest stays queued
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.home, ignore_errors=True)


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _arrived(sample: RelaySample, robot: RobotHandle) -> bool:
    return sample.arrived(robot.delivered())


def _shown(records: Sequence[Record]) -> str:
    return "\n".join(json.dumps(r.payload, ensure_ascii=False) for r in records)


def _relay_part(
    server: FakeServer, port: int
) -> tuple[bool, list[tuple[str, str, str, str]], _Relay | None]:
    """Start the relay beside the fake, post the samples and the burst; did all arrive?"""
    missing = [m for m in _RELAY_EXTRA if importlib.util.find_spec(m) is None]
    if missing:
        print(f"\nrelay: skipped ({', '.join(missing)} missing): pip install 'dingwire[relay]'")
        return True, [], None
    robot = server.add_robot(secret=True, keywords=["告警"], name="值班群 oncall (relay)")
    relay = _Relay(server, robot, port)
    rows: list[tuple[str, str, str, str]] = []
    if relay.wait_ready() is None:
        print(f"\nrelay: did not start\n{relay.tail()}", file=sys.stderr)
        return False, rows, relay
    ok = True
    now = time.time()
    for sample in relay_samples(now):
        path = sample.path.format(robot=_RELAY_ROBOT)
        status = relay.post(path, sample.payload)
        arrived = status == 202 and _wait(partial(_arrived, sample, robot), 30)
        ok &= arrived
        result = "delivered" if arrived else "not delivered  ← unexpected"
        rows.append((sample.label, path, str(status), result))

    before = len(robot.delivered())
    began = time.monotonic()
    payloads = burst_payloads(now)
    path = f"/v1/robots/{_RELAY_ROBOT}/alertmanager"
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda p: relay.post(path, p), payloads))
    accepted = statuses.count(202)
    pods = [burst_pod(i) for i in range(BURST)]

    def burst_in() -> bool:
        shown = _shown(robot.delivered()[before:])
        return all(pod in shown for pod in pods)

    arrived = accepted == len(payloads) and _wait(burst_in, 60)
    ok &= arrived
    burst = robot.delivered()[before:]
    seconds = time.monotonic() - began
    if arrived:
        result = f"delivered in {len(burst)} messages ({BURST / len(burst):.0f} alerts each), {seconds:.1f} s"
    else:
        result = "not all delivered  ← unexpected"
    rows.append((f"burst: {BURST} alerts", f"{path} ×{len(payloads)}", f"{accepted}×202", result))
    ok &= all(r.ok for r in robot.messages())  # never a 130101: the relay kept the budget
    return ok, rows, relay


def _free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port``."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _print_table(
    rows: list[tuple[str, str, str, str]],
    header: tuple[str, str, str, str] = ("robot", "msgtype", "message", "result"),
) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))


def main(argv: list[str] | None = None) -> int:
    """The command line of ``python -m dingwire.demo``."""
    parser = argparse.ArgumentParser(prog="python -m dingwire.demo", description=__doc__)
    parser.add_argument("--once", action="store_true", help="exit after sending and checking")
    parser.add_argument("--port", type=int, default=DEMO_PORT)
    parser.add_argument(
        "--relay-port", type=int, default=None, help=f"the relay's port (default {RELAY_PORT})"
    )
    args = parser.parse_args(argv)
    once = args.once or os.environ.get("DINGWIRE_DEMO_ONCE", "") not in ("", "0")
    from dingwire.fake._extra import MissingExtraError, require_extra

    try:
        require_extra()
    except MissingExtraError as error:
        print(f"dingwire demo: {error}", file=sys.stderr)
        return 2
    return run(once, args.port, args.relay_port)


if __name__ == "__main__":
    sys.exit(main())
