"""Import the labels and labeled images of a (single-animal) DeepLabCut project.

A DeepLabCut project holds ``config.yaml`` (``scorer``, ``bodyparts``, ``skeleton``) and
``labeled-data/<video>/CollectedData_<scorer>.csv`` (or only the ``.h5``) next to that video's
extracted images.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PureWindowsPath

import numpy as np
import yaml

from core.errors import LabelFormatError
from core.labels.formats import read_labels
from core.labels.imported import ImportedLabels, check_skeleton, finish_import, image_destination
from core.labels.table import PoseTable, check_keypoints_match


def import_dlc_project(dlc_dir: str | Path, dest_dir: str | Path) -> ImportedLabels:
    """Copy a DeepLabCut project's labeled images into ``dest_dir/labeled-data/<video>/`` and write
    its labels to ``dest_dir/CollectedData.csv`` (index ``labeled-data/<video>/<image>``, pixels).

    Video folders without a ``CollectedData_<scorer>`` file are skipped (frames not labeled yet).
    Everything is checked before anything is copied.
    """
    dlc_dir, dest_dir = Path(dlc_dir), Path(dest_dir)
    scorer, bodyparts, skeleton = _read_config(dlc_dir / "config.yaml")
    labeled_data = dlc_dir / "labeled-data"
    folders = sorted(p for p in labeled_data.iterdir() if p.is_dir()) if labeled_data.is_dir() else []
    copies: list[tuple[Path, str, str]] = []  # (source image, video, image name)
    xy: list[np.ndarray] = []
    for folder in folders:
        label_file = _label_file(folder, scorer)
        if label_file is None:
            continue
        source = f"labeled-data/{folder.name}/{label_file.name}"
        table = read_labels(label_file)
        check_keypoints_match(bodyparts, table.keypoints, source=f"{source} (compared with config.yaml)")
        xy.append(table.select_keypoints(bodyparts).xy)
        for entry in table.index:
            name = PureWindowsPath(entry).name  # handles both / and \ (projects labeled on Windows)
            if not (folder / name).is_file():
                raise LabelFormatError(
                    f"{source}: the image {folder / name} of row {entry!r} does not exist; "
                    "put the image back or delete its row from the label file"
                )
            copies.append((folder / name, folder.name, name))
    if not copies:
        raise LabelFormatError(
            f"no labels found in {labeled_data}: expected labeled-data/<video>/CollectedData_{scorer}.csv "
            "(or .h5); label frames in DeepLabCut first"
        )
    index = []
    for image, video, name in copies:
        relative, dest = image_destination(dest_dir, video, name)
        shutil.copy2(image, dest)
        index.append(relative)
    labels = PoseTable(list(bodyparts), index, np.concatenate(xy), scorer=scorer)
    return finish_import(dest_dir, bodyparts, skeleton, labels)


def _label_file(folder: Path, scorer: str) -> Path | None:
    """The folder's ``CollectedData_<scorer>.csv``, else its ``.h5``, else None."""
    for suffix in (".csv", ".h5"):
        path = folder / f"CollectedData_{scorer}{suffix}"
        if path.is_file():
            return path
    return None


def _read_config(path: Path) -> tuple[str, list[str], list[tuple[str, str]]]:
    """``(scorer, bodyparts, skeleton)`` from a DeepLabCut ``config.yaml``."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabelFormatError(f"{path} not found; point the import at a DeepLabCut project folder") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise LabelFormatError(f"{path} is not valid YAML ({err}); fix or restore the file") from None
    if not isinstance(config, dict):
        raise LabelFormatError(f"{path} is not a DeepLabCut config (expected a mapping of settings)")
    if config.get("multianimalproject"):
        raise LabelFormatError(
            f"{path}: multi-animal DeepLabCut projects are not supported; use a single-animal project"
        )
    bodyparts = config.get("bodyparts")
    if not isinstance(bodyparts, list) or not bodyparts or not all(isinstance(b, str) for b in bodyparts):
        raise LabelFormatError(f"{path}: 'bodyparts' must be a non-empty list of names, found {bodyparts!r}")
    skeleton = config.get("skeleton") or []
    if not all(isinstance(e, list) and len(e) == 2 and all(isinstance(n, str) for n in e) for e in skeleton):
        raise LabelFormatError(
            f"{path}: 'skeleton' must be a list of [bodypart, bodypart] pairs, found {skeleton!r}"
        )
    scorer = config.get("scorer")
    if not isinstance(scorer, str) or not scorer:
        raise LabelFormatError(f"{path}: 'scorer' must be the labeler's name, found {scorer!r}")
    edges = [(a, b) for a, b in skeleton]
    check_skeleton(bodyparts, edges, source=str(path))
    return scorer, bodyparts, edges
