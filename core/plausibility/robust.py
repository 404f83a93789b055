"""Robust z-scores: distances from the median in units of the median absolute deviation (scaled to
a standard deviation), which a few wild values cannot widen; for lengths and for angles."""

from __future__ import annotations

import warnings

import numpy as np

MAD_TO_SD = 1.4826
"""The median absolute deviation of a normal distribution times this is its standard deviation."""


def nanmedian(values: np.ndarray, axis: int | None = None):
    """``np.nanmedian``; NaN, without a warning, where there is no finite value (a keypoint or an
    edge never labeled)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis)


def robust_z(values: np.ndarray, floor: float, period: float | None = None) -> tuple[np.ndarray, float]:
    """``|values - median|`` in robust standard deviations (at least ``floor``: values that hardly
    vary would make any change look huge), and the median; NaN stays NaN.

    ``period``: the values are angles, compared around the circle (the median is that of their
    differences from their mean direction, added to it).
    """
    if period is None:
        centre = float(nanmedian(values))
        deviation = values - centre
    else:
        mean = float(np.angle(np.nanmean(np.exp(1j * values))))
        centre = mean + float(nanmedian(wrap(values - mean, period)))
        deviation = wrap(values - centre, period)
    scale = max(MAD_TO_SD * float(nanmedian(np.abs(deviation))), floor)
    return np.abs(deviation) / scale, centre


def wrap(values: np.ndarray, period: float) -> np.ndarray:
    """``values`` into ``[-period / 2, period / 2)``."""
    return (values + period / 2) % period - period / 2
