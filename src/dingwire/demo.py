"""``python -m dingwire.demo`` (``make demo``): dingwire end to end, with nothing but this machine.

Starts the fake DingTalk on http://127.0.0.1:8765/ (or a free port if that one is taken),
configures a signed robot and a keyword robot, sends one message of every type through
``dingwire.Robot`` — text with a mention, markdown, link, action cards with one and with
several buttons, a feed card — plus one the keyword robot refuses, prints what happened and
where to look, then keeps serving the page until Ctrl-C.

``--once`` (or ``DINGWIRE_DEMO_ONCE=1``) exits after checking that everything arrived:
status 0 when it did, 1 when it did not; 2, with one line saying what to install, without
the ``fake`` extra.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dingwire.core.errors import ConfigError, DingwireError
from dingwire.core.messages import (
    ActionCard,
    At,
    Button,
    FeedCard,
    FeedItem,
    Link,
    Markdown,
    Message,
    Text,
)

if TYPE_CHECKING:
    from dingwire.fake.server import FakeServer

__all__ = ["DEMO_PORT", "Sample", "main", "showcase"]

DEMO_PORT = 8765


@dataclass(frozen=True)
class Sample:
    """One message of the demo: which robot sends it, what it shows, and whether it should
    arrive."""

    robot: str
    label: str
    message: Message
    should_arrive: bool = True


def showcase(base_url: str) -> list[Sample]:
    """The demo's messages: every type, a mention, escaped HTML, and one refused message.

    Pictures come from the fake itself (``base_url``), so the page needs no internet.
    """
    img = f"{base_url}/static/img"
    site = "https://www.dingtalk.com/"
    return [
        Sample(
            "signed",
            "text with a mention",
            Text(
                "部署完成 ✅ checkout-service v1.4.2 is live. @13800000000 please verify.",
                at=At(mobiles=("13800000000",)),
            ),
        ),
        Sample(
            "signed",
            "markdown",
            Markdown(
                "杭州天气",
                "## 杭州天气 @13800000000\n\n"
                "> 9度，西北风1级，空气良89，相对温度73%\n\n"
                "**今日** *小雨转多云*，详见 [天气](https://www.dingtalk.com)\n\n"
                "- 上午：9°C\n- 下午：12°C\n\n"
                "1. 带伞\n2. 加衣\n\n"
                f"![趋势]({img}/banner.svg)\n\n"
                "###### 10点20分发布",
                at=At(mobiles=("13800000000",)),
            ),
        ),
        Sample(
            "signed",
            "link card",
            Link(
                "时代的火车向前开",
                "这个即将发布的新版本，创始人xx称它为红树林。而在此之前，每当面临重大升级，"
                "产品经理们都会取一个应景的代号。",
                site,
                pic_url=f"{img}/server.svg",
            ),
        ),
        Sample(
            "signed",
            "action card, one button",
            ActionCard(
                "乔布斯 20 年前想打造一间苹果咖啡厅",
                f"![screenshot]({img}/banner.svg)\n\n### 乔布斯 20 年前想打造的苹果咖啡厅\n\n"
                "Apple Store 的设计正从原来满满的科技感走向生活化。",
                buttons=(Button("阅读全文", site),),
            ),
        ),
        Sample(
            "signed",
            "action card, two buttons",
            ActionCard(
                "发布审批",
                "### 发布 v1.4.2 到生产环境？\n\n申请人：**ops-bot**  \n变更：3 个服务",
                buttons=(Button("同意", f"{site}?approve"), Button("拒绝", f"{site}?reject")),
                orientation="horizontal",
            ),
        ),
        Sample(
            "signed",
            "feed card",
            FeedCard(
                (
                    FeedItem("时代的火车向前开", site, f"{img}/banner.svg"),
                    FeedItem("服务器负载周报", f"{site}?weekly", f"{img}/chart.svg"),
                    FeedItem("机房巡检记录", f"{site}?dc", f"{img}/server.svg"),
                )
            ),
        ),
        Sample(
            "keyword",
            "text with the keyword",
            Text("告警: disk /var 91% full on db-1 — <script>alert('shown, never run')</script>"),
        ),
        Sample("keyword", "text without the keyword", Text("disk full"), should_arrive=False),
    ]


def _start(port: int) -> FakeServer:
    from dingwire.fake.server import FakeServer

    try:
        return FakeServer(port=port).start()
    except ConfigError:
        return FakeServer(port=0).start()  # the demo's port is taken: any free one


def run(once: bool, port: int = DEMO_PORT) -> int:
    """Run the demo; with ``once``, return 0 when everything arrived as expected, else 1."""
    from dingwire.budget import MemoryBudgetStore
    from dingwire.transport.robots import Robot

    server = _start(port)
    signed = server.add_robot(secret=True, name="运维群 ops (signed)")
    keyword = server.add_robot(keywords=["告警"], name="告警群 alerts (keyword)")
    robots = {
        # Robots of the library, exactly as a user makes them; the keyword robot's client is
        # not told the keyword, so that the message without it is refused.
        "signed": Robot(signed.webhook, signed.secret, budget_store=MemoryBudgetStore()),
        "keyword": Robot(keyword.webhook, budget_store=MemoryBudgetStore()),
    }
    try:
        samples = showcase(server.url)
        rows: list[tuple[str, str, str, str]] = []
        outcome_ok = True
        for sample in samples:
            robot = robots[sample.robot]
            try:
                robot.send(sample.message)
                result = "delivered"
                arrived = True
            except DingwireError as error:
                reason = str(error).rsplit(": ", 1)[-1]
                result = f"refused: errcode {error.errcode} {reason}"
                arrived = False
            outcome_ok &= arrived == sample.should_arrive
            expected = "" if arrived == sample.should_arrive else "  ← unexpected"
            rows.append((sample.robot, sample.message.msgtype, sample.label, result + expected))
        delivered = len(server.delivered())
        expected_count = sum(s.should_arrive for s in samples)
        outcome_ok &= delivered == expected_count and len(server.messages()) == len(samples)
        _print_table(rows)
        print(f"\n{delivered} of {len(samples)} messages delivered, as expected: {outcome_ok}")
        print(f"\nopen {server.url}/")
        if once or not outcome_ok:
            return 0 if outcome_ok else 1
        print("serving the fake DingTalk until Ctrl-C …", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print()
        return 0
    finally:
        for robot in robots.values():
            robot.close()
        server.stop()


def _print_table(rows: list[tuple[str, str, str, str]]) -> None:
    header = ("robot", "msgtype", "message", "result")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))


def main(argv: list[str] | None = None) -> int:
    """The command line of ``python -m dingwire.demo``."""
    parser = argparse.ArgumentParser(prog="python -m dingwire.demo", description=__doc__)
    parser.add_argument("--once", action="store_true", help="exit after sending and checking")
    parser.add_argument("--port", type=int, default=DEMO_PORT)
    args = parser.parse_args(argv)
    once = args.once or os.environ.get("DINGWIRE_DEMO_ONCE", "") not in ("", "0")
    from dingwire.fake._extra import MissingExtraError, require_extra

    try:
        require_extra()
    except MissingExtraError as error:
        print(f"dingwire demo: {error}", file=sys.stderr)
        return 2
    return run(once, args.port)


if __name__ == "__main__":
    sys.exit(main())
