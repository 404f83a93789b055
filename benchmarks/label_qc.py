"""Label quality control (core/plausibility/label_qc.py) against planted errors on real labels.

For each dataset of ``benchmarks/planted_labels.py`` (mirror-mouse: 90 frames, 17 keypoints, its
left/right paws as flip pairs; dlc-reaching: 55 frames, 5 keypoints, no left/right pair) and each
seed: the left/right keypoints of 5 % of the frames swapped (one flip pair per frame; and, as a
second experiment, every pair of the frame) and one keypoint of another 5 % moved 15-40 px in a
random direction; then QC of the planted labels. Frames flagged against frames planted, summed
over the seeds: recall per kind of error and overall, precision (strict: every flagged frame
without a planted error is false, the labels' own errors included) and precision not counting the
frames with a definite problem (two keypoints at one point, a keypoint outside the frame) in the
labels as given: those are wrong labels, not false alarms. At several z thresholds (the default
marked); also the labels as given (frames flagged, by kind), the recall of moves by distance, and
the QC's wall time per label file.

Prints the machine and the load average at the start and end, then the BENCHMARKS.md tables.
Usage: .venv/bin/python benchmarks/label_qc.py [--seeds 20] [--z 4 5 6]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchinfo import LoadAverages, machine  # noqa: E402
from planted_labels import MOVE_PX, Dataset, Totals, mirror_mouse, plant_errors, reaching, score, totals  # noqa: E402

from core.plausibility.flip_pairs import project_flip_pairs  # noqa: E402
from core.plausibility.label_qc import Z_FLAG, LabelQC, image_sizes, label_qc  # noqa: E402

SWAPS = {"pair": "one pair", "all": "all pairs"}
MOVE_BANDS = ((15.0, 22.0), (22.0, 30.0), (30.0, 40.0))
"""Pixels: the recall of moves by how far they went."""


def definite_problems(qc: LabelQC) -> frozenset[str]:
    """The frames with a definite problem (a reason without z): wrong labels, whatever the rest."""
    return frozenset(frame.frame for frame in qc.frames if any(r.z is None for r in frame.reasons))


def experiment(dataset: Dataset, seeds: int, swap: str, z_flag: float) -> tuple[Totals, float]:
    """Plant and check ``seeds`` times: the totals and the mean QC wall time, seconds."""
    sizes = image_sizes(dataset.project.data_dir, dataset.labels.index)
    known = definite_problems(label_qc(dataset.labels, dataset.project, sizes, z_flag))
    scores, seconds = [], 0.0
    for seed in range(seeds):
        planted = plant_errors(dataset.labels, project_flip_pairs(dataset.project), seed, swap)
        start = time.perf_counter()
        qc = label_qc(planted.labels, dataset.project, sizes, z_flag)
        seconds += time.perf_counter() - start
        scores.append(score(qc, planted))
    return totals(scores, known), seconds / seeds


def found(total: Totals, kind: str) -> str:
    planted = total.planted[kind]
    return f"{total.found[kind]}/{planted} ({total.found[kind] / planted:.2f})" if planted else "–"


def row(dataset: Dataset, swap: str, z_flag: float, total: Totals, seconds: float) -> str:
    """One row of the table."""
    swaps = SWAPS[swap] if total.planted["swap"] else "none"
    default = " (default)" if z_flag == Z_FLAG else ""
    named = f"{total.named}/{total.planted['swap']}" if total.planted["swap"] else "–"
    return (
        f"| {dataset.name} | {swaps} | {z_flag:g}{default} | {found(total, 'swap')} | {found(total, 'move')} "
        f"| {total.recall():.2f} | {total.precision:.2f} | {total.precision_known_excused:.2f} | {named} "
        f"| {seconds * 1000:.0f} ms |"
    )


def as_given(dataset: Dataset, z_flag: float) -> str:
    """The frames QC flags on the labels as given, by kind."""
    sizes = image_sizes(dataset.project.data_dir, dataset.labels.index)
    qc = label_qc(dataset.labels, dataset.project, sizes, z_flag)
    flagged = [frame for frame in qc.frames if frame.flagged]
    kinds = Counter(kind for frame in flagged for kind in dict.fromkeys(r.kind for r in frame.reasons))
    by_kind = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
    return f"{dataset.name}, z {z_flag:g}: {len(flagged)} of {len(qc.frames)} frames flagged ({by_kind or 'none'})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20, help="seeds per experiment (default 20)")
    parser.add_argument("--z", type=float, nargs="+", default=[4.0, Z_FLAG, 6.0], help="z thresholds to try")
    args = parser.parse_args()
    load = LoadAverages()
    print(f"machine: {machine()}")
    print(load.start_line(), flush=True)
    datasets = [mirror_mouse(), reaching()]
    print("\nThe labels as given:")
    for dataset in datasets:
        for z_flag in args.z:
            print(f"  {as_given(dataset, z_flag)}")
    print(
        f"\nPlanted errors, {args.seeds} seeds each; frames (found / planted); precision strict, and not counting "
        "flags on the frames with a definite problem in the labels as given:\n"
    )
    print(
        "| dataset | swaps planted | z | swaps found | moves found | recall | precision | precision, labels' own "
        "errors excused | swaps named as swaps | QC time per file |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    bands = []
    for dataset in datasets:
        for swap in ("pair", "all") if project_flip_pairs(dataset.project) else ("pair",):
            for z_flag in args.z:
                total, seconds = experiment(dataset, args.seeds, swap, z_flag)
                print(row(dataset, swap, z_flag, total, seconds), flush=True)
                if swap == "pair" and z_flag == Z_FLAG:
                    bands.append((dataset.name, total))
    print(f"\nMoves found by distance ({MOVE_PX[0]:g}-{MOVE_PX[1]:g} px planted), z {Z_FLAG:g}:\n")
    print("| dataset | " + " | ".join(f"{low:g}-{high:g} px" for low, high in MOVE_BANDS) + " |")
    print("|---|" + "---|" * len(MOVE_BANDS))
    for name, total in bands:
        cells = (total.move_recall(low, high) for low, high in MOVE_BANDS)
        print(
            f"| {name} | " + " | ".join(f"{recall:.2f} (of {n})" if n else "–" for recall, n in cells) + " |"
        )
    print(f"\n{load.end()}")


if __name__ == "__main__":
    main()
