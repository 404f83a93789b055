"""``posecloud smooth``: ensemble member CSVs in, an Ensemble Kalman smoothed CSV out."""

from __future__ import annotations

import argparse

from core.errors import ConfigError
from core.heap import keep_large_arrays_on_the_heap
from core.progress import ProgressDisplay

DESCRIPTION = """\
Smooth the predictions of several models (an ensemble) of one video with the Ensemble Kalman
Smoother. Single camera: posecloud smooth m1.csv m2.csv m3.csv -o smoothed.csv
Several cameras: posecloud smooth *.csv --views Cam-A,Cam-B,Cam-C -o outdir/ (each file name must
contain exactly one view name; one CSV per view is written into outdir as <view>.csv).
Each output CSV holds x, y, likelihood per keypoint; its ensemble median and variance and
posterior variance are in <output>.variances.csv beside it."""


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"the smoothing parameter must be above 0, got {text}")
    return value


def add_smoothing_option(parser: argparse.ArgumentParser, applies_to: str = "") -> None:
    """``--smoothing`` (``--s`` for short, as the reference smoother names it): the EKS's fixed
    smoothing parameter; fitted when left out."""
    parser.add_argument(
        "--smoothing",
        "--s",
        dest="s",
        type=_positive,
        default=None,
        metavar="S",
        help=f"{applies_to}EKS smoothing parameter: random-walk variance in pixels² per frame (smaller = "
        "smoother); default: fitted per keypoint by leave-one-out error",
    )


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``smooth`` subcommand to an argparse CLI."""
    parser = subparsers.add_parser(
        "smooth",
        help="smooth an ensemble's predictions (Ensemble Kalman Smoother)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("members", nargs="+", metavar="MEMBER.csv", help="member prediction CSVs")
    parser.add_argument(
        "-o", "--output", required=True, help="output CSV (single camera) or directory (with --views)"
    )
    add_smoothing_option(parser)
    parser.add_argument(
        "--views",
        default=None,
        help="comma-separated view names for multi-camera smoothing, e.g. Cam-A,Cam-B,Cam-C",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``posecloud smooth`` with its progress on stderr; prints the files written and what to do
    with them."""
    # pandas and the numba kernels: loaded when the command runs, not for every posecloud --help
    from core.smoothing.io import group_by_view, smooth_files, smooth_multicam_files, variances_path

    keep_large_arrays_on_the_heap()

    views = None
    if args.views is not None:
        views = [v.strip() for v in args.views.split(",") if v.strip()]
        if len(views) < 2:
            raise ConfigError(f"--views needs at least 2 comma-separated view names, got {args.views!r}")
    with ProgressDisplay() as display:

        def progress(done: int, total: int) -> None:
            display.update("smoothing", done, total, "keypoints")

        if views is None:
            written = [smooth_files(args.members, args.output, args.s, progress)]
        else:
            groups = group_by_view(args.members, views)
            written = list(smooth_multicam_files(groups, args.output, args.s, progress).values())
    for path in written:
        print(f"{path}: EKS (variances in {variances_path(path).name})")
    print(
        f"next: posecloud export {written[0]} --format nwb --video VIDEO (an NWB file for DANDI, pynwb, movement)"
    )
    return 0
