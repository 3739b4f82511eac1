"""The fake over HTTP: its JSON API, the live feed, the page's files, and no secret anywhere."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any
from urllib.parse import quote

import pytest
import requests

import dingwire
from dingwire.core.signing import sign
from dingwire.fake import FakeServer, Fault
from tests.fake.conftest import strict_json

TIMEOUT = 10


def api(server: FakeServer, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, server.url + path, json=body, timeout=TIMEOUT)


def test_dingtalks_endpoint_answers_http_200_with_json(dingtalk_fake: FakeServer) -> None:
    get = requests.get(dingtalk_fake.webhook("t"), timeout=TIMEOUT)
    assert get.status_code == 200
    assert get.headers["content-type"] == "application/json;charset=utf-8"
    assert get.json() == {"errcode": 43002, "errmsg": "需要POST请求"}
    assert "date" in get.headers  # robots read DingTalk's clock from it
    form = requests.post(dingtalk_fake.webhook("t"), data={"a": "b"}, timeout=TIMEOUT)
    assert form.json()["errcode"] == 43004


def test_messages_api(dingtalk_fake: FakeServer) -> None:
    ops = dingtalk_fake.add_robot("ops-token-0001", name="ops")
    dev = dingtalk_fake.add_robot("dev-token-0002")
    ops.client().send(dingwire.Text("one"))
    dev.client().send(dingwire.Text("two"))
    data = api(dingtalk_fake, "GET", "/api/messages").json()
    assert [m["body"]["text"]["content"] for m in data["messages"]] == ["one", "two"]
    assert data["last_id"] == data["messages"][-1]["id"]
    first = data["messages"][0]
    assert set(first) == {
        "id",
        "time",
        "robot",
        "robot_id",
        "path",
        "query",
        "client",
        "body",
        "raw",
        "size",
        "status",
        "errcode",
        "errmsg",
        "fault",
    }
    assert (first["robot"], first["errcode"], first["errmsg"]) == ("ops", 0, "ok")
    for robot in ("ops", "ops-token-0001", first["robot_id"]):
        filtered = api(dingtalk_fake, "GET", f"/api/messages?robot={robot}").json()["messages"]
        assert [m["id"] for m in filtered] == [first["id"]]
    after = api(dingtalk_fake, "GET", f"/api/messages?after={first['id']}").json()["messages"]
    assert [m["body"]["text"]["content"] for m in after] == ["two"]
    assert api(dingtalk_fake, "DELETE", "/api/messages?robot=ops").json() == {"cleared": True}
    left = api(dingtalk_fake, "GET", "/api/messages").json()["messages"]
    assert [m["body"]["text"]["content"] for m in left] == ["two"]
    api(dingtalk_fake, "DELETE", "/api/messages")
    assert api(dingtalk_fake, "GET", "/api/messages").json()["messages"] == []


def test_robots_api(dingtalk_fake: FakeServer) -> None:
    secret = "SEC" + "5" * 64
    made = api(
        dingtalk_fake,
        "POST",
        "/api/robots",
        {"token": "tok-from-api", "secret": secret, "keywords": ["告警"], "rate_limit": "5/1s"},
    )
    assert made.status_code == 201
    assert made.json()["robot"]["signed"] is True
    listed = api(dingtalk_fake, "GET", "/api/robots")
    assert secret not in listed.text
    assert "tok-from-api" not in listed.text
    (robot,) = listed.json()["robots"]
    assert robot["keywords"] == ["告警"]
    assert robot["rate_limit"] == "5/1s"
    assert robot["configured"] is True
    sender = dingtalk_fake.client("tok-from-api", secret)
    assert sender.send(dingwire.Text("告警 from the API")).errcode == 0
    bad = api(dingtalk_fake, "POST", "/api/robots", {"token": "x", "rate_limit": "fast"})
    assert bad.status_code == 400
    assert "not a rate" in bad.json()["error"]
    assert api(dingtalk_fake, "POST", "/api/robots", {"secret": "x"}).status_code == 400
    assert api(dingtalk_fake, "DELETE", "/api/robots/tok-from-api").status_code == 200
    assert api(dingtalk_fake, "DELETE", "/api/robots/tok-from-api").status_code == 404


def test_faults_api(dingtalk_fake: FakeServer) -> None:
    ops = dingtalk_fake.add_robot("ops-token", name="ops")
    made = api(
        dingtalk_fake, "POST", "/api/faults", {"robot": "ops-token", "kind": "http", "count": 2}
    )
    assert made.status_code == 201
    assert made.json() == {"fault": {"kind": "http", "count": 2, "status": 503}}
    api(dingtalk_fake, "POST", "/api/faults", {"kind": "errcode", "errcode": -1})
    pending = api(dingtalk_fake, "GET", "/api/faults").json()["faults"]
    assert pending == [
        {"robot": "ops", "kind": "http", "count": 2, "status": 503, "remaining": 2},
        {"robot": None, "kind": "errcode", "count": 1, "errcode": -1, "remaining": 1},
    ]
    webhook = ops.webhook
    post = {"json": {"msgtype": "text", "text": {"content": "x"}}, "timeout": TIMEOUT}
    assert requests.post(webhook, **post).status_code == 503  # type: ignore[arg-type]
    assert requests.post(webhook, **post).status_code == 503  # type: ignore[arg-type]
    assert requests.post(webhook, **post).json()["errcode"] == -1  # type: ignore[arg-type]
    assert requests.post(webhook, **post).json()["errcode"] == 0  # type: ignore[arg-type]
    api(dingtalk_fake, "POST", "/api/faults", {"kind": "slow", "delay": 5})
    assert api(dingtalk_fake, "DELETE", "/api/faults").json() == {"cleared": True}
    assert api(dingtalk_fake, "GET", "/api/faults").json() == {"faults": []}
    for bad in ({"kind": "boom"}, {"kind": "slow"}, [1], {"kind": "http", "robot": 5}):
        assert api(dingtalk_fake, "POST", "/api/faults", bad).status_code == 400
    not_json = requests.post(dingtalk_fake.url + "/api/faults", data="{", timeout=TIMEOUT)
    assert not_json.status_code == 400


def test_sessions_api(dingtalk_fake: FakeServer) -> None:
    dingtalk_fake.add_robot("ops-token", name="ops")
    made = api(dingtalk_fake, "POST", "/api/sessions", {"robot": "ops-token", "ttl": 30})
    assert made.status_code == 201
    session = made.json()
    assert session["webhook"].startswith(dingtalk_fake.url + "/robot/sendBySession?session=")
    assert session["sessionWebhookExpiredTime"] == pytest.approx(
        (time.time() + 30) * 1000, abs=5000
    )
    message = {"msgtype": "text", "text": {"content": "reply"}}
    sent = requests.post(session["webhook"], json=message, timeout=TIMEOUT)
    assert sent.json() == {"errcode": 0, "errmsg": "ok"}
    assert dingtalk_fake.messages("ops")[-1].text == "reply"
    assert api(dingtalk_fake, "POST", "/api/sessions").status_code == 201  # no robot, default ttl
    assert api(dingtalk_fake, "POST", "/api/sessions", {"ttl": "soon"}).status_code == 400


def test_reset_api(dingtalk_fake: FakeServer) -> None:
    dingtalk_fake.add_robot("ops-token")
    dingtalk_fake.client("ops-token").send(dingwire.Text("x"))
    assert api(dingtalk_fake, "POST", "/api/reset").json() == {"reset": True}
    assert dingtalk_fake.messages() == []
    assert dingtalk_fake.fake.robots() == []


def test_the_page_and_its_files(dingtalk_fake: FakeServer) -> None:
    page = requests.get(dingtalk_fake.url + "/", timeout=TIMEOUT)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/fake.js"' in page.text
    for name, kind in [("fake.js", "text/javascript"), ("fake.css", "text/css")]:
        file = requests.get(f"{dingtalk_fake.url}/static/{name}", timeout=TIMEOUT)
        assert file.status_code == 200
        assert file.headers["content-type"].startswith(kind)
    assert requests.get(dingtalk_fake.url + "/static/nope.js", timeout=TIMEOUT).status_code == 404
    assert requests.get(dingtalk_fake.url + "/healthz", timeout=TIMEOUT).text == "ok"


def test_the_live_feed_sends_each_new_record(dingtalk_fake: FakeServer) -> None:
    ops = dingtalk_fake.add_robot("ops-token", name="ops")
    ops.client().send(dingwire.Text("before"))
    events: list[tuple[str, Any]] = []
    opened = threading.Event()
    two_records = threading.Event()

    def listen() -> None:
        with requests.get(
            dingtalk_fake.url + "/api/events?after=0", stream=True, timeout=TIMEOUT
        ) as feed:
            assert feed.headers["content-type"].startswith("text/event-stream")
            opened.set()
            kind = None
            for line in feed.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind:
                    events.append((kind, json.loads(line[6:])))
                    if len(events) == 2:
                        two_records.set()
                    if len(events) == 3:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(TIMEOUT)
    ops.client().send(dingwire.Text("after"))
    # Cleared before the feed sent it, a record is simply gone (the page reloads): wait.
    assert two_records.wait(TIMEOUT)
    dingtalk_fake.clear()
    listener.join(TIMEOUT)
    assert not listener.is_alive()
    assert [(k, d.get("body", {}).get("text", {}).get("content")) for k, d in events] == [
        ("record", "before"),
        ("record", "after"),
        ("clear", None),
    ]


def test_a_dropped_connection_sends_no_byte(dingtalk_fake: FakeServer) -> None:
    dingtalk_fake.inject_fault(Fault.drop())
    body = b'{"msgtype":"text","text":{"content":"x"}}'
    request = (
        b"POST /robot/send?access_token=t HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection(("127.0.0.1", dingtalk_fake.port), timeout=TIMEOUT) as conn:
        conn.sendall(request)
        assert conn.recv(1024) == b""


def test_keep_alive_connections_are_reused(dingtalk_fake: FakeServer) -> None:
    with requests.Session() as session:
        for _ in range(3):
            reply = session.post(
                dingtalk_fake.webhook("t"),
                json={"msgtype": "text", "text": {"content": "x"}},
                timeout=TIMEOUT,
            )
            assert reply.json()["errcode"] == 0
    assert {m.client for m in dingtalk_fake.messages()} == {"127.0.0.1"}


# -- never a 500, never invalid JSON ------------------------------------------------------


def served(server: FakeServer, path: str) -> Any:
    """GET ``path`` and read it as a strict parser would (fails the test otherwise)."""
    reply = requests.get(server.url + path, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text[:300]
    return strict_json(reply.content)


def post_raw(server: FakeServer, url: str, data: bytes) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    return requests.post(url, data=data, headers=headers, timeout=TIMEOUT)


def test_a_lone_surrogate_is_shown_and_the_live_feed_lives_on(dingtalk_fake: FakeServer) -> None:
    webhook = dingtalk_fake.webhook("t")
    lone = post_raw(dingtalk_fake, webhook, b'{"msgtype":"text","text":{"content":"a\\ud800b"}}')
    assert lone.json() == {"errcode": 0, "errmsg": "ok"}  # DingTalk takes it: valid JSON syntax
    assert dingtalk_fake.messages()[-1].text == "a\ufffdb"
    (shown,) = served(dingtalk_fake, "/api/messages")["messages"]
    assert shown["body"]["text"]["content"] == "a\ufffdb"
    with requests.get(
        dingtalk_fake.url + "/api/events?after=0", stream=True, timeout=TIMEOUT
    ) as feed:
        lines = feed.iter_lines()
        records = []
        for line in lines:
            if line.startswith(b"data: "):
                records.append(strict_json(line[6:]))
                if len(records) == 1:  # the feed is alive: a new message comes through
                    dingtalk_fake.client("t").send(dingwire.Text("after"))
                else:
                    break
    assert [r["body"]["text"]["content"] for r in records] == ["a\ufffdb", "after"]


def test_nan_in_a_body_is_not_json(dingtalk_fake: FakeServer) -> None:
    webhook = dingtalk_fake.webhook("t")
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        raw = b'{"msgtype":"text","text":{"content":"x"},"n":%s}' % constant
        assert post_raw(dingtalk_fake, webhook, raw).json()["errcode"] == 40035
    huge = post_raw(dingtalk_fake, webhook, b'{"msgtype":"text","text":{"content":"x"},"n":1e400}')
    assert huge.json()["errcode"] == 0  # valid JSON: kept, its number as its text
    messages = served(dingtalk_fake, "/api/messages")["messages"]
    assert [m["errcode"] for m in messages] == [40035, 40035, 40035, 0]
    assert messages[0]["body"] is None
    assert messages[0]["raw"].endswith('"n":NaN}')
    assert messages[-1]["body"]["n"] == "1e400"


@pytest.mark.parametrize("timestamp", ["%C2%B2", "%D9%A3", "%EF%BC%91", "1%E2%81%B0"])
def test_a_timestamp_of_unicode_digits_is_an_invalid_timestamp(
    dingtalk_fake: FakeServer, timestamp: str
) -> None:
    ops = dingtalk_fake.add_robot(secret=True)
    reply = post_raw(dingtalk_fake, f"{ops.webhook}&timestamp={timestamp}&sign=x", b"{}")
    assert reply.status_code == 200
    assert reply.json()["errcode"] == 310000
    assert "签名过期" in reply.json()["errmsg"]  # invalid timestamp
    served(dingtalk_fake, "/api/messages")


@pytest.mark.parametrize(
    ("ttl", "says"),
    [
        (b"1e308", "ttl: 1e+308 is more than the 30d allowed"),
        (b"2592001", "ttl: 2592001 is more than the 30d allowed"),
        (b'"31d"', "ttl: '31d' is more than the 30d allowed"),
        (b"1" + b"0" * 400, "ttl: must be a finite number of seconds, got 1000"),
        (b"-1", "ttl: must not be negative, got -1"),
        (b"0", "ttl: must be more than zero, got 0"),
        (b"true", "ttl: expected a duration such as '5s' or a number of seconds, got True"),
        (b"[5]", "got [5]"),
        (b'"soon"', "ttl: 'soon' is not a duration"),
        (b"1e400", "ttl: '1e400' is not a duration"),  # too large to hold: kept as its text
        (b"NaN", "the body is not JSON: NaN is not a JSON number"),
        (b"Infinity", "the body is not JSON: Infinity is not a JSON number"),
    ],
)
def test_a_session_ttl_that_makes_no_sense_is_a_400(
    dingtalk_fake: FakeServer, ttl: bytes, says: str
) -> None:
    reply = post_raw(dingtalk_fake, dingtalk_fake.url + "/api/sessions", b'{"ttl": %s}' % ttl)
    assert reply.status_code == 400, reply.text
    assert says in strict_json(reply.content)["error"]
    for fine in (b"2592000", b'"90m"'):
        made = post_raw(dingtalk_fake, dingtalk_fake.url + "/api/sessions", b'{"ttl": %s}' % fine)
        assert made.status_code == 201
        assert strict_json(made.content)["sessionWebhookExpiredTime"] > 0


@pytest.mark.parametrize(
    ("lockout", "says"),
    [
        (b"NaN", "not JSON: NaN"),
        (b"Infinity", "not JSON: Infinity"),
        (b"1e308", "lockout"),
        (b"-1", "lockout"),
        (b'"-5s"', "lockout"),
        (b"86401", "lockout"),
        (b'"2d"', "lockout"),
    ],
)
def test_a_lockout_that_makes_no_sense_is_a_400_and_never_stored(
    dingtalk_fake: FakeServer, lockout: bytes, says: str
) -> None:
    raw = b'{"token": "t", "lockout": %s}' % lockout
    reply = post_raw(dingtalk_fake, dingtalk_fake.url + "/api/robots", raw)
    assert reply.status_code == 400, reply.text
    assert says in strict_json(reply.content)["error"]
    assert served(dingtalk_fake, "/api/robots") == {"robots": []}


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/robots", b'{"token": "\\ud800"}'),
        ("/api/robots", b'{"token": "t", "name": "a\\udfffb"}'),
        ("/api/robots", b'{"token": "t", "secret": "SEC\\ud800"}'),
        ("/api/robots", b'{"token": "t", "keywords": ["\\ud800"]}'),
        ("/api/orgs", b'{"name": "\\ud800"}'),
        ("/api/faults", b'{"kind": "errcode", "errmsg": "\\ud800"}'),
        ("/api/sessions", b'{"robot": "\\ud800"}'),
    ],
)
def test_a_setting_with_a_lone_surrogate_is_a_400(
    dingtalk_fake: FakeServer, path: str, raw: bytes
) -> None:
    reply = post_raw(dingtalk_fake, dingtalk_fake.url + path, raw)
    assert reply.status_code == 400, reply.text
    assert "lone surrogate" in strict_json(reply.content)["error"]
    for listing in ("/api/robots", "/api/orgs", "/api/faults", "/api/messages"):
        served(dingtalk_fake, listing)


# -- secrets ------------------------------------------------------------------------------


def test_no_secret_on_the_page_the_api_or_the_log(caplog: pytest.LogCaptureFixture) -> None:
    token = "9" * 60 + "beef"
    secret = "SEC" + "7" * 64
    caplog.set_level(logging.DEBUG)
    with FakeServer(log_requests=True) as server:
        server.add_org("acme", quota="3000/month")
        ops = server.add_robot(token, secret=secret, keywords=["告警"], name=None, org="acme")
        ops.client().send(dingwire.Text("告警 one"))
        timestamp_ms = int(time.time() * 1000)
        signature = sign(secret, timestamp_ms)
        query = f"access_token={token}&timestamp={timestamp_ms}&sign={quote(signature, safe='')}"
        requests.post(
            f"{server.url}/robot/send?{query}",
            json={"msgtype": "text", "text": {"content": "no keyword"}},
            timeout=TIMEOUT,
        )
        session = server.open_session(token)
        requests.post(session, json={"msgtype": "text", "text": {"content": "s"}}, timeout=10)
        # A token under a misspelled name, or with no name, is masked like any other value.
        for misspelled in (f"acess_token={token}", f"token={token}", token, f"x={secret}"):
            requests.post(
                f"{server.url}/robot/send?access_token=t&{misspelled}",
                json={"msgtype": "text", "text": {"content": "告警 misspelled"}},
                timeout=TIMEOUT,
            )
        seen = [
            requests.get(server.url + path, timeout=TIMEOUT).text
            for path in (
                "/",
                "/static/fake.js",
                "/api/messages",
                "/api/robots",
                "/api/faults",
                "/api/orgs",
            )
        ]
        seen.append(repr(server.messages()))
        seen.append(repr(ops))
        seen.append(repr(server))
    # What the fake (and the server under it) logged; the test's own HTTP client is not ours.
    logged = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("dingwire", "uvicorn"))
    )
    seen.append(logged)
    everything = "\n".join(seen)
    secret_session = session.split("session=")[1]
    for secret_value in (token, secret, signature, quote(signature, safe=""), secret_session):
        assert secret_value not in everything
    assert f"…{token[-4:]}" in everything  # the masked token is shown
    assert "sign=**********" in logged
    assert "acess_token=**********" in logged
    assert "310000" in logged
    assert "&token=**********" in everything
    assert f"timestamp={timestamp_ms}" in everything  # the one value shown as it is
