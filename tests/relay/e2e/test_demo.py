"""``make demo``'s relay part: the relay starts beside the fake, the Alertmanager and Grafana
notifications, their resolution and the 300-alert burst all arrive, and both URLs are shown."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.relay.e2e.harness import python_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


def test_the_demo_shows_the_relay_and_its_digests() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dingwire.demo", "--port", "0", "--relay-port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**python_env(), "DINGWIRE_DEMO_ONCE": "1"},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "7 of 8 messages delivered, as expected: True" in out
    for label in (
        "Alertmanager: 2 alerts firing",
        "Grafana: firing + resolved",
        "Alertmanager: their resolution",
    ):
        assert re.search(rf"{re.escape(label)}\s+\S+\s+202\s+delivered", out), out
    burst = re.search(r"burst: 300 alerts\s+\S+ ×75\s+75×202\s+delivered in (\d+) messages", out)
    assert burst, out
    assert int(burst.group(1)) < 20  # digests: fewer messages than one minute's budget
    assert re.search(r"open http://127\.0\.0\.1:\d+/", out)
    assert re.search(r"relay http://127\.0\.0\.1:\d+/", out)
    assert "unexpected" not in out
