"""Single-camera ensemble Kalman smoothing: each keypoint's x and y follow independent random walks,
observed through the members' outlier-robust combination (``robust_smooth``, which starts from the
ensemble median with its spread-based error variance)."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError
from core.smoothing.ensemble import EnsembleStats
from core.smoothing.fit import fit_frames, fit_independent, variance_scale
from core.smoothing.kalman import diffuse_prior, smooth_independent
from core.smoothing.robust import members_of, robust_smooth

# Member predictions (members x frames x keypoints) smoothed at once, in all the batches in flight:
# about 100 MB at the peak (measured: resident memory grew by 81 MB for 5 members x 20,000 frames x
# 17 keypoints in one batch).
BATCH_PREDICTIONS = 2_000_000


@dataclass(frozen=True)
class Smoothed:
    """Smoothed trajectories of one camera.

    Attributes:
        xy: ``(frames, keypoints, 2)`` posterior mean x/y, pixels (NaN only for a keypoint that
            no member ever sees).
        posterior_var: ``(frames, keypoints, 2)`` posterior variance of x/y, pixels².
        s: ``(keypoints,)`` the smoothing parameter used (random-walk variance, pixels² per frame).
    """

    xy: np.ndarray
    posterior_var: np.ndarray
    s: np.ndarray


def check_smoothing_parameter(s: float | None) -> None:
    """Raise a ConfigError unless ``s`` is None (automatic) or a positive finite number."""
    if s is not None and not (isinstance(s, int | float) and math.isfinite(s) and s > 0):
        raise ConfigError(
            f"smoothing parameter s must be a positive number (pixels² per frame), got {s!r}; "
            "leave it out to choose it automatically"
        )


def smooth_single_camera(
    stats: EnsembleStats, s: float | None = None, progress: Callable[[int, int], None] | None = None
) -> Smoothed:
    """Smooth one camera's ensemble; ``s`` fixed by the user or (None) fitted per keypoint.

    The keypoints are independent (each its own ``s``, its x and y their own series), so they are
    smoothed in batches, one per core at a time, each batch in threads of its own (the compiled
    kernels and numpy's large operations let go of the GIL: 0.37 -> 0.20 s on 5 x 17 x 20,000 on 2
    cores; the same trajectories to rounding). A batch holds as many keypoints as it can, so that numpy's per-call
    costs are paid once, and the batches in flight together hold at most ``BATCH_PREDICTIONS``
    member predictions, so that the memory of a long video stays bounded.
    ``progress(keypoints done, keypoints)`` follows each pass over a batch's frames
    (``robust.ROUNDS`` + 1 per batch) and each batch, one call at a time; a callback that raises (a
    cancelled job) stops the smoothing there.
    """
    check_smoothing_parameter(s)
    n_members, n_frames, n_kp = stats.members.shape[:3]
    members = members_of(stats.members[..., :2], stats.members[..., 2])
    workers = min(os.cpu_count() or 1, n_kp)
    batch = max(1, min(BATCH_PREDICTIONS // (workers * n_members * n_frames), math.ceil(n_kp / workers)))
    reporting = threading.Lock()
    done = 0
    stopped: list[BaseException] = []  # what the callback raised: every batch stops at its next report

    def report(finished: int = 0) -> None:
        nonlocal done
        with reporting:
            if stopped:
                raise stopped[0]
            done += finished
            if progress:
                try:
                    progress(done, n_kp)
                except BaseException as e:
                    stopped.append(e)
                    raise

    def smooth(obs: list[np.ndarray], var: list[np.ndarray], q: np.ndarray | None) -> tuple:
        part = smooth_observations(obs[0], var[0], q)
        report()
        return part, [(part.xy, part.posterior_var)], part.s

    def smooth_batch(start: int) -> Smoothed:
        chosen = slice(start, min(start + batch, n_kp))
        median, spread = stats.median[:, chosen], stats.noise[:, chosen]
        fixed = None if s is None else np.full(chosen.stop - start, float(s))
        part = robust_smooth([members.keypoints(chosen)], [median], [spread], smooth, fixed)[0]
        report(chosen.stop - start)
        return part

    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(smooth_batch, range(0, n_kp, batch)))
    return Smoothed(
        np.concatenate([part.xy for part in parts], axis=1),
        np.concatenate([part.posterior_var for part in parts], axis=1),
        np.concatenate([part.s for part in parts]),
    )


def smooth_observations(median: np.ndarray, noise: np.ndarray, q: np.ndarray | None) -> Smoothed:
    """The smoothed ``(frames, keypoints, coords)`` observations, given their noise variances, each
    coordinate its own random walk; ``q`` the smoothing parameter per keypoint, shared by its
    coordinates (None: fitted)."""
    n_frames, n_kp, n_coords = median.shape
    q = fit_independent(median, noise) if q is None else q
    y = median.reshape(n_frames, -1)
    r = noise.reshape(n_frames, -1)
    # the prior and the variances' scale are estimates: the fit's frames are enough for them
    sample = fit_frames(n_frames).ravel()
    m0, p0 = diffuse_prior(y[sample], r[sample])
    mean, var = smooth_independent(y, r, np.repeat(q, n_coords), m0, p0)
    shape = median.shape
    scale = variance_scale(
        median[sample], noise[sample], mean.reshape(shape)[sample], var.reshape(shape)[sample]
    )
    var *= np.repeat(scale, n_coords)
    unseen = ~np.isfinite(y).any(axis=0)
    mean[:, unseen] = np.nan
    var[:, unseen] = np.nan
    return Smoothed(mean.reshape(shape), var.reshape(shape), q)
