"""A camera project's labeled frames (the builder on its own, as the ``fiftyone`` job runs it): one
sample per view's image, each view's coordinates divided by that view's own frame size (the toy
data's mirror cut into a top and a bottom camera of different heights)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pymongo
import yaml

from app.fiftyone.mongo import MongoServer
from core.labels.dlc_csv import write_pose_csv
from core.labels.formats import read_labels
from core.labels.table import PREDICTION_FIELDS, PoseTable
from tests.testdata import REPO, make_camera_project
from worker.fiftyone.database import fiftyone_env, project_database, project_uri
from worker.fiftyone.plan import BuildPlan, LabeledView, Track

PROJECT = 900  # a database of its own, apart from the toy project's
SHIFT = 1.5  # px added to x and y of the labels to make a model's predictions


def fake_predictions(labels: Path, out: Path) -> Path:
    """The labels moved by SHIFT px, confidence 0.8, alternately in the train and test split."""
    table = read_labels(labels)
    values = np.concatenate([table.xy + SHIFT, np.full((*table.xy.shape[:2], 1), 0.8)], axis=-1)
    sets = ["train" if i % 2 == 0 else "test" for i in range(len(table.index))]
    predicted = PoseTable(table.keypoints, table.index, values, PREDICTION_FIELDS, "m", {"set": sets})
    return write_pose_csv(predicted, out)


def test_every_views_images_are_samples_normalised_by_their_own_size(
    mongo: MongoServer, tmp_path: Path
) -> None:
    project = yaml.safe_load(make_camera_project(tmp_path / "cams", video_frames=1).read_text())
    root = tmp_path / "cams"
    views = [
        LabeledView(
            view=view,
            labels=root / f"CollectedData_{view}.csv",
            data_dir=root,
            media_prefix=f"/posecloud-storage/projects/{PROJECT}/data",
            tracks=[
                Track(
                    name="m",
                    field="m",
                    predictions=fake_predictions(
                        root / f"CollectedData_{view}.csv", tmp_path / f"p_{view}.csv"
                    ),
                )
            ],
        )
        for view in project["views"]
    ]
    plan = BuildPlan(keypoints=project["keypoints"], skeleton=project["skeleton"], labeled=views, videos=[])
    (tmp_path / "plan.json").write_text(plan.model_dump_json())
    mongo.ensure_project_user(PROJECT)
    (mongo.folder / "no-plugins").mkdir(exist_ok=True)
    env = {**os.environ, **fiftyone_env(mongo.folder, mongo.host, mongo.port, PROJECT)}
    done = subprocess.run(
        [sys.executable, "-m", "worker.fiftyone.build", str(tmp_path / "plan.json")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    with pymongo.MongoClient(project_uri(mongo.folder, mongo.host, mongo.port, PROJECT)) as client:
        db = client[project_database(PROJECT)]
        doc = db.datasets.find_one({"name": "labeled-frames"})
        samples = list(db[doc["sample_collection_name"]].find())
    sizes = {"top": (396, 168), "bottom": (396, 406 - 168)}  # the mirror's edge at row 168
    assert sorted(s["view"] for s in samples) == ["bottom"] * 90 + ["top"] * 90
    for view, size in sizes.items():
        labels = read_labels(root / f"CollectedData_{view}.csv")
        for sample in [s for s in samples if s["view"] == view][:5]:
            assert (sample["metadata"]["width"], sample["metadata"]["height"]) == size
            row = labels.index.index(sample["image"])
            (truth,) = sample["ground_truth"]["keypoints"]
            np.testing.assert_allclose(
                np.array(truth["points"], float) * size, labels.xy[row], rtol=0, atol=1e-9
            )
            (kp,) = sample["m"]["keypoints"]
            np.testing.assert_allclose(
                np.array(kp["points"], float) * size, labels.xy[row] + SHIFT, atol=1e-9
            )
            seen = ~np.isnan(labels.xy[row]).any(-1)
            np.testing.assert_allclose(
                np.array(kp["pixel_error"], float)[seen], SHIFT * np.sqrt(2), rtol=1e-9
            )
            assert sample["tags"] == [f"m:{'train' if row % 2 == 0 else 'test'}"]
