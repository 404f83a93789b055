"""CPU training speed of the README's small recipe (ResNet-18 heatmap at 128x128) and of DeepPoseKit's
Stacked DenseNet at 128x128, as it was ("before": float32, the network in NCHW memory layout, Adam
step by step, each labeled image decoded every time it is used), and with what changed since: the
network channels-last, ``cpu_precision: bf16`` (what ``auto`` picks on CPUs with bf16 instructions),
Adam fused (one pass per parameter), the decoded images kept in memory and the elastic deformation's
field drawn on a coarse grid, its keypoints moved by the field's inverse
(``core.data.augment.ElasticTransform``, in place of albumentations' own). Per variant and seed:
training steps per second (steps over the fit's wall time, validation included) and the test-split
pixel error, so a speed-up is read next to what it does to accuracy.

    .venv/bin/python benchmarks/cpu_training.py [--epochs 40] [--seeds 0 1 2]

"Before" is reproduced in this process by training the network in NCHW layout with Adam step by
step, decoding each labeled image every time it is used, with albumentations' elastic deformation
(``core.training.module.MEMORY_FORMAT``, ``FUSED_ADAM``, ``core.data.labeled_frames.DECODED_BYTES``,
``core.data.augment.ElasticTransform``), so all run on the same code and
machine in one run. Run it on an otherwise idle machine: on 2 cores another busy process makes
torch's threads wait for each other.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import albumentations as A  # noqa: E402
import torch  # noqa: E402

from benchmarks.benchinfo import LoadAverages, machine, mean_sd  # noqa: E402
from core.config import load_project, load_train_config  # noqa: E402
from core.cpu import cpu_has_bf16  # noqa: E402
from core.data import augment, labeled_frames  # noqa: E402
from core.training import module  # noqa: E402
from core.training.train import train_model  # noqa: E402

PROJECT = ROOT / "examples" / "mirror-mouse" / "project.yaml"
RECIPE = ROOT / "examples" / "mirror-mouse" / "train-small.yaml"
KEPT_BYTES = labeled_frames.DECODED_BYTES
ELASTIC = {True: augment.ElasticTransform, False: A.ElasticTransform}
MODELS = {
    "ResNet-18 heatmap 128 (small recipe)": {},
    "Stacked DenseNet 128": {"model_type": "stacked_densenet"},
}
VARIANTS = {  # what changed since "before", each as it is set for the run
    "before (fp32, NCHW, step-by-step Adam, images read each time)": {
        "channels_last": False,
        "precision": "32",
        "fused_adam": False,
        "keep_decoded": False,
        "exact_elastic": False,
    },
    "bf16, channels-last (the last stop's default)": {
        "channels_last": True,
        "precision": "bf16",
        "fused_adam": False,
        "keep_decoded": False,
        "exact_elastic": False,
    },
    "fp32, channels-last, fused Adam, decoded images kept": {
        "channels_last": True,
        "precision": "32",
        "fused_adam": True,
        "keep_decoded": True,
        "exact_elastic": False,
    },
    "bf16, channels-last, fused Adam, decoded images kept": {
        "channels_last": True,
        "precision": "bf16",
        "fused_adam": True,
        "keep_decoded": True,
        "exact_elastic": False,
    },
    "bf16, channels-last, fused Adam, decoded images kept, elastic field drawn coarse, its keypoints by the field's inverse (today's)": {
        "channels_last": True,
        "precision": "bf16",
        "fused_adam": True,
        "keep_decoded": True,
        "exact_elastic": True,
    },
}


def run_one(model: dict, variant: dict, seed: int, epochs: int, out: Path) -> dict:
    module.MEMORY_FORMAT = torch.channels_last if variant["channels_last"] else torch.contiguous_format
    module.FUSED_ADAM = variant["fused_adam"]
    labeled_frames.DECODED_BYTES = KEPT_BYTES if variant["keep_decoded"] else 0
    augment.ElasticTransform = ELASTIC[variant["exact_elastic"]]
    train = load_train_config(
        RECIPE,
        {
            **model,
            "pretrained": "none",
            "epochs": epochs,
            "seed": seed,
            "cpu_precision": variant["precision"],
        },
    )
    project = load_project(PROJECT)
    start = time.perf_counter()
    result = train_model(project, train, out)
    seconds = time.perf_counter() - start
    with (out / "logs" / "metrics.csv").open() as f:
        steps = sum(1 for row in csv.DictReader(f) if row.get("train_loss"))  # one row per step
    return {
        "steps_per_s": steps / seconds,
        "seconds": seconds,
        "steps": steps,
        "test_px": result.summary["pixel_error"]["test"]["mean"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=40, help="epochs per training (the recipe: 40)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        choices=list(VARIANTS),
        help="the first is the baseline",
    )
    args = parser.parse_args()
    load = LoadAverages()
    rows = []
    with tempfile.TemporaryDirectory(prefix="posecloud-cpu-training-") as scratch:
        for name in args.models:
            for variant in args.variants:
                runs = []
                for seed in args.seeds:
                    out = Path(scratch) / f"{len(rows)}-{seed}"
                    runs.append(run_one(MODELS[name], VARIANTS[variant], seed, args.epochs, out))
                    print(f"{name} | {variant} | seed {seed}: {runs[-1]}", flush=True)
                rows.append((name, variant, runs))
    load.end()
    print(f"\n{machine(torch.get_num_threads())}; CPU bf16 instructions: {cpu_has_bf16()}")
    print(f"{load.line()}; {args.epochs} epochs, seeds {args.seeds}\n")
    print("| model | variant | steps/s | speed-up | test pixel error (px) |")
    print("|---|---|---|---|---|")
    for name, variant, runs in rows:
        base = next(r for n, v, r in rows if n == name and v == args.variants[0])
        speed = [r["steps_per_s"] for r in runs]
        ratio = statistics.mean(speed) / statistics.mean(r["steps_per_s"] for r in base)
        tests = [r["test_px"] for r in runs]
        print(f"| {name} | {variant} | {mean_sd(speed, 2)} | {ratio:.2f}x | {mean_sd(tests, 1)} |")


if __name__ == "__main__":
    main()
