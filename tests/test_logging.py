"""dingwire logs as a library should (the logging HOWTO).

An application that configured no logging sees nothing from dingwire, warnings included (no
record reaches Python's last resort, which prints on stderr); one that called
``logging.basicConfig()`` sees each record under the name of the module that logged it, and
no message repeats a "dingwire:" prefix (the command line adds its own when it shows them).
"""

from __future__ import annotations

import ast
import importlib.util
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


def test_an_application_with_logging_sees_the_retry_under_the_module_name() -> None:
    lines = _run("configured").stderr.splitlines()
    assert lines, "the retry after HTTP 503 logged nothing"
    for line in lines:
        name, _, message = line.split("|", 2)
        assert name.startswith("dingwire."), f"{name!r} is the package's logger, not a module's"
        assert importlib.util.find_spec(name) is not None, f"{name!r} names no module"
        assert not message.lower().startswith("dingwire"), message
        assert "T0KEN5ECRET" not in message
    assert any(level == "WARNING" and "503" in message for _, level, message in
               (line.split("|", 2) for line in lines))  # fmt: skip


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


_LEVELS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _is_get_logger(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and "getLogger" in (
        getattr(node.func, "attr", None),
        getattr(node.func, "id", None),
    )


def _by_name(call: ast.AST) -> bool:
    """``getLogger(__name__)``: the module's own logger."""
    return (
        isinstance(call, ast.Call)
        and len(call.args) == 1
        and isinstance(call.args[0], ast.Name)
        and call.args[0].id == "__name__"
    )


def _loggers_and_messages(source: str, where: str) -> tuple[list[str], list[str]]:
    """The log calls that go to a logger not named ``__name__``, and the log messages that
    start with "dingwire" (both as 'file:line: source'). A logger looked up by another name
    only to be configured (a handler added for the command line or ``serve``) is fine."""
    tree = ast.parse(source)
    misnamed: list[str] = []
    prefixed: list[str] = []
    other_loggers: set[str] = set()  # module-level names bound to getLogger(not __name__)
    for node in tree.body:
        if isinstance(node, ast.Assign) and _is_get_logger(node.value) and not _by_name(node.value):
            other_loggers |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    for call in ast.walk(tree):
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr in _LEVELS
        ):
            continue
        receiver = call.func.value
        if (isinstance(receiver, ast.Name) and receiver.id in other_loggers) or (
            _is_get_logger(receiver) and not _by_name(receiver)
        ):
            misnamed.append(f"{where}:{call.lineno}: {ast.unparse(call)}")
        if not (
            (isinstance(receiver, ast.Name) and "log" in receiver.id.lower())
            or _is_get_logger(receiver)
        ):
            continue
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


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC.parent)))
def test_each_module_logs_under_its_own_name_without_a_prefix(path: Path) -> None:
    where = str(path.relative_to(SRC.parent))
    misnamed, prefixed = _loggers_and_messages(path.read_text(encoding="utf-8"), where)
    assert not misnamed, f"a module's logger is logging.getLogger(__name__): {misnamed}"
    assert not prefixed, f"log messages carry no 'dingwire:' prefix: {prefixed}"


@pytest.mark.parametrize(
    ("source", "misnamed", "prefixed"),
    [
        ('logger = logging.getLogger(__name__)\nlogger.warning("%s", text)', 0, 0),
        ('logger = logging.getLogger("dingwire")\nlogger.info("x")', 1, 0),
        ('logger = logging.getLogger("dingwire.fake")\ndef f():\n    logger.debug("x")', 1, 0),
        ('log = getLogger()\nlog.warning("x")', 1, 0),
        ('logging.getLogger("dingwire.budget").warning("x")', 1, 0),
        (
            '_parent = logging.getLogger("dingwire.fake")\ndef serve(h):\n    _parent.addHandler(h)',
            0,
            0,
        ),
        ('def show(h):\n    logging.getLogger("dingwire").addHandler(h)', 0, 0),
        ('logger.warning("dingwire: %s", text)', 0, 1),
        ('logger.info(f"dingwire: {text}")', 0, 1),
        ('def f():\n    _log.log(logging.INFO, "dingwire: x")', 0, 1),
        ('click.echo("dingwire: x")', 0, 0),  # the CLI's own prefix, not a log record
    ],
)
def test_the_logger_check_sees_what_it_looks_for(source: str, misnamed: int, prefixed: int) -> None:
    found = _loggers_and_messages(source, "sample.py")
    assert (len(found[0]), len(found[1])) == (misnamed, prefixed)
