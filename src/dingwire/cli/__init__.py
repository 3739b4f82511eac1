"""The ``dingwire`` command line (in progress)."""


def main() -> None:
    raise SystemExit("dingwire: the command line is not built yet")
