"""Import the labels, labeled images and videos of a (single-animal) DeepLabCut project.

A DeepLabCut project holds ``config.yaml`` (``scorer``, ``bodyparts``, ``skeleton``, and
``video_sets``: the videos, by path) and ``labeled-data/<video>/CollectedData_<scorer>.csv`` (or
only the ``.h5``) next to that video's extracted images.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path, PureWindowsPath

import numpy as np
import yaml

from core.errors import LabelFormatError
from core.labels.formats import read_labels
from core.labels.imported import VIDEO_DIR, ImportedLabels, check_skeleton, finish_import, image_destination
from core.labels.table import PoseTable, check_keypoints_match


def import_dlc_project(
    dlc_dir: str | Path,
    dest_dir: str | Path,
    *,
    link_videos: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportedLabels:
    """Copy a DeepLabCut project's labeled images into ``dest_dir/labeled-data/<video>/``, write
    its labels to ``dest_dir/CollectedData.csv`` (index ``labeled-data/<video>/<image>``, pixels)
    and bring the videos its ``video_sets`` lists into ``dest_dir/videos/`` (copied, or symbolic
    links with ``link_videos``), where frame extraction and semi-supervised training look for them.

    Video folders without a ``CollectedData_<scorer>`` file are skipped (frames not labeled yet).
    A listed video is looked for at its path (relative paths from the project folder), then in the
    project's ``videos/`` folder (where DeepLabCut copies them: a moved project keeps them there);
    one found in neither is left out and named in ``missing_videos``. Everything is checked before
    anything is copied. ``progress(files copied, files)``, images and videos.
    """
    dlc_dir, dest_dir = Path(dlc_dir), Path(dest_dir)
    scorer, bodyparts, skeleton, video_sets = _read_config(dlc_dir / "config.yaml")
    videos, missing = _find_videos(dlc_dir, video_sets)
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
    total = len(copies) + len(videos)
    for done, (image, video, name) in enumerate(copies, start=1):
        relative, dest = image_destination(dest_dir, video, name)
        shutil.copy2(image, dest)
        index.append(relative)
        if progress:
            progress(done, total)
    imported = []
    for done, video in enumerate(videos, start=len(copies) + 1):
        imported.append(_bring_video(video, dest_dir / VIDEO_DIR, link_videos))
        if progress:
            progress(done, total)
    labels = PoseTable(list(bodyparts), index, np.concatenate(xy), scorer=scorer)
    result = finish_import(dest_dir, bodyparts, skeleton, labels)
    result.videos, result.missing_videos = imported, missing
    return result


def _find_videos(dlc_dir: Path, video_sets: list[str]) -> tuple[list[Path], list[str]]:
    """The listed videos found (at their path, else in ``dlc_dir/videos/``) and those not found; a
    LabelFormatError when two found videos have one file name (they would land on one file)."""
    found: dict[str, Path] = {}
    missing = []
    for entry in video_sets:
        name = PureWindowsPath(entry).name  # the file name whether the path is POSIX or Windows
        at_path = Path(entry) if Path(entry).is_absolute() else dlc_dir / entry
        video = next((p for p in (at_path, dlc_dir / "videos" / name) if p.is_file()), None)
        if video is None:
            missing.append(entry)
        elif name in found and found[name].resolve() != video.resolve():
            raise LabelFormatError(
                f"{dlc_dir / 'config.yaml'}: video_sets lists two videos named {name} ({found[name]}, {video}); "
                "rename one (and its labeled-data folder) so each video has its own name"
            )
        else:
            found[name] = video
    return list(found.values()), missing


def _bring_video(video: Path, folder: Path, link: bool) -> Path:
    """``folder/<video name>``: a copy of ``video``, or a symbolic link to it."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / video.name
    if link:
        dest.unlink(missing_ok=True)
        os.symlink(video.resolve(), dest)
    else:
        shutil.copy2(video, dest)
    return dest


def _label_file(folder: Path, scorer: str) -> Path | None:
    """The folder's ``CollectedData_<scorer>.csv``, else its ``.h5``, else None."""
    for suffix in (".csv", ".h5"):
        path = folder / f"CollectedData_{scorer}{suffix}"
        if path.is_file():
            return path
    return None


def _read_config(path: Path) -> tuple[str, list[str], list[tuple[str, str]], list[str]]:
    """``(scorer, bodyparts, skeleton, video paths)`` from a DeepLabCut ``config.yaml``."""
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
    video_sets = config.get("video_sets") or {}
    if not isinstance(video_sets, dict) or not all(isinstance(v, str) for v in video_sets):
        raise LabelFormatError(
            f"{path}: 'video_sets' must map each video's path to its settings (crop), found {video_sets!r}"
        )
    edges = [(a, b) for a, b in skeleton]
    check_skeleton(bodyparts, edges, source=str(path))
    return scorer, bodyparts, edges, list(video_sets)
