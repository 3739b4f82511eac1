"""The intake's POSTs go straight to their endpoint, before Starlette's router and middleware
(the relay's hot path); every other request goes through the router, which knows the same
routes and gives the same answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Router
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from .conftest import AUTH, MakeRelay, Relay
from .test_app import ALERT

INTAKE = [
    "/dingtalk/ops/send",
    "/v1/robots/ops/alertmanager",
    "/v1/robots/ops/grafana",
    "/v1/robots/ops/messages",
]


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every request that reached Starlette's router."""
    paths: list[str] = []
    real = Router.__call__

    async def counted(self: Router, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            paths.append(scope["path"])
        await real(self, scope, receive, send)

    monkeypatch.setattr(Router, "__call__", counted)
    return paths


def _through_the_router(relay: Relay) -> TestClient:
    """A client of the same app that skips the fast path: Starlette's own ``__call__``."""
    app = relay.app

    async def routed_only(scope: Scope, receive: Receive, send: Send) -> None:
        await Starlette.__call__(app, scope, receive, send)

    return TestClient(routed_only, raise_server_exceptions=False)


def _body_for(path: str, n: int = 0) -> dict[str, Any]:
    """A body for ``path``; another ``n``, another notification (not a duplicate)."""
    if path.endswith("/messages"):
        return {"text": f"hello {n}"}
    return {**ALERT, "groupKey": f"{ALERT['groupKey']}-{n}"}


def test_the_intake_skips_the_router_and_everything_else_takes_it(
    make_relay: MakeRelay, routed: list[str]
) -> None:
    relay = make_relay()
    for path in INTAKE:
        answer = relay.client.post(path, json=_body_for(path))
        assert answer.status_code == 202, (path, answer.text)
    assert routed == []
    assert relay.client.get("/healthz").status_code == 200
    assert routed == ["/healthz"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/robots/ops/alertmanager/", 307),  # the router's redirect to the path without /
        ("/v1/robots//alertmanager", 404),
        ("/v1/robots/ops/unknown", 404),
        ("/dingtalk/ops/receive", 404),
        ("/dingtalk//send", 404),
        ("/v1/robot/ops/alertmanager", 404),
    ],
)
def test_paths_the_fast_path_does_not_know_get_the_routers_answer(
    make_relay: MakeRelay, routed: list[str], path: str, status: int
) -> None:
    relay = make_relay()
    answer = relay.client.post(path, json=ALERT, follow_redirects=False)
    assert answer.status_code == status, answer.text
    assert routed == [path]
    assert relay.outbox.counts() == {}


@pytest.mark.parametrize("path", INTAKE)
def test_another_method_on_an_intake_path_is_405(make_relay: MakeRelay, path: str) -> None:
    relay = make_relay()
    assert relay.client.get(path).status_code == 405
    assert relay.client.put(path, json=ALERT).status_code == 405


Case = Callable[[TestClient, str, int], Any]

CASES: dict[str, Case] = {
    "stored": lambda client, path, n: client.post(
        path, json=_body_for(path, n), headers={"Authorization": f"Bearer {AUTH}"}
    ),
    "no token": lambda client, path, n: client.post(path, json=_body_for(path, n)),
    "wrong token": lambda client, path, n: client.post(
        path, json=_body_for(path, n), headers={"Authorization": "Bearer nope"}
    ),
    "not JSON": lambda client, path, n: client.post(
        path, content=b"{not json", headers={"Authorization": f"Bearer {AUTH}"}
    ),
    "too large": lambda client, path, n: client.post(
        path, content=b"x" * 2048, headers={"Authorization": f"Bearer {AUTH}"}
    ),
    "unknown robot": lambda client, path, n: client.post(
        path.replace("/ops/", "/nobody/"),
        json=_body_for(path, n),
        headers={"Authorization": f"Bearer {AUTH}"},
    ),
}


@pytest.mark.parametrize("path", INTAKE)
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_router_and_the_fast_path_answer_alike(
    make_relay: MakeRelay, path: str, case: str
) -> None:
    relay = make_relay(f'auth_token = "{AUTH}"\nmax_body = 1024')
    fast = CASES[case](relay.client, path, 1)
    slow = CASES[case](_through_the_router(relay), path, 2)
    assert fast.status_code == slow.status_code
    assert dict(fast.headers) == dict(slow.headers)
    if fast.status_code == 202:
        assert fast.json().keys() == slow.json().keys() == {"id"}
    else:
        assert fast.json() == slow.json()
        assert "error" in fast.json()


def test_a_sender_gone_before_the_whole_body_stores_nothing(make_relay: MakeRelay) -> None:
    relay = make_relay()
    messages = iter(
        [
            {"type": "http.request", "body": b'{"receiver": ', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/dingtalk/ops/send",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
    }
    asyncio.run(asyncio.wait_for(relay.app(scope, receive, send), 10))
    assert relay.outbox.counts() == {}
    assert sent[0]["status"] == 400
    assert relay.dispatcher.woken == []
