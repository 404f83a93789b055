"""Families of synthetic ensembles with known truth, for judging the Ensemble Kalman Smoother.

Independent of ``core/smoothing/synthetic.py`` (which the smoother was first written against): other
trajectory shapes, constant per-member noise, short outlier runs, failures shared by most members,
missing stretches and confidences that do or do not tell an outlier. Each family is one setting of
``Family``; ``simulate`` draws an ensemble from it, seeded. Used by ``benchmarks/eks_benchmark.py``
and the tests in ``tests/core/smoothing`` (as ``benchmarks.eks_families``), always over all
families, so that no one family tunes the smoother.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core.labels.table import PREDICTION_FIELDS, PoseTable


@dataclass(frozen=True)
class Family:
    """How one family of ensembles is drawn.

    Attributes:
        name: short name (tables, test ids).
        trajectory: ``sines_drift`` (two sinusoids plus a slow random drift), ``random_walk``
            (Gaussian steps) or ``piecewise`` (still and fast stretches alternating).
        members: ensemble size.
        noise_px: the members' typical Gaussian error SD, pixels (each member 0.7-1.3x it).
        outlier_rate: per frame, member and keypoint, the chance an outlier run starts.
        outlier_frames: (min, max) length of a run, frames.
        correlated_rate: per frame and keypoint, the chance that most members jump the same way.
        missing_rate: per frame, member and keypoint, the chance a run of 5-40 missing (NaN) frames
            starts; a tenth of that rate blanks all members at once.
        informative: the confidence drops in outlier runs (True) or is unrelated to the error.
        outlier_heavy: the family counts as outlier-heavy (the robust-smoothing goal).
    """

    name: str
    trajectory: str
    members: int
    noise_px: float
    outlier_rate: float
    outlier_frames: tuple[int, int] = (1, 10)
    correlated_rate: float = 0.0
    missing_rate: float = 0.0
    informative: bool = True
    outlier_heavy: bool = False
    keypoints: int = 6


JUMP_PX = (20.0, 80.0)

FAMILIES = (
    Family("sines-5m-2px", "sines_drift", 5, 2.0, 0.002),
    Family("sines-3m-1px", "sines_drift", 3, 1.0, 0.001),
    Family("walk-4m-3px-blind", "random_walk", 4, 3.0, 0.003, informative=False),
    Family("piecewise-6m-1.5px", "piecewise", 6, 1.5, 0.003),
    Family("sines-5m-2px-outliers", "sines_drift", 5, 2.0, 0.02, correlated_rate=0.001, outlier_heavy=True),
    Family(
        "walk-4m-2.5px-correlated", "random_walk", 4, 2.5, 0.01, correlated_rate=0.004, outlier_heavy=True
    ),
    Family("piecewise-5m-2px-missing", "piecewise", 5, 2.0, 0.004, missing_rate=0.002, informative=False),
    Family(
        "sines-5m-3px-outliers-blind",
        "sines_drift",
        5,
        3.0,
        0.02,
        correlated_rate=0.001,
        informative=False,
        outlier_heavy=True,
    ),
)


def family(name: str) -> Family:
    """The family called ``name``."""
    return next(f for f in FAMILIES if f.name == name)


def trajectory(kind: str, n_frames: int, n_series: int, rng: np.random.Generator) -> np.ndarray:
    """``(frames, series)`` positions of one kind of trajectory, around 0, pixels."""
    t = np.arange(n_frames)[:, None]
    if kind == "sines_drift":
        period = rng.uniform(60, 900, (2, n_series))
        amplitude = rng.uniform(10, 60, (2, n_series))
        phase = rng.uniform(0, 2 * np.pi, (2, n_series))
        waves = (amplitude[:, None] * np.sin(2 * np.pi * t / period[:, None] + phase[:, None])).sum(axis=0)
        drift = np.cumsum(rng.normal(0, 0.05, (n_frames, n_series)), axis=0)
        kernel = np.hanning(101) / np.hanning(101).sum()
        drift = np.stack([np.convolve(d, kernel, mode="same") for d in drift.T], axis=1)
        return waves + drift
    if kind == "random_walk":
        step = rng.uniform(0.3, 1.5, n_series)
        return np.cumsum(rng.normal(0, 1, (n_frames, n_series)) * step, axis=0)
    if kind == "piecewise":
        velocity = np.empty((n_frames, n_series))
        for s in range(n_series):
            start = 0
            while start < n_frames:
                stop = start + int(rng.integers(40, 300))
                fast = rng.random() < 0.4
                velocity[start:stop, s] = rng.normal(0, 4.0 if fast else 0.1)
                start = stop
        kernel = np.ones(5) / 5  # turns take a few frames
        velocity = np.stack([np.convolve(v, kernel, mode="same") for v in velocity.T], axis=1)
        position = np.cumsum(velocity, axis=0)
        return position - position.mean(axis=0)
    raise ValueError(f"unknown trajectory kind {kind!r}")


def _runs(rng: np.random.Generator, shape: tuple[int, ...], rate: float, lengths: tuple[int, int]):
    """Starts (index tuples, frame first) and lengths of runs beginning at ``rate`` per cell."""
    starts = np.argwhere(rng.random(shape) < rate)
    return starts, rng.integers(lengths[0], lengths[1] + 1, len(starts))


def _offset(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    return rng.uniform(*JUMP_PX) * np.array([np.cos(angle), np.sin(angle)])


def corrupt(truth: np.ndarray, fam: Family, rng: np.random.Generator) -> np.ndarray:
    """``(members, frames, keypoints, 3)`` member x, y, likelihood predicting ``truth``
    ``(frames, keypoints, 2)`` with the noise, outliers, failures and gaps of ``fam``."""
    n_frames, n_kp, _ = truth.shape
    m = fam.members
    sd = fam.noise_px * rng.uniform(0.7, 1.3, (m, 1, n_kp, 1))
    xy = truth + sd * rng.standard_normal((m,) + truth.shape)
    lh = (
        rng.uniform(0.7, 1.0, (m, n_frames, n_kp))
        if fam.informative
        else rng.uniform(0.2, 1.0, (m, n_frames, n_kp))
    )
    bad = np.zeros((m, n_frames, n_kp), dtype=bool)
    starts, lengths = _runs(rng, (m, n_frames, n_kp), fam.outlier_rate, fam.outlier_frames)
    for (member, start, k), length in zip(starts, lengths, strict=True):
        xy[member, start : start + length, k] += _offset(rng)
        bad[member, start : start + length, k] = True
    starts, lengths = _runs(rng, (n_frames, n_kp), fam.correlated_rate, fam.outlier_frames)
    for (start, k), length in zip(starts, lengths, strict=True):
        jumped = rng.permutation(m)[: max(2, m - 1)]  # all but at most one member
        shared = _offset(rng)
        for member in jumped:
            xy[member, start : start + length, k] += shared + rng.normal(0, 2.0, 2)
            bad[member, start : start + length, k] = True
    if fam.informative:
        lh[bad] = rng.uniform(0.05, 0.5, bad.sum())
    starts, lengths = _runs(rng, (m, n_frames, n_kp), fam.missing_rate, (5, 40))
    for (member, start, k), length in zip(starts, lengths, strict=True):
        xy[member, start : start + length, k] = np.nan
    starts, lengths = _runs(rng, (n_frames, n_kp), fam.missing_rate / 10, (3, 20))
    for (start, k), length in zip(starts, lengths, strict=True):
        xy[:, start : start + length, k] = np.nan
    lh[np.isnan(xy[..., 0])] = np.nan
    return np.concatenate([xy, lh[..., None]], axis=-1)


def as_tables(data: np.ndarray, scorer: str = "family") -> list[PoseTable]:
    """``(members, frames, keypoints, 3)`` member arrays as PoseTables (x, y, likelihood)."""
    n_frames, n_kp = data.shape[1:3]
    keypoints = [f"kp{k}" for k in range(n_kp)]
    index = [str(i) for i in range(n_frames)]
    return [PoseTable(keypoints, index, member, PREDICTION_FIELDS, scorer=scorer) for member in data]


def simulate(fam: Family, n_frames: int, seed: int = 0, keypoints: int | None = None):
    """Truth ``(frames, keypoints, 2)`` pixels and the members (PoseTables) of one ensemble of ``fam``."""
    fam = replace(fam, keypoints=keypoints or fam.keypoints)
    rng = np.random.default_rng(seed)
    centre = rng.uniform([150, 100], [490, 380], (fam.keypoints, 2))
    truth = centre + trajectory(fam.trajectory, n_frames, 2 * fam.keypoints, rng).reshape(n_frames, -1, 2)
    return truth, as_tables(corrupt(truth, fam, rng))


@dataclass(frozen=True)
class CameraFamily:
    """A multi-camera family: a 3-D trajectory seen by ``cameras`` pinhole cameras, each view an
    ensemble drawn as ``view`` says (its trajectory kind shapes the 3-D motion)."""

    name: str
    cameras: int
    view: Family


CAMERA_FAMILIES = (
    CameraFamily("2cams-sines", 2, family("sines-5m-2px")),
    CameraFamily("3cams-walk-blind", 3, family("walk-4m-3px-blind")),
    CameraFamily("3cams-outliers", 3, family("sines-5m-2px-outliers")),
    CameraFamily("4cams-correlated", 4, family("walk-4m-2.5px-correlated")),
)


def project(points: np.ndarray, rotation: np.ndarray, distance: float, focal: float) -> np.ndarray:
    """Pinhole projection of ``(..., 3)`` points (mm, around the origin) by a camera at ``distance``
    looking at the origin, rotated by ``rotation``; pixels around (320, 240)."""
    cam = points @ rotation.T + np.array([0.0, 0.0, distance])
    return focal * cam[..., :2] / cam[..., 2:] + np.array([320.0, 240.0])


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def simulate_cameras(cam: CameraFamily, n_frames: int, seed: int = 0, keypoints: int | None = None):
    """Per view name, the truth ``(frames, keypoints, 2)`` and the members (PoseTables)."""
    fam = replace(cam.view, keypoints=keypoints or cam.view.keypoints)
    rng = np.random.default_rng(seed)
    centre = rng.uniform(-30, 30, (fam.keypoints, 3))
    motion = trajectory(fam.trajectory, n_frames, 3 * fam.keypoints, rng).reshape(n_frames, -1, 3)
    points = centre + 0.5 * motion  # mm
    views = {}
    for v in range(cam.cameras):
        truth = project(points, _rotation(rng), distance=rng.uniform(500, 800), focal=rng.uniform(600, 900))
        views[f"cam{v}"] = (truth, as_tables(corrupt(truth, fam, rng), scorer=f"cam{v}"))
    return views
