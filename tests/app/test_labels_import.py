"""Turning an upload into labels: errors in the user's terms, and nothing of the parse kept after one."""

from __future__ import annotations

import traceback
import zipfile
from pathlib import Path

import pytest

from app.labels_import import read_upload
from app.uploads import SizeLimit, UploadTooLargeError
from core.errors import LabelFormatError
from tests.testdata import TOY

LIMIT = SizeLimit(100_000, "label file", "POSECLOUD_MAX_LABELS_BYTES")
KEYPOINTS = (TOY / "CollectedData.csv").read_text().splitlines()[1].split(",")[1::2]


def _read(tmp_path: Path, filename: str, content: bytes) -> Exception:
    """The error of reading ``content`` uploaded as ``filename`` (kept where the service keeps uploads)."""
    upload = tmp_path / "tmp" / "uploads" / "0123.part"
    work = upload.parent / "tmpwork"
    work.mkdir(parents=True)
    upload.write_bytes(content)
    with pytest.raises(Exception) as caught:
        read_upload(upload, filename, work, KEYPOINTS, lambda _: False, 10**7, LIMIT)
    return caught.value


def _zip(tmp_path: Path, files: dict[str, str]) -> bytes:
    path = tmp_path / "made.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path.read_bytes()


def test_a_csv_error_names_the_users_file_not_the_servers_copy(tmp_path: Path) -> None:
    err = _read(tmp_path, "my labels.csv", b"not,a,label\nfile\n")
    assert isinstance(err, LabelFormatError)
    assert str(err).startswith("my labels.csv: expected 3 header rows") and str(tmp_path) not in str(err)


def test_an_archive_entry_is_named_inside_the_users_archive(tmp_path: Path) -> None:
    err = _read(tmp_path, "labels.zip", _zip(tmp_path, {"session1/CollectedData.csv": "scorer\nbodyparts\n"}))
    assert isinstance(err, LabelFormatError)
    assert str(err).startswith("labels.zip/session1/CollectedData.csv: expected 3 header rows")
    assert str(tmp_path) not in str(err)


def test_a_label_table_in_an_archive_has_the_label_file_limit(tmp_path: Path) -> None:
    big = "x" * (LIMIT.bytes + 1)
    err = _read(tmp_path, "labels.zip", _zip(tmp_path, {"s/CollectedData.csv": big}))
    assert isinstance(err, UploadTooLargeError)
    assert str(err).startswith(f"labels.zip/s/CollectedData.csv is {LIMIT.bytes + 1} bytes but the limit is")
    assert "POSECLOUD_MAX_LABELS_BYTES" in str(err)


def test_the_error_keeps_no_frame_of_the_parse(tmp_path: Path) -> None:
    """The error reaches the service's handlers; had it the parser's frames, their locals (the file's
    rows) would live on with it (for good, in a reference cycle through the thread pool's future)."""
    err = _read(tmp_path, "labels.csv", b"scorer,a,a\nbodyparts,b,b\ncoords,x,y\nimg.png,1\n")
    assert isinstance(err, LabelFormatError) and "line 4 has 2 cells" in str(err)
    assert err.__context__ is None and err.__cause__ is None
    files = [Path(frame.f_code.co_filename) for frame, _ in traceback.walk_tb(err.__traceback__)]
    assert files and not any("core" in f.parts for f in files)
