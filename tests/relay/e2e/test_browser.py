"""A digest as the group sees it: the relay merges a burst, and the fake's page (Chromium,
driven by Playwright as in ``tests/fake/test_browser.py``) shows it with its count in bold and
every alert's line, each value escaped (no link or mention planted by alert data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.relay.e2e.conftest import FakeFactory, RelayFactory
from tests.relay.e2e.harness import (
    FakeRobot,
    RelayRobot,
    alert,
    notification,
    post_all,
    shown_text,
)

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
TOKEN = "e2e" + "9" * 57 + "b0a5"


def test_a_digest_on_the_fakes_page(
    start_fake: FakeFactory, start_relay: RelayFactory, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert os.path.exists(CHROMIUM), "run scripts/ensure-chromium"
    fake = start_fake([FakeRobot(TOKEN, rate_limit="2/3s", lockout="60s", name="告警群 digest")])
    relay = start_relay(fake, [RelayRobot("digest", TOKEN, rate_limit="2/3s")])
    names = [f"Burst{i:02d}" for i in range(40)]
    payloads = [
        notification(
            [
                alert(
                    name,
                    instance=f"web-{i}:9100",
                    # alert data trying to plant a link and a mention: shown as text
                    summary=f"{name} p99 above 2s [click](https://evil.example/) @all",
                )
                for i, name in enumerate(names[k : k + 4], k)
            ],
            group={"job": f"burst-{k}"},
        )
        for k in range(0, 40, 4)
    ]
    post_all(relay, "/v1/robots/digest/alertmanager", payloads, posters=4)
    delivered = fake.wait_for_names(TOKEN, names, timeout=60)
    digest = max(delivered, key=lambda m: sum(n in shown_text(m) for n in names))
    merged = [n for n in names if n in shown_text(digest)]
    assert len(merged) >= 10, "no digest: the burst went out one by one"
    assert digest["body"]["msgtype"] == "markdown"
    assert "@all" not in digest["body"]["markdown"]["text"]  # escaped: @\u200ball
    assert not digest["body"].get("at", {}).get("isAtAll")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 960}, locale="zh-CN")
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(fake.url + "/")
            expect(page.locator(".timeline .msg")).to_have_count(len(delivered))
            shown = page.locator('.msg[data-msgtype="markdown"]', has_text=merged[-1]).last
            for name in merged:
                expect(shown).to_contain_text(name)
            expect(shown).to_contain_text("FIRING")
            # the count is in bold, the alert data planted no link and no mention
            expect(shown.locator(".md strong").first).to_be_visible()
            expect(shown.locator(".md a[href*='evil.example']")).to_have_count(0)
            expect(shown.locator(".mention")).to_have_count(0)
            expect(shown).to_contain_text("[click](https:/")  # the text, not a link
            shown.scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "digest.png"), full_page=False)
            assert problems == []
        finally:
            browser.close()
