"""``notify`` and ``report_failures``: one line of Python to tell a group, against the fake."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest

from dingwire.core.errors import ConfigError
from dingwire.fake import FakeServer, Fault, InProcessFake
from dingwire.integrations.notify import notify, report_failures


@pytest.fixture
def fake() -> InProcessFake:
    return InProcessFake()


def test_notify_sends_text_through_the_default_robot_of_the_environment(
    dingtalk_fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = dingtalk_fake.add_robot(secret=True)
    monkeypatch.setenv("DINGWIRE_WEBHOOK", ops.webhook)
    monkeypatch.setenv("DINGWIRE_SECRET", ops.secret or "")
    assert notify("backup finished").errcode == 0
    [record] = ops.delivered()
    assert record.msgtype == "text"
    assert record.text == "backup finished"


def test_notify_with_a_title_sends_markdown_through_a_named_robot(
    dingtalk_fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = dingtalk_fake.add_robot(keywords=["告警"])
    config = tmp_path / "dingwire.toml"
    config.write_text(f'[robots.ops]\nwebhook = "{ops.webhook}"\nkeywords = ["告警"]\n')
    monkeypatch.setenv("DINGWIRE_CONFIG", str(config))
    notify("**3** files failed", title="backup", robot="ops")
    [record] = ops.delivered()
    assert record.msgtype == "markdown"
    assert record.title == "backup"
    assert "**3** files failed" in (record.text or "")


def test_notify_takes_a_robot_and_splits_what_is_too_long(fake: InProcessFake) -> None:
    ops = fake.add_robot(rate_limit=None)
    notify("行" * 12_000, robot=ops.client(rate_limit=None))  # 36 KB: two parts
    assert len(ops.delivered()) == 2


def test_notify_without_a_robot_says_how_to_give_one() -> None:
    with pytest.raises(ConfigError, match="DINGWIRE_WEBHOOK"):
        notify("nobody hears this")


# -- report_failures ------------------------------------------------------------------------


def _report_of(fake: InProcessFake) -> str:
    [record] = fake.delivered()
    assert record.msgtype == "markdown"
    return record.text or ""


def test_the_context_manager_reports_the_exception_and_reraises_it(fake: InProcessFake) -> None:
    ops = fake.add_robot()
    with (
        pytest.raises(ValueError, match="bad row 7") as caught,
        report_failures(ops.client(), title="nightly import"),
    ):
        raise ValueError("bad row 7 <b>*x*</b>")
    assert not getattr(caught.value, "__notes__", [])  # reported: nothing to add
    text = _report_of(fake)
    [record] = ops.delivered()
    assert (record.title or "").startswith("nightly import: ValueError: bad row 7")
    assert "#### ❌ nightly import" in text
    assert "**Error:** ValueError: bad row 7 &lt;b>\\*x\\*&lt;/b>" in text
    assert "> Traceback (most recent call last):" in text
    assert "**Host:**" in text
    assert "PID" in text


def test_nothing_is_sent_when_nothing_fails(fake: InProcessFake) -> None:
    ops = fake.add_robot()
    with report_failures(ops.client()):
        pass
    assert fake.messages() == []


def test_the_decorator_reports_a_sync_function(fake: InProcessFake) -> None:
    ops = fake.add_robot()

    @report_failures(ops.client(), title="job")
    def job(n: int) -> int:
        if n < 0:
            raise KeyError(n)
        return n * 2

    assert job.__name__ == "job"
    assert job(2) == 4
    assert fake.messages() == []
    with pytest.raises(KeyError):
        job(-1)
    assert "KeyError: -1" in _report_of(fake)


def test_the_decorator_reports_an_async_function_and_async_with(fake: InProcessFake) -> None:
    ops = fake.add_robot()

    @report_failures(ops.client(), title="sync accounts")
    async def sync_accounts() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("upstream down")

    assert inspect.iscoroutinefunction(sync_accounts)
    with pytest.raises(RuntimeError, match="upstream down"):
        asyncio.run(sync_accounts())
    assert "RuntimeError: upstream down" in _report_of(fake)

    async def inline() -> None:
        async with report_failures(ops.client(), title="inline"):
            raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        asyncio.run(inline())
    assert "OSError: disk gone" in (ops.delivered()[-1].text or "")


def test_a_report_that_cannot_be_sent_never_hides_the_failure(fake: InProcessFake) -> None:
    ops = fake.add_robot()
    ops.inject_fault(Fault.errcode_reply(310000))
    with pytest.raises(ZeroDivisionError) as caught, report_failures(ops.client()):
        _ = 1 / 0
    notes = getattr(caught.value, "__notes__", [])
    assert any("the failure report could not be sent" in note for note in notes)


def test_a_missing_robot_is_noticed_at_the_failure_not_at_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @report_failures()  # no robot configured anywhere: decorating is fine
    def job() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom") as caught:
        job()
    assert any("ConfigError" in note for note in getattr(caught.value, "__notes__", []))


def test_keyboard_interrupt_and_exit_pass_through_unreported(fake: InProcessFake) -> None:
    ops = fake.add_robot()
    with pytest.raises(KeyboardInterrupt), report_failures(ops.client()):
        raise KeyboardInterrupt
    with pytest.raises(SystemExit), report_failures(ops.client()):
        raise SystemExit(3)
    assert fake.messages() == []


def test_a_huge_traceback_is_trimmed_into_one_message(fake: InProcessFake) -> None:
    ops = fake.add_robot()

    def deep(n: int) -> None:
        if n == 0:
            raise ValueError("错" * 9000)
        deep(n - 1)

    with pytest.raises(ValueError, match="错"), report_failures(ops.client(), title="deep"):
        deep(200)
    [record] = ops.delivered()
    assert record.size <= 20_000
    assert "ValueError" in (record.text or "")
