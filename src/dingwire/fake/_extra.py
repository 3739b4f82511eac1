"""The fake's server side needs the ``fake`` extra (Starlette and uvicorn); without it, every
way in — ``from dingwire.fake import FakeServer``, ``python -m dingwire.fake``, ``python -m
dingwire.demo``, the ``dingtalk_fake`` fixture, ``dingwire fake`` — ends in one line that says
what to install.

The engine, the in-process fake and its transports need nothing more than dingwire.
"""

from __future__ import annotations

import importlib.util

__all__ = ["INSTALL", "MissingExtraError", "missing_extra", "require_extra"]

#: What to run to get the fake's server side.
INSTALL = "pip install 'dingwire[fake]'"
_MODULES = ("starlette", "uvicorn")


class MissingExtraError(ModuleNotFoundError):
    """The ``fake`` extra is not installed: ``name`` is the module that is missing.

    A :class:`ModuleNotFoundError` (so an :class:`ImportError`) whose message is one line
    ending in ``pip install 'dingwire[fake]'``.
    """


def _error(module: str) -> MissingExtraError:
    return MissingExtraError(
        f"the fake's server needs {module}, which is not installed: {INSTALL}", name=module
    )


def missing_extra(error: ModuleNotFoundError) -> ModuleNotFoundError:
    """What to raise for ``error``, met importing the server side: the missing extra, unless
    what is missing is a module of dingwire's own (a bug, raised as it is)."""
    top = (error.name or "").partition(".")[0]
    if not top or top == "dingwire":
        return error
    return _error(top)


def require_extra() -> None:
    """Raise :class:`MissingExtraError` unless Starlette and uvicorn can be imported (without
    importing them)."""
    for module in _MODULES:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken or half-removed install
            found = False
        if not found:
            raise _error(module)
