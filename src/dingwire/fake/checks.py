"""DingTalk's checks, in DingTalk's order: a request meets them one by one, the first that
fails answers (API.md §4, §5, §9; the order is the fake's best reading, see docs/fake.md).

Each row names what is checked, the errcodes it refuses with, and its rule (a small function
of :mod:`dingwire.fake.rules`). docs/fake.md shows :data:`SEND_CHECKS` as its table of checks;
a test keeps the two the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dingwire.fake import rules
from dingwire.fake.rules import Context, Refusal

__all__ = ["SEND_CHECKS", "SESSION_CHECKS", "Check", "first_refusal"]


@dataclass(frozen=True, slots=True)
class Check:
    """One row of a table of checks."""

    what: str
    errcodes: tuple[int, ...]
    rule: Callable[[Context], Refusal | None]


#: ``POST /robot/send?access_token=…[&timestamp=…&sign=…]``.
SEND_CHECKS: tuple[Check, ...] = (
    Check("method is POST", (43002,), rules.method_is_post),
    Check("access_token present", (40035,), rules.access_token_present),
    Check("token known (when robots are configured)", (300005,), rules.token_known),
    Check("the robot's organisation has quota left", (90030,), rules.quota_left),
    Check("robot not disabled", (400102,), rules.robot_enabled),
    Check("Content-Type: application/json", (43004,), rules.content_type_is_json),
    Check("body ≤ 20,000 bytes", (460101,), rules.body_within_size),
    Check("body is a JSON object, UTF-8", (40035,), rules.body_is_a_json_object),
    Check("client IP on the allow-list", (310000,), rules.ip_allowed),
    Check("timestamp and sign present (a robot with a secret)", (310000,), rules.signed),
    Check("timestamp within ±1 hour", (310000,), rules.timestamp_fresh),
    Check("sign matches", (310000,), rules.sign_matches),
    Check("a keyword in the message's text", (310000,), rules.keyword_present),
    Check("rate limit, then the lockout", (130101, 410100), rules.within_rate_limit),
    Check("a known msgtype, required fields", (400105, 400202, 400402), rules.message_valid),
)

#: ``POST /robot/sendBySession?session=…``: no token, no signature, no budget.
SESSION_CHECKS: tuple[Check, ...] = (
    Check("method is POST", (43002,), rules.method_is_post),
    Check("session open", (300001,), rules.session_known),
    Check("Content-Type: application/json", (43004,), rules.content_type_is_json),
    Check("body ≤ 20,000 bytes", (460101,), rules.body_within_size),
    Check("body is a JSON object, UTF-8", (40035,), rules.body_is_a_json_object),
    Check("a known msgtype, required fields", (400105, 400202, 400402), rules.message_valid),
)


def first_refusal(checks: tuple[Check, ...], ctx: Context) -> Refusal | None:
    """The answer of the first check ``ctx`` fails, or ``None`` when it passes them all."""
    for check in checks:
        refusal = check.rule(ctx)
        if refusal is not None:
            return refusal
    return None
