"""Ensemble Kalman Smoother: posecloud against ensemble-kalman-smoother 4.6.2, same machine, one run.

1. Synthetic: 5 members x 17 keypoints x 20,000 frames (smooth truth + member noise + outlier jumps,
   seeded; core/smoothing/synthetic.py), automatic s. Wall time of each (smoothing alone on loaded
   arrays, and file to file), RMSE against the truth of the ensemble mean, the median, ours and the
   reference, and the SD of z-scores (error / posterior SD).
2. Real ensembles (../shared/data/eks_ensembles): mirror-mouse (5 members, single camera) and fly
   (3 cameras x 3 members): wall time and RMS difference between our and the reference's smoothed x/y.

Needs the reference venv: bash benchmarks/setup_eks_reference.sh. Usage:
    .venv/bin/python benchmarks/eks_benchmark.py [--frames 20000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.labels.dlc_csv import write_pose_csv  # noqa: E402
from core.smoothing.ensemble import ensemble_stats  # noqa: E402
from core.smoothing.io import read_ensemble, smooth_files, smooth_multicam_files  # noqa: E402
from core.smoothing.singlecam import smooth_single_camera  # noqa: E402
from core.smoothing.synthetic import simulate_ensemble  # noqa: E402

REFERENCE_PYTHON = REPO / ".bench-venv-eks" / "bin" / "python"
REFERENCE_RUNNER = REPO / "benchmarks" / "peers" / "eks_reference_run.py"
EKS_DATA = REPO.parent / "shared" / "data" / "eks_ensembles"
FLY_VIEWS = ["Cam-A", "Cam-B", "Cam-C"]


def run_reference(args: list[str]) -> dict:
    """Run the reference runner in its venv; its JSON timings plus the process wall time."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(REFERENCE_PYTHON), str(REFERENCE_RUNNER), *args], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"reference run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def read_reference(path: Path, keypoints: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(frames, keypoints, 2)`` smoothed x/y and posterior variances from a reference CSV."""
    df = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    df.columns = df.columns.droplevel(0)

    def pick(a: str, b: str) -> np.ndarray:
        return np.stack([df[k][[a, b]].to_numpy(float) for k in keypoints], axis=1)

    return pick("x", "y"), pick("x_posterior_var", "y_posterior_var")


def rmse(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared Euclidean error in pixels over frames and keypoints."""
    return float(np.sqrt(np.nanmean(np.sum((estimate - truth) ** 2, axis=-1))))


def rms_difference(a: np.ndarray, b: np.ndarray) -> float:
    """RMS per-coordinate difference in pixels."""
    return float(np.sqrt(np.nanmean((a - b) ** 2)))


def zscore_sd(estimate: np.ndarray, variance: np.ndarray, truth: np.ndarray) -> float:
    return float(np.nanstd((estimate - truth) / np.sqrt(variance)))


def synthetic(n_frames: int, work: Path) -> dict:
    truth, members = simulate_ensemble(n_members=5, n_keypoints=17, n_frames=n_frames, seed=0)
    paths = [write_pose_csv(m, work / f"member{i}.csv") for i, m in enumerate(members)]

    start = time.perf_counter()
    stats = ensemble_stats(members)
    ours = smooth_single_camera(stats)
    ours_core = time.perf_counter() - start
    start = time.perf_counter()
    smooth_files(paths, work / "ours.csv")
    ours_files = time.perf_counter() - start

    ref = run_reference(["single", str(work / "reference.csv"), *map(str, paths)])
    ref_xy, ref_var = read_reference(work / "reference.csv", stats.keypoints)
    ref_files = ref["load_s"] + ref["smooth_s"] + ref["write_s"]
    return {
        "frames": n_frames,
        "members": 5,
        "keypoints": 17,
        "ours_smooth_s": ours_core,
        "ours_file_to_file_s": ours_files,
        "reference_smooth_s": ref["smooth_s"],
        "reference_file_to_file_s": ref_files,
        "reference_process_s": ref["process_s"],
        "speedup_smooth": ref["smooth_s"] / ours_core,
        "speedup_file_to_file": ref_files / ours_files,
        "rmse_px": {
            "ensemble_mean": rmse(np.mean([m.xy for m in members], axis=0), truth),
            "ensemble_median": rmse(stats.median, truth),
            "ours": rmse(ours.xy, truth),
            "reference": rmse(ref_xy, truth),
        },
        "zscore_sd": {
            "ours": zscore_sd(ours.xy, ours.posterior_var, truth),
            "reference": zscore_sd(ref_xy, ref_var, truth),
        },
        "s_median": {"ours": float(np.median(ours.s)), "reference": float(np.median(ref["s"]))},
    }


def mirror_mouse(work: Path) -> dict:
    members = sorted((EKS_DATA / "mirror-mouse").glob("*.csv"))
    start = time.perf_counter()
    smooth_files(members, work / "mouse_ours.csv")
    ours_files = time.perf_counter() - start
    stats = read_ensemble(members)
    start = time.perf_counter()
    ours = smooth_single_camera(stats)
    ours_core = time.perf_counter() - start
    ref = run_reference(["single", str(work / "mouse_ref.csv"), *map(str, members)])
    ref_xy, _ = read_reference(work / "mouse_ref.csv", stats.keypoints)
    return {
        "frames": len(stats.index),
        "keypoints": len(stats.keypoints),
        "ours_smooth_s": ours_core,
        "ours_file_to_file_s": ours_files,
        "reference_smooth_s": ref["smooth_s"],
        "reference_file_to_file_s": ref["load_s"] + ref["smooth_s"] + ref["write_s"],
        "rms_diff_ours_vs_reference_px": rms_difference(ours.xy, ref_xy),
        "rms_diff_median_vs_reference_px": rms_difference(stats.median, ref_xy),
        "rms_diff_median_vs_ours_px": rms_difference(stats.median, ours.xy),
    }


def fly(work: Path) -> dict:
    files = sorted((EKS_DATA / "fly").glob("*.csv"))
    groups = {v: [f for f in files if v in f.name] for v in FLY_VIEWS}
    start = time.perf_counter()
    written = smooth_multicam_files(groups, work / "fly_ours")
    ours_files = time.perf_counter() - start
    ref = run_reference(["multi", str(work / "fly_ref"), ",".join(FLY_VIEWS), *map(str, files)])
    per_view = {}
    for view in FLY_VIEWS:
        stats = read_ensemble(groups[view])
        ours_xy, _ = read_reference(written[view], stats.keypoints)
        ref_xy, _ = read_reference(work / "fly_ref" / f"{view}.csv", stats.keypoints)
        per_view[view] = {
            "rms_diff_ours_vs_reference_px": rms_difference(ours_xy, ref_xy),
            "rms_diff_median_vs_reference_px": rms_difference(stats.median, ref_xy),
            "rms_diff_median_vs_ours_px": rms_difference(stats.median, ours_xy),
        }
    return {
        "ours_file_to_file_s": ours_files,
        "reference_smooth_s": ref["smooth_s"],
        "reference_file_to_file_s": ref["load_s"] + ref["smooth_s"] + ref["write_s"],
        "views": per_view,
    }


def markdown(results: dict) -> str:
    syn = results["synthetic"]
    lines = [
        f"Synthetic: {syn['members']} members x {syn['keypoints']} keypoints x {syn['frames']} frames, automatic s",
        "",
        "| | posecloud | eks 4.6.2 | ratio |",
        "|---|---|---|---|",
        f"| smoothing, arrays in memory (s) | {syn['ours_smooth_s']:.2f} | {syn['reference_smooth_s']:.2f} | "
        f"{syn['speedup_smooth']:.0f}x |",
        f"| file to file (s) | {syn['ours_file_to_file_s']:.2f} | {syn['reference_file_to_file_s']:.2f} | "
        f"{syn['speedup_file_to_file']:.1f}x |",
        f"| RMSE vs truth (px) | {syn['rmse_px']['ours']:.3f} | {syn['rmse_px']['reference']:.3f} | |",
        f"| z-score SD | {syn['zscore_sd']['ours']:.3f} | {syn['zscore_sd']['reference']:.3f} | |",
        "",
        f"Ensemble mean RMSE {syn['rmse_px']['ensemble_mean']:.3f} px, median {syn['rmse_px']['ensemble_median']:.3f} px.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if not REFERENCE_PYTHON.exists():
        sys.exit("reference venv missing: run bash benchmarks/setup_eks_reference.sh")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results = {
            "synthetic": synthetic(args.frames, work),
            "mirror_mouse": mirror_mouse(work),
            "fly": fly(work),
        }
    text = json.dumps(results, indent=2)
    print(text)
    print(markdown(results))
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
