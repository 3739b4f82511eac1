"""Content that renders: DingTalk's markdown subset, safe interpolation, long messages split.

- :func:`to_dingtalk_markdown` rewrites ordinary markdown into what DingTalk shows well.
- :func:`lint_markdown` lists what DingTalk will not render, line by line.
- :func:`escape_markdown` makes an untrusted value safe to put into markdown.
- :func:`split` cuts a long message into parts that each fit the 20,000-byte body limit.

Nothing here imports markdown-it until it is first needed.
"""

from dingwire.content.escape import escape_markdown
from dingwire.content.lint import LintIssue, lint_markdown
from dingwire.content.normalise import to_dingtalk_markdown
from dingwire.content.split import split

__all__ = ["LintIssue", "escape_markdown", "lint_markdown", "split", "to_dingtalk_markdown"]
