"""The whole ``posecloud smooth`` command against the whole ``eks singlecam`` command of
ensemble-kalman-smoother 4.6.2 (its own venv, ``benchmarks/setup_eks_reference.sh``) on the same
files: 5 members x 17 keypoints x 20,000 frames (``core.smoothing.synthetic``), automatic smoothing
parameter for both, each timed from process start to files written, Python's start and every import
included.

    .venv/bin/python benchmarks/smooth_command.py [--frames 20000] [--runs 5]

"First run after install": the kernels are compiled as ``make install`` compiles them (``python -m
core.smoothing.precompile``, not timed: numba's cache emptied, a fresh ``NUMBA_CACHE_DIR``, and
filled, and the ahead-of-time module built again), then the command runs, then once more; ``--runs``
such installs, the medians reported (a single first run varied by 0.3 s on the 2-core VM). Every
run finds the files in the page cache, as the reference's runs do; the reference runs ``--runs``
times too (its JAX compilation cache is not kept between processes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.benchinfo import LoadAverages, machine  # noqa: E402
from core.labels.dlc_csv import write_pose_csv  # noqa: E402
from core.smoothing.synthetic import simulate_ensemble  # noqa: E402

POSECLOUD = ROOT / ".venv" / "bin" / "posecloud"
REFERENCE = ROOT / ".bench-venv-eks" / "bin" / "eks"


def timed(command: list[str], environment: dict[str, str]) -> float:
    """Seconds ``command`` takes, started once the files written before it (the inputs, the last
    run's outputs) are on disk: the kernel's writing them back would otherwise land on this run."""
    os.sync()
    start = time.perf_counter()
    subprocess.run(command, env=environment, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not REFERENCE.exists():
        raise SystemExit("reference venv missing: run benchmarks/setup_eks_reference.sh first")
    load = LoadAverages()
    with tempfile.TemporaryDirectory(prefix="posecloud-smooth-command-") as scratch:
        work = Path(scratch)
        _, members = simulate_ensemble(n_members=5, n_keypoints=17, n_frames=args.frames, seed=0)
        files = [str(write_pose_csv(m, work / f"member{i}.csv")) for i, m in enumerate(members)]
        command = [str(POSECLOUD), "smooth", *files, "-o", str(work / "ours.csv")]
        first, after = [], []
        for run in range(args.runs):  # each run: an install, the first command after it, the next
            environment = {**os.environ, "NUMBA_CACHE_DIR": str(work / f"numba-cache-{run}")}
            subprocess.run(
                [sys.executable, "-m", "core.smoothing.precompile"], cwd=ROOT, env=environment, check=True
            )
            first.append(timed(command, environment))
            after.append(timed(command, environment))
        reference_command = [
            str(REFERENCE),
            "singlecam",
            "--input-files",
            *files,
            "--save-dir",
            str(work / "ref"),
        ]
        reference = [timed(reference_command, dict(os.environ)) for _ in range(args.runs)]
    load.end()
    reference_version = subprocess.run(
        [
            str(REFERENCE.with_name("python")),
            "-c",
            "import importlib.metadata as m; print(m.version('ensemble-kalman-smoother'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"\n{machine()}; ensemble-kalman-smoother {reference_version} in its venv")
    print(f"{load.line()}; 5 members x 17 keypoints x {args.frames:,} frames, {args.runs} runs each\n")
    print(
        "| command, process start to files written | posecloud smooth (s) | eks singlecam, median (s) | ratio |"
    )
    print("| --- | --- | --- | --- |")
    rows = [("first run after install (median)", first), ("the run after it (median)", after)]
    reference_s = statistics.median(reference)
    for what, seconds in rows:
        ours_s = statistics.median(seconds)
        print(f"| {what} | {ours_s:.2f} | {reference_s:.1f} | **{reference_s / ours_s:.1f}x** |")
    print(
        f"\nposecloud first runs: {', '.join(f'{s:.2f}' for s in first)} s; the runs after them: "
        f"{', '.join(f'{s:.2f}' for s in after)} s; reference runs: {', '.join(f'{s:.1f}' for s in reference)} s"
    )


if __name__ == "__main__":
    main()
