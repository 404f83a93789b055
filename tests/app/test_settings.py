"""Settings: defaults inside the data root, POSECLOUD_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_defaults_live_in_the_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.data_root == tmp_path / "posecloud-data"
    assert s.database_url == f"sqlite:///{tmp_path}/posecloud-data/posecloud.db"
    assert s.storage_url == f"{tmp_path}/posecloud-data/storage"
    assert s.upload_tmp_dir == tmp_path / "posecloud-data" / "tmp" / "uploads"
    assert s.max_upload_bytes == 5 * 1024**3
    assert (s.max_labels_bytes, s.max_json_bytes) == (64 * 1024**2, 1024**2)


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSECLOUD_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("POSECLOUD_STORAGE_URL", "s3://bucket/prefix")
    monkeypatch.setenv("POSECLOUD_MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("POSECLOUD_STORAGE_OPTIONS", '{"endpoint_url": "http://127.0.0.1:9000"}')
    s = Settings()
    assert s.storage_options == {"endpoint_url": "http://127.0.0.1:9000"}
    assert (s.data_root, s.storage_url, s.max_upload_bytes) == (tmp_path, "s3://bucket/prefix", 1000)
    assert s.database_url == f"sqlite:///{tmp_path}/posecloud.db"


def test_non_positive_limits_are_rejected() -> None:
    with pytest.raises(ValidationError, match="max_upload_bytes"):
        Settings(max_upload_bytes=0)
