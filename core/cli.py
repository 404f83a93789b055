"""The `posecloud` command line."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from core.errors import PoseCloudError, VideoError


def _overrides(pairs: list[str]) -> dict:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PoseCloudError(f"--set expects KEY=VALUE (e.g. --set epochs=20), got {pair!r}")
        result[key.strip()] = yaml.safe_load(value)
    return result


def cmd_train(args: argparse.Namespace) -> int:
    from core.config import load_project, load_train_config
    from core.training.train import train_model

    project_file = Path(args.project)
    project = load_project(project_file)
    train = load_train_config(args.config, _overrides(args.set))
    project_dir = project_file if project_file.is_dir() else project_file.parent
    model_dir = Path(args.output) if args.output else project_dir / "models" / time.strftime("%Y%m%d-%H%M%S")
    # --seeds trains an ensemble: one member folder per seed inside the output folder
    runs = [(model_dir / f"seed{seed}", train.model_copy(update={"seed": seed})) for seed in args.seeds] or [
        (model_dir, train)
    ]
    for run_dir, run_train in runs:
        result = train_model(project, run_train, run_dir, resume=args.resume)
        print(f"model: {result.model_dir}")
        for name, stats in result.summary["pixel_error"].items():
            print(f"  {name:<10} mean pixel error {stats['mean']:.2f} px (median {stats['median']:.2f})")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from core.predict.ensemble import resolve_members
    from core.predict.pipeline import labeled_video_path, predict_session, predict_with_ensemble_session
    from core.predict.trained_model import load_model_config

    members = resolve_members(args.model)
    default_out = Path(args.model.split(",")[0]) if len(members) == 1 else members[0].parent
    out_dir = Path(args.output) if args.output else default_out / "predictions"
    options = {
        "batch_size": args.batch_size,
        "device": args.device,
        "decoder": args.decoder,
        "labeled_video": args.labeled_video,
    }
    decoded: dict[str, int] = {}  # video name -> frames decoded (the last report of its prediction)

    def progress(report: dict) -> None:
        if "video" in report:
            decoded[report["video"]] = report["frames"]

    for session in _sessions(load_model_config(members[0])[0], [Path(v) for v in args.videos]):
        start = time.perf_counter()
        if len(members) == 1:
            csvs = predict_session(members[0], session, out_dir, progress=progress, **options)
        else:
            csvs = predict_with_ensemble_session(
                members, session, out_dir, s=args.s, progress=progress, **options
            )
        frames = sum(decoded[video.name] for video in session)
        names = ", ".join(video.name for video in session)
        print(f"{names}: {frames} frames, {len(members)} model(s), {time.perf_counter() - start:.1f} s")
        what = "predictions" if len(members) == 1 else "EKS"
        for video, csv in zip(session, csvs, strict=True):
            _print_outputs(csv, what, labeled_video_path(out_dir, video) if args.labeled_video else None)
    return 0


def _print_outputs(csv: Path, what: str, labeled_video: Path | None) -> None:
    """Where a video's predictions (``what``: or its EKS), labeled video and metrics are."""
    from core.predict.metrics import METRICS, metric_csv

    print(f"{csv}: {what}")
    if labeled_video:
        print(f"{labeled_video}: labeled video")
    metrics = [path.name for path in (metric_csv(csv, name) for name in METRICS) if path.is_file()]
    if metrics:
        print(f"  metrics: {', '.join(metrics)}")


def _sessions(project, videos: list[Path]) -> list[list[Path]]:
    """The videos predicted and scored together: for separate cameras a session's views (each video
    on its own, without the multi-view smoothing and PCA error, when they do not make whole
    sessions); otherwise each video."""
    from core.data.cameras import group_videos

    try:
        return group_videos(videos, project.views)
    except VideoError as e:
        print(f"warning: each video on its own (no multi-view smoothing or PCA error): {e}", file=sys.stderr)
        return [[video] for video in videos]


def cmd_import(args: argparse.Namespace) -> int:
    from core.config import ProjectConfig, save_yaml
    from core.labels.dlc_project import import_dlc_project
    from core.labels.sleap import import_sleap

    source, dest = Path(args.source), Path(args.output)
    if (dest / "project.yaml").exists():
        raise PoseCloudError(f"{dest} already holds a project (project.yaml); choose an empty folder")
    if source.is_dir():
        imported = import_dlc_project(source, dest)
    elif source.name.endswith(".slp"):
        imported = import_sleap(source, dest, instance=args.instance)
    else:
        raise PoseCloudError(
            f"{source} is neither a DeepLabCut project folder (with config.yaml) nor a SLEAP .slp file"
        )
    project = ProjectConfig(
        name=args.name or source.stem, keypoints=imported.keypoints, skeleton=imported.skeleton
    )
    save_yaml(project, dest / "project.yaml")
    print(
        f"{dest / 'project.yaml'}: {len(imported.labels.index)} labeled frames, {len(imported.keypoints)} keypoints"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the pose library's commands: train, predict, import, smooth, suggest-frames."""
    from core.selection.command import register as register_suggest
    from core.smoothing.command import add_smoothing_option
    from core.smoothing.command import register as register_smooth

    p = sub.add_parser("train", help="train a model on a project's labeled frames")
    p.add_argument("project", help="project.yaml, or the folder holding it")
    p.add_argument("-c", "--config", help="training settings (YAML); defaults follow Lightning Pose")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override one training setting"
    )
    p.add_argument("-o", "--output", help="model folder (default: <project>/models/<timestamp>)")
    p.add_argument("--resume", action="store_true", help="continue from the model folder's last checkpoint")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[],
        help="train an ensemble: one member per seed (e.g. --seeds 0 1 2)",
    )
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("predict", help="predict keypoints for every frame of one or more videos")
    p.add_argument(
        "model",
        help="a trained model folder; or an ensemble folder (model folders inside) or model folders joined by "
        "commas: every member predicts, then the Ensemble Kalman Smoother combines them",
    )
    p.add_argument("videos", nargs="+", help="video files")
    p.add_argument("-o", "--output", help="output folder (default: <model>/predictions)")
    p.add_argument(
        "--batch-size", type=int, default=16, help="frames per network pass (default 16; halved on GPU OOM)"
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where the network runs (auto: CUDA when there is a GPU)",
    )
    p.add_argument(
        "--decoder",
        choices=["auto", "opencv", "dali"],
        default="auto",
        help="auto: DALI on a CUDA GPU when installed, else OpenCV",
    )
    add_smoothing_option(p, "ensembles: ")
    p.add_argument("--labeled-video", action="store_true", help="also write a video with the keypoints drawn")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("import", help="make a project from a DeepLabCut project or a SLEAP .slp file")
    p.add_argument("source", help="DeepLabCut project folder, or .slp / .pkg.slp file")
    p.add_argument("-o", "--output", required=True, help="new project folder")
    p.add_argument("--name", help="project name (default: the source's name)")
    p.add_argument(
        "--instance", type=int, help="SLEAP: which animal to take when frames hold several (0, 1, ...)"
    )
    p.set_defaults(run=cmd_import)

    register_smooth(sub)
    register_suggest(sub)


Register = Callable[[argparse._SubParsersAction], None]


def build_parser(*more: Register) -> argparse.ArgumentParser:
    """The ``posecloud`` parser with the pose library's commands and those the layers above add."""
    parser = argparse.ArgumentParser(
        prog="posecloud",
        description="Animal pose estimation: label, train, predict, smooth; as commands or as a web app.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_commands in (register, *more):
        add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The pose library's commands alone (``python -m core.cli``); ``posecloud`` is ``app.cli``."""
    return run(build_parser(), argv)


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; a PoseCloudError is printed as one line (exit code 2)."""
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args)
    except PoseCloudError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
