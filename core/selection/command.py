"""``posecloud suggest-frames``: the frames of a video most worth labeling, from an ensemble's
predictions; optionally extracts them (with context frames) as images."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic import atomic_open
from core.errors import ConfigError
from core.progress import ProgressDisplay
from core.selection import MIN_GAP

DESCRIPTION = """\
Score every frame of a video by how likely its predictions are wrong (ensemble spread, temporal
jumps, implausible poses by Pose PCA, low confidence) and pick diverse frames among the worst.
Example: posecloud suggest-frames m1.csv m2.csv m3.csv -n 20 -o frames.csv --project project.yaml \\
             --video videos/session1.mp4 --extract project_dir/
One member file is allowed (then the ensemble spread is not used). Without --project the Pose PCA
error is not used; with it, the PCA is fitted on the project's labels."""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``suggest-frames`` subcommand to an argparse CLI."""
    parser = subparsers.add_parser(
        "suggest-frames",
        help="pick the frames of a video most worth labeling, from ensemble predictions",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "members", nargs="+", metavar="MEMBER.csv", help="member prediction CSVs of one video"
    )
    parser.add_argument("-n", type=int, default=20, help="number of frames to suggest (default 20)")
    parser.add_argument("-o", "--output", required=True, help="CSV file for the suggested frames")
    parser.add_argument("--project", help="project.yaml (or its folder): keypoints and labels for Pose PCA")
    parser.add_argument(
        "--min-gap", type=int, default=MIN_GAP, help=f"minimum frames between picks (default {MIN_GAP})"
    )
    parser.add_argument(
        "--video",
        nargs="+",
        help="the predicted video, to extract the picked frames from; with separate cameras every view's video "
        "of the session, to extract the same frames from each",
    )
    parser.add_argument(
        "--extract",
        metavar="DEST_DIR",
        help="write the picked frames and 2 context frames each side as DEST_DIR/labeled-data/<video>/*.png",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``posecloud suggest-frames``; prints the picks and the files written."""
    if (args.video is None) != (args.extract is None):
        raise ConfigError("--video and --extract go together: give the video and the folder to extract into")
    # pandas, scipy, OpenCV: loaded when the command runs, not for every posecloud --help
    from core.config import load_project
    from core.labels.formats import read_labels
    from core.selection.outliers import suggest_frames
    from core.video.extract import extract_frames

    project = load_project(args.project) if args.project else None
    members = [read_labels(path) for path in args.members]
    table = suggest_frames(members, project, args.n, min_gap=args.min_gap, sources=args.members)
    for metric, reason in table.attrs["skipped_metrics"].items():
        print(f"note: {metric} not used: {reason}")
    output = Path(args.output)
    with atomic_open(output, "w", newline="") as handle:
        table.to_csv(handle, index=False)
    print(f"{output}: {len(table)} frames: {' '.join(map(str, table['frame']))}")
    if not args.video:
        print(
            f"next: posecloud suggest-frames {' '.join(args.members)} -n {args.n} -o {output} --video VIDEO --extract PROJECT_DIR"
        )
        return 0
    folders = []
    with ProgressDisplay() as display:
        for video in args.video:
            name = Path(video).name

            def progress(done: int, total: int, name: str = name) -> None:
                display.update(f"extracting {name}", done, total, "frames")

            images = extract_frames(video, table["frame"], args.extract, progress=progress)
            folders.append(Path(args.extract) / "labeled-data" / Path(video).stem)
            print(f"{folders[-1]}: {len(images)} images")
    project_arg = args.project or "PROJECT"
    print(
        f"next: label the frames in {', '.join(map(str, folders))} (rows of the project's label file), then posecloud train {project_arg}"
    )
    return 0
