import pytest

import dingwire.core.redact as redact
from dingwire.core.redact import MASK, mask_query, mask_token, mask_url, scrub

TOKEN = "0123456789abcdef"


def test_mask_url_hides_token_sign_and_session() -> None:
    url = (
        "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef"
        "&timestamp=1&sign=abc%2Bdef%3D"
    )
    masked = mask_url(url)
    assert "0123456789abcdef" not in masked
    assert "abc%2Bdef" not in masked
    assert "access_token=…cdef" in masked
    assert f"sign={MASK}" in masked
    assert "timestamp=1" in masked
    assert "session=" + MASK in mask_url("https://x/robot/sendBySession?session=s3cr3tvalue")


@pytest.mark.parametrize(
    "parameter",
    [
        "acess_token",
        "token",
        "accesstoken",
        "Access_Token2",
        "access%5Ftokn",
        "key",
        "t",
        "ACCESS_TOKEN_",
    ],
)
def test_a_token_under_any_other_name_is_masked(parameter: str) -> None:
    url = f"https://oapi.dingtalk.com/robot/send?{parameter}={TOKEN}&timestamp=1700000000000"
    masked = mask_url(f"webhook: {url!r} has no access_token")
    assert TOKEN not in masked
    assert TOKEN[-6:] not in masked  # not even most of it
    assert f"{parameter}={MASK}" in masked
    assert "timestamp=1700000000000" in masked  # the one value shown as it is


@pytest.mark.parametrize(
    ("query", "masked"),
    [
        ("access_token=0123456789abcdef", "access_token=…cdef"),
        ("access%5Ftoken=0123456789abcdef", "access%5Ftoken=…cdef"),  # DingTalk decodes names
        ("access_token=short", f"access_token={MASK}"),
        ("timestamp=1&sign=xyz", f"timestamp=1&sign={MASK}"),
        ("TIMESTAMP=1", "TIMESTAMP=1"),
        ("a=1&b=&c", f"a={MASK}&b=&{MASK}"),  # a value without a name may be a token
        ("", ""),
        ("base_url=http://127.0.0.1:9/&rate_limit=1/60s", f"base_url={MASK}&rate_limit={MASK}"),
    ],
)
def test_mask_query_masks_every_value_but_the_timestamp(query: str, masked: str) -> None:
    assert mask_query(query) == masked


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("see ?acess_token=abcdefgh1234 there", "abcdefgh1234"),  # a query on its own
        ("token=abcdefgh1234 in prose", "abcdefgh1234"),
        ("failed: access_token=abcdefgh1234", "defgh1234"),
        ("https://a/#access_token=abcdefgh1234", "abcdefgh1234"),  # in a fragment
        ("'https://x/robot/send?access_token=abcdefgh1234'", "abcdefgh1234"),
    ],
)
def test_mask_url_finds_secrets_in_any_text(text: str, hidden: str) -> None:
    assert hidden not in mask_url(text)


def test_mask_url_hides_credentials_before_the_host() -> None:
    assert "hunter2" not in mask_url("http://user:hunter2@proxy:3128")
    assert "hun" not in mask_url("http://user:hun@ter2@proxy:3128")  # an @ in the password
    assert "SECabc" not in mask_url("dingtalk://SECabc@token1234567890")


def test_the_host_of_a_dingtalk_url_is_its_token() -> None:
    masked = mask_url("dingtalk://SECabc@token1234567890/13800000000?keywords=x")
    assert "token1234567890" not in masked
    assert masked.startswith(f"dingtalk://{MASK}@…7890/13800000000?")
    # DingTalk's own client links keep their host
    link = "dingtalk://dingtalkclient/page/link?url=x"
    assert mask_url(link) == f"dingtalk://dingtalkclient/page/link?url={MASK}"


def test_a_whole_url_is_masked_spaces_and_all() -> None:
    url = "https://oapi dingtalk.com/robot/send?access_token=0123 4567 89ab cdef"
    assert "4567" not in mask_url(url, whole=True)
    assert mask_url(url, whole=True).startswith("https://oapi dingtalk.com/robot/send?")


def test_short_tokens_are_fully_masked() -> None:
    assert mask_token("abc") == MASK


def test_scrub_removes_known_secrets_anywhere() -> None:
    assert scrub("failed with SECdeadbeef in it", ["SECdeadbeef"]) == f"failed with {MASK} in it"


def test_the_unused_secret_class_is_gone() -> None:
    assert not hasattr(redact, "Secret")
    assert redact.__all__ == ["MASK", "mask_query", "mask_token", "mask_url", "scrub"]
