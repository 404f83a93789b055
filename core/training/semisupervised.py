"""Semi-supervised training: the unsupervised losses a training config asks for, checked against the
project, fitted on the training split, and applied to a network's predictions on runs of
unlabeled video frames (``core.data.unlabeled``).

A PCA loss that cannot be fitted (too few complete labeled frames in the training split: the
"0 samples < N dims" / NaN failure Lightning Pose users hit) is dropped with a warning saying why,
and training goes on with the other losses; a loss the project cannot support at all (multi-view
without ``view_matches``) is a ConfigError before training starts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from core.config import ProjectConfig, TrainConfig
from core.data.cameras import group_videos
from core.data.unlabeled import project_videos
from core.errors import ConfigError, VideoError
from core.labels.table import PoseTable
from core.losses.unsupervised import LossTerm, PCALoss, TemporalLoss
from core.plausibility.pose_pca import (
    NotEnoughPosesError,
    PosePCA,
    camera_poses,
    fit_project_multiview_pca,
    fit_project_pose_pca,
)
from core.video.reader import probe_video

log = logging.getLogger(__name__)

SEQ_LEN_GPU = 32  # Lightning Pose's unlabeled run length
SEQ_LEN_CPU = 8


def check_semisupervised(project: ProjectConfig, train: TrainConfig) -> None:
    """Raise a ConfigError for unsupervised losses the project cannot have (before any training)."""
    if "pca_multiview" in train.losses and not project.separate_cameras and len(project.view_matches) < 2:
        raise ConfigError(
            "losses: 'pca_multiview' needs 2 or more views: separate cameras (the project's views) or a "
            "mirror's views in one frame (view_matches, the same body parts listed for each view; project "
            f"{project.name!r} lists {len(project.view_matches)}); add them to project.yaml or remove "
            "'pca_multiview' from losses"
        )


def unlabeled_video_paths(project: ProjectConfig, train: TrainConfig) -> list[Path]:
    """The videos named by ``train.unlabeled_videos`` (files or folders, relative to the project's
    ``data_dir``), or the project's ``video_dir`` when it names none."""
    if not train.unlabeled_videos:
        return project_videos(project)
    paths: list[Path] = []
    for entry in train.unlabeled_videos:
        path = Path(project.data_dir) / entry  # an absolute entry stays as it is
        if path.is_dir():
            paths += project_videos(project.model_copy(update={"video_dir": str(path)}))
        elif path.is_file():
            paths.append(path)
        else:
            raise VideoError(f"unlabeled_videos: {path} is neither a video file nor a folder of videos")
    return paths


def resolve_seq_len(train: TrainConfig, device: torch.device) -> int:
    """``train.unlabeled_seq_len``, or its default for ``device``."""
    if train.unlabeled_seq_len is not None:
        return train.unlabeled_seq_len
    return SEQ_LEN_GPU if device.type == "cuda" else SEQ_LEN_CPU


def check_videos(project: ProjectConfig, videos: list[Path], seq_len: int, labels: list[PoseTable]) -> None:
    """A VideoError unless some video (separate cameras: some session, in every view) has ``seq_len``
    frames, or when the cameras' videos cannot be grouped into sessions (``group_videos``); a warning
    when a view's videos differ in frame size from its labeled images (the PCAs are fitted in
    labeled-image pixels)."""
    sessions = [[probe_video(v) for v in session] for session in group_videos(videos, project.views)]
    if not any(min(i.frame_count for i in session) >= seq_len for session in sessions):
        counts = ", ".join(f"{i.path.name}: {i.frame_count}" for session in sessions for i in session)
        raise VideoError(
            f"semi-supervised training needs videos of at least unlabeled_seq_len={seq_len} frames "
            f"({counts}); add longer videos or set a smaller unlabeled_seq_len"
        )
    for view, table in enumerate(labels):
        image = cv2.imread(str(project.data_dir / table.index[0]))
        if image is None:
            continue
        infos = [session[view] for session in sessions]
        other = sorted({f"{i.width}x{i.height}" for i in infos if (i.height, i.width) != image.shape[:2]})
        if other:
            log.warning(
                "unlabeled videos%s are %s but the labeled frames are %dx%d; the unsupervised losses "
                "measure pixels of the videos against PCAs fitted on the labels",
                f" of view {project.views[view]}" if project.separate_cameras else "",
                ", ".join(other),
                image.shape[1],
                image.shape[0],
            )


def rows_of(table: PoseTable, rows: np.ndarray) -> PoseTable:
    """The rows ``rows`` of a pose table."""
    rows = np.asarray(rows, dtype=int)
    extra = {name: [column[r] for r in rows] for name, column in table.extra.items()}
    return PoseTable(
        list(table.keypoints),
        [table.index[r] for r in rows],
        table.values[rows],
        table.fields,
        table.scorer,
        extra,
    )


def fit_training_pcas(
    project: ProjectConfig,
    labels: list[PoseTable],
    names: list[str],
    source: str,
    consequence: str = "training goes on without the {name} loss",
    level: int = logging.WARNING,
) -> dict[str, PosePCA]:
    """The PCAs of the losses (or metrics) ``names`` among 'pca_singleview' / 'pca_multiview', fitted
    on ``labels`` (one table per view, named ``source`` in messages); one that cannot be fitted is
    left out and logged at ``level`` with why and ``consequence`` (``{name}`` stands for the loss's name)."""
    fits = {"pca_singleview": fit_project_pose_pca, "pca_multiview": fit_project_multiview_pca}
    pcas: dict[str, PosePCA] = {}
    for name in names:
        try:
            pcas[name] = fits[name](project, labels, source)
        except NotEnoughPosesError as e:
            log.log(level, "%s: %s -> %s", name, e, consequence.format(name=name))
    return pcas


class CameraPCALoss(nn.Module):
    """The multi-view PCA loss of separate cameras: the views' predictions of the same frames,
    ``(..., V, T, K, 2)``, become the PCA's poses (``camera_poses``) before ``PCALoss``."""

    def __init__(self, pca: PosePCA, columns: list[int]) -> None:
        super().__init__()
        self.loss = PCALoss(pca)
        self.columns = columns

    def forward(self, xy: torch.Tensor) -> LossTerm:
        return self.loss(camera_poses(xy, self.columns))


class UnsupervisedLosses(nn.Module):
    """The unsupervised losses of a run: ``forward(xy, confidence) -> {name: LossTerm}``.

    Args of ``forward``:
        xy: ``(heads, V, T, K, 2)`` predicted keypoints of a run of T consecutive frames seen by V
            views (V = 1 for a single camera), frame pixels.
        confidence: ``(heads, V, T, K)`` the predictions' confidences (gate the temporal loss).
    """

    def __init__(self, project: ProjectConfig, train: TrainConfig, pcas: dict[str, PosePCA]) -> None:
        super().__init__()
        self.weights = {name: float(train.loss_weights[name]) for name in train.losses}
        self.temporal = (
            TemporalLoss(train.temporal_epsilon, train.temporal_min_confidence)
            if "temporal" in train.losses
            else None
        )
        pca_columns = project.index_of(project.pca_keypoints or project.keypoints)
        self.pca = nn.ModuleDict(
            {
                name: CameraPCALoss(pca, pca_columns)
                if name == "pca_multiview" and project.separate_cameras
                else PCALoss(pca, project.index_of(pca.keypoints))
                for name, pca in pcas.items()
            }
        )

    @property
    def names(self) -> list[str]:
        """The losses in use, in a fixed order."""
        return (["temporal"] if self.temporal is not None else []) + list(self.pca)

    def forward(self, xy: torch.Tensor, confidence: torch.Tensor) -> dict[str, LossTerm]:
        terms = {}
        if self.temporal is not None:
            terms["temporal"] = self.temporal(xy, confidence)
        for name, loss in self.pca.items():
            terms[name] = loss(xy)
        return terms

    def weighted_sum(self, terms: dict[str, LossTerm]) -> torch.Tensor:
        """``sum(weight x value)`` over ``terms``."""
        return torch.stack([self.weights[name] * term.value for name, term in terms.items()]).sum()


def build_unsupervised(
    project: ProjectConfig, train: TrainConfig, train_labels: list[PoseTable]
) -> UnsupervisedLosses | None:
    """The losses ``train.losses`` asks for, the PCAs fitted on ``train_labels`` (the training split,
    one table per view); None (supervised training, said in a warning) when none of them is left."""
    if not train.losses:
        return None
    source = f"the {len(train_labels[0].index)} labeled frames of the training split"
    pcas = fit_training_pcas(project, train_labels, [n for n in train.losses if n.startswith("pca_")], source)
    losses = UnsupervisedLosses(project, train, pcas)
    if not losses.names:
        log.warning(
            "none of the unsupervised losses %s can be used; training is supervised only", train.losses
        )
        return None
    dropped = [n for n in train.losses if n not in losses.names]
    log.info(
        "semi-supervised training with %s%s",
        ", ".join(losses.names),
        f" (dropped: {', '.join(dropped)})" if dropped else "",
    )
    return losses
