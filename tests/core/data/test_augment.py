import albumentations as A
import cv2
import numpy as np
import pytest
from albumentations.augmentations.geometric import functional as fgeometric

from core.data.augment import (
    ElasticTransform,
    apply_augmentation,
    build_augmentation,
    flip_horizontally,
    resize_frame,
    scale_points,
    smooth_random_field,
)


def _image_with_dots(points, size=(120, 100)):
    image = np.zeros((*size, 3), np.uint8)
    for x, y in points:
        image[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = 255
    return image


def test_scale_points_uses_pixel_centres():
    xy = np.array([[0.0, 0.0], [99.0, 119.0]])
    np.testing.assert_allclose(scale_points(xy, 100, 120, 50, 60), [[-0.25, -0.25], [49.25, 59.25]])
    np.testing.assert_allclose(
        scale_points(scale_points(xy, 100, 120, 37, 91), 37, 91, 100, 120), xy, atol=1e-9
    )


def test_resize_moves_keypoints_with_the_image():
    points = np.array([[20.0, 30.0], [70.0, 90.0]])
    image, moved = resize_frame(_image_with_dots(points), points, 60, 50)
    for x, y in moved:
        assert image[int(round(y)), int(round(x))].max() > 100


def test_augmentation_moves_points_and_keeps_missing_missing():
    transform = build_augmentation("default")
    points = np.array([[30.0, 40.0], [60.0, 80.0], [np.nan, np.nan]])
    seen_moved = False
    for _ in range(30):
        image, moved = apply_augmentation(transform, _image_with_dots(points[:2]), points)
        assert np.isnan(moved[2]).all(), "a missing keypoint must stay missing"
        visible = moved[~np.isnan(moved[:, 0])]
        assert ((visible >= -0.5) & (visible <= np.array(image.shape[1::-1]) - 0.5)).all()
        seen_moved |= not np.allclose(moved[:2], points[:2], equal_nan=True)
    assert seen_moved


def test_geometric_transform_matches_image():
    transform = build_augmentation("default")
    points = np.array([[30.0, 40.0], [60.0, 80.0]])
    hits = 0
    for _ in range(40):
        image, moved = apply_augmentation(transform, _image_with_dots(points), points)
        for x, y in moved:
            if not np.isnan(x):
                patch = image[
                    max(0, int(round(y)) - 3) : int(round(y)) + 4,
                    max(0, int(round(x)) - 3) : int(round(x)) + 4,
                ]
                hits += patch.max() > 40
    assert hits >= 60  # most keypoints sit on their (possibly blurred) dot


def test_flip_swaps_left_and_right():
    image = np.zeros((10, 20, 3), np.uint8)
    points = np.array([[2.0, 3.0], [15.0, 5.0], [7.0, 7.0]])
    flipped_image, flipped = flip_horizontally(image, points, [(0, 1)])
    np.testing.assert_allclose(flipped, [[4.0, 5.0], [17.0, 3.0], [12.0, 7.0]])
    assert flipped_image.shape == image.shape


def _elastic(cls, seed: int) -> A.Compose:
    keypoints = A.KeypointParams(format="xy", remove_invisible=False)
    return A.Compose([cls(alpha=30, sigma=6, p=1.0)], keypoint_params=keypoints, seed=seed)


def test_elastic_keypoints_land_where_their_pixel_went():
    """Warp an image whose pixels hold their own coordinates: at a keypoint's new place the warped
    image must hold the keypoint's old coordinates (albumentations' own placement is a pixel off)."""
    height, width = 406, 396
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    coordinates = np.stack([grid_x, grid_y, np.zeros_like(grid_x)], axis=-1)
    rng = np.random.default_rng(0)
    for seed in range(10):
        points = rng.uniform(20, 370, size=(6, 2))
        out = _elastic(ElasticTransform, seed)(image=coordinates, keypoints=points)
        moved = np.asarray(out["keypoints"], dtype=np.float32)[:, :2]
        assert np.abs(moved - points).max() > 0.05  # the field did move them
        came_from = [
            cv2.remap(out["image"][..., c], moved[None, :, 0], moved[None, :, 1], cv2.INTER_LINEAR)[0]
            for c in (0, 1)
        ]
        np.testing.assert_allclose(np.stack(came_from, axis=1), points, atol=0.1)


def test_elastic_field_is_distributed_as_albumentations_away_from_the_edges():
    """Drawn coarse and interpolated, the field keeps albumentations' size and smoothness where
    keypoints are (its edges, where albumentations repeats the edge pixel's noise, aside)."""
    rng = np.random.default_rng(0)
    height, width, alpha, sigma = 406, 396, 30, 6
    inner = (slice(None), slice(None), slice(4 * sigma, -4 * sigma), slice(4 * sigma, -4 * sigma))
    ours = np.array([smooth_random_field(height, width, alpha, sigma, rng) for _ in range(40)])[inner]
    theirs = np.array(
        [
            fgeometric.generate_displacement_fields(
                (height, width), alpha, sigma, False, (0, 0), rng, "gaussian"
            )
            for _ in range(40)
        ]
    )[inner]
    assert ours.std() == pytest.approx(theirs.std(), rel=0.03)
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.15)
    for lag in (3, 6, 12):
        for axis in (-1, -2):  # displacements lag pixels apart along x, along y
            assert _correlation(ours, lag, axis) == pytest.approx(_correlation(theirs, lag, axis), abs=0.03)


def _correlation(fields: np.ndarray, lag: int, axis: int) -> float:
    n = fields.shape[axis]
    near, far = np.take(fields, range(n - lag), axis=axis), np.take(fields, range(lag, n), axis=axis)
    return float(np.corrcoef(near.ravel(), far.ravel())[0, 1])
