"""Database tables: users, auth tokens, projects, project members, videos, models, ensembles, label
versions, labeling rounds, jobs, worker slots, Label Studio records."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes, stored naive (UTC) so SQLite and PostgreSQL behave alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC).replace(tzinfo=None) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthToken(Base):
    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_projects_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    keypoints: Mapped[list[str]] = mapped_column(JSON)
    skeleton: Mapped[list[list[str]]] = mapped_column(JSON)
    views: Mapped[list[str]] = mapped_column(JSON)
    pca_keypoints: Mapped[list[str]] = mapped_column(JSON, default=list)
    view_matches: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    flip_pairs: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner: Mapped[User] = relationship()
    members: Mapped[list[ProjectMember]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )
    videos: Mapped[list[Video]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True, order_by="Video.id"
    )


class ProjectMember(Base):
    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(
        String(20), default="trainer"
    )  # trainer, labeler or viewer: what the service lets a member do
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Video(Base):
    """An uploaded video; ``storage_key`` names the original file in storage, ``transcoded_key`` its
    constant-frame-rate, all-keyframe H.264 copy once the transcode job has made it."""

    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    storage_key: Mapped[str] = mapped_column(String(300), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    fps: Mapped[float] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    codec: Mapped[str] = mapped_column(String(32))
    transcoded_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(back_populates="videos")

    @property
    def transcoded(self) -> bool:
        return self.transcoded_key is not None


class Ensemble(Base):
    """Models trained together (differing in seed and/or settings) whose predictions the EKS combines."""

    __tablename__ = "ensembles"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_ensembles_project_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    train_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[Model]] = relationship(back_populates="ensemble", order_by="Model.id")
    train_job: Mapped[Job | None] = relationship(foreign_keys=[train_job_id])


class Model(Base):
    """A trained (or training) model; its files live under ``storage_prefix``."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_models_project_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    ensemble_id: Mapped[int | None] = mapped_column(
        ForeignKey("ensembles.id", ondelete="SET NULL"), index=True, nullable=True
    )
    name: Mapped[str] = mapped_column(String(200))
    train_config: Mapped[dict] = mapped_column(JSON)
    storage_prefix: Mapped[str] = mapped_column(String(300), default="")
    summary: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    train_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True
    )
    # the labels it was trained on (set when its training starts)
    label_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("label_versions.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ensemble: Mapped[Ensemble | None] = relationship(back_populates="members")
    train_job: Mapped[Job | None] = relationship(foreign_keys=[train_job_id])
    label_version: Mapped[LabelVersion | None] = relationship()
    # the model whose weights its training started from (fine-tuning), if any
    start_model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", ondelete="SET NULL"), nullable=True
    )
    start_model: Mapped[Model | None] = relationship(remote_side="Model.id", foreign_keys=[start_model_id])


class LabelVersion(Base):
    """One state of a project's label files, kept whenever they change (``worker.state.label_versions``).

    ``number`` counts a project's versions from 1; ``sha256`` is the content's hash, and the copy
    of the files lives under ``label_version_prefix(project, sha256)``; ``source`` says what made the
    change (an upload, Label Studio, a training that found labels no version held yet)."""

    __tablename__ = "label_versions"
    __table_args__ = (UniqueConstraint("project_id", "number", name="uq_label_versions_project_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    labeled_frames: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LabelRecheck(Base):
    """A labeled frame shown again, blind, to measure its labeler's consistency with themself
    (``app.labelstudio.rechecks``): a second Label Studio task (``ls_task_id``) for ``image`` (the
    first view's row name), without labels or predictions, whose annotation by the labeler
    (``labeler_ls_user_id``) is compared with theirs on the frame's own task (``original_ls_task_id``).
    Its images are served under ``alias``, a random name (None for rechecks made before aliases,
    whose tasks show the frame's own address). Its annotations never reach the label files."""

    __tablename__ = "label_rechecks"

    ls_task_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    image: Mapped[str] = mapped_column(String(500))
    original_ls_task_id: Mapped[int] = mapped_column(Integer)
    labeler_ls_user_id: Mapped[int] = mapped_column(Integer)
    alias: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LabelingRound(Base):
    """One round of the labeling loop (``app.rounds``): frames mined from ``video_ids`` within
    ``budget`` (one frame job per video, ``job_ids``), by the outlier scores of the predictions of
    the ensemble or model it starts from, or for varied postures when it starts from none; labeled in
    Label Studio; then the training it launched (``trained_model`` or ``trained_ensemble``).
    ``label_version`` holds the labels as they were when the round began."""

    __tablename__ = "labeling_rounds"
    __table_args__ = (UniqueConstraint("project_id", "number", name="uq_labeling_rounds_project_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    start_model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", ondelete="SET NULL"), nullable=True
    )
    start_ensemble_id: Mapped[int | None] = mapped_column(
        ForeignKey("ensembles.id", ondelete="SET NULL"), nullable=True
    )
    video_ids: Mapped[list[int]] = mapped_column(JSON)
    budget: Mapped[int] = mapped_column(Integer)
    job_ids: Mapped[list[int]] = mapped_column(JSON)
    label_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("label_versions.id", ondelete="SET NULL"), nullable=True
    )
    trained_model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", ondelete="SET NULL"), nullable=True
    )
    trained_ensemble_id: Mapped[int | None] = mapped_column(
        ForeignKey("ensembles.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    start_model: Mapped[Model | None] = relationship(foreign_keys=[start_model_id])
    start_ensemble: Mapped[Ensemble | None] = relationship(foreign_keys=[start_ensemble_id])
    label_version: Mapped[LabelVersion | None] = relationship()
    trained_model: Mapped[Model | None] = relationship(foreign_keys=[trained_model_id])
    trained_ensemble: Mapped[Ensemble | None] = relationship(foreign_keys=[trained_ensemble_id])


class Job(Base):
    """A unit of work run by a worker. The record is the truth; Redis only carries ``(id, attempt)``.

    ``state``: waiting (for other jobs) | queued | running | succeeded | failed | cancelled.
    ``attempt`` grows with every (re)delivery the service makes; a message whose attempt is not the
    record's is stale and ignored, so duplicates never run twice. ``progress``, ``worker``, ``log_tail``
    and the times are the current attempt's; ``history`` keeps each earlier attempt's outcome, error
    and log tail.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), index=True, nullable=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    progress: Mapped[dict] = mapped_column(JSON, default=dict)
    log_tail: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    artifacts: Mapped[dict] = mapped_column(JSON, default=dict)
    history: Mapped[list[dict]] = mapped_column(JSON, default=list)
    broker_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    children: Mapped[list[Job]] = relationship(order_by="Job.id")


class WorkerSlot(Base):
    """A worker slot that is (or was) alive: it beats every few seconds while its process runs; the
    job it runs is the running job whose ``worker`` is this slot's name."""

    __tablename__ = "worker_slots"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    device: Mapped[str] = mapped_column(String(64))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LabelStudioAccount(Base):
    """A posecloud user's own Label Studio user (created by the service; it has no password). The
    legacy token authenticates the service as that user; the personal token (a JWT refresh token)
    is turned into the short-lived access tokens the proxy signs the user's requests with."""

    __tablename__ = "labelstudio_accounts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    ls_user_id: Mapped[int] = mapped_column(Integer, unique=True)
    legacy_token: Mapped[str] = mapped_column(String(64))
    personal_token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LabelStudioProject(Base):
    """The Label Studio project of a posecloud project: the label config the service last set (a
    different config found there was edited by hand) and the secret its webhooks carry."""

    __tablename__ = "labelstudio_projects"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    ls_project_id: Mapped[int] = mapped_column(Integer, unique=True)
    label_config: Mapped[str] = mapped_column(Text)
    hook_secret: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LabelStudioTask(Base):
    """One Label Studio task: one labeled moment of a project (``image``: its label-file row name,
    e.g. ``labeled-data/run1/img00000012.png``; with separate cameras, the first view's). A task
    deleted in Label Studio keeps its row with ``deleted_at`` set, so it is not made again."""

    __tablename__ = "labelstudio_tasks"
    __table_args__ = (UniqueConstraint("project_id", "image", name="uq_labelstudio_tasks_project_image"),)

    ls_task_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    image: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
