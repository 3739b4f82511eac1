"""Mistakes mypy --strict must catch: each line marked with its error code, and no other.

This proves that the check of ``user_code.py`` can fail (``test_typing.py``); never run.
"""

from __future__ import annotations

import dingwire


def mistakes(robot: dingwire.Robot) -> None:
    dingwire.At(mobiles=[13800000000])  # E: list-item
    dingwire.At(all="yes")  # E: arg-type
    dingwire.Text(5)  # E: arg-type
    dingwire.ActionCard("t", "x")  # E: call-arg
    dingwire.ActionCard("t", "x", buttons=["Ack"])  # E: list-item
    dingwire.ActionCard("t", "x", buttons=[], orientation="diagonal")  # E: arg-type
    dingwire.FeedCard([dingwire.Button("a", "https://a/")])  # E: list-item
    robot.send("hello")  # E: arg-type
    robot.send(dingwire.Text("x"), split="yes")  # E: arg-type
    robot.send(dingwire.Text("x")).errcode.upper()  # E: attr-defined
