"""``python -m dingwire`` runs the command line."""

from dingwire.cli import main

if __name__ == "__main__":
    main()
