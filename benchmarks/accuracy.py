"""Test-split pixel error on the toy data for ResNet-18, ResNet-50 and the Stacked DenseNet trained
from scratch (no pretrained weights) under the same CPU time budget, and the confidence each gives
held-out keypoints whose label is NaN (absent or occluded) vs. labeled ones.

    .venv/bin/python benchmarks/accuracy.py [--minutes 8] [--size 128] [--out runs/accuracy]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_project, load_train_config  # noqa: E402
from core.training.train import train_model  # noqa: E402

MODELS = {
    "resnet18": {"model_type": "heatmap", "backbone": "resnet18"},
    "resnet50": {"model_type": "heatmap", "backbone": "resnet50"},
    "stacked_densenet": {"model_type": "stacked_densenet"},
    "stacked_densenet+posture_graph": {"model_type": "stacked_densenet", "posture_graph": True},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=8.0, help="training wall-time budget per model")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--out", default=str(ROOT / "runs" / "accuracy"))
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    args = parser.parse_args()
    project = load_project(ROOT / "examples" / "mirror-mouse" / "project.yaml")
    rows = []
    for name in args.models:
        settings = {
            **MODELS[name],
            "pretrained": "none",
            "image_height": args.size,
            "image_width": args.size,
            "batch_size": 8,
            "epochs": 1000,
            "lr_milestones": [10_000],
            "freeze_backbone_epochs": 0,
            "val_every_n_epochs": 5,
            "max_minutes": args.minutes,
            "seed": 0,
        }
        out = Path(args.out) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        start = time.perf_counter()
        result = train_model(project, load_train_config(None, settings), out)
        metrics = (out / "logs" / "metrics.csv").read_text().splitlines()
        epochs = max(int(line.split(",")[0]) for line in metrics[1:] if line.split(",")[0].isdigit())
        test = result.summary["pixel_error"]["test"]
        conf = result.summary["held_out_confidence"]
        rows.append(
            {
                "model": name,
                "minutes": (time.perf_counter() - start) / 60,
                "epochs": epochs + 1,
                "test_mean_px": test["mean"],
                "test_median_px": test["median"],
                "test_p95_px": test["p95"],
                "conf_labeled": conf["labeled_mean"],
                "conf_nan_labeled": conf["nan_labeled_mean"],
                "nan_keypoints": conf["nan_labeled_count"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(
        "| model | budget (min) | epochs | test mean px | median | p95 | conf. labeled | conf. NaN-labeled |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['model']} | {r['minutes']:.1f} | {r['epochs']} | {r['test_mean_px']:.1f} | {r['test_median_px']:.1f} "
            f"| {r['test_p95_px']:.1f} | {r['conf_labeled']:.2f} | {r['conf_nan_labeled']:.2f} (n={r['nan_keypoints']}) |"
        )


if __name__ == "__main__":
    main()
