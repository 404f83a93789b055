"""Lightning Pose video-prediction throughput: the peer side of the prediction benchmark.

Run with the Lightning Pose venv made by ``benchmarks/setup_lightning_pose.sh``::

    .bench-venv-lp/bin/python benchmarks/peers/lp_predict.py --batch 16

What it does, all through lightning-pose's own code:

1. Config: the mirror-mouse example config, changed to a supervised heatmap model
   (``losses_to_use: []``) with a ResNet-18 backbone and random weights
   (``backbone_pretrained: false``, so nothing is downloaded), input resized to 256x256, 17
   keypoints; ``dali.base.predict.sequence_length`` is the prediction batch size, which every
   video reader (OpenCV included) uses as its batch.
2. Model directory without training: ``lightning_pose.models.get_model`` builds the network and a
   Lightning checkpoint is written where ``Model.from_dir`` looks for one
   (``tb_logs/<model_name>/version_0/checkpoints/``), next to ``config.yaml``.
3. Warm-up, untimed: ``Model.predict_on_video_file`` on the whole video, the same warm-up pass as
   posecloud gets in ``benchmarks/predict_throughput.py`` (``--warmup-frames N`` warms up on a clip of
   the first N frames instead, for a quicker check; not for published figures). This also loads the
   checkpoint, so model loading is not timed.
4. Timed: ``Model.predict_on_video_file`` on the whole video with the OpenCV reader and
   ``compute_metrics=False`` — decoding, resizing, the network, heatmap-to-keypoint conversion and
   writing the predictions CSV, for every frame. CUDA is hidden, so it runs on the CPU everywhere.

Prints one JSON line on stdout (everything else goes to stderr):
``{"peer": "lightning-pose", "version": ..., "frames": N, "seconds": S, "cpu_s": C, "fps": F, "batch": B,
"warmup": ...}`` (``cpu_s``: the process's CPU time over the timed prediction, all threads).
Exits non-zero if the CSV does not hold one finite prediction per video frame.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU benchmark: keep torch, Lightning and the reader off any GPU

import cv2
import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from lightning_pose import version as lp_version
from lightning_pose.api import Model
from lightning_pose.api.model_config import ModelConfig
from lightning_pose.models import get_model
from omegaconf import DictConfig, OmegaConf

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mirror-mouse-example"
MODEL_NAME = "resnet18_random"


def build_config(data_dir: Path, batch: int) -> DictConfig:
    """The example config as a supervised ResNet-18 heatmap model with random weights, 256x256 input."""
    cfg = OmegaConf.load(data_dir / "config_mirror-mouse-example.yaml")
    cfg.data.data_dir = str(data_dir)
    cfg.data.video_dir = str(data_dir / "videos")
    cfg.data.image_resize_dims = {"height": 256, "width": 256}
    cfg.model.backbone = "resnet18"
    cfg.model.backbone_pretrained = False
    cfg.model.losses_to_use = []
    cfg.model.model_name = MODEL_NAME
    cfg.dali.base.predict.sequence_length = batch
    ModelConfig(cfg).validate()
    return cfg


def write_untrained_model_dir(cfg: DictConfig, model_dir: Path) -> None:
    """Write ``config.yaml`` and a checkpoint of the freshly initialised network into ``model_dir``."""
    model = get_model(cfg=cfg, data_module=None, loss_factories={"supervised": None, "unsupervised": None})
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False)
    trainer.strategy.connect(model)
    ckpt_dir = model_dir / "tb_logs" / MODEL_NAME / "version_0" / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(ckpt_dir / "random-weights.ckpt")
    OmegaConf.save(config=cfg, f=model_dir / "config.yaml")


def write_clip(video: Path, clip: Path, n_frames: int) -> None:
    """Copy the first ``n_frames`` frames of ``video`` into ``clip`` (MPEG-4 Part 2)."""
    reader = cv2.VideoCapture(str(video))
    size = (int(reader.get(cv2.CAP_PROP_FRAME_WIDTH)), int(reader.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), reader.get(cv2.CAP_PROP_FPS), size)
    for _ in range(n_frames):
        ok, frame = reader.read()
        if not ok:
            break
        writer.write(frame)
    writer.release()
    reader.release()


def predict_video(model: Model, video: Path, output_dir: Path) -> None:
    """Lightning Pose's video prediction, CPU/OpenCV reader, writing ``output_dir/<video stem>.csv``."""
    model.predict_on_video_file(video, output_dir=output_dir, compute_metrics=False, reader="opencv")


def count_frames(video: Path) -> int:
    """Number of frames in ``video``, by decoding it."""
    reader = cv2.VideoCapture(str(video))
    n = 0
    while reader.grab():
        n += 1
    reader.release()
    return n


def check_predictions_csv(csv_file: Path, n_frames: int, n_keypoints: int) -> None:
    """Exit with a message unless ``csv_file`` has ``n_frames`` rows of finite x, y, likelihood."""
    df = pd.read_csv(csv_file, header=[0, 1, 2], index_col=0)
    values = df.to_numpy(dtype=float)
    if values.shape != (n_frames, 3 * n_keypoints) or not np.isfinite(values).all():
        sys.exit(
            f"{csv_file}: expected {n_frames} rows x {3 * n_keypoints} finite columns, got {values.shape}"
            f" ({np.isnan(values).sum()} NaN); lightning-pose's prediction did not cover the video"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="frames per network batch")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--video", type=Path, default=None, help="default: <data-dir>/videos/test_vid.mp4")
    parser.add_argument(
        "--warmup-frames",
        type=int,
        default=0,
        help="0 (default): warm up on the whole video, as posecloud does; N: on a clip of its first N frames",
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the model dir and CSVs here")
    args = parser.parse_args()
    video = args.video or args.data_dir / "videos" / "test_vid.mp4"

    json_out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # lightning-pose's logs and progress bars -> stderr
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="lp-predict-") as tmp:
        work_dir = args.work_dir or Path(tmp)
        model_dir = work_dir / "model"
        cfg = build_config(args.data_dir, args.batch)
        write_untrained_model_dir(cfg, model_dir)
        model = Model.from_dir(model_dir)

        warmup = video
        if args.warmup_frames > 0:
            warmup = work_dir / "warmup_clip.mp4"
            write_clip(video, warmup, args.warmup_frames)
        predict_video(model, warmup, work_dir / "warmup")

        cpu_start, start = time.process_time(), time.perf_counter()
        predict_video(model, video, work_dir / "preds")
        seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start

        n_frames = count_frames(video)
        check_predictions_csv(work_dir / "preds" / f"{video.stem}.csv", n_frames, cfg.data.num_keypoints)

    result = {
        "peer": "lightning-pose",
        "version": lp_version,
        "frames": n_frames,
        "seconds": round(seconds, 3),
        "cpu_s": round(cpu_s, 3),
        "fps": round(n_frames / seconds, 2),
        "batch": args.batch,
        "warmup": "whole video" if args.warmup_frames <= 0 else f"first {args.warmup_frames} frames",
    }
    print(json.dumps(result), file=json_out, flush=True)


if __name__ == "__main__":
    main()
