"""A notification stored as received and rendered when it is sent: the same message."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from dingwire.relay.alerts import PayloadError
from dingwire.relay.model import Outgoing
from dingwire.relay.outbox._common import decode_message, encode_message
from dingwire.relay.render import Renderer

from .conftest import NOW, MakeRenderer, sample

RAW = json.dumps(sample("alertmanager/firing-two-alerts"))
SAMPLES = [
    ("alertmanager", "alertmanager/firing-two-alerts"),
    ("alertmanager", "alertmanager/resolved-one-alert"),
    ("grafana", "grafana/firing-and-resolved"),
]


def _both(renderer: Renderer, source: str, name: str) -> tuple[Outgoing, Outgoing]:
    robot = "pager"  # the robot with a mention: the mention is rendered too
    render = renderer.grafana if source == "grafana" else renderer.alertmanager
    return render(robot, sample(name), now=NOW), render(
        robot, sample(name), now=NOW, raw=json.dumps(sample(name))
    )


@pytest.mark.parametrize(("source", "name"), SAMPLES)
def test_a_deferred_notification_keeps_its_payload_rank_and_key(
    renderer: Renderer, source: str, name: str
) -> None:
    full, deferred = _both(renderer, source, name)
    assert not deferred.rendered
    assert full.rendered
    assert deferred.payload is not None
    assert json.loads(deferred.payload) == sample(name)
    assert (deferred.body, deferred.lines) == ({}, ())
    assert deferred.kind == "markdown"
    assert deferred.priority == full.priority
    assert deferred.dedupe_key == full.dedupe_key is not None
    assert (deferred.robot, deferred.source, deferred.received) == ("pager", source, NOW)


@pytest.mark.parametrize(("source", "name"), SAMPLES)
def test_completed_later_it_is_the_message_intake_would_have_rendered(
    renderer: Renderer, source: str, name: str
) -> None:
    full, deferred = _both(renderer, source, name)
    # stored and read back, as the outbox does, then rendered
    stored = decode_message(encode_message(deferred))
    assert stored == deferred
    assert renderer.complete(stored) == full
    assert renderer.complete(full) is full  # a rendered message is left alone


def test_it_keeps_the_rank_and_key_it_was_stored_with(make_renderer: MakeRenderer) -> None:
    renderer = make_renderer()
    deferred = renderer.alertmanager(
        "ops", sample("alertmanager/firing-two-alerts"), now=NOW, raw=RAW
    )
    moved = replace(deferred, priority=7, dedupe_key="k" * 64)
    done = renderer.complete(moved)
    assert (done.priority, done.dedupe_key) == (7, "k" * 64)
    assert done.payload is None
    assert done.body["msgtype"] == "markdown"


def test_a_reloaded_template_renders_what_is_still_queued(make_renderer: MakeRenderer) -> None:
    before = make_renderer()
    deferred = before.alertmanager(
        "ops", sample("alertmanager/firing-two-alerts"), now=NOW, raw=RAW
    )
    template = '{% set title = "new: " ~ group_name %}NEW BODY {{ alerts|length }}\n'
    after = make_renderer('[relay]\ntemplate = "t.md.j2"\n', files={"t.md.j2": template})
    done = after.complete(deferred)
    assert done.body["markdown"]["title"] == "new: DiskFull"
    assert done.body["markdown"]["text"].startswith("NEW BODY 2")


def test_a_payload_this_version_cannot_read_says_why(renderer: Renderer) -> None:
    deferred = renderer.alertmanager(
        "ops", sample("alertmanager/firing-two-alerts"), now=NOW, raw=RAW
    )
    broken = replace(deferred, payload='{"alerts": "not a list"}')
    with pytest.raises(PayloadError, match="alerts"):
        renderer.complete(broken)


def test_a_bad_payload_is_refused_at_intake_even_deferred(renderer: Renderer) -> None:
    with pytest.raises(PayloadError, match="alerts"):
        renderer.alertmanager("ops", {"alerts": 3}, now=NOW, raw='{"alerts": 3}')
    text = '{"alerts": [{"labels": 1}]}'
    with pytest.raises(PayloadError):
        renderer.grafana("ops", json.loads(text), now=NOW, raw=text)


def test_a_stored_payload_that_is_not_json_says_so(renderer: Renderer) -> None:
    deferred = renderer.alertmanager(
        "ops", sample("alertmanager/firing-two-alerts"), now=NOW, raw=RAW
    )
    with pytest.raises(PayloadError, match="not JSON"):
        renderer.complete(replace(deferred, payload="{not json"))
