"""Fixtures of the end-to-end tests: factories that start the fake, the relay and Alertmanager
as real processes in the test's temporary directory, and stop them after the test (their
logs are printed when it failed)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.relay.e2e.harness import (
    AlertmanagerProcess,
    FakeProcess,
    FakeRobot,
    Process,
    RelayProcess,
    RelayRobot,
)

FakeFactory = Callable[..., FakeProcess]
RelayFactory = Callable[..., RelayProcess]
AlertmanagerFactory = Callable[..., AlertmanagerProcess]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def _processes(request: pytest.FixtureRequest) -> Generator[list[Process], None, None]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()
    if request.node.stash.get(_FAILED, False):
        for process in started:
            print(process.output())


@pytest.fixture
def start_fake(tmp_path: Path, _processes: list[Process]) -> FakeFactory:
    """``start_fake(robots, orgs={"acme": "20/60s"})``: the fake DingTalk in its own process."""

    def start(robots: Iterable[FakeRobot], orgs: Mapping[str, str] | None = None) -> FakeProcess:
        fake = FakeProcess(tmp_path, robots, orgs)
        _processes.append(fake.process)
        return fake.start()

    return start


@pytest.fixture
def start_relay(tmp_path: Path, _processes: list[Process]) -> RelayFactory:
    """``start_relay(fake, robots, orgs=..., relay={...})``: ``dingwire serve`` on a free port,
    its outbox and budget store in the test's directory (or ``workdir``), unless
    ``relay={"queue": ...}`` and ``budget_store=...`` name others (one Redis for several)."""

    def start(
        fake: FakeProcess,
        robots: Iterable[RelayRobot],
        *,
        orgs: Mapping[str, str] | None = None,
        relay: Mapping[str, Any] | None = None,
        name: str = "relay",
        workdir: Path | None = None,
        budget_store: str | None = None,
        budget: Mapping[str, Any] | None = None,
    ) -> RelayProcess:
        home = workdir or tmp_path
        home.mkdir(parents=True, exist_ok=True)
        process = RelayProcess(
            home,
            fake,
            robots,
            orgs=orgs,
            relay=relay,
            name=name,
            budget_store=budget_store,
            budget=budget,
        )
        _processes.append(process.process)
        return process.start()

    return start


@pytest.fixture
def start_alertmanager(tmp_path: Path, _processes: list[Process]) -> AlertmanagerFactory:
    """``start_alertmanager(webhook)``: a real Alertmanager posting every group to ``webhook``."""

    def start(webhook: str, **options: Any) -> AlertmanagerProcess:
        manager = AlertmanagerProcess(tmp_path, webhook, **options)
        _processes.append(manager.process)
        return manager.start()

    return start
