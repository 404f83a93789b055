"""Read labels or predictions in any supported file format; export them as a DeepLabCut-style CSV."""

from __future__ import annotations

from pathlib import Path

from core.errors import LabelFormatError
from core.labels.dlc_csv import read_pose_csv, write_pose_csv
from core.labels.dlc_h5 import read_pose_h5
from core.labels.nwb import read_pose_nwb
from core.labels.table import PoseTable

READERS = {".csv": read_pose_csv, ".h5": read_pose_h5, ".hdf5": read_pose_h5, ".nwb": read_pose_nwb}


def read_labels(path: str | Path) -> PoseTable:
    """Read a label or prediction file, choosing the reader by its extension (.csv, .h5, .hdf5, .nwb)."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise LabelFormatError(
            f"{path}: unsupported label file type {path.suffix!r}; use one of {sorted(READERS)} "
            "(DeepLabCut-style CSV or H5, NWB pose file); import SLEAP files with import_sleap"
        )
    return reader(path)


def export_labels_csv(table: PoseTable, path: str | Path) -> Path:
    """Write ``table`` as a DeepLabCut-style CSV (atomic); ``path`` must end in ``.csv``."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise LabelFormatError(f"{path}: export file name must end in .csv; choose a name like labels.csv")
    return write_pose_csv(table, path)
