"""Digests: every line in exactly one, each body within DingTalk's limit as it counts."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dingwire.core.messages import At
from dingwire.core.protocol import encode_body
from dingwire.relay.digest import MAX_LINE_BYTES, build_digests, mentions_of
from dingwire.relay.model import DigestLine, Outgoing, Record


def record(
    rid: str,
    lines: list[DigestLine],
    *,
    at: dict[str, object] | None = None,
    kind: str = "markdown",
    priority: int = 0,
) -> Record:
    body: dict[str, object] = {"msgtype": "markdown", "markdown": {"title": "t", "text": "x"}}
    if at is not None:
        body["at"] = at
    message = Outgoing("ops", body, kind, tuple(lines), priority)  # type: ignore[arg-type]
    return Record(id=rid, message=message, state="sending")


def alert(i: int, status: str = "firing", name: str = "HighLatency") -> DigestLine:
    mark = "🔥 **FIRING**" if status == "firing" else "✅ **RESOLVED**"
    return DigestLine(status, name, f"{mark} {name} · instance=web-{i} — p99 above 2s #{i}#")


def texts(digests: list) -> list[str]:  # type: ignore[type-arg]
    return [d.body["markdown"]["text"] for d in digests]


def test_a_storm_becomes_few_digests_each_within_the_limit() -> None:
    records = [record(f"r{i}", [alert(4 * i + j) for j in range(4)]) for i in range(250)]
    digests = build_digests(records, keywords=["告警"])
    assert 4 <= len(digests) <= 8
    # Full: the packing's reserve is small (only the last digest may be short).
    assert all(d.size > 18_500 for d in digests[:-1])
    for digest in digests:
        assert digest.size == len(encode_body(digest.body)) <= 20_000
        assert "告警" in digest.body["markdown"]["text"]
    joined = "\n".join(texts(digests))
    for i in range(1000):
        assert joined.count(f"#{i}#") == 1
    assert [r for d in digests for r in d.records] == [f"r{i}" for i in range(250)]
    assert sum(d.lines for d in digests) == 1000


def test_titles_count_by_status_and_groups_follow_first_appearance() -> None:
    records = [
        record("a", [alert(1), alert(2, "resolved", "DiskFull")]),
        record("b", [alert(3), alert(4, name="Other")]),
    ]
    (digest,) = build_digests(records)
    title = digest.body["markdown"]["title"]
    assert title.startswith("[FIRING:3, RESOLVED:1] ")
    assert "HighLatency, DiskFull, Other" in title
    text = digest.body["markdown"]["text"]
    first, resolved, other = (
        text.index("FIRING · HighLatency** (2)"),
        text.index("RESOLVED · DiskFull** (1)"),
        text.index("FIRING · Other** (1)"),
    )
    assert first < resolved < other
    # Grouped: both HighLatency lines come before DiskFull although b arrived after it.
    assert text.index("#1#") < text.index("#3#") < resolved


def test_mentions_are_merged_and_written_once_at_the_end() -> None:
    records = [
        record("a", [alert(1)], at={"atMobiles": ["13800000001"], "isAtAll": False}),
        record("b", [alert(2)], at={"atMobiles": ["13800000001", "13800000002"]}),
        record("c", [alert(3)]),  # no at: the robot's default mention
    ]
    (digest,) = build_digests(records, mention=At(user_ids=["oncall"]))
    at = digest.body["at"]
    assert at["atMobiles"] == ["13800000001", "13800000002"]
    assert at["atUserIds"] == ["oncall"]
    text = digest.body["markdown"]["text"]
    assert text.count("@13800000001") == 1
    assert text.count("@oncall") == 1
    assert text.rstrip().endswith("@13800000001 @13800000002 @oncall")


def test_no_mentions_means_no_at_block() -> None:
    (digest,) = build_digests([record("a", [alert(1)])])
    assert "at" not in digest.body


def test_a_keyword_already_there_is_not_added_again() -> None:
    (digest,) = build_digests(
        [record("a", [DigestLine("firing", "x", "告警 disk full")])], keywords=["告警"]
    )
    assert digest.body["markdown"]["text"].count("告警") == 1


def test_a_record_larger_than_a_digest_goes_in_parts_of_its_own() -> None:
    big = record("big", [alert(i) for i in range(600)], at={"atMobiles": ["13800000009"]})
    small = record("small", [alert(9999, name="Small")])
    digests = build_digests([small, big, record("after", [alert(7777)])])
    parts = [d for d in digests if d.records == ("big",)]
    assert len(parts) >= 3
    assert [(d.part, d.parts) for d in parts] == [(i + 1, len(parts)) for i in range(len(parts))]
    assert all(f"({d.part}/{d.parts})" in d.body["markdown"]["title"] for d in parts)
    # Mentions with the last part only.
    assert ["at" in d.body for d in parts] == [False] * (len(parts) - 1) + [True]
    assert digests[0].records == ("small",)
    assert digests[-1].records == ("after",)
    joined = "\n".join(texts(digests))
    assert all(joined.count(f"#{i}#") == 1 for i in range(600))
    assert all(d.size <= 20_000 for d in digests)
    assert len({d.id for d in digests}) == len(digests)


def test_a_line_too_long_is_cut_but_kept() -> None:
    long = DigestLine("firing", "Huge", "告" * 5000 + "#end#")
    (digest,) = build_digests([record("a", [long, alert(1)])])
    text = digest.body["markdown"]["text"]
    assert "告告告" in text
    assert "…" in text
    assert "#end#" not in text
    assert "#1#" in text
    assert len(json.dumps(text, ensure_ascii=False).encode()) < 2 * MAX_LINE_BYTES + 1_000


def test_cards_are_never_merged() -> None:
    with pytest.raises(ValueError, match="cards"):
        build_digests([record("a", [alert(1)], kind="card")])


def test_ids_are_stable_and_differ_by_content() -> None:
    records = [record("a", [alert(1)]), record("b", [alert(2)])]
    assert build_digests(records)[0].id == build_digests(records)[0].id
    assert build_digests(records)[0].id != build_digests(records[:1])[0].id


def test_a_record_without_lines_gets_one_from_its_title() -> None:
    body = {"msgtype": "markdown", "markdown": {"title": "Deploy *done*", "text": "x"}}
    r = Record(id="a", message=Outgoing("ops", body, "markdown", ()), state="sending")
    (digest,) = build_digests([r])
    assert "Deploy \\*done\\*" in digest.body["markdown"]["text"]


def test_mentions_of_prefers_the_body_and_drops_a_bad_entry() -> None:
    r = record("a", [alert(1)], at={"atMobiles": ["13800000001", ""], "atUserIds": ["u1"]})
    assert mentions_of(r) == At(["13800000001"], ["u1"])
    assert mentions_of(record("b", [alert(1)]), At(["1"])) == At(["1"])
    assert mentions_of(record("c", [alert(1)], at={"atMobiles": []}), At(["1"])) is None


# -- properties ------------------------------------------------------------------------

_name = st.text(min_size=0, max_size=30)
_text = st.text(min_size=0, max_size=400) | st.text(alphabet='告\\"<*_@\n', max_size=3000)
_line = st.builds(DigestLine, st.sampled_from(["firing", "resolved", "", "Pending"]), _name, _text)
_mobile = st.sampled_from(["13800000001", "13800000002", "oncall-7", "u_9"])
_at = st.none() | st.fixed_dictionaries(
    {"atMobiles": st.lists(_mobile, max_size=3), "atUserIds": st.lists(_mobile, max_size=2)}
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.lists(_line, min_size=1, max_size=40), _at), min_size=1, max_size=30),
    st.sampled_from([(), ("告警",), ("alert", "告警")]),
    st.sampled_from([20_000, 8_000]),
)
def test_every_line_in_exactly_one_digest_within_the_limit(
    spec: list[tuple[list[DigestLine], dict[str, list[str]] | None]],
    keywords: tuple[str, ...],
    max_bytes: int,
) -> None:
    # Each line gets a unique marker so it can be found once and only once.
    records = []
    for i, (lines, at) in enumerate(spec):
        marked = [
            DigestLine(ln.status, ln.name, f"{ln.text} ⟦{i}.{j}⟧") for j, ln in enumerate(lines)
        ]
        records.append(record(f"r{i}", marked, at=at))
    digests = build_digests(records, keywords=keywords, max_bytes=max_bytes)
    joined = "\n".join(texts(digests))
    for i, (lines, _) in enumerate(spec):
        for j in range(len(lines)):
            # A cut line loses its marker only if it was over the line limit.
            marker = f"⟦{i}.{j}⟧"
            assert joined.count(marker) <= 1
            if len(lines[j].text.encode()) < MAX_LINE_BYTES // 6:
                assert joined.count(marker) == 1
    assert sum(d.lines for d in digests) == sum(len(lines) for lines, _ in spec)
    for d in digests:
        assert d.size == len(encode_body(d.body)) <= max_bytes
        if keywords:
            assert any(k in d.body["markdown"]["text"] for k in keywords)
        at = d.body.get("at")
        text = d.body["markdown"]["text"]
        for who in (at or {}).get("atMobiles", []) + (at or {}).get("atUserIds", []):
            assert text.count(f"@{who}") == 1
    # Order kept: records appear in the order given.
    seen = [r for d in digests for r in d.records]
    assert seen == sorted(dict.fromkeys(seen), key=lambda r: int(r[1:]))
    assert set(seen) == {r.id for r in records}
