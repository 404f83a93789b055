"""Imports point one way: app -> worker -> core (import-linter, run by ``make lint``)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from tests.testdata import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _loaded(imports: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with ``prefixes`` that a fresh interpreter has loaded after ``imports``."""
    code = f"import sys; {imports}; print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout.strip())


def test_core_cli_loads_no_web_database_or_queue_module() -> None:
    imports = "import core.cli; core.cli.build_parser()"
    assert _loaded(imports, ("fastapi", "sqlalchemy", "celery", "app.", "worker.")) == []


def test_the_service_never_loads_torch_or_the_networks() -> None:
    """It enqueues work for the workers instead."""
    assert _loaded("import app.api.main, app.api.factory", ("torch", "core.models")) == []


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", "pyproject.toml", "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
    )


def _copy_packages(tmp_path: Path) -> Path:
    for package in ("app", "worker", "core"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_layering_check_passes_on_the_tree_and_fails_on_a_planted_violation(tmp_path: Path) -> None:
    tree = _copy_packages(tmp_path)
    clean = _lint(tree)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    config = tree / "core" / "config.py"
    config.write_text(config.read_text() + "\n\ndef _planted():\n    import worker.settings  # noqa\n")
    planted = _lint(tree)
    assert planted.returncode != 0
    assert "core.config -> worker.settings" in planted.stdout, planted.stdout


def test_a_cycle_inside_core_fails_the_check(tmp_path: Path) -> None:
    tree = _copy_packages(tmp_path)
    video = tree / "core" / "video" / "reader.py"
    video.write_text(video.read_text() + "\n\ndef _planted():\n    import core.predict.video  # noqa\n")
    planted = _lint(tree)
    assert planted.returncode != 0
    assert "core.video.reader -> core.predict.video" in planted.stdout, planted.stdout


def test_a_page_of_the_front_end_that_reaches_past_http_fails_the_check(tmp_path: Path) -> None:
    tree = _copy_packages(tmp_path)
    page = tree / "app" / "ui" / "screens" / "models.py"
    page.write_text(page.read_text() + "\n\ndef _planted():\n    import worker.db.models  # noqa\n")
    planted = _lint(tree)
    assert planted.returncode != 0
    assert "app.ui.screens.models -> worker.db.models" in planted.stdout, planted.stdout
