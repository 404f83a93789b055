"""The `posecloud` command line."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from core.errors import PoseCloudError, VideoError
from core.progress import ProgressDisplay


def _overrides(pairs: list[str]) -> dict:
    import yaml  # 20 ms: only for the commands that take --set

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

    # Lightning sets its loggers to INFO, with handlers of its own, when imported: its notes on
    # hardware and add-ons are not for this command's user unless asked (-v)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.INFO if args.verbose else logging.WARNING)
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
        task = f"training {run_dir.name}" if args.seeds else "training"
        with ProgressDisplay() as display:
            result = train_model(
                project,
                run_train,
                run_dir,
                resume=args.resume,
                progress=partial(_show_training, display, task, stops_at(run_train.max_minutes)),
            )
        print(f"model: {result.model_dir}")
        for name, stats in result.summary["pixel_error"].items():
            print(f"  {name:<10} mean pixel error {stats['mean']:.2f} px (median {stats['median']:.2f})")
    print(f"next: posecloud predict {model_dir} VIDEO")
    return 0


def stops_at(max_minutes: float | None) -> float | None:
    """The monotonic clock's time at which a training of ``max_minutes`` stops (None: none)."""
    return None if max_minutes is None else time.monotonic() + 60 * max_minutes


def _show_training(display: ProgressDisplay, task: str, stop: float | None, report: dict) -> None:
    """A ``ProgressReporter`` report as a bar over the training steps: epoch and latest losses; the
    ETA no later than ``stop`` (``max_minutes``)."""
    losses = ", ".join(f"{name} {value:.3g}" for name, value in report["losses"].items() if "loss" in name)
    info = f"epoch {report['epoch']}/{report['epochs']}" + (f", {losses}" if losses else "")
    stops_in_s = None if stop is None else stop - time.monotonic()
    display.update(task, report["step"], report["total_steps"], "steps", info, stops_in_s)


def cmd_predict(args: argparse.Namespace) -> int:
    from core.predict.ensemble import member_names, resolve_members
    from core.predict.pipeline import labeled_video_path, predict_session, predict_with_ensemble_session
    from core.predict.trained_model import load_model_config

    members = resolve_members(args.model)
    default_out = Path(args.model.split(",")[0]) if len(members) == 1 else members[0].parent
    out_dir = Path(args.output) if args.output else default_out / "predictions"
    formats = OUTPUT_FORMATS[args.format]
    options = {
        "batch_size": args.batch_size,
        "device": args.device,
        "decoder": args.decoder,
        "runtime": args.runtime,
        "labeled_video": args.labeled_video,
        "formats": formats,
    }
    decoded: dict[str, int] = {}  # video name -> frames decoded (the last report of its prediction)
    sessions = _sessions(load_model_config(members[0])[0], [Path(v) for v in args.videos])
    with ProgressDisplay() as display:
        for session in sessions:
            names = ", ".join(video.name for video in session)

            def progress(report: dict, names: str = names) -> None:
                if "video" in report:
                    decoded[report["video"]] = report["frames"]
                    model = f"{report['model']}: " if "model" in report else ""
                    display.update(
                        f"{model}{report['video']}", report["frames"], report["total_frames"], "frames"
                    )
                elif report.get("step") == "smoothing":
                    display.update(f"EKS {names}", report["keypoints_done"], report["keypoints"], "keypoints")

            start = time.perf_counter()
            if len(members) == 1:
                paths = predict_session(members[0], session, out_dir, progress=progress, **options)
            else:
                paths = predict_with_ensemble_session(
                    members, session, out_dir, s=args.s, progress=progress, **options
                )
            frames = sum(decoded[video.name] for video in session)
            print(f"{names}: {frames} frames, {len(members)} model(s), {time.perf_counter() - start:.1f} s")
            for video, path in zip(session, paths, strict=True):
                labeled = labeled_video_path(out_dir, video) if args.labeled_video else None
                _print_outputs(path, formats, len(members) > 1, labeled)
    # the frames worth labeling, from the last session's (first view's) predictions of every member
    name = f"{sessions[-1][0].stem}.{formats[0]}"
    folders = [out_dir] if len(members) == 1 else [out_dir / member for member in member_names(members)]
    predicted = [folder / name for folder in folders]
    videos = " ".join(str(video) for video in sessions[-1])
    print(
        f"next: posecloud suggest-frames {' '.join(map(str, predicted))} -n 20 -o {out_dir / 'frames.csv'} "
        f"--video {videos} --extract PROJECT_DIR"
    )
    return 0


OUTPUT_FORMATS = {"csv": ("csv",), "nwb": ("nwb",), "both": ("csv", "nwb")}


def _print_outputs(path: Path, formats: tuple[str, ...], smoothed: bool, labeled_video: Path | None) -> None:
    """Where a video's predictions (or, ``smoothed``, its EKS and variances), labeled video and
    metrics are; ``path`` is the first of ``formats``."""
    from core.predict.metrics import METRICS, metric_csv
    from core.smoothing.io import variances_path

    written = ", ".join(str(path.with_suffix(f".{f}")) for f in formats)
    print(f"{written}: {'EKS' if smoothed else 'predictions'}")
    if smoothed:
        print(f"  variances: {variances_path(path).name}")
    if labeled_video:
        print(f"{labeled_video}: labeled video")
    metrics = [p.name for p in (metric_csv(path, name) for name in METRICS) if p.is_file()]
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
    from core.labels.imported import VIDEO_DIR
    from core.labels.nwb_import import import_nwb
    from core.labels.sleap import import_sleap

    source, dest = Path(args.source), Path(args.output)
    if (dest / "project.yaml").exists():
        raise PoseCloudError(f"{dest} already holds a project (project.yaml); choose an empty folder")
    with ProgressDisplay() as display:

        def progress(done: int, total: int) -> None:
            display.update(f"importing {source.name}", done, total, "files")

        if source.is_dir():
            imported = import_dlc_project(source, dest, link_videos=args.link_videos, progress=progress)
        elif source.name.endswith(".slp"):
            imported = import_sleap(source, dest, instance=args.instance, progress=progress)
        elif source.suffix.lower() == ".nwb":
            imported = import_nwb(
                source,
                dest,
                frames=args.frames,
                video=args.video,
                pose_estimation=args.pose_estimation,
                progress=progress,
            )
        else:
            raise PoseCloudError(
                f"{source} is neither a DeepLabCut project folder (with config.yaml), a SLEAP .slp file nor an "
                "NWB pose file (.nwb)"
            )
    project = ProjectConfig(
        name=args.name or source.stem,
        keypoints=imported.keypoints,
        skeleton=imported.skeleton,
        video_dir=VIDEO_DIR,
    )
    save_yaml(project, dest / "project.yaml")
    print(
        f"{dest / 'project.yaml'}: {len(imported.labels.index)} labeled frames, {len(imported.keypoints)} keypoints"
    )
    if imported.videos:
        print(
            f"{dest / VIDEO_DIR}: {len(imported.videos)} videos ({'linked' if args.link_videos else 'copied'})"
        )
    for missing in imported.missing_videos:
        print(
            f"warning: {missing} (in config.yaml's video_sets) is missing, also from {source / 'videos'}; put it in "
            f"{dest / VIDEO_DIR}/ for frame extraction and semi-supervised training",
            file=sys.stderr,
        )
    print(
        f"next: posecloud train {dest} -c TRAIN.yaml (training settings; see examples/mirror-mouse/train-small.yaml)"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from core.predict.export import export_csv, export_nwb

    source = Path(args.source)
    if args.format == "onnx" or source.is_dir():
        return _export_model(source, args.format, args.output)
    out = Path(args.output) if args.output else source.with_suffix(f".{args.format}")
    if out.resolve() == source.resolve():
        raise PoseCloudError(f"{out} is the file being exported; choose another output name with -o")
    if args.format == "nwb":
        if args.video is None:
            raise PoseCloudError("an NWB file records the video the poses are of: pass it with --video VIDEO")
        written = export_nwb(source, args.video, out, args.model)
        print(f"{written}: NWB pose file")
        print(
            f"next: movement.io.load_poses.from_nwb_file('{written}') reads it; for DANDI add the subject "
            f"(nwbinspector {written} lists what is missing)"
        )
    else:
        written = export_csv(source, out, args.pose_estimation)
        print(f"{written}: DeepLabCut-style CSV")
        print(
            f"next: posecloud suggest-frames {written} -n 20 -o frames.csv --video VIDEO --extract PROJECT_DIR"
        )
    return 0


def _export_model(source: Path, to_format: str, output: str | None) -> int:
    """``export MODEL_DIR --format onnx``: a trained model as an ONNX file."""
    from core.predict.onnx_export import write_onnx

    if to_format != "onnx":
        raise PoseCloudError(
            f"{source} is a folder: a trained model's folder exports with --format onnx; --format {to_format} "
            "converts a prediction file"
        )
    if not source.is_dir():
        raise PoseCloudError(
            f"--format onnx exports a trained model: pass its folder (the one with config.yaml), not {source}"
        )
    if not (source / "config.yaml").is_file() and any(source.glob("*/config.yaml")):
        raise PoseCloudError(f"{source} is an ensemble folder: export each member's folder on its own")
    written = write_onnx(source, output)
    print(f"{written}: ONNX model (keypoint names, input size and normalisation in its metadata)")
    print(
        f"next: run it with onnxruntime (README: running an exported model without posecloud), or "
        f"posecloud predict {source} VIDEO --runtime onnx"
    )
    return 0


def _frame_list(text: str) -> list[int]:
    """``--frames``: frame numbers and ranges ``start:stop[:step]`` (stop excluded), joined by commas."""
    frames: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            bounds = [int(b) for b in part.split(":")]
            if len(bounds) == 1:
                frames.append(bounds[0])
            elif len(bounds) in (2, 3) and (len(bounds) == 2 or bounds[2] > 0):
                frames.extend(range(*bounds))
            else:
                raise ValueError(part)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected frame numbers and ranges like 0,10,20 or 0:1000:50 (start:stop:step), got {text!r}"
        ) from None
    if not frames:
        raise argparse.ArgumentTypeError(f"no frames in {text!r}")
    return frames


def register(sub: argparse._SubParsersAction) -> None:
    """Add the pose library's commands: train, predict, import, export, smooth, suggest-frames, qc."""
    from core.plausibility.qc_command import register as register_qc
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
    p.add_argument(
        "--runtime",
        choices=[
            "auto",
            "torch",
            "bf16",
            "onnx",
            "openvino",
            "openvino-bf16",
        ],  # runtime.RUNTIMES (imports torch)
        default="auto",
        help="what runs the network: torch (float32), bf16 (torch under bfloat16 autocast: faster on CPUs with "
        "bf16 instructions), onnx (ONNX Runtime on the CPU), openvino / openvino-bf16 (OpenVINO on the CPU, "
        "float32 / bfloat16) or auto: the fastest float32 runtime whose keypoints agree with torch's within "
        "0.1 pixel of the network input on four batches spread over the video, for videos torch would take "
        "a minute or more on (-v logs the choice; bf16 can move ambiguous keypoints far: ask for it by name)",
    )
    add_smoothing_option(p, "ensembles: ")
    p.add_argument("--labeled-video", action="store_true", help="also write a video with the keypoints drawn")
    p.add_argument(
        "--format",
        choices=list(OUTPUT_FORMATS),
        default="csv",
        help="the trajectories' files: csv (DeepLabCut-style, the default), nwb (NWB with ndx-pose) or both",
    )
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser(
        "import", help="make a project from a DeepLabCut project, a SLEAP .slp file or an NWB pose file"
    )
    p.add_argument("source", help="DeepLabCut project folder, .slp / .pkg.slp file, or .nwb file")
    p.add_argument("-o", "--output", required=True, help="new project folder")
    p.add_argument("--name", help="project name (default: the source's name)")
    p.add_argument(
        "--instance", type=int, help="SLEAP: which animal to take when frames hold several (0, 1, ...)"
    )
    p.add_argument(
        "--link-videos",
        action="store_true",
        help="DeepLabCut: link the project's videos into <output>/videos/ instead of copying them",
    )
    p.add_argument(
        "--frames",
        type=_frame_list,
        help="NWB: the frames to label, e.g. 0,10,20 or 0:1000:50 (default: every frame with a pose)",
    )
    p.add_argument("--video", help="NWB: the video the poses are of (default: the one the file names)")
    p.add_argument(
        "--pose-estimation",
        help="NWB: which PoseEstimation, when the file holds several (name or module/name)",
    )
    p.set_defaults(run=cmd_import)

    p = sub.add_parser(
        "export",
        help="convert predictions (a prediction CSV to an NWB pose file, or an NWB pose file to a CSV), or "
        "export a trained model to ONNX",
        description="posecloud export PREDICTIONS.csv --format nwb --video VIDEO [--model MODEL_DIR] -o out.nwb\n"
        "posecloud export poses.nwb --format csv -o poses.csv\n"
        "posecloud export MODEL_DIR --format onnx [-o model.onnx]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source",
        help="a prediction CSV (a model's, a member's or an EKS), an NWB pose file, or a trained model folder",
    )
    p.add_argument("--format", choices=["nwb", "csv", "onnx"], required=True, help="the format to write")
    p.add_argument(
        "-o",
        "--output",
        help="output file (default: the source with the new extension; for a model, MODEL_DIR/model.onnx)",
    )
    p.add_argument(
        "--video", help="to NWB: the video the predictions are of (its frame rate times the poses)"
    )
    p.add_argument(
        "--model",
        help="to NWB: the model folder, ensemble folder or comma-joined model folders that made the predictions "
        "(recorded in the file with their settings and the skeleton)",
    )
    p.add_argument("--pose-estimation", help="to CSV: which PoseEstimation, when the file holds several")
    p.set_defaults(run=cmd_export)

    register_smooth(sub)
    register_suggest(sub)
    register_qc(sub)


class _StderrHandler(logging.StreamHandler):
    """Logs to whatever ``sys.stderr`` is when a record comes, so that a terminal's progress bars,
    which take stderr over while they are drawn, print the line above themselves."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


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
    level = logging.INFO if args.verbose else logging.WARNING
    handler = _StderrHandler()
    # the handler's level too: a library logger set to INFO by the library passes INFO records on to it
    handler.setLevel(level)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=[handler]
    )
    try:
        return args.run(args)
    except PoseCloudError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
