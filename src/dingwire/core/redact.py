"""Keeping secrets out of everything a person or a log can see.

A webhook's ``access_token`` is as good as a password (anyone holding it can post to the
group), and so are the signing secret and a request's ``sign``. Whatever dingwire prints,
logs, raises or serves shows them masked.

Rules kept here — :func:`mask_query` is the one query-string masker:

- Every value of a query is masked but ``timestamp``'s, whatever its parameter is called:
  a token under a misspelled name (``acess_token=``, ``token=``) is hidden like any other.
  ``access_token`` keeps its last four characters (``access_token=…1a2b``), so that two
  robots can still be told apart; every other value becomes ``**********``.
- ``user:password@`` before a host is masked, and so is the host of a
  ``dingtalk://SECRET@TOKEN`` URL (it is the access token).
- :func:`mask_url` finds URLs (and ``?a=b`` queries, and ``token=…``-like parameters) in
  any text; ``whole=True`` takes its whole argument as one URL, spaces and all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus

__all__ = ["MASK", "mask_query", "mask_token", "mask_url", "scrub"]

MASK = "**********"

#: The query parameters whose values are shown as they are.
_SHOWN = frozenset({"timestamp"})

_STOP = r"\s'\"<>"
_SPANS = re.compile(
    rf"[A-Za-z][A-Za-z0-9+.\-]*://[^{_STOP}]*"  # a URL
    rf"|\?[^{_STOP}#]*=[^{_STOP}#]*"  # a query without its URL
    rf"|(?<![\w%.\-])[\w%.\-]*(?:token|sign|secret|session|passw|auth)[\w%.\-]*=[^&#{_STOP}]+",
    re.IGNORECASE,
)


def mask_token(token: str) -> str:
    """``"…1a2b"``: enough to tell robots apart, not enough to use."""
    if len(token) <= 8:
        return MASK
    return f"…{token[-4:]}"


def mask_query(query: str) -> str:
    """``query`` (what follows ``?``) with every value masked but ``timestamp``'s.

    >>> mask_query("access_token=0123456789abcdef&timestamp=1&acess_token=x")
    'access_token=…cdef&timestamp=1&acess_token=**********'
    """
    return "&".join(_mask_parameter(item) for item in query.split("&"))


def _mask_parameter(item: str) -> str:
    key, eq, value = item.partition("=")
    if not eq:
        return MASK if key else ""  # a value without a name may be a token
    if not value:
        return item
    name = unquote_plus(key).strip().lower()  # access%5Ftoken is access_token to DingTalk
    if name in _SHOWN:
        return item
    if name == "access_token":
        return f"{key}={mask_token(value)}"
    return f"{key}={MASK}"


def mask_url(text: str, *, whole: bool = False) -> str:
    """``text`` with the secrets of every URL in it masked (see the module's rules).

    >>> mask_url("POST https://x/robot/send?access_token=0123456789abcdef&sign=abc")
    'POST https://x/robot/send?access_token=…cdef&sign=**********'
    """
    if whole:
        return _mask_span(text)
    return _SPANS.sub(lambda match: _mask_span(match.group()), text)


def _mask_span(span: str) -> str:
    scheme, sep, rest = span.partition("://")
    if not sep:  # "?a=b" or "token=…" on its own
        return f"?{mask_query(span[1:])}" if span.startswith("?") else mask_query(span)
    cut = re.search(r"[/?#]", rest)
    authority, tail = (rest[: cut.start()], rest[cut.start() :]) if cut else (rest, "")
    _, at, host = authority.rpartition("@")
    if scheme.lower() == "dingtalk" and host and host.lower() != "dingtalkclient":
        host = mask_token(host)  # dingtalk://SECRET@TOKEN: the host is the access token
    path, question, query = tail.partition("?")
    if not question:
        path, hash_, fragment = path.partition("#")
        query = ""
    else:
        query, hash_, fragment = query.partition("#")
    if "=" in fragment:
        fragment = mask_query(fragment)
    credentials = f"{MASK}@" if at else ""
    masked_query = mask_query(query) if question else ""
    return f"{scheme}://{credentials}{host}{path}{question}{masked_query}{hash_}{fragment}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every URL's secret parameters and each of ``secrets`` masked."""
    text = mask_url(text)
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
