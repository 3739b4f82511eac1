"""Fuzzing ``/robot/send`` in-process through the ASGI app: whatever the body, the query, the
method or the content type, the fake answers DingTalk's JSON — never a 500, never a crash.
And the JSON API: whatever fault, robot or organisation it is given, it answers 201 or 400,
and what it accepted is then met by requests without a crash. And the whole of it (every
endpoint of the JSON API, the live feed), given hostile JSON (NaN, infinities, numbers too
large to hold, lone surrogates, deep nesting): never a 500, and every answer is JSON a strict
parser reads (:func:`tests.fake.conftest.strict_json`)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dingwire.core.signing import sign
from dingwire.fake.app import FakeApp, create_app
from dingwire.fake.config import FakeRobot, FakeSettings
from dingwire.fake.engine import FakeDingTalk
from dingwire.fake.faults import Fault
from tests.fake.conftest import SECRET, TOKEN, AsgiReply, call_asgi, sse_events, strict_json

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
    data = strict_json(reply.body)
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


# -- the JSON API: faults, robots and orgs, whatever their shape ----------------------------

# Delays are tiny (or invalid): a fault that is accepted is then met by a real request.
delays = (
    st.floats(min_value=0.0001, max_value=0.005)
    | st.sampled_from([0, -1, 601, 10**400, 1e308, float("inf"), "1s", None, True])
    | json_values
)
fault_values = {
    "kind": st.sampled_from(
        ["http", "errcode", "slow", "drop", "x5", "redirect", "latency", "lag", ""]
    )
    | json_values,
    "count": st.integers(min_value=-2, max_value=3) | json_values,
    "status": st.sampled_from([200, 302, 418, 500, 503, 599, 600, 99]) | json_values,
    "errcode": st.sampled_from([-1, 0, 90030, 130101, 430101]) | json_values,
    "errmsg": st.text(max_size=20) | json_values,
    "delay": delays,
    "deliver": st.booleans() | json_values,
    "wait": st.integers(min_value=-3, max_value=10**6) | json_values,
    "location": st.sampled_from(
        ["/verify", "https://login.example/v?x=1", "javascript:x", "/a\r\nb", "/\u4e2d", ""]
    )
    | json_values,
    "robot": st.sampled_from([TOKEN, "other", None]) | json_values,
    "colour": json_values,
}
small_delays = st.floats(min_value=0.0001, max_value=0.005)
counts = st.integers(min_value=1, max_value=3)
valid_faults = st.one_of(
    st.fixed_dictionaries(
        {"kind": st.just("http")}, optional={"status": st.sampled_from([500, 502, 503])}
    ),
    st.fixed_dictionaries(
        {"kind": st.just("errcode")},
        optional={"errcode": st.sampled_from([-1, 90030, 430101]), "errmsg": st.text(max_size=9)},
    ),
    st.fixed_dictionaries({"kind": st.sampled_from(["slow", "latency"]), "delay": small_delays}),
    st.fixed_dictionaries({"kind": st.just("drop")}, optional={"deliver": st.booleans()}),
    st.fixed_dictionaries(
        {"kind": st.just("x5")}, optional={"wait": st.integers(min_value=0, max_value=10**6)}
    ),
    st.fixed_dictionaries(
        {"kind": st.just("redirect")},
        optional={"location": st.sampled_from(["/verify", "/v?x=<1>", "https://login.example/"])},
    ),
).flatmap(
    lambda fault: st.fixed_dictionaries(
        {}, optional={"count": counts, "robot": st.sampled_from([TOKEN, None])}
    ).map(lambda extra: {**fault, **extra})
)
noisy_faults = st.fixed_dictionaries(
    {"kind": fault_values["kind"]},
    optional={k: v for k, v in fault_values.items() if k not in ("kind", "colour")},
) | st.fixed_dictionaries({}, optional=fault_values)
faults_json = valid_faults | noisy_faults

valid_quotas = st.sampled_from(["1/month", "3000/month", "2/5m", "1/1s", "none", "1_000/h"])
valid_timezones = st.sampled_from(["Asia/Shanghai", "UTC", "Europe/Berlin"])
quotas = valid_quotas | st.sampled_from(["0/month", "1/0s", "lots", "5/", "1/1e9s"]) | json_values
timezones = (
    valid_timezones | st.sampled_from(["Mars/Base", "", "../etc", "a\x00b", "/etc/x"]) | json_values
)
valid_orgs = st.fixed_dictionaries(
    {"name": st.just("acme")},
    optional={"quota": valid_quotas, "timezone": valid_timezones},
)
noisy_orgs = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["acme", "其他", "a/b", ""]) | json_values,
        "quota": quotas,
        "timezone": timezones,
        "colour": json_values,
    },
)
orgs_json = valid_orgs | noisy_orgs
valid_robots = st.fixed_dictionaries(
    {"token": st.sampled_from([TOKEN, "other"])},
    optional={
        "org": st.just("acme"),
        "window": st.sampled_from(["sliding", "fixed"]),
        "rate_limit": st.sampled_from(["1/1s", "2/60s", "none"]),
        "lockout": st.sampled_from([0, "1s", "600s"]),
        "disabled": st.booleans(),
        "errmsg_style": st.sampled_from(["new", "legacy"]),
        "throttle_errcode": st.sampled_from([130101, 410100]),
        "faults": st.lists(valid_faults.map(lambda f: {**f, "robot": None}), max_size=2),
    },
)
noisy_robots = st.fixed_dictionaries(
    {},
    optional={
        "token": st.sampled_from([TOKEN, "other", ""]) | json_values,
        "name": json_values,
        "secret": st.sampled_from([SECRET, ""]) | json_values,
        "keywords": json_values,
        "ips": st.sampled_from([["127.0.0.1"], ["10.0.0.0/8"], ["::1"], "x"]) | json_values,
        "rate_limit": st.sampled_from(["20/60s", "1/1s", "none", "fast"]) | json_values,
        "lockout": st.sampled_from(["600s", 0, -1, "soon"]) | json_values,
        "disabled": json_values,
        "org": st.sampled_from(["acme", "nobody", ""]) | json_values,
        "window": st.sampled_from(["sliding", "fixed", "calendar"]) | json_values,
        "errmsg_style": st.sampled_from(["new", "legacy", "old"]) | json_values,
        "throttle_errcode": st.sampled_from([130101, 410100, 429]) | json_values,
        "accept_image": json_values,
        "faults": st.lists(faults_json, max_size=2) | json_values,
    },
)
robots_json = valid_robots | noisy_robots


def api_call(app: FakeApp, method: str, path: str, data: Any) -> AsgiReply:
    reply = call_asgi(
        app, method, path, body=json.dumps(data, ensure_ascii=False, allow_nan=True).encode()
    )
    assert reply.status < 500, (path, data, reply.body[:300])
    return reply


def safe_to_meet(app: FakeApp) -> bool:
    """No accepted fault would make the next request wait more than a moment."""
    return all(
        fault.delay <= 0.01 for _, fault, _ in app.fake.pending_faults() if fault.kind != "http"
    )


def assert_robot_answer(app: FakeApp, query: bytes) -> None:
    """A request meets whatever faults were accepted: every answer is one a fault or
    DingTalk gives, and nothing crashes."""
    http_faults = {f.status for _, f, _ in app.fake.pending_faults() if f.kind == "http"}
    try:
        reply = call_asgi(app, "POST", "/robot/send", query=query, body=MESSAGE, hold=True)
    except ConnectionAbortedError:
        return  # a drop fault, as ASGI without a socket carries it out
    if reply.status == 302:
        assert reply.headers["location"].startswith(("http://", "https://"))
    elif reply.status == 200:
        data = strict_json(reply.body)
        assert ("errcode" in data) != (data.get("source") == "x5"), data
    else:
        assert reply.status in http_faults, reply.status
        assert reply.headers["content-type"] == "text/html"


MESSAGE = json.dumps({"msgtype": "text", "text": {"content": "告警 fuzz"}}).encode()
API_FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@API_FUZZ
@given(faults=st.lists(faults_json | json_values, min_size=1, max_size=3))
@example(faults=[{"kind": "latency", "delay": 10**400}])  # float() of it would overflow
def test_any_fault_json_is_201_or_400_and_is_then_met(faults: list[Any]) -> None:
    app = create_app(FakeDingTalk(FakeSettings(robots=(FakeRobot(TOKEN, rate_limit=None),))))
    for data in faults:
        reply = api_call(app, "POST", "/api/faults", data)
        assert reply.status in (201, 400), reply.body
        if reply.status == 201:
            assert Fault.from_json(reply.json()["fault"]) is not None
    listed = call_asgi(app, "GET", "/api/faults")
    assert listed.status == 200
    if safe_to_meet(app):
        for _ in range(len(app.fake.pending_faults()) + 1):
            assert_robot_answer(app, f"access_token={TOKEN}".encode())


@API_FUZZ
@given(org=orgs_json, robot=robots_json)
def test_any_org_and_robot_json_is_201_or_400(org: dict[str, Any], robot: dict[str, Any]) -> None:
    app = create_app(FakeDingTalk())
    made_org = api_call(app, "POST", "/api/orgs", org)
    assert made_org.status in (201, 400), made_org.body
    made_robot = api_call(app, "POST", "/api/robots", robot)
    assert made_robot.status in (201, 400), made_robot.body
    for path in ("/api/orgs", "/api/robots", "/api/faults"):
        assert call_asgi(app, "GET", path).status == 200
    if made_robot.status == 201 and safe_to_meet(app):
        token = robot["token"]
        for _ in range(3):
            assert_robot_answer(app, f"access_token={quote(token, safe='')}".encode())
    if made_org.status == 201:
        assert api_call(app, "DELETE", f"/api/orgs/{quote(org['name'], safe='')}", None)


# -- hostile JSON everywhere: every endpoint, the live feed, strict parsing ---------------

hostile_text = st.text(max_size=12) | st.sampled_from(
    ["\ud800", "a\udfffb", "\udc00\ud800", "\ud83d\ude00", "\ud83d", "告警", "\x00", "\u2028", "²"]
)
hostile_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and the infinities included: json.dumps writes them
    | st.sampled_from([10**300, -(10**40), 1e308, 5e-324])
    | hostile_text
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | hostile_text, inner, max_size=5)
    ),
    max_leaves=25,
)
# Literals json.dumps never writes, in a message that is otherwise valid.
FRAGMENTS = [b"1e400", b"-1e999", b"9" * 5000, b"NaN", b"-Infinity", b'"\\ud800"', b"1E+999"]
hostile_messages = st.fixed_dictionaries(
    {"msgtype": st.sampled_from(MSGTYPES)},
    optional=dict.fromkeys([k for k in KEYS if k != "msgtype"], hostile_values),
)


def _nested(depth: int) -> bytes:
    return b'{"msgtype":"text","text":{"content":"x"},"deep":' + b"[" * depth + b"]" * depth + b"}"


hostile_bodies = (
    hostile_values.map(lambda v: json.dumps(v).encode())
    | hostile_messages.map(lambda v: json.dumps(v).encode())
    | st.tuples(st.sampled_from(FRAGMENTS), st.sampled_from(["content", "n"])).map(
        lambda t: b'{"msgtype":"text","text":{"%s":%s}}' % (t[1].encode(), t[0])
    )
    | st.sampled_from([_nested(510), _nested(512), _nested(513), _nested(3000)])
    | bodies
)


def assert_strict_everywhere(app: FakeApp) -> None:
    """Every listing of the JSON API, and the live feed, reads as strict JSON."""
    for path in ("/api/messages", "/api/robots", "/api/orgs", "/api/faults"):
        reply = call_asgi(app, "GET", path)
        assert reply.status == 200, (path, reply.body[:300])
        strict_json(reply.body)
    # Without a lifespan the feed sends what the log holds, then ends: read all of it.
    feed = call_asgi(app, "GET", "/api/events", query=b"after=0", hold=True)
    assert feed.status == 200
    events = sse_events(feed.body)
    records = [data for kind, data in events if kind == "record"]
    assert [r["id"] for r in records] == [r.id for r in app.fake.messages()]


HOSTILE_FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@HOSTILE_FUZZ
@given(sends=st.lists(st.tuples(hostile_bodies, queries), min_size=1, max_size=4))
def test_hostile_bodies_are_answered_and_logged_as_strict_json(
    sends: list[tuple[bytes, bytes]],
) -> None:
    for app in apps():
        for body, query in sends:
            assert_dingtalk_answer(call_asgi(app, "POST", "/robot/send", query=query, body=body))
        assert_strict_everywhere(app)
        for record in app.fake.messages():  # what the API shows is what the log holds
            json.dumps(record.payload, ensure_ascii=False, allow_nan=False).encode()


api_bodies = (
    robots_json.map(lambda v: json.dumps(v, allow_nan=True).encode())
    | orgs_json.map(lambda v: json.dumps(v, allow_nan=True).encode())
    | faults_json.map(lambda v: json.dumps(v, allow_nan=True).encode())
    | st.fixed_dictionaries(
        {},
        optional={"robot": st.sampled_from([TOKEN, None]) | hostile_values, "ttl": hostile_values},
    ).map(lambda v: json.dumps(v, allow_nan=True).encode())
    | st.fixed_dictionaries(
        {"token": st.sampled_from([TOKEN, "other"])},
        optional={"lockout": hostile_values, "name": hostile_text, "secret": hostile_text},
    ).map(lambda v: json.dumps(v, allow_nan=True).encode())
    | st.sampled_from(
        [b'{"ttl": %s}' % f for f in FRAGMENTS]
        + [b'{"token": "t", "lockout": %s}' % f for f in FRAGMENTS]
        + [b'{"name": "acme", "quota": %s}' % f for f in FRAGMENTS]
        + [b'{"kind": "slow", "delay": %s}' % f for f in FRAGMENTS]
        + [b"[" * 600 + b"]" * 600, b"", b"{", b"\xff"]
    )
    | hostile_values.map(lambda v: json.dumps(v, allow_nan=True).encode())
)
API_QUERIES = st.sampled_from(
    [
        b"",
        b"robot=" + TOKEN.encode(),
        b"robot=%ED%A0%80",
        b"robot=%FF",
        b"robot=other&after=-1",
        b"after=%C2%B2",
        b"after=1e400",
        b"after=" + b"9" * 5000,
    ]
)
ENDPOINTS = [
    ("GET", "/api/messages"),
    ("DELETE", "/api/messages"),
    ("GET", "/api/robots"),
    ("POST", "/api/robots"),
    ("DELETE", "/api/robots/{token}"),
    ("GET", "/api/orgs"),
    ("POST", "/api/orgs"),
    ("DELETE", "/api/orgs/{name}"),
    ("GET", "/api/faults"),
    ("POST", "/api/faults"),
    ("DELETE", "/api/faults"),
    ("POST", "/api/sessions"),
    ("POST", "/api/reset"),
    ("GET", "/api/events"),
    ("POST", "/robot/send"),
    ("POST", "/robot/sendBySession"),
]
operations = st.lists(
    st.tuples(
        st.sampled_from(ENDPOINTS),
        api_bodies | hostile_bodies,
        API_QUERIES | queries,
        st.sampled_from([TOKEN, "other", "acme", "t"]),
    ),
    min_size=1,
    max_size=8,
)


def _send_query(app: FakeApp, query: bytes) -> bytes:
    sessions = [r for r in app.fake.messages() if r.path == "/robot/sendBySession"]
    return query if sessions or b"session=" in query else f"access_token={TOKEN}".encode()


@HOSTILE_FUZZ
@given(steps=operations, configured=st.booleans())
def test_the_whole_json_api_never_fails_and_serves_strict_json(
    steps: list[tuple[tuple[str, str], bytes, bytes, str]], configured: bool
) -> None:
    robots = (FakeRobot(TOKEN, rate_limit=None, keywords=("告警",)),) if configured else ()
    app = create_app(FakeDingTalk(FakeSettings(robots=robots)))
    for (method, path), body, query, name in steps:
        path = path.format(token=quote(name, safe=""), name=quote(name, safe=""))
        # An http fault that was asked for answers its 5xx: that is the fault, not the fake.
        asked = {f.status for _, f, _ in app.fake.pending_faults() if f.kind == "http"}
        if path.startswith("/robot/"):
            if not safe_to_meet(app):
                continue  # an accepted slow fault would make this wait for real
            if path == "/robot/sendBySession":
                made = call_asgi(
                    app, "POST", "/api/sessions", body=b'{"robot": "%s"}' % TOKEN.encode()
                )
                query = made.json()["webhook"].split("?", 1)[1].encode()
            try:
                reply = call_asgi(app, method, path, query=query, body=body, hold=True)
            except ConnectionAbortedError:
                continue  # a drop fault, as ASGI without a socket carries it out
            if reply.status in asked:
                assert reply.headers["content-type"] == "text/html"
                continue
        else:
            reply = call_asgi(app, method, path, query=query, body=body, hold=path == "/api/events")
        assert reply.status < 500, (method, path, body[:200], reply.body[:300])
        if path == "/api/events":
            sse_events(reply.body)
        elif reply.headers.get("content-type", "").startswith("application/json"):
            strict_json(reply.body)
    assert_strict_everywhere(app)
