"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.config import MAX_SEED
from core.names import Name
from worker.state.progress import JobProgress

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
Username = Annotated[str, Field(min_length=3, max_length=64, pattern=USERNAME_PATTERN)]
"""ASCII letters, digits, '_', '.' and '-': it names the user in Label Studio and FiftyOne too."""
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class UserCreate(BaseModel):
    username: Username
    password: str = Field(min_length=8, max_length=256)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class ProjectCreate(BaseModel):
    """A new project; names in ``skeleton`` must be keypoints (checked like a project.yaml)."""

    name: Name
    keypoints: list[Name] = Field(min_length=1, description="body part names, in label-file column order")
    skeleton: list[tuple[Name, Name]] = Field(default_factory=list, description="edges between keypoints")
    views: list[Name] = Field(
        default_factory=lambda: ["main"],
        min_length=1,
        description="camera views: one (a mirror's views in one frame go in view_matches), or 2 or more separate "
        "synchronized cameras, each with its own label file and one video per view and session, the view's "
        "name a word of the video's file name (session1_top.mp4)",
    )
    pca_keypoints: list[Name] = Field(default_factory=list, description="keypoints used by the Pose PCA loss")
    view_matches: list[list[Name]] = Field(
        default_factory=list, description="the same body parts in each view of one frame (mirrors)"
    )
    flip_pairs: list[tuple[Name, Name]] = Field(default_factory=list, description="left/right keypoint pairs")


class ProjectOut(BaseModel):
    id: int
    name: str
    owner: str
    members: list[str]
    roles: dict[str, str] = Field(description="username -> owner, trainer, labeler or viewer")
    keypoints: list[str]
    skeleton: list[tuple[str, str]]
    views: list[str]
    pca_keypoints: list[str]
    view_matches: list[list[str]]
    flip_pairs: list[tuple[str, str]]
    created_at: datetime
    labeled_frames: int | None = Field(
        description="frames with at least one labeled keypoint (first view); None when its label file cannot be read"
    )


MemberRole = Literal["trainer", "labeler", "viewer"]


class MemberAdd(BaseModel):
    username: Username
    role: MemberRole = Field(
        default="trainer",
        description="trainer: label, train, predict, compare; labeler: label and see frames and labels; "
        "viewer: read",
    )


class RoleChange(BaseModel):
    role: MemberRole


class VideoOut(BaseModel):
    """An uploaded video: frame rate (frames/s), frame count, size in pixels, codec, file size (bytes)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    filename: str
    size_bytes: int
    fps: float
    frames: int
    width: int
    height: int
    codec: str
    transcoded: bool = Field(description="whether the constant-frame-rate, all-keyframe copy is ready")
    created_at: datetime


class LabelsOut(BaseModel):
    """The project's labels after an upload: labeled frames and how many keypoints are labeled."""

    view: str
    frames: int
    keypoints: list[str]
    labeled_keypoints: int
    videos: list[str] = Field(
        default_factory=list,
        description="videos the upload brought (a DeepLabCut project's), being transcoded",
    )


class ProjectImported(BaseModel):
    """A project made from another tool's, and the labels it came with."""

    project: ProjectOut
    labels: LabelsOut


class TrainingRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=USERNAME_PATTERN)
    train: dict = Field(default_factory=dict, description="training settings (see GET /train-config-schema)")


class ModelCreate(TrainingRequest):
    """Train a model. ``train`` holds core.config.TrainConfig settings (defaults for the rest)."""

    start_from_model: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="fine-tune: a trained model of this project (same model type and backbone) whose "
        "weights start the training, e.g. after more frames were labeled; usually with fewer epochs",
    )


class EnsembleCreate(TrainingRequest):
    """Train one member per seed, in parallel on the available worker slots."""

    seeds: list[Seed] = Field(min_length=2, max_length=16, description="one ensemble member per seed")
    start_from_ensemble: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="fine-tune: a trained ensemble of this project with one member per seed; each new "
        "member starts from the weights of the member with its seed",
    )


class ModelOut(BaseModel):
    id: int
    name: str
    ensemble_id: int | None
    train_config: dict
    state: str = Field(description="the training job's state")
    train_job_id: int | None
    summary: dict | None = Field(description="pixel error per split and confidence, once trained")
    label_version: int | None = Field(
        default=None, description="the number of the label version it trained on, once its training started"
    )
    started_from: str | None = Field(
        default=None, description="the model whose weights its training started from (fine-tuning)"
    )
    created_at: datetime


class LabelVersionOut(BaseModel):
    number: int = Field(description="counts the project's label versions from 1")
    sha256: str = Field(description="hash of the label files' content")
    source: str = Field(description="what changed the labels: upload, import, labelstudio, training")
    user: str | None = Field(description="who made the change, where known")
    labeled_frames: int
    models: list[str] = Field(description="the models trained on this version")
    created_at: datetime


class ViewChanges(BaseModel):
    view: str
    added: list[str] = Field(description="frames labeled in the later version only")
    removed: list[str] = Field(description="frames labeled in the earlier version only")
    moved: dict[str, float] = Field(description="frame -> its largest keypoint move, px (moves over 1 px)")
    keypoints_changed: list[str] = Field(description="frames that gained or lost labeled keypoints")


class LabelVersionChanges(BaseModel):
    before: int
    after: int
    views: list[ViewChanges]


class QCReasonOut(BaseModel):
    kind: str = Field(description="swap, pose, edge, angle, outside or duplicate")
    keypoints: list[str]
    detail: str = Field(description="one line for a person, with the numbers")


class FlaggedFrame(BaseModel):
    image: str = Field(description="the frame's row in the label file (labeled-data/...)")
    score: float = Field(description="the largest robust z-score of its checks that flag")
    reasons: list[QCReasonOut] = Field(description="definite problems first, then the largest z first")
    labelstudio_url: str | None = Field(
        description="its Label Studio task, once the labeling page is prepared"
    )


class ViewQC(BaseModel):
    view: str
    frames: int = Field(description="labeled frames checked")
    flagged: list[FlaggedFrame] = Field(description="to review, worst first")
    reviewed: list[FlaggedFrame] = Field(description="flagged, but a reviewer said their labels are right")
    notes: list[str] = Field(description="checks that could not run, and why")


class LabelQCOut(BaseModel):
    z: float
    views: list[ViewQC]


class QCReviewed(BaseModel):
    images: list[str] = Field(min_length=1, max_length=10_000, description="frames whose labels are right")


class EnsembleOut(BaseModel):
    id: int
    name: str
    state: str = Field(description="its training job's state (the members' group): running while one trains")
    train_job_id: int | None
    members: list[ModelOut]
    created_at: datetime


class FrameExtraction(BaseModel):
    """Frames to label from a video: ``n`` picked for varied postures, or the given frame numbers."""

    n: int | None = Field(default=None, ge=1, le=2000, description="how many frames to pick")
    frames: list[int] | None = Field(default=None, min_length=1, max_length=2000, description="frame numbers")
    context: int = Field(default=2, ge=0, le=5, description="neighbouring frames saved on each side")


class PredictionCreate(BaseModel):
    """Predict a video with one model, or with an ensemble (members in parallel, then the EKS)."""

    video_id: int
    model_id: int | None = None
    ensemble_id: int | None = None
    s: float | None = Field(default=None, gt=0, description="EKS smoothing parameter; fitted when omitted")
    labeled_video: bool | None = Field(
        default=None,
        description="also draw the predictions (an ensemble's: the EKS) on an H.264 copy of the video, "
        "<video>.labeled.mp4; when omitted, drawn for videos of up to 18,000 frames",
    )
    runtime: Literal["torch", "bf16", "onnx", "openvino", "openvino-bf16", "auto"] = Field(
        default="auto",  # as `posecloud predict`: the app and the command line predict alike
        description="what runs the network: torch (float32), bf16 (torch under bfloat16 autocast, faster on "
        "CPUs with bf16 instructions), onnx (ONNX Runtime on the CPU), openvino / openvino-bf16 (OpenVINO on "
        "the CPU, float32 / bfloat16), or auto (the fastest float32 runtime whose keypoints agree with "
        "torch's within 0.1 input px on four batches spread over the video, for videos torch would take a "
        "minute or more on; bf16 can move ambiguous keypoints far, so auto never takes it)",
    )


class Rename(BaseModel):
    """A new name for a model or an ensemble."""

    name: str = Field(min_length=1, max_length=100, pattern=USERNAME_PATTERN)


class LabeledFrameScores(BaseModel):
    """A model's predictions of the labeled frames, one entry per labeled frame and keypoint in every
    list (a long table, ready to plot): the image, its split, the keypoint, the distance to the label
    (pixels; None where the keypoint is not labeled), the confidence, and the PCA errors
    (``pca_singleview_error``, ``pca_multiview_error``: None where the model has none)."""

    model_id: int
    model: str
    keypoints: list[str]
    columns: dict[str, list[str | float | None]]


class Traces(BaseModel):
    """A prediction job's trajectories, one entry per frame and keypoint in every list: ``source``
    (the model's name; for an ensemble "<its name> (EKS)" and, when asked, each member's name),
    ``frame``, ``keypoint``, ``x``, ``y``, ``likelihood``, the metrics (``temporal_norm``,
    ``pca_singleview_error``, ``pca_multiview_error``, where written) and, for the EKS, the ensemble
    variance (``x_ens_var``, ``y_ens_var``) and posterior variance (``x_posterior_var``,
    ``y_posterior_var``); None where a value does not exist (another source's column, frame 0's
    temporal norm)."""

    job_id: int
    video: str
    keypoints: list[str]
    columns: dict[str, list[str | float | int | None]]


class PreannotationCreate(BaseModel):
    """Pre-annotate the project's Label Studio tasks with one model, or with an ensemble."""

    model_id: int | None = None
    ensemble_id: int | None = None


class SelectionCreate(PreannotationCreate):
    """Active selection: the ``n`` frames of a video a model or an ensemble is least sure of."""

    video_id: int
    n: int = Field(default=20, ge=1, le=2000, description="how many frames to pick")


class RoundCreate(PreannotationCreate):
    """Start a labeling round: frames to label mined from videos by the model or ensemble it starts
    from (by default the previous round's; the first round picks varied postures instead)."""

    budget: int = Field(ge=1, le=2000, description="frames to label this round, spread across the videos")
    video_ids: list[int] | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="videos to mine; default: all of the project's",
    )


class RoundTraining(BaseModel):
    """Train on a round's labels: fine-tune from the round's start (each ensemble member from the
    member with its seed, half the epochs) or train from scratch with the start's settings."""

    name: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=USERNAME_PATTERN, description="default: round-N"
    )
    fine_tune: bool = Field(default=True, description="start from the round's start model's weights")
    seeds: list[Seed] = Field(
        default=[0, 1],
        min_length=1,
        max_length=16,
        description="a first round's ensemble members (later rounds keep their start's seeds)",
    )
    train: dict = Field(default_factory=dict, description="training settings that differ from the start's")


class RoundFrame(BaseModel):
    image: str = Field(description="its label-file row name (a camera project: the first view's)")
    frame: int
    reasons: list[str] = Field(description="why it was picked")
    labeled: bool


class RoundOut(BaseModel):
    number: int
    state: str = Field(description="picking, labeling, ready to train, training, trained or failed")
    started_from: str | None = Field(
        description="the ensemble or model that mined its frames; None: varied postures"
    )
    videos: list[str]
    budget: int
    frames: list[RoundFrame]
    labeled: int = Field(description="how many of its frames are labeled now")
    spread_px: float | None = Field(
        description="median ensemble spread of the start ensemble on the mined videos, pixels"
    )
    trained: str | None = Field(description="the ensemble or model its training made")
    fine_tuned: bool | None = Field(description="whether that training started from the round's start")
    labeled_frames: int | None = Field(description="labeled frames its training learned from")
    test_px_error: float | None = Field(description="its models' mean test pixel error, frame pixels")
    created_at: datetime


class RoundsOut(BaseModel):
    rounds: list[RoundOut]
    stop_hint: str | None = Field(description="set when another round is unlikely to lower the test error")


class LabelerOut(BaseModel):
    labeler: str | None = Field(description="a username; None: labels that came with an upload or import")
    frames: int = Field(description="frames whose labels are theirs (their task's newest annotation)")
    median_seconds_per_frame: float | None = Field(
        description="Label Studio's time from opening to submitting"
    )
    flagged: int = Field(description="how many of those frames label QC flags now")


class RecheckCreate(BaseModel):
    """Show labeled frames to their labelers again, blind, to measure each one's consistency."""

    fraction: float = Field(
        gt=0, le=1, description="of each labeler's frames not shown again before; at least one frame each"
    )
    seed: int | None = Field(default=None, ge=0, description="for a repeatable choice of frames")


class RechecksMade(BaseModel):
    shown: dict[str, int] = Field(description="labeler -> frames added to the labeling page for them again")


class ConsistencyOut(BaseModel):
    labeler: str | None = Field(description="a username; None: a labeler no longer a posecloud user")
    shown: int = Field(description="their frames shown again")
    relabeled: int = Field(description="of those, labeled again by them")
    by_others: int = Field(description="labeled again by someone else instead (not counted)")
    median_px: float | None = Field(description="median distance between their two labels, all keypoints")
    keypoints_px: dict[str, float | None] = Field(description="per keypoint, the median distance in pixels")


class JobMember(BaseModel):
    """A child job of a parent (an ensemble member's training or prediction)."""

    id: int
    kind: str
    params: dict
    state: str
    attempt: int
    progress: JobProgress | None = Field(description="its latest report (final once it ends); None before it")
    error: str | None


class JobSummary(BaseModel):
    """A job as listed: what it does, where it stands, what it produced."""

    id: int
    project_id: int
    parent_id: int | None
    kind: str
    params: dict
    state: str = Field(description="a parent waiting for its members reads running while one of them runs")
    attempt: int
    max_attempts: int
    cancel_requested: bool = Field(description="a cancel was asked; a running job stops at its next report")
    progress: JobProgress | None = Field(
        description="the current attempt's latest report (final once the job ends); a parent that has not "
        "reported itself reads as its members' aggregate (models done, the slowest member's ETA)"
    )
    error: str | None
    artifacts: list[str] = Field(description="file names to download from .../artifacts/{name}")
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_age_s: float | None = Field(description="seconds since a running job's last heartbeat")
    members: list[JobMember] = Field(description="the child jobs (ensemble members), in order")


class JobOut(JobSummary):
    """One job in full, with the last lines it logged and its earlier attempts."""

    log_tail: str
    history: list[dict] = Field(description="earlier attempts: outcome, error, worker, times, log tail")


class WorkerSlotOut(BaseModel):
    """A live worker slot: where it runs, on what, and the job it runs (when the caller may see it)."""

    name: str
    host: str
    device: str
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_age_s: float
    busy: bool
    job_id: int | None = Field(description="the running job, when it is in one of the caller's projects")
    project_id: int | None
