"""What `import dingwire` publishes, and what it costs."""

import subprocess
import sys

import dingwire

PUBLIC = {
    "ActionCard", "ApiError", "AsyncRobot", "At", "BadResponseError", "BodyTooLargeError",
    "BudgetStore", "BudgetStoreError", "Button", "ConfigError", "ConnectError", "ConnectionLostError", "ContentRejectedError",
    "DeliveryUnknownError", "DingTalkHandler", "DingwireError", "FeedCard", "FeedItem", "GatewayThrottledError",
    "InvalidRequestError", "IpNotAllowedError", "KeywordError", "Link", "Markdown",
    "LocalBudgetStore", "MemoryBudgetStore", "Message", "MessageError", "Quota",
    "QuotaExceededError", "QuotaRefusedError", "Rate", "RateLimitedError", "Request",
    "RequestTimeoutError", "RetryPolicy", "Robot", "RobotDisabledError", "SecurityError",
    "SendResult", "ServerBusyError", "SignatureError", "Text", "ThrottledError",
    "TimestampError", "TokenError", "TooLargeError", "TooManyPartsError", "TransportError",
    "__version__",
    "notify", "report_failures", "sign", "signed_url",
}  # fmt: skip
CONTENT = {"LintIssue", "escape_markdown", "lint_markdown", "split", "to_dingtalk_markdown"}


def test_all_is_what_we_mean_to_publish() -> None:
    assert set(dingwire.__all__) - CONTENT == PUBLIC
    assert sorted(dingwire.__all__) == list(dingwire.__all__)
    for name in dingwire.__all__:
        assert getattr(dingwire, name) is not None
        if not name.startswith("_"):
            assert getattr(dingwire, name).__doc__, f"{name} has no docstring"


def test_import_loads_no_http_stack_or_extra() -> None:
    code = (
        "import sys, dingwire; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('urllib3', 'aiohttp', 'asyncio', 'ssl', 'http', 'starlette', 'uvicorn', 'redis', "
        "'markdown_it', 'click', 'requests')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
