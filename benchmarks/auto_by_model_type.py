"""What ``--runtime auto`` picks for each model type, on trained models, and what the pick gives.

    .venv/bin/python benchmarks/auto_by_model_type.py [--epochs 40] [--batch 16] [--models-dir DIR]

For each model type (the ResNet-18 heatmap model, the Stacked DenseNet, the context model and a
two-camera heatmap model) the README's small recipe (``examples/mirror-mouse/train-small.yaml``:
128x128, batch 8, bf16 training where the CPU has it) trains a model on the toy labels, unless
``--models-dir`` already holds it (``<dir>/<type>``; delete the folder to train again). The
two-camera model trains on the toy data cut into a top and a bottom camera
(``tests.testdata.make_camera_project``) and predicts the top camera's video.

Each model then predicts the video played ``--repeat`` times over (8: 7,952 frames, over a minute
of float32 torch at 128x128, so that ``auto`` compares the runtimes rather than keeping torch for a
short video) with float32 torch and with ``auto`` (which chooses inside its timed run, as ``posecloud
predict`` does), each after an untimed warm-up prediction of the video once, in one process. The
table gives ``auto``'s pick, its speed against float32 torch, and how far its keypoints are from
float32's on every frame (``auto`` checks four runs of frames spread over the video; this checks
them all).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from benchinfo import LoadAverages, machine
from predict_throughput import HALF_PX, VIDEO, end_to_end

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_project, load_train_config  # noqa: E402
from core.predict.trained_model import TrainedModel  # noqa: E402
from core.training.train import train_model  # noqa: E402
from tests.testdata import make_camera_project  # noqa: E402

EXAMPLE = ROOT / "examples" / "mirror-mouse"
MODEL_TYPES = {  # name: (model folder, training settings over the small recipe's, two cameras)
    "ResNet-18 heatmap": ("resnet18", {"model_type": "heatmap"}, False),
    "Stacked DenseNet": ("stacked", {"model_type": "stacked_densenet"}, False),
    "context (ResNet-18, frames t-2..t+2)": ("context", {"model_type": "context"}, False),
    "two cameras (ResNet-18 heatmap)": ("two", {"model_type": "heatmap"}, True),
}


def trained(name: str, epochs: int, models_dir: Path) -> tuple[Path, Path]:
    """The model folder of ``name`` (trained now unless it is there) and the video it predicts."""
    folder_name, overrides, two_cameras = MODEL_TYPES[name]
    folder = models_dir / folder_name
    if two_cameras:
        project_yaml = models_dir / "camera-project" / "project.yaml"
        if not project_yaml.exists():
            make_camera_project(project_yaml.parent)
        video = project_yaml.parent / "videos" / "test_vid_top.mp4"
    else:
        project_yaml, video = EXAMPLE / "project.yaml", VIDEO
    if not (folder / "config.yaml").exists():
        train = load_train_config(EXAMPLE / "train-small.yaml", {**overrides, "epochs": epochs})
        print(f"training {name} ({epochs} epochs) into {folder}", flush=True)
        train_model(load_project(project_yaml), train, folder)
    return folder, video


def repeated(video: Path, times: int, folder: Path) -> Path:
    """``video`` played ``times`` times over, one file (the streams copied, not encoded again)."""
    out = folder / f"{video.stem}_x{times}.mp4"
    if not out.exists():
        listing = folder / f"{video.stem}_x{times}.txt"
        listing.write_text(f"file '{video.resolve()}'\n" * times)
        command = [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-c",
            "copy",
        ]
        subprocess.run([*command, str(out)], check=True)
    return out


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per frame and keypoint, the distance (px) between two tables' x, y."""
    return np.linalg.norm(a[..., :2] - b[..., :2], axis=-1).ravel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=40, help="the small recipe's 40 unless given")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "runs" / "auto_by_model_type")
    parser.add_argument("--repeat", type=int, default=8, help="how many times over the video is played")
    args = parser.parse_args()
    torch.set_num_threads(2)
    load = LoadAverages()
    print(f"machine: {machine(torch.get_num_threads())}", flush=True)
    print(load.start_line(), flush=True)
    rows = []
    for name in MODEL_TYPES:
        folder, video = trained(name, args.epochs, args.models_dir)
        model = TrainedModel.load(folder, "cpu")
        long_video = repeated(video, args.repeat, args.models_dir)
        fp32 = end_to_end(model, "torch", args.batch, long_video, warm_up=video)
        auto = end_to_end(model, "auto", args.batch, long_video, warm_up=video)
        moved = distances(auto["table"].values, fp32["table"].values)
        rows.append((name, model.train, fp32, auto, moved[np.isfinite(moved)]))
        print(f"{name}: auto chose {auto['runtime']}", flush=True)

    print()
    print(
        "| model type | input | frames | float32 torch (frames/s) | `auto` chose | `auto` (frames/s, choosing included) "
        f"| speed-up | keypoints > {HALF_PX} px from float32's | max distance (px) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, train, fp32, auto, moved in rows:
        print(
            f"| {name} | {train.image_height}x{train.image_width} | {fp32['frames']} | {fp32['fps']:.1f} | {auto['runtime']} "
            f"| {auto['fps']:.1f} | {auto['fps'] / fp32['fps']:.2f}x | {np.mean(moved > HALF_PX):.2%} "
            f"| {moved.max():.2f} |"
        )
    print()
    print(load.end())


if __name__ == "__main__":
    main()
