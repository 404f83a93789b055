"""The ``transcode`` job: an upload re-encoded with ffmpeg for exact frame seeking."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from core.errors import PoseCloudError
from worker.jobs.project_data import project_row, video_file
from worker.jobs.runner import JobContext
from worker.state.db.models import Video


def transcode(ctx: JobContext) -> dict:
    """Re-encode an upload as constant-frame-rate H.264 (yuv420p), every frame a keyframe, so frame
    seeking is exact and every decoder (DALI included) reads it; the original is kept. ffmpeg reports
    the frames written twice a second, which is when a cancel stops it."""
    video: Video = project_row(ctx, Video, ctx.job.params["video_id"], "video")
    source = video_file(ctx, video)
    key = video.storage_key.rsplit(".", 1)[0] + ".cfr.mp4"
    out = ctx.workspace.local_dir(key.rpartition("/")[0]) / f".{Path(key).name}.part.mp4"
    command = [
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), "-map", "0:v:0",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
        "-g", "1", "-fps_mode", "cfr", "-r", f"{video.fps:.6f}", "-an",
        "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",  # yuv420p needs even sizes; odd sizes gain one black pixel
        "-progress", "pipe:1", "-nostats", "-stats_period", "0.5",
        str(out),
    ]  # fmt: skip
    ctx.report("transcoding", 0, video.frames, "frames")
    with tempfile.TemporaryFile("w+") as errors:
        ffmpeg = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        frames = 0
        try:
            for line in ffmpeg.stdout:
                if line.startswith("frame="):
                    frames = int(line.partition("=")[2])
                    ctx.report("transcoding", frames, video.frames, "frames")
        except BaseException:  # cancelled (or the worker stops): no ffmpeg or partial file left behind
            ffmpeg.kill()
            ffmpeg.wait()
            out.unlink(missing_ok=True)
            raise
        ffmpeg.wait()
        errors.seek(0)
        if ffmpeg.returncode != 0:
            out.unlink(missing_ok=True)
            raise PoseCloudError(
                f"ffmpeg could not transcode {video.filename}: {errors.read().strip()[-500:]}"
            )
    ctx.report("transcoding", frames, frames, "frames")  # the frames written: the container may list others
    ctx.storage.put_file(out, key)
    video.transcoded_key = key
    ctx.session.commit()
    return {"video.mp4": key}
