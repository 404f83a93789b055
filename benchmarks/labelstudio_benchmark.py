"""Labeling in Label Studio (issue 11), measured on this machine in one run against real processes:
a private redis-server, Label Studio 1.23.2 (`.ls-venv`, a fresh data folder), and the API under
uvicorn (`python -m app.cli api`, SQLite), started as the tests start them
(tests/app/labelstudio/conftest.py).

1. Submit to label file: an annotation POSTed through the API's Label Studio proxy (as the labeling
   page does) until the project's label file in storage holds its point (the webhook's path: Label
   Studio -> API -> CSV rewritten); the periodic reconciliation is set to an hour so that only the
   webhook counts. The Lightning Pose app polls Label Studio every 15-30 s.
2. Reconciliation of 1,000 tasks: a project of 1,000 labeled 64x64 frames (the toy frames shrunk,
   cycled), each frame a task with its annotation; "sync now" (POST labeling/sync: export every task,
   rewrite the label file) timed, and the first opening (1,000 tasks made) beside it.
3. Frame extraction as the extraction job does it (`pick_initial_frames` then `extract_frames`,
   20 frames with t-2..t+2 context, PNGs): the toy video (994 frames, 396x406), and 10 videos of
   10,000 frames made with ffmpeg's testsrc at 160x120 (H.264, all-keyframe like the upload
   transcode), one after the other.
4. Label Studio's resident memory (its process and children): idle after start, and after parts 1-2.

Prints a Markdown block for BENCHMARKS.md on stdout (progress on stderr). Usage:
    .venv/bin/python benchmarks/labelstudio_benchmark.py [--submits 30] [--tasks 1000]
        [--videos 10] [--frames 10000]
Smoke test: --submits 3 --tasks 50 --videos 1 --frames 500 (--videos 0: no many-videos row)
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchinfo import LoadAverages, machine  # noqa: E402

from app.labelstudio.server import LabelStudioServer  # noqa: E402
from app.redis_server import RedisServer  # noqa: E402
from core.labels.dlc_csv import read_pose_csv, write_pose_csv  # noqa: E402
from core.labels.formats import read_labels  # noqa: E402
from core.selection.initial import pick_initial_frames  # noqa: E402
from core.video.extract import extract_frames  # noqa: E402
from tests.app.labelstudio.conftest import Api, start_api, stop_api  # noqa: E402
from tests.services import free_port  # noqa: E402
from tests.testdata import EXAMPLE_PROJECT, TOY, TOY_VIDEO  # noqa: E402

SMALL = 64  # side of the frames of the 1,000-task project, pixels


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, MB."""
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 1e6


def labels_zip(work: Path, rows: int | None) -> bytes:
    """The toy labels and images zipped, or with ``rows`` that many small frames (``_small_frames``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        if rows is None:
            zf.write(TOY / "CollectedData.csv", "CollectedData.csv")
            for image in sorted((TOY / "labeled-data").rglob("*.png")):
                zf.write(image, image.relative_to(TOY).as_posix())
        else:
            _small_frames(zf, work, rows)
    return buffer.getvalue()


def _small_frames(zf: zipfile.ZipFile, work: Path, rows: int) -> None:
    """``rows`` frames and their label file into ``zf``: the toy frames shrunk to SMALL x SMALL
    (labels scaled alike), cycled under new names."""
    toy = read_labels(TOY / "CollectedData.csv")
    index, values = [], []
    for i in range(rows):
        source = i % len(toy.index)
        frame = cv2.imread(str(TOY / toy.index[source]))
        height, width = frame.shape[:2]
        name = f"labeled-data/bench/img{i:05d}.png"
        zf.writestr(name, cv2.imencode(".png", cv2.resize(frame, (SMALL, SMALL)))[1].tobytes())
        xy = toy.values[source].copy()
        xy[:, 0] = (xy[:, 0] + 0.5) * SMALL / width - 0.5
        xy[:, 1] = (xy[:, 1] + 0.5) * SMALL / height - 0.5
        index.append(name)
        values.append(xy)
    table = type(toy)(toy.keypoints, index, np.stack(values), toy.fields, toy.scorer)
    zf.write(write_pose_csv(table, work / "CollectedData.csv"), "CollectedData.csv")


def project(api: Api, token: str, name: str, labels: bytes) -> int:
    config = yaml.safe_load(EXAMPLE_PROJECT.read_text())
    with api.client(token) as c:
        made = c.post("/projects", json={"name": name, "keypoints": config["keypoints"]}).json()["id"]
        resp = c.put(f"/projects/{made}/labels", params={"filename": f"{name}.zip"}, content=labels)
        assert resp.status_code == 200, resp.text
    return made


def open_labeling(api: Api, token: str, project_id: int) -> tuple[dict, float]:
    start = time.perf_counter()
    with api.client(token) as c:
        resp = c.post(f"/projects/{project_id}/labeling")
    assert resp.status_code == 200, resp.text
    return resp.json(), time.perf_counter() - start


def submit_latency(api: Api, token: str, browser: httpx.Client, submits: int) -> list[float]:
    """Seconds from each annotation POST to the label file holding its point."""
    project_id = project(api, token, "submits", labels_zip(api.data_root, None))
    opened, _ = open_labeling(api, token, project_id)
    tasks = browser.get(
        "/labelstudio/api/tasks", params={"project": opened["ls_project_id"], "page_size": submits}
    ).json()
    tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
    label_file = api.data_root / "storage" / "projects" / str(project_id) / "data" / "CollectedData.csv"
    seconds = []
    for i in range(submits):
        task = tasks[i % len(tasks)]
        image = task["data"]["image"].split("/frames/", 1)[1]
        width, height = cv2.imread(str(TOY / image)).shape[1::-1]
        x_pct = 10 + 80 * (i + 1) / (submits + 1)
        result = [{"type": "keypointlabels", "from_name": "keypoints", "to_name": "frame",
                   "original_width": width, "original_height": height, "image_rotation": 0,
                   "value": {"x": x_pct, "y": 50.0, "width": 0.5, "keypointlabels": ["nose_top"]}}]  # fmt: skip
        wanted = x_pct / 100 * width - 0.5
        start = time.perf_counter()
        resp = browser.post(f"/labelstudio/api/tasks/{task['id']}/annotations/", json={"result": result})
        assert resp.status_code == 201, resp.text
        while True:
            table = read_pose_csv(label_file)
            if np.isclose(
                table.values[table.index.index(image), table.keypoints.index("nose_top"), 0], wanted
            ):
                break
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"submit {i}: the label file did not change within 30 s")
            time.sleep(0.01)
        seconds.append(time.perf_counter() - start)
    return seconds


def reconciliation(api: Api, token: str, server: LabelStudioServer, tasks: int) -> dict:
    """Seconds of the first opening, of three syncs, and of Label Studio's export alone (the sync's
    first step, asked by the admin as the service asks it)."""
    project_id = project(api, token, "reconcile", labels_zip(api.data_root, tasks))
    opened, first = open_labeling(api, token, project_id)
    assert opened["tasks_made"] == tasks, opened
    times = []
    with api.client(token) as c:
        for _ in range(3):
            start = time.perf_counter()
            resp = c.post(f"/projects/{project_id}/labeling/sync")
            times.append(time.perf_counter() - start)
            assert resp.status_code == 200 and resp.json()["labeled"] == tasks, resp.text
    start = time.perf_counter()
    export = httpx.get(
        f"{server.url}/api/projects/{opened['ls_project_id']}/export",
        params={"exportType": "JSON", "download_all_tasks": "true"},
        headers={"Authorization": f"Token {server.secrets.token}"},
        timeout=600,
    )
    assert export.status_code == 200 and len(export.json()) == tasks, export.text[:300]
    return {"open_s": first, "sync_s": times, "export_s": time.perf_counter() - start}


def make_video(path: Path, frames: int) -> Path:
    command = [
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30",
        "-frames:v", str(frames), "-c:v", "libx264", "-preset", "veryfast", "-g", "1",
        "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return path


def extraction(video: Path, dest: Path, n: int = 20) -> tuple[float, int]:
    """Seconds to pick ``n`` frames and write them with their context, and the images written."""
    start = time.perf_counter()
    written = extract_frames(video, pick_initial_frames(video, n), dest, 2)
    return time.perf_counter() - start, len(written)


def report(m: dict) -> str:
    submit = m["submit_s"]
    rec = m["reconcile"]
    lines = [
        "## Label Studio (issue 11) — `make bench-labelstudio`",
        "",
        f"`benchmarks/labelstudio_benchmark.py --submits {m['args'].submits} --tasks {m['args'].tasks} "
        f"--videos {m['args'].videos} --frames {m['args'].frames}`; {machine()}; no GPU; Label Studio "
        f"1.23.2 (SQLite), the API under uvicorn (SQLite), Redis; {m['load']}.",
        "",
        "| what | figure |",
        "| --- | --- |",
        f"| submit (annotation POST through the API's proxy) to the label file, {len(submit)} submits | "
        f"median {statistics.median(submit):.2f} s, p95 {np.percentile(submit, 95):.2f} s, "
        f"max {max(submit):.2f} s (target ≤ 2 s; the Lightning Pose app polls every 15-30 s) |",
        f'| reconciliation ("sync now": export, label file rewritten), {m["args"].tasks} labeled tasks | '
        f"{statistics.median(rec['sync_s']):.2f} s (median of 3; {', '.join(f'{s:.2f}' for s in rec['sync_s'])}); "
        f"Label Studio's export alone {rec['export_s']:.2f} s |",
        f"| first opening of that project ({m['args'].tasks} tasks made with their annotations) | "
        f"{rec['open_s']:.1f} s |",
        f"| frame extraction, toy video (994 frames, 396x406): 20 picks + context | "
        f"{m['toy_s']:.2f} s ({m['toy_images']} images) |",
        *(
            [
                f"| frame extraction, {m['args'].videos} videos x {m['args'].frames} frames (160x120), 20 picks "
                f"+ context each, one after the other | {sum(m['videos_s']):.1f} s in all, "
                f"{statistics.median(m['videos_s']):.2f} s per video (median) |"
            ]
            if m["videos_s"]
            else []
        ),
        f"| Label Studio resident memory (process and children) | {m['rss_idle']:.0f} MB idle after start, "
        f"{m['rss_after']:.0f} MB after the runs above |",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submits", type=int, default=30)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--frames", type=int, default=10000)
    args = parser.parse_args()
    load = LoadAverages()
    m: dict = {"args": args}
    with tempfile.TemporaryDirectory(prefix="posecloud-ls-bench-") as tmp:
        work = Path(tmp)
        log("frame extraction")
        m["toy_s"], m["toy_images"] = extraction(TOY_VIDEO, work / "toy")
        m["videos_s"] = []
        for v in range(args.videos):
            video = make_video(work / f"testsrc{v}.mp4", args.frames)
            m["videos_s"].append(extraction(video, work / "many")[0])
            video.unlink()
        redis = RedisServer(free_port(), work / "redis")
        redis.start()
        api_port = free_port()
        server = LabelStudioServer(work / "labelstudio", free_port(), f"http://127.0.0.1:{api_port}")
        api = None
        try:
            log("starting Label Studio")
            server.start()
            server.wait_ready()
            time.sleep(5)
            m["rss_idle"] = rss_mb(server.process.pid)
            api = start_api(api_port, work / "data", server, redis.url, sync_s=3600.0)
            token, browser = api.sign_in("bench")
            log("submit to label file")
            m["submit_s"] = submit_latency(api, token, browser, args.submits)
            log(f"reconciliation of {args.tasks} tasks")
            m["reconcile"] = reconciliation(api, token, server, args.tasks)
            m["rss_after"] = rss_mb(server.process.pid)
        finally:
            if api is not None:
                stop_api(api)
            server.stop()
            redis.stop()
    m["load"] = load.end()
    print(report(m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
