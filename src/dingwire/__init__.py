"""dingwire: get messages into DingTalk groups through custom robots, reliably.

>>> import dingwire
>>> robot = dingwire.Robot("https://oapi.dingtalk.com/robot/send?access_token=…", "SEC…")
>>> robot.send(dingwire.Text("disk full @13800000000",
...                          at=dingwire.At(mobiles=["13800000000"])))  # doctest: +SKIP

Importing dingwire imports no HTTP library: http.client loads when a robot first sends, and
aiohttp when an async robot does.
"""

from dingwire.content import (
    LintIssue,
    escape_markdown,
    lint_markdown,
    split,
    to_dingtalk_markdown,
)
from dingwire.core.errors import (
    ApiError,
    BadResponseError,
    BodyTooLargeError,
    ConfigError,
    ConnectError,
    ConnectionLostError,
    ContentRejectedError,
    DeliveryUnknownError,
    DingwireError,
    InvalidRequestError,
    IpNotAllowedError,
    KeywordError,
    MessageError,
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
from dingwire.core.policy import Rate, RetryPolicy
from dingwire.core.protocol import Request, SendResult
from dingwire.core.signing import sign, signed_url
from dingwire.transport.ratelimit import FileRateStore, MemoryRateStore
from dingwire.transport.robots import AsyncRobot, Robot

__version__ = "0.1.0"

__all__ = [
    "ActionCard",
    "ApiError",
    "AsyncRobot",
    "At",
    "BadResponseError",
    "BodyTooLargeError",
    "Button",
    "ConfigError",
    "ConnectError",
    "ConnectionLostError",
    "ContentRejectedError",
    "DeliveryUnknownError",
    "DingwireError",
    "FeedCard",
    "FeedItem",
    "FileRateStore",
    "InvalidRequestError",
    "IpNotAllowedError",
    "KeywordError",
    "Link",
    "LintIssue",
    "Markdown",
    "MemoryRateStore",
    "Message",
    "MessageError",
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
    "TransportError",
    "__version__",
    "escape_markdown",
    "lint_markdown",
    "sign",
    "signed_url",
    "split",
    "to_dingtalk_markdown",
]
