"""Keypoint-aware augmentation of labeled frames (Lightning Pose's default "dlc" preset)."""

from __future__ import annotations

import functools
import math
import warnings
from statistics import NormalDist

import albumentations as A
import cv2
import numpy as np

# Stand-in for missing keypoints while they pass through the geometric transforms: far enough
# outside any frame that no rotation, crop or pad brings it back inside.
_FAR = -1.0e5


class ElasticTransform(A.ElasticTransform):
    """albumentations' elastic deformation (its parameters, its warp of the image), with a random
    field drawn more cheaply and keypoints moved where the image's content moves.

    The field (``smooth_random_field``) is a Gaussian random field of albumentations' correlation
    length and size, drawn on a coarser grid and interpolated: drawing and blurring the full-size
    noise was most of the transform's time, for detail a blur of ``sigma`` pixels removes.

    albumentations moves a keypoint by drawing a disc at its rounded position and taking the first
    pixel of the disc after the warp: about a pixel off (the top of the disc: mostly upwards), and
    a third of the transform's time. The image is warped by sampling the input at
    ``q + d(q)`` for each output pixel ``q``, so a keypoint at ``p`` lands where ``q + d(q) = p``;
    for a smooth field (``sigma`` pixels, displacements changing far slower than a pixel per pixel,
    as here) ``q = p - d(q)`` converges from ``q = p`` within ``ITERATIONS`` steps to about 0.03 px.
    """

    ITERATIONS = 5

    def get_params_dependent_on_data(self, params: dict, data: dict) -> dict:
        height, width = params["shape"][:2]
        dx, dy = smooth_random_field(height, width, self.alpha, self.sigma, self.random_generator)
        grid_x, grid_y = _pixel_grid(height, width)
        return {"map_x": grid_x + dx, "map_y": grid_y + dy, "dx": dx, "dy": dy}

    def apply_to_keypoints(
        self, keypoints: np.ndarray, dx: np.ndarray, dy: np.ndarray, **params
    ) -> np.ndarray:
        if not len(keypoints):
            return keypoints
        target = keypoints[:, :2].astype(np.float32)
        moved = target.copy()
        for _ in range(self.ITERATIONS):
            at_x, at_y = moved[None, :, 0], moved[None, :, 1]  # (1, N) maps for cv2.remap
            # the field where the keypoints are now; none outside the frame (a missing one's stand-in)
            shift_x = cv2.remap(dx, at_x, at_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[0]
            shift_y = cv2.remap(dy, at_x, at_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[0]
            moved = target - np.stack([shift_x, shift_y], axis=1)
        out = keypoints.copy()
        out[:, :2] = moved
        return out


def smooth_random_field(
    height: int, width: int, alpha: float, sigma: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Displacements ``(dx, dy)``, float32 ``(height, width)`` each, distributed as albumentations'
    elastic fields away from the frame's edges: white Gaussian noise scaled by ``alpha`` over its
    largest magnitude, blurred by a Gaussian of ``sigma`` pixels.

    The noise is drawn on a grid ``sigma / 2`` times coarser (2 cells per ``sigma`` at least),
    blurred there and interpolated up: about a tenth of the work. It extends past the frame by the
    blur's reach, so that the field is alike everywhere (albumentations repeats the edge pixel's
    noise, which moves the edges several times as far as the rest), and is scaled to the deviation
    of albumentations' field away from the edges: ``alpha`` times the blur kernel's root sum of
    squares, over the median largest magnitude of ``2 x height x width`` unit normals.
    """
    step = max(1, int(sigma // 2))
    reach = int(np.ceil(4 * sigma / step))  # OpenCV's float kernels reach 4 sigma
    rows, cols = -(-height // step) + 1, -(-width // step) + 1
    noise = rng.standard_normal((2, rows + 2 * reach, cols + 2 * reach), dtype=np.float32)
    fields = np.stack(
        [
            cv2.resize(
                cv2.GaussianBlur(n, (0, 0), sigma / step)[reach:-reach, reach:-reach],
                (cols * step, rows * step),
                interpolation=cv2.INTER_LINEAR,
            )[:height, :width]
            for n in noise
        ]
    )
    fields *= _field_deviation(height * width, alpha, sigma) / fields.std()
    return fields[0], fields[1]


@functools.lru_cache(maxsize=8)
def _field_deviation(pixels: int, alpha: float, sigma: float) -> float:
    """The standard deviation of albumentations' elastic field of ``pixels`` pixels, away from the edges."""
    kernel_size = int(round(sigma * 8 + 1)) | 1  # OpenCV's own choice for float images
    kernel = cv2.getGaussianKernel(kernel_size, sigma).ravel()
    # P(max |z| <= m) = (1 - 2 Q(m))^n = 1/2 for the median largest of n unit normals
    largest = NormalDist().inv_cdf(1 + math.expm1(-math.log(2) / (2 * pixels)) / 2)
    return float(alpha * np.sum(kernel**2) / largest)


@functools.lru_cache(maxsize=8)
def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's x and y, float32 ``(height, width)`` each (read-only: shared between calls)."""
    grid = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    for axis in grid:
        axis.flags.writeable = False
    return grid[0], grid[1]


def build_augmentation(preset: str) -> A.Compose:
    """The augmentation pipeline, applied in the original frame (resizing comes after)."""
    steps: list[A.BasicTransform] = []
    if preset == "default":
        steps = [
            A.Affine(rotate=(-25, 25), border_mode=cv2.BORDER_CONSTANT, p=0.4),
            A.MotionBlur(blur_limit=(3, 7), p=0.5),
            A.CoarseDropout(
                num_holes_range=(1, 8), hole_height_range=(0.02, 0.08), hole_width_range=(0.02, 0.08), p=0.5
            ),
            A.SaltAndPepper(amount=(0.001, 0.01), p=0.3),
            ElasticTransform(alpha=30, sigma=6, p=0.3),
            A.Equalize(p=0.1),
            A.CLAHE(p=0.1),
            A.Emboss(alpha=(0.0, 0.5), strength=(0.5, 1.5), p=0.1),
            A.CropAndPad(percent=(-0.15, 0.15), keep_size=True, p=0.4),
        ]
    elif preset != "none":
        raise ValueError(f"unknown augmentation preset {preset!r}")
    with warnings.catch_warnings():
        # "none" keeps the keypoints' path through an empty pipeline, which albumentations warns about
        warnings.filterwarnings("ignore", message=".*no transform to process it.*")
        return A.Compose(
            steps,
            keypoint_params=A.KeypointParams(format="xy", label_fields=["ids"], remove_invisible=False),
        )


def apply_augmentation(
    transform: A.Compose, image: np.ndarray, keypoints: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Augment an image and its keypoints.

    Args:
        image: ``(H, W, 3)`` uint8, or frames ``(F, H, W, 3)`` that all get the same transform
            (a labeled frame and its context frames).
        keypoints: ``(K, 2)`` frame pixels (x, y), NaN where missing.
    Returns:
        The transformed image (or frames) and ``(K, 2)`` keypoints in its pixels; keypoints that
        were missing, removed by a transform, or pushed outside the image are NaN.
    """
    n = len(keypoints)
    missing = np.isnan(keypoints).any(axis=1)
    points = np.where(missing[:, None], _FAR, keypoints)
    target = "images" if image.ndim == 4 else "image"
    out = transform(**{target: image}, keypoints=points, ids=np.arange(n))
    result = np.full((n, 2), np.nan)
    ids = np.asarray(out["ids"], dtype=int)
    if len(ids):
        result[ids] = np.asarray(out["keypoints"], dtype=np.float64)[:, :2]
    h, w = out[target].shape[-3:-1]
    # Pixel centres run from 0 to size - 1; anything beyond half a pixel outside is off-frame.
    outside = (
        (result[:, 0] < -0.5) | (result[:, 0] > w - 0.5) | (result[:, 1] < -0.5) | (result[:, 1] > h - 0.5)
    )
    result[outside | missing] = np.nan
    return out[target], result


def resize_frame(
    image: np.ndarray, keypoints: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image ``(H, W, 3)`` or frames ``(F, H, W, 3)`` to the model input; keypoints follow
    with the pixel-centre convention cv2 uses."""
    scaled = scale_points(keypoints, image.shape[-2], image.shape[-3], width, height)
    frames = image.reshape(-1, *image.shape[-3:])
    resized = [cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA) for frame in frames]
    return np.stack(resized).reshape(*image.shape[:-3], height, width, image.shape[-1]), scaled


def scale_points(
    xy: np.ndarray, from_width: int, from_height: int, to_width: int, to_height: int
) -> np.ndarray:
    """Map ``(..., 2)`` pixel coordinates between two sizes of one image: ``(x + 0.5) * s - 0.5``."""
    scale = np.array([to_width / from_width, to_height / from_height])
    return (np.asarray(xy, dtype=np.float64) + 0.5) * scale - 0.5


def flip_horizontally(
    image: np.ndarray, keypoints: np.ndarray, swap: list[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror an image ``(H, W, 3)`` or frames ``(F, H, W, 3)`` left/right, swapping the keypoints in
    ``swap`` (pairs of indices)."""
    flipped = keypoints.copy()
    flipped[:, 0] = image.shape[-2] - 1 - flipped[:, 0]
    for a, b in swap:
        flipped[[a, b]] = flipped[[b, a]]
    return np.ascontiguousarray(image[..., ::-1, :]), flipped
