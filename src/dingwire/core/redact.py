"""Keeping secrets out of everything a person or a log can see.

A webhook's ``access_token`` is as good as a password (anyone holding it can post to the
group), and so are the signing secret and a request's ``sign``. Whatever dingwire prints,
logs, raises or serves shows them masked: the token keeps its last four characters so that
two robots can still be told apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MASK", "Secret", "mask_token", "mask_url", "scrub"]

MASK = "**********"

_SECRET_PARAMS = re.compile(r"(?P<key>(?:access_token|sign|session)=)(?P<value>[^&#\s'\"]*)", re.I)


def mask_token(token: str) -> str:
    """``"…1a2b"``: enough to tell robots apart, not enough to use."""
    if len(token) <= 8:
        return MASK
    return f"…{token[-4:]}"


def mask_url(url: str) -> str:
    """``url`` with ``access_token``, ``sign`` and ``session`` values masked."""

    def _mask(match: re.Match[str]) -> str:
        key, value = match.group("key"), match.group("value")
        if not value:
            return key
        if key.lower().startswith("access_token"):
            return key + mask_token(value)
        return key + MASK

    masked = _SECRET_PARAMS.sub(_mask, url)
    # user:password@ in a proxy URL or a dingtalk://SECRET@TOKEN URL.
    return re.sub(r"(?<=://)[^/@\s]+@", f"{MASK}@", masked)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every URL's secret parameters and each of ``secrets`` masked."""
    text = mask_url(text)
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class Secret:
    """A string that prints as ``**********``; ``reveal()`` gives the value.

    >>> Secret("SECabc")
    Secret('**********')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
