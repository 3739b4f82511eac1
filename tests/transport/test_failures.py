"""What a failure becomes, the same for both robots: one table, every row run against each.

The table is the one in dingwire/transport/http.py's docstring. Only a ConnectError says
that nothing left; the rest say the message may have arrived.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dingwire import (
    AsyncRobot,
    BadResponseError,
    ConnectError,
    ConnectionLostError,
    DingwireError,
    MemoryBudgetStore,
    RequestTimeoutError,
    RetryPolicy,
    Robot,
    Text,
)
from tests.transport.both import ROBOTS, Send, sync_send
from tests.transport.endpoint import Endpoint
from tests.transport.test_robot import free_port

ONCE = RetryPolicy(attempts=1)
HEADERS = b"".join(b"X-%d: y\r\n" % i for i in range(200))


# (what the endpoint does once it has read the request, the error both robots raise)
AFTER_SENDING = [
    pytest.param(("drop",), ConnectionLostError, id="closed-without-reply"),
    pytest.param(("reset",), ConnectionLostError, id="reset-without-reply"),
    pytest.param(("bytes", b""), ConnectionLostError, id="empty-reply"),
    pytest.param(
        ("bytes", b'HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n{"errcode":0,'),
        ConnectionLostError,
        id="reply-cut-short",
    ),
    pytest.param(
        ("bytes", b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"errc'),
        ConnectionLostError,
        id="chunked-reply-cut-short",
    ),
    pytest.param(("hold",), RequestTimeoutError, id="no-reply-in-time"),
    pytest.param(("bytes", b"garbage\r\n\r\n"), BadResponseError, id="not-http"),
    pytest.param(("bytes", b"HTTP/1.1 abc OK\r\n\r\n"), BadResponseError, id="bad-status"),
    pytest.param(
        ("bytes", b"HTTP/1.1 200 OK\r\n" + HEADERS + b"\r\n"),
        BadResponseError,
        id="too-many-headers",
    ),
]


@pytest.mark.parametrize("send", ROBOTS)
@pytest.mark.parametrize(("behaviour", "error"), AFTER_SENDING)
def test_a_failure_after_sending_is_classified_alike(
    endpoint: Endpoint, send: Send, behaviour: tuple[Any, ...], error: type[DingwireError]
) -> None:
    endpoint.then(*behaviour)
    store = MemoryBudgetStore()
    with pytest.raises(DingwireError) as caught:
        send(endpoint.webhook(), Text("x"), timeout=0.5, retry=ONCE, budget_store=store)
    assert type(caught.value) is error, caught.value
    assert len(endpoint.seen) == 1
    shown = str(caught.value)
    assert "\n" not in shown
    assert "tok" not in shown.replace("token", "")
    if error is BadResponseError:
        assert caught.value.status is None  # no HTTP status came (aiohttp's own 400 is not one)
        assert "not HTTP" in shown
    else:
        assert "may have arrived" in shown


@pytest.mark.parametrize("send", ROBOTS)
def test_nothing_sent_is_a_connect_error(send: Send) -> None:
    webhook = f"http://127.0.0.1:{free_port()}/robot/send?access_token=tok"
    with pytest.raises(DingwireError) as caught:
        send(webhook, Text("x"), retry=ONCE)
    assert type(caught.value) is ConnectError
    assert "could not connect" in str(caught.value)


@pytest.mark.parametrize("send", ROBOTS)
def test_an_http_error_status_is_a_reply_for_both(endpoint: Endpoint, send: Send) -> None:
    endpoint.then("status", 502, "bad gateway")
    with pytest.raises(BadResponseError) as caught:
        send(endpoint.webhook(), Text("x"), retry=ONCE)
    assert caught.value.status == 502


@pytest.mark.parametrize("send", ROBOTS)
def test_a_connection_the_server_closed_while_idle_is_not_used_again(
    endpoint: Endpoint, send: Send
) -> None:
    endpoint.then("closing")

    def twice(webhook: str, **options: Any) -> None:
        if send is sync_send:
            with Robot(webhook, **options) as robot:
                robot.send(Text("one"))
                # The server closes after replying: wait until it has, not hoping it did.
                assert endpoint.closed.wait(5)
                robot.send(Text("two"))
            return

        async def main() -> None:
            async with AsyncRobot(webhook, **options) as robot:
                await robot.send(Text("one"))
                await asyncio.sleep(0.05)  # the loop reads the server's FIN, as it would
                await robot.send(Text("two"))

        asyncio.run(main())

    twice(endpoint.webhook(), retry=ONCE)
    assert [s.json()["text"]["content"] for s in endpoint.seen] == ["one", "two"]
    assert endpoint.seen[0].peer != endpoint.seen[1].peer
