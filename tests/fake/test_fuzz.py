"""Fuzzing ``/robot/send`` in-process through the ASGI app: whatever the body, the query, the
method or the content type, the fake answers DingTalk's JSON — never a 500, never a crash."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dingwire.core.signing import sign
from dingwire.fake.app import FakeApp, create_app
from dingwire.fake.config import FakeRobot, FakeSettings
from dingwire.fake.engine import FakeDingTalk
from tests.fake.conftest import SECRET, TOKEN, AsgiReply, call_asgi

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

KEYS = [
    "msgtype",
    "text",
    "content",
    "markdown",
    "title",
    "link",
    "messageUrl",
    "messageURL",
    "picUrl",
    "picURL",
    "actionCard",
    "singleTitle",
    "singleURL",
    "btns",
    "actionURL",
    "btnOrientation",
    "hideAvatar",
    "feedCard",
    "links",
    "at",
    "atMobiles",
    "atUserIds",
    "isAtAll",
    "image",
]
MSGTYPES = ["text", "markdown", "link", "actionCard", "feedCard", "image", "", "TEXT", "voice"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["0", "1", "告警", "https://a.example", "<script>alert(1)</script>"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)
messages = st.fixed_dictionaries(
    {"msgtype": st.sampled_from(MSGTYPES)},
    optional=dict.fromkeys([k for k in KEYS if k != "msgtype"], json_values),
)
bodies = (
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | messages.map(lambda v: json.dumps(v, ensure_ascii=False).encode())
    | st.sampled_from([b"[" * 5000, b'{"a":' * 3000, b"x" * 20_001, b"\xef\xbb\xbf{}"])
)

query_values = st.text(max_size=40) | st.sampled_from(
    [TOKEN, "1700000000000", "-1", "9" * 40, "%", "%zz", "+", "=", "&", sign(SECRET, 1)]
)
query_pairs = st.lists(
    st.tuples(
        st.sampled_from(["access_token", "timestamp", "sign", "session", "x"])
        | st.text(max_size=8),
        query_values,
    ),
    max_size=5,
)
queries = query_pairs.map(
    lambda pairs: "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs).encode()
) | st.binary(max_size=80).map(lambda b: b.decode("latin-1").encode("latin-1"))

content_types = st.sampled_from(
    [
        b"application/json",
        b"application/json; charset=utf-8",
        b"APPLICATION/JSON",
        b"text/plain",
        b"",
    ]
) | st.binary(max_size=30)


def apps() -> list[FakeApp]:
    open_fake = FakeDingTalk(FakeSettings(accept_image=True))
    secured = FakeDingTalk(
        FakeSettings(
            robots=(
                FakeRobot(
                    TOKEN,
                    secret=SECRET,
                    keywords=("告警",),
                    ips=("127.0.0.0/8",),
                    rate_limit=None,
                ),
            ),
            errmsg_style="legacy",
        )
    )
    return [create_app(open_fake), create_app(secured)]


APPS = apps()


def assert_dingtalk_answer(reply: AsgiReply) -> dict[str, Any]:
    assert reply.status == 200, reply.body[:200]
    data = json.loads(reply.body)
    assert isinstance(data, dict)
    assert set(data) == {"errcode", "errmsg"}
    assert isinstance(data["errcode"], int)
    assert isinstance(data["errmsg"], str)
    return data


@FUZZ
@given(body=bodies, query=queries)
def test_any_body_and_query_get_dingtalks_json(body: bytes, query: bytes) -> None:
    for app in APPS:
        reply = call_asgi(app, "POST", "/robot/send", query=query, body=body)
        assert_dingtalk_answer(reply)


@FUZZ
@given(message=messages, content_type=content_types)
def test_any_message_to_a_secured_robot(message: dict[str, Any], content_type: bytes) -> None:
    timestamp = 1_700_000_000_000
    query = f"access_token={TOKEN}&timestamp={timestamp}&sign={quote(sign(SECRET, timestamp))}"
    for app in APPS:
        reply = call_asgi(
            app,
            "POST",
            "/robot/send",
            query=query.encode(),
            headers=[(b"content-type", content_type)],
            body=json.dumps(message, ensure_ascii=False).encode(),
        )
        data = assert_dingtalk_answer(reply)
        if data["errcode"] == 0:
            # Whatever passed is a message the fake logged, and can show.
            record = app.fake.messages()[-1]
            assert record.ok
            assert record.payload == message


@FUZZ
@given(
    method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "POST"]),
    path=st.sampled_from(["/robot/send", "/robot/sendBySession"]),
    query=queries,
    body=bodies,
)
def test_any_method_on_both_endpoints(method: str, path: str, query: bytes, body: bytes) -> None:
    for app in APPS:
        reply = call_asgi(app, method, path, query=query, body=body)
        assert_dingtalk_answer(reply)


@settings(max_examples=60, deadline=None)
@given(path=st.text(max_size=30).map(lambda p: "/" + p), query=queries, body=bodies)
def test_other_paths_never_fail_with_a_500(path: str, query: bytes, body: bytes) -> None:
    for method in ("GET", "POST", "DELETE"):
        reply = call_asgi(APPS[0], method, path, query=query, body=body)
        assert reply.status < 500, (method, path, reply.body[:200])
