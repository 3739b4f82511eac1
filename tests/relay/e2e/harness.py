"""Real processes for the relay's end-to-end tests: the fake DingTalk, the relay, Alertmanager.

Each runs as its own process on 127.0.0.1 and a free port, with its output in a log file
under the test's temporary directory (shown when something fails), and is stopped when the
test ends. Nothing here sleeps and hopes: :func:`wait_until` polls a condition with a
timeout, and the fake's log (``GET /api/messages``) is the one judge of what arrived and when
— DingTalk counts a message at its arrival, so the tests do too.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests

T = TypeVar("T")

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
START_TIMEOUT = 30.0  # two cores shared by the whole suite: a cold Python start can be slow


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    details: Callable[[], str] | None = None,
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that.

    Fails the test after ``timeout`` seconds, saying ``what`` was awaited (and ``details()``,
    e.g. a process's log).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            more = f"\n{details()}" if details is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{more}")
        time.sleep(interval)


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string."""
    return json.dumps(value, ensure_ascii=False)


def toml_table(name: str, values: Mapping[str, Any]) -> str:
    """One ``[name]`` table of strings, numbers, booleans and lists of strings."""
    lines = [f"[{name}]"]
    for key, value in values.items():
        if isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, int | float):
            shown = repr(value)
        elif isinstance(value, str):
            shown = toml_string(value)
        else:
            shown = "[" + ", ".join(toml_string(v) for v in value) + "]"
        lines.append(f"{key} = {shown}")
    return "\n".join(lines) + "\n"


class Process:
    """A child process with its output in ``log``; :meth:`stop` ends it, gracefully first."""

    def __init__(self, name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]):
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.log = cwd / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def output(self, tail: int = 6000) -> str:
        """The end of what the process printed."""
        try:
            text = self.log.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return f"({self.name}: no log)"
        return f"--- {self.name} log ({self.log}) ---\n{text[-tail:]}"

    def kill9(self) -> None:
        """``kill -9``: no goodbye, no cleanup."""
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit status (``None`` if never run)."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode

    def wait_http(self, url: str, *, timeout: float = START_TIMEOUT) -> None:
        """Wait until ``url`` answers 200; fail at once if the process has exited."""

        def ready() -> bool:
            if not self.alive:
                raise AssertionError(f"{self.name} exited before it was ready\n{self.output()}")
            try:
                return requests.get(url, timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, timeout=timeout, what=f"{self.name} at {url}", details=self.output)


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child Python: this one's, no proxies, unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("DINGWIRE_CONFIG", None)
    env.update(extra or {})
    return env


# -- the fake DingTalk ----------------------------------------------------------------------


@dataclass
class FakeRobot:
    """One robot of the fake: its token and the fake's settings for it."""

    token: str
    rate_limit: str = "20/60s"
    lockout: str = "600s"
    org: str | None = None
    keywords: tuple[str, ...] = ()
    name: str | None = None


class FakeProcess:
    """``python -m dingwire.fake`` on a free port, configured by a file; driven over HTTP."""

    def __init__(
        self,
        workdir: Path,
        robots: Iterable[FakeRobot],
        orgs: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.robots = {robot.token: robot for robot in robots}
        config = [toml_table("fake", {"history": 20000})]
        for name, quota in (orgs or {}).items():
            config.append(toml_table(f"orgs.{name}", {"quota": quota}))
        for robot in self.robots.values():
            values: dict[str, Any] = {
                "name": robot.name or robot.token,
                "rate_limit": robot.rate_limit,
                "lockout": robot.lockout,
            }
            if robot.org:
                values["org"] = robot.org
            if robot.keywords:
                values["keywords"] = list(robot.keywords)
            config.append(toml_table(f"robots.{robot.token}", values))
        self.config = workdir / "fake.toml"
        self.config.write_text("\n".join(config), "utf-8")
        argv = [sys.executable, "-m", "dingwire.fake", "--port", str(self.port), "--quiet"]
        argv += ["--config", str(self.config)]
        self.process = Process("fake", argv, cwd=workdir, env=python_env())

    def start(self) -> FakeProcess:
        self.process.start()
        self.process.wait_http(f"{self.url}/healthz")
        return self

    def stop(self) -> None:
        self.process.stop()

    def webhook(self, token: str) -> str:
        return f"{self.url}/robot/send?access_token={token}"

    def messages(self, robot: str | None = None) -> list[dict[str, Any]]:
        """Every request the fake logged (to ``robot``), oldest first."""
        params = {"robot": robot} if robot else {}
        reply = requests.get(f"{self.url}/api/messages", params=params, timeout=10)
        reply.raise_for_status()
        return list(reply.json()["messages"])

    def delivered(self, robot: str | None = None) -> list[dict[str, Any]]:
        """The messages DingTalk would have shown (errcode 0)."""
        return [m for m in self.messages(robot) if m["errcode"] == 0]

    def inject_fault(self, robot: str | None = None, **fault: Any) -> None:
        """``POST /api/faults``: e.g. ``inject_fault(tok, kind="http", status=503, count=2)``."""
        body = dict(fault, robot=robot) if robot else dict(fault)
        reply = requests.post(f"{self.url}/api/faults", json=body, timeout=10)
        assert reply.status_code < 300, reply.text

    def faults(self) -> list[dict[str, Any]]:
        reply = requests.get(f"{self.url}/api/faults", timeout=10)
        return list(reply.json()["faults"])

    def orgs(self) -> dict[str, dict[str, Any]]:
        reply = requests.get(f"{self.url}/api/orgs", timeout=10)
        return {org["name"]: org for org in reply.json()["orgs"]}

    def wait_for_names(
        self, robot: str, names: Iterable[str], *, timeout: float
    ) -> list[dict[str, Any]]:
        """Wait until every one of ``names`` is in a delivered message; return them all."""
        wanted = set(names)
        seen: list[dict[str, Any]] = []

        def done() -> list[dict[str, Any]] | None:
            seen[:] = self.delivered(robot)
            return seen if not missing(seen, wanted) else None

        def details() -> str:
            gone = sorted(missing(seen, wanted))
            return (
                f"{len(gone)} of {len(wanted)} never arrived, e.g. {gone[:10]}; "
                f"{len(seen)} messages delivered, errcodes seen: "
                f"{sorted({m['errcode'] for m in self.messages(robot)})}"
            )

        return wait_until(done, timeout=timeout, what="every alert at the fake", details=details)


def shown_text(record: Mapping[str, Any]) -> str:
    """Everything readable in a logged message: its whole body as text."""
    return json.dumps(record.get("body"), ensure_ascii=False)


def missing(records: Iterable[Mapping[str, Any]], names: set[str]) -> set[str]:
    """The ``names`` no record shows."""
    text = "\n".join(shown_text(r) for r in records)
    return {name for name in names if name not in text}


def most_in_window(times: Sequence[float], window: float) -> int:
    """The most arrivals within any ``window`` seconds (a sliding window, as DingTalk may
    count: ``[t, t + window)``)."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


# -- the relay -----------------------------------------------------------------------------


@dataclass
class RelayRobot:
    """One robot of the relay's config, pointed at a fake's token."""

    name: str
    token: str
    rate_limit: str = "20/60s"
    lockout: str = "600s"
    org: str | None = None
    keywords: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class RelayProcess:
    """``python -m dingwire serve --config relay.toml`` with its outbox and budget in
    ``workdir`` (or where ``relay={"queue": ...}`` and ``budget_store`` say: several relays
    on one Redis); :meth:`restart` starts it again on the same port, outbox and budget."""

    def __init__(
        self,
        workdir: Path,
        fake: FakeProcess,
        robots: Iterable[RelayRobot],
        *,
        orgs: Mapping[str, str] | None = None,
        relay: Mapping[str, Any] | None = None,
        name: str = "relay",
        port: int | None = None,
        budget_store: str | None = None,
        budget: Mapping[str, Any] | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.outbox = workdir / "outbox.sqlite3"
        config = []
        for robot in robots:
            values: dict[str, Any] = {
                "webhook": fake.webhook(robot.token),
                "rate_limit": robot.rate_limit,
                "lockout": robot.lockout,
            }
            if robot.org:
                values["org"] = robot.org
            if robot.keywords:
                values["keywords"] = list(robot.keywords)
            values.update(robot.extra)
            config.append(toml_table(f"robots.{robot.name}", values))
        for org, quota in (orgs or {}).items():
            config.append(toml_table(f"orgs.{org}", {"quota": quota}))
        settings: dict[str, Any] = {
            "listen": f"127.0.0.1:{self.port}",
            "queue": f"sqlite:///{self.outbox}",  # an absolute path: sqlite:////tmp/...
            "lease": "5s",
        }
        settings.update(relay or {})
        config.append(toml_table("relay", settings))
        store = budget_store or f"sqlite:///{workdir / 'budget.sqlite3'}"
        config.append(toml_table("budget", {"store": store, **(budget or {})}))
        self.config = workdir / f"{name}.toml"
        self.config.write_text("\n".join(config), "utf-8")
        argv = [sys.executable, "-m", "dingwire", "serve", "--config", str(self.config)]
        env = python_env({"DINGWIRE_CACHE_DIR": str(workdir / "cache")})
        self.process = Process(name, argv, cwd=workdir, env=env)
        self.session = requests.Session()

    def start(self) -> RelayProcess:
        self.process.start()
        self.process.wait_http(f"{self.url}/readyz")
        return self

    def restart(self) -> RelayProcess:
        """A new process on the same config (port, outbox, budget store)."""
        self.process.stop()
        return self.start()

    def kill9(self) -> None:
        self.process.kill9()

    def stop(self) -> int | None:
        self.session.close()
        return self.process.stop()

    def post(
        self, path: str, payload: Any, *, session: requests.Session | None = None
    ) -> requests.Response:
        """POST ``payload`` as JSON to ``path`` (``/v1/robots/ops/alertmanager``)."""
        return (session or self.session).post(f"{self.url}{path}", json=payload, timeout=30)

    def record(self, message_id: str) -> dict[str, Any]:
        """``GET /v1/messages/{id}``."""
        reply = self.session.get(f"{self.url}/v1/messages/{message_id}", timeout=10)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    @property
    def pid(self) -> int:
        return self.process.pid

    def metrics(self) -> str:
        reply = self.session.get(f"{self.url}/metrics", timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.text

    def output(self) -> str:
        return self.process.output()


def metric_total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of metric ``name`` whose labels include ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != name:
                continue
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


# -- Alertmanager ----------------------------------------------------------------------------


class AlertmanagerProcess:
    """Debian's ``prometheus-alertmanager``, clustering off, sending every group to ``webhook``
    a second after it forms (and its resolution, ``send_resolved: true``)."""

    def __init__(
        self,
        workdir: Path,
        webhook: str,
        *,
        group_by: Sequence[str] = ("alertname",),
        bearer: str | None = None,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        home = workdir / f"alertmanager-{self.port}"
        home.mkdir(exist_ok=True)
        config = home / "alertmanager.yml"
        auth = ""
        if bearer is not None:  # as docs/relay.md says: the token in a file, not the config
            token = home / "dingwire-token"
            token.write_text(bearer, "utf-8")
            auth = (
                "        http_config:\n"
                "          authorization:\n"
                f"            credentials_file: {json.dumps(str(token))}\n"
            )
        config.write_text(
            "route:\n"
            "  receiver: relay\n"
            f"  group_by: {json.dumps(list(group_by))}\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            "receivers:\n"
            "  - name: relay\n"
            "    webhook_configs:\n"
            f"      - url: {json.dumps(webhook)}\n"
            "        send_resolved: true\n" + auth,
            "utf-8",
        )
        argv = [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # empty: no gossip, no port of its own
            "--log.level=info",
        ]
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.process = Process(f"alertmanager-{self.port}", argv, cwd=workdir, env=env)

    def start(self) -> AlertmanagerProcess:
        assert os.access(ALERTMANAGER, os.X_OK), f"{ALERTMANAGER}: run scripts/ensure-alertmanager"
        self.process.start()
        self.process.wait_http(f"{self.url}/-/ready")
        return self

    def stop(self) -> None:
        self.process.stop()

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """``POST /api/v2/alerts``: what Prometheus does every evaluation."""
        reply = requests.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=10)
        assert reply.status_code == 200, reply.text

    def alerts(self) -> list[dict[str, Any]]:
        reply = requests.get(f"{self.url}/api/v2/alerts", timeout=10)
        return list(reply.json())


def rfc3339(epoch: float) -> str:
    """An Alertmanager timestamp."""
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


# -- payloads ----------------------------------------------------------------------------------


def alert(
    name: str,
    *,
    status: str = "firing",
    severity: str = "warning",
    instance: str = "web-1:9100",
    summary: str | None = None,
    starts: float = 1_764_000_000.0,
    ends: float | None = None,
    extra_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One alert of an Alertmanager webhook payload (version 4)."""
    labels = {"alertname": name, "instance": instance, "job": "node", "severity": severity}
    labels.update(extra_labels or {})
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": summary or f"{name} on {instance}"},
        "startsAt": rfc3339(starts),
        "endsAt": rfc3339(ends) if ends is not None else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
        "fingerprint": hashlib.sha256(f"{name}\0{instance}".encode()).hexdigest()[:16],
    }


def notification(
    alerts: Sequence[Mapping[str, Any]],
    *,
    group: Mapping[str, str],
    receiver: str = "dingtalk-relay",
) -> dict[str, Any]:
    """An Alertmanager webhook payload carrying ``alerts``, grouped by ``group``."""
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common = dict(alerts[0]["labels"]) if alerts else {}
    for a in alerts[1:]:
        common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    key = ",".join(f'{k}="{v}"' for k, v in sorted(group.items()))
    return {
        "receiver": receiver,
        "status": status,
        "alerts": list(alerts),
        "groupLabels": dict(group),
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": "{}:{" + key + "}",
        "truncatedAlerts": 0,
    }


def post_all(
    relay: RelayProcess, path: str, payloads: Sequence[dict[str, Any]], posters: int
) -> list[str]:
    """Post every payload from ``posters`` concurrent clients; every answer must be 202.
    Returns the ids."""

    def post_share(share: Sequence[dict[str, Any]]) -> list[str]:
        with requests.Session() as session:
            ids = []
            for payload in share:
                reply = relay.post(path, payload, session=session)
                assert reply.status_code == 202, (reply.status_code, reply.text)
                ids.append(reply.json()["id"])
            return ids

    shares = [payloads[i::posters] for i in range(posters)]
    with ThreadPoolExecutor(posters) as pool:
        return [i for ids in pool.map(post_share, shares) for i in ids]
