"""Shared test settings: every test gets its own rate-limit store and no stray config."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    cache = tmp_path_factory.mktemp("dingwire-cache")
    monkeypatch.setenv("DINGWIRE_CACHE_DIR", str(cache))
    for var in ("DINGWIRE_CONFIG", "DINGWIRE_WEBHOOK", "DINGWIRE_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return cache
