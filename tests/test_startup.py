"""``posecloud --help`` and building the command line load none of the heavy libraries: each command
imports what it uses when it runs (measured: 2.3 s -> 0.3 s for ``posecloud --help`` on the 2-core
machine when the smoothing, frame suggestion and label QC commands stopped importing theirs)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "torch",
    "lightning",
    "scipy",
    "pandas",
    "numba",
    "cv2",
    "onnxruntime",
    "onnx",
    "fiftyone",
    "sqlalchemy",
)


def test_building_the_command_line_loads_no_heavy_library() -> None:
    code = (
        "import sys; from app.cli import build_parser; build_parser(); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "", f"posecloud --help loads {loaded.stdout.strip()}"


def test_smoothing_plain_csvs_loads_no_torch_pandas_or_opencv(tmp_path) -> None:
    """``posecloud smooth`` on DeepLabCut-style CSVs reads them with Arrow: pandas (0.2 s to import),
    torch and OpenCV stay out."""
    from core.labels.dlc_csv import write_pose_csv
    from core.smoothing.synthetic import simulate_ensemble

    _, members = simulate_ensemble(n_members=3, n_keypoints=2, n_frames=50)
    files = [str(write_pose_csv(m, tmp_path / f"m{i}.csv")) for i, m in enumerate(members)]
    code = (
        "import sys; from app.cli import main; "
        f"main(['smooth', *{files!r}, '-o', {str(tmp_path / 'eks.csv')!r}]); "
        "print('loaded:', *(m for m in ('torch', 'pandas', 'cv2', 'lightning') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (tmp_path / "eks.csv").is_file()
    assert done.stdout.splitlines()[-1] == "loaded:", done.stdout
