"""What the context model costs at prediction: the toy video (994 frames) predicted end to end by
the context model (frames t-2..t+2, each frame through the backbone once) and by the single-frame
heatmap model, same backbone, input size, batch and threads, in one run.

    .venv/bin/python benchmarks/context_predict.py [--threads 1] [--size 128] [--batch 16]

Random weights (speed does not depend on them); each model gets one untimed warm-up prediction of
the whole video, then the timed one, which reports wall time and the process's CPU time (all
threads; on a shared machine the two models' wall times see different load, CPU time much less so).
Its training step cost is in the semi-supervised benchmark
(``benchmarks/semisupervised.py``, "s / step").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from benchinfo import LoadAverages, machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_project, load_train_config  # noqa: E402
from core.models.factory import build_network  # noqa: E402
from core.predict.trained_model import TrainedModel  # noqa: E402
from core.predict.video import predict_video  # noqa: E402

VIDEO = ROOT.parent / "shared" / "data" / "mirror-mouse-example" / "videos" / "test_vid.mp4"


def model(model_type: str, size: int) -> TrainedModel:
    project = load_project(ROOT / "examples" / "mirror-mouse" / "project.yaml")
    train = load_train_config(
        None,
        {
            "model_type": model_type,
            "backbone": "resnet18",
            "pretrained": "none",
            "image_height": size,
            "image_width": size,
        },
    )
    network = build_network(project, train).eval().to(memory_format=torch.channels_last)
    return TrainedModel(network, project, train, torch.device("cpu"), model_type)


def timed_prediction(m: TrainedModel, batch: int) -> dict:
    predict_video(m, VIDEO, batch_size=batch)  # warm-up
    cpu_start, start = time.process_time(), time.perf_counter()
    table, _ = predict_video(m, VIDEO, batch_size=batch)
    seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    frames = len(table.index)
    return {"model": m.name, "frames": frames, "seconds": seconds, "fps": frames / seconds, "cpu_s": cpu_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = LoadAverages()
    print(f"machine: {machine(torch.get_num_threads())}", flush=True)
    print(load.start_line(), flush=True)
    rows = [timed_prediction(model(t, args.size), args.batch) for t in ("heatmap", "context")]
    load.end()
    print()
    print(
        f"ResNet-18 at {args.size}x{args.size}, batch {args.batch}, {args.threads} CPU thread(s), "
        f"{VIDEO.name} end to end (decoding, network, keypoints):"
    )
    print()
    print(
        "| model | frames | seconds | frames/s | ratio to single-frame | CPU seconds (all threads) "
        "| CPU frames/s | CPU-time ratio to single-frame |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['model']} | {r['frames']} | {r['seconds']:.1f} | {r['fps']:.1f} | {r['fps'] / rows[0]['fps']:.2f}x "
            f"| {r['cpu_s']:.1f} | {r['frames'] / r['cpu_s']:.1f} | {rows[0]['cpu_s'] / r['cpu_s']:.2f}x |"
        )
    print()
    print(load.line())
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
