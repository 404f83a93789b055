"""Runs ensemble-kalman-smoother 4.6.2 (in its own venv) with automatic s; prints timings as JSON.

Single camera: ``eks_reference_run.py single OUT.csv MEMBER.csv...``
Multi-camera:  ``eks_reference_run.py multi OUT_DIR CAM1,CAM2,... FILE.csv...``
Times loading, smoothing (the package's public smoother on the loaded arrays) and writing separately.
"""

import json
import os
import sys
import time

from eks.marker_array import input_dfs_to_markerArray
from eks.multicam_smoother import ensemble_kalman_smoother_multicam
from eks.singlecam_smoother import ensemble_kalman_smoother_singlecam
from eks.utils import format_data


def main() -> None:
    mode, out = sys.argv[1], sys.argv[2]
    cameras = sys.argv[3].split(",") if mode == "multi" else None
    files = sys.argv[4:] if mode == "multi" else sys.argv[3:]
    t0 = time.perf_counter()
    dfs, keypoints = format_data(files, camera_names=cameras)
    array = input_dfs_to_markerArray(dfs if cameras else [dfs], keypoints, cameras or [""])
    t1 = time.perf_counter()
    if cameras:
        frames, s, _ = ensemble_kalman_smoother_multicam(array, keypoints, camera_names=cameras)
    else:
        frame, s = ensemble_kalman_smoother_singlecam(array, keypoints)
    t2 = time.perf_counter()
    if cameras:
        os.makedirs(out, exist_ok=True)
        for camera, df in zip(cameras, frames, strict=True):
            df.to_csv(os.path.join(out, f"{camera}.csv"))
    else:
        frame.to_csv(out)
    t3 = time.perf_counter()
    print(
        json.dumps({"load_s": t1 - t0, "smooth_s": t2 - t1, "write_s": t3 - t2, "s": [float(v) for v in s]})
    )


if __name__ == "__main__":
    main()
