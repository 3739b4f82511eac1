"""The async robot against a real local HTTP server: the same contract as the sync one."""

import asyncio

import pytest

from dingwire import (
    AsyncRobot,
    ConnectError,
    ConnectionLostError,
    KeywordError,
    RequestTimeoutError,
    RetryPolicy,
    Text,
)
from dingwire.core.signing import signature_matches
from tests.transport.endpoint import Endpoint
from tests.transport.test_robot import FAST_RETRY, free_port


def robot(endpoint: Endpoint, **options: object) -> AsyncRobot:
    options.setdefault("rate_limit", None)
    options.setdefault("retry", FAST_RETRY)
    return AsyncRobot(endpoint.webhook(), **options)  # type: ignore[arg-type]


def test_sends_signed_json(endpoint: Endpoint) -> None:
    async def main() -> None:
        async with robot(endpoint, secret="SECs") as r:
            assert (await r.send(Text("hi"))).errcode == 0

    asyncio.run(main())
    (seen,) = endpoint.seen
    assert seen.json() == {"msgtype": "text", "text": {"content": "hi"}}
    assert signature_matches("SECs", int(seen.query["timestamp"]), seen.query["sign"])


def test_fifty_concurrent_sends_share_a_few_connections(endpoint: Endpoint) -> None:
    async def main() -> None:
        async with robot(endpoint) as r:
            results = await asyncio.gather(*(r.send(Text(f"m{i}")) for i in range(50)))
        assert all(res.errcode == 0 for res in results)

    asyncio.run(main())
    assert sorted(s.json()["text"]["content"] for s in endpoint.seen) == sorted(
        f"m{i}" for i in range(50)
    )


def test_refusal_and_retry(endpoint: Endpoint) -> None:
    endpoint.then("status", 502).then("json", 310000, "keywords not in content")

    async def main() -> None:
        async with robot(endpoint) as r:
            with pytest.raises(KeywordError):
                await r.send(Text("x"))

    asyncio.run(main())
    assert len(endpoint.seen) == 2


def test_timeout_and_drop_are_ambiguous(endpoint: Endpoint) -> None:
    endpoint.then("hold").then("drop")

    async def main() -> None:
        async with robot(endpoint, timeout=0.2) as r:
            with pytest.raises(RequestTimeoutError):
                await r.send(Text("x"))
            with pytest.raises(ConnectionLostError):
                await r.send(Text("y"))

    asyncio.run(main())
    assert len(endpoint.seen) == 2


def test_connection_refused() -> None:
    async def main() -> None:
        url = f"http://127.0.0.1:{free_port()}/robot/send?access_token=tok"
        async with AsyncRobot(url, rate_limit=None, retry=RetryPolicy(attempts=2, base=0.01)) as r:
            with pytest.raises(ConnectError, match="could not connect"):
                await r.send(Text("x"))

    asyncio.run(main())
