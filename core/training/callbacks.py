"""Training progress reported to a plain callable (the worker writes it to the job record)."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L

ProgressHook = Callable[[dict], None]


class ProgressReporter(L.Callback):
    """Calls ``hook({"epoch", "epochs", "step", "total_steps", "losses", "history"})`` after every
    training batch, every validation pass and once when training ends.

    ``epoch`` counts from 1 (the epoch in progress; when training ends, the last one done, so a
    finished run shows ``epoch == epochs``); ``losses`` are the latest values logged (floats): the
    losses (no unit) and the pixel errors, whose names end in their unit (``val_pixel_error_px``,
    frame pixels); ``history`` has one entry per finished epoch (its epoch number, step and losses),
    for curves: an epoch's ``val_`` values only when validation ran in that epoch
    (``val_every_n_epochs``), not the last pass's again.
    """

    def __init__(self, hook: ProgressHook) -> None:
        self.hook = hook
        self.history: list[dict] = []
        self._validated_epoch: int | None = None  # the last epoch (from 0) that ran validation

    def _losses(self, trainer: L.Trainer, validation: bool = True) -> dict[str, float]:
        return {
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if ("loss" in k or "error" in k) and (validation or not k.startswith("val_"))
        }

    def _report(self, trainer: L.Trainer, epoch: int) -> None:
        self.hook(
            {
                "epoch": epoch,
                "epochs": trainer.max_epochs,
                "step": trainer.global_step,
                "total_steps": trainer.estimated_stepping_batches,
                "losses": self._losses(trainer),
                "history": self.history,
            }
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._report(trainer, trainer.current_epoch + 1)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._validated_epoch = trainer.current_epoch
            self._report(trainer, trainer.current_epoch + 1)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch + 1
        losses = self._losses(trainer, validation=self._validated_epoch == trainer.current_epoch)
        self.history = [*self.history, {"epoch": epoch, "step": trainer.global_step, "losses": losses}]
        self._report(trainer, epoch)

    def on_train_end(self, trainer, pl_module) -> None:
        self._report(trainer, self.history[-1]["epoch"] if self.history else trainer.current_epoch)
