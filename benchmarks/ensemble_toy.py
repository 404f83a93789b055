"""Ensemble on the toy data: 3 members (the small CPU config, seeds 0/1/2) predict test_vid.mp4;
the EKS combines them. Reports the temporal norm (mean frame-to-frame movement, px) of each member,
their median and the EKS output, and each member's test-split pixel error.

    .venv/bin/python benchmarks/ensemble_toy.py [--out runs/ensemble-toy] [--reuse]

The toy dataset's labeled frames are single images, not frames of test_vid.mp4, so the smoother
(which needs consecutive frames) cannot be scored on them; pixel error is reported for the members.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_project, load_train_config  # noqa: E402
from core.labels.dlc_csv import read_pose_csv  # noqa: E402
from core.predict.pipeline import predict_with_ensemble_session  # noqa: E402
from core.smoothing.io import read_smoothed  # noqa: E402
from core.training.train import train_model  # noqa: E402

EXAMPLE = ROOT / "examples" / "mirror-mouse"
VIDEO = ROOT.parent / "shared" / "data" / "mirror-mouse-example" / "videos" / "test_vid.mp4"


def temporal_norm(xy: np.ndarray) -> float:
    """Mean distance between consecutive frames' keypoints, ``xy (frames, keypoints, 2)``."""
    return float(np.nanmean(np.linalg.norm(np.diff(xy, axis=0), axis=-1)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "runs" / "ensemble-toy"))
    parser.add_argument("--reuse", action="store_true", help="use members already trained in --out")
    args = parser.parse_args()
    out = Path(args.out)
    project = load_project(EXAMPLE / "project.yaml")
    train = load_train_config(EXAMPLE / "train-small.yaml", {"pretrained": "none"})
    members, errors = [], {}
    for seed in (0, 1, 2):
        member = out / f"seed{seed}"
        if not (args.reuse and (member / "summary.json").is_file()):
            start = time.perf_counter()
            train_model(project, train.model_copy(update={"seed": seed}), member)
            print(f"trained {member.name} in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
        errors[member.name] = json.loads((member / "summary.json").read_text())["pixel_error"]["test"]["mean"]
        members.append(member)
    start = time.perf_counter()
    (eks,) = predict_with_ensemble_session(members, [VIDEO], out / "predictions")
    seconds = time.perf_counter() - start
    smoothed = read_smoothed(eks)  # the EKS CSV and its variances file (x_ens_median, y_ens_median, ...)
    median = smoothed.values[
        ..., [smoothed.fields.index("x_ens_median"), smoothed.fields.index("y_ens_median")]
    ]
    print(f"ensemble prediction + EKS + metrics of {len(smoothed.index)} frames: {seconds:.1f} s")
    print("| trajectory | temporal norm (px/frame) | test pixel error (px) |")
    print("| --- | --- | --- |")
    for member in members:
        table = read_pose_csv(out / "predictions" / member.name / f"{VIDEO.stem}.csv")
        print(f"| member {member.name} | {temporal_norm(table.xy):.2f} | {errors[member.name]:.2f} |")
    print(f"| ensemble median | {temporal_norm(median):.2f} | - |")
    print(f"| EKS | {temporal_norm(smoothed.xy):.2f} | - |")


if __name__ == "__main__":
    main()
