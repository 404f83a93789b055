"""Paths to the real data in ../shared/data, and small videos made by the tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TOY = SHARED_DATA / "mirror-mouse-example"
TOY_VIDEO = TOY / "videos" / "test_vid.mp4"
DLC_REACHING = SHARED_DATA / "dlc-reaching"  # a DeepLabCut project: config.yaml and labeled-data/
EXAMPLE_PROJECT = REPO / "examples" / "mirror-mouse" / "project.yaml"


def write_video(
    path: Path,
    frames: np.ndarray,
    fps: int = 30,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts: list[int] | None = None,
) -> Path:
    """Encode ``(N, H, W, 3)`` uint8 frames; ``pts`` (in 1/1000 s) makes a variable frame rate."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# A tiny training run on the toy data: seconds on a CPU, enough to exercise every step. Half the
# 90 labeled frames train (5 batches an epoch): the fewest whose complete frames (35) still fit the
# Pose PCA of the semi-supervised losses (29 needed); the job tests run dozens of these.
TINY = {
    "backbone": "resnet18",
    "pretrained": "none",
    "image_height": 64,
    "image_width": 64,
    "epochs": 2,
    "batch_size": 8,
    "train_fraction": 0.5,
    "val_every_n_epochs": 1,
    "lr_milestones": [1],
    "freeze_backbone_epochs": 0,
}


# The toy data's mirror split into two synchronized "cameras": rows above MIRROR_ROW are the top
# view, rows from it down the bottom view (the mirror's edge; the labels' top/bottom y ranges
# are 0-148 and 184-406 px).
MIRROR_ROW = 168
BODY_PARTS = ["paw1LH", "paw2LF", "paw3RF", "paw4RH", "tailBase", "tailMid", "nose"]
CAMERA_VIEWS = {"top": (0, MIRROR_ROW, "_top"), "bottom": (MIRROR_ROW, None, "_bot")}


def make_camera_project(dest: Path, video_frames: int | None = None) -> Path:
    """A two-camera project (views top and bottom) cut from the toy data: each labeled image and
    the first ``video_frames`` frames of the toy video (all when None) split at MIRROR_ROW into
    ``labeled-data/<view>/imgNN.png`` and ``videos/test_vid_<view>.mp4``, and one label file per
    view with the 7 body parts seen in both (y measured from each view's top edge). Returns the
    path of its project.yaml."""
    import cv2
    import yaml

    from core.labels.dlc_csv import write_pose_csv
    from core.labels.formats import read_labels
    from core.video.reader import iter_frames

    labels = read_labels(TOY / "CollectedData.csv")
    frames = []
    for frame in iter_frames(TOY_VIDEO):
        if video_frames is not None and len(frames) == video_frames:
            break
        frames.append(frame)
    (dest / "videos").mkdir(parents=True, exist_ok=True)
    for view, (first, last, suffix) in CAMERA_VIEWS.items():
        view_labels = labels.select_keypoints([part + suffix for part in BODY_PARTS])
        values = view_labels.values.copy()
        values[..., 1] -= first
        index = []
        for name in labels.index:
            image = cv2.imread(str(TOY / name), cv2.IMREAD_UNCHANGED)[first:last]
            index.append(f"labeled-data/{view}/{Path(name).name}")
            (dest / index[-1]).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(dest / index[-1]), image)
        table = type(labels)(BODY_PARTS, index, values, view_labels.fields, view_labels.scorer)
        write_pose_csv(table, dest / f"CollectedData_{view}.csv")
        write_video(
            dest / "videos" / f"test_vid_{view}.mp4", np.stack([f[first:last] for f in frames]), fps=250
        )
    project = {
        "name": "mirror-mouse-cameras",
        "views": list(CAMERA_VIEWS),
        "labels_file": "CollectedData_{view}.csv",
        "keypoints": BODY_PARTS,
        "skeleton": [["tailBase", "tailMid"], ["tailBase", "nose"], ["paw1LH", "tailBase"],
                     ["paw4RH", "tailBase"], ["paw2LF", "nose"], ["paw3RF", "nose"]],
    }  # fmt: skip
    path = dest / "project.yaml"
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    return path


def camera_labels_zip(camera_dir: Path, view: str, rows: int | None = None) -> bytes:
    """One view's label file (its first ``rows`` rows, all when None) and images, zipped as the app
    takes them."""
    import io
    import zipfile

    from core.labels.dlc_csv import write_pose_csv
    from core.labels.formats import read_labels

    table = read_labels(camera_dir / f"CollectedData_{view}.csv")
    part = type(table)(table.keypoints, table.index[:rows], table.values[:rows], table.fields, table.scorer)
    csv = camera_dir / f".upload_{view}.csv"
    write_pose_csv(part, csv)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.write(csv, f"CollectedData_{view}.csv")
        for name in part.index:
            zf.write(camera_dir / name, name)
    csv.unlink()
    return buffer.getvalue()
