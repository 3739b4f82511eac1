"""The config file, the environment and dingtalk:// URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dingwire import AsyncRobot, At, ConfigError, MemoryBudgetStore, Quota, Rate, Robot
from dingwire.config import (
    CONFIG_FILES,
    CONFIG_LOOKUP,
    choose_robots,
    config_path,
    expand_env,
    expand_tree,
    load_config,
    settings_from_url,
    webhook_secrets,
    webhook_settings,
)

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
TOKEN = "0123456789abcdef0123456789abcdef"
GOOD = f'[robots.good]\nwebhook = "https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"\n'


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file of this machine's user is ever found by these tests."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.chdir(home)


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


# -- every key is checked, and the error says where, what was given, what is expected -------

ROBOT = '[robots.ops]\nwebhook = "https://oapi.dingtalk.com/robot/send?access_token=tok123456789"\n'


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        # the cases the issue saw
        ("secret = 5", "secret: expected a string (the robot's SEC… secret), got an integer"),
        (
            'mention = { mobiles = "13800000000" }',
            'mention.mobiles: expected an array of strings such as ["13800000000"], '
            'got the string "13800000000"',
        ),
        (
            'mention = { all = "false" }',
            'mention.all: expected true or false (without quotes), got the string "false"',
        ),
        # every other key, with a value of the wrong type
        ("secret = ['SEC1']", "secret: expected a string (the robot's SEC… secret), got an array"),
        ('secret = ""', "secret: empty; expected a string (the robot's SEC… secret)"),
        (
            'keywords = "告警"',
            'keywords: expected an array of strings such as ["告警"], got the string "告警"',
        ),
        ("keywords = [1]", "keywords[0]: expected a string, got the integer 1"),
        ('keywords = [""]', "keywords[0]: empty"),
        ("mention = true", "mention: expected a table such as { mobiles = "),
        (
            "mention = { phones = [] }",
            "mention: unknown key 'phones' (known: all, mobiles, user_ids)",
        ),
        (
            "mention = { mobiles = [13800000000] }",
            "mention.mobiles[0]: expected a string, got the integer 13800000000",
        ),
        (
            "mention = { user_ids = 'u1' }",
            'mention.user_ids: expected an array of strings such as ["manager01"], got the string "u1"',
        ),
        (
            "mention = { all = 1 }",
            "mention.all: expected true or false (without quotes), got the integer 1",
        ),
        (
            "rate_limit = 20",
            'rate_limit: expected a rate such as "20/60s" (or "off": no minute window), got the integer 20',
        ),
        ('rate_limit = ""', "rate_limit: empty"),
        ('rate_limit = "fast"', "rate_limit: 'fast' is not a rate"),
        ('rate_limit = "20/"', "rate_limit: '20/'"),
        (
            "lockout = true",
            'lockout: expected a duration such as "5s", "10m" or a number of seconds, got true',
        ),
        ('lockout = "soon"', "lockout: 'soon' is not a duration"),
        ("lockout = 0", "lockout: "),
        ('lockout = "2d"', "lockout: "),
        ("timeout = nan", "timeout: "),
        ("timeout = inf", "timeout: "),
        ("timeout = -1", "timeout: "),
        ('timeout = "0s"', "timeout: "),
        ('timeout = "1h"', "timeout: "),
        ("timeout = [5]", "timeout: expected a duration such as"),
        (
            "timeout = { s = 5 }",
            'timeout: expected a duration such as "5s", "10m" or a number of seconds, got a table',
        ),
        (
            "proxy = 3128",
            'proxy: expected a proxy URL such as "http://proxy.internal:3128", got an integer',
        ),
        ('proxy = ""', "proxy: empty"),
        ("org = 5", "org: expected the name of an [orgs.NAME] table, got the integer 5"),
        ('org = "acme"', r"org: 'acme' has no [orgs.acme] table (configured: none)"),
        (
            'secert = "S"',
            "unknown key 'secert' (known: keywords, lockout, mention, org, proxy, rate_limit, secret, timeout, webhook)",
        ),
    ],
)
def test_every_robot_key_is_checked(tmp_path: Path, lines: str, message: str) -> None:
    path = write(tmp_path, ROBOT + lines + "\n")
    config = load_config(path, env={})
    with pytest.raises(ConfigError) as raised:
        config.robot("ops")
    assert raised.value.message.startswith(f"{path} [robots.ops]: ")
    assert message in raised.value.message


@pytest.mark.parametrize(
    ("webhook", "message"),
    [
        (
            '["a"]',
            "webhook: expected a string (the robot's webhook URL, its access token or a dingtalk:// URL), got an array",
        ),
        (
            "12345",
            "webhook: expected a string (the robot's webhook URL, its access token or a dingtalk:// URL), got an integer",
        ),
        ('""', "webhook: empty"),
        ('"ftp://h/robot/send?access_token=tok123456789"', "webhook: "),
        ('"dingtalk://SEC@tok?colour=red"', "webhook: dingtalk:// URL: unknown option 'colour'"),
    ],
)
def test_the_webhook_is_checked(tmp_path: Path, webhook: str, message: str) -> None:
    path = write(tmp_path, f"[robots.ops]\nwebhook = {webhook}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={}).robot("ops")
    assert raised.value.message.startswith(f"{path} [robots.ops]: {message}")
    assert "tok123456789" not in raised.value.message


def test_a_webhook_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="webhook is required"):
        load_config(write(tmp_path, "[robots.x]\nsecret = 'S'\n"), env={}).robot("x")


def test_every_problem_of_a_robot_is_said(tmp_path: Path) -> None:
    path = write(tmp_path, ROBOT + "secret = 5\nrate_limit = 20\nmention = { all = 'no' }\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={}).robot("ops")
    assert "secret:" in raised.value.message
    assert [note.split(":")[1].strip() for note in raised.value.__notes__] == [
        "rate_limit",
        "mention.all",
    ]


def test_a_wrong_secret_is_never_shown(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[robots.ops]\nwebhook = ["https://h/robot/send?access_token=tok123456789"]\n'
        'secret = ["SECverysecret"]\nproxy = 8080\n'
        "[robots.flat]\nwebhook = 'https://x/robot/send?access_token=tok123456789'\n"
        '[robots]\nother = "https://h/robot/send?access_token=tok123456789"\n',
    )
    config = load_config(path, env={})
    shown = " ".join(str(config.problem(name)) for name in config.robots) + repr(config.robots)
    for secret in ("tok123456789", "SECverysecret"):
        assert secret not in shown


def test_a_key_set_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[robots.ops]\nwebhook = "dingtalk://SECa@tok"\nsecret = "SECb"\n')
    with pytest.raises(ConfigError, match="secret: set twice, as a key and in the dingtalk://"):
        load_config(path, env={}).robot("ops")


def test_numbers_are_durations_in_seconds(tmp_path: Path) -> None:
    path = write(tmp_path, ROBOT + 'timeout = 2\nlockout = 1.5\nrate_limit = "off"\n')
    settings = load_config(path, env={}).robot("ops")
    assert (settings["timeout"], settings["lockout"], settings["rate_limit"]) == (2.0, 1.5, None)
    assert Robot(**settings).rate is None


def test_what_the_robot_refuses_names_the_robot_too(tmp_path: Path) -> None:
    path = write(tmp_path, ROBOT + 'keywords = ["a","b","c","d","e","f","g","h","i","j","k"]\n')
    [choice] = choose_robots(["ops"], path=path, env={})
    with pytest.raises(ConfigError) as raised:
        choice.make(budget_store="memory://")
    assert raised.value.message.startswith(f"{path} [robots.ops]: keywords: ")


# -- one broken robot does not break the others --------------------------------------------------


def test_an_unset_variable_breaks_only_its_robot(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG)
    config = load_config(path, env={"OPS_TOKEN": "x", "RELAY_TOKEN": "r"})
    assert config.robot("plain")["secret"] == "SECfromurl"
    problem = config.problem("ops")
    assert problem is not None
    assert (
        problem.message
        == f"{path} [robots.ops]: secret: ${{OPS_SECRET}} is not set in the environment"
    )
    with pytest.raises(ConfigError, match=r"\$\{OPS_SECRET\} is not set"):
        config.robot("ops")
    assert config.robots["ops"].describe().startswith("https://oapi.dingtalk.com/robot/send")


def test_the_relay_table_breaks_only_the_relay(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG)
    config = load_config(path, env={"OPS_TOKEN": "x", "OPS_SECRET": "SECs"})
    assert config.robot("ops")["secret"] == "SECs"
    with pytest.raises(ConfigError, match=r"\[relay\]: auth_token: \$\{RELAY_TOKEN\} is not set"):
        config.relay_settings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[relay]\nlisten = 8060\n",
            'listen: expected an address such as "127.0.0.1:8060", got the integer 8060',
        ),
        ('[relay]\ndedupe_window = "often"\n', "dedupe_window: 'often' is not a duration"),
        ("[relay]\nmax_age = -1\n", "max_age: must not be negative"),
        ('[relay]\nkeep_sent = "a week"\n', "keep_sent: 'a week' is not a duration"),
        ('[relay]\ntimezone = "Mars/Olympus"\n', "'Mars/Olympus' is not a time zone"),
        (
            "[relay]\nauth_token = 5\n",
            "auth_token: expected a string (the bearer token), got an integer",
        ),
        ('[relay]\nlisten_on = "x"\n', "unknown key 'listen_on'"),
        ('[relay]\nmax_body = "16 parsecs"\n', "max_body: '16 parsecs' is not a size"),
        ("[relay]\nmax_body = 0\n", "max_body: must be more than 0 bytes"),
        ('[relay]\nburst = "150%"\n', "burst:"),
        ("[relay]\nburst = 0\n", "burst: must be at least 1 send"),
        ('[relay]\nlog_format = "xml"\n', "log_format: expected"),
        ("[relay]\noncall = 5\n", "oncall"),
        ('[relay.oncall.dba]\nmobiles = "138"\n', "mobiles"),
    ],
)
def test_the_relay_keys_are_checked(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, GOOD + text)
    config = load_config(path, env={})
    assert config.robot("good")
    with pytest.raises(ConfigError) as raised:
        config.relay_settings()
    assert raised.value.message.startswith(f"{path} [relay]: ")
    assert message in raised.value.message


def test_the_relay_table_checked(tmp_path: Path) -> None:
    text = '[relay]\nlisten = "127.0.0.1:8060"\ndedupe_window = "5m"\nmax_age = "24h"\n'
    relay = load_config(write(tmp_path, text), env={}).relay_settings()
    assert relay == {"listen": "127.0.0.1:8060", "dedupe_window": 300.0, "max_age": 86400.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[robots.x\n", "not valid TOML"),
        (
            "[robot.x]\nwebhook = 'w'\n",
            "unknown section [robot] (known: budget, orgs, relay, robots)",
        ),
        ("robots = 5\n", "robots must be a section of [robots…] tables, got the integer 5"),
        ("a = " + "[" * 1000 + "]" * 1000 + "\n", "nested too deeply"),
        ("a = " + "{b=" * 600 + "1" + "}" * 600 + "\n", "nested too deeply"),
    ],
)
def test_a_file_that_cannot_be_read_fails_whole(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={})
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "dingwire.toml"
    path.write_bytes('[robots.ops]\nwebhook = "tok"\nkeywords = ["告警"]\n'.encode("gbk"))
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte \d+, line 3\)"):
        load_config(path, env={})


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path, env={})


def test_expand_tree_refuses_absurd_nesting() -> None:
    deep: list[object] = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ConfigError, match="nested more than"):
        expand_tree(deep, "x", {})


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


def test_environment_robot() -> None:
    env = {"DINGWIRE_WEBHOOK": "https://h/robot/send?access_token=t", "DINGWIRE_SECRET": "SECe"}
    config = load_config(None, env=env)
    assert config.robot("default")["secret"] == "SECe"
    assert "DINGWIRE_SECRET" in config.robots["default"].source
    url_env = {"DINGWIRE_WEBHOOK": "dingtalk://SECu@tok"}
    assert load_config(None, env=url_env).robot("default")["secret"] == "SECu"
    # The environment's values are taken as they are: a $ in a secret is no variable.
    dollar = {"DINGWIRE_WEBHOOK": "tok12345678", "DINGWIRE_SECRET": "SEC${x}"}
    assert load_config(None, env=dollar).robot("default")["secret"] == "SEC${x}"


# -- where the file is looked for ---------------------------------------------------------------


def test_config_path_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    xdg = tmp_path / "xdg"
    (home / ".config" / "dingwire").mkdir(parents=True)
    (xdg / "dingwire").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    env = {"HOME": str(home)}
    assert config_path(env) is None
    user = home / ".config" / "dingwire" / "config.toml"
    user.write_text(GOOD, encoding="utf-8")
    assert config_path(env) == user
    assert config_path({**env, "XDG_CONFIG_HOME": ""}) == user  # empty: the default
    assert config_path({**env, "XDG_CONFIG_HOME": "relative/dir"}) == user  # the spec: ignored
    assert config_path({**env, "XDG_CONFIG_HOME": str(xdg)}) is None  # it replaces ~/.config
    (xdg / "dingwire" / "config.toml").write_text(GOOD, encoding="utf-8")
    assert config_path({**env, "XDG_CONFIG_HOME": str(xdg)}) == xdg / "dingwire" / "config.toml"
    write(tmp_path, CONFIG)
    assert config_path({**env, "XDG_CONFIG_HOME": str(xdg)}) == Path("dingwire.toml")
    assert config_path({**env, "DINGWIRE_CONFIG": str(user)}) == user
    with pytest.raises(ConfigError, match="not a file"):
        config_path({"DINGWIRE_CONFIG": str(tmp_path / "missing.toml")})


def test_the_lookup_is_written_as_the_code_reads_it() -> None:
    assert CONFIG_FILES == (
        "$DINGWIRE_CONFIG",
        "./dingwire.toml",
        "$XDG_CONFIG_HOME/dingwire/config.toml",
        "~/.config/dingwire/config.toml",
    )
    positions = [CONFIG_LOOKUP.index(place) for place in CONFIG_FILES]
    assert positions == sorted(positions)


def test_expand_env_escapes() -> None:
    assert expand_env("a$${B}c", where="x", env={}) == "a${B}c"
    assert expand_env("${A}-${A}", where="x", env={"A": "1"}) == "1-1"


# -- dingtalk:// URLs and webhooks as given ----------------------------------------------------


def test_dingtalk_urls() -> None:
    settings = settings_from_url(
        "dingtalk://SECabc@tok123/13800000000/13900000000?timeout=2s&base_url=http://127.0.0.1:9/"
    )
    assert settings["webhook"] == "http://127.0.0.1:9/robot/send?access_token=tok123"
    assert settings["secret"] == "SECabc"
    assert settings["mention"] == At(mobiles=("13800000000", "13900000000"))
    assert settings["timeout"] == 2.0
    assert "secret" not in settings_from_url("dingtalk://tok123")
    assert settings_from_url("dingtalk://t?rate_limit=5/10s")["rate_limit"] == Rate(5, 10.0)
    robot = Robot.from_url("dingtalk://SECabc@tok123")
    assert robot.webhook == "https://oapi.dingtalk.com/robot/send?access_token=tok123"


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("dingtalk://SEC@", "no token"),
        ("dingtalk://t?colour=red", "unknown option 'colour'"),
        ("https://x", "not a dingtalk"),
        ("dingtalk://t?timeout=", "option 'timeout' is empty"),
        ("dingtalk://t?timeout=1s&timeout=2s", "option 'timeout' is given twice"),
        ("dingtalk://t?timeout=soon", "dingtalk:// URL: timeout: 'soon' is not a duration"),
        ("dingtalk://t?rate_limit=20/", "dingtalk:// URL: rate_limit: "),
        ("dingtalk://t?quota=lots", "dingtalk:// URL: quota: 'lots' is not a quota"),
    ],
)
def test_bad_dingtalk_urls(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        settings_from_url(url)


@pytest.mark.parametrize(
    ("webhook", "secrets"),
    [
        (None, []),
        ("", []),
        ("tok123", ["tok123"]),
        ("dingtalk://SECa@tok/138?timeout=1s", ["SECa", "tok"]),
        ("dingtalk://tok", ["tok"]),
        ("https://h/robot/send?access_token=T1&timestamp=1&sign=S1", ["T1", "S1"]),
        ("https://h/robot/send?acess_token=T2", ["T2"]),  # misspelt: still a secret
        ("https://h/robot/send?token=T3", ["T3"]),
        ("http://user:pw123@proxy:3128", ["pw123"]),
        ("https://[::1/robot/send?access_token=T4", ["https://[::1/robot/send?access_token=T4"]),
    ],
)
def test_webhook_secrets(webhook: str | None, secrets: list[str]) -> None:
    assert webhook_secrets(webhook) == secrets


def test_webhook_settings() -> None:
    assert webhook_settings(" tok123 ", "SECx") == {"webhook": "tok123", "secret": "SECx"}
    assert webhook_settings("dingtalk://SECx@tok", "SECx")["secret"] == "SECx"
    with pytest.raises(ConfigError, match="carries a secret and --secret gives another"):
        webhook_settings("dingtalk://SECx@tok", "SECy", secret_from="--secret")


# -- which robots a command sends through ---------------------------------------------------


def test_choose_robots_by_name_each_once_in_order(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG)
    chosen = choose_robots(["plain", "ops", "plain", "nope"], path=path, env=ENV)
    assert [c.name for c in chosen] == ["plain", "ops", "nope"]
    assert [c.error is None for c in chosen] == [True, True, False]
    assert chosen[2].error is not None
    assert "no robot named 'nope'" in chosen[2].error.message
    robot = chosen[1].make(budget_store=MemoryBudgetStore())
    assert robot.name == "ops"
    assert chosen[1].source == f"{path} [robots.ops]"


def test_choose_robots_from_a_webhook_and_the_environment(tmp_path: Path) -> None:
    [given] = choose_robots(webhook="tok123", secret="SECa", env={"DINGWIRE_SECRET": "SECenv"})
    assert (given.name, given.source, given.settings["secret"]) == (None, "--webhook", "SECa")
    [env] = choose_robots(env={"DINGWIRE_WEBHOOK": "tok123", "DINGWIRE_SECRET": "SECenv"})
    assert (env.source, env.settings["secret"]) == ("DINGWIRE_WEBHOOK", "SECenv")
    [mixed] = choose_robots(secret="SECa", env={"DINGWIRE_WEBHOOK": "tok123"})
    assert mixed.settings == {"webhook": "tok123", "secret": "SECa"}
    [conflict] = choose_robots(webhook="dingtalk://SECa@tok", env={"DINGWIRE_SECRET": "SECenv"})
    assert conflict.error is not None
    assert "DINGWIRE_SECRET gives another" in conflict.error.message
    assert choose_robots(env={}) == []
    path = write(tmp_path, '[robots.default]\nwebhook = "tok123"\n')
    [default] = choose_robots(path=path, env={})
    assert default.name == "default"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"names": ["ops"], "webhook": "tok"}, "not both"),
        ({"names": ["ops"], "secret": "SECa"}, "not both"),
        ({"secret": "SECa"}, "--secret needs --webhook"),
        ({"secret": ""}, "--secret is empty"),
        ({"secret": "  "}, "--secret is empty"),
        ({"webhook": ""}, "--webhook is empty"),
    ],
)
def test_choose_robots_refuses_what_is_ambiguous(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        choose_robots(**kwargs, env={})  # type: ignore[arg-type]


# -- orgs and the budget store --------------------------------------------------------------

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
        ('[orgs.acme]\nquota = "lots"\n', "[orgs.acme]: quota: 'lots' is not a quota"),
        ('[orgs.acme]\nquota = "0/month"\n', "[orgs.acme]: quota: needs a limit"),
        (
            "[orgs.acme]\nquota = 3000\n",
            '[orgs.acme]: quota: expected a quota such as "3000/month", got the integer 3000',
        ),
        ('[orgs.acme]\nquota = ""\n', "[orgs.acme]: quota: empty"),
        ('[orgs.acme]\ntimezone = "Mars/Olympus"\n', "'Mars/Olympus' is not a time zone"),
        (
            "[orgs.acme]\ntimezone = 8\n",
            '[orgs.acme]: timezone: expected a zone such as "Asia/Shanghai", got the integer 8',
        ),
        (
            '[orgs.acme]\nquotas = "1/month"\n',
            "[orgs.acme]: unknown key 'quotas' (known: quota, timezone)",
        ),
        ("[orgs]\nacme = 1\n", "[orgs.acme]: expected a table of settings"),
    ],
)
def test_an_orgs_keys_are_checked_and_stop_only_its_robots(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, f'{GOOD}[robots.ops]\nwebhook = "tok123456789"\norg = "acme"\n{text}')
    config = load_config(path, env={})
    assert config.robot("good")
    with pytest.raises(ConfigError) as raised:
        config.robot("ops")
    assert raised.value.message.startswith(f"{path} [orgs.acme]: ")
    assert message in raised.value.message
    assert raised.value.__notes__ == ["the robot 'ops' belongs to the org 'acme'"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[budget]\nstore = 5\n", 'store: expected a budget store such as "local"'),
        ('[budget]\nstore = ""\n', "store: empty"),
        ('[budget]\nstores = "local"\n', "unknown key 'stores' (known: on_store_error, store)"),
        (
            '[budget]\non_store_error = "retry"\n',
            'on_store_error: expected "local" (count on this machine while Redis is away) or '
            '"fail", got the string "retry"',
        ),
        ("[budget]\non_store_error = true\n", 'on_store_error: expected "local" (count'),
        ('[budget]\non_store_error = ""\n', "on_store_error: empty"),
        ("[budget]\nstore = '${NO_STORE}'\n", "store: ${NO_STORE} is not set"),
    ],
)
def test_the_budget_table_is_checked_and_stops_every_robot(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, GOOD + text)
    config = load_config(path, env={})
    with pytest.raises(ConfigError) as raised:
        config.robot("good")
    assert raised.value.message.startswith(f"{path} [budget]: {message}")


@pytest.mark.parametrize("mode", ["local", "fail"])
def test_on_store_error_reaches_every_robot(tmp_path: Path, mode: str) -> None:
    text = f'[robots.a]\nwebhook = "t"\n[budget]\nstore = "memory://"\non_store_error = "{mode}"\n'
    config = load_config(write(tmp_path, text), env={})
    assert config.robot("a")["on_store_error"] == mode
    Robot(**config.robot("a"))  # a store that is never away takes it, and it changes nothing


def test_no_on_store_error_leaves_the_robot_its_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ORGS), env={})
    assert "on_store_error" not in config.robot("ops")


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


def test_every_relay_key_read_into_settings(tmp_path: Path) -> None:
    from dingwire.relay.settings import RelaySettings

    text = (
        '[relay]\nqueue = "memory://"\nmax_body = "2MiB"\nburst = "10%"\nlease = "10s"\n'
        'priority_order = ["p1", "p2"]\nlog_format = "json"\ntemplate = "t.j2"\n'
        '[relay.templates]\nops = "ops.j2"\n'
        '[relay.oncall.dba]\nmobiles = ["13800000000"]\n'
    )
    settings = RelaySettings.from_config(load_config(write(tmp_path, text), env={}))
    assert settings.max_body == 2 * 2**20
    assert settings.burst_for(3000) == 300
    assert settings.lease == 10.0
    assert settings.priority("P2") == 1
    assert settings.priority("info") == settings.priority(None) == 2
    assert settings.templates == {"ops": "ops.j2"}
    assert settings.oncall["dba"] == At(mobiles=["13800000000"])
    assert settings.dedupe_window == 300.0  # the default stays
    assert RelaySettings().burst_for(3000) == 150
    assert RelaySettings().burst_for(10) == 1
