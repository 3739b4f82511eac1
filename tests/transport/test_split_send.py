"""Robot.send(split=True): long content arrives whole, in order, within DingTalk's limit,
in at most max_parts parts."""

from collections.abc import Callable
from typing import Any

import pytest

from dingwire import At, KeywordError, Markdown, RetryPolicy, Robot, Text, TooLargeError
from dingwire.core.errors import TooManyPartsError
from dingwire.core.protocol import MAX_BODY_BYTES
from tests.transport.both import ROBOTS, Send
from tests.transport.endpoint import Endpoint

REPORT = "\n\n".join(f"## Section {i}\n\n" + "数据 " * 800 for i in range(12))
# More than ten parts of JSON, though under ten parts' worth of characters: counted exactly.
LONG = Text("\n\n".join(f"line {i}:" + "  ok" * 40 for i in range(1800)))


def robot(endpoint: Endpoint, **options: object) -> Robot:
    return Robot(endpoint.webhook(), rate_limit=None, **options)  # type: ignore[arg-type]


def test_without_split_too_large_is_refused_before_sending(endpoint: Endpoint) -> None:
    with pytest.raises(TooLargeError, match="20,000") as caught:
        robot(endpoint).send(Markdown("Report", REPORT))
    assert "split=True" in caught.value.advice
    assert endpoint.seen == []


def test_split_sends_numbered_parts_with_keyword_and_mention_last(endpoint: Endpoint) -> None:
    r = robot(endpoint, keywords=["告警"], mention=At(user_ids=["oncall"]))
    result = r.send(Markdown("Report", REPORT), split=True)
    assert result.parts == len(endpoint.seen) > 1
    assert result.attempts == result.parts
    bodies = [s.json() for s in endpoint.seen]
    assert all(len(s.body) <= MAX_BODY_BYTES for s in endpoint.seen)
    n = len(bodies)
    assert [b["markdown"]["title"] for b in bodies] == [
        f"Report ({i}/{n})" for i in range(1, n + 1)
    ]
    assert all("【告警】" in b["markdown"]["text"] for b in bodies)
    assert [("at" in b) for b in bodies] == [False] * (n - 1) + [True]
    assert bodies[-1]["markdown"]["text"].rstrip().endswith("@oncall")
    text = "".join(b["markdown"]["text"] for b in bodies)
    assert all(f"Section {i}" in text for i in range(12))


def test_a_message_that_fits_is_sent_once(endpoint: Endpoint) -> None:
    assert robot(endpoint).send(Text("short"), split=True).parts == 1
    assert endpoint.seen[0].json() == {"msgtype": "text", "text": {"content": "short"}}


def test_a_failing_part_says_how_many_were_delivered(endpoint: Endpoint) -> None:
    endpoint.then("json", 0, "ok").then("json", 310000, "keywords not in content")
    with pytest.raises(KeywordError) as caught:
        robot(endpoint, retry=RetryPolicy(attempts=1)).send(Markdown("R", REPORT), split=True)
    assert any("part 2 of" in note and "1 part(s)" in note for note in caught.value.__notes__)
    assert len(endpoint.seen) == 2


# -- the ceiling: max_parts ---------------------------------------------------------------


@pytest.mark.parametrize("send", ROBOTS)
def test_more_parts_than_max_parts_are_refused_before_anything_is_sent(
    endpoint: Endpoint, send: Send
) -> None:
    with pytest.raises(TooManyPartsError) as caught:
        send(endpoint.webhook(), LONG, rate_limit=None, split=True)
    assert caught.value.parts > 10
    assert caught.value.max_parts == 10
    assert isinstance(caught.value, TooLargeError)
    assert endpoint.seen == []


@pytest.mark.parametrize("send", ROBOTS)
def test_max_parts_allows_more(endpoint: Endpoint, send: Send) -> None:
    parts = len(robot(endpoint).bodies(LONG, split=True, max_parts=100))
    assert parts > 10
    result = send(endpoint.webhook(), LONG, rate_limit=None, split=True, max_parts=parts)
    assert result.parts == parts == len(endpoint.seen)
    with pytest.raises(TooManyPartsError, match=rf"would take {parts} parts"):
        send(endpoint.webhook(), LONG, rate_limit=None, split=True, max_parts=parts - 1)
    assert len(endpoint.seen) == parts


def test_the_keyword_tag_is_counted_in_the_ceiling(endpoint: Endpoint) -> None:
    plain = len(robot(endpoint).bodies(LONG, split=True, max_parts=100))
    tagged = robot(endpoint, keywords=["告警告警告警告警告警告警"]).bodies(
        LONG, split=True, max_parts=100
    )
    assert len(tagged) >= plain
    assert all(len(body) <= MAX_BODY_BYTES for body in tagged)


TEXT_50_MB = ("The quick brown fox jumps over the lazy dog 0123456789\n" * 1_000_000)[:50_000_000]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Markdown("Report", TEXT_50_MB),
        lambda: Text(TEXT_50_MB),
        lambda: {"msgtype": "markdown", "markdown": {"title": "Report", "text": TEXT_50_MB}},
    ],
    ids=["markdown", "text", "dict"],
)
def test_a_50_mb_message_is_refused_at_once(endpoint: Endpoint, make: Callable[[], Any]) -> None:
    import time
    import tracemalloc

    message = make()
    r = robot(endpoint, keywords=["告警"])
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(TooManyPartsError, match=r"about [\d,]+ parts"):
        r.bodies(message, split=True)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 0.5  # a refusal reads a few hundred KB: generous for a loaded machine
    assert peak < 5_000_000
    assert endpoint.seen == []
