"""dingwire logs as a library should (the logging HOWTO).

An application that configured no logging sees nothing from dingwire, warnings included (no
record reaches Python's last resort, which prints on stderr); one that called
``logging.basicConfig()`` sees each record under the name of the module that logged it, and
no message repeats a "dingwire:" prefix (the command line adds its own when it shows them).
"""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import dingwire

SRC = Path(dingwire.__file__).parent

# A robot whose first try gets HTTP 503 from a small local server and is retried: dingwire
# logs that retry as a warning. The robot sleeps no backoff and keeps its budget in memory.
SCRIPT = textwrap.dedent(
    """
    import http.server, json, logging, sys, threading

    if sys.argv[1] == "configured":
        logging.basicConfig(format="%(name)s|%(levelname)s|%(message)s")

    import dingwire

    answers = [503, 200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            status = answers.pop(0)
            ok = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
            body = ok if status == 200 else b"busy"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    robot = dingwire.Robot(
        f"http://127.0.0.1:{server.server_address[1]}/robot/send?access_token=T0KEN5ECRET",
        budget_store=dingwire.MemoryBudgetStore(),
        sleep=lambda seconds: None,
    )
    robot.send(dingwire.Text("hi"))
    print("delivered after", 2 - len(answers), "answers")
    """
)


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "delivered after 2 answers"  # the retry really happened
    return done


def test_the_package_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("dingwire").handlers
    assert any(isinstance(handler, logging.NullHandler) for handler in handlers)


def test_an_application_without_logging_sees_nothing_even_a_warning() -> None:
    assert _run("unconfigured").stderr == ""


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


_LEVELS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _loggers_and_messages(source: str, where: str) -> tuple[list[str], list[str]]:
    """The module-level loggers that are not named ``__name__``, and the log messages that
    start with "dingwire" (both as 'file:line: source')."""
    tree = ast.parse(source)
    misnamed: list[str] = []
    prefixed: list[str] = []
    for node in tree.body:  # module level: the module's own logger
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue  # a function may look up the package's logger to attach a handler
        for call in ast.walk(node):
            if (
                isinstance(call, ast.Call)
                and "getLogger"
                in (getattr(call.func, "attr", None), getattr(call.func, "id", None))
                and not (
                    len(call.args) == 1
                    and isinstance(call.args[0], ast.Name)
                    and call.args[0].id == "__name__"
                )
            ):
                misnamed.append(f"{where}:{call.lineno}: {ast.unparse(call)}")
    for call in ast.walk(tree):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr in _LEVELS
            and isinstance(call.func.value, ast.Name)
            and "log" in call.func.value.id.lower()
        ):
            args = call.args[1:] if call.func.attr == "log" else call.args
            first = args[0] if args else None
            text = ""
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                text = first.value
            elif isinstance(first, ast.JoinedStr) and first.values:
                head = first.values[0]
                if isinstance(head, ast.Constant) and isinstance(head.value, str):
                    text = head.value
            if text.lower().startswith("dingwire"):
                prefixed.append(f"{where}:{call.lineno}: {ast.unparse(call)}")
    return misnamed, prefixed


@pytest.mark.parametrize(
    ("source", "misnamed", "prefixed"),
    [
        ("logger = logging.getLogger(__name__)", 0, 0),
        ('logger = logging.getLogger("dingwire")', 1, 0),
        ('logger = logging.getLogger("dingwire.fake")', 1, 0),
        ("log = getLogger()", 1, 0),
        ('def show(h):\n    logging.getLogger("dingwire").addHandler(h)', 0, 0),
        ('logger.warning("%s", text)', 0, 0),
        ('logger.warning("dingwire: %s", text)', 0, 1),
        ('logger.info(f"dingwire: {text}")', 0, 1),
        ('def f():\n    _log.log(logging.INFO, "dingwire: x")', 0, 1),
        ('click.echo("dingwire: x")', 0, 0),  # the CLI's own prefix, not a log record
    ],
)
def test_the_logger_check_sees_what_it_looks_for(source: str, misnamed: int, prefixed: int) -> None:
    found = _loggers_and_messages(source, "sample.py")
    assert (len(found[0]), len(found[1])) == (misnamed, prefixed)
