"""A network and its keypoint decoding as one traceable module: what the ONNX export writes, so
that the exported file maps images to keypoints and needs nothing of posecloud to run.

Soft-argmax decoding goes into the graph. Subpixel maxima do not: their Fourier-domain refinement
works on complex tensors, which the ONNX exporter cannot write, so for a subpixel model the graph
ends at the prediction heads' heatmaps and ``decode_to_input_pixels`` decodes them after the
graph (the same code that decodes inside it for soft-argmax).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from core.data.context_window import CENTRE, WINDOW, stack_windows
from core.data.heatmaps import heatmap_to_image_coords
from core.models.decoding import DecodeMethod, decode_prediction
from core.models.heatmap_net import HEATMAP_STRIDE

GRAPH_DECODERS: tuple[str, ...] = ("soft_argmax",)
"""Decoders that trace into an ONNX graph."""
KEYPOINT_OUTPUTS = ("keypoints", "confidence")
HEATMAP_OUTPUTS = ("heatmaps",)


def decode_to_input_pixels(
    heads: list[Tensor], keypoints: int, method: DecodeMethod, sigma: float
) -> tuple[Tensor, Tensor]:
    """The most confident of the prediction ``heads`` (each ``(N, C, H/4, W/4)`` logits, keypoints
    first) per keypoint: ``xy (N, K, 2)`` in network-input pixels and ``confidence (N, K)``."""
    xy_hm, confidence = decode_prediction(heads, len(heads), keypoints, method, sigma)
    return heatmap_to_image_coords(xy_hm, HEATMAP_STRIDE), confidence


class PoseGraph(nn.Module):
    """``forward(images (N, 3, H, W))``, ImageNet-normalised RGB at the network's input size.

    Single-frame networks predict each of the N images. The context model takes N >= 5 consecutive
    frames of a video and predicts the N - 4 that have two frames on either side (frames 2..N-3),
    each from its window t-2..t+2; a caller pads a video's ends by repeating its first and last
    frame twice, as posecloud's prediction does.

    Returns ``keypoints (N', K, 2)`` in input pixels and ``confidence (N', K)`` in [0, 1]
    (``KEYPOINT_OUTPUTS``) when the decoder traces into the graph, else the prediction heads'
    keypoint logits ``heatmaps (N', heads, K, H/4, W/4)`` (``HEATMAP_OUTPUTS``) for
    ``decode_to_input_pixels``.
    """

    def __init__(
        self, network: nn.Module, keypoints: int, decoder: DecodeMethod, sigma: float, context: bool
    ):
        super().__init__()
        self.network, self.keypoints, self.decoder, self.sigma = network, keypoints, decoder, sigma
        self.context = context
        self.decodes = decoder in GRAPH_DECODERS
        self.output_names = KEYPOINT_OUTPUTS if self.decodes else HEATMAP_OUTPUTS

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        heads = self._prediction_heads(images)
        if not self.decodes:
            return (torch.stack([head[:, : self.keypoints] for head in heads], dim=1),)
        return decode_to_input_pixels(heads, self.keypoints, self.decoder, self.sigma)

    def _prediction_heads(self, images: Tensor) -> list[Tensor]:
        if not self.context:
            return self.network(images)[-self.network.prediction_heads :]
        single, frame_inputs = self.network.encode(images)
        # the frames with a whole window; the end counted from the run's end keeps N out of the graph
        centres = single[CENTRE : (CENTRE - WINDOW + 1) or None]
        return [centres, self.network.decode_windows(stack_windows(frame_inputs))]
