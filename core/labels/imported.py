"""What an importer (DeepLabCut project, SLEAP file) hands back, and the steps every importer shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import LabelFormatError
from core.labels.dlc_csv import write_pose_csv
from core.labels.table import PoseTable

LABELS_CSV = "CollectedData.csv"
VIDEO_DIR = "videos"


@dataclass
class ImportedLabels:
    """Labels imported into a posecloud project folder.

    Attributes:
        keypoints: keypoint names, in column order of ``labels``.
        skeleton: edges as pairs of keypoint names.
        labels: ``(frames, keypoints, 2)`` x/y labels in pixels, indexed ``labeled-data/<video>/<image>``.
        labels_csv: the DeepLabCut-style CSV the labels were written to.
        videos: the videos brought into ``<dest>/videos/`` (copied or linked).
        missing_videos: the videos the source lists that were not found (not imported).
    """

    keypoints: list[str]
    skeleton: list[tuple[str, str]]
    labels: PoseTable
    labels_csv: Path
    videos: list[Path] = field(default_factory=list)
    missing_videos: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_skeleton(self.keypoints, self.skeleton)


def check_skeleton(keypoints: list[str], skeleton: list[tuple[str, str]], source: str = "the labels") -> None:
    """Raise a LabelFormatError if a skeleton edge names something that is not a keypoint."""
    unknown = sorted({name for edge in skeleton for name in edge} - set(keypoints))
    if unknown:
        raise LabelFormatError(
            f"skeleton edges in {source} name {unknown}, which are not keypoints {keypoints}; "
            "fix the skeleton so every edge joins two keypoints"
        )


def image_destination(dest_dir: Path, video: str, image: str) -> tuple[str, Path]:
    """The label index ``labeled-data/<video>/<image>`` and that file's path under ``dest_dir``.

    The image's folder is created.
    """
    relative = f"labeled-data/{video}/{image}"
    path = dest_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return relative, path


def finish_import(
    dest_dir: Path, keypoints: list[str], skeleton: list[tuple[str, str]], labels: PoseTable
) -> ImportedLabels:
    """Check that every labeled image is in ``dest_dir``, then write ``dest_dir/CollectedData.csv``."""
    absent = [name for name in labels.index if not (dest_dir / name).is_file()]
    if absent:
        raise LabelFormatError(f"labeled images missing from {dest_dir}: {absent[:5]}; import them again")
    result = ImportedLabels(list(keypoints), [tuple(e) for e in skeleton], labels, dest_dir / LABELS_CSV)
    write_pose_csv(labels, result.labels_csv)
    return result
