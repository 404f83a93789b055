"""What the service keeps outside the data root is kept from the FiftyOne servers too."""

from __future__ import annotations

from pathlib import Path

from app.api.factory import _kept_from_fiftyone
from app.settings import Settings
from worker.state.storage import Storage


def test_folders_outside_the_data_root_are_denied_to_fiftyone(tmp_path: Path) -> None:
    inside = Settings(data_root=tmp_path / "data", redis_url="redis://127.0.0.1:1")
    assert _kept_from_fiftyone(inside, Storage(inside.storage_url)) == []  # the data root is denied whole
    outside = Settings(
        data_root=tmp_path / "data",
        redis_url="redis://127.0.0.1:1",
        labelstudio_data=tmp_path / "ls",
        storage_url=str(tmp_path / "files"),
        database_url=f"sqlite:///{tmp_path / 'db' / 'posecloud.db'}",
    )
    kept = _kept_from_fiftyone(outside, Storage(outside.storage_url))
    assert sorted(kept) == sorted([tmp_path / "ls", tmp_path / "files", tmp_path / "db"])
    s3 = outside.model_copy(update={"storage_url": "memory://bucket/x", "database_url": "postgresql://h/db"})
    assert _kept_from_fiftyone(s3, Storage(s3.storage_url)) == [tmp_path / "ls"]
