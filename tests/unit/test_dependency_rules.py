"""The layers' dependency direction (STYLE.md) holds for every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "domain": {"domain", "eventsourcing.domain", "idna"},  # idna: a pure library (IDNA 2008, UTS 46)
    "application": {"domain", "application", "eventsourcing", "orjson"},
    "projections": {"domain", "projections", "sqlalchemy", "orjson", "eventsourcing"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def third_party(name: str) -> bool:
    import sys

    return name.split(".")[0] not in sys.stdlib_module_names and name != "__future__"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(layer: str) -> None:
    offenders = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in imports_of(path):
            if third_party(name) and not any(name == a or name.startswith(a + ".") for a in ALLOWED[layer]):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_routes_hold_no_sql() -> None:
    for path in sorted((ROOT / "api" / "routes").glob("*.py")):
        assert not any(name.startswith("sqlalchemy") for name in imports_of(path)), path
