"""A copy of a video with predicted keypoints and the skeleton drawn on it (H.264 MP4)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from core.atomic import atomic_path
from core.labels.table import PoseTable
from core.video.reader import iter_frames, probe_video


def keypoint_colors(n: int) -> np.ndarray:
    """``(n, 3)`` distinct RGB colours from a perceptually ordered colormap."""
    ramp = np.linspace(0, 255, max(n, 1)).astype(np.uint8).reshape(-1, 1)
    return cv2.applyColorMap(ramp, cv2.COLORMAP_TURBO)[:, 0, ::-1].astype(int)


def write_labeled_video(
    video: str | Path,
    predictions: PoseTable,
    skeleton: list[tuple[int, int]],
    out_path: str | Path,
    min_confidence: float = 0.5,
) -> Path:
    """Draw keypoints with confidence >= ``min_confidence`` (and edges between two such points)."""
    info = probe_video(video)
    out_path = Path(out_path)
    xy, confidence = predictions.xy, predictions.field("likelihood")
    colors = keypoint_colors(len(predictions.keypoints))
    radius = max(2, round(min(info.width, info.height) / 150))
    # Even sizes for yuv420p; frames are padded by one pixel where needed.
    width, height = info.width + info.width % 2, info.height + info.height % 2
    # the index first (faststart): a browser starts playing before the whole file has arrived
    with (
        atomic_path(out_path, suffix=".mp4") as tmp,
        av.open(str(tmp), mode="w", options={"movflags": "faststart"}) as container,
    ):
        stream = container.add_stream("libx264", rate=round(info.fps) or 30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for i, frame in enumerate(iter_frames(info.path)):
            if i >= len(xy):
                break
            canvas = np.zeros((height, width, 3), np.uint8)
            canvas[: info.height, : info.width] = frame
            shown = confidence[i] >= min_confidence
            for a, b in skeleton:
                if shown[a] and shown[b]:
                    cv2.line(canvas, _pt(xy[i, a]), _pt(xy[i, b]), (255, 255, 255), 1, cv2.LINE_AA)
            for k in np.flatnonzero(shown):
                cv2.circle(canvas, _pt(xy[i, k]), radius, tuple(int(c) for c in colors[k]), -1, cv2.LINE_AA)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")))
        container.mux(stream.encode(None))
    return out_path


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0])), int(round(p[1]))
