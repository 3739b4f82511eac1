"""What a user installs: the wheel's metadata, the source distribution and a base install.

The wheel and the sdist are built here, offline, by the build backend itself (hatchling, from
the dev group: ``python -m hatchling build``). The base install is a new virtual environment
that holds the wheel and only the distributions its ``Requires-Dist`` name without an extra,
copied from this environment: nothing is downloaded, and anything the base does not declare
is missing there, as it would be on a user's machine.
"""

from __future__ import annotations

import ast
import email.parser
import email.policy
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import tomllib
import zipfile
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# One worker builds the wheel once for every test here.
pytestmark = pytest.mark.xdist_group("packaging")

#: What a base install brings: `import dingwire`, the sync Robot, the content tools, the CLI.
BASE = {"click", "markdown-it-py"}
#: Each extra and what it adds.
EXTRAS = {
    "async": {"aiohttp"},
    "fake": {"starlette", "uvicorn", "httptools", "uvloop"},
    "relay": {
        "starlette",
        "uvicorn",
        "httptools",
        "uvloop",
        "jinja2",
        "prometheus-client",
        "aiohttp",
        "pyyaml",
    },
    "redis": {"redis"},
}
#: Requirements that no module imports by name, and why they are there all the same.
NOT_IMPORTED = {
    "httptools": "uvicorn's http='auto' picks it up",
    "uvloop": "uvicorn's loop='auto' picks it up",
}
IMPORT_NAMES = {
    "markdown-it-py": "markdown_it",
    "prometheus-client": "prometheus_client",
    "pyyaml": "yaml",
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("dingwire-*.whl")
    return wheel


@pytest.fixture(scope="module")
def metadata(dist: Path) -> Message:
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        (name,) = (n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(wheel.read(name))


def _requirements(metadata: Message) -> dict[str, set[str]]:
    """Requirement names by extra ("" for the base), for this platform."""
    found: dict[str, set[str]] = {"": set()}
    extras = metadata.get_all("Provides-Extra") or []
    for line in metadata.get_all("Requires-Dist") or []:
        req = Requirement(line)
        for extra in ["", *extras]:
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                found.setdefault(extra, set()).add(req.name)
                break
    return found


def test_the_base_and_each_extra_require_what_they_need_and_nothing_more(
    metadata: Message,
) -> None:
    assert set(metadata.get_all("Provides-Extra") or []) == set(EXTRAS)
    found = _requirements(metadata)
    assert found.pop("") == BASE
    assert found == EXTRAS
    assert "urllib3" not in str(metadata.get_all("Requires-Dist"))


def test_the_dev_toolchain_is_a_dependency_group_not_an_extra(metadata: Message) -> None:
    assert "dev" not in PYPROJECT["project"].get("optional-dependencies", {})
    dev = {Requirement(r).name.lower() for r in PYPROJECT["dependency-groups"]["dev"]}
    assert {"pytest", "mypy", "ruff", "hatchling"} <= dev
    published = {Requirement(r).name.lower() for r in metadata.get_all("Requires-Dist") or []}
    assert not dev & published


def _imported_roots() -> set[str]:
    roots: set[str] = set()
    for path in (ROOT / "src" / "dingwire").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                roots.add(node.module.split(".")[0])
    return roots


def test_every_requirement_is_imported_somewhere(metadata: Message) -> None:
    imported = _imported_roots()
    for names in _requirements(metadata).values():
        for name in names - set(NOT_IMPORTED):
            module = IMPORT_NAMES.get(name, name.replace("-", "_"))
            assert module in imported, f"{name} is required but no module imports {module}"


def test_no_made_up_url_and_a_license(dist: Path, metadata: Message) -> None:
    urls = [*(metadata.get_all("Project-URL") or []), *(metadata.get_all("Home-page") or [])]
    for url in urls:
        host = urlsplit(url.split(",", 1)[-1].strip()).hostname or ""
        assert not re.search(r"(^|\.)(invalid|test|example|localhost)$", host), url
        assert not re.fullmatch(r"(.+\.)?example\.(com|net|org)", host), url
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        (name,) = (n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE"))
        text = wheel.read(name).decode()
        assert "dingwire/py.typed" in wheel.namelist()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the dingwire team" in text


def test_the_pythons_claimed_are_the_pythons_required(metadata: Message) -> None:
    claimed = sorted(
        (int(c.rsplit(".", 1)[1]))
        for c in metadata.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert claimed == [11, 12, 13]
    assert metadata["Requires-Python"] == f">=3.{claimed[0]}"


# Links on PyPI: the description is shown with no repository around it, so a relative link
# or image (docs/library.md, docs/img/fake.png) leads nowhere there.
LINKS = [
    re.compile(r"\]\(\s*<?([^)\s>]+)"),  # [text](target), ![alt](target)
    re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE),  # [ref]: target
    re.compile(r"""<(?:a|img)\b[^>]*\b(?:href|src)\s*=\s*["']([^"']+)""", re.IGNORECASE),
]


def _links(markdown: str) -> list[str]:
    return [m.group(1) for pattern in LINKS for m in pattern.finditer(markdown)]


@pytest.mark.parametrize(
    ("markdown", "links"),
    [
        ("see [the library](docs/library.md)", ["docs/library.md"]),
        ("![page](docs/img/fake.png)", ["docs/img/fake.png"]),
        ("[docs]: docs/cli.md", ["docs/cli.md"]),
        ('<img src="img/a.png">', ["img/a.png"]),
        ("[ok](https://pypi.org/project/dingwire/)", ["https://pypi.org/project/dingwire/"]),
        ("`robot.send(x)[0]` and (docs/) in prose", []),
    ],
)
def test_the_link_finder_finds_links(markdown: str, links: list[str]) -> None:
    assert _links(markdown) == links


def test_the_description_on_pypi_has_no_relative_link(metadata: Message) -> None:
    description = metadata.get_payload()
    assert isinstance(description, str)
    assert "pip install dingwire" in description
    assert description.index("pip install dingwire") < description.index("## Quick start")
    for link in _links(description):
        assert urlsplit(link).scheme == "https", f"{link!r} leads nowhere on PyPI"


def test_the_source_distribution_has_what_the_readme_sends_readers_to(dist: Path) -> None:
    (sdist,) = dist.glob("dingwire-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    docs = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert docs
    for doc in docs:
        assert f"`{doc}`" in readme, f"the README does not point to docs/{doc}"
        assert f"docs/{doc}" in names
    # The quick start's two commands work in the unpacked sdist too.
    for needed in ("LICENSE", "CHANGELOG.md", "Makefile", "scripts/test", "scripts/venv"):
        assert needed in names
    assert "tests/conftest.py" in names


def test_the_test_script_fails_loudly_for_a_python_it_cannot_find(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "test", tmp_path / "scripts" / "test")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nclassifiers = ["Programming Language :: Python :: 3.99"]\n', encoding="utf-8"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "test")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "FAILED: no Python 3.99" in done.stderr
    assert "pyenv install 3.99" in done.stderr
    assert "==" not in done.stdout  # nothing else ran: neither lint nor a test


# --- a base install: the wheel and its base requirements, nothing else ----------------------


def _closure(metadata: Message) -> set[str]:
    """The distributions a base install holds besides dingwire, from this environment."""
    todo = sorted(_requirements(metadata)[""])
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


@pytest.fixture(scope="module")
def base(dist: Path, metadata: Message, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("base") / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--no-input", str(_wheel(dist))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
    )
    for name in _closure(metadata):
        distribution = importlib.metadata.distribution(name)
        for file in distribution.files or []:
            source = Path(str(distribution.locate_file(file)))
            if ".." not in file.parts and source.is_file():
                (purelib / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, purelib / file)
    done = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr  # the base's requirements are met
    return venv


def _in(base: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("module", ["aiohttp", "starlette", "uvicorn", "urllib3", "pytest"])
def test_a_base_install_lacks_what_only_an_extra_brings(
    base: Path, tmp_path: Path, module: str
) -> None:
    done = _in(base, tmp_path, str(base / "bin" / "python"), "-c", f"import {module}")
    assert f"No module named '{module}'" in done.stderr


@pytest.mark.slow
def test_a_base_install_sends_renders_and_runs_the_command_line(base: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import http.server, json, threading
        import dingwire

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                body = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        robot = dingwire.Robot(
            f"http://127.0.0.1:{server.server_address[1]}/robot/send?access_token=tok",
            budget_store=dingwire.MemoryBudgetStore(),
        )
        robot.send(dingwire.Markdown("report", dingwire.to_dingtalk_markdown("# hi")))
        print("sent")
        """
    )
    done = _in(base, tmp_path, str(base / "bin" / "python"), "-c", script)
    assert (done.returncode, done.stdout.strip()) == (0, "sent"), done.stderr
    done = _in(base, tmp_path, str(base / "bin" / "dingwire"), "--help")
    assert done.returncode == 0, done.stderr
    hook = "http://127.0.0.1:9/robot/send?access_token=tok"
    done = _in(base, tmp_path, str(base / "bin" / "dingwire"), "send", "text", "hi", "--dry-run",
               "--webhook", hook)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"content":"hi"' in done.stdout


@pytest.mark.slow
def test_async_robot_on_a_base_install_says_which_extra_to_install(
    base: Path, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        """
        import asyncio
        import dingwire

        async def main():
            robot = dingwire.AsyncRobot(
                "http://127.0.0.1:9/robot/send?access_token=tok",
                budget_store=dingwire.MemoryBudgetStore(),
            )
            try:
                await robot.send(dingwire.Text("hi"))
            finally:
                await robot.aclose()

        try:
            asyncio.run(main())
        except ImportError as error:
            print(type(error).__name__, error.name, error, sep="|")
        """
    )
    done = _in(base, tmp_path, str(base / "bin" / "python"), "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "ModuleNotFoundError|aiohttp|AsyncRobot needs aiohttp: pip install 'dingwire[async]'"
    )
