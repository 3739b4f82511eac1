"""Helpers for the command-line tests: run ``dingwire`` in-process or as a real process.

``invoke`` runs the click group through :class:`click.testing.CliRunner` (the same
``main`` the console script runs, so exit statuses and messages are the real ones);
``dingwire_process`` runs ``.venv/bin/dingwire`` itself. Both check that no secret handed
to them appears in anything the command printed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dingwire.cli import cli

DINGWIRE = Path(sys.executable).parent / "dingwire"

#: A known-answer vector from DingTalk's docs (API.md §1.3).
VECTOR_SECRET = "SECb90923e19e58b466481e9e7b7a5b4f108a4531abde590ad3967fb29f0eae5c68"
VECTOR_TIMESTAMP = 1582163555000
VECTOR_SIGN = "BQKsG%2BQOCl%2BbYJOLc6pxDHxjVquzlZPWgvRzeN2J5zY%3D"


def assert_no_secrets(text: str, secrets: Sequence[str | None]) -> None:
    for secret in secrets:
        if secret:
            assert secret not in text, f"a secret leaked into the output:\n{text}"


Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def _no_user_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No config file of this machine's user is found: $XDG_CONFIG_HOME is an empty directory."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


@pytest.fixture
def invoke() -> Invoke:
    """``invoke("send", "text", "hi", input=..., env=..., secrets=[...])`` → click Result."""
    runner = CliRunner()

    def run(
        *args: str,
        input: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Sequence[str | None] = (),
    ) -> Result:
        result = runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=False)
        assert_no_secrets(result.output, secrets)
        return result

    return run


@dataclass
class Completed:
    status: int
    stdout: str
    stderr: str


Process = Callable[..., Completed]


@pytest.fixture
def dingwire_process() -> Process:
    """Run the installed ``dingwire`` script with the test's environment (and ``env``)."""

    def run(
        *args: str,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Sequence[str | None] = (),
        timeout: float = 30,
        cwd: str | os.PathLike[str] | None = None,
    ) -> Completed:
        completed = subprocess.run(
            [str(DINGWIRE), *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
            cwd=cwd,
        )
        assert_no_secrets(completed.stdout + completed.stderr, secrets)
        return Completed(completed.returncode, completed.stdout, completed.stderr)

    return run


@pytest.fixture
def refusing_url() -> Iterator[str]:
    """A webhook on a port that is bound but not listening: every connection is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/robot/send?access_token=refused0token"
    finally:
        sock.close()
