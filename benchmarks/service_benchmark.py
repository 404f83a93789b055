"""The service (issue 5), measured on this machine in one run against real processes: a private
redis-server on a free port, the API under uvicorn (`python -m app.cli api`), SQLite, and real worker
slots (`python -m app.cli worker --slots N --gpus none`). Each part gets a fresh data root and
database.

1. Ensemble training on 1 vs 2 worker slots: a 4-member ensemble with the TINY settings of
   tests/testdata.py (resnet18, no pretrained weights, 64x64) on the toy labels; wall time from
   POST /ensembles until every training job succeeded (the workers are started and idle first).
   A CPU slot gets OMP_NUM_THREADS = cores // slots, so on 2 cores: 1 slot x 2 threads vs
   2 slots x 1 thread.
2. Streaming upload over loopback: the toy video remuxed (`ffmpeg -stream_loop ... -c copy`, no
   re-encoding) to about 1 GB so that it passes the ffprobe validation; the body is streamed from
   disk in 1 MiB chunks with http.client. MB/s of the body, whole request time (+ ffprobe + move
   into storage), the API process's resident memory before, at its peak during, and after.
3. Latency of GET /projects/{id}/jobs with ~50 jobs in the project under 50 concurrent keep-alive
   clients (asyncio streams, see ``lean_hammer``; and httpx.AsyncClient), then under 20 dashboards
   polling it every 2 s: p50 / p99 / max and requests/s.

Prints a Markdown block for BENCHMARKS.md on stdout (progress on stderr). Usage:
    .venv/bin/python benchmarks/service_benchmark.py [--epochs 5] [--upload-mb 1000]
        [--clients 50] [--requests 2000] [--skip-ensemble] [--skip-upload] [--skip-latency]
Smoke test: --upload-mb 20 --clients 5 --requests 50 --members 2 --epochs 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import http.client
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.redis_server import RedisServer  # noqa: E402
from tests.services import free_port  # noqa: E402
from tests.testdata import EXAMPLE_PROJECT, TINY, TOY, TOY_VIDEO  # noqa: E402
from worker.state.queue import make_celery  # noqa: E402

PASSWORD = "a long benchmark password"
CHUNK = 1 << 20  # upload chunk read from disk and sent
READY_TIMEOUT_S = 180


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _raise_interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------- the machine


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    redis_version = next((w[2:] for w in redis_version.split() if w.startswith("v=")), "?")
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 1,
        "mem_gb": mem_gb,
        "python": platform.python_version(),
        "redis": redis_version,
        "load": os.getloadavg(),
        "date": dt.date.today().isoformat(),
    }


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs 5); False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssSampler:
    """Polls a process's VmRSS every few milliseconds in a thread; ``peak`` is the largest seen."""

    def __init__(self, pid: int, every_s: float = 0.02) -> None:
        self.pid, self.every_s, self.peak = pid, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, proc_status(self.pid)["VmRSS"])
            except (OSError, KeyError):
                return
            self._stop.wait(self.every_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------- the service


def _stop_process(process: subprocess.Popen | None, grace_s: float) -> None:
    """SIGINT (graceful stop), then SIGKILL to the process group it leads if it is still running."""
    if process is None or process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGINT)
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # its own group (start_new_session): it and its slots
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class Stack:
    """A fresh data root (SQLite), a private Redis, the API under uvicorn and, on demand, a worker."""

    def __init__(
        self,
        work_dir: Path,
        name: str,
        max_upload_bytes: int | None = None,
        extra_env: dict | None = None,
        api_workers: int = 1,
    ) -> None:
        self.api_workers = api_workers
        self.root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work_dir))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.redis = RedisServer(free_port(), self.root / "redis")
        self.env = {
            **os.environ,
            "POSECLOUD_DATA_ROOT": str(self.root / "data"),
            "POSECLOUD_REDIS_URL": self.redis.url,
        }
        if max_upload_bytes:
            self.env["POSECLOUD_MAX_UPLOAD_BYTES"] = str(max_upload_bytes)
        self.env |= extra_env or {}
        self.api: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        with (self.root / log_name).open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "app.cli", *args],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only this script, which stops them in order
            )

    def start(self) -> Stack:
        self.redis.start()
        self.api = self._spawn(
            ["api", "--port", str(self.port), "--workers", str(self.api_workers)], "api.log"
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{self.base}/openapi.json", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.api.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start:\n{self.log_tail('api.log')}")
            time.sleep(0.2)

    def start_worker(self, slots: int) -> None:
        """``posecloud worker --slots N --gpus none``; returns once every slot answers a ping."""
        self.worker = self._spawn(["-v", "worker", "--slots", str(slots), "--gpus", "none"], "worker.log")
        celery = make_celery(self.redis.url)
        deadline = time.monotonic() + READY_TIMEOUT_S
        try:
            while len(celery.control.ping(timeout=1.0)) < slots:
                if self.worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker slots did not start:\n{self.log_tail('worker.log')}")
        finally:
            celery.close()

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.root / name
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def close(self) -> None:
        """Stop everything; a second Ctrl-C meanwhile is ignored so that nothing is left running."""
        handlers = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            _stop_process(self.worker, 40)
            _stop_process(self.api, 20)
            self.redis.stop()
            shutil.rmtree(self.root, ignore_errors=True)
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type, *_exc) -> None:
        if exc_type is not None and exc_type is not KeyboardInterrupt:
            for name in ("api.log", "worker.log"):
                tail = self.log_tail(name)
                if tail:
                    log(f"last lines of {name}:\n{tail}")
        self.close()


def login(client: httpx.Client, username: str = "bench") -> dict[str, str]:
    resp = client.post("/auth/register", json={"username": username, "password": PASSWORD})
    resp.raise_for_status()
    resp = client.post("/auth/login", data={"username": username, "password": PASSWORD})
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def create_project(client: httpx.Client, headers: dict[str, str]) -> int:
    config = yaml.safe_load(EXAMPLE_PROJECT.read_text())
    body = {k: config[k] for k in ("name", "keypoints", "skeleton", "pca_keypoints", "view_matches")}
    resp = client.post("/projects", json=body, headers=headers)
    resp.raise_for_status()
    return resp.json()["id"]


def check(resp: httpx.Response, status: int) -> dict:
    if resp.status_code != status:
        raise RuntimeError(f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text[:2000]}")
    return resp.json()


# ---------------------------------------------------------------- 1. ensemble on 1 vs 2 slots


def labels_zip(work_dir: Path) -> Path:
    """The toy project's CollectedData.csv and labeled-data/ images as one ZIP (as the tests upload)."""
    path = work_dir / "mirror-mouse.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(TOY / "CollectedData.csv", "mirror-mouse/CollectedData.csv")
        for image in sorted((TOY / "labeled-data").rglob("*.png")):
            zf.write(image, f"mirror-mouse/{image.relative_to(TOY).as_posix()}")
    return path


def _seconds(job: dict) -> float:
    start, end = (dt.datetime.fromisoformat(job[k]) for k in ("started_at", "finished_at"))
    return (end - start).total_seconds()


def run_ensemble(work_dir: Path, labels: Path, slots: int, members: int, epochs: int) -> dict:
    with (
        Stack(work_dir, f"ensemble-{slots}slot") as stack,
        httpx.Client(base_url=stack.base, timeout=60) as c,
    ):
        headers = login(c)
        project = create_project(c, headers)
        with labels.open("rb") as body:
            check(
                c.put(
                    f"/projects/{project}/labels",
                    params={"filename": labels.name},
                    content=body.read(),
                    headers=headers,
                ),
                200,
            )
        log(f"ensemble, {slots} slot(s): starting the worker")
        stack.start_worker(slots)
        train = {**TINY, "epochs": epochs}
        log(f"ensemble, {slots} slot(s): training {members} members x {epochs} epoch(s)")
        start = time.perf_counter()
        ensemble = check(
            c.post(
                f"/projects/{project}/ensembles",
                json={"name": "bench", "train": train, "seeds": list(range(members))},
                headers=headers,
            ),
            201,
        )
        pending = {m["train_job_id"] for m in ensemble["members"]}
        jobs: dict[int, dict] = {}
        while pending:
            for job_id in sorted(pending):
                job = check(c.get(f"/projects/{project}/jobs/{job_id}", headers=headers), 200)
                if job["state"] == "succeeded":
                    jobs[job_id] = job
                    pending.discard(job_id)
                elif job["state"] in ("failed", "cancelled"):
                    raise RuntimeError(
                        f"training job {job_id} {job['state']}: {job['error']}\n{job['log_tail']}"
                    )
            if pending:
                time.sleep(0.25)
        wall = time.perf_counter() - start
    per_job = [_seconds(jobs[j]) for j in sorted(jobs)]
    threads = max(1, (os.cpu_count() or 1) // slots)
    log(f"ensemble, {slots} slot(s): {wall:.1f} s")
    return {
        "slots": slots,
        "threads": threads,
        "wall_s": wall,
        "job_s": per_job,
        "workers": len({j["worker"] for j in jobs.values()}),
    }


# ---------------------------------------------------------------- 2. streaming upload


def make_big_video(work_dir: Path, target_bytes: int) -> tuple[Path, float]:
    """The toy video looped without re-encoding until at least ``target_bytes``; (path, seconds)."""
    loops = max(0, math.ceil(target_bytes / TOY_VIDEO.stat().st_size) - 1)
    path = work_dir / "big.mp4"
    start = time.perf_counter()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(TOY_VIDEO)]
        + ["-map", "0:v:0", "-c", "copy", str(path)],
        check=True,
    )
    return path, time.perf_counter() - start


def stream_upload(
    port: int, path: str, headers: dict[str, str], video: Path
) -> tuple[int, bytes, float, float]:
    """POST the file as the raw body, read from disk in 1 MiB chunks; (status, body, sent_s, total_s)."""
    sent_at = []

    def body() -> Iterator[bytes]:
        with video.open("rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
        sent_at.append(time.perf_counter())

    size = video.stat().st_size
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        start = time.perf_counter()
        conn.request(
            "POST",
            path,
            body=body(),
            headers={**headers, "Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        resp = conn.getresponse()
        content = resp.read()
        end = time.perf_counter()
    finally:
        conn.close()
    return resp.status, content, sent_at[0] - start if sent_at else end - start, end - start


def run_upload(work_dir: Path, upload_mb: int) -> dict:
    log(f"upload: making a {upload_mb} MB video (toy video looped, -c copy)")
    video, make_s = make_big_video(work_dir, upload_mb * 1_000_000)
    size = video.stat().st_size
    try:
        with Stack(work_dir, "upload", max_upload_bytes=size + 100_000_000) as stack:
            pid = stack.api.pid
            with httpx.Client(base_url=stack.base, timeout=60) as c:
                headers = login(c)
                project = create_project(c, headers)
                # warm-up: one small real upload, so every code path of the route is loaded
                check(
                    c.post(
                        f"/projects/{project}/videos",
                        params={"filename": "warmup.mp4"},
                        content=TOY_VIDEO.read_bytes(),
                        headers=headers,
                    ),
                    201,
                )
            before = proc_status(pid)
            reset = reset_peak_rss(pid)
            log(f"upload: streaming {size / 1e6:.0f} MB to the API (pid {pid})")
            with RssSampler(pid) as sampler:
                status, content, sent_s, total_s = stream_upload(
                    stack.port, f"/projects/{project}/videos?filename=big.mp4", headers, video
                )
            if status != 201:
                raise RuntimeError(f"upload failed: {status} {content[:2000]!r}")
            after = proc_status(pid)
    finally:
        video.unlink(missing_ok=True)
    peak = max(sampler.peak, after["VmHWM"]) if reset else sampler.peak
    log(f"upload: {size / 1e6 / sent_s:.0f} MB/s, peak RSS {peak / 1e6:.0f} MB")
    return {
        "bytes": size,
        "make_s": make_s,
        "sent_s": sent_s,
        "total_s": total_s,
        "rss_before": before["VmRSS"],
        "hwm_before": before["VmHWM"],
        "rss_peak": peak,
        "rss_after": after["VmRSS"],
        "hwm_reset": reset,
    }


# ---------------------------------------------------------------- 3. listing jobs under concurrency


def _summary(latencies: list[float], errors: int, wall: float, clients: int) -> dict:
    ms = sorted(x * 1000 for x in latencies)
    return {
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, math.ceil(0.99 * len(ms)) - 1)],
        "max_ms": ms[-1],
        "rps": len(ms) / wall,
        "errors": errors,
        "requests": len(ms),
        "clients": clients,
    }


async def hammer(base: str, url: str, headers: dict[str, str], clients: int, requests: int) -> dict:
    """``requests`` GETs of ``url`` from ``clients`` concurrent httpx.AsyncClient connections."""
    latencies: list[float] = []
    errors = 0
    remaining = requests
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as client:

        async def one_client() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                try:
                    resp = await client.get(url)
                    ok = resp.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += not ok

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall = time.perf_counter() - start
    return _summary(latencies, errors, wall, clients)


async def lean_hammer(
    port: int, url: str, token: str, clients: int, requests: int, pause_s: float = 0.0
) -> dict:
    """``requests`` GETs of ``url`` from ``clients`` keep-alive connections, each request a plain
    HTTP/1.1 exchange on asyncio's streams, ``pause_s`` between a client's requests (a page's poll).

    Why not httpx: the clients share the service's 2 cores, and httpx.AsyncClient spends 1-3 ms of
    CPU on a request (2.5-6.6 s for 2,000, against 0.2 s here); its connection pool also stalled
    whole groups of requests for seconds while the service's processes sat idle (py-spy), which no
    browser on another machine would see."""
    message = f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    latencies: list[float] = []
    errors = 0
    remaining = requests

    async def one_client() -> None:
        nonlocal remaining, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                writer.write(message)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                errors += not head.startswith(b"HTTP/1.1 200 ")
                await asyncio.sleep(pause_s)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return _summary(latencies, errors, time.perf_counter() - start, clients)


DASHBOARDS = 20
POLL_S = 2.0
POLLS = 10
"""Open dashboards, each polling the job list every POLL_S seconds, POLLS times."""


def run_latency(work_dir: Path, clients: int, requests: int, jobs: int, api_workers: int) -> list[dict]:
    """The job list under ``clients`` concurrent clients (the lean client, then httpx), then under
    ``DASHBOARDS`` pages polling it; one row each."""
    with (
        Stack(work_dir, "latency", api_workers=api_workers) as stack,
        httpx.Client(base_url=stack.base, timeout=60) as c,
    ):
        headers = login(c)
        project = create_project(c, headers)
        log(f"latency: recording {jobs} training jobs (no worker: they stay queued)")
        for i in range(jobs):
            check(
                c.post(f"/projects/{project}/models", json={"name": f"m{i}", "train": TINY}, headers=headers),
                201,
            )
        url = f"/projects/{project}/jobs"
        listed = check(c.get(url, headers=headers), 200)
        body_bytes = len(c.get(url, headers=headers).content)
        for _ in range(20):  # warm-up
            check(c.get(url, headers=headers), 200)
        token = headers["Authorization"].removeprefix("Bearer ")
        log(f"latency: {requests} x GET {url} from {clients} concurrent clients")
        rows = [
            {
                **asyncio.run(lean_hammer(stack.port, url, token, clients, requests)),
                "client": "asyncio streams",
            },
            {
                **asyncio.run(hammer(stack.base, url, headers, clients, requests)),
                "client": "httpx.AsyncClient",
            },
        ]
        log(f"latency: {DASHBOARDS} dashboards polling every {POLL_S:g} s")
        polls = asyncio.run(lean_hammer(stack.port, url, token, DASHBOARDS, DASHBOARDS * POLLS, POLL_S))
        rows.append({**polls, "client": f"{DASHBOARDS} dashboards, a poll every {POLL_S:g} s"})
    for row in rows:
        row.update(jobs=len(listed), body_bytes=body_bytes, api_workers=api_workers)
        log(
            f"latency ({api_workers} API process(es), {row['client']}): p50 {row['p50_ms']:.1f} ms, "
            f"p99 {row['p99_ms']:.1f} ms, {row['rps']:.0f} req/s"
        )
    return rows


# ---------------------------------------------------------------- report


def report(m: dict, args: argparse.Namespace, ens: list[dict], up: dict | None, lat: list[dict]) -> str:
    load, load_end = (", ".join(f"{x:.2f}" for x in m[k]) for k in ("load", "load_end"))
    out = [
        "## Service (issue 5) — `make bench-service`",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gb']:.1f} GB RAM, no GPU; Python {m['python']}, "
        f"redis-server {m['redis']}, SQLite; load average {load} at the start, {load_end} at the end (1, 5, "
        f"15 min); measured {m['date']}. Every "
        "part runs against real processes on 127.0.0.1: a private redis-server, the API under uvicorn "
        "(`python -m app.cli api --workers N`) and worker slots (`python -m app.cli worker --slots N "
        "--gpus none`); each part starts with a fresh data root and database.",
    ]
    if ens:
        base = ens[0]["wall_s"]
        out += [
            "",
            "### Ensemble training on 1 vs 2 worker slots",
            "",
            f"{args.members}-member ensemble, TINY settings (resnet18, no pretrained weights, 64x64, batch "
            f"{TINY['batch_size']}), {args.epochs} epoch(s), the toy labels (90 frames). Wall time from "
            "POST /ensembles until every training job succeeded, the slots started and idle before. A CPU "
            "slot gets OMP_NUM_THREADS = cores // slots.",
            "",
            "| slots | threads per slot | slots used | wall time (s) | job times (s) | speed-up |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in ens:
            out.append(
                f"| {r['slots']} | {r['threads']} | {r['workers']} | {r['wall_s']:.1f} | "
                f"{', '.join(f'{x:.1f}' for x in r['job_s'])} | {base / r['wall_s']:.2f}x |"
            )
        out += [
            "",
            f"On {m['cores']} cores one slot trains with {ens[0]['threads']} thread(s) and two slots with "
            f"{ens[-1]['threads']} each: the ratio shows how much better several trainings with fewer threads "
            "each use the cores than one training with all of them. Above the core count it also reflects "
            "other load on the machine (see the load averages), which slows multi-threaded training most.",
        ]
    if up:
        mb = up["bytes"] / 1e6
        out += [
            "",
            "### Streaming upload over loopback",
            "",
            f"POST /projects/{{id}}/videos with a {mb:,.0f} MB MP4 (the toy video looped with "
            f"`ffmpeg -stream_loop -c copy` in {up['make_s']:.1f} s, so it passes the ffprobe "
            "validation), the raw body streamed from disk in 1 MiB chunks (http.client). Body time: "
            "until the last byte was sent; request time adds ffprobe (counting packets) and the move into "
            "storage. Memory: the API process's resident set (VmRSS), sampled every 20 ms"
            + (" and its VmHWM reset before the upload." if up["hwm_reset"] else "."),
            "",
            "| size (MB) | body (s) | body MB/s | request (s) | request MB/s | API RSS before (MB) "
            "| API peak RSS during (MB) | API RSS after (MB) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| {mb:,.0f} | {up['sent_s']:.2f} | {mb / up['sent_s']:,.0f} | {up['total_s']:.2f} | "
            f"{mb / up['total_s']:,.0f} | {up['rss_before'] / 1e6:.0f} | {up['rss_peak'] / 1e6:.0f} | "
            f"{up['rss_after'] / 1e6:.0f} |",
            "",
            f"Peak since the API started, before the upload (VmHWM): {up['hwm_before'] / 1e6:.0f} MB.",
        ]
    if lat:
        out += [
            "",
            "### Listing jobs under concurrent clients",
            "",
            f"GET /projects/{{id}}/jobs (bearer token checked, {lat[0]['jobs']} jobs in the project, "
            f"{lat[0]['body_bytes'] / 1e3:.0f} kB JSON per response), SQLite, from concurrent keep-alive "
            "clients on this same machine (asyncio streams; httpx.AsyncClient as before), after 20 warm-up "
            f"requests; then {DASHBOARDS} dashboards polling it every {POLL_S:g} s; the API in 1 or more "
            "processes (`--workers`).",
            "",
            "| API processes | client | clients | requests | p50 (ms) | p99 (ms) | max (ms) | requests/s | errors |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        out += [
            f"| {r['api_workers']} | {r['client']} | {r['clients']} | {r['requests']:,} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['rps']:.0f} | {r['errors']} |"
            for r in lat
        ]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=4, help="ensemble members (default 4)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs per member (default 5)")
    parser.add_argument(
        "--slots", type=int, nargs="+", default=[1, 2], help="worker slot counts to compare (default 1 2)"
    )
    parser.add_argument("--upload-mb", type=int, default=1000, help="upload size in MB (default 1000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--requests", type=int, default=2000, help="requests in all (default 2000)")
    parser.add_argument("--jobs", type=int, default=50, help="jobs in the listed project (default 50)")
    parser.add_argument(
        "--api-workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="API process counts to compare (default 1 2)",
    )
    parser.add_argument("--skip-ensemble", action="store_true")
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--work-dir", type=Path, help="scratch folder (default: the system temp folder)")
    args = parser.parse_args()
    for tool in ("redis-server", "ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: run `make system`")

    # Ctrl-C and SIGTERM raise KeyboardInterrupt, so that `finally` stops every process (SIGINT is set
    # explicitly: a shell starts background jobs with it ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    m = machine()
    work_dir = Path(tempfile.mkdtemp(prefix="posecloud-bench-", dir=args.work_dir))
    ens: list[dict] = []
    up, lat = None, []
    try:
        if not args.skip_ensemble:
            labels = labels_zip(work_dir)
            ens = [run_ensemble(work_dir, labels, s, args.members, args.epochs) for s in args.slots]
        if not args.skip_upload:
            up = run_upload(work_dir, args.upload_mb)
        if not args.skip_latency:
            lat = [
                row
                for n in args.api_workers
                for row in run_latency(work_dir, args.clients, args.requests, args.jobs, n)
            ]
    except KeyboardInterrupt:
        log("interrupted; every process was stopped")
        return 130
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    m["load_end"] = os.getloadavg()
    print(report(m, args, ens, up, lat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
