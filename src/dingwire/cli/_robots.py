"""``dingwire robots``: the robots a command could send through, where each came from, and
what their budgets say now.

Rules kept here:

- Every webhook is shown masked (the token keeps its last four characters, so robots can
  be told apart) and a secret only as ``**********``; the listing reads the same config
  file, with the same ``${VAR}`` expansion, that ``--robot NAME`` reads.
- Budgets are shown as the shared budget store sees them (the store every ``dingwire``
  process of this machine sends through, or the config's ``[budget] store``), read without
  recording anything: each robot's minute budget, any DingTalk lockout, its org; then each
  org's count of webhook calls this period against its quota.
- A robot that cannot be used (a key of the wrong type, an unset ``${VAR}``, a bad rate, a
  bad budget store URL, its org's table) is listed with every reason, and the others still
  are; the command then exits 2. Only a file that cannot be read at all stops the listing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from dingwire.cli._app import EXIT_USAGE, Invocation

if TYPE_CHECKING:
    from dingwire.budget import BudgetStore
    from dingwire.config import Config
    from dingwire.core.budget import Quota
    from dingwire.transport.robots import Robot

__all__ = ["robots"]


def _clock(moment: float, now: float) -> str:
    """``14:02:31`` in this machine's time, with the date when it is not within a day."""
    shown = "%H:%M:%S" if abs(moment - now) < 86_400 else "%Y-%m-%d %H:%M:%S"
    return time.strftime(shown, time.localtime(moment))


def _renewal(quota: Quota | None, moment: float, now: float) -> str:
    """When a quota period ends: the date of a month (in the org's zone), else the time."""
    from dingwire.core.budget import MONTH

    if quota is None or quota.period == MONTH:
        from datetime import datetime
        from zoneinfo import ZoneInfo

        zone = quota.timezone if quota is not None else "Asia/Shanghai"
        return datetime.fromtimestamp(moment, ZoneInfo(zone)).strftime("%Y-%m-%d")
    return _clock(moment, now)


def _budget_line(robot: Robot, now: float) -> str:
    """``org acme, budget 20/60s: 17 free now`` (or spent until, or locked out until)."""
    verdict = robot.budget_state(now)
    org = f"org {robot.budget.org}"
    if robot.rate is None:
        budget = "no minute budget (rate_limit off)"
        free = ""
    else:
        budget = f"budget {robot.rate}"
        free = f"{verdict.free} free now"
    if verdict.reason == "budget":
        state = f"spent until {_clock(verdict.until, now)}"
    elif verdict.reason == "lockout":
        state = f"locked out by DingTalk until {_clock(verdict.until, now)}"
    elif verdict.reason == "quota":
        quota = robot.budget.quota
        state = f"the org's quota is spent until {_renewal(quota, verdict.until, now)}"
    else:
        state = free
    return f"{org}, {budget}: {state}" if state else f"{org}, {budget}"


@dataclass
class _Org:
    name: str
    quota: Quota | None


def _org_line(org: _Org, store: BudgetStore, now: float) -> str:
    """``acme: 2,341 of 3,000 this month (renews 2027-01-01)``, or ``default: 12 this month``."""
    from dingwire.core.budget import MONTH, Budget

    budget = Budget(None, org.name, org.quota)
    used = store.usage(budget, now)
    # A key no robot has: what the org alone says (its count, and any "spent" DingTalk said).
    verdict = store.peek("", budget, now)
    _, renews = budget.period(now)
    quota = org.quota
    period = "this month" if quota is None or quota.period == MONTH else "this period"
    if quota is None:
        line = f"{org.name}: {used:,} {period}"
    else:
        spent = ", spent" if used >= quota.limit else ""
        line = (
            f"{org.name}: {used:,} of {quota.limit:,} {period}{spent} "
            f"(renews {_renewal(quota, renews, now)})"
        )
    if verdict.reason == "quota" and (quota is None or used < quota.limit):
        # DingTalk answered 90030 before the count here reached the quota.
        line += f"; DingTalk says it is spent until {_renewal(quota, verdict.until, now)}"
    return line


def _store_line(store: BudgetStore) -> str:
    from dingwire.budget import LocalBudgetStore, MemoryBudgetStore, RedisBudgetStore

    if isinstance(store, LocalBudgetStore):
        return f"budget store: {store.path}"
    if isinstance(store, RedisBudgetStore):
        return f"budget store: Redis at {store.where} (on_store_error = {store.on_error!r})"
    if isinstance(store, MemoryBudgetStore):
        return "budget store: memory:// (each process has its own: nothing to show here)"
    return f"budget store: {type(store).__name__}"


@click.command()
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    help="The config file to read (overrides dingwire --config).",
)
@click.pass_obj
def robots(invocation: Invocation, config_file: str | None) -> int:
    """List the robots (secrets masked), their budgets and orgs.

    Robots come from the config file ([robots.NAME] tables) and from DINGWIRE_WEBHOOK /
    DINGWIRE_SECRET (listed as "default"). Budgets are as this machine's budget store sees
    them now: free slots of the minute budget, a DingTalk lockout, each org's webhook calls
    this month against its quota. A robot that cannot be used is listed with the reason,
    and the command exits 2.

    \b
    Examples:
      dingwire robots
      dingwire --config ./ci/dingwire.toml robots
    """
    from dingwire.config import CONFIG_LOOKUP, load_config, webhook_secrets

    config = load_config(config_file or invocation.config_file)
    for robot in config.robots.values():
        # describe() masks; remembering them too keeps any other path from showing them.
        invocation.remember(robot.settings.get("secret"))
        for url in (robot.settings.get("webhook"), robot.settings.get("proxy")):
            invocation.remember(*webhook_secrets(url))
    where = str(config.path) if config.path else f"none found ({CONFIG_LOOKUP})"
    click.echo(f"config file: {where}")
    if not config.robots:
        click.echo("no robots configured: add a [robots.NAME] table with a webhook, or set")
        click.echo("DINGWIRE_WEBHOOK (and DINGWIRE_SECRET)")
        return 0
    return _list(config, invocation)


def _build(config: Config, name: str, store: BudgetStore | None) -> Robot | list[str]:
    """The robot called ``name``, reading the budget through ``store``; or why it cannot be."""
    from dingwire.core.errors import DingwireError
    from dingwire.transport.robots import Robot

    entry = config.robots[name]
    if entry.problems:
        return list(entry.problems)  # the robot's own: its source is the line above
    try:
        problem = config.problem(name)  # its org's table, the [budget] table
        if problem is not None:
            raise problem
        settings = config.robot(name)
        if store is not None:
            settings["budget_store"] = store
        return Robot(**settings)
    except DingwireError as error:
        return [error.message, *getattr(error, "__notes__", [])]


def _list(config: Config, invocation: Invocation) -> int:
    from dingwire.budget import open_store
    from dingwire.core.errors import DingwireError

    store: BudgetStore | None
    try:
        store = open_store(
            config.budget_store or "local", on_store_error=config.budget_on_store_error
        )
    except DingwireError:
        store = None  # every robot says why below
    else:
        click.echo(_store_line(store))
    now = time.time()
    orgs = {name: _Org(name, org.quota) for name, org in config.orgs.items() if not org.error}
    broken = 0
    width = max(len(name) for name in config.robots)
    for name, entry in config.robots.items():
        click.echo(f"{name:<{width}}  {invocation.mask_secrets(entry.describe())}")
        click.echo(f"{'':<{width}}  from {entry.source}")
        robot = _build(config, name, store)
        if isinstance(robot, list):
            broken += 1
            first, *others = (invocation.scrub(reason) for reason in robot)
            click.echo(f"{'':<{width}}  cannot be used: {first}")
            for other in others:
                click.echo(f"{'':<{width}}    {other}")
            continue
        orgs.setdefault(robot.budget.org, _Org(robot.budget.org, robot.budget.quota))
        click.echo(f"{'':<{width}}  {_budget_line(robot, now)}")
    if store is not None and orgs:
        click.echo("orgs (webhook calls counted by the budget store):")
        for org in orgs.values():
            click.echo(f"  {_org_line(org, store, now)}")
    if broken:
        some = "1 robot" if broken == 1 else f"{broken} robots"
        click.echo(f"dingwire: {some} cannot be used (see above)", err=True)
        return EXIT_USAGE
    return 0
