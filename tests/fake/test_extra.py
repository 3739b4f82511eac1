"""Without the ``fake`` extra (no Starlette, no uvicorn), every way into the fake's server ends
in one line that says what to install — and the pytest plugin, which pytest loads in every
project that installed dingwire, still imports, costs nothing, and fails only the tests that
use ``dingtalk_fake``.

Each case runs in a fresh interpreter in which Starlette and uvicorn cannot be imported (an
import hook refuses them, as on a base install); no network, no venv.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

INSTALL = "pip install 'dingwire[fake]'"

# Run first in each interpreter: from now on Starlette and uvicorn are not installed.
NO_EXTRA = textwrap.dedent(
    """
    import sys

    class _NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("starlette", "uvicorn"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NotInstalled())
    for _name in [m for m in sys.modules if m.partition(".")[0] in ("starlette", "uvicorn")]:
        del sys.modules[_name]
    """
)


def run_without_extra(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NO_EXTRA + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_the_hook_really_removes_the_extra(tmp_path: Path) -> None:
    done = run_without_extra("import starlette", tmp_path)
    assert done.returncode == 1
    assert "No module named 'starlette'" in done.stderr


@pytest.mark.parametrize(
    "statement",
    [
        "from dingwire.fake import FakeServer",
        "from dingwire.fake import create_app",
        "from dingwire.fake import serve",
        "import dingwire.fake.server",
        "import dingwire.fake.app",
    ],
)
def test_importing_the_server_side_says_what_to_install(tmp_path: Path, statement: str) -> None:
    caught = run_without_extra(
        f"""
        try:
            {statement}
        except ImportError as error:
            print(type(error).__name__, isinstance(error, ModuleNotFoundError), error.name)
            print(error)
        """,
        tmp_path,
    )
    assert caught.returncode == 0, caught.stderr
    kind, message = caught.stdout.splitlines()
    assert kind in ("MissingExtraError True starlette", "MissingExtraError True uvicorn")
    assert message.endswith(INSTALL)
    uncaught = run_without_extra(statement, tmp_path)
    assert uncaught.returncode == 1
    # The traceback ends in that one line, not in a bare "No module named 'starlette'".
    last = uncaught.stderr.strip().splitlines()[-1]
    assert last.startswith("dingwire.fake._extra.MissingExtraError: the fake's server needs ")
    assert last.endswith(INSTALL)


def test_the_rest_of_the_fake_works_without_the_extra(tmp_path: Path) -> None:
    done = run_without_extra(
        """
        import dingwire
        from dingwire.fake import Fault, InProcessFake

        fake = InProcessFake()
        ops = fake.add_robot(secret=True, keywords=["告警"])
        ops.inject_fault(Fault.http(503))
        print(ops.client().send(dingwire.Text("告警: disk full")).attempts)
        assert "starlette" not in sys.modules and "uvicorn" not in sys.modules
        """,
        tmp_path,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "2"), done.stderr


@pytest.mark.parametrize(
    ("module", "prefix", "args"),
    [
        ("dingwire.fake", "dingwire fake: ", []),
        ("dingwire.fake", "dingwire fake: ", ["--port", "0", "--quiet"]),
        ("dingwire.demo", "dingwire demo: ", ["--once"]),
        ("dingwire.demo", "dingwire demo: ", []),
    ],
)
def test_the_entry_points_say_it_in_one_line_and_exit_2(
    tmp_path: Path, module: str, prefix: str, args: list[str]
) -> None:
    done = run_without_extra(
        f"""
        import runpy
        sys.argv = [{module!r}, *{args!r}]
        runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
        """,
        tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(prefix + "the fake's server needs starlette")
    assert line.endswith(INSTALL)


def test_the_pytest_plugin_imports_nothing_but_pytest(tmp_path: Path) -> None:
    done = run_without_extra(
        """
        before = set(sys.modules)
        import dingwire.fake.pytest_plugin
        new = sorted(m for m in set(sys.modules) - before if m.startswith("dingwire"))
        print(new)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['dingwire', 'dingwire.fake', 'dingwire.fake.pytest_plugin']"


def test_without_the_extra_only_the_tests_using_dingtalk_fake_fail(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import dingwire

            def test_needs_a_real_port(dingtalk_fake):
                pass

            def test_again_a_real_port(dingtalk_fake):
                pass

            def test_in_process(dingtalk_fake_inprocess):
                ops = dingtalk_fake_inprocess.add_robot()
                assert ops.client().send(dingwire.Text("hi")).errcode == 0

            def test_unrelated():
                assert True
            """
        ),
        encoding="utf-8",
    )
    done = run_without_extra(
        """
        import pytest
        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:xdist", "test_user.py"]))
        """,
        tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 passed, 2 errors" in done.stdout
    message = (
        "dingtalk_fake: the fake's server needs starlette, which is not installed: "
        f"{INSTALL} (dingtalk_fake_inprocess needs no extra)"
    )
    assert done.stdout.count(message) >= 2
    assert "Traceback" not in done.stdout
    assert "another exception occurred" not in done.stdout
    assert "ModuleNotFoundError" not in done.stdout
