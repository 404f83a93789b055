import numpy as np

from core.plausibility.temporal import temporal_norm


def test_temporal_norm_is_the_distance_moved_since_the_previous_frame():
    xy = np.array([[[0.0, 0.0]], [[3.0, 4.0]], [[3.0, 4.0]], [[np.nan, 1.0]]])
    moved = temporal_norm(xy)
    assert moved.shape == (4, 1)
    assert np.isnan(moved[0, 0]) and np.isnan(moved[3, 0])
    np.testing.assert_allclose(moved[1:3, 0], [5.0, 0.0])
