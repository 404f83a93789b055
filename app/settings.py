"""The service's settings: the shared state settings plus uploads, sign-in tokens and password
hashing, read from ``POSECLOUD_*`` environment variables (or passed explicitly)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from app.uploads import SizeLimit
from worker.state.settings import StateSettings


class Settings(StateSettings):
    """What the service adds to the shared settings: how it limits requests and signs users in."""

    max_upload_bytes: int = Field(default=5 * 1024**3, gt=0, description="largest accepted upload, bytes")
    max_labels_bytes: int = Field(
        default=64 * 1024**2,
        gt=0,
        description="largest label table (CSV, H5, NWB) uploaded alone or inside an archive, bytes: tables are "
        "parsed in memory",
    )
    max_json_bytes: int = Field(
        default=1024**2, gt=0, description="largest JSON or form request body, bytes: these are read whole"
    )
    token_lifetime_s: int = Field(default=7 * 24 * 3600, gt=0, description="bearer token lifetime, seconds")
    argon2_time_cost: int = Field(default=3, ge=1, description="argon2id passes per password hash")
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8, description="argon2id memory per hash, KiB")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="the API's address as browsers (and Label Studio's hooks) reach it",
    )
    labelstudio_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="port of the Label Studio server on 127.0.0.1 (0: no Label Studio)",
    )
    ui_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="port of the Streamlit front end on 127.0.0.1, served under /ui/ (0: no front end)",
    )
    labelstudio_data: Path | None = Field(
        default=None,
        description="Label Studio's data and the admin's generated secrets (default: <data root>/labelstudio)",
    )
    labelstudio_sync_s: float = Field(
        default=30.0, gt=0, description="how often the labels are reconciled with Label Studio, seconds"
    )

    fiftyone_idle_s: float = Field(
        default=900.0, gt=0, description="a FiftyOne server unused this long is stopped, seconds"
    )

    @property
    def upload_limit(self) -> SizeLimit:
        return SizeLimit(self.max_upload_bytes, "upload", "POSECLOUD_MAX_UPLOAD_BYTES")

    @property
    def labels_limit(self) -> SizeLimit:
        return SizeLimit(self.max_labels_bytes, "label file", "POSECLOUD_MAX_LABELS_BYTES")

    @property
    def json_limit(self) -> SizeLimit:
        return SizeLimit(self.max_json_bytes, "request body", "POSECLOUD_MAX_JSON_BYTES")

    @property
    def labelstudio_dir(self) -> Path:
        return self.labelstudio_data or self.data_root / "labelstudio"

    @property
    def upload_tmp_dir(self) -> Path:
        """Local folder where uploads are streamed before they are validated and stored."""
        return self.data_root / "tmp" / "uploads"
