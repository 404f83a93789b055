"""Prediction throughput on the toy video (994 frames, 396x406), CPU, ResNet-18 at 256x256,
decoding + network + keypoint decoding + CSV included, against Lightning Pose's prediction path
with the same backbone, input size and batch, on the same machine in one run.

    .venv/bin/python benchmarks/predict_throughput.py [--batch 16] [--skip-peer] [--bf16-model DIR]

Both sides get the same warm-up: one untimed prediction of the whole video, then the timed one.
Then, on posecloud's default (soft-argmax) model and the same frames decoded and resized in advance:
the network alone (input normalisation + forward pass, fp32, as predict_video runs it on a CPU),
as a share of the end-to-end time; and the network under bf16 autocast against fp32 on the same
frames. The bf16 speed is measured on the benchmark's random-weight network; how far bf16 moves
the keypoints only means something for a trained network, so it is measured on ``--bf16-model``
(a posecloud model folder, e.g. the one ``benchmarks/walkthrough.py`` trains) when given.

Needs the peer venv from benchmarks/setup_lightning_pose.sh (run it first; it is idempotent).
The throughput models have random weights: throughput does not depend on the weights.
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
import torch

from benchinfo import LoadAverages, machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_project, load_train_config  # noqa: E402
from core.labels.dlc_csv import write_pose_csv  # noqa: E402
from core.models.factory import build_network  # noqa: E402
from core.predict.trained_model import TrainedModel  # noqa: E402
from core.predict.video import predict_video  # noqa: E402
from core.video.reader import iter_batches, probe_video  # noqa: E402

VIDEO = ROOT.parent / "shared" / "data" / "mirror-mouse-example" / "videos" / "test_vid.mp4"
PEER_PYTHON = ROOT / ".bench-venv-lp" / "bin" / "python"
MOVED_PX = 2.5  # a keypoint "moved" under bf16 when it is further than this from its fp32 position


def random_model(batch: int, backbone: str, size: int, decoder: str) -> TrainedModel:
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
    return TrainedModel(network, project, train, torch.device("cpu"), "posecloud")


def end_to_end(model: TrainedModel, batch: int) -> dict:
    """One untimed warm-up prediction of the whole video, then the timed one (CSV written)."""
    predict_video(model, VIDEO, batch_size=batch)  # warm-up: first-call allocations
    start = time.perf_counter()
    table, _ = predict_video(model, VIDEO, batch_size=batch)
    with tempfile.TemporaryDirectory() as tmp:
        write_pose_csv(table, Path(tmp) / "p.csv")
    seconds = time.perf_counter() - start
    frames = len(table.index)
    return {
        "peer": f"posecloud ({model.train.decoder})",
        "frames": frames,
        "seconds": seconds,
        "fps": frames / seconds,
        "batch": batch,
    }


def model_sized_frames(model: TrainedModel, batch: int) -> list[np.ndarray]:
    """The video's frames, decoded and resized to the model input, in batches (untimed)."""
    return [model.resize_for_model(b) for b in iter_batches(VIDEO, batch)]


@torch.inference_mode()
def network_pass(model: TrainedModel, batches: list[np.ndarray], bf16: bool) -> tuple[float, np.ndarray]:
    """Seconds of the network alone (input normalisation + forward) over ``batches``, and the
    keypoints it gives (decoded outside the timer), ``(frames, K, 2)`` in frame pixels."""
    info = probe_video(VIDEO)
    seconds, keypoints = 0.0, []
    for b in batches:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            outputs = model.network(model.model_input(b))
        seconds += time.perf_counter() - start
        keypoints.append(model.keypoints([o.float() for o in outputs], info.width, info.height)[0])
    return seconds, np.concatenate(keypoints)


def warm_up(model: TrainedModel, batches: list[np.ndarray], bf16: bool) -> None:
    """The first and last batch (the two batch shapes of the video) once, untimed."""
    network_pass(model, [batches[0], batches[-1]], bf16)


def bf16_vs_fp32(model: TrainedModel, batch: int, label: str, trained: bool) -> dict:
    batches = model_sized_frames(model, batch)
    warm_up(model, batches, bf16=False)
    warm_up(model, batches, bf16=True)
    fp32_s, fp32_xy = network_pass(model, batches, bf16=False)
    bf16_s, bf16_xy = network_pass(model, batches, bf16=True)
    moved = np.linalg.norm(bf16_xy - fp32_xy, axis=-1)
    row = {
        "network": label,
        "input": f"{model.train.image_height}x{model.train.image_width}",
        "frames": int(fp32_xy.shape[0]),
        "fp32_s": fp32_s,
        "bf16_s": bf16_s,
        "speedup": fp32_s / bf16_s,
        "trained": trained,
    }
    if trained:
        row |= {
            "keypoints": int(moved.size),
            "moved_fraction": float(np.mean(moved > MOVED_PX)),
            "moved_count": int(np.sum(moved > MOVED_PX)),
            "median_move_px": float(np.median(moved)),
            "max_move_px": float(moved.max()),
        }
    return row


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
    parser.add_argument("--bf16-model", type=Path, default=None, help="a trained posecloud model folder")
    args = parser.parse_args()
    torch.set_num_threads(2)
    load = LoadAverages()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (CPU run)"
    print(f"machine: {machine(torch.get_num_threads())}; {gpu}", flush=True)
    print(load.start_line(), flush=True)

    default = random_model(args.batch, "resnet18", 256, "soft_argmax")
    rows = [end_to_end(default, args.batch)]
    rows.append(end_to_end(random_model(args.batch, "resnet18", 256, "subpixel"), args.batch))
    batches = model_sized_frames(default, args.batch)
    network_s, _ = network_pass(default, batches, bf16=False)  # warmed up by end_to_end
    del batches
    precision = [bf16_vs_fp32(default, args.batch, "ResNet-18, random weights (the benchmark's)", False)]
    if args.bf16_model:
        trained = TrainedModel.load(args.bf16_model, "cpu")
        label = f"{trained.train.backbone}, trained (`{args.bf16_model.name}`)"
        precision.append(bf16_vs_fp32(trained, args.batch, label, True))
    if not args.skip_peer:
        rows.append(peer(args.batch))
    base = rows[-1]["fps"] if not args.skip_peer else None

    print()
    print("| predictor | frames | seconds | frames/s | ratio to Lightning Pose |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        ratio = f"{r['fps'] / base:.2f}x" if base else "-"
        name = f"Lightning Pose {r['version']}" if r["peer"] == "lightning-pose" else r["peer"]
        print(f"| {name} | {r['frames']} | {r['seconds']:.1f} | {r['fps']:.1f} | {ratio} |")
    print()
    print(
        f"Network alone (input normalisation + forward, fp32, batch {args.batch}, frames decoded in advance): "
        f"{network_s:.1f} s = {network_s / rows[0]['seconds']:.0%} of posecloud's end-to-end "
        f"{rows[0]['seconds']:.1f} s (soft-argmax)."
    )
    print()
    print(
        f"bf16 autocast vs fp32, network alone on the same frames (batch {args.batch}); a keypoint moved when "
        f"bf16 puts it > {MOVED_PX} px from fp32:"
    )
    print()
    print("| network | input | fp32 (s) | bf16 (s) | bf16 speed-up | keypoints moved > 2.5 px | median / max move (px) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for p in precision:
        if p["trained"]:
            moved = f"{p['moved_fraction']:.1%} ({p['moved_count']} of {p['keypoints']})"
            move = f"{p['median_move_px']:.2f} / {p['max_move_px']:.1f}"
        else:
            moved = move = "- (random weights)"
        print(
            f"| {p['network']} | {p['input']} | {p['fp32_s']:.1f} | {p['bf16_s']:.1f} | {p['speedup']:.2f}x "
            f"| {moved} | {move} |"
        )
    print()
    print(load.end())
    print(json.dumps({"end_to_end": rows, "network_alone_s": network_s, "precision": precision}))


if __name__ == "__main__":
    main()
