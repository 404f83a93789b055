"""DeepLabCut-style CSV: three header rows (scorer / bodyparts / coords), one row per frame.

Read and written by DeepLabCut, Lightning Pose, EKS and movement. The index is one column
(``labeled-data/vid/img001.png`` or a frame number) or, as newer DeepLabCut writes it, several
columns that are joined with ``/``. Missing values are empty cells (NaN).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import numpy as np

from core.atomic import atomic_open
from core.errors import LabelFormatError
from core.labels.table import LABEL_FIELDS, PoseTable

HEADER_NAMES = ("scorer", "bodyparts", "coords")


MAX_LINE_CHARS = 1_000_000
"""Longest line of a CSV, characters: a row of 10,000 keypoints' coordinates fits; a file that is one
endless line is refused before it is read whole."""


def read_pose_csv(path: str | Path, required: tuple[str, ...] = LABEL_FIELDS) -> PoseTable:
    """Read a DeepLabCut-style CSV of labels or predictions into a PoseTable; each keypoint must
    have the coordinates ``required`` (e.g. the EKS variances file's)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            return _parse(csv.reader(_lines(f, str(path))), str(path), required)
    except FileNotFoundError:
        raise LabelFormatError(f"label file not found: {path}; check the path") from None
    except (UnicodeDecodeError, csv.Error):
        raise LabelFormatError(
            f"{path} is not a text CSV file; expected a DeepLabCut-style CSV (scorer / bodyparts / coords)"
        ) from None
    except OSError as err:
        raise LabelFormatError(f"cannot read label file {path}: {err.strerror}; check the path") from None


def _lines(f: TextIO, source: str) -> Iterator[str]:
    """The lines of ``f``, each read only up to ``MAX_LINE_CHARS`` (a LabelFormatError past that)."""
    for number in itertools.count(1):
        line = f.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_LINE_CHARS:
            raise LabelFormatError(
                f"{source}: line {number} is longer than {MAX_LINE_CHARS:,} characters; a DeepLabCut-style "
                "CSV has one line per frame: check that the file is one"
            )
        yield line


def _parse(rows: Iterator[list[str]], source: str, required: tuple[str, ...]) -> PoseTable:
    """The table of a CSV's ``rows``, read one at a time: the body is kept as an index, the extra
    columns and one line of numeric text per row, never as the rows' lists of cells."""
    header = list(itertools.islice(rows, 3))
    if len(header) < 3:
        raise LabelFormatError(
            f"{source}: expected 3 header rows (scorer, bodyparts, coords), found {len(header)} rows. "
            "Save the file as a DeepLabCut-style CSV."
        )
    if header[1] and header[1][0].strip().lower() == "individuals":
        raise LabelFormatError(
            f"{source}: multi-animal DeepLabCut files (an 'individuals' header row) are not supported; "
            "export a single-animal CSV"
        )
    names = [r[0].strip().lower() if r else "" for r in header]
    if names != list(HEADER_NAMES):
        raise LabelFormatError(
            f"{source}: malformed header: the first cells of the 3 header rows are {names}, expected "
            f"{list(HEADER_NAMES)}. Save the file as a DeepLabCut-style CSV (scorer / bodyparts / coords)."
        )
    width = len(header[0])
    if any(len(r) != width for r in header):
        raise LabelFormatError(
            f"{source}: the 3 header rows have {[len(r) for r in header]} cells; they need the same number. "
            "Fix the header so every column has a scorer, body part and coordinate cell."
        )
    n_index = 1
    while n_index < width and header[0][n_index] == "" and header[1][n_index] == "":
        n_index += 1

    # Group columns by body part, keeping first-seen order; trailing extra columns
    # (e.g. Lightning Pose's "set") have an empty coords cell.
    keypoints: list[str] = []
    fields: list[str] = []
    columns: dict[tuple[str, str], int] = {}
    extra_columns: dict[str, int] = {}
    for col in range(n_index, width):
        part, coord = header[1][col].strip(), header[2][col].strip()
        if coord == "" and part == "":
            name = header[0][col].strip()
            if not name or name in extra_columns:
                raise LabelFormatError(
                    f"{source}: column {col + 1} has no body part and an empty or repeated name {name!r}; "
                    "give every extra column (e.g. 'set') a unique name in the scorer row or delete it"
                )
            extra_columns[name] = col
            continue
        if not part or not coord:
            raise LabelFormatError(
                f"{source}: column {col + 1} has an empty body part or coordinate name; "
                "fill in the bodyparts and coords rows for every keypoint column"
            )
        if (part, coord) in columns:
            raise LabelFormatError(f"{source}: column {part}/{coord} appears twice; delete the duplicate")
        if part not in keypoints:
            keypoints.append(part)
        if coord not in fields:
            fields.append(coord)
        columns[(part, coord)] = col
    if not keypoints:
        raise LabelFormatError(f"{source}: no keypoint columns found; add x and y columns per body part")
    if not set(required) <= set(fields):
        named = " and ".join(repr(f) for f in required)
        raise LabelFormatError(f"{source}: coords row must name {named} columns, found {fields}")
    absent = [f"{k}/{c}" for k in keypoints for c in fields if (k, c) not in columns]
    if absent:
        raise LabelFormatError(
            f"{source}: every body part needs the same coordinates; missing {absent}. Add those columns."
        )
    scorer = header[0][min(columns.values())].strip()

    # Line numbers count the CSV's rows from 1; blank rows are skipped.
    order = [columns[(k, c)] for k in keypoints for c in fields]
    pick = operator.itemgetter(*order)
    if len(order) == 1:
        pick = lambda row, _pick=pick: (_pick(row),)  # noqa: E731 - itemgetter returns a bare cell for one column
    index: list[str] = []
    extra: dict[str, list[str]] = {name: [] for name in extra_columns}
    numeric: list[str] = []  # each row's numeric cells as a line of CSV text
    lines: list[int] = []
    for line, row in enumerate(rows, start=4):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise LabelFormatError(
                f"{source}: line {line} has {len(row)} cells, the header has {width}; "
                "every row needs one cell per header column (leave missing values empty)"
            )
        index.append("/".join(cell for cell in row[:n_index] if cell != ""))
        for name, col in extra_columns.items():
            extra[name].append(row[col])
        numeric.append(_csv_line(pick(row)))
        lines.append(line)
    values = _numbers(numeric, lines, order, source, header).reshape(len(index), len(keypoints), len(fields))
    return PoseTable(keypoints, index, values, tuple(fields), scorer, extra)


def _csv_line(cells: tuple[str, ...]) -> str:
    """``cells`` as one line of CSV text (quoted only where a cell needs it, which numbers never do)."""
    text = ",".join(cells)
    if text.count(",") != len(cells) - 1 or any(c in text for c in '"\r\n'):
        text = ",".join(map(_cell, cells))
    return text


def _numbers(
    numeric: list[str], lines: list[int], order: list[int], source: str, header: list[list[str]]
) -> np.ndarray:
    """The numeric cells (``numeric``: one line of CSV text per row) as a ``(rows, len(order))``
    float array, NaN for empty cells.

    Parsed in bulk by pandas' C parser (exact: pandas 3 parses floats round-trip by default); only
    when that fails are the rows scanned cell by cell, to name the first bad cell.
    """
    import pandas as pd  # here: 0.2 s to import, which ``posecloud smooth``'s fast reader does without

    try:
        values = pd.read_csv(
            io.BytesIO("\n".join(numeric).encode()),
            header=None,
            names=range(len(order)),
            dtype=np.float64,
            skip_blank_lines=False,
            na_filter=True,
            keep_default_na=False,
            na_values=[""],
        ).to_numpy()
        if values.shape == (len(numeric), len(order)) and not np.isinf(values).any():
            return values
    except (ValueError, pd.errors.ParserError):
        pass
    return np.array(
        [
            [_number(cell, line, col, source, header) for cell, col in zip(cells, order, strict=True)]
            # an empty line is one empty cell (a file with one numeric column)
            for line, cells in zip(lines, (cells or [""] for cells in csv.reader(numeric)), strict=True)
        ]
    )


def _number(cell: str, line: int, col: int, source: str, header: list[list[str]]) -> float:
    cell = cell.strip()
    try:
        value = float(cell) if cell else math.nan
    except ValueError:
        value = math.inf
    if math.isinf(value):
        raise LabelFormatError(
            f"{source}: line {line}, column {header[1][col].strip()}/{header[2][col].strip()}: "
            f"{cell!r} is not a finite number; "
            "write a number in pixels, or leave the cell empty for a missing keypoint"
        )
    return value


def write_pose_csv(table: PoseTable, path: str | Path) -> Path:
    """Write a PoseTable as a DeepLabCut-style CSV, atomically (temp file, then rename).

    Floats are written with ``repr`` so that reading the file back gives identical values.
    """
    path = Path(path)
    n_kp, n_f = len(table.keypoints), len(table.fields)
    extras = list(table.extra)
    header = [
        ["scorer"] + [table.scorer] * (n_kp * n_f) + extras,
        ["bodyparts"] + [k for k in table.keypoints for _ in table.fields] + [""] * len(extras),
        ["coords"] + list(table.fields) * n_kp + [""] * len(extras),
    ]
    with atomic_open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerows(header)
        # repr is the shortest exact form of a float; "nan" occurs in no finite repr, so
        # replacing it leaves missing values as empty cells.
        for i, row in enumerate(table.values.reshape(len(table.index), n_kp * n_f).tolist()):
            numbers = ",".join(map(repr, row)).replace("nan", "")
            more = "".join("," + _cell(str(table.extra[e][i])) for e in extras)
            f.write(f"{_cell(table.index[i])},{numbers}{more}\n")
    return path


def _cell(text: str) -> str:
    """One CSV cell, quoted when it holds a comma, a quote or a line break."""
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\r\n') else text
