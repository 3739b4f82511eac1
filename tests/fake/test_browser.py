"""The preview page in a real browser (Playwright driving Debian's Chromium): every message type
renders, mentions are highlighted, ``<script>`` stays text, refusals show their errcode, and
the page follows new messages live. One browser launch, several checks; a screenshot is kept.

The screenshot goes to the test's temporary directory; with ``DINGWIRE_UPDATE_SCREENSHOT=1``
(or when it is missing) it also replaces ``docs/img/fake.png``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import requests

import dingwire
from dingwire.demo import showcase
from dingwire.fake import FakeServer

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "fake.png"
XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def test_the_page_renders_every_type_and_updates_live(
    dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert os.path.exists(CHROMIUM), "run scripts/ensure-chromium"
    signed = dingtalk_fake.add_robot(secret=True, name="运维群 ops (signed)")
    keyword = dingtalk_fake.add_robot(keywords=["告警"], name="告警群 alerts (keyword)")
    senders = {
        "signed": signed.client(),
        "keyword": dingwire.Robot(keyword.webhook, budget_store=dingwire.MemoryBudgetStore()),
    }
    samples = showcase(dingtalk_fake.url)
    for sample in samples:
        try:
            senders[sample.robot].send(sample.message)
        except dingwire.KeywordError:
            assert not sample.should_arrive
    senders["signed"].send(dingwire.Text(f"escaped: {XSS} <b>not bold</b>"))
    delivered = sum(s.should_arrive for s in samples) + 1

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 960}, locale="zh-CN")
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type == "error" else None,
            )
            page.goto(dingtalk_fake.url + "/")
            messages = page.locator(".timeline .msg")
            expect(messages).to_have_count(delivered)
            expect(page.locator("#status")).to_have_attribute("data-state", "live")

            # text: the mention is highlighted
            text = page.locator('.msg[data-msgtype="text"]').first
            expect(text.locator(".mention")).to_have_text("@13800000000")
            # markdown: DingTalk's subset rendered
            markdown = page.locator('.msg[data-msgtype="markdown"] .md')
            expect(markdown.locator("h2")).to_contain_text("杭州天气")
            expect(markdown.locator("h2 .mention")).to_have_text("@13800000000")
            expect(markdown.locator("blockquote")).to_contain_text("西北风1级")
            expect(markdown.locator("strong")).to_have_text("今日")
            expect(markdown.locator("em")).to_have_text("小雨转多云")
            expect(markdown.locator("ul li")).to_have_count(2)
            expect(markdown.locator("ol li")).to_have_count(2)
            expect(markdown.locator("a")).to_have_attribute("href", "https://www.dingtalk.com")
            expect(markdown.locator("img")).to_have_attribute(
                "src", f"{dingtalk_fake.url}/static/img/banner.svg"
            )
            expect(markdown.locator("h6")).to_have_text("10点20分发布")
            # link card with its picture
            link = page.locator(".link-card")
            expect(link.locator(".card-title")).to_have_text("时代的火车向前开")
            expect(link).to_have_attribute("href", "https://www.dingtalk.com/")
            expect(link.locator("img.link-pic")).to_have_attribute(
                "src", f"{dingtalk_fake.url}/static/img/server.svg"
            )
            # action cards: one whole-card button, two horizontal buttons
            expect(page.locator(".action-card .btn.single")).to_have_text("阅读全文")
            buttons = page.locator(".action-card .buttons.horizontal .btn")
            expect(buttons).to_have_text(["同意", "拒绝"])
            # feed card: a big first item and rows with thumbnails
            expect(page.locator(".feed-card .feed-first .feed-title")).to_have_text(
                "时代的火车向前开"
            )
            expect(page.locator(".feed-card .feed-item")).to_have_count(2)
            # every picture loaded (they come from the fake itself)
            for img in page.locator(".timeline img:not(.avatar)").all():
                img.scroll_into_view_if_needed()
                assert img.evaluate("i => i.complete && i.naturalWidth > 0"), img.get_attribute(
                    "src"
                )
            # the refused message: its errcode and reason
            refused = page.locator(".notice.refused")
            expect(refused).to_have_count(1)
            expect(refused).to_have_attribute("data-errcode", "310000")
            expect(refused).to_contain_text("关键词不匹配")
            # <script> and HTML in a message are text
            escaped = page.locator(".msg", has_text="escaped:")
            expect(escaped).to_contain_text("<script>window.__pwned = 1</script>")
            expect(escaped).to_contain_text("<b>not bold</b>")
            expect(escaped.locator("b, script, img:not(.avatar)")).to_have_count(0)
            assert page.evaluate("window.__pwned") is None
            # no secret on the page
            html = page.content()
            for secret in (signed.token, keyword.token, signed.secret or "-"):
                assert secret not in html

            # live: a new message appears without a reload, in its conversation too
            page.locator(
                f'.conv[data-robot="{messages.first.get_attribute("data-robot")}"]'
            ).click()
            expect(page.locator("#chat-title")).to_have_text("运维群 ops (signed)")
            senders["signed"].send(dingwire.Text("a new message, live"))
            expect(page.locator(".timeline .msg").last).to_contain_text("a new message, live")
            expect(page.locator(".notice.refused")).to_have_count(0)  # the other robot's
            page.locator('.conv[data-robot="all"]').click()
            expect(page.locator(".timeline .msg")).to_have_count(delivered + 1)
            keyword.client().send(dingwire.Text("告警: live too"))
            expect(page.locator(".timeline .msg")).to_have_count(delivered + 2)

            # escape_markdown's output reads as the value itself: no emphasis, link or mention
            value = "*not italic* [no link](https://a.example/) @all <b>x</b> a&b \\ 1."
            signed.client().send(
                dingwire.Markdown("escaped", f"label: {dingwire.escape_markdown(value)}")
            )
            expect(page.locator(".timeline .msg")).to_have_count(delivered + 3)
            shown = page.locator('.msg[data-msgtype="markdown"] .md').last
            expect(shown).to_contain_text("*not italic* [no link](https:/")
            expect(shown).to_contain_text("<b>x</b> a&b \\ 1.")
            expect(shown.locator("em, strong, a, b, .mention")).to_have_count(0)

            # a token under a misspelled name, or with none, is masked in a refusal's details
            query = f"access_token=nobody&acess_token={keyword.token}&{signed.token}&timestamp=7"
            requests.post(
                f"{dingtalk_fake.url}/robot/send?{query}",
                json={"msgtype": "text", "text": {"content": "告警"}},
                timeout=10,
            )
            unknown = page.locator(".notice.refused[data-errcode='300005']")
            expect(unknown).to_have_count(1)
            expect(unknown.locator("details pre")).to_contain_text(
                "/robot/send?access_token=**********&acess_token=**********&**********&timestamp=7"
            )
            html = page.content()
            for secret in (signed.token, keyword.token, signed.secret or "-"):
                assert secret not in html

            shot = tmp_path / "fake.png"
            # Tall enough to show every message at once, for the README.
            page.set_viewport_size({"width": 1280, "height": 2040})
            page.locator(".timeline").evaluate("t => { t.scrollTop = 0; }")
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            assert problems == []
        finally:
            browser.close()
    if os.environ.get("DINGWIRE_UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


@pytest.fixture(autouse=True)
def _no_proxy_for_the_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    # The browser talks to 127.0.0.1 only; a proxy from the environment must not intercept it.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
