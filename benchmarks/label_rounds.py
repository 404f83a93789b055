"""Label efficiency of labeling rounds (issue 24): which frames to label next, and fine-tuning
against retraining from scratch, with a simulated labeler who answers from the ground truth.

Each dataset's labeled frames are split once (a fixed draw, the same for every strategy and seed)
into a test split, a validation split (labeled for every model alike: it picks each training's
best checkpoint and gives the validation error) and the pool. The labeler's frames come from the
pool only. Per seed, a start set drawn at random from the pool trains the start model (shared by
the strategies), then each strategy adds frames in rounds and fine-tunes from its previous round's
model (the product's loop; by default with half the steps of a training from scratch, as the
app's ``shorter_schedule`` halves the epochs):

- active: the frames with the most outlier evidence (``core.selection.outliers``) in the
  predictions of a two-member ensemble, one per pose cluster among the twice as many worst
  (``diverse_picks``). Metrics: ensemble spread, Pose PCA error (a PCA fitted on the frames
  labeled so far; skipped while too few are completely labeled) and confidence. The temporal
  metric does not apply: pool frames are not consecutive frames of a video. The members are the
  strategy's model and a model trained from scratch on the same frames (below); at the start a
  second start model with another seed.
- random: frames drawn at random.
- k-means: the frames nearest the centres of k-means clusters of the unlabeled pool frames'
  thumbnails on their principal components (``core.selection.initial``'s recipe for varied
  postures, without its motion filter, which needs a video).

Reported: test pixel error (frame pixels, mean over the test split's labeled keypoints) per round
and strategy, mean ± SD over seeds, and the paired difference active - random. Then, on the
active strategy's frames of each round, a training from scratch against the fine-tuning: seconds
(and steps) each takes to reach the scratch training's final validation error.

One thread (``--threads``): the runs are timed, and the machine is shared.
Usage: .venv/bin/python benchmarks/label_rounds.py [--datasets mirror-mouse dlc-reaching]
       [--seeds 0 1 2] [--steps 80] [--fine-tune-steps 40] [--size 64] [--model stacked_densenet]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torchvision  # noqa: E402
from benchinfo import LoadAverages, machine, mean_sd  # noqa: E402
from planted_labels import Dataset, mirror_mouse, reaching  # noqa: E402

from core.config import load_train_config  # noqa: E402
from core.data.images import read_rgb  # noqa: E402
from core.labels.dlc_csv import write_pose_csv  # noqa: E402
from core.plausibility.pose_pca import NotEnoughPosesError, PosePCA, fit_project_pose_pca  # noqa: E402
from core.predict.labeled_frames import predict_image_table  # noqa: E402
from core.selection.initial import THUMBNAIL_WIDTH, posture_picks  # noqa: E402
from core.selection.metrics import frame_metrics  # noqa: E402
from core.selection.outliers import diverse_picks, outlier_scores  # noqa: E402
from core.smoothing.ensemble import ensemble_stats  # noqa: E402
from core.training.semisupervised import rows_of  # noqa: E402
from core.training.train import train_model  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """Frames per split and per round of one dataset."""

    test: int
    validation: int
    start: int
    per_round: int


SIZES = {
    "mirror-mouse": Sizes(test=20, validation=10, start=20, per_round=10),
    "dlc-reaching": Sizes(test=15, validation=5, start=15, per_round=5),
}
LOADERS = {"mirror-mouse": mirror_mouse, "dlc-reaching": reaching}
REACHING_PCA_KEYPOINTS = ["Hand", "Finger1", "Joystick1", "Joystick2"]
"""The Tongue is labeled in 15 of the 55 frames (it is mostly in the mouth): a Pose PCA with it
could never be fitted on a round's frames."""
ROUNDS = 3
STRATEGIES = ("active", "random", "k-means")
SPLIT_SEED = 2024
"""Draws the test and validation splits: one draw for every strategy and seed."""
SECOND_MEMBER = 100
"""Added to the seed of the trainings from scratch that make the ensemble's second member."""
ACTIVE_POOL_FACTOR = 2
"""Active picks: one per pose cluster among the ``2 n`` worst frames (the app's 5 n would be the
whole unlabeled pool here)."""
VAL_EVERY_STEPS = 10
"""Validation about this often (rounded to whole epochs): the resolution of the times to reach."""
LR_DROP_AT = 0.8
"""The learning rate halves after this fraction of a training's epochs."""
VAL_ERROR = "val_pixel_error_px"


@dataclass(frozen=True)
class Bench:
    """A dataset split for the benchmark (rows of ``dataset.labels``).

    Attributes:
        dataset: project and labels.
        sizes: frames per split and round.
        test, validation, pool: the fixed splits.
        thumbnails: ``(len(pool), 64 * 64)`` grey thumbnails of the pool frames, flattened.
    """

    dataset: Dataset
    sizes: Sizes
    test: np.ndarray
    validation: np.ndarray
    pool: np.ndarray
    thumbnails: np.ndarray


def load_bench(name: str) -> Bench:
    """The dataset ``name`` (``planted_labels``' loaders) with its fixed splits and pool thumbnails."""
    dataset = LOADERS[name]()
    if name == "dlc-reaching":
        project = dataset.project.model_copy(update={"pca_keypoints": REACHING_PCA_KEYPOINTS})
        dataset = Dataset(dataset.name, project, dataset.labels)
    sizes = SIZES[name]
    order = np.random.default_rng(SPLIT_SEED).permutation(len(dataset.labels.index))
    test, validation = order[: sizes.test], order[sizes.test : sizes.test + sizes.validation]
    pool = np.sort(order[sizes.test + sizes.validation :])
    images = [dataset.project.data_dir / dataset.labels.index[r] for r in pool]
    return Bench(
        dataset, sizes, np.sort(test), np.sort(validation), pool, np.stack([thumbnail(p) for p in images])
    )


def thumbnail(path: Path) -> np.ndarray:
    """A grey thumbnail, flattened, float32: ``core.selection.initial``'s, 64 pixels wide, but
    square (dlc-reaching's images come in two sizes, 832x747 and 640x470)."""
    grey = cv2.cvtColor(read_rgb(path), cv2.COLOR_RGB2GRAY)
    size = (THUMBNAIL_WIDTH, THUMBNAIL_WIDTH)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32).ravel()


@dataclass(frozen=True)
class Recipe:
    """The training recipe: model, input size, batch, steps from scratch and when fine-tuning."""

    model: str
    size: int
    batch_size: int
    steps: int
    fine_tune_steps: int

    def settings(self, labeled: int, seed: int, steps: int, init_from: Path | None) -> dict:
        """TrainConfig settings for ``steps`` steps (rounded up to whole validation intervals) on
        ``labeled`` frames."""
        per_epoch = max(1, labeled // self.batch_size)  # full batches only (drop_last)
        val_every = max(1, round(VAL_EVERY_STEPS / per_epoch))
        epochs = math.ceil(steps / per_epoch / val_every) * val_every
        model = (
            {"model_type": "stacked_densenet"}
            if self.model == "stacked_densenet"
            else {"backbone": self.model}
        )
        return {
            **model,
            "pretrained": local_imagenet(self.model),
            "init_from": str(init_from or ""),
            "image_height": self.size,
            "image_width": self.size,
            "batch_size": self.batch_size,
            "epochs": epochs,
            "lr_milestones": [max(1, round(LR_DROP_AT * epochs))],
            "freeze_backbone_epochs": 0,
            "val_every_n_epochs": val_every,
            "seed": seed,
            "device": "cpu",
        }


def local_imagenet(model: str) -> str:
    """``imagenet`` when torchvision's weights of ``model`` are in the torch hub cache (nothing can
    be downloaded here), else ``none``; the Stacked DenseNet has none."""
    if model == "stacked_densenet":
        return "none"
    weights = torchvision.models.get_model_weights(model).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    return "imagenet" if cached.is_file() else "none"


class ValidationCurve:
    """Progress hook: ``(seconds since made, step, validation pixel error)`` of every validation
    pass, and in ``seconds`` the time of the latest report (when training ends: its fit time)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.points: list[tuple[float, int, float]] = []
        self.seconds = 0.0
        self._epochs = 0

    def __call__(self, report: dict) -> None:
        self.seconds = time.perf_counter() - self.start
        history = report["history"]
        if len(history) > self._epochs:
            self._epochs = len(history)
            losses = history[-1]["losses"]
            if VAL_ERROR in losses:
                self.points.append((self.seconds, history[-1]["step"], losses[VAL_ERROR]))

    def reach(self, target: float) -> tuple[float, int] | None:
        """Seconds and step of the first validation pass at or below ``target`` pixels, if any."""
        return next(((s, step) for s, step, error in self.points if error <= target), None)


@dataclass(frozen=True)
class Run:
    """One training: its folder, test error (frame pixels), fit time (seconds) and validation curve."""

    model_dir: Path
    test_px: float
    seconds: float
    curve: ValidationCurve

    @property
    def final_val_px(self) -> float:
        """The validation error of the last validation pass (the end of training), frame pixels."""
        return self.curve.points[-1][2]

    @property
    def steps(self) -> int:
        """The training steps taken."""
        return self.curve.points[-1][1]


def train(
    bench: Bench, labeled: np.ndarray, seed: int, folder: Path, recipe: Recipe, init_from: Path | None = None
) -> Run:
    """Train on the ``labeled`` rows (validated on the validation split, tested on the test split)
    from scratch, or fine-tune from the model folder ``init_from`` with the shorter schedule."""
    rows = np.concatenate([labeled, bench.validation, bench.test])
    folder.mkdir(parents=True)
    labels_file = write_pose_csv(rows_of(bench.dataset.labels, rows), folder / "labels.csv")
    project = bench.dataset.project.model_copy(update={"labels_file": str(labels_file)})
    validation, test = len(labeled), len(labeled) + len(bench.validation)  # where each split begins
    split = {
        "train": np.arange(validation),
        "validation": np.arange(validation, test),
        "test": np.arange(test, len(rows)),
    }
    steps = recipe.fine_tune_steps if init_from else recipe.steps
    config = load_train_config(None, recipe.settings(len(labeled), seed, steps, init_from))
    curve = ValidationCurve()
    result = train_model(project, config, folder / "model", progress=curve, split=split)
    return Run(result.model_dir, result.summary["pixel_error"]["test"]["mean"], curve.seconds, curve)


@dataclass(frozen=True)
class Picks:
    """The frames a strategy picks (label rows) and the outlier metrics it used (active only)."""

    rows: np.ndarray
    metrics: list[str] = field(default_factory=list)


def pick(
    strategy: str,
    bench: Bench,
    labeled: np.ndarray,
    members: list[Path],
    seed: int,
    rng: np.random.Generator,
) -> Picks:
    """The next round's frames of ``strategy`` among the pool frames not yet ``labeled``;
    ``members``: the ensemble active selection scores with."""
    unlabeled = np.setdiff1d(bench.pool, labeled)
    n = bench.sizes.per_round
    if strategy == "active":
        return active_picks(bench, labeled, unlabeled, members, n, seed)
    if strategy == "random":
        return Picks(rng.choice(unlabeled, n, replace=False))
    return Picks(kmeans_picks(bench, unlabeled, n, seed))


def kmeans_picks(bench: Bench, unlabeled: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` unlabeled rows spread over the postures, as ``posture_picks`` spreads a video's frames."""
    return unlabeled[posture_picks(bench.thumbnails[np.searchsorted(bench.pool, unlabeled)], n, seed)]


def active_picks(
    bench: Bench, labeled: np.ndarray, unlabeled: np.ndarray, members: list[Path], n: int, seed: int
) -> Picks:
    """``n`` unlabeled rows with the most outlier evidence in the ensemble ``members``' predictions,
    one per pose cluster among the ``ACTIVE_POOL_FACTOR n`` worst."""
    project, labels = bench.dataset.project, bench.dataset.labels
    images = [labels.index[r] for r in unlabeled]
    tables = [predict_image_table([m], project.data_dir, images, m.parent.name) for m in members]
    stats = ensemble_stats(tables, [str(m) for m in members])
    metrics = frame_metrics(stats, labeled_pose_pca(bench, labeled))
    del metrics["temporal_norm"]  # pool frames are not consecutive: no motion between them
    scores = outlier_scores(metrics)
    picks = diverse_picks(
        scores.ranking(), stats.median, n, min_gap=1, pool_factor=ACTIVE_POOL_FACTOR, seed=seed
    )
    return Picks(unlabeled[picks], sorted(metrics))


def labeled_pose_pca(bench: Bench, labeled: np.ndarray) -> PosePCA | None:
    """The Pose PCA of the frames labeled so far; None while too few are completely labeled."""
    try:
        return fit_project_pose_pca(
            bench.dataset.project, [rows_of(bench.dataset.labels, labeled)], "the labeled frames"
        )
    except NotEnoughPosesError:
        return None


@dataclass
class SeedResult:
    """One seed of one dataset: test pixel error per strategy and round (round 0: the start model),
    the fine-tuning against scratch comparisons, and the metrics active selection used per round."""

    test_px: dict[str, list[float]] = field(default_factory=dict)
    comparisons: list[tuple[Run, Run]] = field(default_factory=list)  # (scratch, fine-tuned)
    active_metrics: list[list[str]] = field(default_factory=list)


def run_seed(bench: Bench, seed: int, recipe: Recipe, out: Path) -> SeedResult:
    """The start model, then ``ROUNDS`` rounds of each strategy; see the module's docstring."""
    rng = np.random.default_rng(seed)
    start = np.sort(rng.choice(bench.pool, bench.sizes.start, replace=False))
    first = train(bench, start, seed, out / "start", recipe)
    second = train(bench, start, seed + SECOND_MEMBER, out / "start-member2", recipe)
    report(bench, seed, "start", 0, start, first)
    result = SeedResult({s: [first.test_px] for s in STRATEGIES})
    for strategy in STRATEGIES:
        labeled, model, members = start, first.model_dir, [first.model_dir, second.model_dir]
        for round_number in range(1, ROUNDS + 1):
            picks = pick(strategy, bench, labeled, members, seed, rng)
            if strategy == "active":
                result.active_metrics.append(picks.metrics)
            labeled = np.sort(np.concatenate([labeled, picks.rows]))
            folder = out / f"{strategy}-round{round_number}"
            fine_tuned = train(bench, labeled, seed, folder / "fine-tuned", recipe, init_from=model)
            report(bench, seed, strategy, round_number, labeled, fine_tuned)
            result.test_px[strategy].append(fine_tuned.test_px)
            model = fine_tuned.model_dir
            if strategy == "active":
                scratch = train(bench, labeled, seed + SECOND_MEMBER, folder / "scratch", recipe)
                report(bench, seed, "active-scratch", round_number, labeled, scratch)
                result.comparisons.append((scratch, fine_tuned))
                members = [fine_tuned.model_dir, scratch.model_dir]
    return result


def report(bench: Bench, seed: int, what: str, round_number: int, labeled: np.ndarray, run: Run) -> None:
    """One JSON line per training, as it finishes."""
    line = {
        "dataset": bench.dataset.name,
        "seed": seed,
        "run": what,
        "round": round_number,
        "labeled": len(labeled),
        "steps": run.steps,
        "seconds": round(run.seconds, 1),
        "val_px": round(run.final_val_px, 2),
        "test_px": round(run.test_px, 2),
    }
    print(json.dumps(line), flush=True)


def error_table(benches: list[Bench], results: list[list[SeedResult]]) -> list[str]:
    """Test pixel error per dataset, round and strategy (mean ± SD over seeds) and the paired
    difference active - random (mean ± SD of the per-seed differences)."""
    lines = [
        "| dataset | round | frames labeled (of the pool) | active | random | k-means | active - random, paired |",
        "|---|---|---|---|---|---|---|",
    ]
    for bench, seeds in zip(benches, results, strict=True):
        for r in range(ROUNDS + 1):
            cells = [mean_sd([s.test_px[strategy][r] for s in seeds]) for strategy in STRATEGIES]
            paired = [s.test_px["active"][r] - s.test_px["random"][r] for s in seeds]
            labeled = bench.sizes.start + r * bench.sizes.per_round
            lines.append(
                f"| {bench.dataset.name} | {r or 'start'} | {labeled} ({len(bench.pool)}) | "
                + " | ".join(cells)
                + f" | {mean_sd(paired) if r else '–'} |"
            )
    return lines


def fine_tune_table(benches: list[Bench], results: list[list[SeedResult]]) -> list[str]:
    """Per dataset and round, over seeds: scratch against fine-tuned trainings on the same frames,
    and the time each takes to reach the scratch training's final validation error."""
    lines = [
        "| dataset | round | steps, scratch / fine-tune | fit s, scratch / fine-tune | final val px, scratch / "
        "fine-tune | test px, scratch / fine-tune | fine-tune reached scratch's final val px | s to reach it, "
        "scratch / fine-tune | steps to reach it, scratch / fine-tune |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for bench, seeds in zip(benches, results, strict=True):
        for r in range(ROUNDS):
            pairs = [s.comparisons[r] for s in seeds]
            reached = [
                (scratch.curve.reach(scratch.final_val_px), fine.curve.reach(scratch.final_val_px))
                for scratch, fine in pairs
            ]
            both = [(a, b) for a, b in reached if b is not None]
            times = (
                f"{mean_sd([a[0] for a, _ in both], 0)} / {mean_sd([b[0] for _, b in both], 0)}"
                if both
                else "–"
            )
            steps = (
                f"{mean_sd([a[1] for a, _ in both], 0)} / {mean_sd([b[1] for _, b in both], 0)}"
                if both
                else "–"
            )
            lines.append(
                f"| {bench.dataset.name} | {r + 1} | {pairs[0][0].steps} / {pairs[0][1].steps} "
                f"| {mean_sd([a.seconds for a, _ in pairs], 0)} / {mean_sd([b.seconds for _, b in pairs], 0)} "
                f"| {mean_sd([a.final_val_px for a, _ in pairs])} / {mean_sd([b.final_val_px for _, b in pairs])} "
                f"| {mean_sd([a.test_px for a, _ in pairs])} / {mean_sd([b.test_px for _, b in pairs])} "
                f"| {len(both)} of {len(pairs)} | {times} | {steps} |"
            )
    return lines


def active_metrics_lines(benches: list[Bench], results: list[list[SeedResult]]) -> list[str]:
    """Which outlier metrics active selection had in each round (the Pose PCA needs enough
    completely labeled frames), over the seeds."""
    lines = []
    for bench, seeds in zip(benches, results, strict=True):
        rounds = []
        for r in range(ROUNDS):
            used = [", ".join(s.active_metrics[r]) for s in seeds]
            counts = {m: used.count(m) for m in dict.fromkeys(used)}
            rounds.append(
                f"round {r + 1}: " + "; ".join(f"{m} ({n} of {len(seeds)} seeds)" for m, n in counts.items())
            )
        lines.append(f"{bench.dataset.name}: " + " | ".join(rounds))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=80, help="training steps from scratch (default 80)")
    parser.add_argument("--fine-tune-steps", type=int, default=40, help="steps when fine-tuning (default 40)")
    parser.add_argument("--model", default="stacked_densenet", choices=["stacked_densenet", "resnet18"])
    parser.add_argument("--size", type=int, default=64, help="network input, pixels (default 64)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads (default 1)")
    parser.add_argument("--out", default=str(REPO / "runs" / "label_rounds"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    recipe = Recipe(args.model, args.size, args.batch_size, args.steps, args.fine_tune_steps)
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    load, began = LoadAverages(), time.perf_counter()
    print(f"machine: {machine(torch.get_num_threads())}")
    print(load.start_line(), flush=True)
    benches = [load_bench(name) for name in args.datasets]
    results = [
        [run_seed(b, seed, recipe, out / b.dataset.name / f"seed{seed}") for seed in args.seeds]
        for b in benches
    ]
    minutes = (time.perf_counter() - began) / 60
    print(
        f"\n{args.model} at {args.size}x{args.size}, pretrained: {local_imagenet(args.model)}, batch {args.batch_size}, "
        f"{args.steps} steps from scratch, {args.fine_tune_steps} fine-tuning (rounded up to whole validation "
        f"intervals), seeds {args.seeds}; {minutes:.1f} min in all.\n"
    )
    print(
        "Test pixel error (frame pixels), mean ± SD over seeds; each round fine-tunes the previous round's model:\n"
    )
    print("\n".join(error_table(benches, results)))
    print("\nActive selection's outlier metrics:")
    print("\n".join(active_metrics_lines(benches, results)))
    print(
        "\nFrom scratch against fine-tuning, on the active strategy's frames of each round (mean ± SD over seeds):\n"
    )
    print("\n".join(fine_tune_table(benches, results)))
    print(f"\n{load.end()}")


if __name__ == "__main__":
    main()
