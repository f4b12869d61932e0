"""The :class:`Trainer`: fits a model on a labelled dataset, on CPU or GPU, one or many processes.

The whole dataset lives on the training device as one uint8 tensor and batches are gathered by
index, so there is no per-image Python work (no DataLoader); each epoch's order is a seeded
permutation, which makes resumed runs repeat the uninterrupted ones exactly.

Per epoch, with ``out_dir`` set, the trainer writes ``last.safetensors`` (everything needed to
resume: model, optimizer, scheduler, RNG states, history, callbacks, best weights; see
:mod:`emotionkit.training.resume`) and ``history.json``; at the end ``model.safetensors`` (the
best model when validation data is given and ``restore_best``). All writes are atomic. The
progress bar, the epoch log line and the best-epoch tracking are the Trainer's own callbacks
(:mod:`emotionkit.training.callbacks`).
"""

from __future__ import annotations

import math
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._json import json_ready
from .._modes import eval_mode
from .._names import unknown_name_message
from ..errors import ConfigError, TrainingError
from ..runtime import resolve_device
from . import distributed
from . import resume as resume_state
from .callbacks import BestModel, Callback, DefaultCallback, EarlyStopping, default_callbacks
from .checkpoint import save
from .history import MONITORS, History
from .precision import resolve_channels_last, resolve_precision

OPTIMIZERS = ("adam", "adamw", "sgd")
# THE fallback for a setting that neither the caller nor the model's recipe gives
DEFAULTS: dict[str, Any] = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0,
                            "batch_size": 128, "epochs": 10, "scheduler": "none",
                            "augment": None, "label_smoothing": 0.0}
SCHEDULERS = ("none", "cosine", "onecycle", "plateau")
LAST_NAME = resume_state.LAST_NAME
MODEL_NAME = "model.safetensors"
HISTORY_NAME = "history.json"


class TrainingInterrupted(KeyboardInterrupt):
    """Training was stopped by Ctrl-C (SIGINT) at a batch boundary.

    Args:
        message: What happened and where the resume state is.
        checkpoint: The resume file written, or ``None`` when there is no ``out_dir``.
    """

    def __init__(self, message: str, checkpoint: Path | None = None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        return str(self.args[0])


class _Split:
    """One data split on the training device: images (uint8 or float) and int64 labels."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y
        self.scale = 1.0 / 255.0 if x.dtype == torch.uint8 else None

    def __len__(self) -> int:
        return len(self.y)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xb = self.x[idx]
        xb = xb.float().mul_(self.scale) if self.scale is not None else xb.float()
        return xb, self.y[idx]


def _as_tensors(data: Any, name: str, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, H, W) images (uint8 or float) and int64 labels on the CPU, validated."""
    if hasattr(data, "images") and hasattr(data, "labels"):  # an emotionkit Dataset
        if data.labels is None:
            raise ConfigError(f"{name} data ({getattr(data, 'source', '?')}) has no labels")
        x = torch.from_numpy(np.ascontiguousarray(data.images))
        y = torch.from_numpy(np.asarray(data.labels, dtype=np.int64))
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = (torch.as_tensor(v) for v in data)
        if y is None:
            raise ConfigError(f"{name} data has no labels")
    else:
        raise ConfigError(f"{name} data must be an emotionkit Dataset or an (images, labels) "
                          f"pair, got {type(data).__name__}")
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4:
        raise ConfigError(f"{name} images must have shape (N, 1, H, W) or (N, H, W), "
                          f"got {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ConfigError(f"{name} images must be uint8 (0..255) or float (0..1), got {x.dtype}")
    if y.ndim != 1 or len(y) != len(x):
        raise ConfigError(f"{name} data: {len(x)} images but labels of shape {tuple(y.shape)}")
    if len(x) == 0:
        raise ConfigError(f"{name} data is empty")
    y = y.long()
    bad = torch.nonzero((y < 0) | (y >= num_classes)).flatten()
    if len(bad):
        i = int(bad[0])
        raise ConfigError(f"{name} data: label {int(y[i])} at index {i} is outside "
                          f"0..{num_classes - 1}")
    return x.contiguous(), y


def _pixel_stats(data: Any, x: torch.Tensor) -> tuple[float, float]:
    """Mean and std of all training pixels on the [0, 1] scale (for the Normalize layer)."""
    from ..data.normalize import compute_stats

    if hasattr(data, "images"):
        return compute_stats(data, split=None)
    return compute_stats(x.numpy() if x.dtype == torch.uint8 else x)


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of ``n`` training images in ``epoch``; depends only on its arguments."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch)]).generate_state(2)
    g = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    return torch.randperm(n, generator=g)


def recipe_of(model: nn.Module) -> dict[str, Any]:
    """The zoo recipe of a zoo model (``ModelZoo.get_info(name).recipe``), else ``{}``."""
    name = getattr(model, "emotionkit_name", None)
    if not isinstance(name, str):
        return {}
    from ..models import ModelZoo

    if name not in ModelZoo.list():
        return {}
    return dict(ModelZoo.get_info(name).recipe or {})


def resolve_settings(model: nn.Module, **given: Any) -> dict[str, Any]:
    """THE merge of training settings: each given value, else the model's recipe, else DEFAULTS.

    ``None`` means "not given"; pass ``augment="none"`` (or ``False``) to train a zoo model
    without its recipe's augmentation.
    """
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown training settings: {', '.join(sorted(unknown))}")
    recipe = recipe_of(model)
    return {k: (given[k] if given.get(k) is not None else recipe.get(k, default))
            for k, default in DEFAULTS.items()}


def _resolve_augment(augment: Any) -> Any:
    """None for no augmentation, else an AugmentConfig (from a preset name or a spec string)."""
    if augment is None or augment is False:
        return None
    from ..data.augment import AugmentConfig

    if isinstance(augment, str):
        augment = AugmentConfig.parse(augment)
    if not isinstance(augment, AugmentConfig):
        raise ConfigError(f"augment must be None, a preset name, a spec string or an "
                          f"AugmentConfig, got {type(augment).__name__}")
    return None if augment.is_identity else augment


def _resolve_regularizers(regularizers: Any, model: nn.Module) -> dict[str, float] | None:
    if regularizers is None or regularizers is False:
        return None
    if isinstance(regularizers, str):
        if regularizers != "model":
            raise ConfigError(f"regularizers must be None, 'model' or a dict with 'l1'/'l2', "
                              f"got {regularizers!r}")
        regularizers = getattr(model, "regularization", None)
        if regularizers is None:
            return None
    if not hasattr(regularizers, "items"):
        raise ConfigError(f"regularizers must be None, 'model' or a dict with 'l1'/'l2', got "
                          f"{regularizers!r}")
    unknown = sorted(set(regularizers) - {"l1", "l2"})
    if unknown:
        raise ConfigError(f"unknown regularizer(s) {', '.join(map(repr, unknown))}; use 'l1', 'l2'")
    out = {}
    for key in ("l1", "l2"):
        value = regularizers.get(key, 0.0) or 0.0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ConfigError(f"regularizer {key!r} must be a number >= 0, got {value!r}")
        out[key] = float(value)
    return out if any(out.values()) else None


def _json_value(value: Any) -> Any:
    """A JSON-ready description of a setting (instances become their class name)."""
    return json_ready(value, other="type")


class Trainer:
    """Train a model on labelled 48x48 faces.

    The eight recipe settings (``optimizer`` to ``label_smoothing``) left at ``None`` take the
    model's zoo recipe (``ModelZoo.get_info(name).recipe``), else :data:`DEFAULTS`, so
    ``Trainer(ModelZoo.create("compact"))`` trains exactly as ``emotionkit train --model
    compact`` does; :attr:`options` holds what was resolved. Validation runs in fp32 whatever
    the training precision, so ``history.json`` and :class:`~emotionkit.evaluation.Evaluator`
    report the same accuracy for the same weights.

    Args:
        model: The model (a zoo model or any ``nn.Module`` mapping (N, 1, 48, 48) images in
            [0, 1] to (N, 7) logits). If its ``input_norm`` is a
            :class:`~emotionkit.models.layers.Normalize`, its statistics are set from the
            training data.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` (momentum 0.9, Nesterov), an optimizer
            instance over the model's parameters, or a function ``params -> optimizer``.
        lr: Learning rate (the peak rate for ``"onecycle"``).
        weight_decay: Decoupled (adamw) or L2-in-gradient (adam, sgd) weight decay.
        batch_size: Images per optimizer step (per process when distributed).
        epochs: Number of epochs.
        scheduler: ``"none"``, ``"cosine"`` (per step, to 0), ``"onecycle"`` (per step),
            ``"plateau"`` (halve the rate after 3 epochs without improvement of the monitored
            metric), a scheduler instance or a function ``optimizer -> scheduler`` (stepped
            once per epoch).
        augment: An :class:`~emotionkit.data.augment.AugmentConfig`, a preset name or a spec
            string, applied to each training batch on the device; ``"none"`` or ``False`` for
            no augmentation (``None``: the recipe's).
        label_smoothing: Cross-entropy label smoothing of the training loss, in [0, 1).
        regularizers: Weight penalties ``{"l1": a, "l2": b}`` added to the training loss as
            ``a * sum|w| + b * sum w**2`` over weight matrices and kernels (parameters with 2 or
            more dimensions), the Keras way; ``"model"`` (default) uses ``model.regularization``
            when the model has one; ``None`` for none.
        early_stopping: ``None``, a patience (int) on ``monitor``, or an
            :class:`~emotionkit.training.EarlyStopping`.
        monitor: Metric that picks the best epoch: ``"val_acc"`` or ``"val_loss"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (under torchrun, ``cuda`` means
            ``cuda:LOCAL_RANK``).
        precision: ``"auto"`` (see :func:`emotionkit.runtime.resolve_precision`), ``"fp32"``,
            ``"bf16"`` or ``"fp16"`` (CUDA only, with a gradient scaler).
        channels_last: Use the NHWC memory format; ``None`` decides (on for conv nets).
        compile: Run the model through ``torch.compile``.
        seed: Seed of shuffling, dropout and augmentation.
        callbacks: :class:`~emotionkit.training.Callback` instances.
        restore_best: Load the best epoch's weights at the end (needs validation data).
        quiet: Print nothing.
        progress: Show a progress bar per epoch; ``None`` shows it when stderr is a terminal.
        out_dir: Directory for ``last.safetensors``, ``history.json`` and ``model.safetensors``.
        resume: ``True`` continues from ``out_dir/last.safetensors`` (which must exist);
            ``"auto"`` continues if it exists and starts afresh otherwise.
        eval_batch_size: Batch size for validation (default ``max(batch_size, 512)``).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        optimizer: str | torch.optim.Optimizer | Callable | None = None,
        lr: float | None = None,
        weight_decay: float | None = None,
        batch_size: int | None = None,
        epochs: int | None = None,
        scheduler: str | Any | None = None,
        augment: Any = None,
        label_smoothing: float | None = None,
        regularizers: Any = "model",
        early_stopping: int | EarlyStopping | None = None,
        monitor: str = "val_acc",
        device: str | torch.device = "auto",
        precision: str = "auto",
        channels_last: bool | None = None,
        compile: bool = False,
        seed: int = 0,
        callbacks: Sequence[Callback] = (),
        restore_best: bool = True,
        quiet: bool = False,
        progress: bool | None = None,
        out_dir: str | os.PathLike | None = None,
        resume: bool | str = False,
        eval_batch_size: int | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        settings = resolve_settings(
            model, optimizer=optimizer, lr=lr, weight_decay=weight_decay, batch_size=batch_size,
            epochs=epochs, scheduler=scheduler, augment=augment, label_smoothing=label_smoothing)
        optimizer, lr, weight_decay = (settings[k] for k in ("optimizer", "lr", "weight_decay"))
        batch_size, epochs, scheduler = (settings[k] for k in ("batch_size", "epochs", "scheduler"))
        augment, label_smoothing = settings["augment"], settings["label_smoothing"]
        if isinstance(optimizer, str) and optimizer.lower() not in OPTIMIZERS:
            raise ConfigError(unknown_name_message("optimizer", optimizer, OPTIMIZERS))
        if isinstance(scheduler, str) and scheduler.lower() not in SCHEDULERS:
            raise ConfigError(unknown_name_message("scheduler", scheduler, SCHEDULERS))
        for name, value, low in (("batch_size", batch_size, 1), ("epochs", epochs, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ConfigError(f"lr must be a number > 0, got {lr!r}")
        if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
            raise ConfigError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
        if not (isinstance(label_smoothing, (int, float)) and 0 <= label_smoothing < 1):
            raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if monitor not in MONITORS:
            raise ConfigError(unknown_name_message("monitor", str(monitor), MONITORS))
        if resume not in (True, False, "auto"):
            raise ConfigError(f"resume must be True, False or 'auto', got {resume!r}")
        if resume and out_dir is None:
            raise ConfigError("resume needs out_dir (the directory holding last.safetensors)")
        self.optimizer_spec = optimizer.lower() if isinstance(optimizer, str) else optimizer
        self.scheduler_spec = scheduler.lower() if isinstance(scheduler, str) else scheduler
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.batch_size, self.epochs = batch_size, epochs
        self.eval_batch_size = eval_batch_size or max(batch_size, 512)
        self.augment = _resolve_augment(augment)
        self.label_smoothing = float(label_smoothing)
        self.regularizers = _resolve_regularizers(regularizers, model)
        self.monitor = monitor
        self.seed = int(seed)
        self.restore_best = bool(restore_best)
        self.quiet = bool(quiet)
        self.progress = progress
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.resume = resume
        self.compile = bool(compile)
        self.callbacks: list[Callback] = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise ConfigError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        if early_stopping is not None and early_stopping is not False:
            if isinstance(early_stopping, EarlyStopping):
                self.callbacks.append(early_stopping)
            else:
                self.callbacks.append(EarlyStopping(monitor=monitor, patience=early_stopping))
        self.dist = distributed.detect()
        self.device = distributed.device_for(self.dist, resolve_device(device))
        self.precision = resolve_precision(precision, self.device)
        self.channels_last = resolve_channels_last(channels_last, model, self.device)
        # on a GPU, checking every loss would wait for the GPU at every batch: check in groups
        self._defer_checks = self.device.type == "cuda"
        from ..data.classes import CLASS_NAMES

        self.class_names = list(CLASS_NAMES)
        self.history = History(getattr(model, "emotionkit_name", None), monitor)
        self.should_stop = False
        self.epoch = 0  # completed epochs
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.augmenter: Any = None
        self.scaler: Any = None
        self._net: nn.Module = model
        self._batch_scheduler = False
        self._interrupted = False
        self._start_batch = 0
        self._partial: dict[str, Any] | None = None
        self._penalized: list[nn.Parameter] = []
        self._set_default_callbacks()

    # ------------------------------------------------------------------ public helpers
    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0 (prints and writes files)."""
        return self.dist.is_main

    @property
    def last_path(self) -> Path | None:
        """``out_dir/last.safetensors`` (the resume state), or None without out_dir."""
        return self.out_dir / LAST_NAME if self.out_dir is not None else None

    @property
    def options(self) -> dict[str, Any]:
        """The resolved settings in effect, JSON-ready (what ``run.json`` and checkpoints hold)."""
        return self.train_args()

    def train_args(self) -> dict[str, Any]:
        """The training settings as a JSON-ready dict (stored in checkpoints)."""
        return {
            "optimizer": _json_value(self.optimizer_spec), "lr": self.lr,
            "weight_decay": self.weight_decay, "batch_size": self.batch_size,
            "epochs": self.epochs, "scheduler": _json_value(self.scheduler_spec),
            "augment": _json_value(self.augment), "label_smoothing": self.label_smoothing,
            "regularizers": self.regularizers, "monitor": self.monitor,
            "device": str(self.device), "precision": self.precision.name,
            "channels_last": self.channels_last, "compile": self.compile, "seed": self.seed,
            "restore_best": self.restore_best, "world_size": self.dist.world_size,
            "callbacks": [type(cb).__name__ for cb in self.callbacks],
        }

    def regularization_penalty(self) -> torch.Tensor:
        """The weight penalty ``l1 * sum|w| + l2 * sum w**2`` (0 without regularizers).

        Returns:
            A 0-d tensor on the model's device that takes part in autograd.
        """
        if not self.regularizers:
            return torch.zeros((), device=self.device)
        params = self._penalized or [p for p in self.model.parameters()
                                     if p.requires_grad and p.ndim >= 2]
        l1, l2 = self.regularizers["l1"], self.regularizers["l2"]
        total = torch.zeros((), device=params[0].device) if params else torch.zeros(())
        for p in params:
            if l1:
                total = total + l1 * p.abs().sum()
            if l2:
                total = total + l2 * (p * p).sum()
        return total

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Training loss of a batch: cross-entropy (label smoothing) plus the weight penalty.

        Args:
            logits: (N, classes) model output.
            labels: (N,) int64 class indices.

        Returns:
            A 0-d tensor.
        """
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        if self.regularizers:
            loss = loss + self.regularization_penalty()
        return loss

    @torch.no_grad()
    def evaluate(self, data: Any) -> dict[str, float]:
        """Loss (plain cross-entropy) and accuracy of the model on labelled data.

        Args:
            data: A Dataset or an (images, labels) pair.

        Returns:
            ``{"loss": ..., "acc": ...}``.
        """
        x, y = _as_tensors(data, "evaluation", len(self.class_names))
        self.model.to(self.device)
        loss, acc = self._evaluate(_Split(x.to(self.device), y.to(self.device)))
        return {"loss": loss, "acc": acc}

    # ------------------------------------------------------------------ callbacks
    def _set_default_callbacks(self) -> None:
        """Fresh default callbacks (the best weights of a previous fit are forgotten)."""
        self._defaults: list[DefaultCallback] = default_callbacks()
        self._best: BestModel = next(cb for cb in self._defaults if isinstance(cb, BestModel))

    def _all_callbacks(self) -> list[Callback]:
        """Every callback in hook order: defaults that run first, the user's, the other defaults."""
        return [*(cb for cb in self._defaults if cb.runs_first), *self.callbacks,
                *(cb for cb in self._defaults if not cb.runs_first)]

    # ------------------------------------------------------------------ fit
    def fit(self, train: Any, val: Any = None) -> History:
        """Train the model.

        Args:
            train: Training data: an emotionkit Dataset (all of it is used; select a split with
                ``ds.split("Training")``) or an ``(images, labels)`` pair of tensors/arrays with
                images uint8 (0..255) or float (0..1), shape (N, 1, H, W) or (N, H, W).
            val: Optional validation data in the same forms.

        Returns:
            The :class:`History` (also ``trainer.history``).

        Raises:
            TrainingError: The loss became NaN or infinite (the last good checkpoint is kept).
            TrainingInterrupted: Ctrl-C; the resume state was saved first when out_dir is set.
            CheckpointError: ``resume`` was asked for but the state cannot be used.
        """
        created = distributed.setup(self.dist, self.device)
        try:
            return self._fit(train, val)
        finally:
            distributed.teardown(created)

    def _fit(self, train: Any, val: Any) -> History:
        self._prepare(train, val)
        resumed = resume_state.restore(self)
        for cb in self._all_callbacks():
            cb.on_train_begin(self, resumed=resumed)
        previous = self._install_sigint()
        try:
            while self.epoch < self.epochs and not self.should_stop:
                self._run_epoch(self.epoch + 1)
        finally:
            self._restore_sigint(previous)
        for cb in self._all_callbacks():
            cb.on_train_end(self)
        if self.restore_best and self._best.state is not None:
            self.model.load_state_dict(self._best.state)
        if self.channels_last:  # hand back a model in the ordinary memory format
            self.model.to(memory_format=torch.contiguous_format)
        if self.out_dir is not None and self.is_main:
            self.history.save(self.out_dir / HISTORY_NAME)
            save(self.model, self.out_dir / MODEL_NAME, history=self.history,
                 train_args=self.train_args(), class_names=self.class_names)
        distributed.barrier(self.dist)
        return self.history

    # ------------------------------------------------------------------ setup
    def _prepare(self, train: Any, val: Any) -> None:
        from ..models.layers import Normalize

        num_classes = len(self.class_names)
        x, y = _as_tensors(train, "training", num_classes)
        norm = getattr(self.model, "input_norm", None)
        if isinstance(norm, Normalize):
            mean, std = _pixel_stats(train, x)
            norm.set_stats(mean, std if std > 0 else 1.0)
        self._train = self._to_device(x, y)
        self._val = None
        if val is not None:
            self._val = self._to_device(*_as_tensors(val, "validation", num_classes))
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        model = self.model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self._penalized = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
        net = torch.compile(model) if self.compile else model
        self._net = distributed.wrap(net, self.dist, self.device)
        self._eval_net = net
        self.optimizer = self._make_optimizer()
        self.scheduler, self._batch_scheduler = self._make_scheduler(self._steps_per_epoch())
        self.scaler = self.precision.make_scaler()
        self.augmenter = None
        if self.augment is not None:
            from ..data.augment import Augmenter

            self.augmenter = Augmenter(self.augment, seed=self.seed + self.dist.rank)
        self.history = History(getattr(self.model, "emotionkit_name", None), self.monitor)
        self.epoch, self.should_stop, self._interrupted = 0, False, False
        self._start_batch, self._partial = 0, None
        self._set_default_callbacks()
        torch.manual_seed(self.seed + self.dist.rank)
        np.random.seed((self.seed + self.dist.rank) & 0xFFFFFFFF)
        random.seed(self.seed + self.dist.rank)

    def _to_device(self, x: torch.Tensor, y: torch.Tensor) -> _Split:
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
            y = y.pin_memory().to(self.device, non_blocking=True)
        else:
            x, y = x.to(self.device), y.to(self.device)
        return _Split(x, y)

    def _shard_size(self) -> int:
        n, w = len(self._train), self.dist.world_size
        return -(-n // w)

    def _steps_per_epoch(self) -> int:
        m, bs = self._shard_size(), self.batch_size
        steps = -(-m // bs)
        if m % bs == 1 and m > 1:  # a last batch of one image would break BatchNorm: drop it
            steps -= 1
        return steps

    def _make_optimizer(self) -> torch.optim.Optimizer:
        spec = self.optimizer_spec
        if isinstance(spec, torch.optim.Optimizer):
            return spec
        params = [p for p in self.model.parameters() if p.requires_grad]
        if callable(spec) and not isinstance(spec, str):
            return spec(params)
        if spec == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if spec == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(params, lr=self.lr, momentum=0.9, nesterov=True,
                               weight_decay=self.weight_decay)

    def _make_scheduler(self, steps: int) -> tuple[Any, bool]:
        spec, opt = self.scheduler_spec, self.optimizer
        if spec is None or spec == "none":
            return None, False
        total = max(1, steps * self.epochs)
        if spec == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total), True
        if spec == "onecycle":
            return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=total), True
        if spec == "plateau":
            metric = self._plateau_metric()
            mode = "min" if metric.endswith("loss") else "max"
            return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, factor=0.5,
                                                              patience=3), False
        if callable(spec) and not hasattr(spec, "step"):
            return spec(opt), False
        if hasattr(spec, "step"):
            return spec, False
        raise ConfigError(f"scheduler must be a name, a scheduler or a function, got {spec!r}")

    def _plateau_metric(self) -> str:
        return self.monitor if self._val is not None or self.monitor.startswith("train") \
            else "train_loss"

    # ------------------------------------------------------------------ one epoch
    def _run_epoch(self, epoch: int) -> None:
        env, dev = self.dist, self.device
        try:
            for cb in self._all_callbacks():
                cb.on_epoch_begin(self, epoch=epoch)
            self._net.train()
            idx = distributed.shard(epoch_permutation(len(self._train), self.seed, epoch), env)
            idx = idx.to(dev)
            bs, steps = self.batch_size, self._steps_per_epoch()
            start, partial = self._start_batch, self._partial or {}
            acc_dtype = torch.float32 if dev.type == "mps" else torch.float64
            loss_sum = torch.tensor(float(partial.get("loss_sum", 0.0)), dtype=acc_dtype,
                                    device=dev)
            correct = torch.tensor(int(partial.get("correct", 0)), dtype=torch.int64, device=dev)
            count = int(partial.get("count", 0))
            seconds_before = float(partial.get("seconds", 0.0))
            lr_start = float(partial.get("lr", self.optimizer.param_groups[0]["lr"]))
            deferred = self._defer_checks and not env.is_distributed
            pending: list[tuple[int, torch.Tensor]] = []
            t0 = time.perf_counter()
            for b in range(start, steps):
                bi = idx[b * bs:(b + 1) * bs]
                xb, yb = self._train.batch(bi)
                if self.augmenter is not None:
                    xb = self.augmenter(xb)
                if self.channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with self.precision.autocast():
                    logits = self._net(xb)
                loss = self.compute_loss(logits, yb)
                if env.is_distributed:
                    if distributed.any_rank(not bool(torch.isfinite(loss)), env, dev):
                        self._nonfinite(epoch, b, steps, loss)
                elif deferred:
                    pending.append((b, loss.detach()))
                    if len(pending) >= 16:
                        self._check_pending(pending, epoch, steps)
                elif not bool(torch.isfinite(loss)):
                    self._nonfinite(epoch, b, steps, loss)
                self.optimizer.zero_grad(set_to_none=True)
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    loss.backward()
                    self.optimizer.step()
                if self._batch_scheduler:
                    self.scheduler.step()
                n_b = len(bi)
                loss_sum += loss.detach().to(acc_dtype) * n_b
                correct += (logits.detach().argmax(1) == yb).sum()
                count += n_b
                for cb in self._all_callbacks():
                    cb.on_batch_end(self, epoch=epoch, batch=b, loss=loss.detach())
                if self._interrupted:
                    self._check_pending(pending, epoch, steps)
                    partial = {"batch": b + 1, "loss_sum": float(loss_sum),
                               "correct": int(correct), "count": count, "lr": lr_start,
                               "seconds": seconds_before + time.perf_counter() - t0}
                    self._on_interrupt(epoch, partial, steps)
            self._check_pending(pending, epoch, steps)
        finally:
            for cb in self._defaults:
                cb.on_batches_end(self, epoch=epoch)
        sums = torch.stack([loss_sum.to(acc_dtype),
                            correct.to(acc_dtype),
                            torch.tensor(float(count), dtype=acc_dtype, device=dev)])
        sums = distributed.all_reduce_sum(sums, env).tolist()
        distributed.broadcast_buffers(self.model, env)
        val_loss = val_acc = None
        if self._val is not None:
            val_loss, val_acc = self._evaluate(self._val)
        record = {"epoch": epoch, "train_loss": sums[0] / sums[2], "train_acc": sums[1] / sums[2],
                  "val_loss": val_loss, "val_acc": val_acc, "lr": lr_start,
                  "seconds": seconds_before + time.perf_counter() - t0}
        self.history.append(record)
        self._step_epoch_scheduler(record)
        for cb in self._all_callbacks():  # BestModel first: it marks the best epoch
            cb.on_epoch_end(self, epoch=epoch, record=record)
        self.should_stop = distributed.any_rank(self.should_stop, env, dev)
        self.epoch, self._start_batch, self._partial = epoch, 0, None
        if self.out_dir is not None:
            resume_state.write(self, None)
            if self.is_main:
                self.history.save(self.out_dir / HISTORY_NAME)
        for cb in self._defaults:
            cb.on_epoch_saved(self, epoch=epoch, record=record)
        if self._interrupted:
            self._on_interrupt(epoch, None, steps)

    def _step_epoch_scheduler(self, record: dict[str, Any]) -> None:
        if self.scheduler is None or self._batch_scheduler:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            metric = record.get(self._plateau_metric())
            if metric is None:
                metric = record["train_loss"]
            self.scheduler.step(metric)
        else:
            self.scheduler.step()

    @torch.no_grad()
    def _evaluate(self, split: _Split) -> tuple[float, float]:
        env, dev = self.dist, self.device
        net = getattr(self, "_eval_net", self.model)
        n = len(split)
        idx = torch.arange(env.rank, n, env.world_size, device=dev)
        acc_dtype = torch.float32 if dev.type == "mps" else torch.float64
        sums = torch.zeros(3, dtype=acc_dtype, device=dev)
        with eval_mode(net):
            for bi in torch.split(idx, self.eval_batch_size):
                xb, yb = split.batch(bi)
                if self.channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                logits = net(xb).float()  # no autocast: fp32, as the Evaluator computes it
                sums[0] += F.cross_entropy(logits, yb, reduction="sum").to(acc_dtype)
                sums[1] += (logits.argmax(1) == yb).sum().to(acc_dtype)
                sums[2] += len(bi)
        sums = distributed.all_reduce_sum(sums, env).tolist()
        return sums[0] / sums[2], sums[1] / sums[2]

    # ------------------------------------------------------------------ failures
    def _check_pending(self, pending: list[tuple[int, torch.Tensor]], epoch: int,
                       steps: int) -> None:
        if not pending:
            return
        losses = torch.stack([loss for _, loss in pending])
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            first = int((~finite).nonzero()[0])
            self._nonfinite(epoch, pending[first][0], steps, pending[first][1])
        pending.clear()

    def _nonfinite(self, epoch: int, batch: int, steps: int, loss: torch.Tensor) -> None:
        last = self.last_path
        if last is not None and self.epoch > 0:
            kept = f"the last good checkpoint is {last} (epoch {self.epoch})"
        else:
            kept = "no checkpoint was written" + ("" if last is not None else " (no out_dir)")
        raise TrainingError(
            f"training loss became {float(loss.detach())} at epoch {epoch}, "
            f"batch {batch + 1}/{steps}; "
            f"{kept}. Try a lower learning rate, precision='fp32' or gradient-friendlier settings"
        )

    def _install_sigint(self) -> Any:
        self._interrupted = False
        if self.dist.is_distributed or threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum: int, frame: Any) -> None:
            if self._interrupted:
                raise KeyboardInterrupt
            self._interrupted = True
            if not self.quiet:
                print("\nInterrupted: stopping after this batch (Ctrl-C again to abort now)",
                      file=sys.stderr)

        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, handler)
        return previous if previous is not None else signal.default_int_handler

    @staticmethod
    def _restore_sigint(previous: Any) -> None:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    def _on_interrupt(self, epoch: int, partial: dict[str, Any] | None, steps: int) -> None:
        where = (f"epoch {epoch}, batch {partial['batch']}/{steps}" if partial
                 else f"the end of epoch {epoch}")
        if self.out_dir is None:
            raise TrainingInterrupted(f"training interrupted at {where}; nothing saved (no "
                                      "out_dir)")
        if partial is not None:
            resume_state.write(self, partial)
        raise TrainingInterrupted(
            f"training interrupted at {where}; resume state saved to {self.last_path}",
            self.last_path)


__all__ = ["Trainer", "TrainingInterrupted", "epoch_permutation", "OPTIMIZERS", "SCHEDULERS"]
