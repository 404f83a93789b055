"""FiftyOne comparisons: how long the builder takes (as the ``fiftyone`` job runs it, a process of
its own with ``import fiftyone``) for the toy project's 90 labeled frames with 3 models, and for the
994-frame toy video with 3 ensemble members + the EKS (metrics as attributes); then how long a
FiftyOne server takes to answer and its memory, and mongod's.

    .venv/bin/python benchmarks/fiftyone_benchmark.py [--ensemble DIR] [--repeats 3]

``--ensemble`` is a folder of ``posecloud train ... --seeds 0 1 2`` that ``posecloud predict`` has
predicted the toy video with; without it three tiny members are trained and predicted first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.fiftyone.mongo import MongoServer  # noqa: E402
from app.fiftyone.servers import FiftyOneServers  # noqa: E402
from benchmarks.benchinfo import machine  # noqa: E402
from core.config import load_project  # noqa: E402
from tests.services import free_port  # noqa: E402
from tests.testdata import EXAMPLE_PROJECT, TINY, TOY, TOY_VIDEO  # noqa: E402
from worker.fiftyone.database import fiftyone_env  # noqa: E402
from worker.fiftyone.plan import BuildPlan, LabeledView, Track, VideoPlan, field_name  # noqa: E402

METRICS = ("temporal_norm", "pca_singleview_error", "pca_multiview_error")


def tiny_ensemble(folder: Path) -> Path:
    from core.cli import main

    sets = [a for k, v in TINY.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    assert main(["train", str(EXAMPLE_PROJECT), "-o", str(folder), "--seeds", "0", "1", "2", *sets]) == 0
    assert main(["predict", str(folder), str(TOY_VIDEO)]) == 0
    return folder


def _track(name: str, csv: Path, taken: set[str]) -> Track:
    metrics = {m: csv.with_name(f"{csv.stem}.{m}.csv") for m in METRICS}
    return Track(
        name=name,
        field=field_name(name, taken),
        predictions=csv,
        metrics={m: p for m, p in metrics.items() if p.is_file()},
    )


def plans(ensemble: Path) -> dict[str, BuildPlan]:
    project = load_project(EXAMPLE_PROJECT)
    members = sorted(p for p in ensemble.iterdir() if (p / "predictions.csv").is_file())
    taken: set[str] = set()
    labeled = LabeledView(
        view="main", labels=TOY / "CollectedData.csv", data_dir=TOY, media_prefix="/posecloud-storage/bench",
        tracks=[Track(name=m.name, field=field_name(m.name, taken), predictions=m / "predictions.csv") for m in members],
    )  # fmt: skip
    taken = set()
    tracks = [_track(m.name, ensemble / "predictions" / m.name / "test_vid.csv", taken) for m in members]
    tracks.append(_track("ensemble EKS", ensemble / "predictions" / "test_vid.eks.csv", taken))
    video = VideoPlan(name="test_vid.mp4", video_id=1, filepath="/posecloud-storage/bench/test_vid.mp4",
                      width=396, height=406, fps=250.0, frames=994, tracks=tracks)  # fmt: skip
    common = {"keypoints": project.keypoints, "skeleton": project.skeleton}
    return {
        f"labeled frames ({len(members)} models)": BuildPlan(**common, labeled=[labeled], videos=[]),
        f"994-frame video ({len(members)} members + EKS)": BuildPlan(**common, labeled=[], videos=[video]),
    }


def time_build(plan: BuildPlan, env: dict[str, str], folder: Path) -> float:
    path = folder / "plan.json"
    path.write_text(plan.model_dump_json())
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "worker.fiftyone.build", str(path)], env=env,
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the builder failed: {done.stderr[-3000:]}")
    return time.perf_counter() - start


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ensemble", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="posecloud-fo-bench-") as tmp:
        folder = Path(tmp)
        ensemble = args.ensemble or tiny_ensemble(folder / "ensemble")
        mongo = MongoServer(folder / "mongo", free_port())
        start = time.perf_counter()
        mongo.start()
        mongo_start = time.perf_counter() - start
        mongo.ensure_project_user(1)
        (mongo.folder / "no-plugins").mkdir(exist_ok=True)
        env = {**os.environ, **fiftyone_env(mongo.folder, mongo.host, mongo.port, 1)}
        try:
            print(f"# FiftyOne benchmark — {machine()}\n")
            print("| dataset build (builder process, `import fiftyone` included) | median s | runs |")
            print("| --- | --- | --- |")
            for name, plan in plans(ensemble).items():
                runs = [time_build(plan, env, folder) for _ in range(args.repeats)]
                print(f"| {name} | {statistics.median(runs):.2f} | {', '.join(f'{r:.2f}' for r in runs)} |")
            servers = FiftyOneServers(mongo, folder / "servers", idle_s=3600)
            starts, memory = [], []
            for user in range(args.repeats):
                start = time.perf_counter()
                server = servers.server(user, 1)
                starts.append(time.perf_counter() - start)
                memory.append(rss_mb(server.process.pid))
            servers.stop_all()
            print(f"\nFiftyOne server ready (answers /fiftyone): median {statistics.median(starts):.2f} s "
                  f"({', '.join(f'{s:.2f}' for s in starts)}); RSS {statistics.median(memory):.0f} MB each")  # fmt: skip
            print(
                f"mongod: started with --auth in {mongo_start:.2f} s, RSS {rss_mb(mongo.process.pid):.0f} MB"
            )
        finally:
            mongo.stop()


if __name__ == "__main__":
    main()
