"""``dingwire robots``: what is configured and where, secrets masked."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import dingwire
from dingwire.core.budget import Quota, quota_period
from dingwire.fake.controls import RobotHandle
from dingwire.fake.faults import Fault
from dingwire.fake.server import FakeServer
from dingwire.transport.base import robot_key

from .conftest import Invoke

TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SECRET = "SEC" + "f" * 64


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dingwire.toml"
    path.write_text(
        "[robots.ops]\n"
        'webhook = "https://oapi.dingtalk.com/robot/send?access_token=${OPS_TOKEN}"\n'
        'secret = "${OPS_SECRET}"\n'
        'keywords = ["告警"]\n'
        "[robots.ci]\n"
        f'webhook = "dingtalk://{SECRET}@{TOKEN}"\n',
        encoding="utf-8",
    )
    return path


def test_lists_robots_masked_with_their_source(invoke: Invoke, config: Path) -> None:
    env = {"OPS_TOKEN": TOKEN, "OPS_SECRET": SECRET}
    result = invoke("--config", str(config), "robots", env=env, secrets=[TOKEN, SECRET])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"config file: {config}"
    assert lines[1] == f"budget store: {Path(os.environ['DINGWIRE_CACHE_DIR']) / 'budget.sqlite3'}"
    assert lines[2].startswith("ops  https://oapi.dingtalk.com/robot/send?access_token=")
    assert f"access_token=…{TOKEN[-4:]} secret=**********" in lines[2]
    assert "keywords=告警" in lines[2]
    assert lines[3] == f"     from {config} [robots.ops]"
    assert lines[4] == "     org default, budget 20/60s: 20 free now"
    assert lines[5].startswith("ci   https://oapi.dingtalk.com/robot/send?access_token=")
    assert lines[6] == f"     from {config} [robots.ci]"
    assert lines[7] == "     org default, budget 20/60s: 20 free now"
    assert lines[8:] == [
        "orgs (webhook calls counted by the budget store):",
        "  default: 0 this month",
    ]


def test_the_environment_robot_is_listed_as_default(invoke: Invoke, config: Path) -> None:
    env = {
        "OPS_TOKEN": TOKEN,
        "OPS_SECRET": SECRET,
        "DINGWIRE_WEBHOOK": "envtoken1234567",
        "DINGWIRE_SECRET": "SECenvironment",
    }
    result = invoke(
        "robots",
        "--config",
        str(config),
        env=env,
        secrets=[TOKEN, SECRET, "envtoken1234567", "SECenvironment"],
    )
    assert result.exit_code == 0, result.output
    assert "default  …4567 secret=**********" in result.stdout
    assert "environment (DINGWIRE_WEBHOOK, DINGWIRE_SECRET)" in result.stdout


def test_nothing_configured(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = invoke("robots")
    assert result.exit_code == 0
    assert "config file: none found" in result.stdout
    assert "no robots configured" in result.stdout


def test_config_from_dingwire_config(invoke: Invoke, config: Path) -> None:
    env = {"DINGWIRE_CONFIG": str(config), "OPS_TOKEN": TOKEN, "OPS_SECRET": SECRET}
    result = invoke("robots", env=env, secrets=[TOKEN, SECRET])
    assert result.exit_code == 0
    assert f"config file: {config}" in result.stdout


def test_a_broken_config_is_a_configuration_error(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "dingwire.toml"
    path.write_text("[robots.ops\nwebhook = 'typo'\n", encoding="utf-8")
    result = invoke("robots", "--config", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"dingwire: {path}: not valid TOML")
    assert "Traceback" not in result.output


def test_a_robot_with_a_typo_is_listed_with_every_reason(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "dingwire.toml"
    path.write_text(
        "[robots.ops]\nwebhok = 'typo'\nsecret = 5\n"
        f'[robots.ci]\nwebhook = "https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"\n',
        encoding="utf-8",
    )
    result = invoke("robots", "--config", str(path), secrets=[TOKEN])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[2:7] == [
        "ops  (no usable webhook)",
        f"     from {path} [robots.ops]",
        "     cannot be used: webhook is required: the robot's webhook URL, its access token "
        "or a dingtalk:// URL",
        "       unknown key 'webhok' (known: keywords, lockout, mention, org, proxy, "
        "rate_limit, secret, timeout, webhook)",
        "       secret: expected a string (the robot's SEC… secret), got an integer",
    ]
    assert lines[9] == "     org default, budget 20/60s: 20 free now"  # ci still is
    assert result.stderr == "dingwire: 1 robot cannot be used (see above)\n"


def test_a_robot_whose_variable_is_unset_is_listed_as_unusable(
    invoke: Invoke, config: Path
) -> None:
    # OPS_SECRET is not set: ops cannot be used, ci still can.
    result = invoke("robots", "--config", str(config), env={"OPS_TOKEN": TOKEN}, secrets=[TOKEN])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[2].startswith("ops  https://oapi.dingtalk.com/robot/send?access_token=…")
    assert lines[4] == "     cannot be used: secret: ${OPS_SECRET} is not set in the environment"
    assert lines[7] == "     org default, budget 20/60s: 20 free now"


def test_a_missing_config_file_is_a_usage_error(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("--config", str(tmp_path / "nope.toml"), "robots")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# -- budgets, lockouts and orgs, as the shared budget store sees them -------------------------


def _clock(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def _budget_config(tmp_path: Path, fake: FakeServer) -> tuple[Path, dict[str, RobotHandle]]:
    handles = {
        "ops": fake.add_robot(secret=True),
        "alerts": fake.add_robot(),
        "ci": fake.add_robot(),
        "lab": fake.add_robot(),
    }
    path = tmp_path / "dingwire.toml"
    path.write_text(
        "[robots.ops]\n"
        f'webhook = "{handles["ops"].webhook}"\n'
        f'secret = "{handles["ops"].secret}"\n'
        'org = "acme"\n'
        "[robots.alerts]\n"
        f'webhook = "{handles["alerts"].webhook}"\n'
        'org = "acme"\n'
        'rate_limit = "2/60s"\n'
        "[robots.ci]\n"
        f'webhook = "{handles["ci"].webhook}"\n'
        "[robots.lab]\n"
        f'webhook = "{handles["lab"].webhook}"\n'
        'org = "lab"\n'
        "[orgs.acme]\n"
        'quota = "3000/month"\n'
        "[orgs.lab]\n"
        'quota = "20/5m"\n',
        encoding="utf-8",
    )
    return path, handles


def test_budgets_lockouts_and_org_use(
    invoke: Invoke, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    path, handles = _budget_config(tmp_path, dingtalk_fake)
    secrets = [h.token for h in handles.values()] + [handles["ops"].secret]
    # Seed the machine's store (DINGWIRE_CACHE_DIR, shared with the command) by sending
    # through the library, as any other process on the machine would.
    ops = dingwire.Robot(handles["ops"].webhook, handles["ops"].secret, org="acme")
    alerts = dingwire.Robot(handles["alerts"].webhook, org="acme", rate_limit="2/60s")
    ci = dingwire.Robot(handles["ci"].webhook)
    for robot, count in ((ops, 3), (alerts, 2), (ci, 1)):
        for n in range(count):
            robot.send(dingwire.Text(f"message {n}"))
    spent_until = alerts.budget_state().until
    locked_until = time.time() + 600
    ci.budget_store.lock_out(robot_key(ci.webhook), locked_until)
    lab_before = quota_period(Quota(20, 300.0), time.time())[1]

    result = invoke("--config", str(path), "robots", secrets=secrets)

    lab_after = quota_period(Quota(20, 300.0), time.time())[1]
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[4] == "        org acme, budget 20/60s: 17 free now"
    assert lines[7] == f"        org acme, budget 2/60s: spent until {_clock(spent_until)}"
    assert (
        lines[10]
        == f"        org default, budget 20/60s: locked out by DingTalk until {_clock(locked_until)}"
    )
    assert lines[13] == "        org lab, budget 20/60s: 20 free now"
    month_end = quota_period(Quota(3000), time.time())[1]
    renews = datetime.fromtimestamp(month_end, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")
    assert lines[14] == "orgs (webhook calls counted by the budget store):"
    assert lines[15] == f"  acme: 5 of 3,000 this month (renews {renews})"
    assert lines[16] in {
        f"  lab: 0 of 20 this period (renews {_clock(end)})" for end in (lab_before, lab_after)
    }
    assert lines[17] == "  default: 1 this month"
    assert len(lines) == 18
    assert [len(h.delivered()) for h in handles.values()] == [3, 2, 1, 0]


def test_an_org_dingtalk_said_is_spent(
    invoke: Invoke, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    path, handles = _budget_config(tmp_path, dingtalk_fake)
    handles["alerts"].inject_fault(Fault.errcode_reply(90030, "webhook over limit"))
    alerts = dingwire.Robot(handles["alerts"].webhook, org="acme", quota="3000/month")
    with pytest.raises(dingwire.QuotaExceededError):
        alerts.send(dingwire.Text("over"))
    result = invoke("--config", str(path), "robots", secrets=[h.token for h in handles.values()])
    assert result.exit_code == 0, result.output
    month_end = quota_period(Quota(3000), time.time())[1]
    renews = datetime.fromtimestamp(month_end, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")
    lines = result.stdout.splitlines()
    for line in (lines[4], lines[7]):  # both robots of the org
        assert line.endswith(f"the org's quota is spent until {renews}"), line
    assert (
        f"  acme: 1 of 3,000 this month (renews {renews}); DingTalk says it is spent until {renews}"
        in lines
    )
    assert lines[10] == "        org default, budget 20/60s: 20 free now"


def test_a_robot_that_cannot_be_built_is_listed_with_the_reason(
    invoke: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "dingwire.toml"
    path.write_text(
        "[robots.ops]\n"
        f'webhook = "https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"\n'
        f'secret = "{SECRET}"\n'
        'rate_limit = "fast"\n'
        "[robots.ci]\n"
        f'webhook = "https://oapi.dingtalk.com/robot/send?access_token={TOKEN[::-1]}"\n',
        encoding="utf-8",
    )
    result = invoke("--config", str(path), "robots", secrets=[TOKEN, TOKEN[::-1], SECRET])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[4].startswith(
        "     cannot be used: rate_limit: 'fast' is not a rate; write it like"
    )
    assert lines[7] == "     org default, budget 20/60s: 20 free now"  # the listing went on
    assert result.stderr == "dingwire: 1 robot cannot be used (see above)\n"


def test_a_bad_budget_store_is_said_for_every_robot(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "dingwire.toml"
    path.write_text(
        "[robots.ops]\n"
        f'webhook = "https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"\n'
        f'secret = "{SECRET}"\n'
        "[robots.ci]\n"
        f'webhook = "dingtalk://{SECRET}@{TOKEN[::-1]}"\n'
        "[budget]\n"
        'store = "bogus://somewhere"\n',
        encoding="utf-8",
    )
    result = invoke("--config", str(path), "robots", secrets=[TOKEN, TOKEN[::-1], SECRET])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 7  # config file, then three lines per robot; no store, no orgs
    for line in (lines[3], lines[6]):
        assert line.startswith(
            "     cannot be used: budget store: 'bogus://somewhere' is not a store"
        )
    assert "secret=**********" in lines[1]
    assert result.stderr == "dingwire: 2 robots cannot be used (see above)\n"


def test_the_configs_budget_store_is_the_one_read(
    invoke: Invoke, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    handle = dingtalk_fake.add_robot()
    store = tmp_path / "shared" / "budget.sqlite3"
    path = tmp_path / "dingwire.toml"
    path.write_text(
        f'[robots.ops]\nwebhook = "{handle.webhook}"\n[budget]\nstore = "sqlite:///{store}"\n',
        encoding="utf-8",
    )
    dingwire.Robot(handle.webhook, budget_store=f"sqlite:///{store}").send(dingwire.Text("x"))
    result = invoke("--config", str(path), "robots", secrets=[handle.token])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == f"budget store: {store}"
    assert lines[4] == "     org default, budget 20/60s: 19 free now"
    assert lines[-1] == "  default: 1 this month"


def test_an_org_that_used_its_quota(
    invoke: Invoke, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    handle = dingtalk_fake.add_robot()
    path = tmp_path / "dingwire.toml"
    path.write_text(
        f'[robots.ops]\nwebhook = "{handle.webhook}"\norg = "acme"\n'
        '[orgs.acme]\nquota = "2/month"\ntimezone = "Europe/Berlin"\n',
        encoding="utf-8",
    )
    ops = dingwire.Robot(handle.webhook, org="acme", quota=Quota(2, timezone="Europe/Berlin"))
    for text in ("one", "two"):
        ops.send(dingwire.Text(text))
    result = invoke("--config", str(path), "robots", secrets=[handle.token])
    assert result.exit_code == 0, result.output
    end = quota_period(Quota(2, timezone="Europe/Berlin"), time.time())[1]
    renews = datetime.fromtimestamp(end, ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d")
    lines = result.stdout.splitlines()
    assert lines[4] == f"     org acme, budget 20/60s: the org's quota is spent until {renews}"
    assert lines[-1] == f"  acme: 2 of 2 this month, spent (renews {renews})"
