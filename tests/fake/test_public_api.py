"""``dingwire.fake`` publishes what its ``__all__`` says, and every name resolves."""

from __future__ import annotations

import pytest

import dingwire.fake


def test_all_is_what_we_publish() -> None:
    assert sorted(dingwire.fake.__all__) == sorted(
        [
            "DEFAULT_PORT",
            "AsyncInProcessTransport",
            "FakeApp",
            "FakeControls",
            "FakeDingTalk",
            "FakeOrg",
            "FakeRobot",
            "FakeServer",
            "FakeSettings",
            "Fault",
            "InProcessFake",
            "InProcessTransport",
            "Incoming",
            "OrgHandle",
            "Outcome",
            "Record",
            "RobotHandle",
            "Session",
            "create_app",
            "load_fake_config",
            "parse_fake_config",
            "serve",
        ]
    )
    for name in dingwire.fake.__all__:
        assert getattr(dingwire.fake, name) is not None, name


def test_lazy_names_come_from_their_modules() -> None:
    from dingwire.fake.server import DEFAULT_PORT, FakeServer, serve

    assert dingwire.fake.FakeServer is FakeServer
    assert dingwire.fake.serve is serve
    assert DEFAULT_PORT == 8765
    with pytest.raises(AttributeError, match="NoSuchName"):
        _ = dingwire.fake.NoSuchName  # type: ignore[attr-defined]
