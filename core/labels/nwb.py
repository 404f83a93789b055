"""NWB pose files (the ``ndx-pose`` extension): what DANDI archives and ``movement``, pynwb and
NWB Widgets read, and what DeepLabCut (DLC2NWB) and SLEAP (sleap-io) write.

posecloud writes one file per video: a ``behavior`` processing module with the ``Skeletons``
(nodes = keypoint names, edges = index pairs) and one ``PoseEstimation`` named ``PoseEstimation``
(``movement.io.load_poses.from_nwb_file``'s default) holding a ``PoseEstimationSeries`` per keypoint
(x, y in the video's pixels, the confidence, timed by the video's frame rate), linked to the
camera (a ``Device`` named after the view) and to the source video (an external-file
``ImageSeries`` in ``acquisition``, its path relative to the NWB file). The provenance is in the
PoseEstimation: ``scorer`` (the model or ensemble), ``source_software`` "posecloud" with its
version, and the settings as YAML in its ``description``.

Reading takes any file with ndx-pose PoseEstimation objects (in any processing module, as other
tools lay them out), series of different lengths included: rows are the union of the series'
timestamps, mapped to frame numbers by the frame rate.

pynwb and ndx-pose are imported by the functions that need them: loading them takes seconds, which
reading a CSV should not pay.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import yaml

from core.atomic import atomic_path
from core.errors import LabelFormatError
from core.labels.table import PREDICTION_FIELDS, PoseTable

SOURCE_SOFTWARE = "posecloud"
POSE_ESTIMATION = "PoseEstimation"
MODULE = "behavior"
REFERENCE_FRAME = (
    "(0, 0) is the centre of the top-left pixel of the video frame; x grows to the right, y downwards, "
    "in the video's pixels"
)
CONFIDENCE_DEFINITION = (
    "posecloud's likelihood: the least-squares amplitude of the ideal target Gaussian at the decoded "
    "point of the heatmap (1 for a textbook peak); for an ensemble's EKS, the members' mean"
)


@dataclass(frozen=True)
class NwbVideo:
    """The video the poses were estimated from, as the NWB file records it.

    Attributes:
        camera: the camera's name (the view of a separate-camera project, else ``camera``).
    """

    path: Path
    fps: float
    width: int
    height: int
    frame_count: int
    camera: str = "camera"


@dataclass(frozen=True)
class Provenance:
    """What estimated the poses: a model or an ensemble's name (the ``scorer``), its settings (written
    as YAML in the PoseEstimation's description) and the project's skeleton."""

    scorer: str
    config: dict
    skeleton: list[tuple[str, str]]


@dataclass
class NwbPoses:
    """One PoseEstimation of an NWB file.

    Attributes:
        table: x, y, likelihood per keypoint (NaN where a series has no sample or no confidence),
            one row per time any series has, indexed by frame number.
        timestamps: seconds, one per row.
        skeleton: edges as pairs of keypoint names (empty without a Skeleton).
        video: the source video the file names (relative paths resolved against the file's folder),
            or None.
        name: ``<processing module>/<PoseEstimation name>``.
    """

    table: PoseTable
    timestamps: np.ndarray
    skeleton: list[tuple[str, str]]
    video: Path | None
    name: str


def write_pose_nwb(table: PoseTable, path: str | Path, video: NwbVideo, provenance: Provenance) -> Path:
    """Write a video's poses (x, y and, when the table has it, likelihood; rows indexed by frame
    number) as an NWB file, atomically (temporary file, then rename).

    NWB asks when the session started, which posecloud does not know: the video file's modification
    time stands in.
    """
    import ndx_pose
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.image import ImageSeries

    path = Path(path)
    frames = _frame_numbers(table, path)
    nwbfile = NWBFile(
        session_description=f"poses of {video.path.name} estimated by {SOURCE_SOFTWARE}",
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.fromtimestamp(video.path.stat().st_mtime, tz=UTC),
    )
    camera = nwbfile.create_device(
        name=video.camera, description=f"the camera that recorded {video.path.name}"
    )
    timing = (
        {"rate": float(video.fps), "starting_time": frames[0] / video.fps}
        if np.array_equal(frames, np.arange(frames[0], frames[0] + len(frames)))
        else {"timestamps": frames / video.fps}
    )
    source = ImageSeries(
        name="video",
        description=f"the video the poses were estimated from ({video.camera})",
        unit="n.a.",
        format="external",
        external_file=[os.path.relpath(video.path.resolve(), path.resolve().parent)],
        starting_frame=[0],
        num_samples=video.frame_count,
        dimension=[video.width, video.height],
        rate=float(video.fps),
        starting_time=0.0,
        device=camera,
    )
    nwbfile.add_acquisition(source)
    index = {name: i for i, name in enumerate(table.keypoints)}
    edges = np.array([(index[a], index[b]) for a, b in provenance.skeleton], dtype="uint8").reshape(-1, 2)
    skeleton = ndx_pose.Skeleton(name="skeleton", nodes=list(table.keypoints), edges=edges)
    likelihood = table.field("likelihood").astype(np.float32) if "likelihood" in table.fields else None

    def confidence(k: int) -> dict:
        if likelihood is None:
            return {}
        return {"confidence": likelihood[:, k], "confidence_definition": CONFIDENCE_DEFINITION}

    series = [
        ndx_pose.PoseEstimationSeries(
            name=keypoint,
            description=f"x, y of {keypoint}",
            data=table.xy[:, k].astype(np.float32),
            unit="pixels",
            reference_frame=REFERENCE_FRAME,
            **confidence(k),
            **timing,
        )
        for k, keypoint in enumerate(table.keypoints)
    ]
    estimation = ndx_pose.PoseEstimation(
        name=POSE_ESTIMATION,
        pose_estimation_series=series,
        description=f"poses estimated by {SOURCE_SOFTWARE} with {provenance.scorer}; its settings:\n"
        + yaml.safe_dump(provenance.config, sort_keys=False),
        scorer=provenance.scorer,
        source_software=SOURCE_SOFTWARE,
        source_software_version=version("posecloud"),
        skeleton=skeleton,
        source_video=source,
        device=camera,
    )
    behavior = nwbfile.create_processing_module(name=MODULE, description="pose estimation")
    behavior.add(ndx_pose.Skeletons(skeletons=[skeleton]))
    behavior.add(estimation)
    with atomic_path(path, suffix=".tmp.nwb") as tmp, NWBHDF5IO(tmp, mode="w") as io:
        io.write(nwbfile)
    return path


def _frame_numbers(table: PoseTable, path: Path) -> np.ndarray:
    """The rows' frame numbers; a LabelFormatError unless the index is increasing frame numbers."""
    try:
        frames = np.array([int(i) for i in table.index])
    except ValueError:
        raise LabelFormatError(
            f"{path.name}: an NWB pose series is timed by frame, but the rows are named like {table.index[0]!r}; "
            "export predictions of a video (one row per frame number), not labeled images"
        ) from None
    if len(frames) == 0 or (np.diff(frames) <= 0).any():
        raise LabelFormatError(
            f"{path.name}: the rows must be increasing frame numbers (one per frame predicted); "
            "export a prediction file of one video"
        )
    return frames


def read_pose_nwb(path: str | Path, pose_estimation: str | None = None) -> PoseTable:
    """The poses of an NWB file (see ``read_nwb_poses``) as a PoseTable like the CSV readers': x, y,
    likelihood per keypoint, one row per frame number."""
    return read_nwb_poses(path, pose_estimation).table


def read_nwb_poses(path: str | Path, pose_estimation: str | None = None) -> NwbPoses:
    """Read one ndx-pose PoseEstimation of an NWB file.

    Args:
        pose_estimation: which one, by name or ``<module>/<name>``, when the file holds several
            (e.g. one per camera or per animal); a file with one needs none.
    """
    import ndx_pose
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.is_file():
        raise LabelFormatError(f"NWB file not found: {path}; check the path")
    # not HDF5 (OSError), or HDF5 but not NWB (pynwb: TypeError or ValueError, opening or reading)
    unreadable = (OSError, ValueError, TypeError)
    try:
        io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
    except unreadable as err:
        raise _unreadable(path, err) from None
    with io:
        try:
            nwbfile = io.read()
        except unreadable as err:
            raise _unreadable(path, err) from None
        found = {
            f"{module_name}/{name}": interface
            for module_name, module in nwbfile.processing.items()
            for name, interface in module.data_interfaces.items()
            if isinstance(interface, ndx_pose.PoseEstimation)
        }
        name = _choose(found, pose_estimation, path)
        return _poses(found[name], name, path)


def _unreadable(path: Path, err: Exception) -> LabelFormatError:
    return LabelFormatError(f"{path} is not a readable NWB (HDF5) file: {err}")


def _choose(found: dict, wanted: str | None, path: Path) -> str:
    """The key of the PoseEstimation asked for (or of the only one)."""
    if not found:
        raise LabelFormatError(
            f"{path} holds no ndx-pose PoseEstimation (pose series over time); posecloud reads the "
            "predictions of DeepLabCut, SLEAP, posecloud and other ndx-pose writers"
        )
    if wanted is None:
        if len(found) > 1:
            raise LabelFormatError(
                f"{path} holds {len(found)} PoseEstimation objects {sorted(found)}; choose one by name"
            )
        return next(iter(found))
    matches = [key for key in found if wanted in (key, key.partition("/")[2])]
    if len(matches) != 1:
        raise LabelFormatError(
            f"{path}: {'no' if not matches else 'more than one'} PoseEstimation named {wanted!r}; "
            f"the file holds {sorted(found)} (name one as <module>/<name>)"
        )
    return matches[0]


def _poses(estimation, name: str, path: Path) -> NwbPoses:
    """An NwbPoses from an open PoseEstimation: its series joined on their timestamps."""
    series = dict(estimation.pose_estimation_series)
    if not series:
        raise LabelFormatError(f"{path}: {name} holds no PoseEstimationSeries (no keypoint); nothing to read")
    skeleton = estimation.skeleton
    nodes = [str(n) for n in skeleton.nodes[:]] if skeleton is not None else []
    keypoints = [n for n in nodes if n in series] + [n for n in series if n not in nodes]
    data = {}
    for keypoint in keypoints:
        xy = np.asarray(series[keypoint].data[:], dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise LabelFormatError(
                f"{path}: {name}/{keypoint} holds positions of shape {xy.shape}; posecloud reads 2-D (x, y) "
                "pose series, one row per time, not 3-D ones"
            )
        confidence = series[keypoint].confidence
        likelihood = (
            np.asarray(confidence[:], dtype=np.float64)
            if confidence is not None
            else np.full(len(xy), np.nan)
        )
        data[keypoint] = (np.asarray(series[keypoint].get_timestamps(), dtype=np.float64), xy, likelihood)
    timestamps = np.unique(np.concatenate([t for t, _, _ in data.values()]))
    values = np.full((len(timestamps), len(keypoints), len(PREDICTION_FIELDS)), np.nan)
    for k, (times, xy, likelihood) in enumerate(data.values()):
        rows = np.searchsorted(timestamps, times)
        values[rows, k, :2] = xy
        values[rows, k, 2] = likelihood
    video = estimation.source_video
    frames = _frames(timestamps, video, series[keypoints[0]], path)
    edges = (
        [(nodes[a], nodes[b]) for a, b in skeleton.edges[:]]
        if skeleton is not None and skeleton.edges is not None
        else []
    )
    table = PoseTable(
        keypoints,
        [str(f) for f in frames],
        values,
        PREDICTION_FIELDS,
        str(estimation.scorer or SOURCE_SOFTWARE),
    )
    return NwbPoses(table, timestamps, edges, _video_path(estimation, path), name)


def _frames(timestamps: np.ndarray, video, first_series, path: Path) -> np.ndarray:
    """Frame numbers of ``timestamps``: by the source video's frame rate (its first frame at its
    starting time), else the series' rate, else the median interval between the timestamps."""
    if video is not None and video.rate:
        fps, start = float(video.rate), float(video.starting_time or 0.0)
    elif first_series.rate:
        fps, start = float(first_series.rate), 0.0
    elif len(timestamps) > 1:
        fps, start = 1.0 / float(np.median(np.diff(timestamps))), 0.0
    else:
        return np.zeros(len(timestamps), dtype=int)
    frames = np.rint((timestamps - start) * fps).astype(int)
    if (np.diff(frames) <= 0).any():
        raise LabelFormatError(
            f"{path}: at {fps:g} frames/s two of its times fall on one frame; the file's frame rate does "
            "not match its timestamps"
        )
    return frames


def _video_path(estimation, path: Path) -> Path | None:
    """The source video named by the PoseEstimation (its ``source_video`` link, else the deprecated
    ``original_videos``), relative paths taken from the NWB file's folder."""
    video = estimation.source_video
    names = video.external_file[:] if video is not None and video.external_file is not None else None
    if names is None and estimation.original_videos is not None:
        names = estimation.original_videos[:]
    if names is None or len(names) == 0:
        return None
    return Path(os.path.normpath(path.parent / str(names[0])))
