"""Import SLEAP labels (.slp, .pkg.slp) with sleap-io: one animal per frame, images written as PNG."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PureWindowsPath

import cv2
import numpy as np
import sleap_io as sio

from core.errors import LabelFormatError, VideoError
from core.labels.imported import ImportedLabels, finish_import, image_destination
from core.labels.table import PoseTable


def import_sleap(
    slp_path: str | Path,
    dest_dir: str | Path,
    instance: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportedLabels:
    """Import the user-labeled instances of a SLEAP file into ``dest_dir``.

    Nodes become keypoints, edges the skeleton, and each labeled frame one row of x/y pixels (NaN
    where a point is not visible). Frame images come from the images embedded in a ``.pkg.slp`` or
    are decoded from the referenced video; they are written to
    ``dest_dir/labeled-data/<video stem>/img<frame index, 8 digits>.png``.

    Args:
        instance: which user instance to take (0-based) when frames hold several animals; frames
            with fewer instances get a NaN row. Required when any frame has several instances.
        progress: ``progress(images written, images)``.
    """
    slp_path, dest_dir = Path(slp_path), Path(dest_dir)
    labels = _load(slp_path)
    if len(labels.skeletons) != 1:
        raise LabelFormatError(
            f"{slp_path} has {len(labels.skeletons)} skeletons; posecloud imports files with exactly one"
        )
    skeleton = labels.skeletons[0]
    frames = [lf for lf in labels.labeled_frames if lf.user_instances]
    if not frames:
        raise LabelFormatError(f"{slp_path} has no user-labeled instances; label frames in SLEAP first")
    crowded = sum(len(lf.user_instances) > 1 for lf in frames)
    if crowded and instance is None:
        raise LabelFormatError(
            f"{slp_path}: {crowded} of {len(frames)} labeled frames have several user instances, but "
            "posecloud tracks one animal per frame; choose one with `instance` (0 = first instance)"
        )
    k = instance or 0
    if k < 0 or all(len(lf.user_instances) <= k for lf in frames):
        most = max(len(lf.user_instances) for lf in frames)
        raise LabelFormatError(f"{slp_path}: instance={k} does not exist; frames hold 1 to {most} instances")

    stems = _video_stems(list({id(lf.video): lf.video for lf in frames}.values()), slp_path)
    xy = np.full((len(frames), len(skeleton.nodes), 2), np.nan)
    index = []
    for row, lf in enumerate(frames):
        if len(lf.user_instances) > k:
            xy[row] = lf.user_instances[k].numpy(invisible_as_nan=True)
        relative, path = image_destination(dest_dir, stems[id(lf.video)], f"img{lf.frame_idx:08d}.png")
        _write_png(_frame_image(lf), path)
        index.append(relative)
        if progress:
            progress(row + 1, len(frames))
    table = PoseTable(list(skeleton.node_names), index, xy)
    return finish_import(dest_dir, table.keypoints, list(skeleton.edge_names), table)


def _load(slp_path: Path) -> sio.Labels:
    if not slp_path.is_file():
        raise LabelFormatError(f"SLEAP file not found: {slp_path}; check the path")
    try:
        return sio.load_slp(str(slp_path), open_videos=False)
    except (OSError, KeyError, ValueError) as err:
        raise LabelFormatError(
            f"{slp_path} is not a readable SLEAP .slp file ({err}); export it from SLEAP again"
        ) from None


def _video_stems(videos: list[sio.Video], slp_path: Path) -> dict[int, str]:
    """Find each video (next to the .slp if its stored path is gone); ``id(video) -> folder name``."""
    stems: dict[int, str] = {}
    for video in videos:
        if not video.exists():
            _relink_nearby(video, slp_path)
        # a .pkg.slp's embedded frames name the video they came from
        source = video if video.source_video is None else video.source_video
        name = source.filename if isinstance(source.filename, str) else Path(source.filename[0]).parent.name
        stem = PureWindowsPath(name).stem  # PureWindowsPath splits on "/" and "\\"
        if stem in stems.values():
            raise LabelFormatError(f"{slp_path} has two videos named {stem!r}; rename one in SLEAP")
        stems[id(video)] = stem
    return stems


def _relink_nearby(video: sio.Video, slp_path: Path) -> None:
    """Point ``video`` at the file of the same name next to ``slp_path``, or raise a VideoError."""
    nearby = slp_path.parent / PureWindowsPath(str(video.filename)).name
    if not isinstance(video.filename, str) or not nearby.is_file():
        raise VideoError(
            f"{slp_path} refers to the video {video.filename}, which does not exist, and there is no file "
            f"of that name next to {slp_path.name}; put the video next to the .slp file"
        )
    video.replace_filename(nearby, open=False)


def _frame_image(lf: sio.LabeledFrame) -> np.ndarray:
    """``(H, W, channels)`` uint8 RGB or grayscale image of a labeled frame."""
    try:
        if not lf.video.is_open:
            lf.video.open()
        return lf.image
    except (OSError, ValueError, IndexError, RuntimeError) as err:
        raise VideoError(
            f"cannot read frame {lf.frame_idx} of {lf.video.filename} ({err}); check that the video is "
            "the one the labels were made on"
        ) from None


def _write_png(image: np.ndarray, path: Path) -> None:
    """Write an ``(H, W, 1)`` grayscale or ``(H, W, 3)`` RGB uint8 image as PNG."""
    bgr = image[:, :, 0] if image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), bgr):
        raise VideoError(f"could not write {path}; check that the folder is writable")
