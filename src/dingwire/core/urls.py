"""The rule for a valid URL, what a webhook must be, and which webhooks are one robot.

Rules kept here — every URL dingwire takes (a robot's webhook, a link in a message) is
checked by :func:`url_problem`, before anything connects:

- No control character anywhere (CR, LF, NUL, DEL, …: an HTTP request cannot carry them,
  and a CR/LF would end the request line early) and no whitespace inside. Whitespace
  around a webhook (the newline at the end of a file or a secret) is dropped.
- A scheme the caller allows, then a host: a name of letters, digits, ``-``, ``_`` and
  ``.`` (non-empty labels), an IPv4 address, or an IPv6 address in brackets,
  ``http://[::1]:8765/``. A port, when a ``:`` says there is one, is a number from 1 to 65535.
- A webhook (:func:`normalise_webhook`) is ``http`` or ``https``, ASCII only
  (percent-encode anything else; a host in its ``xn--`` form), without ``user:password@``,
  and names its robot by exactly one non-empty ``access_token`` of printable ASCII (or a
  ``session``, for ``sendBySession``). A bare access token stands for DingTalk's
  ``robot/send`` URL. A near miss (``acess_token=``, ``token=``) is named in the error.
- Every error is a :class:`~dingwire.core.errors.ConfigError` that starts with the setting's
  name and shows the URL masked (:func:`dingwire.core.redact.mask_url`): a token never
  appears in it, wherever in the URL it was written.
- A Redis URL (:func:`parse_redis_url`, for the budget store and the relay's outbox):
  ``redis://[:PASSWORD@]HOST[:PORT][/DB]``, ``rediss://`` for TLS and, where a socket will
  do, ``unix:///PATH``; a port that is a number, a database that is one.
- :func:`robot_key`: two spellings of one robot's URL (scheme and host in any case, the
  default port written or not, other parameters in any order) share one budget.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import parse_qs, parse_qsl, urlsplit

from dingwire.core.errors import ConfigError
from dingwire.core.redact import mask_token, mask_url
from dingwire.core.signing import unsigned_url

__all__ = [
    "DEFAULT_BASE_URL",
    "RedisURL",
    "normalise_webhook",
    "parse_redis_url",
    "robot_key",
    "url_problem",
]

DEFAULT_BASE_URL = "https://oapi.dingtalk.com"

#: C0 and C1 control characters and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_NAMES = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\x00": "a NUL"}
_HOST_LABEL = re.compile(r"[A-Za-z0-9_-]+")
_WEBHOOK_SCHEMES = ("http", "https")


def _control(char: str) -> str:
    return _CONTROL_NAMES.get(char, f"the control character {char!r}")


def url_problem(url: str, *, schemes: Collection[str], ascii_only: bool = True) -> str | None:
    """What is wrong with ``url``, in a few words (without the URL); ``None`` if nothing is.

    ``schemes`` are the allowed schemes, lower case. ``ascii_only=False`` admits non-ASCII
    letters in the host and elsewhere, as a browser does in a link (a webhook is ASCII).

    >>> url_problem("https://oapi.dingtalk.com:99999/robot/send", schemes=("https",))
    "has the port '99999'; a port is a number from 1 to 65535"
    """
    control = _CONTROL.search(url)
    if control:
        return f"contains {_control(control.group())}; a URL has none"
    if any(c.isspace() for c in url):
        return "contains a space; a URL has none (percent-encode one as %20)"
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return "is not a URL (scheme://host/…)"
    if scheme.lower() not in schemes:
        return f"is not {_kinds(schemes)} URL (its scheme is {scheme[:20]!r})"
    if ascii_only and not url.isascii():
        return _non_ascii(url)
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return "has a '[' without its ']' in the host (an IPv6 address is written [::1])"
        host, after = hostport[1:end], hostport[end + 1 :]
        if after and not after.startswith(":"):
            return "has characters after the ']' of its IPv6 address; only ':port' may follow"
        try:
            ipaddress.IPv6Address(host.replace("%25", "%"))
        except ValueError:
            return f"has [{host[:60]}] as its host, which is not an IPv6 address"
        port = after[1:] if after else None
    else:
        if "[" in hostport or "]" in hostport:
            return "has a bracket in its host; only an IPv6 address is written in [brackets]"
        if hostport.count(":") > 1:
            return "has an IPv6 address outside brackets; write it like http://[::1]:8765/"
        host, colon, port_text = hostport.partition(":")
        port = port_text if colon else None
        problem = _host_problem(host, ascii_only=ascii_only)
        if problem:
            return problem
    if port is not None and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        shown = f"the port {port[:20]!r}" if port else "a ':' but no port after it"
        return f"has {shown}; a port is a number from 1 to 65535"
    try:
        urlsplit(url)
    except ValueError as error:  # the standard library's own refusal, should it differ
        return f"is not a valid URL ({error})"
    return None


def _kinds(schemes: Collection[str]) -> str:
    """``an http(s)``, ``an http(s) or dingtalk://``: the URLs ``schemes`` allow."""
    both = {"http", "https"} <= set(schemes)
    names = [f"{s}://" for s in schemes if not (both and s in ("http", "https"))]
    kinds = " or ".join(["http(s)", *names] if both else names)
    return f"{'an' if kinds[0] in 'aeiouh' else 'a'} {kinds}"


def _host_problem(host: str, *, ascii_only: bool) -> str | None:
    if not host:
        return "has no host"
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    for label in labels:
        if not label:
            return f"has the host {host[:80]!r}, with an empty part between dots"
        if not (_HOST_LABEL.fullmatch(label) or (not ascii_only and _is_word(label))):
            return f"has the host {host[:80]!r}; a host is letters, digits, '-' and '.'"
    return None


def _is_word(label: str) -> bool:
    return all(c.isalnum() or c in "-_" for c in label)


def _non_ascii(url: str) -> str:
    """Where a webhook's non-ASCII character is, without showing a token's."""
    rest = url.partition("://")[2]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rpartition("@")[2].partition(":")[0]
    if not host.isascii():
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return f"has the host {host[:80]!r}, which is not a valid host name"
        return f"has a non-ASCII host; write it as {ascii_host!r}"
    if not urlsplit(url).query.isascii():
        return (
            "has a non-ASCII character in its query; copy the URL again from the robot's settings"
        )
    return "has a non-ASCII character in its path; percent-encode it"


def _shown(url: str) -> str:
    """``'url'`` masked as one URL (whatever it holds), control characters made visible."""
    visible = _CONTROL.sub(lambda m: repr(m.group())[1:-1], url)
    return f"'{mask_url(visible, whole=True)}'"


def normalise_webhook(webhook: object, *, name: str = "webhook") -> str:
    """A robot's full webhook URL from a URL or a bare access token; refuse anything else.

    ``name`` starts every error (``"robots.ops: webhook"``). The URL comes back as given,
    without surrounding whitespace; a bare token becomes DingTalk's ``robot/send`` URL.

    >>> normalise_webhook("0123abcd")
    'https://oapi.dingtalk.com/robot/send?access_token=0123abcd'
    """
    if not isinstance(webhook, str):
        raise ConfigError(
            f"{name}: expected the robot's webhook URL or access token (a string), "
            f"got {type(webhook).__name__}"
        )
    text = webhook.strip()
    if not text:
        raise ConfigError(f"{name}: empty; give the robot's webhook URL or its access token")
    if "://" not in text:
        return _from_token(text, name)
    scheme = text.partition("://")[0].lower()
    if scheme == "dingtalk":
        raise ConfigError(
            f"{name}: {_shown(text)} is a dingtalk:// URL; build the robot with "
            "Robot.from_url(...) (the command line's --webhook takes it as it is)"
        )
    problem = url_problem(text, schemes=_WEBHOOK_SCHEMES)
    if problem:
        raise ConfigError(f"{name}: {_shown(text)} {problem}")
    parts = urlsplit(text)
    if "@" in parts.netloc:
        raise ConfigError(
            f"{name}: {_shown(text)} has 'user:password@' before its host; a webhook has "
            "none (a proxy's goes in proxy=)"
        )
    _check_query(text, parts.query, name)
    return text


def _from_token(token: str, name: str) -> str:
    control = _CONTROL.search(token)
    if control:
        raise ConfigError(
            f"{name}: the access token {mask_token(token)!r} contains {_control(control.group())}"
        )
    if any(c in token for c in "/?&=#@:") or any(c.isspace() for c in token):
        raise ConfigError(
            f"{name}: {mask_token(token)!r} is neither a URL nor an access token; copy the "
            "whole URL (https://…) or only the access_token from the robot's settings"
        )
    if not (token.isascii() and token.isprintable()):
        raise ConfigError(
            f"{name}: the access token {mask_token(token)!r} has a non-ASCII character; "
            "copy it again from the robot's settings"
        )
    return f"{DEFAULT_BASE_URL}/robot/send?access_token={token}"


def _check_query(url: str, query: str, name: str) -> None:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{name}: {_shown(url)} has a percent-escape in its query that is not UTF-8"
        ) from None
    for key in ("access_token", "session"):
        values = [value for k, value in pairs if k == key]
        if len(values) > 1:
            raise ConfigError(f"{name}: {_shown(url)} gives {key} {len(values)} times; keep one")
        if not values:
            continue
        value = values[0]
        if not value:
            raise ConfigError(
                f"{name}: {_shown(url)} has an empty {key}; copy the whole URL from the "
                "robot's settings"
            )
        if not (value.isascii() and value.isprintable()) or " " in value:
            raise ConfigError(
                f"{name}: {_shown(url)} has an {key} that is not printable ASCII; copy it "
                "again from the robot's settings"
            )
        return
    near = [k for k, _ in pairs if _near_token(k)]
    hint = f" ({near[0]!r} is not it: DingTalk reads only 'access_token')" if near else ""
    raise ConfigError(
        f"{name}: {_shown(url)} has no access_token{hint}; copy the whole URL from the "
        "robot's settings"
    )


def _near_token(key: str) -> bool:
    """A parameter someone may have meant as ``access_token``: ``acess_token``, ``token``."""
    lowered = key.lower()
    if len(lowered) > 40:
        return False
    return "token" in lowered or bool(
        difflib.get_close_matches(lowered, ["access_token"], n=1, cutoff=0.75)
    )


def robot_key(webhook: str) -> str:
    """The name of a robot's shared budget: a hash of the robot's identity in its URL.

    Scheme and host in any case, the default port written or not, the query's other
    parameters (timestamp, sign) in any order: ``https://OAPI.dingtalk.com:443/robot/send?
    access_token=T`` and ``https://oapi.dingtalk.com/robot/send?access_token=T`` are one robot.
    """
    parts = urlsplit(unsigned_url(webhook.strip()))
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or (443 if scheme == "https" else 80)
    query = parse_qs(parts.query)
    identity = [f"{k}={v[0]}" for k in ("access_token", "session") if (v := query.get(k))]
    base = f"{scheme}://{(parts.hostname or '').lower()}:{port}{parts.path or '/'}?{'&'.join(identity)}"
    return hashlib.sha256(base.encode("utf-8", "surrogatepass")).hexdigest()[:24]


@dataclass(frozen=True)
class RedisURL:
    """A checked Redis URL: ``url`` as given (stripped), ``shown`` with its password masked,
    ``where`` what logs and errors call it (``host:port/db``, or the socket's path)."""

    url: str
    shown: str
    where: str


def parse_redis_url(url: str, *, name: str, unix: bool = False) -> RedisURL:
    """Check ``url`` as a Redis URL; a :class:`ConfigError` starting with ``name`` (the
    setting) says what is wrong, the URL masked. ``unix``: ``unix:///PATH`` is allowed."""
    text = url.strip()
    shown = mask_url(text, whole=True)
    forms = "write it like 'redis://127.0.0.1:6379/0' (rediss:// for TLS" + (
        ", unix:///PATH for a socket)" if unix else ")"
    )
    schemes = ("redis", "rediss", "unix") if unix else ("redis", "rediss")
    parts = urlsplit(text)
    if parts.scheme not in schemes:
        raise ConfigError(f"{name}: {shown!r} is not a Redis URL; {forms}")
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError(f"{name}: {shown!r} names no socket; {forms}")
        return RedisURL(text, shown, parts.path)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"{name}: {shown!r} is not a Redis URL: its port is not a number; {forms}"
        ) from None
    if not parts.hostname:
        raise ConfigError(f"{name}: {shown!r} names no host; {forms}")
    if port == 0:
        raise ConfigError(f"{name}: {shown!r} has no usable port; {forms}")
    db = parts.path.strip("/") or "0"
    if not db.isdigit():
        raise ConfigError(
            f"{name}: {shown!r}: the database must be a number (redis://host:port/DB), got {db!r}"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return RedisURL(text, shown, f"{host}:{port or 6379}/{int(db)}")
