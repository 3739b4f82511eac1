"""``DingTalkHandler`` as applications set it up: ``dictConfig`` in a real process (flushed
at exit, not at the end of its window), a forked worker, and the hand-off to a relay."""

from __future__ import annotations

import http.server
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dingwire.fake import FakeServer
from dingwire.integrations.handler import DingTalkHandler

DICTCONFIG_SCRIPT = textwrap.dedent(
    """
    import logging, logging.config, sys

    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "dingtalk": {
                "class": "dingwire.integrations.handler.DingTalkHandler",
                "robot": "ops",              # a robot of $DINGWIRE_CONFIG
                "level": "ERROR",
                "window": "30s",             # longer than the test waits: exit flushes
                "title": "svc",
            },
            "direct": {
                "()": "dingwire.integrations.handler.DingTalkHandler",
                "robot": sys.argv[1],        # a webhook URL and its secret
                "secret": sys.argv[2],
                "level": "WARNING",
                "window": 30,
            },
        },
        "root": {"handlers": ["dingtalk"], "level": "INFO"},
        "loggers": {"jobs": {"handlers": ["direct"], "propagate": False}},
    })
    log = logging.getLogger("svc.db")
    log.info("an info record stays home")
    log.error("db down %s", 1)
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("division")
    logging.getLogger("jobs").warning("job %s is slow", "import")
    print("logged", flush=True)
    """
)


@pytest.mark.slow
def test_dictconfig_in_a_real_process_and_the_records_flushed_at_exit(
    dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    ops = dingtalk_fake.add_robot(secret=True)
    jobs = dingtalk_fake.add_robot(secret=True, keywords=["job"])
    config = tmp_path / "dingwire.toml"
    config.write_text(f'[robots.ops]\nwebhook = "{ops.webhook}"\nsecret = "{ops.secret}"\n')
    env = {**os.environ, "DINGWIRE_CONFIG": str(config)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", DICTCONFIG_SCRIPT, jobs.webhook, jobs.secret or ""],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "logged\n"
    assert "Logging error" not in done.stderr
    assert time.monotonic() - started < 20  # not the 30 s window: flushed at exit
    [record] = ops.delivered()
    text = record.text or ""
    assert record.title == "[ERROR ×2] svc: db down 1"
    assert "db down 1" in text
    assert "division" in text
    assert "ZeroDivisionError: division by zero" in text
    assert "an info record" not in text
    [job] = jobs.delivered()
    assert "job import is slow" in (job.text or "")


UVICORN_SCRIPT = textwrap.dedent(
    """
    import http.client, socket, sys, threading

    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Route
    from uvicorn.config import LOGGING_CONFIG

    async def broken(request):
        raise RuntimeError("the database went away")

    app = Starlette(routes=[Route("/", broken)])

    # docs/recipes.md, "FastAPI and uvicorn"
    config = {**LOGGING_CONFIG, "handlers": {**LOGGING_CONFIG["handlers"], "dingtalk": {
        "class": "dingwire.integrations.handler.DingTalkHandler",
        "robot": sys.argv[1], "level": "ERROR", "title": "api",
    }}}
    config["loggers"] = {**LOGGING_CONFIG["loggers"], "uvicorn.error": {
        "handlers": ["default", "dingtalk"], "level": "INFO", "propagate": False,
    }}

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=config, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    connection = http.client.HTTPConnection(*sock.getsockname(), timeout=10)
    connection.request("GET", "/")
    print(connection.getresponse().status, flush=True)
    server.should_exit = True
    thread.join(10)
    """
)


@pytest.mark.slow
def test_the_uvicorn_recipe_reports_an_exception_in_the_app(dingtalk_fake: FakeServer) -> None:
    ops = dingtalk_fake.add_robot()
    done = subprocess.run(
        [sys.executable, "-c", UVICORN_SCRIPT, ops.webhook],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("500\n")  # after the access log line
    [record] = ops.delivered()
    text = record.text or ""
    assert "Exception in ASGI application" in text
    assert "RuntimeError: the database went away" in text
    assert "uvicorn.error" in text


FORK_SCRIPT = textwrap.dedent(
    """
    import logging, os, sys
    from dingwire.integrations.handler import DingTalkHandler

    handler = DingTalkHandler(sys.argv[1], window=30)
    log = logging.getLogger("app")
    log.addHandler(handler)
    log.error("the parent's record")
    pid = os.fork()
    if pid == 0:
        log.error("the child's record")
        handler.close()
        os._exit(0)
    os.waitpid(pid, 0)
    handler.close()
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_a_forked_child_sends_its_own_records_and_not_its_parents(
    dingtalk_fake: FakeServer,
) -> None:
    ops = dingtalk_fake.add_robot()
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", FORK_SCRIPT, ops.webhook],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    texts = [r.text or "" for r in ops.delivered()]
    assert len(texts) == 2
    [child] = [t for t in texts if "the child's record" in t]
    assert "the parent's record" not in child  # the parent's queue stayed with the parent
    assert sum("the parent's record" in t for t in texts) == 1


# -- the relay ------------------------------------------------------------------------------


class _Relay(http.server.ThreadingHTTPServer):
    """A stand-in for ``dingwire serve``'s message intake: answers what it is told to."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RelayRequest)
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self.arrived = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"{len(self.received)} of {count} requests")


class _RelayRequest(http.server.BaseHTTPRequestHandler):
    server: _Relay

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status, reply = self.server.answers.pop(0) if self.server.answers else (202, {"id": "1"})
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)
        with self.server.arrived:
            self.server.received.append((self.path, dict(self.headers), body))
            self.server.arrived.notify_all()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def relay() -> Iterator[_Relay]:
    server = _Relay()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def app_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("h5relayapp")
    logger.propagate = False
    before = list(logger.handlers)
    yield logger
    for handler in [h for h in logger.handlers if h not in before]:
        logger.removeHandler(handler)
        handler.close()


def test_records_are_handed_to_the_relay_and_a_503_is_tried_again(
    relay: _Relay, app_logger: logging.Logger
) -> None:
    relay.answers = [(503, {"error": "the outbox is busy"})]
    handler = DingTalkHandler("ops", relay=relay.url, relay_token="t0ken", window=0.05)
    app_logger.addHandler(handler)
    app_logger.error("queue %s is stuck", "emails")
    relay.wait_for(2)
    handler.close()
    assert len(relay.received) == 2  # the 503, then the 202
    path, headers, body = relay.received[-1]
    assert path == "/v1/robots/ops/messages"
    assert headers["Authorization"] == "Bearer t0ken"
    assert set(body) == {"title", "markdown"}
    assert body["title"] == f"[ERROR] {handler.title}: queue emails is stuck"
    assert "queue emails is stuck" in body["markdown"]


def test_a_relay_that_refuses_the_digest_is_reported_and_not_retried(
    relay: _Relay, app_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    relay.answers = [(404, {"error": "unknown robot 'nope'"})]
    handler = DingTalkHandler("nope", relay=relay.url, window=0.05, timeout=2)
    app_logger.addHandler(handler)
    app_logger.error("lost")
    relay.wait_for(1)
    handler.close()
    assert len(relay.received) == 1
    err = capsys.readouterr().err
    assert "HTTP 404: unknown robot 'nope'" in err
    assert "t0ken" not in err
