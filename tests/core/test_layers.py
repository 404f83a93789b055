"""core's subpackages import only downwards, and core imports nothing of the service above it.

Every import counts, also one inside a function or under TYPE_CHECKING: a cycle that only shows at
type-checking time still ties two modules together for a reader, and a function-level import is
the usual way a cycle is hidden. Cycles between modules, in core and elsewhere, are the concern of
``tests/test_layers.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testdata import REPO

LAYERS = [
    ["core.cli"],
    ["core.training"],
    ["core.predict", "core.losses"],
    ["core.selection"],
    ["core.smoothing"],
    ["core.models"],
    ["core.data"],
    ["core.plausibility"],
    ["core.labels"],
    ["core.video", "core.pca", "core.progress"],
    ["core.config"],
    ["core.names"],
    ["core.errors", "core.atomic", "core.cpu", "core.heap"],
]
"""Highest first; a module may import its own subpackage and any layer below, not a sibling."""
FORBIDDEN = ("app", "worker", "fastapi", "sqlalchemy", "celery")
RANK = {package: rank for rank, siblings in enumerate(LAYERS) for package in siblings}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_modules(root: Path) -> dict[str, Path]:
    """Every module of core under ``root`` (a package by its ``__init__.py``) -> its file."""
    return {module_name(p, root): p for p in sorted((root / "core").rglob("*.py"))}


def imports(path: Path, module: str, modules: dict[str, Path]) -> Iterator[tuple[int, str]]:
    """``(line, imported module)`` of every import in the file, relative ones resolved; ``from
    package import name`` imports ``package.name`` where that is one of ``modules``, else ``package``."""
    package = (module if path.name == "__init__.py" else module.rpartition(".")[0]).split(".")
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            source = ".".join([*base, node.module] if node.module else base)
            for name in {
                f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names
            }:
                yield node.lineno, name


def layer_of(module: str) -> str | None:
    """The subpackage (``core.x``) a module of core belongs to; None for the package itself."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else None


def violations(root: Path) -> list[str]:
    """``path:line: module -> imported`` for each import against the layers, in file order."""
    found = []
    modules = core_modules(root)
    for module, path in modules.items():
        own = layer_of(module)
        where = str(path.relative_to(root))
        if own is not None and own not in RANK:
            found.append(f"{where}: {own} is in no layer of tests/core/test_layers.py; place it there")
            continue
        for line, imported in imports(path, module, modules):
            top = imported.split(".")[0]
            if top in FORBIDDEN:
                found.append(f"{where}:{line}: {module} -> {imported} (core imports no service module)")
            elif imported in modules:
                target = layer_of(imported)
                if target == own:
                    continue
                if own is None or target is None or RANK.get(target, -1) <= RANK[own]:
                    found.append(f"{where}:{line}: {module} -> {imported}")
    return found


def copy_core(dest: Path) -> None:
    for path in (REPO / "core").rglob("*.py"):
        copy = dest / path.relative_to(REPO)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(path.read_text())


def test_core_imports_only_downwards_and_nothing_of_the_service() -> None:
    assert violations(REPO) == []


@pytest.mark.parametrize(
    ("file", "planted", "reported"),
    [
        ("core/video/reader.py", "import core.predict.video", "core.video.reader -> core.predict.video"),
        (
            "core/smoothing/io.py",
            "from core.selection import outliers",
            "core.smoothing.io -> core.selection.outliers",
        ),
        (
            "core/losses/unsupervised.py",
            "from ..predict import video",
            "core.losses.unsupervised -> core.predict.video",
        ),
        ("core/models/context.py", "from core import cli", "core.models.context -> core.cli"),
        (
            "core/config.py",
            "from worker.state.settings import Settings",
            "core.config -> worker.state.settings",
        ),
        ("core/errors.py", "import fastapi", "core.errors -> fastapi"),
    ],
)
def test_an_import_against_the_layers_is_named(
    tmp_path: Path, file: str, planted: str, reported: str
) -> None:
    """Planted inside a function and under TYPE_CHECKING, where a scan of top-level imports misses it."""
    copy_core(tmp_path)
    target = tmp_path / file
    target.write_text(
        target.read_text() + f"\n\ndef _planted():\n    {planted}\n\n\nif TYPE_CHECKING:\n    {planted}\n"
    )
    found = violations(tmp_path)
    assert len([v for v in found if reported in v]) == 2, found
