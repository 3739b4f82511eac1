"""The user-style code of ``user_code.py`` passes ``mypy --strict``; ``mistakes.py`` does not.

One run of the venv's mypy over both files (a fresh cache each time, so nothing stale can
hide an error): no error in ``user_code.py``, and in ``mistakes.py`` exactly the errors its
marks announce — which shows that the check can fail.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
_MARK = re.compile(r"\S  # E: (?P<code>[a-z-]+)$")
_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def _expected(path: Path) -> set[tuple[str, int, str]]:
    found = set()
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if marked := _MARK.search(line):
            found.add((path.name, number, marked["code"]))
    return found


def test_user_code_passes_mypy_strict_and_mistakes_do_not(tmp_path: Path) -> None:
    files = [HERE / "user_code.py", HERE / "mistakes.py"]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache")]
        + [str(f.relative_to(ROOT)) for f in files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "No module named mypy" not in output, output
    errors = {
        (Path(m["file"]).name, int(m["line"]), m["code"])
        for m in map(_ERROR.match, result.stdout.splitlines())
        if m
    }
    assert {e for e in errors if e[0] == "user_code.py"} == set(), output
    assert errors == _expected(HERE / "mistakes.py"), output
    assert result.returncode == 1, output
