"""Robot.send(split=True): long content arrives whole, in order, within DingTalk's limit."""

import pytest

from dingwire import At, KeywordError, Markdown, RetryPolicy, Robot, Text, TooLargeError
from dingwire.core.protocol import MAX_BODY_BYTES
from tests.transport.endpoint import Endpoint

REPORT = "\n\n".join(f"## Section {i}\n\n" + "数据 " * 800 for i in range(12))


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
