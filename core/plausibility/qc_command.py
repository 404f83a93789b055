"""``posecloud qc``: the labeled frames most likely labeled wrong, worst first, with the reasons."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import TYPE_CHECKING

from core.plausibility.checks import Z_FLAG

if TYPE_CHECKING:
    from core.plausibility.label_qc import LabelQC

DESCRIPTION = """\
Check every labeled frame of a project against its other labeled frames: left and right keypoints
likely swapped (the project's flip_pairs, else names such as paw_l/paw_r), keypoints far from where
the other keypoints put them, skeleton edges and angles far from usual, keypoints outside the frame,
two keypoints at one point. Prints a line per flagged frame (image, score, reasons), worst first,
then a summary per label file.
Example: posecloud qc project.yaml"""


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"the z-score threshold must be above 0, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``qc`` subcommand to an argparse CLI."""
    parser = subparsers.add_parser(
        "qc",
        help="flag labeled frames likely labeled wrong, with the reasons",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("project", help="project.yaml, or the folder holding it")
    parser.add_argument(
        "--z",
        type=_positive,
        default=Z_FLAG,
        help=f"robust z-score from which a check flags a frame (default {Z_FLAG:g}; lower flags more frames)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``posecloud qc``: prints the flagged frames and a summary; exit code 0."""
    from core.config import load_project
    from core.plausibility.label_qc import project_label_qc  # scipy and OpenCV: only when it runs

    project = load_project(args.project)
    flagged = 0
    for path, qc in project_label_qc(project, args.z):
        for note in qc.notes:
            print(f"note: {note}")
        for frame in qc.for_review():
            print(f"{frame.frame}  score {frame.score:.1f}  {'; '.join(r.detail for r in frame.reasons)}")
        print(f"{path}: {summary(qc)}")
        flagged += len(qc.for_review())
    if flagged:
        print(f"next: review these frames in the labeling tool, then run posecloud qc {args.project} again")
    return 0


def summary(qc: LabelQC) -> str:
    """``"3 of 90 labeled frames flagged (swap 1, pose 2)"``: frames with each kind of reason."""
    flagged = [frame for frame in qc.frames if frame.flagged]
    kinds = Counter(kind for frame in flagged for kind in dict.fromkeys(r.kind for r in frame.reasons))
    counts = f" ({', '.join(f'{kind} {n}' for kind, n in kinds.most_common())})" if kinds else ""
    return f"{len(flagged)} of {len(qc.frames)} labeled frames flagged{counts}"
