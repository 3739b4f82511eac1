"""``dingwire fake``: the options reach ``serve``; a missing extra is said plainly."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

from dingwire.fake import server

from .conftest import Invoke


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    def serve(host: str, port: int, config_path: str | None, *, quiet: bool = False) -> None:
        calls.append((host, port, config_path, quiet))

    monkeypatch.setattr(server, "serve", serve)
    return calls


def test_defaults_are_the_fakes(invoke: Invoke, served: list[tuple[Any, ...]]) -> None:
    assert invoke("fake").exit_code == 0
    assert served == [(server.DEFAULT_HOST, server.DEFAULT_PORT, None, False)]


def test_options_reach_serve(invoke: Invoke, served: list[tuple[Any, ...]], tmp_path: Path) -> None:
    config = tmp_path / "fake.toml"
    config.write_text("", encoding="utf-8")
    args = ["fake", "--host", "0.0.0.0", "--port", "0", "--config", str(config), "-q"]
    assert invoke(*args).exit_code == 0
    assert served == [("0.0.0.0", 0, str(config), True)]


def test_a_bad_port_is_a_usage_error(invoke: Invoke, served: list[tuple[Any, ...]]) -> None:
    assert invoke("fake", "--port", "70000").exit_code == 2
    assert served == []


def test_the_global_config_is_not_the_fakes(
    invoke: Invoke, served: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    config = tmp_path / "dingwire.toml"
    config.write_text("", encoding="utf-8")
    assert invoke("--config", str(config), "fake").exit_code == 0
    assert served[0][2] is None


def test_without_the_extra_it_says_what_to_install(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_fake(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "dingwire.fake.server":
            raise ModuleNotFoundError("No module named 'starlette'", name="starlette")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fake)
    result = invoke("fake")
    assert result.exit_code == 2
    assert "pip install 'dingwire[fake]'" in result.stderr
    assert "starlette" in result.stderr


def test_a_port_in_use_is_a_configuration_error(invoke: Invoke) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = invoke("fake", "--port", str(taken.getsockname()[1]), "--quiet")
    assert result.exit_code == 2
    assert "cannot listen" in result.stderr
