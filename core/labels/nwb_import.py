"""Labels from another tool's NWB pose file (ndx-pose): the poses at the frames asked for (or at
every frame the file has) become labeled frames, their images extracted from the source video.

The images are extracted as ``suggest-frames --extract`` extracts them (``core.video.extract``):
decoded in order from the video, exact for every codec, and named as it names them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.errors import LabelFormatError
from core.labels.imported import ImportedLabels, finish_import
from core.labels.nwb import read_nwb_poses
from core.labels.table import LABEL_FIELDS, PoseTable
from core.video.extract import extract_frames, frame_image_path


def import_nwb(
    nwb_path: str | Path,
    dest_dir: str | Path,
    *,
    frames: Sequence[int] | None = None,
    video: str | Path | None = None,
    pose_estimation: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportedLabels:
    """Import the poses of an NWB file's PoseEstimation (``pose_estimation`` names it when the file
    holds several) as labels into ``dest_dir``: x, y of each keypoint at ``frames`` (default: every
    frame where the file has a position), the images written as
    ``labeled-data/<video stem>/img<frame, 8 digits>.png`` from ``video`` (default: the source video
    the file names). ``progress(images written, images)``.
    """
    nwb_path, dest_dir = Path(nwb_path), Path(dest_dir)
    poses = read_nwb_poses(nwb_path, pose_estimation)
    source = Path(video) if video is not None else poses.video
    if source is None or not source.is_file():
        where = f"names {poses.video}, which is not there" if source is not None else "names no source video"
        raise LabelFormatError(
            f"{nwb_path}: the PoseEstimation {poses.name} {where}; pass the video its poses were estimated from"
        )
    table = poses.table
    in_file = {int(f): row for row, f in enumerate(table.index)}
    if frames is None:
        rows = [row for row in range(len(table.index)) if np.isfinite(table.xy[row]).any()]
    else:
        absent = [f for f in frames if f not in in_file]
        if absent:
            raise LabelFormatError(
                f"{nwb_path}: {poses.name} has no poses at frames {absent[:10]}; it has frames "
                f"{table.index[0]} to {table.index[-1]} ({len(table.index)} in all)"
            )
        rows = sorted({in_file[f] for f in frames})
    if not rows:
        raise LabelFormatError(f"{nwb_path}: {poses.name} has no position at any frame; nothing to label")
    chosen = [int(table.index[row]) for row in rows]
    extract_frames(source, chosen, dest_dir, context=0, progress=progress)
    labels = PoseTable(
        list(table.keypoints),
        [frame_image_path(source, f).as_posix() for f in chosen],
        table.xy[rows],
        LABEL_FIELDS,
        table.scorer,
    )
    return finish_import(dest_dir, labels.keypoints, poses.skeleton, labels)
