"""The content modules import one another one way only: each rule has one home."""

from __future__ import annotations

import ast
from pathlib import Path

import dingwire.content

PACKAGE = Path(dingwire.content.__file__).parent


def imports_of(path: Path) -> set[str]:
    """The ``dingwire.content`` modules ``path`` imports, lazily or for typing included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "dingwire.content":
                found |= {f"dingwire.content.{alias.name}" for alias in node.names}
            elif node.module.startswith("dingwire.content."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dingwire.content.")}
    return found


def graph() -> dict[str, set[str]]:
    modules = {
        f"dingwire.content.{p.stem}": p for p in PACKAGE.glob("*.py") if p.stem != "__init__"
    }
    return {name: imports_of(path) & set(modules) for name, path in modules.items()}


def test_normalise_and_rendering_do_not_import_each_other() -> None:
    edges = graph()
    assert "dingwire.content.rendering" in edges["dingwire.content.normalise"]
    assert "dingwire.content.normalise" not in edges["dingwire.content.rendering"]


def test_no_content_module_depends_on_itself_through_others() -> None:
    edges = graph()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(name for name in edges if reaches(name, name, {name}))
    assert cycles == []
