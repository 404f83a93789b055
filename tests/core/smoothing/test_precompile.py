"""``make install`` compiles the smoother's kernels ahead (``core.smoothing.precompile``): a first
``posecloud smooth`` after it runs the built module, without numba, to the same bits as numba's
kernels; numba's cache, which runs where the module cannot, is filled too; an edited kernel source
leaves the module unused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.labels.dlc_csv import write_pose_csv
from core.smoothing.compiled import JIT_ONLY
from tests.core.smoothing.test_multicam import three_view_ensemble
from tests.testdata import REPO

# Smooths files with one camera and with three in a new process; prints whether numba was loaded,
# the modules the kernels come from, and numba's cache hits and misses (compilations) per kernel.
SMOOTH_AND_COUNT = """
import json, sys
from core.smoothing import compiled, ensemble, kalman, robust
from core.smoothing.io import smooth_files, smooth_multicam_files
folder, out = sys.argv[1], sys.argv[2]
smooth_files([f"{folder}/left{i}.csv" for i in range(4)], f"{out}/eks.csv")
views = {v: [f"{folder}/{v}{i}.csv" for i in range(4)] for v in ("left", "right", "top")}
smooth_multicam_files(views, f"{out}/eks3")
print(json.dumps({
    "numba": "numba" in sys.modules,
    "from": sorted({kalman._factor.__module__, robust._combine.__module__, ensemble._member_statistics.__module__}),
    "jit": {name: [sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values())]
            for name, f in compiled.JIT_KERNELS.items()},
}))
"""


def run(args: list[str], cache: Path, *, jit: bool = False, cwd: Path = REPO) -> str:
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    environment.pop(JIT_ONLY, None)
    if jit:
        environment[JIT_ONLY] = "1"
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=environment, capture_output=True, text=True, check=True
    )
    return done.stdout


def smooth(folder: Path, out: Path, cache: Path, *, jit: bool = False, cwd: Path = REPO) -> dict:
    out.mkdir()
    return json.loads(
        run(["-c", SMOOTH_AND_COUNT, str(folder), str(out)], cache, jit=jit, cwd=cwd).splitlines()[-1]
    )


def outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.csv"))}


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("members")
    _, ensemble = three_view_ensemble(n_frames=1500)
    for view, tables in ensemble.items():
        for i, table in enumerate(tables):
            write_pose_csv(table, folder / f"{view}{i}.csv")
    return folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Numba's cache as ``make install`` leaves it (the module is built beside the sources)."""
    cache = tmp_path_factory.mktemp("installed") / "numba-cache"
    run(["-m", "core.smoothing.precompile"], cache)
    return cache


def test_a_first_smoothing_after_install_runs_the_built_kernels_without_numba(members, installed, tmp_path):
    report = smooth(members, tmp_path / "built", installed)
    assert not report["numba"] and not report["jit"]
    assert len(report["from"]) == 1 and report["from"][0].startswith("_kernels_")


def test_the_built_kernels_give_numbas_bits(members, installed, tmp_path):
    smooth(members, tmp_path / "built", installed)
    report = smooth(members, tmp_path / "jit", installed, jit=True)
    assert report["numba"] and len(report["jit"]) == 7
    built, jit = outputs(tmp_path / "built"), outputs(tmp_path / "jit")
    assert len(built) == 8 and built == jit  # eks.csv, eks3/<view>.csv and their variances


def test_numbas_cache_is_filled_at_install_for_where_the_module_cannot_run(members, installed, tmp_path):
    report = smooth(members, tmp_path / "empty-cache", tmp_path / "empty-cache-dir", jit=True)
    assert sum(misses for _, misses in report["jit"].values()) >= 7  # nothing cached: each compiled
    report = smooth(members, tmp_path / "jit", installed, jit=True)
    compiled = {kernel: misses for kernel, (_, misses) in report["jit"].items() if misses}
    assert not compiled, f"compiled at the first run after install: {compiled}"
    assert sum(hits for hits, _ in report["jit"].values()) >= 7


def test_an_edited_kernel_source_leaves_the_built_module_unused(members, installed, tmp_path):
    copy = tmp_path / "checkout"
    shutil.copytree(REPO / "core", copy / "core")  # with the built module in core/smoothing/__pycache__
    assert not smooth(members, tmp_path / "as-built", installed, cwd=copy)["numba"]
    with (copy / "core" / "smoothing" / "kalman.py").open("a") as source:
        source.write("\n# an edit\n")
    assert smooth(members, tmp_path / "edited", installed, cwd=copy)["numba"]


@pytest.mark.parametrize("jit", [False, True], ids=["built", "jit"])
def test_kernels_divide_by_zero_as_numpy_does(installed, jit):
    """A zero pivot gives inf and a False "positive definite" flag, in both: pycc's own error model
    would raise ZeroDivisionError."""
    code = (
        "import numpy as np; from core.smoothing import kalman; z = np.zeros((5, 2)); "
        "i = np.empty((5, 2)); ok = kalman._factor(z, z, np.zeros(2), np.zeros(2), i, np.empty((5, 2))); "
        "print(ok, np.isinf(i[0]).all(), type(kalman._factor).__name__)"
    )
    ok, inf, kind = run(["-c", code], installed, jit=jit).split()
    assert (ok, inf) == ("False", "True")
    assert (kind == "CPUDispatcher") == jit
