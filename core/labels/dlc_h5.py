"""DeepLabCut's H5 label/prediction files: a pandas DataFrame stored under the key ``df_with_missing``.

Columns are a MultiIndex (scorer, bodyparts, coords); columns whose bodyparts and coords are empty
(e.g. Lightning Pose's ``("set", "", "")``) are per-row extra columns. The row index is either
image paths / frame numbers or, as newer DeepLabCut writes labels, a 3-level MultiIndex
(``labeled-data``, video, image) that becomes ``labeled-data/<video>/<image>``.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from core.atomic import atomic_path
from core.errors import LabelFormatError
from core.labels.table import PoseTable

H5_KEY = "df_with_missing"
COLUMN_LEVELS = ("scorer", "bodyparts", "coords")


def read_pose_h5(path: str | Path) -> PoseTable:
    """Read a DeepLabCut H5 file of labels or predictions into a PoseTable (pixel units)."""
    path = Path(path)
    if not path.is_file():
        raise LabelFormatError(f"label file not found: {path}; check the path")
    if not h5py.is_hdf5(path):
        raise LabelFormatError(f"{path} is not an HDF5 file; expected a DeepLabCut .h5 label file")
    with pd.HDFStore(path, mode="r") as store:
        if f"/{H5_KEY}" not in store:
            raise LabelFormatError(
                f"{path} has no pandas table under the key {H5_KEY!r} (found {store.keys()}); "
                "expected a DeepLabCut label file written with key='df_with_missing'"
            )
        try:
            frame = store.get(H5_KEY)
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise LabelFormatError(
                f"{path}: {H5_KEY!r} is not a pandas DataFrame ({err}); expected a DeepLabCut label file"
            ) from None
    return _from_frame(frame, str(path))


def _from_frame(frame: pd.DataFrame, source: str) -> PoseTable:
    if not isinstance(frame, pd.DataFrame) or frame.columns.nlevels != len(COLUMN_LEVELS):
        levels = list(frame.columns.names) if isinstance(frame, pd.DataFrame) else type(frame).__name__
        hint = " (multi-animal files are not supported)" if "individuals" in str(levels) else ""
        raise LabelFormatError(
            f"{source}: expected a DataFrame with 3 column levels {list(COLUMN_LEVELS)}, found {levels}"
            f"{hint}; export a single-animal DeepLabCut file"
        )
    keypoints: list[str] = []
    fields: list[str] = []
    columns: dict[tuple[str, str], int] = {}
    extra_columns: dict[str, int] = {}
    for col, (scorer_name, part, coord) in enumerate(frame.columns):
        if part == "" and coord == "":
            extra_columns[str(scorer_name)] = col
            continue
        keypoints += [part] if part not in keypoints else []
        fields += [coord] if coord not in fields else []
        columns[(part, coord)] = col
    absent = [f"{k}/{c}" for k in keypoints for c in fields if (k, c) not in columns]
    if not keypoints or "x" not in fields or "y" not in fields or absent:
        raise LabelFormatError(
            f"{source}: every body part needs x and y columns (found coords {fields}, missing {absent}); "
            "expected a DeepLabCut label or prediction file"
        )
    values = np.full((len(frame), len(keypoints), len(fields)), np.nan)
    for (part, coord), col in columns.items():
        try:
            values[:, keypoints.index(part), fields.index(coord)] = frame.iloc[:, col].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise LabelFormatError(
                f"{source}: column {part}/{coord} holds values that are not numbers"
            ) from None
    index = ["/".join(str(p) for p in row) if isinstance(row, tuple) else str(row) for row in frame.index]
    scorer = str(frame.columns[min(columns.values())][0])
    extra = {name: frame.iloc[:, col].tolist() for name, col in extra_columns.items()}
    return PoseTable(keypoints, index, values, tuple(fields), scorer, extra)


def write_pose_h5(table: PoseTable, path: str | Path) -> Path:
    """Write a PoseTable in DeepLabCut's H5 layout, atomically (temp file, then rename)."""
    path = Path(path)
    columns = pd.MultiIndex.from_tuples(
        [(table.scorer, k, f) for k in table.keypoints for f in table.fields], names=list(COLUMN_LEVELS)
    )
    flat = table.values.reshape(len(table.index), len(table.keypoints) * len(table.fields))
    frame = pd.DataFrame(flat, index=pd.Index(table.index, dtype=object), columns=columns)
    for name, column in table.extra.items():
        frame[(name, "", "")] = pd.Series(column, index=frame.index, dtype=object)
    with atomic_path(path) as tmp:
        frame.to_hdf(tmp, key=H5_KEY, mode="w")
    return path
