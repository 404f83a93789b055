"""CPU video decoders on the toy video (994 frames, 396x406, H.264), to RGB arrays, one run:
OpenCV (posecloud's CPU decoder), PyAV (threaded) and, when importable, torchcodec; then, when
NVIDIA DALI imports, DALI's CPU decoder (posecloud's ``core.video.dali_reader``, which reads only
VP8/VP9/MJPEG on a CPU) against OpenCV and PyAV on a VP9 re-encode of the same video, made here
with ffmpeg (libvpx-vp9).

    .venv/bin/python benchmarks/decoders.py [--repeats 3]
    # torchcodec is not a posecloud dependency; to include it without touching .venv:
    .venv/bin/pip install --no-deps --target /tmp/tcpkg torchcodec==0.17.0
    PYTHONPATH=/tmp/tcpkg .venv/bin/python benchmarks/decoders.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
from benchinfo import LoadAverages, machine, package_version

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VIDEO = ROOT.parent / "shared" / "data" / "mirror-mouse-example" / "videos" / "test_vid.mp4"
DALI_BATCH = 16  # frames per DALI pipeline run (posecloud's default prediction batch)


def opencv(video: Path) -> int:
    capture, n = cv2.VideoCapture(str(video)), 0
    while True:
        ok, frame = capture.read()
        if not ok:
            return n
        cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        n += 1


def pyav(video: Path) -> int:
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for frame in container.decode(stream) if frame.to_ndarray(format="rgb24") is not None)


def torchcodec(video: Path) -> int:
    from torchcodec.decoders import VideoDecoder

    decoder = VideoDecoder(str(video), dimension_order="NHWC")
    n = len(decoder)
    for start in range(0, n, 64):
        decoder.get_frames_in_range(start, min(n, start + 64))
    return n


def dali_cpu(video: Path) -> int:
    """posecloud's DALI reader on the CPU: pipeline build (and the file's index) included."""
    from core.video.dali_reader import iter_batches_dali

    return sum(len(batch) for batch in iter_batches_dali(video, DALI_BATCH, "cpu"))


def best_of(run: Callable[[Path], int], video: Path, repeats: int) -> tuple[int, float]:
    times, frames = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        frames = run(video)
        times.append(time.perf_counter() - start)
    return frames, min(times)


def vp9_copy(video: Path, out: Path) -> float:
    """Re-encode ``video`` to VP9 in WebM (every frame kept); returns the seconds it took."""
    start = time.perf_counter()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(video), "-an", "-c:v", "libvpx-vp9", "-b:v", "0"]
        + ["-crf", "30", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", str(out)],
        check=True,
    )
    return time.perf_counter() - start


def table(video: Path, decoders: dict[str, Callable[[Path], int]], repeats: int) -> list[str]:
    lines = [
        f"| decoder | frames | seconds (best of {repeats}) | frames/s | ratio to OpenCV |",
        "| --- | --- | --- | --- | --- |",
    ]
    base = None
    for name, run in decoders.items():
        try:
            frames, seconds = best_of(run, video, repeats)
        except ImportError:
            lines.append(f"| {name} | not installed | - | - | - |")
            continue
        fps = frames / seconds
        base = base or fps  # OpenCV comes first
        lines.append(f"| {name} | {frames} | {seconds:.2f} | {fps:,.0f} | {fps / base:.2f}x |")
    return lines


def dali_imports() -> bool:
    try:
        import nvidia.dali  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load = LoadAverages()
    print(f"machine: {machine()}")
    print(
        f"OpenCV {cv2.__version__}, PyAV {av.__version__}, torchcodec {package_version('torchcodec')}, "
        f"DALI {package_version('nvidia-dali-cuda120')}"
    )
    print(f"\n{VIDEO.name} (H.264), to RGB arrays:\n")
    h264 = {"OpenCV": opencv, "PyAV (threaded)": pyav, "torchcodec": torchcodec}
    print("\n".join(table(VIDEO, h264, args.repeats)))
    if not dali_imports():
        print("\nDALI's CPU decoder: nvidia.dali does not import here; not measured")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            vp9 = Path(tmp) / f"{VIDEO.stem}.vp9.webm"
            seconds = vp9_copy(VIDEO, vp9)
            print(
                f"\nVP9 re-encode of {VIDEO.name} (ffmpeg libvpx-vp9, crf 30, realtime, {seconds:.1f} s), to RGB "
                f"arrays; DALI in batches of {DALI_BATCH} frames:\n"
            )
            vp9_decoders = {
                "OpenCV": opencv,
                "PyAV (threaded)": pyav,
                "DALI CPU (core.video.dali_reader)": dali_cpu,
            }
            print("\n".join(table(vp9, vp9_decoders, args.repeats)))
    print(f"\n{load.end()}")


if __name__ == "__main__":
    main()
