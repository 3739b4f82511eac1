"""split: parts that each fit the body limit, cut where a reader expects, numbered,
mentions on the last part."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dingwire.content import split as capped_split
from dingwire.content.cutting import MARK
from dingwire.core.errors import TooLargeError, TooManyPartsError
from dingwire.core.messages import (
    ActionCard,
    At,
    Button,
    FeedCard,
    FeedItem,
    Link,
    Markdown,
    Text,
    to_payload,
)
from dingwire.core.protocol import MAX_BODY_BYTES, build_request
from tests.content.helpers import (
    body_size,
    chars_kept,
    is_subsequence,
    joined,
    part_text,
    visible_lines,
)
from tests.content.strategies import DOCUMENT, LINK_PATTERN, SLOW, TEXT

AT = At(mobiles=["13800000000"], user_ids=["ops_lead"])
LIMITS = st.sampled_from([600, 1000, 2500, 20_000])
#: The tests of where cuts fall split into as many parts as it takes; the ceiling has its own.
UNCAPPED = 1_000_000


def split(message: Any, limit: int = MAX_BODY_BYTES, *, max_parts: int = UNCAPPED) -> list[Any]:
    return capped_split(message, limit, max_parts=max_parts)


def check_parts(parts: list[Any], source: str, limit: int) -> None:
    """What every split must guarantee."""
    for part in parts:
        assert body_size(part) <= limit
    payloads = [to_payload(p) for p in parts]
    # Mentions go with the last part only, and notify there.
    assert all("at" not in p for p in payloads[:-1])
    last = payloads[-1]
    if "at" in last:
        text = part_text(parts[-1])
        assert "@13800000000" in text
        assert "@ops_lead" in text
    # Numbered (1/n)…(n/n) when there is more than one.
    if len(parts) > 1:
        n = len(parts)
        for i, p in enumerate(payloads, 1):
            obj = p[p["msgtype"]]
            label = obj.get("title", obj.get("content", ""))
            assert f"({i}/{n})" in label
    # Nothing lost, nothing reordered: the visible characters of the input are all there,
    # in order, once the continuation marks are taken out.
    assert chars_kept(source, joined(parts))


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW)
@given(DOCUMENT, LIMITS)
def test_markdown_parts_fit_and_keep_everything(source: str, limit: int) -> None:
    message = Markdown("Nightly 日报", source, at=AT)
    parts = split(message, limit=limit)
    check_parts(parts, source, limit)
    assert all(isinstance(p, Markdown) for p in parts)
    # Every word of the input, in order (no generated word is longer than a part).
    assert is_subsequence(visible_lines(source).split(), "\n".join(part_text(p) for p in parts))
    # No link or image is cut: each is whole in one part.
    for link in LINK_PATTERN.findall(source):
        assert any(link in part_text(p) for p in parts), link


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW)
@given(TEXT.filter(str.strip), LIMITS)
def test_text_parts_fit_and_keep_everything(source: str, limit: int) -> None:
    parts = split(Text(source, at=AT), limit=limit)
    check_parts(parts, source, limit)
    assert all(isinstance(p, Text) for p in parts)
    assert is_subsequence(source.split(), "\n".join(part_text(p) for p in parts))


@settings(max_examples=50, deadline=None, suppress_health_check=SLOW)
@given(
    st.tuples(st.text(min_size=1), st.integers(1, 200))
    .map(lambda t: t[0] * t[1])
    .filter(str.strip),
    st.sampled_from([300, 600]),
    st.booleans(),
)
def test_any_text_splits_within_the_limit(source: str, limit: int, markdown: bool) -> None:
    message = Markdown("t", source) if markdown else Text(source)
    parts = split(message, limit=limit)
    assert all(body_size(p) <= limit for p in parts)
    assert chars_kept(source.replace("\r", "\n"), joined(parts))


def test_a_message_that_fits_comes_back_as_it_is() -> None:
    message = Markdown("t", "short", at=AT)
    assert split(message)[0] is message
    payload = {"msgtype": "text", "text": {"content": "short"}}
    assert split(payload) == [payload]
    link = Link("t", "x", "https://x.example")
    assert split(link) == [link]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (Link("title", "x" * 30_000, "https://x.example"), "a link message cannot be split"),
        (
            FeedCard([FeedItem("x" * 300, "https://x.example", "https://x.example/p.png")] * 80),
            "a feedCard message cannot be split",
        ),
    ],
)
def test_cards_without_text_to_cut_raise(message: Any, reason: str) -> None:
    with pytest.raises(TooLargeError, match=reason) as caught:
        split(message)
    assert caught.value.size is not None
    assert caught.value.size > MAX_BODY_BYTES
    assert caught.value.limit == MAX_BODY_BYTES


def test_an_action_card_goes_out_as_markdown_then_the_card() -> None:
    buttons = (Button("Open", "https://x.example/1"), Button("Ack", "https://x.example/2"))
    card = ActionCard(
        "Incident",
        "## Details\n\n" + "line of text\n\n" * 3000,
        buttons=buttons,
        orientation="horizontal",
    )
    parts = split(card)
    assert len(parts) > 1
    assert all(isinstance(p, Markdown) for p in parts[:-1])
    last = parts[-1]
    assert isinstance(last, ActionCard)
    assert last.buttons == buttons
    assert last.orientation == "horizontal"
    assert last.title == f"Incident ({len(parts)}/{len(parts)})"
    assert all(body_size(p) <= MAX_BODY_BYTES for p in parts)


def test_dicts_split_into_dicts() -> None:
    payload = {
        "msgtype": "markdown",
        "markdown": {"title": "Report", "text": "para\n\n" * 8000},
        "at": {"atMobiles": ["13800000000"], "atUserIds": [], "isAtAll": False},
        "msgUuid": "abc",
    }
    parts = split(payload)
    assert len(parts) > 1
    assert all(isinstance(p, dict) for p in parts)
    assert [p["msgUuid"] for p in parts] == [f"abc-{i}" for i in range(1, len(parts) + 1)]
    assert "at" not in parts[0]
    assert parts[-1]["at"] == payload["at"]
    assert parts[0]["markdown"]["title"] == f"Report (1/{len(parts)})"
    assert all(body_size(p) <= MAX_BODY_BYTES for p in parts)
    text = {"msgtype": "text", "text": {"content": "word " * 6000}}
    parts = split(text)
    assert parts[1]["text"]["content"].startswith(f"(2/{len(parts)}) ")


def test_parts_are_numbered_past_nine() -> None:
    parts = split(Text("word " * 4000), limit=1000)
    n = len(parts)
    assert n >= 10
    assert [p.content.split(" ", 1)[0] for p in parts] == [f"({i}/{n})" for i in range(1, n + 1)]


def test_the_limit_is_honoured_exactly_and_used() -> None:
    parts = split(Markdown("t", "word " * 20_000), limit=5_000)
    sizes = [body_size(p) for p in parts]
    assert max(sizes) <= 5_000
    # Parts are full: none but the last is much under the limit.
    assert min(sizes[:-1]) > 4_900


def test_room_left_for_a_keyword_is_enough() -> None:
    # A robot in keyword mode adds "【告警】 " to a part: it splits with that room left.
    tag = len("【告警】 ".encode())
    source = "## 告警详情\n\n" + "\n\n".join(f"- host-{i}: disk {i}% full" for i in range(3000))
    for part in split(Markdown("Disk", source), limit=MAX_BODY_BYTES - tag):
        build_request(
            "https://oapi.dingtalk.com/robot/send?access_token=x", part, keywords=["告警"]
        )
    for part in split(Text("磁盘空间不足 " * 8000), limit=MAX_BODY_BYTES - tag):
        build_request(
            "https://oapi.dingtalk.com/robot/send?access_token=x", part, keywords=["告警"]
        )


def test_mentions_wait_for_the_last_part() -> None:
    parts = split(Text("@13800000000 look at this\n" + "x " * 20_000, at=AT))
    assert [p.at for p in parts[:-1]] == [None] * (len(parts) - 1)
    assert parts[-1].at == AT
    assert to_payload(parts[-1])["text"]["content"].endswith("@13800000000 @ops_lead")


@pytest.mark.parametrize("limit", [0, -5, 1.5, True])
def test_a_bad_limit_is_refused(limit: Any) -> None:
    with pytest.raises(ValueError, match="limit"):
        split(Text("x"), limit=limit)


@pytest.mark.parametrize("title", ["t" * 540, "t" * 590, "t" * 700])
def test_a_limit_too_small_for_the_title_says_so(title: str) -> None:
    with pytest.raises(TooLargeError, match=r"no room for text|too small"):
        split(Markdown(title, "x" * 1000), limit=600)


def test_a_small_room_is_still_used() -> None:
    # 60-odd bytes of text per part is little, but it is room: the text goes out.
    parts = split(Markdown("t" * 500, "x" * 1000), limit=600)
    assert all(body_size(p) <= 600 for p in parts)
    assert "".join(p.text.replace(MARK, "") for p in parts) == "x" * 1000


# -- where the cuts fall ------------------------------------------------------------------


def test_blocks_are_not_cut_when_they_fit() -> None:
    paragraphs = [f"Paragraph {i} " + "words " * 50 for i in range(60)]
    parts = split(Markdown("t", "\n\n".join(paragraphs)), limit=2_000)
    for part in parts:
        assert MARK not in part.text
        for chunk in part.text.split("\n\n"):
            assert chunk in paragraphs


def test_a_long_code_block_is_closed_and_reopened() -> None:
    code = "\n".join(f"    step {i}: ok" for i in range(600))
    parts = split(Markdown("t", f"Log:\n\n```text\n{code}\n```\n\nDone."), limit=2_000)
    assert len(parts) > 3
    for part in parts:
        fences = [line for line in part.text.split("\n") if line.startswith("```")]
        assert len(fences) % 2 == 0, part.text
    assert all(p.text.rstrip().endswith(MARK) for p in parts[:-1])
    assert all(p.text.startswith("```text") for p in parts[1:])
    lines = [x for p in parts for x in p.text.split("\n") if x.startswith("    step")]
    assert lines == code.split("\n")


def test_a_long_table_repeats_its_header() -> None:
    rows = "\n".join(f"| job-{i} | ok | {i} ms |" for i in range(400))
    parts = split(Markdown("t", f"| job | result | time |\n|---|---|---|\n{rows}"), limit=1_500)
    assert len(parts) > 3
    for part in parts:
        assert part.text.startswith("| job | result | time |\n|---|---|---|\n| job-")
        assert MARK not in part.text  # cut between rows: nothing to say


def test_a_long_list_is_cut_between_items_and_an_item_is_reopened() -> None:
    items = "\n".join(f"{i}. item {i} " + "word " * 20 for i in range(1, 200))
    parts = split(Markdown("t", items), limit=1_000)
    for part in parts:
        first = part.text.split("\n", 1)[0]
        assert first.split(".", 1)[0].isdigit()  # every part starts with a numbered item
    long_item = "- " + " ".join(f"word{i}" for i in range(800)) + "\n  more in the item\n- next"
    parts = split(Markdown("t", "Intro\n\n" + long_item), limit=800)
    assert all(p.text.startswith(("- ", "Intro")) for p in parts)


def test_a_quote_keeps_its_marks_in_every_part() -> None:
    quote = "\n>\n".join(f"> quoted paragraph {i} " + "text " * 30 for i in range(40))
    parts = split(Markdown("t", quote), limit=1_000)
    for part in parts:
        assert all(line.startswith(">") for line in part.text.split("\n"))


def test_a_line_longer_than_a_part_is_cut_between_words() -> None:
    words = [f"w{i}" for i in range(3000)]
    parts = split(Text(" ".join(words)), limit=1_000)
    seen = " ".join(part_text(p).split(" ", 1)[1].replace(MARK, "") for p in parts).split()
    assert seen == words


def test_a_word_longer_than_a_part_is_cut_between_characters() -> None:
    for word in ("x" * 5_000, "告" * 2_000, "👨‍👩‍👧" * 500, "🇨🇳🇯🇵" * 500, "e\u0301" * 2_000):
        parts = split(Text(word), limit=600)
        assert all(body_size(p) <= 600 for p in parts)
        pieces = [part_text(p).split(" ", 1)[1].replace(MARK, "") for p in parts]
        assert "".join(pieces) == word
        for piece in pieces:
            # Never inside a character made of several code points.
            assert not piece.startswith(("\u200d", "\u0301"))
            assert not piece.endswith("\u200d")
            assert sum(0x1F1E6 <= ord(c) <= 0x1F1FF for c in piece) % 2 == 0


def test_a_link_is_not_cut_even_when_its_line_is() -> None:
    link = "[the runbook](https://runbooks.example.com/" + "a" * 200 + ")"
    line = " ".join(["word"] * 150 + [link] + ["word"] * 150)
    parts = split(Markdown("t", line), limit=1_200)
    assert len(parts) > 1
    assert sum(link in p.text for p in parts) == 1


def test_reference_definitions_go_with_the_links_that_use_them() -> None:
    body = "\n\n".join(f"See [run {i}][r{i % 3}] for details. " + "word " * 40 for i in range(60))
    defs = "\n".join(f"[r{i}]: https://ci.example.com/{i}" for i in range(3))
    parts = split(Markdown("t", body + "\n\n" + defs), limit=2_000)
    assert len(parts) > 2
    for part in parts:
        for i in range(3):
            if f"][r{i}]" in part.text:
                assert f"[r{i}]: https://ci.example.com/{i}" in part.text


def test_big_inputs_at_the_real_limit() -> None:
    cases = [
        "| a | b |\n|---|---|\n" + "\n".join(f"| 服务{i} | 正常 {i} |" for i in range(8000)),
        "```\n" + "\n".join(f"{'  ' * (i % 5)}line {i} 日志" for i in range(8000)) + "\n```",
        "告警" * 30_000,
        "\n".join("  " * (i % 30) + f"- level {i % 30}" for i in range(6000)),
    ]
    for source in cases:
        parts = split(Markdown("大报告", source, at=AT))
        assert len(parts) > 2
        check_parts(parts, source, MAX_BODY_BYTES)


def test_parts_serialise_to_valid_json() -> None:
    parts = split(Markdown("t", 'quote " and \\ backslash\n\n' * 3000))
    for part in parts:
        body = json.loads(json.dumps(to_payload(part), ensure_ascii=False))
        assert body["msgtype"] == "markdown"


# -- the ceiling: max_parts ---------------------------------------------------------------

# 17 parts of JSON, but under ten parts' worth of characters other than whitespace: counted
# exactly, by splitting.
PARAGRAPHS = "\n\n".join(f"paragraph {i}:" + "  ok" * 40 for i in range(1800))


@pytest.mark.parametrize(
    "message",
    [
        Text(PARAGRAPHS),
        Markdown("Report", PARAGRAPHS),
        {"msgtype": "text", "text": {"content": PARAGRAPHS}},
    ],
    ids=["text", "markdown", "dict"],
)
def test_more_parts_than_max_parts_are_refused_saying_how_many(message: Any) -> None:
    n = len(split(message))
    assert 10 < n < 30
    with pytest.raises(TooManyPartsError) as caught:
        capped_split(message)  # the default ceiling: 10
    error = caught.value
    assert isinstance(error, TooLargeError)
    assert (error.parts, error.max_parts) == (n, 10)
    assert f"would take {n} parts" in str(error)
    assert "max_parts=10" in str(error)
    assert "nothing was sent" in str(error)
    assert f"max_parts={n}" in error.advice
    assert len(capped_split(message, max_parts=n)) == n  # exactly the ceiling is allowed
    with pytest.raises(TooManyPartsError):
        capped_split(message, max_parts=n - 1)


@pytest.mark.parametrize("max_parts", [0, -1, 1.5, True, "10", None, float("inf")])
def test_a_bad_max_parts_is_refused(max_parts: Any) -> None:
    with pytest.raises(ValueError, match=r"max_parts must be a whole number of parts, 1 or more"):
        capped_split(Text("x"), max_parts=max_parts)


def test_a_message_that_fits_needs_no_ceiling() -> None:
    assert capped_split(Text("short"), max_parts=1) == [Text("short")]


BIG = ("The quick brown fox jumps over the lazy dog 0123456789\n" * 100_000)[:5_000_000]


@pytest.mark.parametrize(
    "message",
    [
        Text(BIG),
        Markdown("Report", BIG),
        ActionCard("Report", BIG, buttons=[Button("Open", "https://ci.example.com/")]),
        {"msgtype": "markdown", "markdown": {"title": "Report", "text": BIG}},
        Markdown("报告", "告警内容 测试\n" * 500_000),
    ],
    ids=["text", "markdown", "actioncard", "dict", "cjk"],
)
def test_a_text_far_too_long_is_refused_before_it_is_read_whole(
    message: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def untouched(*args: object) -> None:
        raise AssertionError("the message was validated or encoded")

    module = importlib.import_module("dingwire.content.split")  # not the function split
    monkeypatch.setattr(module, "to_payload", untouched)
    monkeypatch.setattr(module, "encode_body", untouched)
    with pytest.raises(TooManyPartsError, match=r"would take about [\d,]+ parts") as caught:
        capped_split(message)
    assert caught.value.parts > 200
    assert caught.value.max_parts == 10


def test_the_estimate_is_near_the_exact_count() -> None:
    text = "\n\n".join(f"line {i}: " + "状态 ok " * (i % 40) for i in range(20_000))
    exact = len(split(Text(text)))
    with pytest.raises(TooManyPartsError) as caught:
        capped_split(Text(text))
    assert exact * 0.75 <= caught.value.parts <= exact * 1.25


@pytest.mark.parametrize("blank", ["\n", " \n", "\t\n", "\u3000\n", "\xa0\n"], ids=repr)
def test_whitespace_dropped_by_splitting_never_counts_toward_a_refusal(blank: str) -> None:
    # 300,000 blank lines are more than ten parts of JSON, but they collapse: two parts.
    message = Text("first\n\n" + blank * 300_000 + "last")
    parts = capped_split(message)
    assert 1 <= len(parts) <= 10


def test_refusing_a_50_mb_text_is_quick_and_takes_little_memory() -> None:
    import time
    import tracemalloc

    text = ("The quick brown fox jumps over the lazy dog 0123456789\n" * 1_000_000)[:50_000_000]
    for message in (Markdown("Report", text), {"msgtype": "text", "text": {"content": text}}):
        tracemalloc.start()
        started = time.perf_counter()
        with pytest.raises(TooManyPartsError):
            capped_split(message)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # A refusal reads a few hundred KB of the text; bounds generous for a loaded machine.
        assert seconds < 0.5
        assert peak < 5_000_000


@pytest.mark.parametrize(
    "text",
    ["🏻" * 66, "a" + "\u0301" * 500, "x" + "\U000e0020" * 120],  # one "character" each
    ids=["emoji-modifiers", "combining-marks", "tag-characters"],
)
@pytest.mark.parametrize("kind", ["text", "markdown"])
def test_a_character_longer_than_a_message_is_cut_not_refused(text: str, kind: str) -> None:
    message: dict[str, Any] = (
        {"msgtype": "text", "text": {"content": text}}
        if kind == "text"
        else {"msgtype": "markdown", "markdown": {"title": "t", "text": text}}
    )
    parts = capped_split(message, limit=300, max_parts=20)
    assert len(parts) > 1
    for part in parts:
        assert len(json.dumps(part, ensure_ascii=False, separators=(",", ":")).encode()) <= 300
    field = "content" if kind == "text" else "text"
    joined = "".join(p[kind][field] for p in parts)
    assert joined.count(text[-1]) == text.count(text[-1])  # nothing lost
