from dingwire.core.redact import MASK, Secret, mask_token, mask_url, scrub


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


def test_mask_url_hides_credentials_before_the_host() -> None:
    assert "hunter2" not in mask_url("http://user:hunter2@proxy:3128")
    assert "SECabc" not in mask_url("dingtalk://SECabc@token1234567890")


def test_short_tokens_are_fully_masked() -> None:
    assert mask_token("abc") == MASK


def test_scrub_removes_known_secrets_anywhere() -> None:
    assert scrub("failed with SECdeadbeef in it", ["SECdeadbeef"]) == f"failed with {MASK} in it"


def test_secret_never_prints() -> None:
    secret = Secret("SECtopsecret")
    assert "topsecret" not in repr(secret) + str(secret) + f"{secret}"
    assert secret.reveal() == "SECtopsecret"
    assert secret == Secret("SECtopsecret")
    assert not Secret("")
