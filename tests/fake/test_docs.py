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
