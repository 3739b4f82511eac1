"""The relay process's parts without a process: the listen address, the URLs logged, build,
reload (POST /-/reload and SIGHUP's path), the command's missing-extra message."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dingwire.config import Config
from dingwire.core.errors import ConfigError
from dingwire.relay.metrics import RelayMetrics
from dingwire.relay.outbox import MemoryOutbox, Outbox
from dingwire.relay.serve import Service, build, intake_urls, parse_listen
from dingwire.relay.settings import RelaySettings

from .conftest import CONFIG, SECRET, TOKEN, StubDispatcher, StubRenderer, TestClient


@pytest.mark.parametrize(
    ("listen", "address"),
    [
        ("127.0.0.1:8060", ("127.0.0.1", 8060)),
        (" 127.0.0.1:0 ", ("127.0.0.1", 0)),
        ("[::1]:8060", ("::1", 8060)),
        (":8060", ("0.0.0.0", 8060)),
        ("localhost:65535", ("localhost", 65535)),
    ],
)
def test_listen_addresses(listen: str, address: tuple[str, int]) -> None:
    assert parse_listen(listen) == address


@pytest.mark.parametrize(
    ("listen", "reason"),
    [
        ("127.0.0.1", "is not an address with a port"),
        ("127.0.0.1:http", "is not an address with a port"),
        ("127.0.0.1:65536", "is not an address with a port"),
        ("::1:8060", "an IPv6 address goes in brackets"),
    ],
)
def test_bad_listen_addresses_say_how_to_write_one(listen: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as caught:
        parse_listen(listen)
    assert "[relay] listen" in caught.value.message
    assert '"127.0.0.1:8060"' in caught.value.message


def test_the_intake_urls_for_each_robot() -> None:
    lines = intake_urls("http://127.0.0.1:8060", ["ops"])
    assert lines == [
        "robot ops: Alertmanager webhook_configs url: http://127.0.0.1:8060/dingtalk/ops/send",
        "robot ops: Grafana webhook contact point URL: http://127.0.0.1:8060/v1/robots/ops/grafana",
        "robot ops: messages (curl -d '{\"text\": ...}'): http://127.0.0.1:8060/v1/robots/ops/messages",
    ]


class Parts:
    """The factories build() is given: stubs that remember what they were built from."""

    def __init__(self) -> None:
        self.renderers: list[StubRenderer] = []
        self.dispatcher = StubDispatcher()
        self.reconfigured = self.dispatcher.reconfigured
        self.outbox = MemoryOutbox()
        self.queues: list[str] = []

    def load_renderer(self, settings: RelaySettings, config: Config) -> StubRenderer:
        for file in [settings.template, *settings.templates.values()]:
            if file is not None:
                text = (Path(config.path).parent / file).read_text()  # type: ignore[arg-type]
                if "{%" in text and "%}" not in text:
                    raise ConfigError(f"{file}:1: unexpected end of template")
        renderer = StubRenderer()
        self.renderers.append(renderer)
        return renderer

    def make_dispatcher(
        self,
        settings: RelaySettings,
        config: Config,
        outbox: Outbox,
        metrics: RelayMetrics,
        renderer: object,
    ) -> StubDispatcher:
        assert renderer is self.renderers[-1]  # the dispatcher renders with the intake's
        return self.dispatcher

    def open_outbox(self, url: str) -> MemoryOutbox:
        self.queues.append(url)
        return self.outbox

    def build(self, path: Path) -> Service:
        return build(
            path,
            load_renderer=self.load_renderer,
            make_dispatcher=self.make_dispatcher,
            open_outbox=self.open_outbox,
        )


def write(path: Path, relay: str) -> Path:
    path.write_text(CONFIG + "\n[relay]\n" + relay, encoding="utf-8")
    return path


ALERT: dict[str, Any] = {"status": "firing", "alerts": []}


def test_build_wires_the_parts_from_the_config(tmp_path: Path) -> None:
    file = write(tmp_path / "dingwire.toml", 'queue = "memory://"\ntemplate = "t.j2"\n')
    (tmp_path / "t.j2").write_text("ok")
    parts = Parts()
    service = parts.build(file)
    assert parts.queues == ["memory://"]
    assert service.settings.template == "t.j2"
    with TestClient(service.app) as client:
        assert parts.dispatcher.started == 1
        answer = client.post("/dingtalk/ops/send", json=ALERT)
        assert answer.status_code == 202
        assert parts.outbox.get(answer.json()["id"]) is not None
    assert parts.dispatcher.stopped == [5.0]


def test_a_broken_template_stops_build_with_file_and_line(tmp_path: Path) -> None:
    file = write(tmp_path / "dingwire.toml", 'queue = "memory://"\ntemplate = "t.j2"\n')
    (tmp_path / "t.j2").write_text("{% if")
    parts = Parts()
    with pytest.raises(ConfigError, match=r"t\.j2:1: unexpected end of template"):
        parts.build(file)
    assert parts.queues == []  # checked before the outbox was opened


def test_reload_swaps_in_a_good_config_and_keeps_the_old_on_a_broken_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = write(tmp_path / "dingwire.toml", 'queue = "memory://"\ntemplate = "t.j2"\n')
    template = tmp_path / "t.j2"
    template.write_text("ok")
    parts = Parts()
    service = parts.build(file)
    with TestClient(service.app) as client:
        # A good change: a new token is required from now on.
        write(file, 'queue = "memory://"\ntemplate = "t.j2"\nauth_token = "fresh-token-123"\n')
        assert client.post("/-/reload").json() == {"reloaded": True}
        assert len(parts.renderers) == 2
        assert parts.reconfigured[-1][0].auth_token == "fresh-token-123"
        assert client.post("/dingtalk/ops/send", json=ALERT).status_code == 401
        auth = {"Authorization": "Bearer fresh-token-123"}
        assert client.post("/dingtalk/ops/send", json=ALERT, headers=auth).status_code == 202
        assert parts.renderers[1].calls  # the new renderer serves

        # A broken template: refused with its file and line, the old config stays.
        template.write_text("{% if")
        with caplog.at_level(logging.ERROR, "dingwire.relay.serve"):
            answer = client.post("/-/reload", headers=auth)
        assert answer.status_code == 400
        assert answer.json()["error"].startswith("t.j2:1: unexpected end of template")
        assert "t.j2:1" in caplog.text
        assert len(parts.reconfigured) == 1
        assert client.post("/dingtalk/ops/send", json=ALERT, headers=auth).status_code == 202
        assert len(parts.renderers[1].calls) == 2

        # A config file that no longer parses: the same.
        file.write_text("[relay\n")
        answer = client.post("/-/reload", headers=auth)
        assert answer.status_code == 400
        assert client.post("/dingtalk/ops/send", json=ALERT, headers=auth).status_code == 202


def test_a_changed_listen_or_queue_waits_for_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = write(tmp_path / "dingwire.toml", 'queue = "memory://"\n')
    parts = Parts()
    service = parts.build(file)
    write(file, 'queue = "sqlite:///x.sqlite3"\nlisten = "127.0.0.1:9999"\n')
    with caplog.at_level(logging.WARNING, "dingwire.relay.serve"):
        asyncio.run(service.reload())
    assert "[relay] listen changed: it takes effect when the relay restarts" in caplog.text
    assert "[relay] queue changed" in caplog.text
    assert parts.queues == ["memory://"]


def test_sighups_reload_logs_a_refusal_and_raises_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = write(tmp_path / "dingwire.toml", 'queue = "memory://"\ntemplate = "t.j2"\n')
    (tmp_path / "t.j2").write_text("ok")
    parts = Parts()
    service = parts.build(file)
    (tmp_path / "t.j2").write_text("{% if")

    async def hangup() -> None:
        service.reload_from_signal()
        assert service._reloading is not None
        await service._reloading

    with caplog.at_level(logging.ERROR, "dingwire.relay.serve"):
        asyncio.run(hangup())
    assert "reload refused, the previous configuration stays: t.j2:1" in caplog.text
    assert len(parts.renderers) == 1


def test_the_logs_mask_the_configs_secrets(tmp_path: Path) -> None:
    import io

    from dingwire.relay.logs import configure_logging

    file = write(tmp_path / "dingwire.toml", 'queue = "memory://"\nauth_token = "auth-secret-42"\n')
    stream = io.StringIO()
    masking = configure_logging("text", stream=stream)
    try:
        parts = Parts()
        build(
            file,
            load_renderer=parts.load_renderer,
            make_dispatcher=parts.make_dispatcher,
            open_outbox=parts.open_outbox,
            masking=masking,
        )
        logging.getLogger("dingwire.relay.test").warning(
            "token %s secret %s auth %s", TOKEN, SECRET, "auth-secret-42"
        )
    finally:
        configure_logging("text")  # the installed handler: back to stderr
    text = stream.getvalue()
    assert "token ********** secret ********** auth **********" in text
    for secret in (TOKEN, SECRET, "auth-secret-42"):
        assert secret not in text


def test_serve_without_the_relay_extra_says_what_to_install() -> None:
    script = (
        "import sys; sys.modules['starlette'] = None\n"
        "from dingwire.cli import main\n"
        "main(['serve'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert (
        "needs the relay extra (starlette is not installed): pip install 'dingwire[relay]'"
        in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_serve_without_any_config_says_to_pass_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file and no robot: an error before any port or outbox file, never a useless relay."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DINGWIRE_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "dingwire", "serve"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "no config file found" in done.stderr
    assert "pass --config FILE" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == [], "nothing was created"
