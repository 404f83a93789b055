"""Multi-camera ensemble Kalman smoothing: per keypoint, the 2V coordinates of V views lie near a
3-D subspace (a 3-D point seen by V cameras); PCA on confident frames gives the observation matrix,
the latent follows a random walk, and a view that disagrees with the others is down-weighted.
Pinhole cameras bend the views off the subspace: a quadratic function of the latent takes most of
that, and each coordinate's slow deviation from the result is smoothed on its own and added."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from core.errors import LabelFormatError, PoseCloudError
from core.labels.table import check_keypoints_match
from core.pca import principal_subspace
from core.smoothing.ensemble import EnsembleStats
from core.smoothing.fit import fit_latent, latent_variance_scale, typical_noise
from core.smoothing.kalman import kalman_smooth, observed
from core.smoothing.robust import members_of, robust_smooth
from core.smoothing.singlecam import Smoothed, check_smoothing_parameter, smooth_observations

LATENT_DIMS = 3
MIN_PCA_FRAMES = 10
PCA_QUANTILE = 50.0  # PCA uses the complete frames whose total noise is at most this percentile
INFLATION_THRESHOLD = 5.0  # Mahalanobis distance of a view from the others' prediction
INFLATION_FACTOR = 10.0
INFLATION_ROUNDS = 4
_CHI2_1_MEDIAN = 0.4549364231195724  # median of a chi-square with 1 degree of freedom
MIN_CURVATURE_FRAMES = 100


class MultiCameraError(PoseCloudError):
    """The views cannot be smoothed together (too few views or too few frames seen in all)."""


@dataclass(frozen=True)
class MultiCamSmoothed:
    """Smoothed trajectories of every view.

    Attributes:
        views: view name -> Smoothed (``s`` is the latent random-walk variance, pixels² per frame).
        inflation: ``(frames, keypoints, views)`` factor applied to each view's observation noise
            in the last pass because it disagreed with the other views (1 where it agreed; a view
            whose members are all wrong is usually left out earlier, by ``robust_smooth``).
    """

    views: dict[str, Smoothed]
    inflation: np.ndarray


def stack_views(stats: Mapping[str, EnsembleStats]) -> tuple[np.ndarray, np.ndarray]:
    """``(frames, keypoints, 2V)`` medians and noise variances, coordinates ordered x0, y0, x1, y1, ..."""
    names = list(stats)
    if len(names) < 2:
        raise MultiCameraError(
            f"multi-camera smoothing needs at least 2 views, got {len(names)} ({names}); "
            "smooth a single camera without --views"
        )
    first = stats[names[0]]
    for name in names[1:]:
        view = stats[name]
        check_keypoints_match(first.keypoints, view.keypoints, source=f"view {name!r}")
        if view.keypoints != first.keypoints:
            raise LabelFormatError(
                f"view {name!r} lists the keypoints in a different order than view {names[0]!r}; "
                "export every view with the same column order"
            )
        if len(view.index) != len(first.index):
            raise LabelFormatError(
                f"view {name!r} has {len(view.index)} frames but view {names[0]!r} has "
                f"{len(first.index)}; the views must be synchronised recordings of equal length"
            )
    median = np.concatenate([stats[n].median for n in names], axis=-1)
    noise = np.concatenate([stats[n].noise for n in names], axis=-1)
    return median, noise


def fit_pca(y: np.ndarray, r: np.ndarray, keypoints: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per keypoint, the mean ``(K, 2V)`` and the top principal axes ``(K, 2V, 3)`` of the frames
    seen in all views whose total noise is at most its median. Refitted once without the frames
    whose distance from the first subspace exceeds ``INFLATION_THRESHOLD`` (in SDs of the noise
    plus the misfit), so that views that agree on a wrong position do not tilt the subspace.

    Also returns the misfit ``(K, 2V)``: the variance of each coordinate about the subspace beyond
    the noise (medians: robust to outliers), pixels². Pinhole cameras put the views off any 3-D
    subspace; where the members are precise that is many noise SDs, and without the allowance the
    views would be judged to disagree and the latent held to positions no camera sees."""
    n_kp, n_coords = y.shape[1], y.shape[2]
    mean = np.empty((n_kp, n_coords))
    misfit = np.zeros((n_kp, n_coords))
    axes = np.empty((n_kp, n_coords, LATENT_DIMS))
    complete = observed(y, r)[0].all(axis=-1)  # (T, K)
    for k, name in enumerate(keypoints):
        total = r[complete[:, k], k].sum(axis=-1)
        if len(total) < MIN_PCA_FRAMES:
            raise MultiCameraError(
                f"keypoint {name!r} is seen in all views in only {len(total)} frames; multi-camera "
                f"smoothing needs at least {MIN_PCA_FRAMES}. Smooth the views separately."
            )
        confident = total <= np.percentile(total, PCA_QUANTILE)
        data, noise = y[complete[:, k], k][confident], r[complete[:, k], k][confident]
        mean[k], axes[k] = _principal_axes(data)
        centred = data - mean[k]
        residual = centred - centred @ axes[k] @ axes[k].T
        misfit[k] = np.maximum(
            np.median(residual**2, axis=0) / _CHI2_1_MEDIAN - np.median(noise, axis=0), 0.0
        )
        inliers = (residual**2 / (noise + misfit[k])).sum(axis=-1) <= INFLATION_THRESHOLD**2
        if inliers.sum() >= MIN_PCA_FRAMES:
            mean[k], axes[k] = _principal_axes(data[inliers])
    return mean, axes, misfit


def _principal_axes(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(m,)`` and top ``LATENT_DIMS`` principal axes ``(m, 3)`` of ``(n, m)`` rows."""
    mean, components, _ = principal_subspace(data, LATENT_DIMS)
    return mean, components.T


def disagreement(
    y: np.ndarray,
    r: np.ndarray,
    c: np.ndarray,
    factor: np.ndarray,
    step: Callable[[], None] | None = None,
) -> np.ndarray:
    """``(frames, keypoints, views)`` Mahalanobis distance of each view from its prediction by the
    other views (weighted least squares in the latent); 0 where it cannot be predicted.

    Args:
        y: ``(frames, keypoints, 2V)`` centred observations; r: their variances (NaN where missing).
        c: ``(keypoints, 2V, 3)`` observation matrices.
        factor: ``(frames, keypoints, views)`` inflation of the views' variances when they predict
            another view (a view's own distance always uses its own, uninflated variance).
        step: called after each view (a callback that raises stops it).
    """
    mask, r = observed(y, r)
    w = 1.0 / (r * np.repeat(factor, 2, axis=-1))
    y0 = np.where(mask, y, 0.0)
    n_views = y.shape[-1] // 2
    distance = np.zeros(y.shape[:2] + (n_views,))
    for v in range(n_views):
        own = slice(2 * v, 2 * v + 2)
        others = np.ones(2 * n_views, dtype=bool)
        others[own] = False
        co, wo = c[:, others], w[..., others]  # (K, 2V-2, 3), (T, K, 2V-2)
        info = np.einsum("kmi,tkm,kmj->tkij", co, wo, co)  # (T, K, 3, 3)
        usable = mask[..., own].all(axis=-1) & (np.linalg.matrix_rank(info, tol=1e-9) == LATENT_DIMS)
        info[~usable] = np.eye(LATENT_DIMS)
        cov_z = np.linalg.inv(info)
        z = np.einsum("tkij,kmj,tkm->tki", cov_z, co, wo * y0[..., others])
        cv = c[:, own]  # (K, 2, 3)
        resid = y0[..., own] - np.einsum("kmi,tki->tkm", cv, z)
        own_r = np.where(mask[..., own], r[..., own], 1.0)  # where missing, unusable: any finite value
        cov = np.einsum("kai,tkij,kbj->tkab", cv, cov_z, cv) + own_r[..., None] * np.eye(2)
        cov[~usable] = np.eye(2)
        d2 = np.einsum("tka,tkab,tkb->tk", resid, np.linalg.inv(cov), resid)
        distance[..., v] = np.where(usable, np.sqrt(np.maximum(d2, 0.0)), 0.0)
        if step:
            step()
    return distance


def inflate_disagreeing(
    y: np.ndarray, r: np.ndarray, c: np.ndarray, step: Callable[[], None] | None = None
) -> np.ndarray:
    """``(frames, keypoints, views)`` noise inflation factors: in up to ``INFLATION_ROUNDS`` rounds,
    the view farthest from the others' prediction, if beyond ``INFLATION_THRESHOLD``, gets its
    variance multiplied by ``INFLATION_FACTOR`` (a view that stays wrong ends up with almost no
    weight). Needs at least 3 views (2 cannot outvote each other). ``step``: see ``disagreement``."""
    n_views = y.shape[-1] // 2
    factor = np.ones(y.shape[:2] + (n_views,))
    if n_views < 3:
        return factor
    for _ in range(INFLATION_ROUNDS):
        distance = disagreement(y, r, c, factor, step)
        worst = distance.argmax(axis=-1)
        flagged = np.take_along_axis(distance, worst[..., None], axis=-1)[..., 0] > INFLATION_THRESHOLD
        if not flagged.any():
            break
        t, k = np.nonzero(flagged)
        factor[t, k, worst[t, k]] *= INFLATION_FACTOR
    return factor


def curvature(residual: np.ndarray, r: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``(frames, keypoints, 2V)`` the part of the observations' ``residual`` about the 3-D subspace
    (variances ``r``) that a quadratic function of the latent ``z`` ``(frames, keypoints, 3)``
    explains, pixels.

    A pinhole camera's image of a 3-D point is not affine in it: to second order the true positions
    lie off the subspace by a quadratic function of the point, hence of the latent. Fitted per
    keypoint and coordinate by least squares weighted by the observations' precision over every
    frame (the noise averages out over thousands; a keypoint seen in fewer than
    ``MIN_CURVATURE_FRAMES`` frames gets none). What the quadratic leaves, ``_smooth_stacked``
    follows per coordinate as a slow deviation (a random walk of its own).
    """
    mask, r = observed(residual, r)
    w = np.where(mask, 1.0 / r, 0.0)
    unit = (z - z.mean(axis=0)) / np.maximum(z.std(axis=0), 1e-9)  # conditioning
    i, j = np.triu_indices(LATENT_DIMS)
    features = np.concatenate([np.ones(z.shape[:2] + (1,)), unit, unit[..., i] * unit[..., j]], axis=-1)
    gram = np.einsum("tkm,tkf,tkg->kmfg", w, features, features, optimize=True)
    moment = np.einsum("tkm,tkf,tkm->kmf", w, features, np.where(mask, residual, 0.0), optimize=True)
    enough = mask.sum(axis=0) >= MIN_CURVATURE_FRAMES  # (K, 2V)
    gram[~enough] = np.eye(features.shape[-1])
    moment[~enough] = 0.0
    ridge = 1e-9 * np.trace(gram, axis1=-2, axis2=-1)[..., None, None] * np.eye(features.shape[-1])
    coef = np.linalg.solve(gram + ridge, moment[..., None])[..., 0]  # (K, 2V, F)
    return np.einsum("tkf,kmf->tkm", features, coef)


def smooth_multi_camera(
    stats: Mapping[str, EnsembleStats],
    s: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MultiCamSmoothed:
    """Smooth V synchronised views together; ``s`` fixed (latent random-walk variance, pixels² per
    frame) or (None) fitted per keypoint by leave-one-frame-out error. Each view's members are
    combined by ``robust_smooth`` around the views' joint trajectory.

    Every pass over the frames serves all keypoints at once (one keypoint at a time measured 2.5 to
    6 times slower on 20,000 to 3,000 frames of 17 keypoints: the passes loop over the frames in
    Python), so no keypoint is done before the end: ``progress(0, keypoints)`` follows each pass
    and ``progress(keypoints, keypoints)`` the end; a callback that raises (a cancelled job) stops
    the smoothing there.
    """
    check_smoothing_parameter(s)
    names = list(stats)
    median, spread = stack_views(stats)
    n_kp = median.shape[1]

    def step() -> None:
        if progress:
            progress(0, n_kp)

    def smooth(obs: list[np.ndarray], var: list[np.ndarray], q: np.ndarray | None) -> tuple:
        y, r = np.concatenate(obs, axis=-1), np.concatenate(var, axis=-1)
        result = _smooth_stacked(y, r, names, stats[names[0]].keypoints, q, step)
        return result, [(v.xy, v.posterior_var) for v in result.views.values()], result.views[names[0]].s

    fixed = None if s is None else np.full(n_kp, float(s))
    cameras = [members_of(stats[n].members[..., :2], stats[n].members[..., 2]) for n in names]
    views = [slice(2 * v, 2 * v + 2) for v in range(len(names))]
    result, _ = robust_smooth(
        cameras, [median[..., v] for v in views], [spread[..., v] for v in views], smooth, fixed
    )
    if progress:
        progress(n_kp, n_kp)
    return result


def _smooth_stacked(
    y: np.ndarray,
    r: np.ndarray,
    names: list[str],
    keypoints: list[str],
    q: np.ndarray | None,
    step: Callable[[], None],
) -> MultiCamSmoothed:
    """Smooth the views' stacked ``(frames, keypoints, 2V)`` observations with variances ``r``;
    ``q`` the latent random-walk variance per keypoint (None: fitted)."""
    n_kp = y.shape[1]
    mean, c, misfit = fit_pca(y, r, keypoints)
    yc = y - mean
    factor = inflate_disagreeing(yc, r + misfit, c, step)
    r = r * np.repeat(factor, 2, axis=-1)
    latent_r = r + misfit  # what the latent sees: the noise and the views' misfit
    # prior: the latent's spread over the video plus the typical noise, centred at 0 (the PCA mean)
    latent = np.einsum("kmi,tkm->tki", c, np.where(np.isfinite(yc), yc, 0.0))
    m0 = np.zeros((n_kp, LATENT_DIMS))
    p0 = (latent.var(axis=0) + typical_noise(r)[:, None])[..., None] * np.eye(LATENT_DIMS)
    q = fit_latent(yc, latent_r, c) if q is None else q
    step()
    z, cov, _ = kalman_smooth(yc, latent_r, c, q, m0, p0)
    linear = np.einsum("kmi,tki->tkm", c, z)  # (T, K, 2V)
    bend = curvature(yc - linear, r, z)
    off = smooth_observations(yc - linear - bend, r, None)
    xy = linear + bend + off.xy + mean
    # leave-one-out under the weights the latent was smoothed with
    cov *= latent_variance_scale(yc - bend - off.xy, latent_r, c, z, cov)[None, :, None, None]
    var = np.einsum("kmi,tkij,kmj->tkm", c, cov, c) + off.posterior_var
    views = {
        name: Smoothed(xy[..., 2 * v : 2 * v + 2], var[..., 2 * v : 2 * v + 2], q)
        for v, name in enumerate(names)
    }
    return MultiCamSmoothed(views, factor)
