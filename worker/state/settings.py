"""Settings shared by the service and the workers, read from ``POSECLOUD_*`` environment variables:
where the state lives (database, storage, queue) and how jobs are watched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class StateSettings(BaseSettings):
    """The database, file storage and job queue, and the job-watching timings.

    Empty ``database_url`` / ``storage_url`` default to a SQLite file and a folder inside ``data_root``.
    """

    model_config = SettingsConfigDict(env_prefix="POSECLOUD_")

    data_root: Path = Field(default=Path("posecloud-data"), description="folder for the database and files")
    database_url: str = Field(default="", description="SQLAlchemy URL, e.g. postgresql+psycopg://u@host/db")
    storage_url: str = Field(default="", description="local folder or fsspec URL such as s3://bucket/prefix")
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description='fsspec options as JSON, e.g. {"endpoint_url": "http://minio:9000"}'
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Celery broker (the job queue)")
    heartbeat_s: float = Field(default=2.0, gt=0, description="how often a running job reports it is alive")
    stale_after_s: float = Field(
        default=30.0, gt=0, description="a running job silent this long has lost its worker"
    )
    max_attempts: int = Field(default=3, ge=1, description="deliveries of a job before it fails for good")
    mongo_port: int = Field(
        default=0, ge=0, le=65535, description="port of FiftyOne's MongoDB (0: no FiftyOne comparisons)"
    )
    mongo_host: str = Field(default="127.0.0.1", description="host of FiftyOne's MongoDB")

    @property
    def mongo_dir(self) -> Path:
        """MongoDB's data and the generated secrets its users' passwords derive from (mode 0600)."""
        return self.data_root / "mongo"

    @model_validator(mode="after")
    def _defaults_in_data_root(self) -> StateSettings:
        self.data_root = self.data_root.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_root / 'posecloud.db'}"
        if not self.storage_url:
            self.storage_url = str(self.data_root / "storage")
        return self
