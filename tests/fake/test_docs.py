"""The tests shown in docs/fake.md run as written (the README quotes the first one)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "fake.md"


def doc_tests() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    found: dict[str, Any] = {}
    for block in blocks:
        if "def test_" in block:
            namespace: dict[str, Any] = {}
            exec(compile(block, str(DOC), "exec"), namespace)
            found.update({k: v for k, v in namespace.items() if k.startswith("test_")})
    return found


def test_the_five_line_example_comes_first() -> None:
    first = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert first is not None
    lines = [line for line in first.group(1).splitlines() if line.strip()]
    assert len(lines) == 5
    assert "def test_" in first.group(1)


@pytest.mark.parametrize("name", sorted(doc_tests()))
def test_doc_example(name: str, request: pytest.FixtureRequest) -> None:
    function = doc_tests()[name]
    names = function.__code__.co_varnames[: function.__code__.co_argcount]
    function(*(request.getfixturevalue(n) for n in names))


def test_the_table_of_checks_is_the_fakes() -> None:
    """docs/fake.md's table of checks lists SEND_CHECKS, row by row, with the same errcodes."""
    from dingwire.fake.checks import SEND_CHECKS

    text = DOC.read_text(encoding="utf-8")
    table = text.split("| check | errcode |", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines()[2:] if line.startswith("| ")]
    assert rows[-1].startswith("| everything passed | 0 |")
    documented = [[int(code) for code in re.findall(r"\d{5,6}", row.split("|")[2])] for row in rows]
    in_code = [code for check in SEND_CHECKS for code in check.errcodes]
    assert [code for codes in documented[:-1] for code in codes] == in_code
    # One row per check, except the validator's row, which the page splits in two.
    assert len(rows) - 1 == len(SEND_CHECKS) + 1
