"""``make install`` compiles the smoother's kernels ahead (``core.smoothing.precompile``): a first
``posecloud smooth`` after it loads every kernel from numba's cache and compiles none."""

import json
import os
import subprocess
import sys
from pathlib import Path

from core.labels.dlc_csv import write_pose_csv
from tests.core.smoothing.test_multicam import three_view_ensemble
from tests.testdata import REPO

# Smooths files with one camera and with three in a new process; prints each kernel's cache hits
# and misses (compilations).
SMOOTH_AND_COUNT = """
import json, sys
from numba.core.registry import CPUDispatcher
from core.smoothing import ensemble, kalman, robust
from core.smoothing.io import smooth_files, smooth_multicam_files
folder = sys.argv[1]
smooth_files([f"{folder}/left{i}.csv" for i in range(4)], f"{folder}/eks.csv")
views = {v: [f"{folder}/{v}{i}.csv" for i in range(4)] for v in ("left", "right", "top")}
smooth_multicam_files(views, f"{folder}/eks3")
print(json.dumps({
    f"{module.__name__}.{name}": [sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values())]
    for module in (ensemble, kalman, robust) for name, f in vars(module).items()
    if isinstance(f, CPUDispatcher)
}))
"""


def run(args: list[str], cache: Path) -> str:
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=environment, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_a_first_smoothing_after_install_compiles_no_kernel(tmp_path):
    _, members = three_view_ensemble(n_frames=1500)
    for view, tables in members.items():
        for i, table in enumerate(tables):
            write_pose_csv(table, tmp_path / f"{view}{i}.csv")
    cache = tmp_path / "numba-cache"
    counts = json.loads(run(["-c", SMOOTH_AND_COUNT, str(tmp_path)], cache).splitlines()[-1])
    assert sum(misses for _, misses in counts.values()) >= 7  # nothing cached: each kernel compiled

    run(["-m", "core.smoothing.precompile"], tmp_path / "installed")
    counts = json.loads(run(["-c", SMOOTH_AND_COUNT, str(tmp_path)], tmp_path / "installed").splitlines()[-1])
    compiled = {kernel: misses for kernel, (_, misses) in counts.items() if misses}
    assert not compiled, f"compiled at the first run after install: {compiled}"
    assert sum(hits for hits, _ in counts.values()) >= 7
