"""DingTalk's 加签 signature: the one signing function in dingwire.

Rules kept here:

- ``sign`` is ``base64(HMAC-SHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}"))``, UTF-8
  throughout, the whole secret (``SEC`` prefix included) as the key; it is *not* URL-encoded.
- ``signed_url`` URL-encodes the sign exactly once and keeps every other query parameter
  of the webhook (a stale ``timestamp``/``sign`` pair is replaced, never duplicated).
- Time is an argument: nothing here reads the clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = [
    "SIGN_WINDOW_MS",
    "sign",
    "sign_query",
    "signature_matches",
    "signed_url",
    "unsigned_url",
]

#: DingTalk accepts a timestamp within one hour of its own clock, either way.
SIGN_WINDOW_MS = 3_600_000


def sign(secret: str, timestamp_ms: int) -> str:
    """The base64 signature of ``timestamp_ms`` with ``secret`` (not URL-encoded).

    >>> sign("SECb90923e19e58b466481e9e7b7a5b4f108a4531abde590ad3967fb29f0eae5c68", 1582163555000)
    'BQKsG+QOCl+bYJOLc6pxDHxjVquzlZPWgvRzeN2J5zY='
    """
    if not isinstance(timestamp_ms, int) or isinstance(timestamp_ms, bool):
        raise TypeError("timestamp_ms must be an int (milliseconds since the epoch)")
    key = secret.encode("utf-8")
    digest = hmac.new(key, f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(secret: str, timestamp_ms: int, candidate: str) -> bool:
    """Whether ``candidate`` (already URL-decoded) is the signature of ``timestamp_ms``."""
    return hmac.compare_digest(sign(secret, timestamp_ms).encode(), candidate.encode("utf-8"))


def sign_query(secret: str, timestamp_ms: int) -> str:
    """``timestamp=…&sign=…``: a signed request's query parameters, the sign URL-encoded once."""
    return f"timestamp={timestamp_ms}&sign={quote(sign(secret, timestamp_ms), safe='')}"


def unsigned_url(webhook: str) -> str:
    """``webhook`` without ``timestamp`` and ``sign`` parameters (the others kept, in order)."""
    parts = urlsplit(webhook)
    kept = [
        p for p in parts.query.split("&") if p and p.split("=", 1)[0] not in ("timestamp", "sign")
    ]
    return urlunsplit(parts._replace(query="&".join(kept)))


def signing_template(webhook: str) -> tuple[str, str]:
    """``(prefix, suffix)`` such that ``prefix + sign_query(...) + suffix`` is the signed URL.

    Lets a robot parse its webhook once instead of on every send.
    """
    parts = urlsplit(unsigned_url(webhook))
    prefix = urlunsplit(parts._replace(query="", fragment=""))
    prefix += f"?{parts.query}&" if parts.query else "?"
    return prefix, f"#{parts.fragment}" if parts.fragment else ""


def signed_url(webhook: str, secret: str, timestamp_ms: int) -> str:
    """``webhook`` with ``timestamp`` and the URL-encoded ``sign`` appended.

    Other query parameters (``access_token`` and any others) stay as they are, in order; a
    stale ``timestamp``/``sign`` pair is replaced.
    """
    prefix, suffix = signing_template(webhook)
    return f"{prefix}{sign_query(secret, timestamp_ms)}{suffix}"
