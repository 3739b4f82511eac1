"""Where a robot's recent sends are remembered, so that every sender shares one budget.

Two stores keep the same contract: ``acquire(key, rate, now)`` records a send and returns
0.0 when one may go now, or returns the seconds to wait and records nothing;
``lock_out(key, until)`` keeps every sender of the robot quiet until ``until``.
The decision itself is :func:`dingwire.core.policy.decide`; a store only keeps state.

- :class:`MemoryRateStore`: one process (all its threads and tasks).
- :class:`FileRateStore`: every process on the machine. One small JSON file per robot under
  the user's cache directory, read and written under an exclusive ``flock``; the file is
  named by a hash of the webhook, so no token ever lands on disk.

Times are wall-clock seconds (``time.time()``): the only clock that processes share.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Protocol

from dingwire.core.policy import Rate, decide

__all__ = ["FileRateStore", "MemoryRateStore", "RateStore", "default_cache_dir", "default_store"]


class RateStore(Protocol):
    def acquire(self, key: str, rate: Rate | None, now: float) -> float: ...

    def lock_out(self, key: str, until: float) -> None: ...


def _record(sent: list[float], locked_until: float, rate: Rate | None, now: float) -> float:
    if rate is None:
        return max(0.0, locked_until - now)
    # Forget what can no longer matter (and anything from a clock that jumped back far).
    sent[:] = [t for t in sent if t + rate.window - now > 0 and t <= now + rate.window]
    wait = decide(sent, now, rate, locked_until)
    if wait <= 0:
        sent.append(now)
        return 0.0
    return wait


class MemoryRateStore:
    """The budget shared by the threads and tasks of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    def acquire(self, key: str, rate: Rate | None, now: float) -> float:
        with self._lock:
            sent = self._sent.setdefault(key, [])
            return _record(sent, self._locked_until.get(key, 0.0), rate, now)

    def lock_out(self, key: str, until: float) -> None:
        with self._lock:
            self._locked_until[key] = max(until, self._locked_until.get(key, 0.0))


def default_cache_dir() -> Path:
    """``$DINGWIRE_CACHE_DIR``, else ``$XDG_CACHE_HOME/dingwire``, else ``~/.cache/dingwire``."""
    if os.environ.get("DINGWIRE_CACHE_DIR"):
        return Path(os.environ["DINGWIRE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dingwire"


class FileRateStore:
    """The budget shared by every process on this machine that uses the same robot.

    Each robot's file stays open (one descriptor per robot, reopened after a fork, since a
    child would otherwise share its parent's lock); a thread lock orders this process's
    threads, ``flock`` orders the processes. A send with no rate (``rate_limit=None``) only
    reads the lockout, under a shared lock, and writes nothing.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self._guard = threading.Lock()
        self._files: dict[str, tuple[int, threading.Lock]] = {}
        self._pid = os.getpid()

    def _file(self, key: str) -> tuple[int, threading.Lock]:
        with self._guard:
            if self._pid != os.getpid():
                self._files, self._pid = {}, os.getpid()  # the parent's descriptors stay its own
            if key not in self._files:
                folder = self.directory / "ratelimit"
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(folder / f"{key}.json", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._files[key] = (fd, threading.Lock())
            return self._files[key]

    def _update(self, key: str, rate: Rate | None, now: float, lock_until: float | None) -> float:
        import fcntl  # POSIX only; imported here so that the module imports anywhere

        fd, lock = self._file(key)
        read_only = rate is None and lock_until is None
        with lock:
            fcntl.flock(fd, fcntl.LOCK_SH if read_only else fcntl.LOCK_EX)
            try:
                raw = os.pread(fd, os.fstat(fd).st_size, 0)
                try:
                    state = json.loads(raw) if raw.strip() else {}
                    sent = [float(t) for t in state.get("sent", [])]
                    locked_until = float(state.get("locked_until", 0.0))
                except (ValueError, TypeError, AttributeError):
                    sent, locked_until = [], 0.0  # a damaged file costs one window of memory
                if lock_until is not None:
                    locked_until = max(locked_until, lock_until)
                    wait = 0.0
                else:
                    wait = _record(sent, locked_until, rate, now)
                if not read_only:
                    data = json.dumps({"sent": sent, "locked_until": locked_until}).encode()
                    # Pad over the old contents instead of truncating: JSON ignores the
                    # trailing spaces, and ftruncate costs more than the whole send.
                    os.pwrite(fd, data.ljust(len(raw)), 0)
                return wait
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def acquire(self, key: str, rate: Rate | None, now: float) -> float:
        return self._update(key, rate, now, None)

    def lock_out(self, key: str, until: float) -> None:
        self._update(key, None, until, until)

    def close(self) -> None:
        """Close the open files (a store is usable again afterwards)."""
        with self._guard:
            for fd, _ in self._files.values():
                os.close(fd)
            self._files = {}


_DEFAULT_STORES: dict[Path, FileRateStore] = {}
_DEFAULT_GUARD = threading.Lock()


def default_store() -> FileRateStore:
    """The store robots share by default: one per cache directory, for the whole process."""
    directory = default_cache_dir()
    with _DEFAULT_GUARD:
        if directory not in _DEFAULT_STORES:
            _DEFAULT_STORES[directory] = FileRateStore(directory)
        return _DEFAULT_STORES[directory]
