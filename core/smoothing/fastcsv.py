"""Fast paths for the smoother's large DeepLabCut-style CSVs, exact to the bit.

The general reader and writer (``core.labels.dlc_csv``) handle every layout and name every bad cell,
at about 0.5-1 s per million cells each way: most of a 20,000-frame ensemble's smoothing time.
Here the plain layout (three header rows, one index column, each keypoint's fields side by side,
no extra columns) is parsed by Apache Arrow's CSV reader (multi-threaded; the same PoseTable as the
general reader's) and written by Arrow's CSV writer, whose floats are the shortest digits that read
back as the same double (about 0.1 us a float against 0.5 for Python's ``repr`` or ``%.17g``);
anything else goes to the general functions, which also name what is wrong with a file.
"""

from __future__ import annotations

import csv
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from core.atomic import atomic_open
from core.labels.dlc_csv import HEADER_NAMES, read_pose_csv, write_pose_csv
from core.labels.table import LABEL_FIELDS, PoseTable

_SPECIAL = (",", '"', "\r", "\n")  # index cells the fast writer leaves to the general one
# Rows formatted per task; the tasks run on every core (Arrow's formatting lets go of the GIL).
WRITE_BLOCK_ROWS = 4096
_WRITE_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="none")


def read_pose_file(path: str | Path, required: tuple[str, ...] = LABEL_FIELDS) -> PoseTable:
    """Read a pose file as ``read_labels`` does (a CSV as ``read_pose_csv`` with ``required``), the
    plain CSV layout fast."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        from core.labels.formats import read_labels  # h5py and pandas: imported only for such files

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
    columns = [f"c{i}" for i in range(width)]
    try:
        frame = pa_csv.read_csv(
            io.BytesIO(body),
            pa_csv.ReadOptions(column_names=columns),
            convert_options=pa_csv.ConvertOptions(
                column_types={c: pa.string() if i == 0 else pa.float64() for i, c in enumerate(columns)},
                null_values=[""],
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:  # a short or long row, a cell that is not a number, a bad quote
        return None
    if not frame.num_rows:
        return None
    values = np.column_stack([_floats(frame.column(c)) for c in columns[1:]])
    if np.isinf(values).any():
        return None
    index = frame.column(columns[0]).to_pylist()
    return PoseTable(
        keypoints, index, values.reshape(frame.num_rows, len(keypoints), len(fields)), fields, scorer
    )


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    """A float64 column as a numpy array, NaN where a cell was empty, read off Arrow's buffers
    (Arrow's ``to_numpy`` imports pandas: 0.2 s of a smoothing command that does not need it)."""
    parts = []
    for chunk in column.chunks:
        validity, data = chunk.buffers()
        values = np.frombuffer(data, np.float64, len(chunk), chunk.offset * 8)
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
            values = np.where(bits[chunk.offset : chunk.offset + len(chunk)].astype(bool), values, np.nan)
        parts.append(values)
    return np.concatenate(parts) if parts else np.empty(0)


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
    exactly, missing values empty), fast when it has no extra columns and its index cells need no
    quoting."""
    index_text = "".join(table.index)
    if table.extra or any(s in index_text for s in _SPECIAL):
        return write_pose_csv(table, path)
    n_cols = len(table.keypoints) * len(table.fields)
    columns = np.ascontiguousarray(table.values.reshape(len(table.index), n_cols).T)
    body = pa.table(
        [_string_array(table.index)] + [_float_array(c) for c in columns],
        names=[f"c{i}" for i in range(n_cols + 1)],
    )
    with atomic_open(path) as f:
        header = io.StringIO()
        csv.writer(header, lineterminator="\n").writerows(
            [
                ["scorer"] + [table.scorer] * n_cols,
                ["bodyparts"] + [k for k in table.keypoints for _ in table.fields],
                ["coords"] + list(table.fields) * len(table.keypoints),
            ]
        )
        f.write(header.getvalue().encode("utf-8"))
        blocks = [body.slice(start, WRITE_BLOCK_ROWS) for start in range(0, body.num_rows, WRITE_BLOCK_ROWS)]
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            for text in pool.map(_csv_text, blocks):
                f.write(text)
    return Path(path)


# Arrow arrays made from their buffers: ``pa.array`` of a list or numpy array imports pandas (0.2 s).
def _float_array(values: np.ndarray) -> pa.Array:
    """float64 ``values`` as an Arrow array, NaN as null (an empty cell)."""
    present = ~np.isnan(values)
    validity = pa.py_buffer(np.packbits(present, bitorder="little")) if not present.all() else None
    data = pa.py_buffer(np.ascontiguousarray(values, np.float64))
    return pa.Array.from_buffers(pa.float64(), len(values), [validity, data], int((~present).sum()))


def _string_array(strings: list[str]) -> pa.Array:
    encoded = [text.encode("utf-8") for text in strings]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.large_string(), len(encoded), buffers, 0)


def _csv_text(rows: pa.Table) -> pa.Buffer:
    out = pa.BufferOutputStream()
    pa_csv.write_csv(rows, out, _WRITE_OPTIONS)
    return out.getvalue()
