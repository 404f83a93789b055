"""Heatmaps to keypoints on the heatmaps' own device: coordinates and an honest confidence.

Input maps are ``(batch, keypoints, H, W)``; outputs are ``(x, y)`` in heatmap pixels with the
pixel-centre convention (see ``core.data.heatmaps``). Everything is batched torch code, so on a
GPU the full maps never leave it: only the ``(batch, keypoints, 2)`` coordinates and
``(batch, keypoints)`` confidences do. Sizes that vary with the batch are left to the tensors
(``-1`` in reshapes, no Python arithmetic on the batch size), so that the ONNX export traces the
soft-argmax decoding into a graph that takes any batch (``core.models.pose_graph``).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from core.data.heatmaps import DEFAULT_SIGMA
from core.errors import ConfigError

DecodeMethod = Literal["soft_argmax", "subpixel"]
DECODE_METHODS: tuple[str, ...] = ("soft_argmax", "subpixel")
_NEWTON_STEPS = 5


def _check_maps(maps: Tensor) -> None:
    if maps.ndim != 4:
        raise ValueError(f"heatmaps must have shape (batch, keypoints, H, W), got {tuple(maps.shape)}")


def _check_sigma(sigma: float) -> None:
    if not sigma > 0:
        raise ConfigError(
            f"heatmap sigma must be positive (heatmap pixels), got {sigma}; the default is 1.25"
        )


def _working_dtype(maps: Tensor) -> Tensor:
    """Maps as float64 if they are, else float32 (half-precision maps are upcast)."""
    return maps if maps.dtype == torch.float64 else maps.float()


def spatial_softmax(logits: Tensor) -> Tensor:
    """Per-map softmax over all pixels: ``(B, K, H, W)`` logits to maps that each sum to 1."""
    _check_maps(logits)
    return torch.softmax(logits.flatten(2), dim=-1).view_as(logits)


def _integer_argmax(maps: Tensor) -> tuple[Tensor, Tensor]:
    """Row and column ``(B, K)`` of each map's largest value."""
    flat_index = maps.flatten(2).argmax(dim=-1)
    width = maps.shape[-1]
    return flat_index // width, flat_index % width


def _truncation_corrected(
    observed: Tensor, positions: Tensor, inside: Tensor, sigma: float, size: int
) -> Tensor:
    """Undo the pull a truncated window exerts on an expectation, along one axis.

    Finds ``mu`` such that a Gaussian of ``sigma`` centred on ``mu``, sampled at the window's
    ``positions`` ``(B, K, window)`` where ``inside``, has the ``observed`` ``(B, K)`` mean
    (a few Newton steps, clamped to the map ``[-0.5, size - 0.5]``).
    """
    mu = observed
    for _ in range(_NEWTON_STEPS):
        weights = torch.exp(-((positions - mu[..., None]) ** 2) / (2 * sigma**2)) * inside
        total = weights.sum(-1).clamp_min(torch.finfo(weights.dtype).tiny)
        mean = (weights * positions).sum(-1) / total
        variance = (weights * (positions - mean[..., None]) ** 2).sum(-1) / total
        step = torch.where(variance > 0, (observed - mean) * sigma**2 / variance.clamp_min(1e-6), 0)
        mu = (mu + step).clamp(-0.5, size - 0.5)
    return mu


def soft_argmax(probs: Tensor, window: int = 9, sigma: float = DEFAULT_SIGMA) -> Tensor:
    """Local spatial expectation around each map's integer peak, corrected for window truncation.

    The expectation is taken over a ``window x window`` patch centred on the integer argmax
    (clipped to the map) and renormalised, so a second blob or background mass elsewhere in the
    map does not pull the estimate (as it does the global expectation). A window cut by the
    map border, or by its own size, pulls the expectation towards the interior; each axis is
    corrected by solving for the centre of a Gaussian of ``sigma`` that would have the observed
    windowed mean (exact for ideal target maps, also at the border; a few pixel-free Newton
    steps on ``(batch, keypoints, window)`` tensors).

    Args:
        probs: ``(batch, keypoints, H, W)`` non-negative maps (e.g. softmax outputs).
        window: odd patch size in heatmap pixels.
        sigma: standard deviation (heatmap pixels) of the target Gaussians.

    Returns:
        ``(batch, keypoints, 2)`` (x, y) in heatmap pixels.
    """
    _check_maps(probs)
    _check_sigma(sigma)
    if window < 1 or window % 2 == 0:
        raise ConfigError(f"soft-argmax window must be a positive odd number of pixels, got {window}; try 9")
    maps = _working_dtype(probs)
    height, width = maps.shape[-2:]
    rows, cols = _integer_argmax(maps)
    offsets = torch.arange(-(window // 2), window // 2 + 1, device=maps.device)
    patch_rows, patch_cols = rows[..., None] + offsets, cols[..., None] + offsets  # (B, K, window)
    in_y = ((patch_rows >= 0) & (patch_rows < height)).to(maps.dtype)
    in_x = ((patch_cols >= 0) & (patch_cols < width)).to(maps.dtype)
    flat_index = (
        patch_rows.clamp(0, height - 1)[..., :, None] * width + patch_cols.clamp(0, width - 1)[..., None, :]
    )
    patch = maps.flatten(2).gather(-1, flat_index.flatten(2)).unflatten(-1, (window, window))
    weights = patch * in_y[..., :, None] * in_x[..., None, :]
    total = weights.sum(dim=(-2, -1))
    safe_total = total.clamp_min(torch.finfo(maps.dtype).tiny)
    ys, xs = patch_rows.to(maps.dtype), patch_cols.to(maps.dtype)
    mean_x = torch.where(total > 0, (weights.sum(dim=-2) * xs).sum(-1) / safe_total, cols.to(maps.dtype))
    mean_y = torch.where(total > 0, (weights.sum(dim=-1) * ys).sum(-1) / safe_total, rows.to(maps.dtype))
    x = _truncation_corrected(mean_x, xs, in_x, sigma, width)
    y = _truncation_corrected(mean_y, ys, in_y, sigma, height)
    return torch.stack([x, y], dim=-1)


def _template_energy(positions: Tensor, size: int, sigma: float) -> Tensor:
    """Energy on the map ``sum_u t(u - s)^2`` of a 1-D Gaussian template centred at each of ``positions``."""
    pixels = torch.arange(size, dtype=positions.dtype, device=positions.device)
    return torch.exp(-((pixels - positions[..., None]) ** 2) / sigma**2).sum(-1)


def subpixel_maxima(probs: Tensor, sigma: float = DEFAULT_SIGMA, upsample: int = 100) -> Tensor:
    """DeepPoseKit's subpixel maxima: Gaussian-template correlation peaks refined in Fourier space.

    Each map is cross-correlated with a Gaussian template (``sigma`` heatmap pixels) by a
    product in the Fourier domain (the map zero-padded by ``5 sigma`` so the correlation does
    not wrap around); the integer peak of the correlation is then refined to ``1 / upsample``
    pixel by evaluating the correlation's band-limited interpolation on a 1.5-pixel
    neighbourhood of the coarse peak with the matrix-multiply upsampled DFT of
    Guizar-Sicairos, Thurman & Fienup (Opt. Lett. 2008), batched over maps.

    In addition to the plain correlation, the correlation is divided by the root energy of the part of the
    template that lies on the map (a normalised cross-correlation, separable and computed
    exactly). In the interior that is a constant; near the border it removes the pull towards
    the interior that the truncated map gives a plain correlation, so a target Gaussian is
    located exactly (Cauchy-Schwarz) up to the map edge.

    Args:
        probs: ``(batch, keypoints, H, W)`` maps.
        sigma: template standard deviation in heatmap pixels (the targets' sigma).
        upsample: refinement factor; the result is a multiple of ``1 / upsample`` pixel.

    Returns:
        ``(batch, keypoints, 2)`` (x, y) in heatmap pixels, within ``[-0.5, size - 0.5]``.
    """
    _check_maps(probs)
    _check_sigma(sigma)
    if upsample < 1:
        raise ConfigError(f"subpixel upsampling factor must be at least 1, got {upsample}; try 100")
    maps = _working_dtype(probs)
    height, width = maps.shape[-2:]
    pad = math.ceil(5 * sigma)
    freq_y = torch.fft.fftfreq(height + pad, dtype=maps.dtype, device=maps.device)
    freq_x = torch.fft.fftfreq(width + pad, dtype=maps.dtype, device=maps.device)
    # The template is symmetric, so correlating with it is filtering by its (real) DFT.
    transfer = torch.exp(-2 * math.pi**2 * sigma**2 * (freq_y[:, None] ** 2 + freq_x[None, :] ** 2))
    product = torch.fft.fft2(torch.nn.functional.pad(maps, (0, pad, 0, pad))) * transfer

    pixels_y = torch.arange(height, dtype=maps.dtype, device=maps.device)
    pixels_x = torch.arange(width, dtype=maps.dtype, device=maps.device)
    norm = torch.rsqrt(
        _template_energy(pixels_y, height, sigma)[:, None] * _template_energy(pixels_x, width, sigma)
    )
    coarse_rows, coarse_cols = _integer_argmax(torch.fft.ifft2(product).real[..., :height, :width] * norm)

    # Coarse to fine: a 1.5-pixel neighbourhood at 1/10 pixel, then +-1/10 pixel at 1/upsample.
    # Same answer as one 1.5-pixel grid at 1/upsample (the correlation peak is smooth and
    # unimodal there) for a fraction of the matrix products.
    y, x = coarse_rows.to(maps.dtype), coarse_cols.to(maps.dtype)
    first = min(10, upsample)
    stages = [(first, math.ceil(1.5 * first))]
    if upsample > first:
        stages.append((upsample, 2 * math.ceil(upsample / first) + 1))
    for factor, samples in stages:
        offsets = (torch.arange(samples, dtype=maps.dtype, device=maps.device) - samples // 2) / factor
        y, x = _refine_peak(
            product, y[..., None] + offsets, x[..., None] + offsets, freq_y, freq_x, sigma, height, width
        )
    return torch.stack([x.clamp(-0.5, width - 0.5), y.clamp(-0.5, height - 0.5)], dim=-1)


def _refine_peak(
    product: Tensor,
    sample_y: Tensor,
    sample_x: Tensor,
    freq_y: Tensor,
    freq_x: Tensor,
    sigma: float,
    height: int,
    width: int,
) -> tuple[Tensor, Tensor]:
    """The maximum of the normalised correlation over the grid ``sample_y x sample_x``
    (``(B, K, n)`` each), evaluated exactly with the matrix-multiply DFT."""
    kernel_y = torch.exp(2j * math.pi * sample_y[..., None] * freq_y)  # (B, K, n, H + pad)
    kernel_x = torch.exp(2j * math.pi * sample_x[..., None] * freq_x)  # (B, K, n, W + pad)
    upsampled = (kernel_y @ product @ kernel_x.transpose(-1, -2)).real  # (B, K, n, n)
    energy_y = _template_energy(sample_y, height, sigma)
    energy_x = _template_energy(sample_x, width, sigma)
    rows, cols = _integer_argmax(upsampled * torch.rsqrt(energy_y[..., :, None] * energy_x[..., None, :]))
    return sample_y.gather(-1, rows[..., None]).squeeze(-1), sample_x.gather(-1, cols[..., None]).squeeze(-1)


def keypoint_confidence(probs: Tensor, xy_hm: Tensor, sigma: float = DEFAULT_SIGMA) -> Tensor:
    """How much of an ideal target each map holds at its decoded point, in ``[0, 1]``.

    The confidence is the least-squares amplitude ``a = <p, t> / <t, t>`` of the ideal target
    ``t`` (the normalised Gaussian of ``sigma`` centred on the decoded point, truncated to the
    map like the training targets) in the map ``p``, clipped to ``[0, 1]``. It is 1 for a map
    equal to its target; ``4 pi sigma^2 / (H W)`` for a uniform map; ``2 sigma^2 / (sigma^2 + s^2)``
    for a Gaussian blob of width ``s > sigma`` (0.08 for ``s = 6``), decreasing with ``s``;
    about ``1 / n`` for ``n`` equal blobs. Unlike Lightning Pose's mass in a 5x5 window after
    a temperature-1000 sharpening (which stays near 1 for off-frame keypoints), it measures the
    probability actually concentrated where a confident prediction would put it, without
    sharpening. Non-finite points get 0.

    Args:
        probs: ``(batch, keypoints, H, W)`` maps, each summing to 1.
        xy_hm: ``(batch, keypoints, 2)`` decoded (x, y) in heatmap pixels.
        sigma: the targets' standard deviation in heatmap pixels.

    Returns:
        ``(batch, keypoints)`` confidence (float64 for float64 maps, else float32).
    """
    _check_maps(probs)
    _check_sigma(sigma)
    if xy_hm.shape != (*probs.shape[:2], 2):
        raise ValueError(f"coordinates of shape {tuple(xy_hm.shape)} do not match maps {tuple(probs.shape)}")
    maps = _working_dtype(probs)
    height, width = maps.shape[-2:]
    points = xy_hm.to(maps.dtype)
    xs = torch.arange(width, dtype=maps.dtype, device=maps.device)
    ys = torch.arange(height, dtype=maps.dtype, device=maps.device)
    # The target is separable: t = outer(gy, gx) / (sum gy * sum gx).
    gx = torch.exp(-((xs - points[..., 0:1]) ** 2) / (2 * sigma**2))  # (B, K, W)
    gy = torch.exp(-((ys - points[..., 1:2]) ** 2) / (2 * sigma**2))  # (B, K, H)
    # <p, gy gx^T> as two contractions: a 3-operand einsum (opt_einsum) would pin the batch size
    overlap = ((maps @ gx[..., None]).squeeze(-1) * gy).sum(-1)
    amplitude = overlap * gy.sum(-1) * gx.sum(-1) / ((gy**2).sum(-1) * (gx**2).sum(-1))
    return torch.nan_to_num(amplitude, nan=0.0, posinf=0.0).clamp(0, 1)


def decode_heatmaps(
    logits_or_probs: Tensor,
    method: DecodeMethod,
    sigma: float = DEFAULT_SIGMA,
    already_probs: bool = False,
) -> tuple[Tensor, Tensor]:
    """Keypoints and confidences from a model's heatmaps.

    Args:
        logits_or_probs: ``(batch, keypoints, H, W)`` logits (a spatial softmax is applied) or,
            with ``already_probs``, maps that each sum to 1.
        method: ``"soft_argmax"`` (windowed expectation) or ``"subpixel"`` (DeepPoseKit).
        sigma: the targets' standard deviation in heatmap pixels.

    Returns:
        xy_hm: ``(batch, keypoints, 2)`` (x, y) in heatmap pixels.
        confidence: ``(batch, keypoints)`` in ``[0, 1]`` (see ``keypoint_confidence``).
    """
    if method not in DECODE_METHODS:
        raise ConfigError(
            f"unknown heatmap decoding method {method!r}; choose one of {', '.join(DECODE_METHODS)}"
        )
    probs = logits_or_probs if already_probs else spatial_softmax(logits_or_probs)
    xy_hm = (
        soft_argmax(probs, sigma=sigma) if method == "soft_argmax" else subpixel_maxima(probs, sigma=sigma)
    )
    return xy_hm, keypoint_confidence(probs, xy_hm, sigma=sigma)


def most_confident(xy_hm: Tensor, confidence: Tensor) -> tuple[Tensor, Tensor]:
    """Per keypoint, the prediction of the head that is most confident about it.

    Args:
        xy_hm: ``(heads, batch, keypoints, 2)`` each head's (x, y).
        confidence: ``(heads, batch, keypoints)`` each head's confidence.

    Returns:
        ``(batch, keypoints, 2)`` and ``(batch, keypoints)``; on a tie the earlier head wins.
    """
    best = confidence.argmax(dim=0, keepdim=True)  # (1, B, K): argmax returns the first maximum
    xy = xy_hm.gather(0, best[..., None].expand(-1, -1, -1, 2))
    return xy[0], confidence.gather(0, best)[0]


def decode_prediction(
    outputs: list[Tensor], heads: int, keypoints: int, method: DecodeMethod, sigma: float = DEFAULT_SIGMA
) -> tuple[Tensor, Tensor]:
    """A network's prediction: each of its last ``heads`` outputs decoded (first ``keypoints``
    channels; the rest are training-only maps), then the most confident head per keypoint.

    Args:
        outputs: the network's logits, each ``(batch, channels, H, W)``.
        heads: how many of the last outputs are predictions (the network's ``prediction_heads``).

    Returns:
        xy_hm ``(batch, keypoints, 2)`` in heatmap pixels and confidence ``(batch, keypoints)``.
    """
    maps = torch.stack([out[:, :keypoints].float() for out in outputs[-heads:]])  # (heads, B, K, H, W)
    xy_hm, confidence = decode_heatmaps(maps.flatten(0, 1), method, sigma)
    return most_confident(xy_hm.unflatten(0, (heads, -1)), confidence.unflatten(0, (heads, -1)))
