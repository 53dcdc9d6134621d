"""The LightningModule that trains any registered model with any registered loss."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from ..data.errors import first_line
from ..losses import create_loss
from ..metrics import (
    auprc,
    auroc,
    binarize,
    challenge_headline,
    challenge_metrics,
    f_beta,
    fmax,
    g_beta,
    per_class_f1,
)
from ..models import create_model
from .checkpoint_io import CheckpointError, read_checkpoint, upgrade_data_config
from .thresholds import FIXED_THRESHOLD, RULES, Thresholds, select_thresholds

__all__ = ["SCHEDULES", "EcgClassifier", "distillation_loss", "ema_update_fn", "evaluation_metrics", "one_cycle",
           "warmup_cosine"]

#: Learning-rate schedules of ``EcgClassifier(schedule=...)``.
SCHEDULES: tuple[str, ...] = ("cosine", "onecycle")


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, min_lr_ratio: float = 0.0) -> float:
    """Learning-rate factor at ``step``: linear warm-up from 0 over ``warmup_steps``, then a cosine decay
    to ``min_lr_ratio`` at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def one_cycle(step: int, total_steps: int, rise_fraction: float = 0.3, start_ratio: float = 1 / 25,
              end_ratio: float = 1 / 25 / 1e4) -> float:
    """Learning-rate factor at ``step`` of the one-cycle policy (Smith and Topin 2019; fastai's ``fit_one_cycle``,
    which the PTB-XL benchmark trains with): a cosine rise from ``start_ratio`` to 1 over ``rise_fraction`` of the
    steps, then a cosine decay to ``end_ratio``. Defaults are PyTorch's ``OneCycleLR`` (``pct_start=0.3``,
    ``div_factor=25``, ``final_div_factor=1e4``), whose phase boundaries it follows."""
    rise_end = float(rise_fraction * total_steps) - 1
    fall_end = float(total_steps - 1)

    def anneal(start: float, end: float, pct: float) -> float:
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

    if step <= rise_end:
        return anneal(start_ratio, 1.0, step / rise_end if rise_end > 0 else 1.0)
    span = fall_end - rise_end
    return anneal(1.0, end_ratio, min(1.0, (step - rise_end) / span) if span > 0 else 1.0)


def distillation_loss(student: Tensor, teacher: Tensor, single_label: bool, temperature: float = 1.0) -> Tensor:
    """Soft-target distillation (Hinton et al. 2015; DeiT's soft variant): the student's logits against the teacher's
    probabilities at ``temperature``, times ``temperature ** 2`` so the gradient scale does not depend on it.
    Multi-label: binary cross-entropy per class with the teacher's sigmoid as targets; single-label: KL divergence
    to the teacher's soft-max. Both are 0 gradient-wise when the student reproduces the teacher."""
    student, teacher = student.float() / temperature, teacher.float().detach() / temperature
    if single_label:
        loss = torch.nn.functional.kl_div(student.log_softmax(dim=1), teacher.log_softmax(dim=1), log_target=True,
                                          reduction="batchmean")
    else:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(student, teacher.sigmoid())
    return loss * temperature ** 2


def ema_update_fn(decay: float, warmup: bool = True) -> Callable[[list[Tensor], list[Tensor], Tensor], None]:
    """The multi-tensor update of an :class:`~torch.optim.swa_utils.AveragedModel` EMA after ``n`` earlier
    updates: ``ema <- d * ema + (1 - d) * current`` with ``d = min(decay, (1 + n) / (10 + n))`` when ``warmup``
    (the ``num_updates`` rule of TensorFlow's ``ExponentialMovingAverage``), else ``d = decay``.

    Without the warm-up a short run's average keeps its first weights: after 1,200 updates at decay 0.999 (50 epochs
    of 1,490 PTB-XL records in batches of 64) they still weigh 0.999 ** 1200 = 30%. Integer buffers (BatchNorm's
    batch counter) follow the model."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema_decay must be in (0, 1), got {decay!r}")

    @torch.no_grad()
    def update(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        if not (torch.is_floating_point(averaged[0]) or torch.is_complex(averaged[0])):
            torch._foreach_copy_(averaged, current)
            return
        n = int(num_averaged)
        d = min(decay, (1 + n) / (10 + n)) if warmup else decay
        torch._foreach_lerp_(averaged, current, 1.0 - d)

    return update


def evaluation_metrics(y_true: np.ndarray, y_prob: np.ndarray, thresholds: Thresholds | None,
                       class_names: Sequence[str], single_label: bool,
                       challenge: dict[str, Any] | None = None) -> dict[str, float]:
    """Summary metrics of probabilities ``y_prob`` against binary ``y_true``: macro/micro AUROC and AUPRC,
    Fmax, and with ``thresholds`` F-beta/G-beta (beta=2) and macro F1; for single-label tasks the
    accuracy of the arg-max class.

    ``challenge`` is the reader's :meth:`~ecgformer.data.base.LabelledSource.challenge_scoring` (``{"scorer":
    name, ...}``, kept in the checkpoint): it adds that dataset's official metric (CinC 2017 score, PhysioNet/CinC
    2020/2021 ``challenge_score`` of the thresholded decisions) through :func:`~ecgformer.metrics.challenge_metrics`.
    """
    out = {"auroc_macro": auroc(y_true, y_prob), "auroc_micro": auroc(y_true, y_prob, average="micro"),
           "auprc_macro": auprc(y_true, y_prob), "auprc_micro": auprc(y_true, y_prob, average="micro"),
           "fmax": fmax(y_true, y_prob)}
    decisions = None
    if thresholds is not None:
        decisions = thresholds.apply(y_prob)
        out["f1_macro"] = float(np.nanmean(per_class_f1(y_true, decisions)))
        out["f_beta2"] = f_beta(y_true, decisions)
        out["g_beta2"] = g_beta(y_true, decisions)
    if single_label:
        out["accuracy"] = float((y_true.argmax(axis=1) == y_prob.argmax(axis=1)).mean())
    out.update(challenge_metrics(challenge, y_true, y_prob, decisions))
    return out


class EcgClassifier(L.LightningModule):
    """Trains ``create_model(model, num_classes, in_chans, **model_overrides)`` with
    ``create_loss(loss, **loss_kwargs)`` (plus ``aux_weight * model.auxiliary_loss()``).

    AdamW (no weight decay on biases and norms) stepped per batch by ``schedule``: ``"cosine"``, a linear warm-up
    over ``warmup_fraction`` of the steps and a cosine decay to ``min_lr_ratio * lr``; or ``"onecycle"``
    (:func:`one_cycle`: a cosine rise from ``lr / 25`` to ``lr`` over ``warmup_fraction`` of the steps, then a cosine
    decay to ``min_lr_ratio * lr``). ``distill`` (``{"teacher": checkpoint, "weight": 0.5, "temperature": 1.0}``)
    adds :func:`distillation_loss` against a trained classifier's outputs on the same batch, weighted ``weight``
    against ``1 - weight`` for the labels (the teacher must have been trained on the same preprocessing; it is
    loaded when training starts, not stored in checkpoints). With ``ema_decay`` an exponential moving average of
    the weights (its decay
    warmed up as in :func:`ema_update_fn` unless ``ema_warmup`` is off) is kept and used for validation,
    testing and prediction. ``single_label`` tasks use soft-max probabilities
    and arg-max decisions, multi-label tasks sigmoid probabilities and per-class thresholds chosen by
    ``threshold_rule`` on the validation split at the end of every validation epoch. The thresholds, the
    class names and ``data_config`` (data and preprocessing settings) are stored in checkpoints.
    ``compile`` (``True`` or ``torch.compile``'s keyword arguments, e.g. ``{"mode": "max-autotune"}``) compiles the
    network in place when training starts (:meth:`torch.nn.Module.compile`: parameter names, hence checkpoints, are
    those of the plain network; a classifier rebuilt from a checkpoint runs uncompiled until it trains).
    """

    def __init__(self, model: str = "ecgformer_t", num_classes: int = 10, in_chans: int = 12,
                 model_overrides: dict[str, Any] | None = None, loss: str = "bce",
                 loss_kwargs: dict[str, Any] | None = None, lr: float = 1e-3, weight_decay: float = 0.05,
                 warmup_fraction: float = 0.05, min_lr_ratio: float = 0.01, ema_decay: float | None = None,
                 ema_warmup: bool = True, aux_weight: float = 0.01, single_label: bool = False,
                 threshold_rule: str | None = None, schedule: str = "cosine", distill: dict[str, Any] | None = None,
                 class_names: Sequence[str] | None = None, data_config: dict[str, Any] | None = None,
                 compile: bool | dict[str, Any] = False) -> None:
        super().__init__()
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        distill = dict(distill) if distill else None
        if distill is not None:
            unknown = set(distill) - {"teacher", "weight", "temperature"}
            if unknown or "teacher" not in distill:
                raise ValueError(f"distill takes teacher (a checkpoint), weight and temperature; got {sorted(distill)}")
            if not 0.0 < float(distill.setdefault("weight", 0.5)) <= 1.0:
                raise ValueError(f"distill.weight must be in (0, 1], got {distill['weight']!r}")
            if not float(distill.setdefault("temperature", 1.0)) > 0.0:
                raise ValueError(f"distill.temperature must be above 0, got {distill['temperature']!r}")
        rule = threshold_rule or ("argmax" if single_label else "f1")
        if rule not in RULES:
            raise ValueError(f"threshold_rule must be one of {RULES}, got {threshold_rule!r}")
        if single_label and rule != "argmax":
            raise ValueError(f"single_label tasks decide by arg-max; threshold_rule={threshold_rule!r} does not apply")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names for num_classes={num_classes}")
        self.save_hyperparameters()
        self.hparams.distill = distill
        self.model = create_model(model, num_classes, in_chans, **(model_overrides or {}))
        self.criterion = create_loss(loss, **(loss_kwargs or {}))
        self.ema: AveragedModel | None = None
        if ema_decay is not None:
            self.ema = AveragedModel(self.model, multi_avg_fn=ema_update_fn(ema_decay, ema_warmup), use_buffers=True)
            self.ema.requires_grad_(False)
        self.class_names = tuple(class_names) if class_names is not None else tuple(f"class_{k}"
                                                                                   for k in range(num_classes))
        self.threshold_rule = rule
        self.thresholds: Thresholds | None = None
        self.data_config = upgrade_data_config(data_config)
        self._teacher: tuple[nn.Module, ...] = ()  # a tuple: not a sub-module, so not in the checkpoint
        self.test_results: dict[str, np.ndarray] = {}
        self.last_metrics: dict[str, dict[str, float]] = {}
        self._outputs: dict[str, list[Tensor]] = {"prob": [], "y": [], "index": []}

    def eval_model(self) -> nn.Module:
        """The network used for evaluation: the EMA copy when EMA is on, else the trained model."""
        return self.ema.module if self.ema is not None else self.model

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)``; the EMA weights outside training when EMA is on."""
        return (self.model if self.training else self.eval_model())(x)

    def probabilities(self, logits: Tensor) -> Tensor:
        """Soft-max (single-label) or sigmoid (multi-label) probabilities."""
        return logits.float().softmax(dim=1) if self.hparams.single_label else logits.float().sigmoid()

    def _record_probabilities(self, logits: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """Probabilities per record; sliding-window batches average their windows' probabilities."""
        prob = self.probabilities(logits)
        if "owner" not in batch:
            return prob
        n = len(batch["y"])
        total = torch.zeros(n, prob.shape[1], device=prob.device).index_add_(0, batch["owner"], prob)
        return total / torch.bincount(batch["owner"], minlength=n).clamp_min(1)[:, None]

    def on_fit_start(self) -> None:
        """Compile the network when ``compile`` asks; load the distillation teacher (frozen, evaluation mode) on the
        training device."""
        options = self.hparams.get("compile", False)
        if options:
            self.model.compile(**(options if isinstance(options, dict) else {}))
        distill = self.hparams.distill
        if distill is None or self._teacher:
            return
        teacher = EcgClassifier.from_checkpoint(distill["teacher"])
        for key in ("preprocess", "fs", "leads", "length_s"):
            if teacher.data_config.get(key) != self.data_config.get(key):
                raise ValueError(f"distill.teacher {distill['teacher']} was trained with data {key} "
                                 f"{teacher.data_config.get(key)!r}, this run uses {self.data_config.get(key)!r}")
        if list(teacher.class_names) != list(self.class_names):
            raise ValueError(f"distill.teacher {distill['teacher']} predicts {list(teacher.class_names)}, this run "
                             f"{list(self.class_names)}")
        network = teacher.eval_model().eval().requires_grad_(False).to(self.device)
        self._teacher = (network,)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Loss of one batch, with the distillation term and the model's auxiliary loss when they apply."""
        logits = self.model(batch["x"])
        loss = self.criterion(logits.float(), batch["y"])
        if self._teacher:
            distill = self.hparams.distill
            with torch.no_grad():
                soft = self._teacher[0](batch["x"])
            term = distillation_loss(logits, soft, self.hparams.single_label, float(distill["temperature"]))
            self.log("train/distill_loss", term, on_step=False, on_epoch=True, batch_size=len(batch["y"]))
            loss = (1 - float(distill["weight"])) * loss + float(distill["weight"]) * term
        # per step: this rank's loss, no cross-rank reduction on the hot path; per epoch: averaged over the ranks
        self.log("train/loss_step", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=len(batch["y"]))
        self.log("train/loss_epoch", loss, on_step=False, on_epoch=True, batch_size=len(batch["y"]), sync_dist=True)
        auxiliary = getattr(self.model, "auxiliary_loss", None)
        if auxiliary is not None and self.hparams.aux_weight:
            aux = auxiliary()
            self.log("train/aux_loss", aux, on_step=False, on_epoch=True, batch_size=len(batch["y"]), sync_dist=True)
            loss = loss + self.hparams.aux_weight * aux
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Update the EMA weights after each optimiser step."""
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def _evaluate(self, batch: dict[str, Tensor], stage: str) -> None:
        logits = self.eval_model()(batch["x"])
        loss = self.criterion(logits.float(), batch["y"][batch["owner"]] if "owner" in batch else batch["y"])
        prob = self._record_probabilities(logits, batch)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["y"]), sync_dist=True)
        self._outputs["prob"].append(prob.detach())
        self._outputs["y"].append(batch["y"].detach())
        self._outputs["index"].append(batch["index"].detach())

    def _gathered(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This epoch's outputs from every process (records a distributed sampler repeated are kept once)."""
        parts = [torch.cat(self._outputs[key]) for key in ("prob", "y", "index")]
        self._outputs = {"prob": [], "y": [], "index": []}
        if self.trainer.world_size > 1:
            parts = [self.all_gather(p).flatten(0, 1) for p in parts]
        prob, y, index = (p.cpu().numpy() for p in parts)
        _, first = np.unique(index, return_index=True)
        return y[first], prob[first].astype(np.float64), index[first]

    def _log_metrics(self, stage: str, y: np.ndarray, prob: np.ndarray) -> None:
        metrics = evaluation_metrics(y, prob, self.thresholds, self.class_names, self.hparams.single_label,
                                     self.data_config.get("challenge"))
        self.last_metrics[stage] = metrics
        headline = challenge_headline(self.data_config.get("challenge")) or "auroc_macro"
        for key, value in metrics.items():  # identical on every process after the gather: no reduction
            self.log(f"{stage}/{key}", float(value), prog_bar=key == headline)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Collect validation probabilities."""
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        """Choose the thresholds on the validation outputs, then log the validation metrics."""
        y, prob, _ = self._gathered()
        if self.trainer.sanity_checking:
            return
        self.thresholds = select_thresholds(y, prob, self.threshold_rule, split="val", class_names=self.class_names)
        self._log_metrics("val", y, prob)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Collect test probabilities."""
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        """Log the test metrics with the validation thresholds and keep the outputs in ``test_results``."""
        y, prob, index = self._gathered()
        self.test_results = {"y_true": y, "y_prob": prob, "index": index}
        self._log_metrics("test", y, prob)

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Probabilities and decisions (validation thresholds when chosen, else arg-max / 0.5) of one batch."""
        prob = self._record_probabilities(self.eval_model()(batch["x"]), batch).detach()
        values = prob.cpu().numpy()
        if self.thresholds is not None:
            decisions = torch.from_numpy(self.thresholds.apply(values))
        else:
            decisions = torch.from_numpy(binarize(values, None if self.hparams.single_label
                                                  else (FIXED_THRESHOLD,) * prob.shape[1]))
        return {"index": batch["index"], "prob": prob, "decision": decisions}

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW without weight decay on 1-D parameters (biases, norms, scales) and a per-step warm-up + cosine."""
        decay, no_decay = [], []
        for param in self.model.parameters():
            if param.requires_grad:
                (no_decay if param.ndim <= 1 else decay).append(param)
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": self.hparams.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=self.hparams.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        fraction, ratio = self.hparams.warmup_fraction, self.hparams.min_lr_ratio
        if self.hparams.schedule == "onecycle":
            def factor(step: int) -> float:
                return one_cycle(step, total, fraction, end_ratio=ratio)
        else:
            warmup = max(1, round(fraction * total))

            def factor(step: int) -> float:
                return warmup_cosine(step, total, warmup, ratio)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the validation thresholds, class names and data configuration beside the weights."""
        checkpoint["thresholds"] = None if self.thresholds is None else self.thresholds.to_dict()
        checkpoint["class_names"] = list(self.class_names)
        checkpoint["data_config"] = self.data_config

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> EcgClassifier:
        """The classifier saved in checkpoint ``path``, read with :func:`~.checkpoint_io.read_checkpoint` (nothing in
        the file runs; use this rather than Lightning's ``load_from_checkpoint`` for files you did not write).

        Raises :class:`~.checkpoint_io.CheckpointError` naming the file when it cannot be read or does not fit.
        """
        checkpoint = read_checkpoint(path, required=("state_dict", "hyper_parameters"))
        try:
            module = cls(**checkpoint["hyper_parameters"])
            module.on_load_checkpoint(checkpoint)
            module.load_state_dict(checkpoint["state_dict"])
        except (TypeError, ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint {path}: does not hold an EcgClassifier this version can rebuild "
                                  f"({first_line(exc)})") from None
        return module

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the thresholds and data configuration stored by :meth:`on_save_checkpoint`."""
        stored = checkpoint.get("thresholds")
        self.thresholds = None if stored is None else Thresholds.from_dict(stored)
        self.data_config = upgrade_data_config(checkpoint.get("data_config"))
