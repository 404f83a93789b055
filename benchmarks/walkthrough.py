"""The README walk-through, timed: its two commands exactly as a user runs them, on this machine.

1. ``posecloud train examples/mirror-mouse/project.yaml -c examples/mirror-mouse/train-small.yaml
   -o runs/walkthrough/mouse-r18`` (ResNet-18, 128x128, 40 epochs; ``pretrained: imagenet`` falls
   back to random initialisation where the weights cannot be fetched, as here)
2. ``posecloud predict runs/walkthrough/mouse-r18 <toy video> --labeled-video``

Prints the machine, the load average at the start and end, the wall time of each command (a fresh
process each, start-up and imports included) and the trained model's test-split pixel error.

    .venv/bin/python benchmarks/walkthrough.py [--out runs/walkthrough]

The trained model stays in --out; ``benchmarks/predict_throughput.py --bf16-model
runs/walkthrough/mouse-r18`` measures bf16 against fp32 on it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchinfo import LoadAverages, machine

ROOT = Path(__file__).resolve().parents[1]
POSECLOUD = Path(sys.executable).parent / "posecloud"
EXAMPLE = ROOT / "examples" / "mirror-mouse"
VIDEO = ROOT.parent / "shared" / "data" / "mirror-mouse-example" / "videos" / "test_vid.mp4"


def timed(command: list[str], log: Path) -> float:
    """Run ``command`` from the repository root (output to ``log``); its wall time in seconds."""
    start = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}); see {log}")
    return seconds


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "walkthrough")
    args = parser.parse_args()
    model = args.out / "mouse-r18"
    if model.exists():
        shutil.rmtree(model)
    args.out.mkdir(parents=True, exist_ok=True)
    load = LoadAverages()
    print(f"machine: {machine()}", flush=True)
    print(load.start_line(), flush=True)

    train_cmd = [
        str(POSECLOUD),
        "train",
        str(EXAMPLE / "project.yaml"),
        "-c",
        str(EXAMPLE / "train-small.yaml"),
    ]
    train_s = timed([*train_cmd, "-o", str(model)], args.out / "train.log")
    summary = json.loads((model / "summary.json").read_text())
    test = summary["pixel_error"]["test"]
    predict_s = timed(
        [str(POSECLOUD), "predict", str(model), str(VIDEO), "--labeled-video"], args.out / "predict.log"
    )
    frames = sum(1 for _ in (model / "predictions" / f"{VIDEO.stem}.csv").open()) - 3  # 3 header rows
    load.end()

    print()
    print("| step | wall time | result |")
    print("| --- | --- | --- |")
    print(
        f"| 1. `posecloud train ... -c examples/mirror-mouse/train-small.yaml` | {minutes(train_s)} "
        f"| test-split error {test['mean']:.1f} px mean, {test['median']:.1f} px median |"
    )
    print(
        f"| 2. `posecloud predict ... test_vid.mp4 --labeled-video` | {predict_s:.0f} s "
        f"| {frames} frames predicted, CSV + labeled video |"
    )
    print()
    print(load.line())
    print(json.dumps({"train_s": train_s, "predict_s": predict_s, "test_px": test, "frames": frames}))


if __name__ == "__main__":
    main()
