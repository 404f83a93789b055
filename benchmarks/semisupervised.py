"""Supervised vs. semi-supervised (temporal + Pose PCA + multi-view PCA losses on unlabeled video) vs.
the context model (and context + semi-supervised) on the toy data, the same wall-clock training
budget per run, several seeds each.

Reported per run and per model (mean and SD over seeds): test-split pixel error (summary.json), the
temporal norm of the predicted trajectory on test_vid.mp4 (median over frames x keypoints, and its
95th percentile: jitter and jumps), the median Pose PCA and multi-view PCA errors of that trajectory,
epochs reached, and the median wall time per training step. ResNet-18 at 128x128 from scratch
(pretrained weights cannot be downloaded here). The unlabeled frames come from test_vid.mp4, the
project's only video (as in Lightning Pose's toy setup).

The annealing schedule is scaled to the short run: a short calibration run per model type measures
the time per step, from which the epochs in the budget E are estimated; the unsupervised losses
then start after epoch 0.2 E and reach full weight at 0.53 E (Lightning Pose: 60 and 160 of 300);
"semi-supervised-late" starts them at 0.6 E, full weight at 0.8 E.

    .venv/bin/python benchmarks/semisupervised.py [--minutes 4] [--seeds 0 1 2] [--models ...]

Run it on an otherwise idle machine: on 2 cores another busy process makes torch's threads wait
for each other and per-step times swing by 5-10x.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.benchinfo import mean_sd  # noqa: E402
from core.config import load_project, load_train_config  # noqa: E402
from core.data.labeled_frames import load_project_labels, split_frames  # noqa: E402
from core.predict.metrics import prediction_metrics  # noqa: E402
from core.predict.trained_model import TrainedModel  # noqa: E402
from core.predict.video import predict_video  # noqa: E402
from core.training.semisupervised import fit_training_pcas, rows_of  # noqa: E402
from core.training.train import train_model  # noqa: E402

PROJECT = ROOT / "examples" / "mirror-mouse" / "project.yaml"
SEMI_LOSSES = ["temporal", "pca_singleview", "pca_multiview"]
MODELS = {
    "supervised": {"model_type": "heatmap"},
    "semi-supervised": {"model_type": "heatmap", "losses": SEMI_LOSSES},
    "semi-supervised-late": {"model_type": "heatmap", "losses": SEMI_LOSSES},
    "context": {"model_type": "context"},
    "context+semi-supervised": {"model_type": "context", "losses": SEMI_LOSSES},
}
# When the unsupervised losses start and reach full weight, as fractions of the run: Lightning
# Pose's 60 and 160 of 300 epochs; "late" waits until the supervised fit has mostly converged (the
# test of why the losses cost accuracy on a network trained from scratch in a short run).
SCHEDULES = {"semi-supervised-late": (0.6, 0.8)}
LP_SCHEDULE = (60 / 300, 160 / 300)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        cpu = next(
            line.split(":", 1)[1].strip() for line in names.splitlines() if line.startswith("Model name")
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {gpu}; torch {torch.__version__}, {torch.get_num_threads()} threads"
    )


class StepTimer:
    """Progress hook: the wall time between consecutive training steps (validation passes excluded)."""

    def __init__(self) -> None:
        self.times: list[tuple[int, float]] = []  # (epoch, seconds)
        self.last_step: int | None = None
        self.epochs = 0

    def __call__(self, progress: dict) -> None:
        now = time.perf_counter()
        if "step" not in progress:
            return
        self.epochs = max(self.epochs, progress["epoch"] + 1)
        if self.last_step is not None and progress["step"] == self.last_step + 1:
            self.times.append((progress["epoch"], now - self.last_time))
        # a validation pass reports the same step again: the next step is timed from its end
        self.last_step, self.last_time = progress["step"], now

    def median(self, first_epoch: int = 0, end_epoch: int | None = None) -> float:
        """Median seconds per step in epochs ``first_epoch`` up to ``end_epoch`` (excluded), the run's
        first two steps (warm-up) left out."""
        times = [
            t
            for epoch, t in self.times[2:]
            if epoch >= first_epoch and (end_epoch is None or epoch < end_epoch)
        ]
        return statistics.median(times) if times else float("nan")


def settings(name: str, seed: int, minutes: float, args: argparse.Namespace) -> dict:
    return {
        **MODELS[name],
        "backbone": "resnet18",
        "pretrained": "none",
        "image_height": args.size,
        "image_width": args.size,
        "batch_size": args.batch_size,
        "unlabeled_seq_len": args.seq_len,
        "epochs": 100_000,
        "lr_milestones": [1_000_000],
        "freeze_backbone_epochs": 0,
        "val_every_n_epochs": 5,
        "max_minutes": minutes,
        "seed": seed,
    }


def calibrate(name: str, project, args: argparse.Namespace, out: Path) -> tuple[float, float, int]:
    """Seconds per training step before and once the unsupervised losses count, and the epochs a
    ``--minutes`` run will reach with the model's schedule, from a short run whose losses count from
    its second epoch."""
    timer = StepTimer()
    minutes = max(0.1, min(0.75, args.minutes / 5))
    overrides = {"val_every_n_epochs": 1_000, "anneal_start_epoch": 0, "anneal_increase_per_epoch": 1.0}
    config = load_train_config(None, {**settings(name, 0, minutes, args), **overrides})
    train_model(project, config, out / f"calibrate-{name}", progress=timer)
    labels = load_project_labels(project)[0]
    steps_per_epoch = len(split_frames(labels.index, config.train_fraction, config.val_fraction, 0)["train"])
    steps_per_epoch //= args.batch_size
    supervised, semi = timer.median(0, 1), timer.median(1)
    start = SCHEDULES.get(name, LP_SCHEDULE)[0]
    epoch_seconds = steps_per_epoch * (start * supervised + (1 - start) * semi)
    return supervised, semi, max(1, int(args.minutes * 60 / epoch_seconds))


def annealing(name: str, epochs: int) -> dict:
    start_fraction, full_fraction = SCHEDULES.get(name, LP_SCHEDULE)
    start = int(start_fraction * epochs)
    ramp = max(1.0, full_fraction * epochs - start)
    return {"anneal_start_epoch": start, "anneal_increase_per_epoch": min(1.0, 1.0 / ramp)}


def video_metrics(model_dir: Path, project, seed: int, config) -> dict:
    """Median temporal norm (and p95) and median PCA errors of the prediction of test_vid.mp4."""
    model = TrainedModel.load(model_dir)
    video = project.data_dir / project.video_dir / "test_vid.mp4"
    table, _ = predict_video(model, video, batch_size=32)
    labels = load_project_labels(project)[0]
    train_rows = split_frames(labels.index, config.train_fraction, config.val_fraction, seed)["train"]
    pcas = fit_training_pcas(project, [rows_of(labels, train_rows)], SEMI_LOSSES[1:], "the training split")
    metrics = prediction_metrics(project, [table], {f"{k}_error": v for k, v in pcas.items()})[0]
    norm = metrics["temporal_norm"].to_numpy()
    return {
        "temporal_norm_median": float(np.nanmedian(norm)),
        "temporal_norm_p95": float(np.nanpercentile(norm, 95)),
        **{
            f"{k}_median": float(np.nanmedian(metrics[f"{k}_error"].to_numpy()))
            for k in SEMI_LOSSES[1:]
            if f"{k}_error" in metrics
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="training wall-time budget per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=8, help="unlabeled frames per step")
    parser.add_argument("--out", default=str(ROOT / "runs" / "semisupervised"))
    args = parser.parse_args()
    project = load_project(PROJECT)
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    print(f"machine: {machine()}", flush=True)

    schedules = {}
    for name in args.models:
        if "losses" in MODELS[name]:
            supervised, semi, epochs = calibrate(name, project, args, out)
            schedules[name] = annealing(name, epochs)
            calibration = {"s_per_step_before": supervised, "s_per_step_with_losses": semi}
            print(
                json.dumps({"calibration": name, **calibration, "epochs_expected": epochs, **schedules[name]})
            )

    rows = []
    for seed in args.seeds:
        for name in args.models:
            config = load_train_config(
                None, {**settings(name, seed, args.minutes, args), **schedules.get(name, {})}
            )
            timer = StepTimer()
            start = time.perf_counter()
            result = train_model(project, config, out / f"{name}-seed{seed}", progress=timer)
            minutes = (time.perf_counter() - start) / 60
            test = result.summary["pixel_error"]["test"]
            rows.append(
                {
                    "model": name,
                    "seed": seed,
                    "minutes_total": minutes,
                    "epochs": timer.epochs,
                    "s_per_step": timer.median(),
                    "s_per_step_with_losses": timer.median(schedules[name]["anneal_start_epoch"] + 1)
                    if name in schedules
                    else float("nan"),
                    "test_mean_px": test["mean"],
                    "test_median_px": test["median"],
                    **video_metrics(result.model_dir, project, seed, config),
                }
            )
            print(json.dumps(rows[-1]), flush=True)

    print()
    print(f"Machine: {machine()}. Budget: {args.minutes:g} min of training per run, seeds {args.seeds}, ")
    print(
        f"ResNet-18 at {args.size}x{args.size} from scratch, labeled batch {args.batch_size}, "
        f"{args.seq_len} unlabeled frames per step.\n"
    )
    print(
        "| model | epochs | s / step | s / step, losses on | test mean px | test median px | "
        "temporal norm median px | temporal norm p95 px | Pose PCA err median px | multi-view PCA err median px |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        runs = [r for r in rows if r["model"] == name]
        cells = [
            mean_sd([r.get(k, float("nan")) for r in runs], 0 if k == "epochs" else 2)
            for k in (
                "epochs",
                "s_per_step",
                "s_per_step_with_losses",
                "test_mean_px",
                "test_median_px",
                "temporal_norm_median",
                "temporal_norm_p95",
                "pca_singleview_median",
                "pca_multiview_median",
            )
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
