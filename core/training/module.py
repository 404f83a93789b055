"""The Lightning module: supervised heatmap loss on every output (intermediate supervision, both
heads of the context model, optional posture-graph maps), Lightning Pose's optimiser schedule and
backbone freezing."""

from __future__ import annotations

import lightning as L
import torch

from core.config import ProjectConfig, TrainConfig
from core.data.heatmaps import (
    gaussian_targets,
    heatmap_to_image_coords,
    image_to_heatmap_coords,
    posture_graph_targets,
)
from core.data.images import to_model_input
from core.models.decoding import decode_prediction
from core.models.factory import build_network
from core.models.heatmap_net import HEATMAP_STRIDE


def heatmap_loss(logits: torch.Tensor, targets: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """MSE x H*W between spatially softmaxed logits and targets, over visible maps only.

    Args:
        logits, targets: ``(B, C, H, W)``; targets sum to 1 per map.
        visible: ``(B, C)`` bool; maps of missing keypoints are excluded, not pushed to zero.
    """
    probs = logits.float().flatten(2).softmax(-1)
    per_map = (probs - targets.flatten(2)).pow(2).sum(-1)  # mean over pixels x H*W
    mask = visible.float()
    return (per_map * mask).sum() / mask.sum().clamp_min(1.0)


class PoseModule(L.LightningModule):
    def __init__(self, project: ProjectConfig, train: TrainConfig) -> None:
        super().__init__()
        self.save_hyperparameters(
            {"project": project.model_dump(mode="json"), "train": train.model_dump(mode="json")}
        )
        self.project, self.train_config = project, train
        self.network = build_network(project, train)
        self.edges = project.skeleton_indices if train.posture_graph else []
        self.num_keypoints = len(project.keypoints)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` images, or ``(B, 5, 3, H, W)`` windows for the context model, to the
        network's list of logits ``(B, C, H/4, W/4)``."""
        return self.network(images)

    def _targets(self, keypoints: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets ``(B, C, H, W)`` and visibility ``(B, C)`` from keypoints in input pixels."""
        points = image_to_heatmap_coords(keypoints, HEATMAP_STRIDE)
        sigma = self.train_config.heatmap_sigma
        targets, visible = gaussian_targets(points, height, width, sigma)
        if self.edges:
            graph, graph_visible = posture_graph_targets(points, self.edges, height, width, sigma)
            targets, visible = torch.cat([targets, graph], 1), torch.cat([visible, graph_visible], 1)
        return targets, visible

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        outputs = self(to_model_input(batch["image"]))
        h, w = outputs[-1].shape[-2:]
        targets, visible = self._targets(batch["keypoints"], h, w)
        losses = [heatmap_loss(out, targets, visible) for out in outputs]
        loss = torch.stack(losses).sum()
        batch_size = len(batch["image"])
        self.log(f"{stage}_loss", loss, prog_bar=True, batch_size=batch_size)
        if stage == "val":
            xy_hm, _ = decode_prediction(
                outputs,
                self.network.prediction_heads,
                self.num_keypoints,
                self.train_config.decoder,
                self.train_config.heatmap_sigma,
            )
            predicted = heatmap_to_image_coords(xy_hm, HEATMAP_STRIDE)
            error = (predicted - batch["keypoints"]).norm(dim=-1)
            self.log("val_pixel_error", error.nanmean(), batch_size=batch_size)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def on_train_epoch_start(self) -> None:
        # Lightning Pose keeps a pretrained backbone frozen while the new head settles;
        # a randomly initialised backbone must learn from the start.
        backbone = getattr(self.network, "backbone", None)
        if backbone is not None and getattr(self.network, "pretrained_loaded", False):
            frozen = self.current_epoch < self.train_config.freeze_backbone_epochs
            for p in backbone.parameters():
                p.requires_grad_(not frozen)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.network.parameters(), lr=self.train_config.learning_rate)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=self.train_config.lr_milestones, gamma=self.train_config.lr_gamma
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
