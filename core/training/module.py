"""The Lightning module: the supervised heatmap loss (``core.losses.supervised``) on every labeled
batch, Lightning Pose's optimiser schedule and backbone freezing; with unsupervised losses, a run of
unlabeled video frames in every training step too (semi-supervised training,
``core.training.semisupervised``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import lightning as L
import torch

from core.config import ProjectConfig, TrainConfig
from core.data.heatmaps import heatmap_to_image_coords
from core.data.images import to_model_input
from core.data.unlabeled import make_unlabeled_loader
from core.data.unlabeled_batch import UnlabeledBatch, to_frame_pixels
from core.losses.supervised import supervised_loss
from core.losses.unsupervised import annealing_factor
from core.models.decoding import decode_heatmaps, decode_prediction
from core.models.factory import build_network
from core.models.heatmap_net import HEATMAP_STRIDE
from core.training.semisupervised import UnsupervisedLosses, resolve_seq_len


def to_frame_size(xy: torch.Tensor, frame_size: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``(B, K, 2)`` model-input pixels (``width`` x ``height``) -> each item's frame pixels, with
    the pixel-centre convention of ``core.data.augment.scale_points``.

    Args:
        frame_size: ``(B, 2)`` each frame's width and height in pixels.
    """
    scale = frame_size.to(xy) / torch.tensor([width, height], dtype=xy.dtype, device=xy.device)
    return (xy + 0.5) * scale[:, None, :] - 0.5


class ErrorSum:
    """The sum and count of the finite lengths of difference vectors, for a mean over a whole
    validation pass (every labeled keypoint weighs the same, whatever its batch)."""

    def __init__(self) -> None:
        self.total, self.count = 0.0, 0

    def add(self, difference: torch.Tensor) -> None:
        """``(..., 2)`` differences; NaN ones (a keypoint not labeled) are left out."""
        lengths = difference.detach().double().norm(dim=-1)
        finite = lengths[lengths.isfinite()]
        self.total += float(finite.sum())
        self.count += finite.numel()

    def mean(self) -> float:
        return self.total / self.count


# The network's weights in channels-last layout, as its inputs come (``to_model_input``), so that the
# convolutions need not convert between layouts (BENCHMARKS.md, `make bench-cpu-training`: 1.02x alone
# in float32, 1.30x with bf16, the same test error)
MEMORY_FORMAT = torch.channels_last
# Adam fused: one pass over each parameter instead of one per arithmetic step; the same updates to
# rounding (1.5e-8 apart after 10 steps on ResNet-18), and about 20x faster on 2 CPU cores for its 11 M
# parameters, where the step-by-step Adam took a large share of each training step (BENCHMARKS.md)
FUSED_ADAM = True


class PoseModule(L.LightningModule):
    """Training of one network.

    With ``unsupervised`` (semi-supervised training) every training step also takes the next run of
    ``train.unlabeled_seq_len`` consecutive frames from ``unlabeled_videos`` (the loader opens at the
    first training step and closes when training ends, or on ``close_unlabeled``), predicts them
    (``_predict_run``), maps the keypoints back to frame pixels and adds
    ``annealing_factor(epoch) x sum(weight x term)`` to the supervised loss. Logged per step:
    ``train_loss`` (the total), ``train_supervised_loss``, ``annealing_factor`` and, once the factor
    is above 0 (before that no unlabeled run is read), ``train_<name>_loss`` for each unsupervised
    term. Validation stays supervised; each validation pass logs ``val_loss`` and
    ``val_pixel_error_px``, the mean distance between prediction and label over the labeled
    keypoints of the validation frames in the frames' own pixels (as ``core.predict`` scores them,
    so the two agree for one checkpoint).
    """

    def __init__(
        self,
        project: ProjectConfig,
        train: TrainConfig,
        unsupervised: UnsupervisedLosses | None = None,
        unlabeled_videos: Sequence[Path] = (),
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {"project": project.model_dump(mode="json"), "train": train.model_dump(mode="json")}
        )
        self.project, self.train_config = project, train
        self.network = build_network(project, train).to(memory_format=MEMORY_FORMAT)
        self.edges = project.skeleton_indices if train.posture_graph else []
        self.num_keypoints = len(project.keypoints)
        if unsupervised is not None and not unlabeled_videos:
            raise ValueError("unsupervised losses need unlabeled videos")
        self.unsupervised = unsupervised
        self.unlabeled_videos = list(unlabeled_videos)
        self._unlabeled: Iterator[UnlabeledBatch] | None = None
        self._val_errors = ErrorSum()

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` images, or ``(B, 5, 3, H, W)`` windows for the context model, to the
        network's list of logits ``(B, C, H/4, W/4)``."""
        return self.network(images)

    def _step(self, batch: dict[str, torch.Tensor], stage: str, name: str = "loss") -> torch.Tensor:
        """The supervised loss of a labeled batch, logged as ``<stage>_<name>``."""
        outputs = self(to_model_input(batch["image"]))
        loss = supervised_loss(outputs, batch["keypoints"], self.train_config.heatmap_sigma, self.edges)
        batch_size = len(batch["image"])
        self.log(f"{stage}_{name}", loss, prog_bar=name == "loss", batch_size=batch_size)
        if stage == "val":
            xy_hm, _ = decode_prediction(
                outputs,
                self.network.prediction_heads,
                self.num_keypoints,
                self.train_config.decoder,
                self.train_config.heatmap_sigma,
            )
            size = (batch["frame_size"], self.train_config.image_width, self.train_config.image_height)
            predicted = to_frame_size(heatmap_to_image_coords(xy_hm, HEATMAP_STRIDE), *size)
            self._val_errors.add(predicted - to_frame_size(batch["keypoints"], *size))
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.unsupervised is None:
            return self._step(batch, "train")
        supervised = self._step(batch, "train", "supervised_loss")
        factor = self.annealing_factor()
        self.log("annealing_factor", factor, batch_size=len(batch["image"]))
        if factor == 0:
            # Before the losses count, an unlabeled run would cost a forward pass (60 % more time per
            # step on a CPU) for numbers that change nothing: no run is read until annealing starts.
            self.log("train_loss", supervised, prog_bar=True, batch_size=len(batch["image"]))
            return supervised
        unlabeled = next(self._unlabeled_batches())
        terms = self.unsupervised_terms(unlabeled)
        loss = supervised + factor * self.unsupervised.weighted_sum(terms)
        frames = len(unlabeled["frames"])
        for name, term in terms.items():
            self.log(f"train_{name}_loss", term.value.detach(), batch_size=frames)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch["image"]))
        return loss

    def annealing_factor(self) -> float:
        """The factor on the unsupervised terms in the current epoch."""
        config = self.train_config
        return annealing_factor(
            self.current_epoch, config.anneal_start_epoch, config.anneal_increase_per_epoch
        )

    def _predict_run(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each prediction head's keypoints for runs of T consecutive frames seen by V views,
        ``(V * T, 3, h, w)`` view-major (V = 1 for a single camera).

        The context model predicts frame t from t-2..t+2, each run's ends padded by repetition like
        a video's (``ContextHeatmapNet.forward_run``). Decoded with the soft-argmax whatever the
        config's decoder (the subpixel maxima have no gradient).

        Returns:
            ``xy (heads, V, T, K, 2)`` in model-input pixels and ``confidence (heads, V, T, K)``, detached.
        """
        network, views = self.network, len(self.project.views)
        if self.train_config.uses_context:
            runs = [network.forward_run(run) for run in frames.chunk(views)]
            outputs = [torch.cat(head) for head in zip(*runs, strict=True)]
        else:
            outputs = network(frames)
        maps = torch.stack(
            [out[:, : self.num_keypoints].float() for out in outputs[-network.prediction_heads :]]
        )
        xy_hm, confidence = decode_heatmaps(
            maps.flatten(0, 1), "soft_argmax", self.train_config.heatmap_sigma
        )
        runs = (maps.shape[0], views, -1)
        xy = heatmap_to_image_coords(xy_hm.unflatten(0, runs), HEATMAP_STRIDE)
        return xy, confidence.unflatten(0, runs).detach()

    def unsupervised_terms(self, unlabeled: UnlabeledBatch) -> dict:
        """The unsupervised losses (``{name: LossTerm}``) of one unlabeled run, on every prediction
        head's keypoints mapped back to each view's frame pixels."""
        xy, confidence = self._predict_run(unlabeled["frames"])
        affine = unlabeled["affine"].reshape(-1, 1, 3, 3)  # (V, 1, 3, 3) against (heads, V, T, K, 2)
        return self.unsupervised(to_frame_pixels(xy, affine), confidence)

    def _unlabeled_batches(self) -> Iterator[UnlabeledBatch]:
        if self._unlabeled is None:
            config = self.train_config
            self._unlabeled = make_unlabeled_loader(
                self.project,
                config,
                self.device,
                resolve_seq_len(config, self.device),
                seed=config.seed + self.global_step,  # a resumed run draws new windows
                videos=self.unlabeled_videos,
            )
        return self._unlabeled

    def close_unlabeled(self) -> None:
        """Stop the unlabeled-frame loader (its decoding thread or DALI pipeline), if open."""
        if self._unlabeled is not None:
            close = getattr(self._unlabeled, "close", None)
            self._unlabeled = None
            if close:
                close()

    def on_train_end(self) -> None:
        self.close_unlabeled()

    def on_validation_epoch_start(self) -> None:
        self._val_errors = ErrorSum()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        if self._val_errors.count:  # no labeled keypoint in the validation frames: nothing to log
            self.log("val_pixel_error_px", self._val_errors.mean())

    def on_train_epoch_start(self) -> None:
        # Lightning Pose keeps a pretrained backbone frozen while the new head settles;
        # a randomly initialised backbone must learn from the start.
        backbone = getattr(self.network, "backbone", None)
        if backbone is not None and getattr(self.network, "pretrained_loaded", False):
            frozen = self.current_epoch < self.train_config.freeze_backbone_epochs
            for p in backbone.parameters():
                p.requires_grad_(not frozen)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(
            self.network.parameters(), lr=self.train_config.learning_rate, fused=FUSED_ADAM
        )
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=self.train_config.lr_milestones, gamma=self.train_config.lr_gamma
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
