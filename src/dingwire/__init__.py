"""dingwire: get messages into DingTalk groups through custom robots, reliably.

>>> import dingwire
>>> robot = dingwire.Robot("https://oapi.dingtalk.com/robot/send?access_token=…", "SEC…")
>>> robot.send(dingwire.Text("disk full @13800000000",
...                          at=dingwire.At(mobiles=["13800000000"])))  # doctest: +SKIP

Importing dingwire imports no HTTP library: http.client loads when a robot first sends, and
aiohttp when an async robot does.

Each module logs to its own logger (``dingwire.transport.base``, ``dingwire.fake.app``, …)
under ``dingwire``, which has a ``NullHandler``: an application that configured no logging
sees nothing from dingwire, one that did (``logging.basicConfig()``) sees the waits and
retries under those names.
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dingwire.budget import (
        BudgetStore,
        LocalBudgetStore,
        MemoryBudgetStore,
    )
    from dingwire.content import (
        LintIssue,
        escape_markdown,
        lint_markdown,
        split,
        to_dingtalk_markdown,
    )
    from dingwire.core.budget import (
        Quota,
    )
    from dingwire.core.errors import (
        ApiError,
        BadResponseError,
        BodyTooLargeError,
        BudgetStoreError,
        ConfigError,
        ConnectError,
        ConnectionLostError,
        ContentRejectedError,
        DeliveryUnknownError,
        DingwireError,
        GatewayThrottledError,
        InvalidRequestError,
        IpNotAllowedError,
        KeywordError,
        MessageError,
        QuotaExceededError,
        QuotaRefusedError,
        RateLimitedError,
        RequestTimeoutError,
        RobotDisabledError,
        SecurityError,
        ServerBusyError,
        SignatureError,
        ThrottledError,
        TimestampError,
        TokenError,
        TooLargeError,
        TooManyPartsError,
        TransportError,
    )
    from dingwire.core.messages import (
        ActionCard,
        At,
        Button,
        FeedCard,
        FeedItem,
        Link,
        Markdown,
        Message,
        Text,
    )
    from dingwire.core.policy import (
        Rate,
        RetryPolicy,
    )
    from dingwire.core.protocol import (
        Request,
        SendResult,
    )
    from dingwire.core.signing import (
        sign,
        signed_url,
    )
    from dingwire.integrations.handler import (
        DingTalkHandler,
    )
    from dingwire.integrations.notify import (
        notify,
        report_failures,
    )
    from dingwire.transport.robots import (
        AsyncRobot,
        Robot,
    )

__version__ = "0.1.0"

# A library leaves the handling of its records to the application (the logging HOWTO): without
# a handler of its own, Python's last resort would print dingwire's warnings on stderr.
logging.getLogger(__name__).addHandler(logging.NullHandler())

# Each public name and the module that defines it. The modules are imported when a name is
# first used (PEP 562), so that `import dingwire` (and `dingwire --help`) stays cheap.
_SOURCES: dict[str, str] = {
    "ActionCard": "dingwire.core.messages",
    "ApiError": "dingwire.core.errors",
    "AsyncRobot": "dingwire.transport.robots",
    "At": "dingwire.core.messages",
    "BadResponseError": "dingwire.core.errors",
    "BodyTooLargeError": "dingwire.core.errors",
    "BudgetStore": "dingwire.budget",
    "BudgetStoreError": "dingwire.core.errors",
    "Button": "dingwire.core.messages",
    "ConfigError": "dingwire.core.errors",
    "ConnectError": "dingwire.core.errors",
    "ConnectionLostError": "dingwire.core.errors",
    "ContentRejectedError": "dingwire.core.errors",
    "DeliveryUnknownError": "dingwire.core.errors",
    "DingTalkHandler": "dingwire.integrations.handler",
    "DingwireError": "dingwire.core.errors",
    "FeedCard": "dingwire.core.messages",
    "FeedItem": "dingwire.core.messages",
    "GatewayThrottledError": "dingwire.core.errors",
    "InvalidRequestError": "dingwire.core.errors",
    "IpNotAllowedError": "dingwire.core.errors",
    "KeywordError": "dingwire.core.errors",
    "Link": "dingwire.core.messages",
    "LintIssue": "dingwire.content",
    "Markdown": "dingwire.core.messages",
    "LocalBudgetStore": "dingwire.budget",
    "MemoryBudgetStore": "dingwire.budget",
    "Message": "dingwire.core.messages",
    "MessageError": "dingwire.core.errors",
    "Quota": "dingwire.core.budget",
    "QuotaExceededError": "dingwire.core.errors",
    "QuotaRefusedError": "dingwire.core.errors",
    "Rate": "dingwire.core.policy",
    "RateLimitedError": "dingwire.core.errors",
    "Request": "dingwire.core.protocol",
    "RequestTimeoutError": "dingwire.core.errors",
    "RetryPolicy": "dingwire.core.policy",
    "Robot": "dingwire.transport.robots",
    "RobotDisabledError": "dingwire.core.errors",
    "SecurityError": "dingwire.core.errors",
    "SendResult": "dingwire.core.protocol",
    "ServerBusyError": "dingwire.core.errors",
    "SignatureError": "dingwire.core.errors",
    "Text": "dingwire.core.messages",
    "ThrottledError": "dingwire.core.errors",
    "TimestampError": "dingwire.core.errors",
    "TokenError": "dingwire.core.errors",
    "TooLargeError": "dingwire.core.errors",
    "TooManyPartsError": "dingwire.core.errors",
    "TransportError": "dingwire.core.errors",
    "escape_markdown": "dingwire.content",
    "lint_markdown": "dingwire.content",
    "notify": "dingwire.integrations.notify",
    "report_failures": "dingwire.integrations.notify",
    "sign": "dingwire.core.signing",
    "signed_url": "dingwire.core.signing",
    "split": "dingwire.content",
    "to_dingtalk_markdown": "dingwire.content",
}

__all__ = [
    "ActionCard",
    "ApiError",
    "AsyncRobot",
    "At",
    "BadResponseError",
    "BodyTooLargeError",
    "BudgetStore",
    "BudgetStoreError",
    "Button",
    "ConfigError",
    "ConnectError",
    "ConnectionLostError",
    "ContentRejectedError",
    "DeliveryUnknownError",
    "DingTalkHandler",
    "DingwireError",
    "FeedCard",
    "FeedItem",
    "GatewayThrottledError",
    "InvalidRequestError",
    "IpNotAllowedError",
    "KeywordError",
    "Link",
    "LintIssue",
    "LocalBudgetStore",
    "Markdown",
    "MemoryBudgetStore",
    "Message",
    "MessageError",
    "Quota",
    "QuotaExceededError",
    "QuotaRefusedError",
    "Rate",
    "RateLimitedError",
    "Request",
    "RequestTimeoutError",
    "RetryPolicy",
    "Robot",
    "RobotDisabledError",
    "SecurityError",
    "SendResult",
    "ServerBusyError",
    "SignatureError",
    "Text",
    "ThrottledError",
    "TimestampError",
    "TokenError",
    "TooLargeError",
    "TooManyPartsError",
    "TransportError",
    "__version__",
    "escape_markdown",
    "lint_markdown",
    "notify",
    "report_failures",
    "sign",
    "signed_url",
    "split",
    "to_dingtalk_markdown",
]


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module 'dingwire' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
