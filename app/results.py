"""What the results pages plot, read from a trained model's files and a prediction job's artifacts:
long tables (one entry per frame and keypoint in every column) that a plotting library takes as
they are; missing values are None (JSON has no NaN)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import view_suffix
from core.labels.dlc_csv import read_pose_csv
from core.labels.table import PREDICTION_FIELDS, PoseTable
from worker.state.storage import Storage

Columns = dict[str, list]
Fetch = Callable[[str], Path]


@contextmanager
def fetched(storage: Storage) -> Iterator[Fetch]:
    """``fetch(key)``: a local file holding ``key`` (remote storage: a temporary copy)."""
    with tempfile.TemporaryDirectory(prefix="posecloud-results-") as tmp:

        def fetch(key: str) -> Path:
            local = storage.local_path(key)
            if local is None:
                local = Path(tmp) / key.replace("/", "_")
                storage.get_file(key, local)
            return local

        yield fetch


def _values(array: np.ndarray) -> list:
    return [None if v != v else v for v in np.asarray(array, dtype=float).ravel().tolist()]


def _metric_table(path: Path) -> pd.DataFrame:
    """A file with the pixel-error layout: an index column, one column per keypoint (and `set`)."""
    return pd.read_csv(path, index_col=0)


def labeled_frame_scores(storage: Storage, prefix: str, views: list[str]) -> tuple[list[str], Columns]:
    """A trained model's scores on its labeled frames (the files ``core.training.train.evaluate``
    wrote under ``prefix``): per labeled image (and view) and keypoint, its split, the pixel error,
    the confidence and each PCA error written. Returns the keypoints and the columns."""
    names = storage.list(prefix)
    columns: Columns = {}
    keypoints: list[str] = []
    with fetched(storage) as fetch:
        for view in views:
            suffix = view_suffix(views, view)
            error = _metric_table(fetch(f"{prefix}/pixel_error{suffix}.csv"))
            keypoints = [k for k in error.columns if k != "set"]
            poses = read_pose_csv(fetch(f"{prefix}/predictions{suffix}.csv"), PREDICTION_FIELDS)
            part: Columns = {
                "image": np.repeat(error.index.to_numpy(), len(keypoints)).tolist(),
                "view": [view] * (len(error.index) * len(keypoints)),
                "set": np.repeat(error["set"].to_numpy(), len(keypoints)).tolist(),
                "keypoint": keypoints * len(error.index),
                "pixel_error": _values(error[keypoints].to_numpy()),
                "confidence": _values(poses.select_keypoints(keypoints).field("likelihood")),
            }
            for key in names:
                metric = _metric_name(key.rpartition("/")[2], f"predictions{suffix}")
                if metric is not None:
                    part[metric] = _values(_metric_table(fetch(key))[keypoints].to_numpy())
            _extend(columns, part)
    return keypoints, columns


def _metric_name(filename: str, base: str) -> str | None:
    """``<metric>`` for a file ``<base>.<metric>.csv`` (one word, so ``<base>.eks.csv`` is none)."""
    if not (filename.startswith(f"{base}.") and filename.endswith(".csv")):
        return None
    middle = filename[len(base) + 1 : -len(".csv")]
    return middle if middle and "." not in middle and middle != "variances" else None


def _extend(columns: Columns, part: Columns) -> None:
    """Append ``part``'s rows to ``columns``, None where one of them lacks the other's column."""
    rows = len(next(iter(columns.values()), []))
    added = len(next(iter(part.values())))
    for name in columns.keys() - part.keys():
        columns[name] += [None] * added
    for name, values in part.items():
        columns.setdefault(name, [None] * rows).extend(values)


@dataclass
class Source:
    """One trajectory of a prediction job: its name and the job's artifacts ``{name: key}``; ``base``
    names the files (``<video stem>``, the EKS's ``<video stem>.eks``)."""

    name: str
    artifacts: dict[str, str]
    base: str


def traces(
    storage: Storage,
    sources: list[Source],
    keypoints: list[str] | None,
    frames: tuple[int, int] | None = None,
) -> tuple[list[str], Columns]:
    """The sources' trajectories: per source, frame and keypoint (``keypoints``: all when None; frames
    ``start <= frame < stop`` when ``frames`` is given), x, y, likelihood, the EKS's variances and
    every metric written. Returns the keypoints and the columns."""
    columns: Columns = {}
    with fetched(storage) as fetch:
        for source in sources:
            poses = read_pose_csv(fetch(source.artifacts[f"{source.base}.csv"]), PREDICTION_FIELDS)
            chosen = list(poses.keypoints if keypoints is None else keypoints)
            rows = _frame_rows(poses, frames)
            tables = [poses.select_keypoints(chosen)]
            variances = source.artifacts.get(f"{source.base}.variances.csv")
            if variances is not None:
                tables.append(read_pose_csv(fetch(variances), ()).select_keypoints(chosen))
            part: Columns = {
                "source": [source.name] * (len(rows) * len(chosen)),
                "frame": np.repeat(np.asarray(poses.index, dtype=int)[rows], len(chosen)).tolist(),
                "keypoint": chosen * len(rows),
            }
            for table in tables:
                for field in table.fields:
                    part[field] = _values(table.field(field)[rows])
            for name, key in sorted(source.artifacts.items()):
                metric = _metric_name(name, source.base)
                if metric is not None:
                    part[metric] = _values(_metric_table(fetch(key))[chosen].to_numpy()[rows])
            _extend(columns, part)
            keypoints = chosen
    return keypoints or [], columns


def _frame_rows(poses: PoseTable, frames: tuple[int, int] | None) -> np.ndarray:
    numbers = np.asarray(poses.index, dtype=int)
    if frames is None:
        return np.arange(len(numbers))
    return np.flatnonzero((numbers >= frames[0]) & (numbers < frames[1]))
