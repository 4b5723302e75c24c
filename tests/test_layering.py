"""Who may import whom: the layering of src/stead, checked over every module's imports (lazy ones included).

- the core (``stead/_*.py``) imports only the core;
- ``engines/journal`` and ``engines/temporal`` import only the core; ``engines/sqlite`` the core and the journal;
- ``agents/`` imports only the core: it never knows which engine runs it;
- ``cli/``, ``ui/``, ``otel.py`` and ``testing/`` sit on top: they use engines, agents and testing only through
  their public modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import stead

SRC = Path(stead.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute names (``from .x import y`` counts ``x`` and ``x.y``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "stead" or m.startswith("stead.")}


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    if parts[1] == "engines" and len(parts) > 2:
        return f"engines.{parts[2]}"
    if parts[1] in ("engines", "agents", "cli", "ui", "testing", "otel"):
        return parts[1]
    return "core"


# What each layer may import, besides itself.
ALLOWED = {
    "core": {"core"},
    "engines.journal": {"core"},
    "engines.sqlite": {"core", "engines.journal"},
    "engines.temporal": {"core"},
    "engines": {"core"},
    "agents": {"core"},
}
TOP = {"cli", "ui", "otel", "testing", "package"}

MODULES = sorted(SRC.rglob("*.py"))


def _private_of_another(importer: str, imported: str) -> bool:
    """``imported`` is a private module (or a name in one) of another package than ``importer``'s."""
    parts = imported.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            owner = ".".join(parts[:i])
            return owner not in ("stead",) and not importer.startswith(owner + ".") and importer != owner
    return False


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_each_module_imports_only_what_its_layer_may(path: Path) -> None:
    importer = _module_name(path)
    layer = _layer(importer)
    wrong = []
    for imported in sorted(_imports(path)):
        target = _layer(imported)
        if target in ("package",) or target == layer:
            continue
        if layer in TOP:
            public_only = target in (
                "engines.journal",
                "engines.sqlite",
                "engines.temporal",
                "agents",
                "testing",
            )
            if public_only and _private_of_another(importer, imported):
                wrong.append(imported)
            continue
        if target not in ALLOWED.get(layer, set()):
            wrong.append(imported)
    assert not wrong, (
        f"{importer} ({layer}) must not import {wrong}: see the layering in tests/test_layering.py"
    )


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    # The rule fires: an agents module that imports an engine is caught.
    assert "engines.sqlite" not in ALLOWED["agents"]
    assert _layer("stead.engines.sqlite._store") == "engines.sqlite"
    assert _private_of_another("stead.cli.run", "stead.testing._offline.offline_models")
    assert not _private_of_another("stead.cli.run", "stead.testing.offline_models")
