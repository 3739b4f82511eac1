"""A real local HTTP endpoint that plays DingTalk's part as each test scripts it.

Each request takes the next scripted behaviour (then the default, errcode 0): a JSON reply,
an HTTP status, any raw answer (status, body, headers), a reply held back until the test
releases it (a timeout), a connection dropped (closed or reset) after the request was read,
or any bytes at all as the reply. Every request is recorded with its path, query, headers
and body.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int] = ("", 0)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Endpoint:
    server: ThreadingHTTPServer
    script: deque[tuple[Any, ...]] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)  # it closed a connection
    date: str | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def webhook(self, token: str = "tok") -> str:
        return f"{self.url}/robot/send?access_token={token}"

    def then(self, *behaviour: Any) -> Endpoint:
        self.script.append(behaviour)
        return self


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def date_time_string(self, timestamp: float | None = None) -> str:
            return endpoint.date or super().date_time_string(timestamp)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            endpoint.seen.append(
                Seen(parts.path, query, dict(self.headers), body, self.client_address[:2])
            )
            behaviour = endpoint.script.popleft() if endpoint.script else ("json", 0, "ok")
            kind = behaviour[0]
            if kind == "drop":  # the request was read; the connection ends without a reply
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if kind == "reset":  # the same, with a TCP reset rather than an orderly close
                self.close_connection = True
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                return
            if kind == "bytes":  # ("bytes", b"..."): these bytes as the reply, then close
                self.close_connection = True
                self.wfile.write(behaviour[1])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)
                return
            if kind == "hold":
                endpoint.release.wait(10)
                behaviour = ("json", 0, "ok")
                kind = "json"
            if kind == "closing":  # errcode 0, then the connection closes (no "Connection: close")
                self.close_connection = True
                kind = "json"
                behaviour = ("json", 0, "ok")
            if kind == "json":
                self._reply(200, json.dumps({"errcode": behaviour[1], "errmsg": behaviour[2]}))
            elif kind == "status":
                self._reply(behaviour[1], behaviour[2] if len(behaviour) > 2 else "error")
            elif kind == "raw":  # ("raw", status, body, {header: value})
                self._reply(behaviour[1], behaviour[2], behaviour[3] if len(behaviour) > 3 else {})

        def _reply(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
            data = text.encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if "Content-Type" not in (headers or {}):
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # fifty concurrent clients must not wait on a full backlog
    on_close: Any = None

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        if self.on_close is not None:
            self.on_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that gave up (a held reply, a timeout): expected, not news
        super().handle_error(request, client_address)


def start_endpoint() -> Endpoint:
    server = _Server(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    endpoint = Endpoint(server)
    server.on_close = endpoint.closed.set
    server.RequestHandlerClass = _handler(endpoint)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return endpoint


def stop_endpoint(endpoint: Endpoint) -> None:
    endpoint.release.set()
    endpoint.server.shutdown()
    endpoint.server.server_close()
