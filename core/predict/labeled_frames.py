"""Predict the labeled frames and score them: predictions with a `set` column, per-frame x keypoint
pixel error, and a summary (error per split, confidence on visible vs. NaN-labeled keypoints)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from core.atomic import atomic_open
from core.data.augment import scale_points
from core.data.images import read_rgb
from core.data.labeled_frames import context_paths, read_window
from core.labels.table import PREDICTION_FIELDS, PoseTable
from core.predict.frame_stream import join_keypoints
from core.predict.oom import HalvingBatches
from core.predict.trained_model import TrainedModel
from core.smoothing.ensemble import ensemble_stats


def predict_images(
    model: TrainedModel, paths: list[Path], batch_size: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """``xy (N, K, 2)`` in each image's pixels and ``confidence (N, K)``; images may differ in size.

    The context model sees each image with its neighbouring frames (``context_paths``). A CUDA
    out-of-memory error halves the batch and carries on (logged).
    """
    w, h = model.train.image_width, model.train.image_height
    halving = HalvingBatches(batch_size, "labeled-frame prediction")
    xy, confidence = [], []
    for start in range(0, len(paths), batch_size):
        inputs, sizes = zip(*(_model_input(model, p) for p in paths[start : start + batch_size]), strict=True)
        # predicted in model-input pixels, then mapped to each image's own
        points, conf = join_keypoints(
            halving.map(lambda part: model.predict_resized(part, w, h), np.stack(inputs))
        )
        xy += [scale_points(p, w, h, *size) for p, size in zip(points, sizes, strict=True)]
        confidence.append(conf)
    return np.stack(xy), np.concatenate(confidence)


def predict_image_table(
    member_dirs: list[Path],
    data_dir: Path,
    images: list[str],
    name: str,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> PoseTable:
    """Project images (``images``: paths relative to ``data_dir``) predicted by one model or by an
    ensemble's members, combined as their median per keypoint with their mean likelihood
    (``ensemble_stats``; separate images are no video, so no EKS). One row per image: x, y (each
    image's pixels) and likelihood; ``name`` is the scorer. ``progress(members done, members)``."""
    tables = []
    for done, member in enumerate(member_dirs, 1):
        model = TrainedModel.load(member)
        xy, confidence = predict_images(model, [data_dir / image for image in images], batch_size)
        values = np.concatenate([xy, confidence[..., None]], axis=-1)
        tables.append(PoseTable(list(model.project.keypoints), list(images), values, PREDICTION_FIELDS, name))
        if progress:
            progress(done, len(member_dirs))
    if len(tables) == 1:
        return tables[0]
    stats = ensemble_stats(tables, [str(d) for d in member_dirs])
    values = np.concatenate([stats.median, stats.likelihood[..., None]], axis=-1)
    return PoseTable(stats.keypoints, list(images), values, PREDICTION_FIELDS, name)


def _model_input(model: TrainedModel, path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """An image at the model input size, ``(h, w, 3)`` uint8 (the context model: its window
    ``(5, h, w, 3)``), and the image's width and height in pixels."""
    if model.train.uses_context:
        window = read_window(context_paths(path))
        return model.resize_for_model(window), (window.shape[2], window.shape[1])
    image = read_rgb(path)
    return model.resize_for_model(image[None])[0], (image.shape[1], image.shape[0])


def split_names(n_rows: int, split: dict[str, np.ndarray]) -> list[str]:
    names = [""] * n_rows
    for name, rows in split.items():
        for r in rows:
            names[int(r)] = name
    return names


def score_labeled_frames(
    model: TrainedModel, labels: PoseTable, data_dir: Path, split: dict[str, np.ndarray], batch_size: int = 16
) -> tuple[PoseTable, pd.DataFrame]:
    """Returns predictions (with `set`) and the pixel-error table (NaN where the label is missing)."""
    xy, confidence = predict_images(model, [data_dir / name for name in labels.index], batch_size)
    sets = split_names(len(labels.index), split)
    predictions = PoseTable(
        list(labels.keypoints),
        list(labels.index),
        np.concatenate([xy, confidence[..., None]], axis=-1),
        PREDICTION_FIELDS,
        model.name,
        {"set": sets},
    )
    error = np.linalg.norm(xy - labels.xy, axis=-1)
    pixel_error = pd.DataFrame(error, index=pd.Index(labels.index, name="image"), columns=labels.keypoints)
    pixel_error["set"] = sets
    return predictions, pixel_error


def summarize(labels: list[PoseTable], predictions: list[PoseTable], split: dict) -> dict:
    """Mean/median pixel error per split; mean confidence on held-out keypoints that are labeled vs.
    NaN; over every view's labels and predictions of the labeled frames (one table each per view)."""
    error = np.concatenate(
        [np.linalg.norm(p.xy - t.xy, axis=-1) for t, p in zip(labels, predictions, strict=True)], 1
    )
    confidence = np.concatenate([p.values[..., 2] for p in predictions], 1)
    label_missing = np.concatenate([np.isnan(t.xy).any(-1) for t in labels], 1)
    summary: dict = {"pixel_error": {}}
    for name, rows in split.items():
        values = error[rows][~np.isnan(error[rows])]
        if len(values):
            summary["pixel_error"][name] = {
                "mean": float(values.mean()),
                "median": float(np.median(values)),
                "p95": float(np.percentile(values, 95)),
                "keypoints": int(len(values)),
            }
    held_out = np.concatenate([split["validation"], split["test"]]).astype(int)
    missing, conf = label_missing[held_out], confidence[held_out]
    summary["held_out_confidence"] = {
        "labeled_mean": float(conf[~missing].mean()) if (~missing).any() else None,
        "nan_labeled_mean": float(conf[missing].mean()) if missing.any() else None,
        "nan_labeled_count": int(missing.sum()),
    }
    return summary


def write_pixel_error(pixel_error: pd.DataFrame, path: Path) -> Path:
    with atomic_open(path, "w", newline="") as handle:
        pixel_error.to_csv(handle)
    return path
