"""What each kind of job does: the handler of each job kind, by the kind a job record names.

A handler takes a JobContext, makes plain ``core`` calls on local files, publishes its results to
storage and returns the job's artifacts: ``{file name: storage key}``.
"""

from __future__ import annotations

from worker.jobs.comparison import build_comparison
from worker.jobs.frames import extract_frames, select_frames
from worker.jobs.preannotate import preannotate
from worker.jobs.prediction import predict, smooth
from worker.jobs.runner import Handler
from worker.jobs.training import train
from worker.jobs.transcode import transcode

HANDLERS: dict[str, Handler] = {
    "train": train,
    "predict": predict,
    "smooth": smooth,
    "transcode": transcode,
    "extract_frames": extract_frames,
    "fiftyone": build_comparison,
    "select_frames": select_frames,
    "preannotate": preannotate,
}
