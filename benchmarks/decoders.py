"""CPU video decoders on the toy video (994 frames, 396x406, H.264), to RGB arrays, one run:
OpenCV (posecloud's CPU decoder), PyAV (threaded) and, when importable, torchcodec.

    .venv/bin/python benchmarks/decoders.py
    # torchcodec is not a posecloud dependency; to include it without touching .venv:
    .venv/bin/pip install --no-deps --target /tmp/tcpkg torchcodec==0.17.0
    PYTHONPATH=/tmp/tcpkg .venv/bin/python benchmarks/decoders.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2

VIDEO = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "mirror-mouse-example"
    / "videos"
    / "test_vid.mp4"
)


def opencv() -> int:
    capture, n = cv2.VideoCapture(str(VIDEO)), 0
    while True:
        ok, frame = capture.read()
        if not ok:
            return n
        cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        n += 1


def pyav() -> int:
    with av.open(str(VIDEO)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for frame in container.decode(stream) if frame.to_ndarray(format="rgb24") is not None)


def torchcodec() -> int:
    from torchcodec.decoders import VideoDecoder

    decoder = VideoDecoder(str(VIDEO), dimension_order="NHWC")
    n = len(decoder)
    for start in range(0, n, 64):
        decoder.get_frames_in_range(start, min(n, start + 64))
    return n


def best_of(run: Callable[[], int], repeats: int = 3) -> tuple[int, float]:
    times, frames = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        frames = run()
        times.append(time.perf_counter() - start)
    return frames, min(times)


def main() -> None:
    print("| decoder | frames | seconds (best of 3) | frames/s |")
    print("| --- | --- | --- | --- |")
    for name, run in (("OpenCV", opencv), ("PyAV (threaded)", pyav), ("torchcodec", torchcodec)):
        try:
            frames, seconds = best_of(run)
        except ImportError:
            print(f"| {name} | not installed | - | - |")
            continue
        print(f"| {name} | {frames} | {seconds:.2f} | {frames / seconds:.0f} |")


if __name__ == "__main__":
    main()
