"""Training progress reported to a plain callable (the worker writes it to the job record)."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L

ProgressHook = Callable[[dict], None]


class ProgressReporter(L.Callback):
    """Calls ``hook({"epoch", "epochs", "step", "total_steps", "losses"})`` after every training
    batch and every validation pass; losses are floats."""

    def __init__(self, hook: ProgressHook) -> None:
        self.hook = hook

    def _report(self, trainer: L.Trainer) -> None:
        losses = {k: float(v) for k, v in trainer.callback_metrics.items() if "loss" in k or "error" in k}
        self.hook(
            {
                "epoch": trainer.current_epoch,
                "epochs": trainer.max_epochs,
                "step": trainer.global_step,
                "total_steps": trainer.estimated_stepping_batches,
                "losses": losses,
            }
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._report(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        self._report(trainer)
