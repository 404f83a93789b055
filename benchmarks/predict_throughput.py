"""Prediction throughput on the toy video (994 frames, 396x406), CPU, ResNet-18 at 256x256,
decoding + network + keypoint decoding + CSV included, against Lightning Pose's prediction path
with the same backbone, input size and batch, on the same machine in one run.

    .venv/bin/python benchmarks/predict_throughput.py [--batch 16] [--skip-peer]

Needs the peer venv from benchmarks/setup_lightning_pose.sh (run it first; it is idempotent).
Both models have random weights: throughput does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_project, load_train_config  # noqa: E402
from core.labels.dlc_csv import write_pose_csv  # noqa: E402
from core.models.factory import build_network  # noqa: E402
from core.predict.trained_model import TrainedModel  # noqa: E402
from core.predict.video import predict_video  # noqa: E402

VIDEO = ROOT.parent / "shared" / "data" / "mirror-mouse-example" / "videos" / "test_vid.mp4"
PEER_PYTHON = ROOT / ".bench-venv-lp" / "bin" / "python"


def ours(batch: int, backbone: str, size: int, decoder: str) -> dict:
    project = load_project(ROOT / "examples" / "mirror-mouse" / "project.yaml")
    train = load_train_config(
        None,
        {
            "backbone": backbone,
            "pretrained": "none",
            "image_height": size,
            "image_width": size,
            "decoder": decoder,
        },
    )
    network = build_network(project, train).eval().to(memory_format=torch.channels_last)
    model = TrainedModel(network, project, train, torch.device("cpu"), "posecloud")
    predict_video(model, VIDEO, batch_size=batch)  # warm-up: first-call allocations
    start = time.perf_counter()
    table, _ = predict_video(model, VIDEO, batch_size=batch)
    with tempfile.TemporaryDirectory() as tmp:
        write_pose_csv(table, Path(tmp) / "p.csv")
    seconds = time.perf_counter() - start
    frames = len(table.index)
    return {
        "peer": f"posecloud ({decoder})",
        "frames": frames,
        "seconds": seconds,
        "fps": frames / seconds,
        "batch": batch,
    }


def peer(batch: int) -> dict:
    if not PEER_PYTHON.exists():
        raise SystemExit("peer venv missing: run benchmarks/setup_lightning_pose.sh first")
    out = subprocess.run(
        [str(PEER_PYTHON), str(ROOT / "benchmarks" / "peers" / "lp_predict.py"), "--batch", str(batch)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = [ours(args.batch, "resnet18", 256, "soft_argmax"), ours(args.batch, "resnet18", 256, "subpixel")]
    if not args.skip_peer:
        rows.append(peer(args.batch))
    base = rows[-1]["fps"] if not args.skip_peer else None
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print("| predictor | frames | seconds | frames/s | ratio to Lightning Pose |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        ratio = f"{r['fps'] / base:.2f}x" if base else "-"
        print(f"| {r['peer']} | {r['frames']} | {r['seconds']:.1f} | {r['fps']:.1f} | {ratio} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
