"""Videos and frames served from storage, a local folder or S3 (moto, behind a relay that counts
the bytes the service fetches): byte ranges the same on both (206, Content-Range, 416, HEAD), a
frame decoded where it is, and from S3 neither a range nor a frame fetches the whole video. Stored
uploads are readable by the lab (mode 0644 under umask 022)."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from app.api.factory import create_app
from app.api.stored_files import RangeNotSatisfiable, byte_range
from app.settings import Settings
from core.video.reader import iter_frames
from tests.app.conftest import register_and_login
from tests.byte_counter import CountingRelay
from tests.testdata import EXAMPLE_PROJECT, TOY, TOY_VIDEO

DATA = TOY_VIDEO.read_bytes()
SIZE = len(DATA)


@dataclass
class Stack:
    client: TestClient
    auth: dict[str, str]
    project: int
    video: int
    relay: CountingRelay | None  # S3 only

    @property
    def file_url(self) -> str:
        return f"/projects/{self.project}/videos/{self.video}/file"

    def get(self, url: str, range_: str | None = None, method: str = "GET"):
        headers = self.auth | ({"Range": range_} if range_ else {})
        return self.client.request(method, url, headers=headers)


@pytest.fixture(params=["local", "s3"])
def stack(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Stack]:
    """The API on local or S3 storage with alice's project holding the toy video (1.7 MB, 994 frames)."""
    relay = None
    if request.param == "s3":
        url, options = request.getfixturevalue("s3_storage")
        relay = CountingRelay(options["endpoint_url"])
        options = options | {"endpoint_url": relay.url}
        settings = settings.model_copy(update={"storage_url": url, "storage_options": options})
    with TestClient(create_app(settings)) as client:
        auth = register_and_login(client, "alice")
        project = client.post("/projects", json={"name": "p", "keypoints": ["a"]}, headers=auth).json()["id"]
        video = client.post(f"/projects/{project}/videos?filename=clip.mp4", content=DATA, headers=auth)
        assert video.status_code == 201, video.text
        yield Stack(client, auth, project, video.json()["id"], relay)
    if relay is not None:
        relay.close()


def test_a_video_is_served_whole_or_in_byte_ranges(stack: Stack) -> None:
    whole = stack.get(stack.file_url)
    assert whole.status_code == 200 and whole.content == DATA
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-length"] == str(SIZE)
    assert whole.headers["content-disposition"] == 'attachment; filename="clip.mp4"'
    for asked, (start, end) in {
        "bytes=1000-1999": (1000, 2000),
        "bytes=1700000-": (1700000, SIZE),
        "bytes=-100": (SIZE - 100, SIZE),
        f"bytes={SIZE - 10}-{SIZE + 50}": (SIZE - 10, SIZE),  # past the end: up to the end
    }.items():
        part = stack.get(stack.file_url, asked)
        assert part.status_code == 206, asked
        assert part.content == DATA[start:end], asked
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{SIZE}", asked
        assert part.headers["content-length"] == str(end - start), asked
    outside = stack.get(stack.file_url, f"bytes={SIZE}-")
    assert outside.status_code == 416 and outside.headers["content-range"] == f"bytes */{SIZE}"
    head = stack.get(stack.file_url, method="HEAD")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(SIZE)
    assert head.headers["accept-ranges"] == "bytes"
    head_part = stack.get(stack.file_url, "bytes=0-99", method="HEAD")
    assert head_part.status_code == 206 and head_part.content == b""
    assert head_part.headers["content-range"] == f"bytes 0-99/{SIZE}"


def _frame(stack: Stack, index: int) -> np.ndarray:
    resp = stack.get(f"/projects/{stack.project}/videos/{stack.video}/frames/{index}")
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
    return cv2.cvtColor(
        cv2.imdecode(np.frombuffer(resp.content, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
    )


def test_a_frame_is_the_frame_of_that_number(stack: Stack) -> None:
    """Each frame is the one that reading the whole video in order gives that number (the frame
    numbers of predictions and labels): 192 is a keyframe, 200 is decoded from it, 993 is the last."""
    wanted = (0, 191, 192, 200, 993)
    near = {i: f for i, f in enumerate(iter_frames(TOY_VIDEO)) if any(abs(i - w) <= 2 for w in wanted)}
    for index in wanted:
        served = _frame(stack, index).astype(int)
        errors = {i: np.abs(served - near[i]).mean() for i in range(index - 2, index + 3) if i in near}
        assert min(errors, key=errors.get) == index and errors[index] < 1, (index, errors)


@pytest.mark.parametrize("stack", ["s3"], indirect=True)
def test_from_s3_a_range_or_a_frame_fetches_a_part_of_the_video(stack: Stack) -> None:
    assert stack.relay is not None

    def fetched(url: str, range_: str | None = None) -> int:
        before = stack.relay.received
        assert stack.get(url, range_).status_code in (200, 206)
        return stack.relay.received - before

    assert fetched(stack.file_url) > SIZE  # the relay counts what S3 sends
    assert fetched(stack.file_url, "bytes=800000-800999") < 1000 + 3000  # the bytes, headers
    frame = fetched(f"/projects/{stack.project}/videos/{stack.video}/frames/700")
    assert frame < SIZE / 4, f"a frame fetched {frame} of the video's {SIZE} bytes"


@pytest.mark.parametrize(
    ("header", "span"),
    [
        (None, None),
        ("bytes=0-0", (0, 1)),
        ("BYTES = 5-", None),  # malformed: the whole file
        ("bytes=5-3", None),  # last before first: invalid, ignored
        ("bytes=0-1,4-5", None),  # several ranges: the whole file
        ("items=0-1", None),
        ("bytes=-", None),
        ("bytes=-20", (0, 10)),
    ],
)
def test_byte_range(header: str | None, span: tuple[int, int] | None) -> None:
    assert byte_range(header, 10) == span


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=-0", "bytes=12-15"])
def test_a_range_past_the_end_is_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, 10)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_stored_uploads_are_readable_by_the_lab(umask_022, client: TestClient, alice) -> None:
    """Under umask 022 the uploaded video, label file and images are stored with mode 0644."""
    spec = yaml.safe_load(EXAMPLE_PROJECT.read_text())
    body = {"name": "p", "keypoints": spec["keypoints"]}
    project = client.post("/projects", json=body, headers=alice).json()["id"]
    video = client.post(f"/projects/{project}/videos?filename=clip.mp4", content=DATA, headers=alice)
    rows = (TOY / "CollectedData.csv").read_text().splitlines()[:6]  # the header and three frames
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("CollectedData.csv", "\n".join(rows) + "\n")
        for image in (row.split(",", 1)[0] for row in rows[3:]):
            zf.write(TOY / image, image)
    labels = client.put(
        f"/projects/{project}/labels",
        params={"filename": "labels.zip"},
        content=archive.getvalue(),
        headers=alice,
    )
    assert video.status_code == 201 and labels.status_code == 200, labels.text
    storage = client.app.state.storage
    stored = [storage.local_path(key) for key in storage.list(f"projects/{project}")]
    # the label file, its version's copy, the video and the images
    assert sorted(p.suffix for p in stored) == [".csv", ".csv", ".mp4", ".png", ".png", ".png"]
    modes = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in stored}
    assert modes == {str(p): "0o644" for p in stored}
