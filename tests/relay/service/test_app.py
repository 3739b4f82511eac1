"""Every answer of the intake, as DESIGN.md gives them, on the app with stub backends."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from dingwire.core.errors import ConfigError
from dingwire.relay.model import Record

from .conftest import AUTH, SECRET, TOKEN, FailingOutbox, GatedOutbox, MakeRelay

ALERT = {
    "version": "4",
    "groupKey": '{}:{alertname="DiskFull"}',
    "status": "firing",
    "receiver": "dingwire",
    "groupLabels": {"alertname": "DiskFull"},
    "commonLabels": {"alertname": "DiskFull", "severity": "critical"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "truncatedAlerts": 0,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": "db-1:9100"},
            "annotations": {"summary": "Disk almost full on db-1"},
            "startsAt": "2026-11-29T11:21:24.249646014Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": "8c77d5865e910658",
        }
    ],
}

INTAKE = [
    ("/dingtalk/ops/send", "alertmanager", ALERT),
    ("/v1/robots/ops/alertmanager", "alertmanager", ALERT),
    ("/v1/robots/ops/grafana", "grafana", {**ALERT, "orgId": 1, "title": "t"}),
    ("/v1/robots/ops/messages", "messages", {"text": "hello"}),
]


def rejected(relay: Any, endpoint: str, status: int) -> float:
    value = relay.metrics.registry.get_sample_value(
        "dingwire_relay_rejected_total", {"endpoint": endpoint, "status": str(status)}
    )
    return value or 0.0


def received(relay: Any, endpoint: str) -> float:
    value = relay.metrics.registry.get_sample_value(
        "dingwire_relay_received_total", {"endpoint": endpoint}
    )
    return value or 0.0


# -- 202 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "endpoint", "payload"), INTAKE)
def test_a_payload_is_stored_then_answered_202_with_its_id(
    make_relay: MakeRelay, path: str, endpoint: str, payload: dict[str, Any]
) -> None:
    relay = make_relay()
    answer = relay.client.post(path, json=payload)
    assert answer.status_code == 202, answer.text
    assert answer.headers["content-type"] == "application/json"
    id = answer.json()["id"]
    assert set(answer.json()) == {"id"}
    record = relay.outbox.get(id)
    assert record is not None
    assert record.message.robot == "ops"
    assert record.message.source == endpoint
    assert record.message.received == 1_800_000_000.0
    assert relay.renderer.calls == [(endpoint, "ops", payload)]  # read once
    # An alert payload is kept as the JSON text it came in (rendered when sent).
    if endpoint != "messages":
        (raw,) = relay.renderer.raws
        assert raw is not None
        assert json.loads(raw) == payload
    assert relay.dispatcher.woken == ["ops"]
    assert received(relay, endpoint) == 1


def test_an_alert_payload_in_utf16_is_kept_as_utf8_json(make_relay: MakeRelay) -> None:
    relay = make_relay()
    text = json.dumps(ALERT, ensure_ascii=False)
    answer = relay.client.post(
        "/dingtalk/ops/send",
        content=text.encode("utf-16"),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 202, answer.text
    (raw,) = relay.renderer.raws
    assert raw is not None
    assert json.loads(raw) == ALERT


def test_the_answer_waits_for_the_enqueue_to_return(make_relay: MakeRelay) -> None:
    outbox = GatedOutbox()
    relay = make_relay(outbox=outbox)
    answers: list[Any] = []
    poster = threading.Thread(
        target=lambda: answers.append(relay.client.post("/dingtalk/ops/send", json=ALERT))
    )
    poster.start()
    try:
        assert outbox.entered.wait(10)
        poster.join(0.3)
        assert poster.is_alive()  # no answer while the commit is pending
        assert not answers
        assert relay.dispatcher.woken == []  # nor a wake for what is not stored yet
    finally:
        outbox.gate.set()
        poster.join(10)
    assert outbox.returned.is_set()
    assert answers[0].status_code == 202
    assert outbox.get(answers[0].json()["id"]) is not None
    assert relay.dispatcher.woken == ["ops"]


def test_the_same_notification_again_answers_the_first_id(make_relay: MakeRelay) -> None:
    relay = make_relay()
    first = relay.client.post("/dingtalk/ops/send", json=ALERT).json()
    again = relay.client.post("/v1/robots/ops/alertmanager", json=ALERT)
    assert again.status_code == 202
    assert again.json() == {"id": first["id"], "duplicate": True}
    assert sum(relay.outbox.counts()["ops"].values()) == 1


def test_a_body_at_max_body_is_taken(make_relay: MakeRelay) -> None:
    relay = make_relay('max_body = "1KiB"')
    body = json.dumps({"text": "x"}).encode()
    body = body[:-1] + b" " * (1024 - len(body)) + b"}"
    assert len(body) == 1024
    assert relay.client.post("/v1/robots/ops/messages", content=body).status_code == 202


# -- 400 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the body is not JSON: Expecting value at line 1 column 1"),
        (b"{", "the body is not JSON: Expecting property name enclosed in double quotes"),
        (b'{"text": NaN}', "the body is not JSON: NaN is not a JSON number"),
        (b'{"text": Infinity}', "the body is not JSON: Infinity is not a JSON number"),
        (b"\xff\xfe\xfd", "the body is not JSON: it is not UTF-8 text"),
        (b"[1, 2]", "the body must be a JSON object, got an array"),
        (b'"text"', "the body must be a JSON object, got a str"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400_with_the_reason(
    make_relay: MakeRelay, body: bytes, reason: str
) -> None:
    relay = make_relay()
    answer = relay.client.post("/v1/robots/ops/messages", content=body)
    assert answer.status_code == 400
    assert reason in answer.json()["error"]
    assert relay.outbox.counts() == {}
    assert relay.renderer.calls == []
    assert rejected(relay, "messages", 400) == 1


@pytest.mark.parametrize(("path", "endpoint", "payload"), INTAKE)
def test_a_payload_the_renderer_refuses_is_400_with_its_reason(
    make_relay: MakeRelay, path: str, endpoint: str, payload: dict[str, Any]
) -> None:
    relay = make_relay()
    answer = relay.client.post(path, json={"alerts": {"not": "a list"}})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(("alerts: expected an array", "expected a DingTalk"))
    assert relay.outbox.counts() == {}
    assert relay.dispatcher.woken == []
    assert rejected(relay, endpoint, 400) == 1


# -- 401 ---------------------------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer wrong",
        f"Bearer {AUTH}x",
        f"Token {AUTH}",
        _basic(AUTH, "x"),
        "Basic !!!",
    ],
)
def test_without_the_token_it_is_401_with_www_authenticate(
    make_relay: MakeRelay, header: str | None
) -> None:
    relay = make_relay(f'auth_token = "{AUTH}"')
    headers = {"Authorization": header} if header else {}
    for path, _, payload in INTAKE:
        answer = relay.client.post(path, json=payload, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert AUTH not in answer.text
    assert relay.client.get("/v1/messages/x", headers=headers).status_code == 401
    assert relay.client.post("/-/reload", headers=headers).status_code == 401
    assert relay.outbox.counts() == {}
    assert relay.renderer.calls == []
    assert rejected(relay, "alertmanager", 401) == 2


@pytest.mark.parametrize("header", [f"Bearer {AUTH}", f"bearer  {AUTH} ", _basic("am", AUTH)])
def test_with_the_token_it_is_taken(make_relay: MakeRelay, header: str) -> None:
    relay = make_relay(f'auth_token = "{AUTH}"')
    answer = relay.client.post("/dingtalk/ops/send", json=ALERT, headers={"Authorization": header})
    assert answer.status_code == 202


def test_health_and_metrics_need_no_token(make_relay: MakeRelay) -> None:
    relay = make_relay(f'auth_token = "{AUTH}"')
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert relay.client.get(path).status_code == 200, path


def test_the_token_is_compared_in_constant_time(
    make_relay: MakeRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hmac

    from dingwire.relay import app as app_module

    compared: list[tuple[bytes, bytes]] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(app_module, "hmac", SimpleNamespace(compare_digest=compare_digest))
    relay = make_relay(f'auth_token = "{AUTH}"')
    relay.client.post("/dingtalk/ops/send", json=ALERT, headers={"Authorization": "Bearer x"})
    relay.client.post("/dingtalk/ops/send", json=ALERT)
    # Always a comparison of two equal-length digests, whatever was (or was not) presented.
    assert len(compared) == 2
    assert all(len(a) == len(b) == 32 for a, b in compared)


# -- 404 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/dingtalk/nobody/send",
        "/v1/robots/nobody/alertmanager",
        "/v1/robots/nobody/grafana",
        "/v1/robots/nobody/messages",
    ],
)
def test_an_unknown_robot_is_404_naming_the_configured_ones(
    make_relay: MakeRelay, path: str
) -> None:
    relay = make_relay()
    answer = relay.client.post(path, json=ALERT)
    assert answer.status_code == 404
    assert answer.json()["error"] == (
        "no robot named 'nobody' in the relay's config (configured: broken, dev, ops)"
    )
    assert relay.renderer.calls == []
    assert relay.outbox.counts() == {}


def test_an_unknown_path_or_method_answers_json(make_relay: MakeRelay) -> None:
    relay = make_relay()
    assert relay.client.get("/nowhere").status_code == 404
    assert "error" in relay.client.get("/nowhere").json()
    answer = relay.client.get("/dingtalk/ops/send")
    assert answer.status_code == 405
    assert "error" in answer.json()


# -- 413 ---------------------------------------------------------------------------------


def test_a_body_over_max_body_is_413_by_content_length(make_relay: MakeRelay) -> None:
    relay = make_relay('max_body = "1KiB"')
    answer = relay.client.post("/v1/robots/ops/messages", content=b"{" + b" " * 1024)
    assert answer.status_code == 413
    assert answer.json()["error"] == "the body is over this relay's max_body of 1 KiB"
    assert answer.headers["connection"] == "close"
    assert relay.renderer.calls == []
    assert rejected(relay, "messages", 413) == 1


def _asgi_post(
    app: Any, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[int, int, bytes]:
    """POST ``chunks`` as a streamed (chunked) body straight to the ASGI app: the status,
    how many chunks the app asked for, and the answer's body."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if asked > len(chunks):
            await asyncio.sleep(3600)
        return {"type": "http.request", "body": chunks[asked - 1], "more_body": asked < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8060),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, asked, body


def test_a_chunked_body_is_413_as_soon_as_it_passes_max_body(make_relay: MakeRelay) -> None:
    relay = make_relay('max_body = "1KiB"')
    chunks = [b"{" + b" " * 299] + [b" " * 300] * 100
    status, asked, body = _asgi_post(
        relay.app, "/dingtalk/ops/send", chunks, [(b"transfer-encoding", b"chunked")]
    )
    assert status == 413
    assert asked == 4  # 1,200 bytes: the fourth chunk passed the limit; the rest is never read
    assert b"max_body of 1 KiB" in body
    assert relay.renderer.calls == []


def test_a_declared_length_over_max_body_is_413_before_a_byte_is_read(
    make_relay: MakeRelay,
) -> None:
    relay = make_relay('max_body = "1KiB"')
    chunks = [b"{" + b" " * 1024]
    status, asked, _ = _asgi_post(
        relay.app, "/dingtalk/ops/send", chunks, [(b"content-length", b"1025")]
    )
    assert status == 413
    assert asked == 0


def test_a_chunked_body_within_max_body_is_taken(make_relay: MakeRelay) -> None:
    relay = make_relay('max_body = "1KiB"')
    payload = json.dumps(ALERT).encode()
    chunks = [payload[i : i + 100] for i in range(0, len(payload), 100)]
    status, asked, body = _asgi_post(relay.app, "/dingtalk/ops/send", chunks, [])
    assert status == 202
    assert asked == len(chunks)
    assert relay.outbox.get(json.loads(body)["id"]) is not None


# -- 503 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "endpoint", "payload"), INTAKE)
def test_an_outbox_that_cannot_store_is_503_with_retry_after(
    make_relay: MakeRelay, path: str, endpoint: str, payload: dict[str, Any]
) -> None:
    relay = make_relay(outbox=FailingOutbox(retry_after=7.2))
    answer = relay.client.post(path, json=payload)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "8"
    assert "database is locked" in answer.json()["error"]
    assert relay.dispatcher.woken == []
    assert rejected(relay, endpoint, 503) == 1
    assert received(relay, endpoint) == 0


def test_while_draining_every_intake_is_503_and_nothing_is_rendered(make_relay: MakeRelay) -> None:
    relay = make_relay()
    relay.app.state.intake.draining = True
    for path, _, payload in INTAKE:
        answer = relay.client.post(path, json=payload)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "10"
        assert "shutting down" in answer.json()["error"]
    assert relay.renderer.calls == []
    assert relay.outbox.counts() == {}
    assert relay.client.get("/readyz").status_code == 503


def test_a_robot_with_a_broken_table_is_503_not_a_final_4xx(make_relay: MakeRelay) -> None:
    relay = make_relay()
    answer = relay.client.post("/dingtalk/broken/send", json=ALERT)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "30"
    assert "nowhere" in answer.json()["error"]
    assert "broken-token-0000" not in answer.text
    assert relay.outbox.counts() == {}


def test_a_renderer_bug_is_a_5xx_so_the_sender_retries(make_relay: MakeRelay) -> None:
    relay = make_relay()

    def broken(robot: str, data: Any, *, now: float) -> Any:
        raise KeyError("a bug")

    relay.renderer.alertmanager = broken  # type: ignore[method-assign]
    answer = relay.client.post("/dingtalk/ops/send", json=ALERT)
    assert answer.status_code == 500
    assert relay.outbox.counts() == {}


# -- GET /v1/messages/{id} -----------------------------------------------------------------


def test_a_stored_message_can_be_looked_up(make_relay: MakeRelay) -> None:
    relay = make_relay()
    id = relay.client.post("/v1/robots/ops/messages", json={"text": "hi"}).json()["id"]
    answer = relay.client.get(f"/v1/messages/{id}")
    assert answer.status_code == 200
    data = answer.json()
    assert data["id"] == id
    assert data["state"] == "queued"
    assert data["robot"] == "ops"
    assert data["attempts"] == 0
    assert data["received"] == 1_800_000_000.0
    assert data["reply"] is None
    assert data["digest"] is None


def test_a_looked_up_message_shows_no_secret(make_relay: MakeRelay) -> None:
    relay = make_relay()
    id = relay.client.post("/v1/robots/ops/messages", json={"text": "hi"}).json()["id"]
    claimed = relay.outbox.claim("ops", now=1_800_000_001.0, owner="t", lease=30, limit=1)
    url = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}&sign=abc"
    relay.outbox.nack(
        [claimed[0].id],
        owner="t",
        now=1_800_000_002.0,
        retry_at=1_800_000_010.0,
        error=f"cannot connect to {url} (secret {SECRET})",
        reply={"error": f"POST {url}"},
    )
    answer = relay.client.get(f"/v1/messages/{id}")
    data = answer.json()
    assert data["state"] == "retrying"
    assert data["attempts"] == 1
    assert "cannot connect" in data["error"]
    assert TOKEN not in answer.text
    assert SECRET not in answer.text


def test_an_unknown_message_is_404(make_relay: MakeRelay) -> None:
    relay = make_relay()
    assert relay.client.get("/v1/messages/nothing-like-it").status_code == 404
    assert relay.client.get("/v1/messages/" + "x" * 1000).status_code == 404


def test_a_lookup_the_outbox_cannot_answer_is_503(make_relay: MakeRelay) -> None:
    relay = make_relay(outbox=FailingOutbox())
    answer = relay.client.get("/v1/messages/abc")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "7"


# -- health, readiness, metrics ------------------------------------------------------------


def test_healthz_answers(make_relay: MakeRelay) -> None:
    relay = make_relay()
    assert relay.client.get("/healthz").json() == {"status": "ok"}


def test_readyz_needs_a_writable_outbox_and_a_live_dispatcher(make_relay: MakeRelay) -> None:
    relay = make_relay()
    assert relay.client.get("/readyz").json() == {"ready": True}
    relay.dispatcher.alive = False
    answer = relay.client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["problems"] == ["the dispatcher is not running"]
    failing = make_relay(outbox=FailingOutbox())
    answer = failing.client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["problems"] == ["the outbox cannot store: disk I/O error"]


def test_metrics_show_what_came_in_and_what_is_queued(make_relay: MakeRelay) -> None:
    relay = make_relay()
    relay.client.post("/dingtalk/ops/send", json=ALERT)
    relay.client.post("/dingtalk/nobody/send", json=ALERT)
    answer = relay.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    assert 'dingwire_relay_received_total{endpoint="alertmanager"} 1.0' in text
    assert 'dingwire_relay_rejected_total{endpoint="alertmanager",status="404"} 1.0' in text
    assert 'dingwire_relay_queued{robot="ops",state="queued"} 1.0' in text


# -- the lifespan and reload ---------------------------------------------------------------


def test_the_lifespan_starts_and_stops_the_dispatcher(make_relay: MakeRelay) -> None:
    relay = make_relay()
    assert relay.dispatcher.started == 1
    assert relay.dispatcher.stopped == []
    relay.client.__exit__(None, None, None)
    assert relay.dispatcher.stopped == [5.0]
    assert relay.app.state.intake.draining


def test_reload_runs_the_reload_and_reports_a_refusal(make_relay: MakeRelay) -> None:
    calls: list[int] = []

    async def reload() -> None:
        calls.append(1)
        if len(calls) > 1:
            raise ConfigError(f"template.j2:3: unexpected '}}' (token {TOKEN})")

    relay = make_relay(reload=reload)
    assert relay.client.post("/-/reload").json() == {"reloaded": True}
    answer = relay.client.post("/-/reload")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error.startswith("template.j2:3: unexpected '}'")
    assert error.endswith("the previous configuration stays")
    assert TOKEN not in error
    assert calls == [1, 1]


def test_reload_without_a_config_file_is_404(make_relay: MakeRelay) -> None:
    relay = make_relay()
    assert relay.client.post("/-/reload").status_code == 404


def test_reconfigure_serves_the_new_robots_and_token(make_relay: MakeRelay) -> None:
    from .conftest import make_config

    relay = make_relay()
    intake = relay.app.state.intake
    assert relay.client.post("/dingtalk/ops/send", json=ALERT).status_code == 202
    config = make_config(relay.config.path.parent, f'auth_token = "{AUTH}"')  # type: ignore[union-attr]
    from dingwire.relay.settings import RelaySettings

    intake.reconfigure(RelaySettings.from_config(config), config, relay.renderer)
    assert relay.client.post("/dingtalk/ops/send", json=ALERT).status_code == 401
    document = relay.client.get("/openapi.json").json()
    assert document["security"] == [{"bearer": []}]


def test_record_json_lists_every_documented_field() -> None:
    from dingwire.relay.app import record_json
    from dingwire.relay.model import DigestLine, Outgoing
    from dingwire.relay.openapi import openapi_document

    message = Outgoing("ops", {"msgtype": "text"}, "text", (DigestLine("", "x", "x"),))
    data = record_json(Record("1", message, "sent", attempts=2, digest="d", digest_size=3))
    documented = openapi_document()["components"]["schemas"]["Record"]["properties"]
    assert set(data) == set(documented)
