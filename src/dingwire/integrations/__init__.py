"""dingwire inside other tools: what the command line (and later the relay) builds on.

- :mod:`dingwire.integrations.run` — run a command, keep the tail of its output, and make
  the markdown report of how it went (``dingwire run``).
- :mod:`dingwire.integrations.sending` — a robot's exact requests for a dry run, and when a
  message of many parts will be done at the robot's budget.

Which robots a command sends through is :func:`dingwire.config.choose_robots`. Nothing here
is imported by ``import dingwire``.
"""

from __future__ import annotations

from dingwire.integrations.run import (
    Outcome,
    TailBuffer,
    compose_report,
    fit_report,
    run_command,
)
from dingwire.integrations.sending import Estimate, estimate, preview

__all__ = [
    "Estimate",
    "Outcome",
    "TailBuffer",
    "compose_report",
    "estimate",
    "fit_report",
    "preview",
    "run_command",
]
