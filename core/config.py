"""Typed configs: a project (keypoints, skeleton, views) and a training run, read from YAML."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError
from core.names import Name

BACKBONES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
)


T = TypeVar("T", bound=BaseModel)

VIEW_PLACEHOLDER = "{view}"
VIEW_NAME = re.compile(r"[A-Za-z0-9]+")

UnsupervisedLoss = Literal["temporal", "pca_singleview", "pca_multiview"]
UNSUPERVISED_LOSSES: tuple[str, ...] = ("temporal", "pca_singleview", "pca_multiview")
DEFAULT_LOSS_WEIGHT = 0.5 * math.exp(-5.0)
"""Lightning Pose's ``log_weight: 5.0`` for every unsupervised loss, as a plain weight ``1 / (2 e^5)``."""


def repeated(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    return sorted({n for n in names if names.count(n) > 1})


def view_suffix(views: list[str], view: str) -> str:
    """``_<view>`` in the names of a separate camera's files (predictions_top.csv) when ``views``
    are separate cameras; nothing for a single camera."""
    return f"_{view}" if len(views) > 1 else ""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ProjectConfig(_Strict):
    """A pose project: what is tracked and where its labeled data lives.

    Paths are relative to the folder of ``project.yaml`` unless absolute.
    """

    name: Name
    keypoints: list[Name] = Field(min_length=1, description="body part names, in label-file column order")
    skeleton: list[tuple[Name, Name]] = Field(default_factory=list, description="edges between keypoints")
    views: list[Name] = Field(
        default_factory=lambda: ["main"],
        description="camera views: one for a single camera (a mirror's views in one frame included); 2 or more "
        "for separate synchronized cameras, one video per view whose file name holds the view name as a word "
        "(session1_top.mp4) and one label file per view (see labels_file)",
    )
    pca_keypoints: list[Name] = Field(default_factory=list, description="keypoints used by the Pose PCA loss")
    view_matches: list[list[Name]] = Field(
        default_factory=list,
        description="the same body parts seen in each view of one frame (mirrored views), one list per view",
    )
    flip_pairs: list[tuple[Name, Name]] = Field(
        default_factory=list, description="left/right keypoints swapped by a horizontal flip"
    )
    data_dir: Path = Field(default=Path("."), description="folder holding the labels and labeled-data/")
    labels_file: str = Field(
        default="CollectedData.csv",
        description="the label file under data_dir; with separate cameras a pattern with {view} "
        "(CollectedData_{view}.csv): one file per view, row i of every file the same moment",
    )
    video_dir: str = "videos"

    @field_validator("keypoints")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        if dupes := repeated(names):
            raise ValueError(f"keypoint names must be unique; repeated: {dupes}")
        return names

    @field_validator("views")
    @classmethod
    def _view_names(cls, views: list[str]) -> list[str]:
        if not views:
            raise ValueError("list at least one view")
        bad = [v for v in views if not VIEW_NAME.fullmatch(v)]
        if bad:
            raise ValueError(
                f"view names must be letters and digits only (they are matched as a word of video file "
                f"names such as session1_top.mp4); got {bad}"
            )
        if dupes := repeated(views):
            raise ValueError(f"view names must be unique; repeated: {dupes}")
        return views

    @model_validator(mode="after")
    def _camera_layout(self) -> ProjectConfig:
        if self.separate_cameras:
            if VIEW_PLACEHOLDER not in self.labels_file:
                raise ValueError(
                    f"labels_file: with {len(self.views)} camera views there is one label file per view; write "
                    f"the file name with {VIEW_PLACEHOLDER} for the view name, e.g. CollectedData_{VIEW_PLACEHOLDER}.csv"
                )
            if self.view_matches:
                raise ValueError(
                    "view_matches: these list a mirror's views inside one frame; with separate cameras every view "
                    "has the same keypoints and the multi-view PCA matches them by name: remove view_matches"
                )
        elif VIEW_PLACEHOLDER in self.labels_file:
            raise ValueError(
                f"labels_file: {VIEW_PLACEHOLDER} names a camera view, but the project has one view "
                f"({self.views[0]}); list the cameras in views or name one label file"
            )
        return self

    @model_validator(mode="after")
    def _known_names(self) -> ProjectConfig:
        known = set(self.keypoints)
        used = {
            "skeleton": [n for edge in self.skeleton for n in edge],
            "pca_keypoints": self.pca_keypoints,
            "view_matches": [n for group in self.view_matches for n in group],
            "flip_pairs": [n for pair in self.flip_pairs for n in pair],
        }
        for field_name, names in used.items():
            unknown = sorted(set(names) - known)
            if unknown:
                raise ValueError(f"{field_name} names keypoints that are not in keypoints: {unknown}")
        if len({len(group) for group in self.view_matches}) > 1:
            raise ValueError("view_matches: every view must list the same number of keypoints")
        return self

    @property
    def separate_cameras(self) -> bool:
        """Whether the views are separate synchronized cameras (one video and label file per view)."""
        return len(self.views) > 1

    def labels_path(self, view: str) -> Path:
        """The label file of ``view`` (for a single camera, the one label file)."""
        return Path(self.data_dir) / self.labels_file.replace(VIEW_PLACEHOLDER, view)

    @property
    def labels_paths(self) -> list[Path]:
        """One label file per view, in ``views`` order."""
        return [self.labels_path(view) for view in self.views]

    def index_of(self, names: list[str]) -> list[int]:
        return [self.keypoints.index(n) for n in names]

    @property
    def skeleton_indices(self) -> list[tuple[int, int]]:
        return [(self.keypoints.index(a), self.keypoints.index(b)) for a, b in self.skeleton]


MAX_IMAGE_SIZE = 2048
"""Largest image_height and image_width, pixels: a batch of a few such images already fills a GPU."""
INPUT_MULTIPLE = {"heatmap": 32, "context": 32, "stacked_densenet": 64}
"""Image height and width are multiples of the network's total downsampling: the backbones' stride 32;
the Stacked DenseNet's stride-4 stem then 4 halvings (4 * 2**4)."""
MAX_EPOCHS = 10_000
"""Lightning Pose trains 300 epochs; 10,000 is weeks of a GPU on a small project."""
MAX_BATCH_SIZE = 1024
MAX_SEED = 2**32 - 1
"""The largest seed numpy (and so Lightning's seed_everything) accepts."""

Epoch = Annotated[int, Field(ge=1, le=MAX_EPOCHS)]


class TrainConfig(_Strict):
    """One training run. Defaults follow Lightning Pose's schedule (300 epochs, Adam 1e-3, LR halved
    at epochs 150/200/250, backbone frozen for 20 epochs, validation every 5 epochs)."""

    model_type: Literal["heatmap", "stacked_densenet", "context"] = Field(
        default="heatmap",
        description="'heatmap' (backbone + upsampling head), 'stacked_densenet' (DeepPoseKit) or 'context' "
        "(the heatmap network on frames t-2..t+2 with a temporal head too; Lightning Pose's context model)",
    )
    backbone: Literal[BACKBONES] = "resnet50"  # type: ignore[valid-type]
    pretrained: str = Field(
        default="imagenet",
        description="'imagenet' (torchvision weights, when reachable), 'none', or a path to a weights file",
    )
    init_from: str = Field(
        default="",
        description="a trained model's folder whose weights start this training (fine-tuning, e.g. on more "
        "labels: same model type, backbone and keypoints; usually with fewer epochs); empty: start from "
        "'pretrained'",
    )
    image_height: int = Field(
        default=256,
        ge=32,
        le=MAX_IMAGE_SIZE,
        description="network input height, pixels (frames are resized to it): a multiple of 32, of 64 for "
        "stacked_densenet",
    )
    image_width: int = Field(
        default=256,
        ge=32,
        le=MAX_IMAGE_SIZE,
        description="network input width, pixels: a multiple of 32, of 64 for stacked_densenet",
    )
    posture_graph: bool = Field(default=False, description="train DeepPoseKit posture-graph maps too")
    densenet_stacks: int = Field(default=2, ge=1, le=8, description="Stacked DenseNet hourglasses")
    densenet_growth_rate: int = Field(
        default=48, ge=1, le=256, description="channels each Stacked DenseNet layer adds"
    )
    heatmap_sigma: float = Field(default=1.25, gt=0)
    decoder: Literal["soft_argmax", "subpixel"] = "soft_argmax"

    epochs: int = Field(default=300, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(default=16, ge=1, le=MAX_BATCH_SIZE)
    learning_rate: float = Field(default=1e-3, gt=0)
    lr_milestones: list[Epoch] = Field(
        default_factory=lambda: [150, 200, 250], max_length=100, description="epochs at which the LR is cut"
    )
    lr_gamma: float = Field(default=0.5, gt=0)
    freeze_backbone_epochs: int = Field(default=20, ge=0, le=MAX_EPOCHS)
    val_every_n_epochs: int = Field(default=5, ge=1, le=MAX_EPOCHS)
    max_minutes: float | None = Field(default=None, gt=0, description="stop training after this wall time")

    train_fraction: float = Field(default=0.8, gt=0, lt=1)
    val_fraction: float = Field(default=0.1, ge=0, lt=1)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    augmentation: Literal["default", "none"] = "default"
    flip: bool = Field(default=False, description="random left/right flips with the project's flip_pairs")

    device: Literal["auto", "cpu", "cuda"] = "auto"
    cpu_precision: Literal["32", "bf16", "auto"] = Field(
        default="32",
        description="arithmetic of training on a CPU: '32' (float32), 'bf16' (bfloat16 mixed precision: 1.3x "
        "the steps per second of the small recipe on CPUs with bf16 instructions, e.g. AMD Zen 4 or Intel "
        "Sapphire Rapids, slower on others) or 'auto' (bf16 where the CPU has those instructions). A GPU "
        "trains in bf16 mixed precision",
    )
    num_workers: int = Field(default=0, ge=0, le=64, description="data-loading worker processes")

    # Semi-supervised training (Lightning Pose's unsupervised losses on unlabeled video frames).
    losses: list[UnsupervisedLoss] = Field(
        default_factory=list,
        description="unsupervised losses on runs of unlabeled video frames: 'temporal' (keypoints that jump), "
        "'pca_singleview' (implausible poses, Pose PCA of pca_keypoints), 'pca_multiview' (views that "
        "disagree; needs the project's view_matches). Empty: supervised training only",
    )
    loss_weights: dict[UnsupervisedLoss, float] = Field(
        default_factory=lambda: dict.fromkeys(UNSUPERVISED_LOSSES, DEFAULT_LOSS_WEIGHT),
        description="weight of each unsupervised loss (pixels) against the supervised heatmap loss; "
        "losses not named keep the default 0.00337 (Lightning Pose's log_weight 5: 1 / (2 e^5))",
    )
    temporal_epsilon: float = Field(
        default=20.0, ge=0, description="temporal loss: frame pixels a keypoint may move per frame for free"
    )
    temporal_min_confidence: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="temporal loss: skip moves where either frame's confidence is lower",
    )
    unlabeled_seq_len: int | None = Field(
        default=None,
        ge=2,
        le=256,
        description="consecutive unlabeled frames per training step; default 32 on a GPU (Lightning Pose), "
        "8 on a CPU",
    )
    unlabeled_videos: list[str] = Field(
        default_factory=list,
        description="videos or folders of videos for the unlabeled frames (relative to the project's "
        "data_dir); default: the project's video_dir",
    )
    anneal_start_epoch: int = Field(
        default=60,
        ge=0,
        le=MAX_EPOCHS,
        description="the unsupervised losses count from the epoch after this one (0-based); Lightning Pose: 60",
    )
    anneal_increase_per_epoch: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description="their factor then grows by this much per epoch, up to 1; Lightning Pose: 0.01",
    )

    @field_validator("losses")
    @classmethod
    def _distinct_losses(cls, losses: list[str]) -> list[str]:
        if dupes := repeated(losses):
            raise ValueError(f"each unsupervised loss may be listed once; repeated: {dupes}")
        return losses

    @field_validator("loss_weights")
    @classmethod
    def _weights(cls, weights: dict[str, float]) -> dict[str, float]:
        negative = {name: w for name, w in weights.items() if not w >= 0}
        if negative:
            raise ValueError(f"loss weights must be 0 or more; got {negative}")
        return {**dict.fromkeys(UNSUPERVISED_LOSSES, DEFAULT_LOSS_WEIGHT), **weights}

    @model_validator(mode="after")
    def _input_size(self) -> TrainConfig:
        multiple = INPUT_MULTIPLE[self.model_type]
        for name, size in (("image_height", self.image_height), ("image_width", self.image_width)):
            if size % multiple:
                nearest = sorted(
                    {max(multiple, size // multiple * multiple), size // multiple * multiple + multiple}
                )
                raise ValueError(
                    f"{name} {size} is not a multiple of {multiple}, which the {self.model_type} model needs; "
                    f"use {' or '.join(map(str, nearest))}"
                )
        return self

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.train_fraction + self.val_fraction >= 1.0 + 1e-9:
            raise ValueError("train_fraction + val_fraction must be below 1 (the rest is the test split)")
        return self

    @property
    def semi_supervised(self) -> bool:
        """Whether training adds unsupervised losses on unlabeled video frames."""
        return bool(self.losses)

    @property
    def uses_context(self) -> bool:
        """Whether the network's inputs are 5-frame windows t-2..t+2 (the context model)."""
        return self.model_type == "context"


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, found {type(data).__name__}")
    return data


def parse_config(model: type[T], data: dict, source: str) -> T:
    """Validate ``data`` into ``model``; errors name each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"  {where}: {err['msg']}")
        raise ConfigError(f"{source} has invalid settings:\n" + "\n".join(problems)) from None


def load_project(path: str | Path) -> ProjectConfig:
    """Read ``project.yaml`` (or a folder holding one); ``data_dir`` becomes absolute."""
    path = Path(path)
    if path.is_dir():
        path = path / "project.yaml"
    project = parse_config(ProjectConfig, _load_yaml(path), str(path))
    if not project.data_dir.is_absolute():
        project.data_dir = (path.parent / project.data_dir).resolve()
    return project


def load_train_config(path: str | Path | None, overrides: dict | None = None) -> TrainConfig:
    """Read a training config from YAML (or defaults when ``path`` is None) plus overrides."""
    data = _load_yaml(Path(path)) if path else {}
    data.update(overrides or {})
    return parse_config(TrainConfig, data, str(path) if path else "training settings")


def save_yaml(model: BaseModel, path: Path) -> None:
    path.write_text(yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False))
