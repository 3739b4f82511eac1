"""A per-robot proxy: plain HTTP goes through it; HTTPS tunnels through it, verified."""

import select
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from dingwire import ConnectError, RetryPolicy, Robot, Text
from tests.transport.endpoint import Endpoint


class Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ProxyHandler(socketserver.StreamRequestHandler):
    server: Proxy

    def handle(self) -> None:
        line = self.rfile.readline().decode()
        self.server.requests.append(line.strip())
        method, target, _ = line.split(" ", 2)
        headers = []
        while (header := self.rfile.readline()) not in (b"\r\n", b""):
            headers.append(header)
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pipe(self.connection, upstream)
            return
        # A plain HTTP request in absolute form: forward it and relay the reply.
        from urllib.parse import urlsplit

        url = urlsplit(target)
        upstream = socket.create_connection((url.hostname or "", url.port or 80))
        path = url.path + (f"?{url.query}" if url.query else "")
        length = next(
            (int(h.split(b":")[1]) for h in headers if h.lower().startswith(b"content-length")), 0
        )
        body = self.rfile.read(length)  # already buffered here, so forward it by hand
        upstream.sendall(
            f"{method} {path} HTTP/1.1\r\n".encode() + b"".join(headers) + b"\r\n" + body
        )
        self._pipe(self.connection, upstream)

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 5)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            return  # one side hung up mid-stream (a refused TLS handshake): the tunnel ends
        finally:
            b.close()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    server = Proxy()
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_through_the_proxy(endpoint: Endpoint, proxy: Proxy) -> None:
    robot = Robot(endpoint.webhook(), "SECs", proxy=proxy.url, rate_limit=None)
    assert robot.send(Text("via proxy")).errcode == 0
    assert proxy.requests[0].startswith(f"POST {endpoint.url}/robot/send?access_token=tok")
    assert endpoint.seen[0].json()["text"]["content"] == "via proxy"


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"errcode":0,"errmsg":"ok"}')

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_https_through_the_proxy_keeps_verifying_certificates(
    proxy: Proxy, tls_server: int
) -> None:
    robot = Robot(
        f"https://127.0.0.1:{tls_server}/robot/send?access_token=tok",
        proxy=proxy.url,
        rate_limit=None,
        retry=RetryPolicy(attempts=1),
    )
    with pytest.raises(ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        robot.send(Text("x"))
    assert len(proxy.requests) == 1
    assert proxy.requests[0].startswith(f"CONNECT 127.0.0.1:{tls_server} HTTP/1.")
