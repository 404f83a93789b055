"""Runs ensemble-kalman-smoother 4.6.2 (in its own venv) with automatic s; prints timings as JSON.

Single camera: ``eks_reference_run.py single OUT.csv MEMBER.csv...``
Multi-camera:  ``eks_reference_run.py multi OUT_DIR CAM1,CAM2,... FILE.csv...``

Times loading, smoothing (the package's public smoother on the loaded arrays) and writing separately.
The smoother is called twice on the same arrays: the first call, in a fresh process, includes JAX's
tracing and XLA compilation (what a user's one-off run pays); the second reuses what JAX cached and
is the smoothing itself. JAX's own compile events (``jax.monitoring``) are summed per call, so the
output says how much of each call was tracing, lowering and XLA compilation. The first call's
result is the one written.
"""

import json
import os
import sys
import time
from collections import defaultdict

import jax
from eks.marker_array import input_dfs_to_markerArray
from eks.multicam_smoother import ensemble_kalman_smoother_multicam
from eks.singlecam_smoother import ensemble_kalman_smoother_singlecam
from eks.utils import format_data
from jax import monitoring

EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "xla_compile",
}
_current: dict = defaultdict(float)


def _listener(event: str, duration: float, **_: object) -> None:
    if event in EVENTS:
        _current[EVENTS[event] + "_s"] += duration
        _current[EVENTS[event] + "_count"] += 1


monitoring.register_event_duration_secs_listener(_listener)


def timed_call(smooth):
    """``(result, seconds, JAX compile events of this call)``."""
    _current.clear()
    start = time.perf_counter()
    result = smooth()
    seconds = time.perf_counter() - start
    return result, seconds, dict(_current)


def main() -> None:
    mode, out = sys.argv[1], sys.argv[2]
    cameras = sys.argv[3].split(",") if mode == "multi" else None
    files = sys.argv[4:] if mode == "multi" else sys.argv[3:]
    t0 = time.perf_counter()
    dfs, keypoints = format_data(files, camera_names=cameras)
    array = input_dfs_to_markerArray(dfs if cameras else [dfs], keypoints, cameras or [""])
    load_s = time.perf_counter() - t0

    def smooth():
        if cameras:
            frames, s, _ = ensemble_kalman_smoother_multicam(array, keypoints, camera_names=cameras)
            return frames, s
        return ensemble_kalman_smoother_singlecam(array, keypoints)

    (result, s), first_s, first_events = timed_call(smooth)
    _, second_s, second_events = timed_call(smooth)

    t3 = time.perf_counter()
    if cameras:
        os.makedirs(out, exist_ok=True)
        for camera, df in zip(cameras, result, strict=True):
            df.to_csv(os.path.join(out, f"{camera}.csv"))
    else:
        result.to_csv(out)
    write_s = time.perf_counter() - t3
    print(
        json.dumps(
            {
                "jax": jax.__version__,
                "load_s": load_s,
                "smooth_s": first_s,  # first call: tracing and compilation included
                "smooth_second_s": second_s,  # same arrays again, compiled
                "jax_events_first": first_events,
                "jax_events_second": second_events,
                "write_s": write_s,
                "s": [float(v) for v in s],
            }
        )
    )


if __name__ == "__main__":
    main()
