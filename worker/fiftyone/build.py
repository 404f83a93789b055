"""Build a project's comparison datasets in FiftyOne from a ``BuildPlan``: ``python -m
worker.fiftyone.build PLAN.json`` in a process of its own, configured (project user, project
database) by the environment of ``worker.fiftyone.database.fiftyone_env``.

- ``labeled-frames``: one sample per labeled image (per view), ``ground_truth`` keypoints (named by
  the dataset's skeleton), one keypoints field per model with per-keypoint ``confidence`` and
  ``pixel_error`` (px, to the ground truth), ``<field>_error`` (the frame's mean, px), the tag
  ``<model>:<split>``; saved views per model: each split, the worst frames, low confidence.
- ``videos``: one video sample per predicted video; per frame one keypoints field per model,
  ensemble member and EKS with ``confidence`` and the metrics (``temporal_norm``, PCA errors, px);
  saved views: low-confidence keypoints per track.

Coordinates are FiftyOne's [0, 1], divided by the frame's real size in pixels. A dataset is built
under a temporary name and replaces the old one only when complete. Progress goes to stdout as
``PROGRESS {json}`` lines (``Report``'s arguments), the datasets and views made as one ``RESULT {json}``
line.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import fiftyone as fo
import numpy as np
import pandas as pd
from fiftyone import ViewField as F
from PIL import Image

from core.labels.formats import read_labels
from core.labels.table import PoseTable
from worker.fiftyone.plan import LABELED_DATASET, VIDEO_DATASET, BuildPlan, Track
from worker.state.progress import Unit

Report = Callable[[str, int, int, Unit], None]
"""``report(stage, done, total, unit)``: how far the build is (``worker.state.progress.JobProgress``)."""
CHUNK = 50  # samples (or frames) per progress report


def keypoints_label(
    xy: np.ndarray, size: tuple[int, int], confidence: np.ndarray | None = None, **attributes: np.ndarray
) -> fo.Keypoints:
    """One ``fo.Keypoints`` of a frame's ``xy (K, 2)`` pixels in a ``(width, height)`` frame; NaN
    points stay NaN (missing); ``attributes`` are per-keypoint ``(K,)`` lists (NaN -> None)."""
    points = (xy / np.asarray(size, dtype=np.float64)).tolist()
    extra = {name: _floats(values) for name, values in attributes.items()}
    if confidence is not None:
        extra["confidence"] = _floats(confidence)
    return fo.Keypoints(keypoints=[fo.Keypoint(label="animal", points=points, **extra)])


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def _mean(values: np.ndarray) -> float | None:
    return float(np.nanmean(values)) if np.isfinite(values).any() else None


def _building(name: str) -> str:
    return f"{name}-building"


def _discard_building(name: str) -> None:
    if fo.dataset_exists(_building(name)):
        fo.delete_dataset(_building(name))


def _new_dataset(name: str, plan: BuildPlan) -> fo.Dataset:
    _discard_building(name)  # a build that crashed
    dataset = fo.Dataset(_building(name))
    dataset.default_skeleton = fo.KeypointSkeleton(
        labels=plan.keypoints,
        edges=[[plan.keypoints.index(a), plan.keypoints.index(b)] for a, b in plan.skeleton],
    )
    dataset.info = {"keypoints": plan.keypoints}
    return dataset


def _replace(dataset: fo.Dataset, name: str) -> dict:
    """Put the complete ``dataset`` in place of ``name``'s old version; what the UI links to."""
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    dataset.name = name
    dataset.persistent = True
    views = [{"name": doc.name, "slug": doc.slug} for doc in dataset._doc.saved_views]
    return {"name": name, "slug": dataset.slug, "media_type": dataset.media_type, "views": views}


def build_labeled_frames(plan: BuildPlan, report: Report) -> dict:
    dataset = _new_dataset(LABELED_DATASET, plan)
    total = sum(len(read_labels(v.labels).index) for v in plan.labeled)
    samples: list[fo.Sample] = []
    for view in plan.labeled:
        labels = read_labels(view.labels).select_keypoints(plan.keypoints)
        tracks = [
            (t, _by_image(read_labels(t.predictions).select_keypoints(plan.keypoints), t))
            for t in view.tracks
        ]
        for row, image in enumerate(labels.index):
            with Image.open(view.data_dir / image) as file:  # reads the header only
                size = file.size
            sample = fo.Sample(
                filepath=f"{view.media_prefix}/{image}",
                metadata=fo.ImageMetadata(width=size[0], height=size[1]),
                image=image,
                view=view.view,
            )
            truth = labels.xy[row]
            sample["ground_truth"] = keypoints_label(truth, size)
            for track, predicted in tracks:
                if image not in predicted:
                    continue  # labeled after the model was trained
                xy, confidence, split = predicted[image]
                error = np.linalg.norm(xy - truth, axis=-1)
                sample[track.field] = keypoints_label(xy, size, confidence, pixel_error=error)
                sample[f"{track.field}_error"] = _mean(error)
                if split:
                    sample.tags.append(f"{track.name}:{split}")
            samples.append(sample)
            if len(samples) % CHUNK == 0:
                report("adding labeled frames", len(samples), total, "samples")
    dataset.add_samples(samples, progress=False)
    _save_labeled_views(dataset, plan)
    report("adding labeled frames", len(samples), total, "samples")
    return _replace(dataset, LABELED_DATASET)


def _by_image(table: PoseTable, track: Track) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """Image -> (xy (K, 2), confidence (K,), split) of a model's labeled-frame predictions."""
    sets = table.extra.get("set", [""] * len(table.index))
    confidence = table.field("likelihood")
    return {image: (table.xy[i], confidence[i], sets[i]) for i, image in enumerate(table.index)}


def _save_labeled_views(dataset: fo.Dataset, plan: BuildPlan) -> None:
    tracks = {t.field: t for view in plan.labeled for t in view.tracks}
    tags = set(dataset.distinct("tags"))
    for field, track in tracks.items():
        for split in ("train", "validation", "test"):
            if f"{track.name}:{split}" in tags:
                dataset.save_view(f"{track.name} {split}", dataset.match_tags(f"{track.name}:{split}"))
        worst = (
            dataset.exists(f"{field}_error").sort_by(f"{field}_error", reverse=True).limit(plan.worst_frames)
        )
        dataset.save_view(f"{track.name} worst frames", worst)
        dataset.save_view(
            f"{track.name} low confidence",
            dataset.filter_keypoints(field, F("confidence") < plan.low_confidence),
        )


def build_videos(plan: BuildPlan, report: Report) -> dict:
    dataset = _new_dataset(VIDEO_DATASET, plan)
    total = sum(v.frames * len(v.tracks) for v in plan.videos)
    done = 0
    for video in plan.videos:
        tracks = [_read_track(t, plan.keypoints) for t in video.tracks]
        frames = max([video.frames, *(len(table.index) for _, table, _ in tracks)])
        sample = fo.Sample(
            filepath=video.filepath,
            metadata=fo.VideoMetadata(
                frame_width=video.width,
                frame_height=video.height,
                frame_rate=video.fps,
                total_frame_count=frames,
                duration=frames / video.fps,
                mime_type="video/mp4",
            ),
            video=video.name,
        )
        dataset.add_sample(sample)
        one = dataset.select(sample.id)
        one.ensure_frames()
        for track, table, metrics in tracks:  # one field of every frame at once (bulk writes)
            labels = []
            for i in range(len(table.index)):
                attributes = {name: values[i] for name, values in metrics.items() if i < len(values)}
                labels.append(
                    keypoints_label(
                        table.xy[i], (video.width, video.height), table.field("likelihood")[i], **attributes
                    )
                )
                if (i + 1) % (CHUNK * 10) == 0:
                    report("adding predicted videos", done + i + 1, total, "frames")
            one.set_values(
                f"frames.{track.field}", [labels + [None] * (frames - len(labels))], validate=False
            )
            done += video.frames
            report("adding predicted videos", done, total, "frames")
    for track in {t.field: t for v in plan.videos for t in v.tracks}.values():
        low = dataset.filter_keypoints(f"frames.{track.field}", F("confidence") < plan.low_confidence)
        dataset.save_view(f"{track.name} low confidence", low)
    return _replace(dataset, VIDEO_DATASET)


def _read_track(track: Track, keypoints: list[str]) -> tuple[Track, PoseTable, dict[str, np.ndarray]]:
    table = read_labels(track.predictions).select_keypoints(keypoints)
    metrics = {
        name: pd.read_csv(path, index_col=0)[keypoints].to_numpy(np.float64)
        for name, path in track.metrics.items()
    }
    return track, table, metrics


def build(plan: BuildPlan, report: Report) -> list[dict]:
    """Every dataset of ``plan`` (those it has content for); returns what was made."""
    made = []
    if plan.labeled:
        made.append(build_labeled_frames(plan, report))
    if plan.videos:
        made.append(build_videos(plan, report))
    return made


def main(argv: list[str]) -> int:
    plan = BuildPlan.model_validate_json(Path(argv[0]).read_text())

    def report(stage: str, done: int, total: int, unit: Unit) -> None:
        print(
            "PROGRESS " + json.dumps({"stage": stage, "done": done, "total": total, "unit": unit}), flush=True
        )

    def stop(signum: int, _frame) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)  # a cancelled job: leave no half-built dataset behind
    try:
        print("RESULT " + json.dumps(build(plan, report)), flush=True)
    except BaseException:
        for name in (LABELED_DATASET, VIDEO_DATASET):
            _discard_building(name)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
