"""Processes and event loops: no connection crosses fork(), no session outlives its loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from dingwire import AsyncRobot, MemoryBudgetStore, Robot, Text
from tests.transport.endpoint import Endpoint

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")


def peers(endpoint: Endpoint) -> dict[str, tuple[str, int]]:
    """The client address (one per TCP connection) of each message, by its text."""
    return {s.json()["text"]["content"]: s.peer for s in endpoint.seen}


def in_a_child(work: Callable[[], None]) -> str:
    """Run ``work`` in a forked child; what it reported ("ok" or its error)."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # the child: report, and leave without running the parent's cleanup
        try:
            work()
            os.write(write, b"ok")
        except BaseException as error:
            os.write(write, repr(error).encode()[:500])
        finally:
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 30
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            pytest.fail("the child does not end (a lock or a connection of the parent's?)")
        time.sleep(0.01)
    with os.fdopen(read, "rb") as pipe:
        return pipe.read().decode()


@needs_fork
def test_after_fork_the_child_sends_on_its_own_connection(endpoint: Endpoint) -> None:
    robot = Robot(endpoint.webhook(), rate_limit=None, budget_store=MemoryBudgetStore())
    robot.send(Text("parent 1"))  # a connection is kept open now
    assert in_a_child(lambda: robot.send(Text("child")) and None) == "ok"
    robot.send(Text("parent 2"))
    seen = peers(endpoint)
    assert seen["child"] != seen["parent 1"]
    assert seen["parent 2"] == seen["parent 1"]  # the parent's connection, as it was
    robot.close()


@needs_fork
def test_a_fork_while_another_thread_sends_does_not_hang_the_child(endpoint: Endpoint) -> None:
    robot = Robot(endpoint.webhook(), rate_limit=None, budget_store=MemoryBudgetStore())
    robot.send(Text("parent"))
    pool = robot._client()._pool  # type: ignore[attr-defined]
    with pool.lock:  # as a thread in the middle of a send holds it at the fork
        told = in_a_child(lambda: robot.send(Text("child")) and None)
    assert told == "ok"
    assert set(peers(endpoint)) == {"parent", "child"}
    robot.close()


@needs_fork
def test_after_fork_an_async_robot_leaves_the_parents_session_alone(endpoint: Endpoint) -> None:
    robot = AsyncRobot(endpoint.webhook(), rate_limit=None, budget_store=MemoryBudgetStore())

    def child() -> None:
        # A child runs its own event loop (here in a thread: this one is inside the parent's).
        failures: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(robot.send(Text("child")))
            except BaseException as error:
                failures.append(error)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(20)
        if failures:
            raise failures[0]

    async def main() -> str:
        await robot.send(Text("parent 1"))  # the session and a connection are open
        told = in_a_child(child)
        await robot.send(Text("parent 2"))
        await robot.aclose()
        return told

    assert asyncio.run(main()) == "ok"
    seen = peers(endpoint)
    assert seen["child"] != seen["parent 1"]
    assert seen["parent 2"] == seen["parent 1"]


@contextmanager
def nothing_left_open(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No ResourceWarning and no "Unclosed ..." report, once the garbage is collected."""
    caplog.set_level(logging.ERROR, logger="asyncio")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield
        gc.collect()
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []
    assert [r.getMessage() for r in caplog.records if "nclosed" in r.getMessage()] == []


def test_one_async_robot_serves_two_asyncio_runs(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    def scenario() -> None:  # the robot is garbage once it returns
        robot = AsyncRobot(endpoint.webhook(), rate_limit=None)
        assert asyncio.run(robot.send(Text("first"))).errcode == 0
        assert asyncio.run(robot.send(Text("second"))).errcode == 0

        async def closed_at_the_end() -> None:
            async with robot:
                await robot.send(Text("third"))

        asyncio.run(closed_at_the_end())

    with nothing_left_open(caplog):
        scenario()
    assert sorted(peers(endpoint)) == ["first", "second", "third"]


def test_a_robot_never_closed_leaves_no_session_open(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    with nothing_left_open(caplog):
        asyncio.run(AsyncRobot(endpoint.webhook(), rate_limit=None).send(Text("fire and forget")))
    assert list(peers(endpoint)) == ["fire and forget"]


def test_one_async_robot_in_two_threads_loops_at_once(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    def scenario() -> None:
        robot = AsyncRobot(endpoint.webhook(), rate_limit=None)
        started = threading.Barrier(2, timeout=20)
        failures: list[BaseException] = []

        def run(name: str) -> None:
            async def main() -> None:
                await robot.send(Text(f"{name} 1"))
                await asyncio.to_thread(started.wait)  # both loops have their session now
                await robot.send(Text(f"{name} 2"))

            try:
                asyncio.run(main())
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert failures == []

    with nothing_left_open(caplog):
        scenario()
    assert sorted(peers(endpoint)) == ["a 1", "a 2", "b 1", "b 2"]


def test_an_async_robot_sends_again_after_aclose(endpoint: Endpoint) -> None:
    async def main() -> None:
        robot = AsyncRobot(endpoint.webhook(), rate_limit=None)
        await robot.send(Text("before"))
        await robot.aclose()
        await robot.send(Text("after"))
        await robot.aclose()

    asyncio.run(main())
    seen = peers(endpoint)
    assert seen["before"] != seen["after"]
