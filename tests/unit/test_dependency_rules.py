"""The layers' dependency direction (STYLE.md) holds for every module, api and adapters included.

domain: no I/O, nothing of ours but domain. application: domain and itself (its ports).
projections: domain and itself. adapters: the application's ports, domain, and the view
tables they store in. api: application, projections and itself; only the composition root
(api/bootstrap.py) and the CLI entry (api/cli.py) import adapters. A type-only import
(`if TYPE_CHECKING:`) wires nothing and is not counted."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"domain", "application", "projections", "adapters", "api"}
ALLOWED = {
    "domain": {"domain", "eventsourcing.domain", "idna"},  # idna: a pure library (IDNA 2008, UTS 46)
    "application": {"domain", "application", "eventsourcing", "orjson"},
    "projections": {"domain", "projections", "sqlalchemy", "orjson", "eventsourcing"},
    "adapters": {"domain", "application", "adapters", "projections"},  # + any third-party library
    "api": {"domain", "application", "projections", "api"},  # + any third-party library
}
COMPOSITION = {"api/bootstrap.py", "api/cli.py"}  # may import adapters
IO_MODULES = {"socket", "ssl", "sqlite3", "subprocess", "threading", "multiprocessing", "os", "io", "pathlib",
              "shutil", "tempfile", "urllib", "http", "asyncio", "select", "selectors"}  # fmt: skip


def _type_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def ours(name: str) -> bool:
    return name.split(".")[0] in OURS


def third_party(name: str) -> bool:
    return name.split(".")[0] not in sys.stdlib_module_names and name != "__future__" and not ours(name)


def _allowed(name: str, allowed: set[str]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


def offenders(layer: str) -> list[str]:
    found = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        allowed = ALLOWED[layer] | ({"adapters"} if rel in COMPOSITION else set())
        for name in sorted(imports_of(path)):
            if (
                ours(name)
                and not _allowed(name, allowed)
                or layer in ("domain", "application", "projections")
                and third_party(name)
                and not _allowed(name, allowed)
            ):
                found.append(f"{rel} imports {name}")
            elif layer == "domain" and name.split(".")[0] in IO_MODULES:
                found.append(f"{rel} imports {name} (I/O)")
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(layer: str) -> None:
    assert offenders(layer) == []


def test_only_the_composition_root_and_the_cli_choose_adapters() -> None:
    choosing = sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "api").rglob("*.py")
        if any(name.split(".")[0] == "adapters" for name in imports_of(path))
    )
    assert set(choosing) == COMPOSITION


def test_routes_hold_no_sql_and_no_wiring() -> None:
    for path in sorted((ROOT / "api" / "routes").glob("*.py")):
        names = imports_of(path)
        assert not any(name.startswith("sqlalchemy") for name in names), path
        assert "api.bootstrap" not in names, path


def test_nothing_wires_itself_from_a_routes_module() -> None:
    """Tests, benchmarks and the CLI take their wiring from the composition root, never a route."""
    for folder in ("tests", "bench", "api"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.parent.name == "routes" or path.name == "main.py":
                continue
            assert not any(name.startswith("api.routes") for name in imports_of(path)), path
