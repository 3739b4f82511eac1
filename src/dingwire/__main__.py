"""``python -m dingwire`` runs the command line."""

from dingwire.cli import main

main()
