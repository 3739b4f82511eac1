"""``dingwire sign``: the seed's two lines, or a signed URL."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

import dingwire

from .conftest import VECTOR_SECRET, VECTOR_SIGN, VECTOR_TIMESTAMP, Invoke


def test_prints_timestamp_and_url_encoded_sign_like_the_seed(invoke: Invoke) -> None:
    result = invoke("sign", "--secret", VECTOR_SECRET, "--timestamp", str(VECTOR_TIMESTAMP))
    assert result.exit_code == 0
    assert result.stdout == f"{VECTOR_TIMESTAMP}\n{VECTOR_SIGN}\n"
    assert result.stderr == ""


def test_the_timestamp_defaults_to_now(invoke: Invoke) -> None:
    before = round(time.time() * 1000)
    result = invoke("sign", "--secret", VECTOR_SECRET)
    after = round(time.time() * 1000)
    timestamp, sign = result.stdout.splitlines()
    assert before <= int(timestamp) <= after
    assert unquote(sign) == dingwire.sign(VECTOR_SECRET, int(timestamp))


def test_secret_from_the_environment(invoke: Invoke) -> None:
    result = invoke(
        "sign", "--timestamp", str(VECTOR_TIMESTAMP), env={"DINGWIRE_SECRET": VECTOR_SECRET}
    )
    assert result.stdout.splitlines()[1] == VECTOR_SIGN


def test_with_a_webhook_prints_the_signed_url(invoke: Invoke) -> None:
    webhook = "https://oapi.dingtalk.com/robot/send?access_token=abc123"
    result = invoke(
        "sign",
        "--secret",
        VECTOR_SECRET,
        "--timestamp",
        str(VECTOR_TIMESTAMP),
        "--webhook",
        webhook,
    )
    assert result.exit_code == 0
    assert result.stdout == f"{webhook}&timestamp={VECTOR_TIMESTAMP}&sign={VECTOR_SIGN}\n"


def test_with_a_bare_token(invoke: Invoke) -> None:
    result = invoke("sign", "--secret", VECTOR_SECRET, "--timestamp", "1", "--webhook", "abc123")
    url = urlsplit(result.stdout.strip())
    assert (url.scheme, url.netloc, url.path) == ("https", "oapi.dingtalk.com", "/robot/send")
    assert parse_qs(url.query)["access_token"] == ["abc123"]


def test_with_a_dingtalk_url_the_secret_comes_from_it(invoke: Invoke) -> None:
    url = f"dingtalk://{VECTOR_SECRET}@abc123?base_url=http://127.0.0.1:8765"
    result = invoke("sign", "--timestamp", str(VECTOR_TIMESTAMP), "--webhook", url)
    assert result.exit_code == 0
    assert result.stdout == (
        f"http://127.0.0.1:8765/robot/send?access_token=abc123"
        f"&timestamp={VECTOR_TIMESTAMP}&sign={VECTOR_SIGN}\n"
    )


def test_without_a_secret_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("sign")
    assert result.exit_code == 2
    assert "--secret" in result.stderr
    assert "DINGWIRE_SECRET" in result.stderr


def test_a_bad_timestamp_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("sign", "--secret", "SECabc", "--timestamp", "soon")
    assert result.exit_code == 2


def test_a_bad_webhook_is_a_configuration_error(invoke: Invoke) -> None:
    result = invoke("sign", "--secret", "SECabc", "--webhook", "ftp://x/y?access_token=t")
    assert result.exit_code == 2
    assert result.stderr.startswith("dingwire: webhook: 'ftp://")


@pytest.mark.parametrize(
    "args",
    [["--secret", ""], ["--secret", "  "]],
)
def test_an_empty_secret_is_refused(invoke: Invoke, args: list[str]) -> None:
    result = invoke("sign", *args, "--timestamp", "1")
    assert result.exit_code == 2
    assert "the secret is empty" in result.stderr


def test_a_dingtalk_url_with_another_secret_is_refused(invoke: Invoke) -> None:
    result = invoke(
        "sign", "--webhook", "dingtalk://SECone@tok", "--timestamp", "1",
        env={"DINGWIRE_SECRET": "SECtwo"},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "carries a secret and DINGWIRE_SECRET gives another" in result.stderr
