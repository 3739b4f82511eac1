"""A robot's proxy, given or from the environment: plain HTTP goes through it, HTTPS
tunnels through it (verified), NO_PROXY and trust_env=False go around it, and a bad one is
refused when the robot is built — all alike for Robot and AsyncRobot."""

import base64
import re
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

from dingwire import ConfigError, ConnectError, RetryPolicy, Robot, Text
from tests.transport.both import CLASSES, ROBOTS, Send
from tests.transport.endpoint import Endpoint
from tests.transport.test_robot import free_port


class Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.refuse: bytes | None = None  # a status line to answer everything with
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
        self.server.headers.append(
            {
                k.strip().lower(): v.strip()
                for k, _, v in (h.decode().partition(":") for h in headers)
            }
        )
        if self.server.refuse is not None:
            self.wfile.write(self.server.refuse + b"\r\nContent-Length: 0\r\n\r\n")
            return
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


# -- the environment's proxy, for both robots ------------------------------------------------


@pytest.fixture(autouse=True)
def _not_in_cgi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUEST_METHOD", raising=False)  # proxy variables: tests/conftest.py


def unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize("send", ROBOTS)
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_the_environments_proxy_is_used(
    endpoint: Endpoint, proxy: Proxy, monkeypatch: pytest.MonkeyPatch, send: Send, variable: str
) -> None:
    monkeypatch.setenv(variable, proxy.url)
    assert send(endpoint.webhook(), Text("via env"), rate_limit=None).errcode == 0
    assert proxy.requests[0].startswith(f"POST {endpoint.url}/robot/send?access_token=tok")
    assert endpoint.seen[0].json()["text"]["content"] == "via env"


DIRECT = [
    pytest.param({"NO_PROXY": "127.0.0.1"}, {}, id="NO_PROXY-host"),
    pytest.param({"no_proxy": "localhost, .example.com,127.0.0.1:{port}"}, {}, id="no_proxy-port"),
    pytest.param({"NO_PROXY": "*"}, {}, id="NO_PROXY-star"),
    pytest.param({}, {"trust_env": False}, id="trust_env-False"),
    pytest.param({"http_proxy": ""}, {}, id="empty-lower-case-unsets"),
    pytest.param({"REQUEST_METHOD": "POST"}, {}, id="httpoxy-in-CGI"),
    pytest.param({"HTTP_PROXY": "", "HTTPS_PROXY": "{proxy}"}, {}, id="https-proxy-not-for-http"),
]


@pytest.mark.parametrize("send", ROBOTS)
@pytest.mark.parametrize(("environment", "options"), DIRECT)
def test_these_go_direct(
    endpoint: Endpoint,
    proxy: Proxy,
    monkeypatch: pytest.MonkeyPatch,
    send: Send,
    environment: dict[str, str],
    options: dict[str, object],
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    port = endpoint.server.server_address[1]
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(port=port, proxy=proxy.url))
    assert send(endpoint.webhook(), Text("direct"), rate_limit=None, **options).errcode == 0
    assert proxy.requests == []
    assert len(endpoint.seen) == 1


@pytest.mark.parametrize("send", ROBOTS)
def test_an_explicit_proxy_wins_over_the_environment(
    endpoint: Endpoint, proxy: Proxy, monkeypatch: pytest.MonkeyPatch, send: Send
) -> None:
    monkeypatch.setenv("HTTP_PROXY", unreachable())
    monkeypatch.setenv("NO_PROXY", "*")
    assert send(endpoint.webhook(), Text("x"), proxy=proxy.url, rate_limit=None).errcode == 0
    assert len(proxy.requests) == 1


@pytest.mark.parametrize("send", ROBOTS)
def test_the_lower_case_variable_wins(
    endpoint: Endpoint, proxy: Proxy, monkeypatch: pytest.MonkeyPatch, send: Send
) -> None:
    monkeypatch.setenv("HTTP_PROXY", unreachable())
    monkeypatch.setenv("http_proxy", proxy.url)
    assert send(endpoint.webhook(), Text("x"), rate_limit=None).errcode == 0
    assert len(proxy.requests) == 1


@pytest.mark.parametrize("send", ROBOTS)
def test_proxy_credentials_go_as_proxy_authorization(
    endpoint: Endpoint, proxy: Proxy, send: Send
) -> None:
    url = proxy.url.replace("http://", "http://ops%40acme:pa%3Ass@")
    assert send(endpoint.webhook(), Text("x"), proxy=url, rate_limit=None).errcode == 0
    expected = "Basic " + base64.b64encode(b"ops@acme:pa:ss").decode()
    assert proxy.headers[0]["proxy-authorization"] == expected


@pytest.mark.parametrize("send", ROBOTS)
def test_a_proxy_refusing_the_tunnel_is_a_connect_error(
    proxy: Proxy, tls_server: int, send: Send
) -> None:
    proxy.refuse = b"HTTP/1.1 407 Proxy Authentication Required"
    with pytest.raises(ConnectError, match="could not connect") as caught:
        send(
            f"https://127.0.0.1:{tls_server}/robot/send?access_token=tok",
            Text("x"),
            proxy=proxy.url,
            rate_limit=None,
            retry=RetryPolicy(attempts=1),
        )
    assert "407" in str(caught.value)
    assert proxy.requests[0].startswith(f"CONNECT 127.0.0.1:{tls_server} HTTP/1.")


@pytest.mark.parametrize("send", ROBOTS)
def test_https_through_the_environments_proxy_keeps_verifying(
    proxy: Proxy, tls_server: int, monkeypatch: pytest.MonkeyPatch, send: Send
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url.removeprefix("http://"))  # no scheme: http
    with pytest.raises(ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        send(
            f"https://127.0.0.1:{tls_server}/robot/send?access_token=tok",
            Text("x"),
            rate_limit=None,
            retry=RetryPolicy(attempts=1),
        )
    assert proxy.requests[0].startswith(f"CONNECT 127.0.0.1:{tls_server} HTTP/1.")


BAD_PROXIES = [
    ("socks5://127.0.0.1:1080", "SOCKS"),
    ("https://proxy.internal:3128", "https:// proxy"),
    ("ftp://proxy.internal:3128", "'ftp'"),
    ("http://proxy.internal:99999", "port"),
    ("http://proxy.internal:", "port"),
    ("http://pro xy.internal:3128", "space"),
    ("http://proxy.internal:3128\r\nX: y", "carriage return"),
    ("http://[::1:3128", "IPv6"),
    ("http://proxy.internal:3128/some/path", "path"),
    ("http://:3128", "no host"),
]


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize(("value", "problem"), BAD_PROXIES)
def test_a_bad_proxy_is_refused_when_the_robot_is_built(
    cls: type[Robot], value: str, problem: str
) -> None:
    secret_value = value.replace("://", "://ops:hunter22@", 1)
    with pytest.raises(ConfigError, match=rf"^proxy: .*{re.escape(problem)}") as caught:
        cls("http://127.0.0.1:9/robot/send?access_token=tok", proxy=secret_value)
    assert "hunter22" not in caught.value.describe()


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_a_bad_proxy_in_the_environment_names_its_variable(
    cls: type[Robot], variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "socks5://ops:hunter22@127.0.0.1:1080")
    with pytest.raises(ConfigError, match=rf"^{variable}: .*SOCKS") as caught:
        cls("https://oapi.dingtalk.com/robot/send?access_token=tok")
    assert "hunter22" not in caught.value.describe()
    # ...and is not read at all when told not to, nor for a host NO_PROXY names.
    cls("https://oapi.dingtalk.com/robot/send?access_token=tok", trust_env=False)
    monkeypatch.setenv("NO_PROXY", "dingtalk.com")
    cls("https://oapi.dingtalk.com/robot/send?access_token=tok")


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize(
    ("options", "problem"), [({"proxy": 3128}, "proxy"), ({"trust_env": "no"}, "trust_env")]
)
def test_proxy_settings_of_the_wrong_type_are_refused(
    cls: type[Robot], options: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^{problem}: expected"):
        cls("http://127.0.0.1:9/robot/send?access_token=tok", **options)  # type: ignore[arg-type]
