"""Which proxy a robot's requests go through: the one it was given, or the environment's.

Rules kept here, for ``Robot`` and ``AsyncRobot`` alike (both transports get the proxy
this module chose, and nothing else decides):

- **An explicit ``proxy=`` wins**, whatever the environment says.
- **Otherwise the environment's, unless ``trust_env=False``**, read as Python's standard
  library reads it (``urllib.request.getproxies()`` and ``proxy_bypass()`` on Linux, here
  without importing urllib.request): ``HTTPS_PROXY`` for an ``https`` webhook,
  ``HTTP_PROXY`` for an ``http`` one, ``ALL_PROXY`` for either when that one is unset; any
  spelling of a name counts, the lower-case one wins when several are set, an empty value
  unsets, and ``HTTP_PROXY`` in upper case is ignored inside a CGI request (httpoxy).
  ``NO_PROXY`` names the hosts reached directly: ``*`` for all, or a comma separated list
  of host names (or addresses), each covering its subdomains too (``example.com`` and
  ``.example.com`` both cover ``oapi.example.com``), written with or without ``:port``.
- **Read once, when the robot is built**, and checked then: a proxy is an ``http://`` URL
  (``https`` webhooks are tunnelled through it with ``CONNECT``, so TLS to DingTalk stays
  end to end and verified), with a host, an optional port (80 by default) and optional
  ``user:password@`` (sent as ``Proxy-Authorization``). ``proxy.internal:3128`` without a
  scheme, as environment variables often hold it, means ``http://proxy.internal:3128``.
  Anything else is a :class:`~dingwire.core.errors.ConfigError` that names where the
  proxy came from (``proxy`` or the variable) and shows the URL with its password masked.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from dingwire.core.errors import ConfigError
from dingwire.core.redact import mask_url
from dingwire.core.urls import url_problem

__all__ = ["check_proxy", "choose_proxy"]


def choose_proxy(webhook: str, proxy: str | None, *, trust_env: bool = True) -> str | None:
    """The proxy for ``webhook``'s requests, checked: ``proxy``, else the environment's.

    >>> choose_proxy("https://oapi.dingtalk.com/robot/send?access_token=t",
    ...              "proxy.internal:3128")
    'http://proxy.internal:3128'
    """
    if proxy is not None and not isinstance(proxy, str):
        raise ConfigError(f"proxy: expected an http:// URL, got {type(proxy).__name__}")
    if proxy is not None and proxy.strip():
        return check_proxy(proxy, source="proxy")
    if not isinstance(trust_env, bool):
        raise ConfigError(f"trust_env: expected True or False, got {trust_env!r}")
    if not trust_env:
        return None
    found = _environment()
    parts = urlsplit(webhook)
    scheme = parts.scheme.lower()
    key = scheme if scheme in found else "all"
    if key not in found or ("no" in found and _bypassed(parts.netloc, found["no"][0])):
        return None
    value, variable = found[key]
    return check_proxy(value, source=variable)


def _environment() -> dict[str, tuple[str, str]]:
    """``{"https": (url, variable), "http": …, "all": …, "no": (hosts, variable)}``."""
    found: dict[str, tuple[str, str]] = {}
    names = [n for n in os.environ if n[-6:].lower() == "_proxy"]
    cgi = "REQUEST_METHOD" in os.environ
    # Any spelling first, then those ending in lower-case "_proxy" over it (where an empty
    # value unsets), as urllib.request.getproxies_environment() reads them.
    for lower_only in (False, True):
        for name in names:
            if lower_only and name[-6:] != "_proxy":
                continue
            key, value = name[:-6].lower(), os.environ[name]
            if not lower_only and cgi and key == "http":
                continue  # httpoxy: a request's "Proxy:" header arrives as HTTP_PROXY
            if value:
                found[key] = (value, name)
            elif lower_only:
                found.pop(key, None)
    return found


def _bypassed(netloc: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` says to reach ``netloc`` directly."""
    if no_proxy.strip() == "*":
        return True
    hostport = netloc.rpartition("@")[2].lower()
    host = hostport.rpartition(":")[0] if hostport.rfind(":") > hostport.rfind("]") else hostport
    bare = host.strip("[]")
    for entry in no_proxy.split(","):
        name = entry.strip().lstrip(".").lower()
        if not name:
            continue
        for candidate in {hostport, host, bare}:
            if candidate == name or candidate.endswith(f".{name}"):
                return True
    return False


def check_proxy(proxy: str, *, source: str = "proxy") -> str:
    """``proxy`` as an ``http://`` URL, or a :class:`ConfigError` naming ``source``."""
    url = proxy.strip()
    if "://" not in url and url:
        url = f"http://{url}"
    shown = mask_url(url, whole=True)
    scheme = url.partition("://")[0].lower()
    problem: str | None
    if scheme == "https":
        problem = (
            "is an https:// proxy, which dingwire cannot speak TLS to; give its http:// "
            "address (https webhooks go through it in a CONNECT tunnel, still encrypted)"
        )
    elif scheme.startswith("socks"):
        problem = "is a SOCKS proxy; dingwire speaks to http:// proxies only"
    else:
        problem = url_problem(url, schemes=("http",)) or _extra_parts(url)
    if problem:
        raise ConfigError(f"{source}: {shown!r} {problem}")
    return url


def _extra_parts(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "has a path, query or fragment; a proxy is http://[user:password@]host[:port]"
    return None
