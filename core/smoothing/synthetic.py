"""A seeded synthetic ensemble with known truth: smooth trajectories, member noise and outlier jumps.

Used to check the smoother's accuracy and calibration (tests, benchmarks/eks_benchmark.py).
"""

from __future__ import annotations

import numpy as np

from core.labels.table import PREDICTION_FIELDS, PoseTable


def smooth_truth(n_frames: int, n_keypoints: int, rng: np.random.Generator) -> np.ndarray:
    """``(frames, keypoints, 2)`` smooth trajectories in pixels: a sum of 3 sinusoids per coordinate
    (periods 40-600 frames, amplitudes 5-40 px) around a centre in a 640x480 frame."""
    t = np.arange(n_frames)[:, None, None, None]
    shape = (1, n_keypoints, 2, 3)
    period = rng.uniform(40, 600, shape)
    amplitude = rng.uniform(5, 40, shape)
    phase = rng.uniform(0, 2 * np.pi, shape)
    centre = rng.uniform([150, 100], [490, 380], (n_keypoints, 2))
    return centre + (amplitude * np.sin(2 * np.pi * t / period + phase)).sum(axis=-1)


def simulate_ensemble(
    n_members: int = 5,
    n_keypoints: int = 17,
    n_frames: int = 2000,
    seed: int = 0,
    noise_px: tuple[float, float] = (1.0, 4.0),
    jump_rate: float = 0.003,
    jump_px: tuple[float, float] = (20.0, 80.0),
) -> tuple[np.ndarray, list[PoseTable]]:
    """Truth and M noisy member predictions of it.

    Each member and keypoint has its own noise SD (uniform in ``noise_px``), modulated per frame
    by a factor in [0.5, 1.5]; likelihoods are 0.85-1.0. Outlier jumps start at ``jump_rate`` per
    frame and member and keypoint, last 1-30 frames, move the point 20-80 px away and report a
    likelihood of 0.2-0.9.

    Returns:
        truth ``(frames, keypoints, 2)`` pixels, and the members as PoseTables (x, y, likelihood).
    """
    rng = np.random.default_rng(seed)
    truth = smooth_truth(n_frames, n_keypoints, rng)
    keypoints = [f"kp{k}" for k in range(n_keypoints)]
    index = [str(i) for i in range(n_frames)]
    members = []
    for _ in range(n_members):
        sd = rng.uniform(*noise_px, (1, n_keypoints, 1)) * rng.uniform(0.5, 1.5, (n_frames, n_keypoints, 1))
        xy = truth + sd * rng.standard_normal(truth.shape)
        likelihood = rng.uniform(0.85, 1.0, (n_frames, n_keypoints))
        starts = np.argwhere(rng.random((n_frames, n_keypoints)) < jump_rate)
        for start, k in starts:
            stop = start + rng.integers(1, 31)
            angle = rng.uniform(0, 2 * np.pi)
            offset = rng.uniform(*jump_px) * np.array([np.cos(angle), np.sin(angle)])
            xy[start:stop, k] += offset
            likelihood[start:stop, k] = rng.uniform(0.2, 0.9)
        values = np.concatenate([xy, likelihood[..., None]], axis=-1)
        members.append(PoseTable(keypoints, index, values, PREDICTION_FIELDS, scorer="synthetic"))
    return truth, members
