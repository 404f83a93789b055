"""Imports point one way: app -> worker -> core, and inside worker and core each subpackage over the
ones below it (import-linter, run by ``make lint``); no two modules import each other, directly or
around a loop, counting imports inside functions and under TYPE_CHECKING too."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    config.write_text(config.read_text() + "\n\ndef _planted():\n    import worker.state.settings  # noqa\n")
    planted = _lint(tree)
    assert planted.returncode != 0
    assert "core.config -> worker.state.settings" in planted.stdout, planted.stdout


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
    page.write_text(page.read_text() + "\n\ndef _planted():\n    import worker.state.db.models  # noqa\n")
    planted = _lint(tree)
    assert planted.returncode != 0
    assert "app.ui.screens.models -> worker.state.db.models" in planted.stdout, planted.stdout


def test_a_job_module_imported_by_the_shared_state_fails_the_check(tmp_path: Path) -> None:
    tree = _copy_packages(tmp_path)
    records = tree / "worker" / "state" / "records.py"
    records.write_text(records.read_text() + "\n\ndef _planted():\n    import worker.jobs.runner  # noqa\n")
    planted = _lint(tree)
    assert planted.returncode != 0
    assert "worker.state.records -> worker.jobs.runner" in planted.stdout, planted.stdout


_IMPORT_GRAPH = (
    "import json, grimp; graph = grimp.build_graph('app', 'worker', 'core', cache_dir=None); "
    "print(json.dumps({m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}))"
)


def import_graph(tree: Path) -> dict[str, list[str]]:
    """Module -> the modules it imports, of app, worker and core under ``tree``: every import, also
    one inside a function or under TYPE_CHECKING (grimp, as import-linter reads them)."""
    out = subprocess.run([sys.executable, "-c", _IMPORT_GRAPH], cwd=tree, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def import_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or around a loop: the strongly
    connected components of more than one module (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []
    for root in sorted(graph):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        path = [(root, iter(graph[root]))]
        while path:
            module, imported = path[-1]
            for other in imported:
                if other not in index:
                    index[other] = low[other] = len(index)
                    stack.append(other)
                    path.append((other, iter(graph[other])))
                    break
                if other in stack:
                    low[module] = min(low[module], index[other])
            else:
                path.pop()
                if path:
                    low[path[-1][0]] = min(low[path[-1][0]], low[module])
                if low[module] == index[module]:
                    group = stack[stack.index(module) :]
                    del stack[stack.index(module) :]
                    if len(group) > 1:
                        cycles.append(sorted(group))
    return sorted(cycles)


def test_no_two_modules_import_each_other() -> None:
    assert import_cycles(import_graph(REPO)) == []


@pytest.mark.parametrize(
    ("file", "planted", "cycle"),
    [
        (
            "worker/state/records.py",
            "\n\ndef _planted():\n    import worker.jobs.runner  # noqa\n",
            ["worker.jobs.runner", "worker.state.records"],
        ),
        (
            "core/predict/frame_stream.py",
            "\n\nif TYPE_CHECKING:\n    from core.predict.trained_model import TrainedModel  # noqa\n",
            ["core.predict.frame_stream", "core.predict.trained_model"],
        ),
    ],
)
def test_a_cycle_hidden_in_a_function_or_under_type_checking_is_found(
    tmp_path: Path, file: str, planted: str, cycle: list[str]
) -> None:
    tree = _copy_packages(tmp_path)
    target = tree / file
    target.write_text(target.read_text() + planted)
    assert import_cycles(import_graph(tree)) == [cycle]
