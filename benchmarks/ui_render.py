"""How long each page of the front end takes to render in Chromium, with a project of 1,000 labeled
frames, 20 models and 50 jobs (issue 12's target: every page within 2 s).

One real tiny model is trained (so that its files, per-frame errors and loss history are real); the
other 19 models and 49 jobs are copies of its database rows (same artifacts), which is what a page
reads. Each page is opened from the sidebar ``--rounds`` times; the time is from the click until the
page's title is shown and Streamlit has finished running the page.

    python benchmarks/ui_render.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.ui.server import UIServer  # noqa: E402
from benchmarks.benchinfo import machine  # noqa: E402
from benchmarks.service_benchmark import PASSWORD, Stack, check, create_project, login  # noqa: E402
from tests.browser import chromium_browser  # noqa: E402
from tests.services import free_port  # noqa: E402
from tests.testdata import TINY, TOY, TOY_VIDEO  # noqa: E402
from worker.state.db.engine import make_engine, make_sessionmaker  # noqa: E402
from worker.state.db.models import Job, Model  # noqa: E402

PAGES = ["Projects", "Videos", "Frames and labels", "Training", "Models", "Prediction", "Diagnostics"]
LABELED_FRAMES, MODELS, JOBS = 1000, 20, 50


def thousand_frames_zip() -> bytes:
    """The toy labels repeated to 1,000 frames (each its own image file), as one label upload."""
    table = pd.read_csv(TOY / "CollectedData.csv", header=[0, 1, 2], index_col=0)
    images = {name: (TOY / name).read_bytes() for name in table.index}
    names = list(table.index)
    rows, buffer = [], io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(LABELED_FRAMES):
            source = names[i % len(names)]
            name = f"labeled-data/bench/img{i:04d}.png"
            zf.writestr(name, images[source])
            rows.append(table.loc[source].rename(name))
        csv = pd.DataFrame(rows, columns=table.columns)
        csv.index.name = table.index.name
        zf.writestr("CollectedData.csv", csv.to_csv())
    return buffer.getvalue()


def populate(stack: Stack, client: httpx.Client, headers: dict) -> int:
    project = create_project(client, headers)
    check(client.put(f"/projects/{project}/labels", params={"filename": "labels.zip"},
                     content=thousand_frames_zip(), headers=headers), 200)  # fmt: skip
    check(client.post(f"/projects/{project}/videos", params={"filename": TOY_VIDEO.name},
                      content=TOY_VIDEO.read_bytes(), headers=headers), 201)  # fmt: skip
    model = check(client.post(f"/projects/{project}/models", json={"name": "real", "train": {**TINY, "epochs": 1}},
                              headers=headers), 201)  # fmt: skip
    deadline = time.monotonic() + 1800
    while (
        state := check(client.get(f"/projects/{project}/models/{model['id']}", headers=headers), 200)["state"]
    ) != "succeeded":
        if state in ("failed", "cancelled") or time.monotonic() > deadline:
            raise RuntimeError(
                f"the benchmark's model did not train ({state}):\n{stack.log_tail('worker.log')}"
            )
        time.sleep(2)
    copy_rows(stack, project, model["id"])
    return project


def copy_rows(stack: Stack, project: int, model_id: int) -> None:
    """19 more models and 49 more jobs, copies of the trained model's rows (same files)."""
    engine = make_engine(f"sqlite:///{stack.root / 'data' / 'posecloud.db'}")
    with make_sessionmaker(engine)() as session:
        model = session.get(Model, model_id)
        job = session.get(Job, model.train_job_id)
        columns = [c.key for c in Job.__table__.columns if c.key != "id"]
        jobs = [
            Job(**{c: getattr(job, c) for c in columns}) for _ in range(JOBS - session.query(Job).count())
        ]
        session.add_all(jobs)
        session.flush()
        for i in range(MODELS - 1):
            session.add(Model(project_id=project, name=f"copy{i:02d}", train_config=model.train_config,
                              storage_prefix=model.storage_prefix, summary=model.summary,
                              train_job_id=jobs[i % len(jobs)].id))  # fmt: skip
        session.commit()
    engine.dispose()


def time_pages(url: str, project: int, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {page: [] for page in PAGES}
    with chromium_browser() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{url}/signin?next=/ui/%3Fproject%3D{project}")
        page.fill("#username", "bench")
        page.fill("#password", PASSWORD)
        page.click("button[value=signin]")
        page.get_by_text("Signed in as").wait_for(timeout=60_000)
        for _ in range(rounds):
            for title in PAGES:
                start = time.perf_counter()
                page.get_by_role("link", name=title, exact=True).click()
                page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
                page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=60_000)
                times[title].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ui_port = free_port()
    with (
        tempfile.TemporaryDirectory() as work,
        Stack(Path(work), "ui", extra_env={"POSECLOUD_UI_PORT": str(ui_port)}) as stack,
    ):
        stack.start_worker(1)
        ui = UIServer(ui_port, stack.base, stack.root / "ui.log")
        ui.start()
        try:
            ui.wait_ready()
            with httpx.Client(base_url=stack.base, timeout=600) as client:
                project = populate(stack, client, login(client))
            times = time_pages(stack.base, project, args.rounds)
        finally:
            ui.stop()
    print(
        f"## Page render times, {LABELED_FRAMES} labeled frames, {MODELS} models, {JOBS} jobs ({machine()})\n"
    )
    print(f"| page | median (s) | slowest of {args.rounds} (s) |\n| --- | --- | --- |")
    for title, seconds in times.items():
        print(f"| {title} | {statistics.median(seconds):.2f} | {max(seconds):.2f} |")


if __name__ == "__main__":
    main()
