"""Ensemble Kalman Smoother: posecloud against ensemble-kalman-smoother 4.6.2, same machine, one run.

0. Families (benchmarks/eks_families.py, a generator independent of core/smoothing/synthetic.py):
   every single-camera family (3,000 frames x 6 keypoints) and every multi-camera family (2,000
   frames x 6 keypoints, 2-4 pinhole cameras): RMSE against the truth of the ensemble median,
   ours and the reference, the z-score SD of ours and the reference, wall time in memory (our
   statistics + smoothing; the reference's second call) and file to file (read, smooth, write;
   the reference's first call). Per family also the smoothing parameter's diagnosis: s chosen by
   the marginal likelihood (the old criterion, which the reference also uses) and by leave-one-out
   error (ours) on the same observations, and the RMSE of each.
1. Synthetic: 5 members x 17 keypoints x 20,000 frames (smooth truth + member noise + outlier jumps,
   seeded; core/smoothing/synthetic.py), automatic s. Wall time of each: the smoothing alone on
   loaded arrays, called twice on the same arrays (the reference's first call in its fresh process
   includes JAX's tracing and XLA compilation, which its runner also sums from JAX's own compile
   events; the second call is the compiled smoothing), and file to file (read, first smoothing call,
   write: what a one-off run costs). RMSE against the truth of the ensemble mean, the median, ours
   and the reference, and the SD of z-scores (error / posterior SD).
2. Real ensembles (../shared/data/eks_ensembles): mirror-mouse (5 members, single camera) and fly
   (3 cameras x 3 members): wall time and RMS difference between our and the reference's smoothed x/y.

Prints the machine and the load average at the start and end, the results as JSON, then the
BENCHMARKS.md tables.

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

from benchinfo import LoadAverages, machine, package_version  # noqa: E402
from eks_families import CAMERA_FAMILIES, FAMILIES, simulate, simulate_cameras  # noqa: E402

from core.labels.dlc_csv import write_pose_csv  # noqa: E402
from core.smoothing.ensemble import ensemble_stats  # noqa: E402
from core.smoothing.fit import LOG_TOLERANCE, fit_independent, golden_section_max  # noqa: E402
from core.smoothing.io import (  # noqa: E402
    read_ensemble,
    read_smoothed,
    smooth_multicam_files,
    smoothed_table,
    write_smoothed,
)
from core.smoothing.kalman import diffuse_prior, loglik_independent, smooth_independent  # noqa: E402
from core.smoothing.multicam import smooth_multi_camera  # noqa: E402
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


def timed(run):
    """``(result, seconds)`` of ``run()``."""
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def ours_file_to_file(paths: list[Path], out: Path) -> dict:
    """What ``smooth_files`` does, phase by phase: read the members, smooth, write the CSVs."""
    stats, read_s = timed(lambda: read_ensemble(paths))
    smoothed, smooth_s = timed(lambda: smooth_single_camera(stats))
    _, write_s = timed(lambda: write_smoothed(smoothed_table(stats, smoothed), out))
    return {
        "read_s": read_s,
        "smooth_s": smooth_s,
        "write_s": write_s,
        "total_s": read_s + smooth_s + write_s,
    }


def ours_fresh_process(paths: list[Path], out: Path) -> dict:
    """``ours_file_to_file`` in a new Python process (its imports not timed), as the reference's
    first call is: what a one-off ``posecloud smooth`` pays, every array allocated for the first time."""
    done = subprocess.run(
        [sys.executable, __file__, "--file-to-file", str(out), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def reference_file_to_file(ref: dict) -> float:
    """Read + first smoothing call + write, as a one-off run of the reference pays them."""
    return ref["load_s"] + ref["smooth_s"] + ref["write_s"]


def synthetic(n_frames: int, work: Path) -> dict:
    truth, members = simulate_ensemble(n_members=5, n_keypoints=17, n_frames=n_frames, seed=0)
    paths = [write_pose_csv(m, work / f"member{i}.csv") for i, m in enumerate(members)]

    # arrays in memory, twice on the same arrays, as the reference's runner does
    def smooth_arrays():
        stats = ensemble_stats(members)
        return stats, smooth_single_camera(stats)

    (stats, ours), ours_first = timed(smooth_arrays)
    _, ours_second = timed(smooth_arrays)
    files = ours_file_to_file(paths, work / "ours.csv")
    fresh = ours_fresh_process(paths, work / "ours_fresh.csv")

    ref = run_reference(["single", str(work / "reference.csv"), *map(str, paths)])
    ref_xy, ref_var = read_reference(work / "reference.csv", stats.keypoints)
    ref_files = reference_file_to_file(ref)
    return {
        "frames": n_frames,
        "members": 5,
        "keypoints": 17,
        "ours_smooth_first_s": ours_first,
        "ours_smooth_second_s": ours_second,
        "ours_file_to_file": files,
        "ours_file_to_file_fresh_process": fresh,
        "reference_jax": ref["jax"],
        "reference_smooth_first_s": ref["smooth_s"],
        "reference_smooth_second_s": ref["smooth_second_s"],
        "reference_jax_events_first": ref["jax_events_first"],
        "reference_jax_events_second": ref["jax_events_second"],
        "reference_load_s": ref["load_s"],
        "reference_write_s": ref["write_s"],
        "reference_file_to_file_s": ref_files,
        "reference_process_s": ref["process_s"],
        "ratio_first_call": ref["smooth_s"] / ours_first,
        "ratio_second_call": ref["smooth_second_s"] / ours_second,
        "reference_second_minus_xla_s": ref["smooth_second_s"]
        - ref["jax_events_second"].get("xla_compile_s", 0.0),
        "ratio_second_minus_xla": (
            ref["smooth_second_s"] - ref["jax_events_second"].get("xla_compile_s", 0.0)
        )
        / ours_second,
        "ratio_file_to_file": ref_files / files["total_s"],
        "ratio_file_to_file_fresh_process": ref_files / fresh["total_s"],
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


def s_diagnosis(stats, truth: np.ndarray) -> dict:
    """Per keypoint, on the members' median with its spread-based variance (the old observation
    model): s by marginal likelihood and by leave-one-out error, and the RMSE of smoothing with each."""
    out = {"s_likelihood": [], "s_loo": [], "rmse_likelihood": [], "rmse_loo": []}
    for k in range(stats.median.shape[1]):
        y, r = stats.median[:, k], stats.noise[:, k]
        m0, p0 = diffuse_prior(y, r)
        s_loo = float(fit_independent(y[:, None], r[:, None])[0])
        scale = float(np.nanmedian(r))

        def loglik(log_rel, y=y, r=r, m0=m0, p0=p0, scale=scale):
            return np.array(
                [loglik_independent(y, r, np.full(2, scale * np.exp(v)), m0, p0).sum() for v in log_rel]
            )

        s_ml = scale * float(
            np.exp(golden_section_max(loglik, np.array([-9.2]), np.array([9.2]), LOG_TOLERANCE)[0])
        )
        for name, value in (("likelihood", s_ml), ("loo", s_loo)):
            mean = smooth_independent(y, r, np.full(2, value), m0, p0)[0]
            out[f"s_{name}"].append(value)
            out[f"rmse_{name}"].append(rmse(mean, truth[:, k]))
    return out


def family_single(fam, n_frames: int, work: Path) -> dict:
    """One single-camera family: ours and the reference on the same member files."""
    truth, members = simulate(fam, n_frames, seed=0)
    folder = work / fam.name
    paths = [write_pose_csv(m, folder / f"member{i}.csv") for i, m in enumerate(members)]

    def in_memory():
        stats = ensemble_stats(members)
        return stats, smooth_single_camera(stats)

    (stats, ours), ours_memory = timed(in_memory)
    files = ours_file_to_file(paths, folder / "ours.csv")
    ref = run_reference(["single", str(folder / "reference.csv"), *map(str, paths)])
    ref_xy, ref_var = read_reference(folder / "reference.csv", stats.keypoints)
    return {
        "family": fam.name,
        "members": fam.members,
        "keypoints": len(stats.keypoints),
        "frames": n_frames,
        "outlier_heavy": fam.outlier_heavy,
        "rmse_px": {
            "ensemble_median": rmse(stats.median, truth),
            "ours": rmse(ours.xy, truth),
            "reference": rmse(ref_xy, truth),
        },
        "zscore_sd": {
            "ours": zscore_sd(ours.xy, ours.posterior_var, truth),
            "reference": zscore_sd(ref_xy, ref_var, truth),
        },
        "ours_nan": int(np.isnan(ours.xy).sum()),
        "ours_in_memory_s": ours_memory,
        "ours_file_to_file_s": files["total_s"],
        "reference_in_memory_s": ref["smooth_second_s"],
        "reference_file_to_file_s": reference_file_to_file(ref),
        "s_per_keypoint": {"ours": [float(v) for v in ours.s], "reference": [float(v) for v in ref["s"]]},
        "s_diagnosis": s_diagnosis(stats, truth),
    }


def family_cameras(cam, n_frames: int, work: Path) -> dict:
    """One multi-camera family: ours and the reference (no calibration, its defaults) on the same files."""
    views = simulate_cameras(cam, n_frames, seed=0)
    folder = work / cam.name
    groups = {
        name: [write_pose_csv(m, folder / f"{name}_member{i}.csv") for i, m in enumerate(members)]
        for name, (_, members) in views.items()
    }
    stats = {name: ensemble_stats(members) for name, (_, members) in views.items()}
    result, ours_memory = timed(lambda: smooth_multi_camera(stats))
    _, ours_files = timed(lambda: smooth_multicam_files(groups, folder / "ours"))
    ref = run_reference(
        ["multi", str(folder / "ref"), ",".join(views), *[str(p) for paths in groups.values() for p in paths]]
    )
    truth = np.stack([t for t, _ in views.values()])
    ref_xy, ref_var = map(
        np.stack,
        zip(*[read_reference(folder / "ref" / f"{n}.csv", stats[n].keypoints) for n in views], strict=True),
    )
    xy = np.stack([result.views[n].xy for n in views])
    var = np.stack([result.views[n].posterior_var for n in views])
    return {
        "family": cam.name,
        "cameras": cam.cameras,
        "members": cam.view.members,
        "keypoints": len(stats["cam0"].keypoints),
        "frames": n_frames,
        "outlier_heavy": cam.view.outlier_heavy,
        "rmse_px": {
            "ensemble_median": rmse(np.stack([stats[n].median for n in views]), truth),
            "ours": rmse(xy, truth),
            "reference": rmse(ref_xy, truth),
        },
        "zscore_sd": {"ours": zscore_sd(xy, var, truth), "reference": zscore_sd(ref_xy, ref_var, truth)},
        "ours_nan": int(np.isnan(xy).sum()),
        "ours_in_memory_s": ours_memory,
        "ours_file_to_file_s": ours_files,
        "reference_in_memory_s": ref["smooth_second_s"],
        "reference_file_to_file_s": reference_file_to_file(ref),
    }


def mirror_mouse(work: Path) -> dict:
    members = sorted((EKS_DATA / "mirror-mouse").glob("*.csv"))
    files = ours_file_to_file(members, work / "mouse_ours.csv")
    stats = read_ensemble(members)
    ours, ours_second = timed(lambda: smooth_single_camera(stats))
    ref = run_reference(["single", str(work / "mouse_ref.csv"), *map(str, members)])
    ref_xy, _ = read_reference(work / "mouse_ref.csv", stats.keypoints)
    return {
        "members": len(members),
        "frames": len(stats.index),
        "keypoints": len(stats.keypoints),
        "ours_smooth_second_s": ours_second,
        "ours_file_to_file_s": files["total_s"],
        "reference_smooth_first_s": ref["smooth_s"],
        "reference_smooth_second_s": ref["smooth_second_s"],
        "reference_file_to_file_s": reference_file_to_file(ref),
        "rms_diff_ours_vs_reference_px": rms_difference(ours.xy, ref_xy),
        "rms_diff_median_vs_reference_px": rms_difference(stats.median, ref_xy),
        "rms_diff_median_vs_ours_px": rms_difference(stats.median, ours.xy),
    }


def fly(work: Path) -> dict:
    files = sorted((EKS_DATA / "fly").glob("*.csv"))
    groups = {v: [f for f in files if v in f.name] for v in FLY_VIEWS}
    written, ours_files = timed(lambda: smooth_multicam_files(groups, work / "fly_ours"))
    ref = run_reference(["multi", str(work / "fly_ref"), ",".join(FLY_VIEWS), *map(str, files)])
    per_view = {}
    for view in FLY_VIEWS:
        stats = read_ensemble(groups[view])
        ours_xy = read_smoothed(written[view]).xy
        ref_xy, _ = read_reference(work / "fly_ref" / f"{view}.csv", stats.keypoints)
        per_view[view] = {
            "rms_diff_ours_vs_reference_px": rms_difference(ours_xy, ref_xy),
            "rms_diff_median_vs_reference_px": rms_difference(stats.median, ref_xy),
            "rms_diff_median_vs_ours_px": rms_difference(stats.median, ours_xy),
        }
    first = read_ensemble(groups[FLY_VIEWS[0]])
    return {
        "cameras": len(FLY_VIEWS),
        "members_per_camera": len(groups[FLY_VIEWS[0]]),
        "frames": len(first.index),
        "keypoints": len(first.keypoints),
        "ours_file_to_file_s": ours_files,
        "reference_smooth_first_s": ref["smooth_s"],
        "reference_smooth_second_s": ref["smooth_second_s"],
        "reference_file_to_file_s": reference_file_to_file(ref),
        "views": per_view,
    }


def jax_events(events: dict) -> str:
    """One call's JAX compile events in words (nested tracing can count twice, so no sum)."""
    return (
        f"tracing {events.get('trace_s', 0):.2f} s, lowering {events.get('lower_s', 0):.2f} s, XLA compilation "
        f"{events.get('xla_compile_s', 0):.2f} s ({events.get('xla_compile_count', 0):.0f} compilations)"
    )


def family_table(rows: list[dict], eks: str, cameras: bool) -> list[str]:
    """Markdown rows: one family per row, ours against the reference and the median."""
    lines = [
        f"| family | ensemble | median RMSE | ours RMSE | {eks} RMSE | ours / eks | ours z-score SD | eks z-score SD "
        f"| in memory, ours / eks (s) | file to file, ours / eks (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        r, z = row["rmse_px"], row["zscore_sd"]
        shape = f"{row['members']} x {row['keypoints']} x {row['frames']:,}"
        if cameras:
            shape = f"{row['cameras']} cameras x {shape}"
        name = row["family"] + (" (outlier-heavy)" if row["outlier_heavy"] else "")
        lines.append(
            f"| {name} | {shape} | {r['ensemble_median']:.2f} | **{r['ours']:.2f}** | {r['reference']:.2f} "
            f"| {r['ours'] / r['reference']:.2f} | {z['ours']:.2f} | {z['reference']:.2f} "
            f"| {row['ours_in_memory_s']:.2f} / {row['reference_in_memory_s']:.1f} "
            f"| {row['ours_file_to_file_s']:.2f} / {row['reference_file_to_file_s']:.1f} |"
        )
    return lines


def diagnosis_table(rows: list[dict]) -> list[str]:
    lines = [
        "| family | s by marginal likelihood (median over keypoints) | s by leave-one-out error | RMSE with the first | RMSE with the second |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        d = row["s_diagnosis"]
        lines.append(
            f"| {row['family']} | {np.median(d['s_likelihood']):.3g} | {np.median(d['s_loo']):.3g} "
            f"| {np.sqrt(np.mean(np.square(d['rmse_likelihood']))):.2f} | {np.sqrt(np.mean(np.square(d['rmse_loo']))):.2f} |"
        )
    return lines


def markdown(results: dict) -> str:
    syn, mouse, fly_ = results["synthetic"], results["mirror_mouse"], results["fly"]
    eks = f"eks {results['reference_version']}"
    families = [
        "Single camera (RMSE in px against the truth; z-score = error / posterior SD, 1 is calibrated):",
        "",
        *family_table(results["families"], eks, cameras=False),
        "",
        "Multi-camera (every view's x and y pooled):",
        "",
        *family_table(results["camera_families"], eks, cameras=True),
        "",
        "The smoothing parameter, on the members' median with its spread-based variance (the old "
        "observation model), chosen both ways:",
        "",
        *diagnosis_table(results["families"]),
        "",
    ]
    ours_f, fresh = syn["ours_file_to_file"], syn["ours_file_to_file_fresh_process"]
    ev1, ev2 = syn["reference_jax_events_first"], syn["reference_jax_events_second"]
    lines = [
        *families,
        f"Synthetic: {syn['members']} members x {syn['keypoints']} keypoints x {syn['frames']:,} frames, "
        "automatic s.",
        "",
        f"| | posecloud | {eks} | ratio |",
        "| --- | --- | --- | --- |",
        f"| smoothing, 1st call in the process (s; the reference's includes all its JAX compilation) | "
        f"{syn['ours_smooth_first_s']:.2f} | {syn['reference_smooth_first_s']:.2f} | "
        f"**{syn['ratio_first_call']:.0f}x** |",
        f"| smoothing, 2nd call on the same arrays (s; the reference re-jits "
        f"{ev2.get('xla_compile_count', 0):.0f} of its functions) | {syn['ours_smooth_second_s']:.2f} | "
        f"{syn['reference_smooth_second_s']:.2f} | **{syn['ratio_second_call']:.0f}x** |",
        f"| smoothing, 2nd call minus its XLA compilation (s) | "
        f"{syn['ours_smooth_second_s']:.2f} | {syn['reference_second_minus_xla_s']:.2f} | "
        f"{syn['ratio_second_minus_xla']:.0f}x |",
        f"| file to file, CSV in and out, first call (s; ours after the calls above) | {ours_f['total_s']:.2f} | "
        f"{syn['reference_file_to_file_s']:.2f} | **{syn['ratio_file_to_file']:.1f}x** |",
        f"| file to file in a new process, imports not timed (s; the reference's is) | "
        f"{fresh['total_s']:.2f} | {syn['reference_file_to_file_s']:.2f} | "
        f"**{syn['ratio_file_to_file_fresh_process']:.1f}x** |",
        f"| of which reading / writing the CSVs (s) | {ours_f['read_s']:.2f} / {ours_f['write_s']:.2f} | "
        f"{syn['reference_load_s']:.2f} / {syn['reference_write_s']:.2f} | |",
        f"| RMSE vs. truth (px) | {syn['rmse_px']['ours']:.2f} | {syn['rmse_px']['reference']:.2f} | |",
        f"| z-score SD (error / posterior SD; 1 is calibrated) | {syn['zscore_sd']['ours']:.2f} | "
        f"{syn['zscore_sd']['reference']:.2f} | |",
        "",
        f"The reference's JAX compile events (`jax.monitoring`), first call: {jax_events(ev1)}; second call: "
        f"{jax_events(ev2)}.",
        f"Ensemble mean RMSE {syn['rmse_px']['ensemble_mean']:.2f} px, ensemble median "
        f"{syn['rmse_px']['ensemble_median']:.2f} px (EKS / median: ours "
        f"{syn['rmse_px']['ours'] / syn['rmse_px']['ensemble_median']:.2f}, reference "
        f"{syn['rmse_px']['reference'] / syn['rmse_px']['ensemble_median']:.2f}). Median s: ours "
        f"{syn['s_median']['ours']:.3g}, reference {syn['s_median']['reference']:.3g}.",
        "",
        "Real ensembles (`../shared/data/eks_ensembles`), same run:",
        "",
        f"| data | posecloud, file to file (s) | {eks}, file to file (s) | {eks}, smoothing 1st / 2nd call (s) "
        f"| RMS difference ours vs. eks (px) | median vs. eks (px) |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| mirror-mouse, {mouse['members']} members, {mouse['frames']:,} frames x {mouse['keypoints']} keypoints "
        f"| {mouse['ours_file_to_file_s']:.2f} | {mouse['reference_file_to_file_s']:.2f} "
        f"| {mouse['reference_smooth_first_s']:.2f} / {mouse['reference_smooth_second_s']:.2f} "
        f"| {mouse['rms_diff_ours_vs_reference_px']:.2f} | {mouse['rms_diff_median_vs_reference_px']:.2f} |",
    ]
    for i, (view, v) in enumerate(fly_["views"].items()):
        if i == 0:
            lines.append(
                f"| fly, {fly_['cameras']} cameras x {fly_['members_per_camera']} members, {fly_['frames']:,} "
                f"frames x {fly_['keypoints']} keypoints, {view} | {fly_['ours_file_to_file_s']:.2f} (all views) "
                f"| {fly_['reference_file_to_file_s']:.2f} (all views) "
                f"| {fly_['reference_smooth_first_s']:.2f} / {fly_['reference_smooth_second_s']:.2f} "
                f"| {v['rms_diff_ours_vs_reference_px']:.2f} | {v['rms_diff_median_vs_reference_px']:.2f} |"
            )
        else:
            lines.append(
                f"| fly, {view} | | | | {v['rms_diff_ours_vs_reference_px']:.2f} "
                f"| {v['rms_diff_median_vs_reference_px']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--family-frames", type=int, default=3000)
    parser.add_argument("--camera-frames", type=int, default=2000)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--file-to-file",
        nargs="+",
        metavar=("OUT", "MEMBER"),
        help="only time ours file to file (OUT from MEMBER CSVs) and print the JSON (ours_fresh_process)",
    )
    args = parser.parse_args()
    if args.file_to_file:
        out, *members = map(Path, args.file_to_file)
        print(json.dumps(ours_file_to_file(members, out)))
        return
    if not REFERENCE_PYTHON.exists():
        sys.exit("reference venv missing: run bash benchmarks/setup_eks_reference.sh")
    load = LoadAverages()
    reference_version = subprocess.run(
        [
            str(REFERENCE_PYTHON),
            "-c",
            "from importlib.metadata import version; print(version('ensemble-kalman-smoother'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results = {
            "machine": machine(),
            "numpy": package_version("numpy"),
            "scipy": package_version("scipy"),
            "numba": package_version("numba"),
            "reference_version": reference_version,
            "families": [family_single(f, args.family_frames, work) for f in FAMILIES],
            "camera_families": [family_cameras(c, args.camera_frames, work) for c in CAMERA_FAMILIES],
            "synthetic": synthetic(args.frames, work),
            "mirror_mouse": mirror_mouse(work),
            "fly": fly(work),
        }
    results["load_average"] = load.end()
    text = json.dumps(results, indent=2)
    print(text)
    print()
    print(
        f"Machine: {results['machine']}; numpy {results['numpy']}, scipy {results['scipy']}, "
        f"numba {results['numba']}; "
        f"reference: ensemble-kalman-smoother {reference_version}, JAX {results['synthetic']['reference_jax']}; "
        f"{results['load_average']}."
    )
    print()
    print(markdown(results))
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
