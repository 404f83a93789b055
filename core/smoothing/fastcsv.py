"""Fast paths for the smoother's large DeepLabCut-style CSVs, exact to the bit.

The general reader and writer (``core.labels.dlc_csv``) handle every layout and name every bad cell,
at about 0.5-1 s per million cells each way: most of a 20,000-frame ensemble's smoothing time.
Here the plain layout (three header rows, one index column, each keypoint's fields side by side,
no extra columns) is read by pandas' C parser straight from the file (the same PoseTable as the
general reader's) and written by one C-level ``%`` formatting per block of rows (the same header
and values read back bit for bit); anything else goes to the general functions.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from core.labels.dlc_csv import HEADER_NAMES, read_pose_csv, write_pose_csv
from core.labels.formats import read_labels
from core.labels.table import LABEL_FIELDS, PoseTable

WRITE_BLOCK_ROWS = 2048
_SPECIAL = (",", '"', "\r", "\n", "nan")  # index cells the fast writer leaves to the general one


def read_pose_file(path: str | Path, required: tuple[str, ...] = LABEL_FIELDS) -> PoseTable:
    """Read a pose file as ``read_labels`` does (a CSV as ``read_pose_csv`` with ``required``), the
    plain CSV layout fast."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        return read_labels(path)
    table = _read_plain_csv(path, required)
    return table if table is not None else read_pose_csv(path, required)


def _read_plain_csv(path: Path, required: tuple[str, ...]) -> PoseTable | None:
    """The table of a plain-layout CSV, or None where the general reader must decide."""
    try:
        with path.open("rb") as f:
            data = f.read()
        text_head = data[:65536].decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text_head.splitlines(keepends=True)
    if len(lines) < 4:
        return None
    header = list(csv.reader(lines[:3]))
    layout = _plain_layout(header, required)
    if layout is None:
        return None
    keypoints, fields, scorer = layout
    width = len(header[0])
    body = data[len("".join(lines[:3]).encode("utf-8")) + (3 if data.startswith(b"\xef\xbb\xbf") else 0) :]
    try:
        frame = pd.read_csv(
            io.BytesIO(body),
            header=None,
            names=range(width),
            dtype={0: str, **{c: np.float64 for c in range(1, width)}},
            keep_default_na=False,
            na_values={c: [""] for c in range(1, width)},
            skip_blank_lines=True,
        )
    except (ValueError, pd.errors.ParserError):
        return None
    # A short row would be padded with NaN: every row must have exactly width - 1 commas (a
    # quoted comma also lands here and goes to the general reader).
    if body.count(b",") != len(frame) * (width - 1) or not len(frame):
        return None
    values = frame.iloc[:, 1:].to_numpy(np.float64)
    if np.isinf(values).any():
        return None
    index = frame[0].tolist()
    return PoseTable(
        keypoints, index, values.reshape(len(frame), len(keypoints), len(fields)), fields, scorer
    )


def _plain_layout(header: list[list[str]], required: tuple[str, ...]) -> tuple[list[str], tuple, str] | None:
    """Keypoints, fields and scorer of a plain header, or None."""
    if len(header) != 3 or [r[0].strip().lower() if r else "" for r in header] != list(HEADER_NAMES):
        return None
    width = len(header[0])
    if width < 2 or any(len(r) != width for r in header):
        return None
    parts = [c.strip() for c in header[1][1:]]
    coords = [c.strip() for c in header[2][1:]]
    keypoints = list(dict.fromkeys(parts))
    n_fields = len(coords) // max(len(keypoints), 1)
    fields = tuple(coords[:n_fields])
    plain = (
        all(parts)
        and all(coords)
        and len(set(fields)) == n_fields
        and set(required) <= set(fields)
        and parts == [k for k in keypoints for _ in fields]
        and coords == list(fields) * len(keypoints)
    )
    return (keypoints, fields, header[0][1].strip()) if plain else None


def write_pose_file(table: PoseTable, path: str | Path) -> Path:
    """Write ``table`` as ``write_pose_csv`` does (same header, atomically, floats that read back
    exactly), fast when it has no extra columns and its index cells need no quoting: there the
    floats are written with 17 significant digits (``%.17g``: one C-level formatting per block of
    rows, 0.4 us a float against 0.55 for ``repr``'s shortest digits)."""
    if table.extra or any(s in cell for cell in table.index for s in _SPECIAL):
        return write_pose_csv(table, path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_rows = len(table.index)
    n_cols = len(table.keypoints) * len(table.fields)
    values = table.values.reshape(n_rows, n_cols)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(
                [
                    ["scorer"] + [table.scorer] * n_cols,
                    ["bodyparts"] + [k for k in table.keypoints for _ in table.fields],
                    ["coords"] + list(table.fields) * len(table.keypoints),
                ]
            )
            row_format = "%s" + ",%.17g" * n_cols + "\n"
            for start in range(0, n_rows, WRITE_BLOCK_ROWS):
                rows = values[start : start + WRITE_BLOCK_ROWS].tolist()
                cells = [c for i, row in enumerate(rows, start) for c in (table.index[i], *row)]
                # 17 significant digits always read back as the same double; "nan" occurs in no
                # number (nor, checked above, in the index), so replacing it leaves missing values empty.
                f.write(((row_format * len(rows)) % tuple(cells)).replace("nan", ""))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
