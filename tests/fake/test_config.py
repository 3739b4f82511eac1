"""The fake's TOML: DESIGN.md's keys, the fake's own, and errors that name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from dingwire.core.errors import ConfigError
from dingwire.core.policy import Rate
from dingwire.fake.config import FakeRobot, FakeSettings, load_fake_config, parse_fake_config
from dingwire.fake.faults import Fault

FULL = """
[fake]
errmsg_style = "legacy"
throttle_errcode = 410100
accept_image = true
session_ttl = "10m"
history = 50
faults = [{ kind = "http", status = 502 }]

[robots.tok1]
secret = "${FAKE_SECRET}"
keywords = ["告警"]
ips = ["127.0.0.1", "10.0.0.0/8"]
rate_limit = "5/10s"
lockout = "30s"

[robots.tok2]
name = "quiet group"
rate_limit = "none"
disabled = true
errmsg_style = "new"
faults = [{ kind = "slow", delay = 1.5, count = 2 }, { kind = "drop", deliver = true }]
"""


def test_every_key(tmp_path: Path) -> None:
    path = tmp_path / "fake.toml"
    path.write_text(FULL, encoding="utf-8")
    settings = load_fake_config(path, env={"FAKE_SECRET": "SECabc"})
    assert settings.errmsg_style == "legacy"
    assert settings.throttle_errcode == 410100
    assert settings.accept_image is True
    assert settings.session_ttl == 600.0
    assert settings.history == 50
    assert settings.faults == (Fault.http(502),)
    one, two = settings.robots
    assert one == FakeRobot(
        "tok1",
        secret="SECabc",
        keywords=("告警",),
        ips=("127.0.0.1", "10.0.0.0/8"),
        rate_limit=Rate(5, 10.0),
        lockout=30.0,
    )
    assert two.name == "quiet group"
    assert two.rate_limit is None
    assert two.disabled is True
    assert two.errmsg_style == "new"
    assert two.faults == (Fault.slow(1.5, count=2), Fault.drop(deliver=True))


def test_defaults_are_dingtalks() -> None:
    assert load_fake_config(None) == FakeSettings()
    robot = parse_fake_config({"robots": {"t": {}}}).robots[0]
    assert (robot.rate_limit, robot.lockout, robot.secret) == (Rate(20, 60.0), 600.0, None)
    assert FakeSettings().errmsg_style == "new"
    assert FakeSettings().throttle_errcode == 130101


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"robot": {}}, "unknown section [robot]"),
        ({"fake": {"style": "new"}}, "unknown key 'style'"),
        ({"robots": {"t": {"secrte": "SEC"}}}, "unknown key 'secrte'"),
        ({"robots": {"t": {"keywords": "k" * 0}}}, "1 to 10 non-empty keywords"),
        ({"robots": {"t": {"keywords": [str(i) for i in range(11)]}}}, "1 to 10"),
        ({"robots": {"t": {"ips": ["300.1.1.1"]}}}, "not an IP or a CIDR range"),
        ({"robots": {"t": {"ips": ["::1"]}}}, "no IPv6 allow-list"),
        ({"robots": {"t": {"rate_limit": "fast"}}}, "not a rate"),
        ({"robots": {"t": {"lockout": "soon"}}}, "not a duration"),
        ({"robots": {"t": {"disabled": "yes"}}}, "true or false"),
        ({"robots": {"t": {"errmsg_style": "old"}}}, "'new' or 'legacy'"),
        ({"fake": {"throttle_errcode": 429}}, "130101 or 410100"),
        ({"fake": {"history": 0}}, "history must be at least 1"),
        ({"fake": {"faults": [{"kind": "boom"}]}}, "kind must be one of"),
        ({"fake": {"faults": [{"kind": "slow"}]}}, "delay between 0 and 600"),
        ({"fake": {"faults": [{"kind": "http", "status": 999}]}}, "HTTP status"),
        ({"fake": {"faults": [{"kind": "http", "count": 0}]}}, "positive integer"),
        ({"fake": {"faults": [{"kind": "http", "color": 1}]}}, "unknown key 'color'"),
        ({"robots": {"t": {"secret": "${NOT_SET_ANYWHERE}"}}}, "NOT_SET_ANYWHERE"),
        ({"robots": {"": {}}}, "non-empty string"),
        ({"robots": {"t": {"lockout": float("nan")}}}, "lockout"),
        ({"robots": {"t": {"lockout": float("inf")}}}, "lockout"),
        ({"robots": {"t": {"lockout": -1}}}, "lockout"),
        ({"robots": {"t": {"lockout": 86401}}}, "lockout"),
        ({"robots": {"t": {"lockout": "25h"}}}, "lockout"),
        ({"fake": {"session_ttl": float("nan")}}, "[fake]: session_ttl"),
        ({"fake": {"session_ttl": float("inf")}}, "[fake]: session_ttl"),
        ({"fake": {"session_ttl": -1}}, "[fake]: session_ttl"),
        ({"fake": {"session_ttl": 0}}, "[fake]: session_ttl"),
        (
            {"fake": {"session_ttl": "721h"}},
            "[fake]: session_ttl: '721h' is more than the 30d allowed",
        ),
        ({"fake": {"session_ttl": 10**400}}, "[fake]: session_ttl"),
        ({"robots": {"t": {"name": "ops \ud800"}}}, "lone surrogate"),
        ({"robots": {"t": {"secret": "SEC\udc00"}}}, "lone surrogate"),
        ({"robots": {"t": {"keywords": ["\ud800"]}}}, "lone surrogate"),
        ({"robots": {"t\ud800": {}}}, "lone surrogate"),
        ({"orgs": {"\ud800": {}}}, "lone surrogate"),
    ],
)
def test_mistakes_are_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("?", r"\?")):
        parse_fake_config(data, env={})


def test_nan_and_infinity_in_the_toml_file_are_errors_naming_the_file_and_key(
    tmp_path: Path,
) -> None:
    file = tmp_path / "fake.toml"
    for table, setting, key in [
        ("robots.t", "lockout = nan", "lockout"),
        ("robots.t", "lockout = inf", "lockout"),
        ("fake", "session_ttl = nan", "session_ttl"),
        ("fake", "session_ttl = -inf", "session_ttl"),
    ]:
        file.write_text(f"[{table}]\n{setting}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_fake_config(file)
        assert str(file) in str(caught.value)
        assert key in str(caught.value)


def test_settings_made_in_python_refuse_what_makes_no_sense() -> None:
    for lockout in (float("nan"), float("inf"), -1.0, 1e308):
        with pytest.raises(ConfigError, match="lockout"):
            FakeRobot("t", lockout=lockout)
    for ttl in (float("nan"), float("inf"), -1.0, 0.0, 1e308):
        with pytest.raises(ConfigError, match="session_ttl"):
            FakeSettings(session_ttl=ttl)
    with pytest.raises(ConfigError, match="lone surrogate"):
        FakeRobot("t", secret="SEC\ud800")


def test_errors_never_show_a_token_or_a_secret() -> None:
    token = "f" * 60 + "1234"
    with pytest.raises(ConfigError) as caught:
        parse_fake_config({"robots": {token: {"secret": "SECsecret", "ips": ["bad"]}}})
    assert token not in str(caught.value)
    assert "SECsecret" not in str(caught.value)
    assert "…1234" in str(caught.value)


def test_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_fake_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[robots.t\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_fake_config(bad)


def test_robot_json_shows_no_secret() -> None:
    shown = FakeRobot("tok", secret="SECabc", keywords=("k",)).to_json()
    assert shown["signed"] is True
    assert "SECabc" not in repr(shown)
    assert "tok" not in repr(shown)
