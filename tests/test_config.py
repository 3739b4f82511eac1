"""The config file, the environment and dingtalk:// URLs."""

from pathlib import Path

import pytest

from dingwire import AsyncRobot, At, ConfigError, MemoryBudgetStore, Quota, Robot
from dingwire.config import config_path, expand_env, load_config, settings_from_url

CONFIG = """
[robots.ops]
webhook = "https://oapi.dingtalk.com/robot/send?access_token=${OPS_TOKEN}"
secret = "${OPS_SECRET}"
keywords = ["告警"]
mention = { mobiles = ["13800000000"], user_ids = ["u1"], all = false }
rate_limit = "10/60s"
lockout = "5m"
timeout = "3s"
proxy = "http://proxy.internal:3128"

[robots.plain]
webhook = "dingtalk://SECfromurl@tok2?keywords=a,b"

[relay]
listen = "127.0.0.1:8060"
auth_token = "${RELAY_TOKEN}"
"""

ENV = {"OPS_TOKEN": "t0k3n0123456789", "OPS_SECRET": "SECsecret", "RELAY_TOKEN": "r"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dingwire.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_robot_from_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONFIG), env=ENV)
    settings = config.robot("ops")
    assert settings["webhook"].endswith("access_token=t0k3n0123456789")
    assert settings["secret"] == "SECsecret"
    assert settings["keywords"] == ("告警",)
    assert settings["mention"] == At(mobiles=("13800000000",), user_ids=("u1",))
    robot = Robot(**settings)
    assert robot.rate is not None
    assert robot.rate.limit == 10
    assert robot.lockout == 300
    assert robot.timeout == 3
    assert robot.proxy == "http://proxy.internal:3128"
    assert config.relay["auth_token"] == "r"
    assert config.robot("plain")["secret"] == "SECfromurl"
    assert config.robot("plain")["keywords"] == ("a", "b")


def test_from_config_uses_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, CONFIG)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DINGWIRE_CONFIG", str(path))
    robot = Robot.from_config("ops")
    assert robot.name == "ops"
    assert robot.secret == "SECsecret"
    assert isinstance(AsyncRobot.from_config("plain"), AsyncRobot)


def test_missing_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\$\{OPS_SECRET\} is not set"):
        load_config(write(tmp_path, CONFIG), env={"OPS_TOKEN": "x", "RELAY_TOKEN": "r"})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            '[robots.x]\nwebhook = "https://h/robot/send?access_token=t"\nsecert = "S"\n',
            "unknown key 'secert'",
        ),
        ("[robots.x]\nsecret = 'S'\n", "webhook is required"),
        ("[robots.x\n", "not valid TOML"),
        ("[robot.x]\nwebhook = 'w'\n", r"unknown section \[robot\]"),
        ("[robots.x]\nwebhook = 'w'\nmention = { phones = [] }\n", "mention"),
        ("[robots.x]\nwebhook = 'w'\nkeywords = [1]\n", "keywords"),
    ],
)
def test_config_errors_say_what_to_fix(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text), env={})


def test_unknown_robot_lists_the_known_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONFIG), env=ENV)
    with pytest.raises(ConfigError, match="configured: ops, plain"):
        config.robot("nope")


def test_robots_print_masked(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONFIG), env=ENV)
    shown = repr(config.robots) + config.robots["ops"].describe()
    assert "t0k3n0123456789" not in shown
    assert "SECsecret" not in shown
    assert "…6789" in shown


def test_environment_robot(tmp_path: Path) -> None:
    env = {"DINGWIRE_WEBHOOK": "https://h/robot/send?access_token=t", "DINGWIRE_SECRET": "SECe"}
    config = load_config(None, env=env)
    assert config.robot("default")["secret"] == "SECe"
    assert "DINGWIRE_SECRET" in config.robots["default"].source
    url_env = {"DINGWIRE_WEBHOOK": "dingtalk://SECu@tok"}
    assert load_config(None, env=url_env).robot("default")["secret"] == "SECu"


def test_config_path_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path({}) is None
    write(tmp_path, CONFIG)
    assert config_path({}) == Path("dingwire.toml")
    with pytest.raises(ConfigError, match="not a file"):
        config_path({"DINGWIRE_CONFIG": str(tmp_path / "missing.toml")})


def test_expand_env_escapes() -> None:
    assert expand_env("a$${B}c", where="x", env={}) == "a${B}c"
    assert expand_env("${A}-${A}", where="x", env={"A": "1"}) == "1-1"


def test_dingtalk_urls() -> None:
    settings = settings_from_url(
        "dingtalk://SECabc@tok123/13800000000/13900000000?timeout=2s&base_url=http://127.0.0.1:9/"
    )
    assert settings["webhook"] == "http://127.0.0.1:9/robot/send?access_token=tok123"
    assert settings["secret"] == "SECabc"
    assert settings["mention"] == At(mobiles=("13800000000", "13900000000"))
    assert settings["timeout"] == "2s"
    assert "secret" not in settings_from_url("dingtalk://tok123")
    robot = Robot.from_url("dingtalk://SECabc@tok123")
    assert robot.webhook == "https://oapi.dingtalk.com/robot/send?access_token=tok123"


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("dingtalk://SEC@", "no token"),
        ("dingtalk://t?colour=red", "unknown option 'colour'"),
        ("https://x", "not a dingtalk"),
    ],
)
def test_bad_dingtalk_urls(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        settings_from_url(url)


ORGS = """
[robots.ops]
webhook = "https://oapi.dingtalk.com/robot/send?access_token=t1"
org = "acme"

[robots.loose]
webhook = "https://oapi.dingtalk.com/robot/send?access_token=t2"

[orgs.acme]
quota = "3000/month"
timezone = "Europe/Paris"

[budget]
store = "memory://"
"""


def test_a_robot_of_an_org_gets_its_quota_and_the_budget_store(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ORGS), env={})
    settings = config.robot("ops")
    assert settings["org"] == "acme"
    assert settings["quota"] == Quota(3000, "month", "Europe/Paris")
    assert settings["budget_store"] == "memory://"
    robot = Robot(**settings)
    assert robot.budget.org == "acme"
    assert robot.budget.quota == Quota(3000, "month", "Europe/Paris")
    assert isinstance(robot.budget_store, MemoryBudgetStore)
    loose = Robot(**config.robot("loose"))
    assert loose.budget.org == "default"
    assert loose.budget.quota is None
    assert config.org("acme").timezone == "Europe/Paris"
    assert config.org("nobody").quota is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[robots.a]\nwebhook = "t"\norg = "acme"\n', r"org 'acme' has no \[orgs.acme\] table"),
        ('[robots.a]\nwebhook = "t"\norg = 5\n', "org: expected the name"),
        ('[orgs.acme]\nquota = "lots"\n', r"\[orgs.acme\]: quota: 'lots' is not a quota"),
        ('[orgs.acme]\nquota = "0/month"\n', r"\[orgs.acme\]: quota: needs a limit"),
        ("[orgs.acme]\nquota = 3000\n", r"\[orgs.acme\]: quota: expected a string"),
        ('[orgs.acme]\ntimezone = "Mars/Olympus"\n', "'Mars/Olympus' is not a time zone"),
        ('[orgs.acme]\nquotas = "1/month"\n', "unknown key 'quotas'"),
        ("[orgs]\nacme = 1\n", r"\[orgs.acme\]: expected a table"),
        ("[budget]\nstore = 5\n", r"\[budget\] store: expected a string"),
        ('[budget]\nstores = "local"\n', r"\[budget\] takes one key"),
    ],
)
def test_orgs_and_budget_are_checked(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_a_budget_store_url_that_is_not_one_is_refused_when_the_robot_is_made(
    tmp_path: Path,
) -> None:
    config = load_config(
        write(tmp_path, '[robots.a]\nwebhook = "t"\n[budget]\nstore = "ftp://x"\n'), env={}
    )
    with pytest.raises(ConfigError, match="is not a store"):
        Robot(**config.robot("a"))


def test_dingtalk_urls_take_org_and_quota() -> None:
    robot = Robot.from_url("dingtalk://tok?org=acme&quota=20/5m")
    assert robot.budget.org == "acme"
    assert robot.budget.quota == Quota(20, 300.0)
