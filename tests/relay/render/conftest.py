"""Shared pieces of the render tests: the shared sample payloads and renderers from a config."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dingwire.config import load_config
from dingwire.relay.render import Renderer
from dingwire.relay.settings import RelaySettings

#: Copies of the shared samples (real Alertmanager and Grafana payloads).
SAMPLES = Path(__file__).resolve().parent / "samples"

WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=" + "a1b2c3d4" * 8
SECRET = "SEC" + "0123456789abcdef" * 4
#: 2026-11-30 12:00:00 UTC, after every sample's start.
NOW = 1_796_040_000.0

BASE_CONFIG = f"""
[robots.ops]
webhook = "{WEBHOOK}"
secret = "{SECRET}"

[robots.pager]
webhook = "{WEBHOOK}"
mention = {{ mobiles = ["13800000000"], user_ids = ["boss01"] }}
"""


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of one sample payload (``alertmanager/firing-two-alerts``)."""
    with open(SAMPLES / f"{name}.json", encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return copy.deepcopy(data)


MakeRenderer = Callable[..., Renderer]


@pytest.fixture
def make_renderer(tmp_path: Path) -> MakeRenderer:
    """``make_renderer(extra_toml="", files={name: text})``: a Renderer from a config file."""

    def make(extra: str = "", files: dict[str, str] | None = None) -> Renderer:
        for name, text in (files or {}).items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        config_file = tmp_path / "dingwire.toml"
        config_file.write_text(BASE_CONFIG + extra, encoding="utf-8")
        config = load_config(config_file, env={})
        return Renderer.load(RelaySettings.from_config(config), config)

    return make


@pytest.fixture
def renderer(make_renderer: MakeRenderer) -> Renderer:
    """A renderer with the default template and two robots (``pager`` mentions two people)."""
    return make_renderer()
