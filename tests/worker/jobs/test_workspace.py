"""A job's local folders with object storage: inputs downloaded once, outputs uploaded; with local
storage nothing is copied."""

from __future__ import annotations

from pathlib import Path

from worker.jobs.workspace import Workspace
from worker.state.storage import Storage


def test_object_storage_inputs_are_fetched_and_outputs_published(s3_storage, tmp_path: Path) -> None:
    url, options = s3_storage
    storage = Storage(url, options)
    storage.put_stream([b"x,y\n1,2\n"], "projects/1/data/CollectedData.csv")
    storage.put_stream([b"\x89PNG fake"], "projects/1/data/labeled-data/v/img00000001.png")
    workspace = Workspace(storage, tmp_path / "cache")

    data = workspace.fetch("projects/1/data")
    assert data == tmp_path / "cache" / "projects/1/data"
    assert (data / "CollectedData.csv").read_bytes() == b"x,y\n1,2\n"
    assert (data / "labeled-data/v/img00000001.png").read_bytes() == b"\x89PNG fake"

    out = workspace.local_dir("projects/1/models/3")
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (out / "summary.json").write_text("{}")
    keys = workspace.publish("projects/1/models/3")
    assert keys == ["projects/1/models/3/checkpoints/last.ckpt", "projects/1/models/3/summary.json"]
    with storage.open("projects/1/models/3/checkpoints/last.ckpt") as f:
        assert f.read() == b"weights"
    assert (out / "summary.json").is_file()  # published copies stay for a resumed job


def test_local_storage_is_used_in_place(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path / "storage"))
    storage.put_stream([b"video"], "projects/1/videos/a.mp4")
    workspace = Workspace(storage, tmp_path / "cache")
    assert workspace.fetch_file("projects/1/videos/a.mp4") == tmp_path / "storage/projects/1/videos/a.mp4"
    assert workspace.local_dir("projects/1/models/2") == tmp_path / "storage/projects/1/models/2"
    assert not (tmp_path / "cache").exists()
