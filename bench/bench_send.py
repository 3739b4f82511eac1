"""Send throughput: dingwire's robots against the seed's approach and plain baselines.

A local endpoint answers ``{"errcode":0,"errmsg":"ok"}`` as fast as it can, in its own
process (asyncio, keep-alive). Every candidate sends signed text messages to it in the
same run; the table gives messages per second and the ratio to the seed's
``requests.post`` with a fresh signature per message.

    .venv/bin/python bench/bench_send.py [--seconds 3]

Rate limiting is off for the robots (``rate_limit=None``): this measures the send path,
including the shared store's lockout check, not DingTalk's 20-a-minute budget.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import http.client
import multiprocessing
import os
import socket
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable

SECRET = "SECb90923e19e58b466481e9e7b7a5b4f108a4531abde590ad3967fb29f0eae5c68"
REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n"
    b'{"errcode":0,"errmsg":"ok"}'
)


# -- the endpoint ---------------------------------------------------------------------


class _Endpoint(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 : head.find(b"\r\n", marker) % (len(head) + 1)])
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            close = b"connection: close" in head
            self.transport.write(REPLY)
            if close:
                self.transport.close()
                return


def _serve(sock: socket.socket) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Endpoint, sock=sock, backlog=1024)
        await server.serve_forever()

    asyncio.run(main())


# -- the candidates -------------------------------------------------------------------


def seed_requests(webhook: str, n: int) -> None:
    """The seed, line for line: a fresh signature and a fresh ``requests.post`` each time."""
    import requests

    for _ in range(n):
        timestamp = str(round(time.time() * 1000))
        secret_enc = SECRET.encode("utf-8")
        string_to_sign = f"{timestamp}\n{SECRET}".encode()
        hmac_code = hmac.new(secret_enc, string_to_sign, digestmod=hashlib.sha256).digest()
        sign = urllib.parse.quote_plus(base64.b64encode(hmac_code))
        url = webhook + f"&timestamp={timestamp}&sign={sign}"
        resp = requests.post(
            url,
            headers={"Content-Type": "application/json"},
            json={"msgtype": "text", "text": {"content": "测试"}},
            timeout=5,
        )
        assert resp.json()["errcode"] == 0


def kept_open_http_client(webhook: str, n: int) -> None:
    """A hand-kept ``http.client`` connection with a fresh signature per message."""
    import json

    from dingwire import signed_url

    parts = urllib.parse.urlsplit(webhook)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    body = json.dumps({"msgtype": "text", "text": {"content": "测试"}}).encode()
    for _ in range(n):
        url = urllib.parse.urlsplit(signed_url(webhook, SECRET, round(time.time() * 1000)))
        conn.request("POST", f"{url.path}?{url.query}", body, {"Content-Type": "application/json"})
        assert json.loads(conn.getresponse().read())["errcode"] == 0
    conn.close()


def dingwire_robot(webhook: str, n: int) -> None:
    from dingwire import Robot, Text

    with Robot(webhook, SECRET, rate_limit=None) as robot:
        message = Text("测试")
        for _ in range(n):
            robot.send(message)


def _concurrently(
    make: Callable[[], Awaitable[object]], n: int, concurrency: int = 50
) -> Awaitable[None]:
    async def run() -> None:
        remaining = n

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await make()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    return run()


def dingwire_async_robot(webhook: str, n: int) -> None:
    from dingwire import AsyncRobot, Text

    async def main() -> None:
        async with AsyncRobot(webhook, SECRET, rate_limit=None) as robot:
            message = Text("测试")
            await _concurrently(lambda: robot.send(message), n)

    asyncio.run(main())


def raw_aiohttp(webhook: str, n: int) -> None:
    import aiohttp

    from dingwire import signed_url

    async def main() -> None:
        async with aiohttp.ClientSession() as session:

            async def one() -> None:
                url = signed_url(webhook, SECRET, round(time.time() * 1000))
                async with session.post(
                    url, json={"msgtype": "text", "text": {"content": "测试"}}
                ) as resp:
                    assert (await resp.json())["errcode"] == 0

            await _concurrently(one, n)

    asyncio.run(main())


def httpx_async(webhook: str, n: int) -> None:
    import httpx

    from dingwire import signed_url

    async def main() -> None:
        async with httpx.AsyncClient() as client:

            async def one() -> None:
                url = signed_url(webhook, SECRET, round(time.time() * 1000))
                resp = await client.post(url, json={"msgtype": "text", "text": {"content": "测试"}})
                assert resp.json()["errcode"] == 0

            await _concurrently(one, n)

    asyncio.run(main())


CANDIDATES: list[tuple[str, Callable[[str, int], None]]] = [
    ("seed: requests.post per message", seed_requests),
    ("http.client, one kept-open connection", kept_open_http_client),
    ("dingwire Robot.send, 1 thread", dingwire_robot),
    ("aiohttp, 50 concurrent (no dingwire)", raw_aiohttp),
    ("httpx AsyncClient, 50 concurrent", httpx_async),
    ("dingwire AsyncRobot, 50 concurrent", dingwire_async_robot),
]


def measure(fn: Callable[[str, int], None], webhook: str, seconds: float) -> float:
    fn(webhook, 20)  # warm up: imports, connections
    n, elapsed = 50, 0.0
    while True:
        start = time.perf_counter()
        fn(webhook, n)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds or n >= 200_000:
            return n / elapsed
        n = int(n * max(2.0, seconds / max(elapsed, 1e-3) * 1.2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per candidate")
    args = parser.parse_args()
    os.environ.setdefault("DINGWIRE_CACHE_DIR", tempfile.mkdtemp(prefix="dingwire-bench-"))

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    server = multiprocessing.Process(target=_serve, args=(sock,), daemon=True)
    server.start()
    webhook = f"http://127.0.0.1:{sock.getsockname()[1]}/robot/send?access_token=bench"

    rows: list[tuple[str, float]] = []
    for name, fn in CANDIDATES:
        try:
            rows.append((name, measure(fn, webhook, args.seconds)))
        except ImportError as error:
            print(f"skipped {name}: {error}", file=sys.stderr)
    server.terminate()

    seed = rows[0][1]
    print(f"\n{'candidate':<42} {'msgs/s':>9} {'× seed':>7}")
    print(f"{'-' * 42} {'-' * 9} {'-' * 7}")
    for name, rate in rows:
        print(f"{name:<42} {rate:>9,.0f} {rate / seed:>6.1f}×")
    print(f"\n{os.cpu_count()} cores, Python {sys.version.split()[0]}, {args.seconds:g} s each")


if __name__ == "__main__":
    main()
