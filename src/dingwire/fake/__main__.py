"""``python -m dingwire.fake [--host H] [--port P] [--config FILE] [--quiet]``: run the fake.

The same as ``dingwire fake``, without the rest of the command line.
"""

from __future__ import annotations

import argparse
import sys

from dingwire.core.errors import ConfigError
from dingwire.fake._extra import MissingExtraError


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and serve until interrupted; 2 on a configuration error or
    without the ``fake`` extra (one line saying what to install)."""
    try:
        from dingwire.fake.server import DEFAULT_HOST, DEFAULT_PORT, serve
    except MissingExtraError as error:
        print(f"dingwire fake: {error}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m dingwire.fake", description=__doc__)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--config", default=None, help="the fake's TOML file")
    parser.add_argument("--quiet", action="store_true", help="no line per request")
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, args.config, quiet=args.quiet)
    except ConfigError as error:
        print(f"dingwire fake: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
