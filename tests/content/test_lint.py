"""lint_markdown: what DingTalk will not render, by line."""

from __future__ import annotations

import dataclasses

import pytest

from dingwire.content import LintIssue, lint_markdown
from dingwire.content.lint import RULES

CASES = [
    ("# Title\n\nPlain **bold** *italic* [link](https://x.example)\n\n- a\n- b\n\n1. c", []),
    ("> quote  \n> with a hard break", []),
    ("![pic](https://x.example/p.png)", []),
    ("<font color=red>red</font><br>next", []),
    ("| a | b |\n|---|---|\n| 1 | 2 |", [(1, "table")]),
    ("text\n\n```python\ncode\n```", [(3, "code-block")]),
    ("text\n\n    indented code", [(3, "code-block")]),
    ("first\nsecond\nthird", [(1, "line-break")]),
    ("para\n\n- item\n  lazy line", [(3, "line-break")]),
    ("~~gone~~", [(1, "strikethrough")]),
    ("a <b>b</b>", [(1, "html")]),
    ("<div>\nblock\n</div>", [(1, "html")]),
    ("a\n\n---\n\nb", [(3, "rule")]),
    ("some `code` here", [(1, "code-span")]),
    ("_it_ and __bold__", [(1, "underscore")]),
    ("Title\n=====", [(1, "setext-heading")]),
    ("see <https://x.example>", [(1, "autolink")]),
    ("![p](http://x.example/p.png)", [(1, "image-http")]),
    ("![p](images/p.png)", [(1, "image-url")]),
    ("[l](/relative/path)", [(1, "link-url")]),
    ("[l](dingtalk://dingtalkclient/page/link?url=x) [m](mailto:a@b.example)", []),
    # Lines are counted through soft and hard breaks and multi-line HTML.
    ("one  \ntwo ~~x~~", [(2, "strikethrough")]),
    ("a <span\nclass=x>b</span> ~~c~~", [(1, "html"), (2, "html"), (2, "strikethrough")]),
    ("| a |\n|---|\n| `x` |", [(1, "table"), (3, "code-span")]),
    # Nothing inside a code block is reported: the block is.
    ("```\n<b>~~x~~</b>\n| a |\n```", [(1, "code-block")]),
    (">" * 120 + " deep", [(1, "too-deep")]),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_rules(source: str, expected: list[tuple[int, str]]) -> None:
    assert [(i.line, i.rule) for i in lint_markdown(source)] == expected


def test_issues_read_as_line_and_message() -> None:
    issue = LintIssue(3, "table", RULES["table"])
    assert (
        str(issue)
        == "3: tables are not rendered by DingTalk; to_dingtalk_markdown turns them into lists"
    )
    assert issue.message == RULES["table"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        issue.line = 4  # type: ignore[misc]


def test_issues_come_in_line_order_once_each() -> None:
    source = "~~a~~ ~~b~~\n\n| x |\n|---|\n| 1 |\n\n~~c~~"
    issues = lint_markdown(source)
    assert [(i.line, i.rule) for i in issues] == [
        (1, "strikethrough"),
        (3, "table"),
        (7, "strikethrough"),
    ]
    assert issues == sorted(issues)


def test_every_rule_is_exercised_above() -> None:
    fired = {rule for _, expected in CASES for _, rule in expected}
    assert fired == set(RULES)
