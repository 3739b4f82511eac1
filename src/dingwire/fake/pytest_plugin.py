"""pytest plugin (registered as the ``pytest11`` entry point ``dingwire``): a fake DingTalk
for your tests.

::

    import dingwire

    def test_alert_reaches_the_group(dingtalk_fake):
        ops = dingtalk_fake.add_robot(secret=True, keywords=["告警"])
        dingwire.Robot(ops.webhook, ops.secret).send(dingwire.Text("告警: disk full"))
        assert ops.delivered()[-1].text == "告警: disk full"

Fixtures:

- ``dingtalk_fake``: a :class:`~dingwire.fake.server.FakeServer` on a real port of
  127.0.0.1, for code that takes a webhook URL (any HTTP client, another process). One
  server per test session (per worker under xdist), reset before each test: no robots
  (every token accepted), no messages, no faults.
- ``dingtalk_fake_inprocess``: an :class:`~dingwire.fake.inprocess.InProcessFake`, new for
  each test: the same controls, no socket, clients wired through in-process transports.

Rules kept here: importing this module imports nothing but pytest (it is loaded into every
test run of every project that installs dingwire, the ``fake`` extra or not); the server
starts only when a test asks for it; without the extra, only the tests that use
``dingtalk_fake`` fail, each with one line saying what to install
(``dingtalk_fake_inprocess`` needs no extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dingwire.fake.inprocess import InProcessFake
    from dingwire.fake.server import FakeServer

__all__ = ["dingtalk_fake", "dingtalk_fake_inprocess"]


@pytest.fixture(scope="session")
def _dingtalk_fake_server() -> Iterator[FakeServer]:
    from dingwire.fake._extra import MissingExtraError

    try:
        from dingwire.fake.server import FakeServer
    except MissingExtraError as error:
        missing = str(error)
    else:
        missing = ""
    if missing:  # failed outside the except: the one line, without a chained error
        pytest.fail(
            f"dingtalk_fake: {missing} (dingtalk_fake_inprocess needs no extra)", pytrace=False
        )
    with FakeServer() as server:
        yield server


@pytest.fixture
def dingtalk_fake(_dingtalk_fake_server: FakeServer) -> FakeServer:
    """A fake DingTalk on a real port: ``add_robot(...)``, ``.webhook``, ``messages()``.

    Starts with no robots (every token accepted), no messages and no faults.
    """
    _dingtalk_fake_server.reset()
    return _dingtalk_fake_server


@pytest.fixture
def dingtalk_fake_inprocess() -> InProcessFake:
    """A fake DingTalk without a socket: the controls of ``dingtalk_fake``; use the
    clients it makes (``add_robot(...).client()``), which talk to it in-process."""
    from dingwire.fake.inprocess import InProcessFake

    return InProcessFake()
