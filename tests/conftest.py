"""Shared test settings: every test gets its own rate-limit store and no stray config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI explores the same examples on every run, so that a landing never depends on the draw;
# local runs keep drawing new ones (and remember their failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    cache = tmp_path_factory.mktemp("dingwire-cache")
    monkeypatch.setenv("DINGWIRE_CACHE_DIR", str(cache))
    for var in ("DINGWIRE_CONFIG", "DINGWIRE_WEBHOOK", "DINGWIRE_SECRET"):
        monkeypatch.delenv(var, raising=False)
    # Robots honour HTTPS_PROXY & co.: a developer's proxy must not carry the tests' requests.
    for var in [name for name in os.environ if name.lower().endswith("_proxy")]:
        monkeypatch.delenv(var)
    return cache
