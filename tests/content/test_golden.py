"""Golden files: a realistic report, before and after.

``golden/report.md`` is the kind of markdown people send (tables, code, links, Chinese);
``report.dingtalk.md`` is what :func:`to_dingtalk_markdown` makes of it, and
``report.parts.json`` the bodies :func:`split` sends for it at a 1,200-byte limit. Read
the ``.dingtalk.md`` file when changing the normaliser: it is the output users get.

To regenerate after an intended change, run::

    DINGWIRE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/content/test_golden.py

and review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dingwire.content import split, to_dingtalk_markdown
from dingwire.core.messages import At, Markdown, to_payload
from dingwire.core.protocol import encode_body

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("DINGWIRE_UPDATE_GOLDEN") == "1"
LIMIT = 1_200


def _check(name: str, produced: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(produced, encoding="utf-8")
    assert produced == path.read_text(encoding="utf-8"), f"{name} changed: see this module"


def _source() -> str:
    return (GOLDEN / "report.md").read_text(encoding="utf-8")


def test_the_report_normalised() -> None:
    _check("report.dingtalk.md", to_dingtalk_markdown(_source()) + "\n")


def test_the_report_split() -> None:
    message = Markdown(
        "夜间构建报告 Nightly build",
        to_dingtalk_markdown(_source()),
        at=At(mobiles=["13800000000"]),
    )
    parts = split(message, limit=LIMIT)
    bodies = [json.loads(encode_body(to_payload(p))) for p in parts]
    assert all(len(encode_body(to_payload(p))) <= LIMIT for p in parts)
    _check("report.parts.json", json.dumps(bodies, ensure_ascii=False, indent=2) + "\n")
