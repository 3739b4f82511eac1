import base64
import hashlib
import hmac
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dingwire import sign, signed_url
from dingwire.core.signing import signature_matches

API_SECRET = "SECb90923e19e58b466481e9e7b7a5b4f108a4531abde590ad3967fb29f0eae5c68"


def seed_sign(secret: str, timestamp: int) -> str:
    """The seed's algorithm, line for line (its url-encoding step left out)."""
    secret_enc = secret.encode("utf-8")
    string_to_sign = f"{timestamp}\n{secret}".encode()
    hmac_code = hmac.new(secret_enc, string_to_sign, digestmod=hashlib.sha256).digest()
    return base64.b64encode(hmac_code).decode()


@pytest.mark.parametrize(
    ("secret", "timestamp", "expected"),
    [
        # API.md §1.3, the verified vector.
        (API_SECRET, 1582163555000, "BQKsG+QOCl+bYJOLc6pxDHxjVquzlZPWgvRzeN2J5zY="),
        # API.md §6.1: the same construction, computed independently.
        ("this is secret", 1577262236757, "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="),
    ],
)
def test_known_answers(secret: str, timestamp: int, expected: str) -> None:
    assert sign(secret, timestamp) == expected


def test_signed_url_encodes_the_sign_exactly_once() -> None:
    url = signed_url(
        "https://oapi.dingtalk.com/robot/send?access_token=abc", API_SECRET, 1582163555000
    )
    assert url == (
        "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1582163555000"
        "&sign=BQKsG%2BQOCl%2BbYJOLc6pxDHxjVquzlZPWgvRzeN2J5zY%3D"
    )


def test_signed_url_keeps_other_parameters_and_replaces_a_stale_signature() -> None:
    url = signed_url(
        "https://h/robot/send?access_token=abc&x=1&timestamp=5&sign=old#frag", "SECx", 7
    )
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    assert query["access_token"] == ["abc"]
    assert query["x"] == ["1"]
    assert query["timestamp"] == ["7"]
    assert query["sign"] == [sign("SECx", 7)]
    assert parts.fragment == "frag"


def test_sign_rejects_seconds_as_strings_or_floats() -> None:
    with pytest.raises(TypeError, match="milliseconds"):
        sign("SECx", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sign("SECx", "1582163555000")  # type: ignore[arg-type]


@given(secret=st.text(min_size=1, max_size=80), timestamp=st.integers(0, 2**53))
def test_sign_is_the_seeds_algorithm(secret: str, timestamp: int) -> None:
    assert sign(secret, timestamp) == seed_sign(secret, timestamp)
    assert signature_matches(secret, timestamp, seed_sign(secret, timestamp))
    assert not signature_matches(secret, timestamp + 1, seed_sign(secret, timestamp))


@given(
    secret=st.text(min_size=1, max_size=80),
    timestamp=st.integers(0, 2**53),
    token=st.text(alphabet="0123456789abcdef", min_size=1, max_size=64),
)
def test_signed_url_round_trips_through_a_url_parser(
    secret: str, timestamp: int, token: str
) -> None:
    url = signed_url(
        f"https://oapi.dingtalk.com/robot/send?access_token={token}", secret, timestamp
    )
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    # What a server decodes is exactly the base64 signature: no '+' turned into ' '.
    assert query == {
        "access_token": [token],
        "timestamp": [str(timestamp)],
        "sign": [sign(secret, timestamp)],
    }


@given(
    query=st.lists(
        st.sampled_from(["a=1", "timestamp=9", "sign=old", "access_token=tok", "x=%2B"]),
        max_size=5,
    ),
    fragment=st.sampled_from(["", "#f"]),
    timestamp=st.integers(0, 2**45),
)
def test_robots_prebuilt_template_gives_the_same_url(
    query: list[str], fragment: str, timestamp: int
) -> None:
    from dingwire.core.signing import sign_query, signing_template

    webhook = "https://h/robot/send?" + "&".join(query) + fragment
    prefix, suffix = signing_template(webhook)
    assert prefix + sign_query("SECk", timestamp) + suffix == signed_url(webhook, "SECk", timestamp)
