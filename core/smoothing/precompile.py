"""Compile the smoother's numba kernels into numba's cache on disk (beside their modules), so that
the first ``posecloud smooth`` after an install runs as fast as the next: compiling them takes
2-3 s, loading them from the cache a fraction of that. ``make install`` runs it
(``python -m core.smoothing.precompile``); a kernel whose source changed is compiled again by its
next use.

The kernels are compiled for the argument types they are given, so a small single-camera and a
small multi-camera ensemble take every path the smoothers take on files (float64 arrays throughout).
"""

from __future__ import annotations

import numpy as np

from core.smoothing.ensemble import ensemble_stats
from core.smoothing.multicam import smooth_multi_camera
from core.smoothing.singlecam import smooth_single_camera
from core.smoothing.synthetic import simulate_ensemble


def compile_kernels() -> None:
    """Smooth a small synthetic ensemble with one camera and with two (cache misses compile)."""
    _, members = simulate_ensemble(n_members=3, n_keypoints=2, n_frames=300, seed=0)
    smooth_single_camera(ensemble_stats(members))
    _, other_view = simulate_ensemble(n_members=3, n_keypoints=2, n_frames=300, seed=1)
    for table in other_view:  # a second camera: the same keypoints, moved and rescaled
        table.values[..., :2] = table.values[..., :2] * np.array([0.8, 1.1]) + 40
    smooth_multi_camera({"a": ensemble_stats(members), "b": ensemble_stats(other_view)})


if __name__ == "__main__":
    compile_kernels()
