"""Each of DingTalk's rules lives once in src/: found by reading the code, token by token."""

import functools
import io
import tokenize
from pathlib import Path

import pytest

from dingwire.core.errors import BodyTooLargeError, error_for
from dingwire.core.limits import MAX_BODY_BYTES
from dingwire.core.mentions import keyword_tag

SRC = Path(__file__).resolve().parents[2] / "src" / "dingwire"


@functools.cache
def _tokens(path: Path) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(path.read_text("utf-8")).readline))


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_the_body_limit_is_a_number_in_one_place() -> None:
    found = [
        f"{path.relative_to(SRC)}:{token.start[0]}"
        for path in _sources()
        for token in _tokens(path)
        if token.type == tokenize.NUMBER and token.string.replace("_", "") == "20000"
    ]
    assert len(found) == 1, "use dingwire.core.limits.MAX_BODY_BYTES"
    assert found[0].startswith("core/limits.py:")


def test_dingtalks_too_large_errcode_names_the_one_limit() -> None:
    error = error_for(460101, "message too long, exceed 20000 bytes")
    assert isinstance(error, BodyTooLargeError)
    assert error.limit == MAX_BODY_BYTES


@pytest.mark.parametrize("bracket", ["【", "】"])
def test_the_keyword_tag_is_written_in_one_place(bracket: str) -> None:
    # Docstrings and comments may show the tag; code builds it with keyword_tag().
    found = [
        f"{path.relative_to(SRC)}:{token.start[0]}"
        for path in _sources()
        if path.name != "mentions.py"
        for token in _tokens(path)
        if token.type == tokenize.STRING
        and bracket in token.string
        and not token.string.startswith(('"""', "'''"))
    ]
    assert found == [], "use dingwire.core.mentions.keyword_tag / keyword_room"
    assert keyword_tag("告警").startswith(bracket) or keyword_tag("告警").endswith(bracket)


def test_no_unused_secret_class_is_left() -> None:
    found = [
        f"{path.relative_to(SRC)}:{token.start[0]}"
        for path in _sources()
        for token in _tokens(path)
        if token.type == tokenize.NAME and token.string == "Secret"
    ]
    assert found == []
