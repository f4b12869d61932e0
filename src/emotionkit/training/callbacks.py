"""Training callbacks in the skorch/Lightning manner.

A callback overrides any of the no-op hooks below; every hook gets the trainer and keyword
arguments (accept ``**kwargs`` so that new arguments never break a callback). To stop training,
set ``trainer.should_stop = True``; the trainer finishes the epoch and returns normally. A
callback with state (counters, best values) exposes it through :meth:`Callback.state_dict` /
:meth:`Callback.load_state_dict`, so ``resume=True`` restores it exactly.

Hook order: ``on_train_begin`` -> per epoch ``on_epoch_begin``, ``on_batch_end`` (after every
optimizer step), ``on_epoch_end`` (after validation, with the epoch's record) -> ``on_train_end``.

The Trainer adds three callbacks of its own around yours (they are not in ``trainer.callbacks``,
``trainer.options`` or the resume state's callback list): ``BestModel`` runs before yours, so
that ``on_epoch_end`` sees ``trainer.history.best_epoch`` already set; ``ProgressBar`` and
``EpochLog`` run after yours and show what happened.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from ..errors import ConfigError
from .history import MONITORS


class Callback:
    """Base class: every hook does nothing."""

    def on_train_begin(self, trainer: Any, **kwargs: Any) -> None:
        """Called once before the first epoch (also after resuming)."""

    def on_epoch_begin(self, trainer: Any, epoch: int, **kwargs: Any) -> None:
        """Called before each epoch; ``epoch`` is 1-based."""

    def on_batch_end(self, trainer: Any, epoch: int, batch: int, loss: Any, **kwargs: Any) -> None:
        """Called after each optimizer step; ``batch`` is 0-based, ``loss`` a 0-d tensor."""

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any], **kwargs: Any) -> None:
        """Called after each epoch with its history record (train/val loss and accuracy, ...)."""

    def on_train_end(self, trainer: Any, **kwargs: Any) -> None:
        """Called once after the last epoch (not when training fails)."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state to put in resume checkpoints (tensors are allowed too)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class EarlyStopping(Callback):
    """Stop when the monitored metric has not improved for ``patience`` epochs.

    Args:
        monitor: ``"val_acc"`` (higher is better) or ``"val_loss"`` (lower is better); the
            ``train_*`` metrics are accepted for runs without validation data.
        patience: Epochs without improvement before stopping (>= 1).
        min_delta: The least change that counts as an improvement.
    """

    def __init__(self, monitor: str = "val_acc", patience: int = 5, min_delta: float = 0.0) -> None:
        if monitor not in MONITORS:
            raise ConfigError(f"early stopping monitor must be one of {', '.join(MONITORS)}, "
                              f"got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ConfigError(f"early stopping patience must be an integer >= 1, got {patience!r}")
        if not min_delta >= 0:
            raise ConfigError(f"early stopping min_delta must be >= 0, got {min_delta!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.monitor.endswith("loss"):
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any], **kwargs: Any) -> None:
        value = record.get(self.monitor)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise ConfigError(f"early stopping monitors {self.monitor!r}, which this run does not "
                              "record (no validation data?)")
        if self._better(value):
            self.best = float(value)
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best")
        self.wait = int(state.get("wait", 0))
        self.stopped_epoch = state.get("stopped_epoch")

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta})")


class LambdaCallback(Callback):
    """A callback made of plain functions, handy in scripts and tests.

    Args:
        **hooks: Functions keyed by hook name (``on_epoch_end=lambda trainer, **kw: ...``).
    """

    _HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end")

    def __init__(self, **hooks: Any) -> None:
        unknown = sorted(set(hooks) - set(self._HOOKS))
        if unknown:
            raise ConfigError(f"unknown callback hook(s) {', '.join(unknown)}; "
                              f"hooks: {', '.join(self._HOOKS)}")
        for name, fn in hooks.items():
            setattr(self, name, _bind(fn))


class DefaultCallback(Callback):
    """A callback the Trainer adds itself.

    Besides the public hooks it gets two that mark points no public hook does:
    :meth:`on_batches_end` and :meth:`on_epoch_saved`.
    """

    #: Whether it runs before the user's callbacks (else after them).
    runs_first = False

    def on_batches_end(self, trainer: Any, epoch: int, **kwargs: Any) -> None:
        """Called when the epoch's batches are done, also when they end with an exception
        (Ctrl-C, a NaN loss, a failing callback); before validation."""

    def on_epoch_saved(self, trainer: Any, epoch: int, record: dict[str, Any],
                       **kwargs: Any) -> None:
        """Called at the very end of each epoch, after ``last.safetensors`` and
        ``history.json`` are written (when there is an ``out_dir``)."""


class BestModel(DefaultCallback):
    """Mark the best epoch in the history and keep a copy of its weights.

    The best epoch is the one whose ``trainer.monitor`` value improves on all before it
    (:meth:`~emotionkit.training.History.improved`). Its weights are kept when the monitored
    metric is measured (validation data, or a ``train_*`` monitor); the Trainer saves them in
    the resume state and loads them at the end when ``restore_best``.
    """

    runs_first = True

    def __init__(self) -> None:
        #: The best epoch's state dict (cloned tensors on the training device), or ``None``.
        self.state: dict[str, Any] | None = None

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any], **kwargs: Any) -> None:
        if trainer.history.improved(record.get(trainer.monitor)):
            trainer.history.best_epoch = epoch
            if record.get("val_loss") is not None or trainer.monitor.startswith("train"):
                self.state = {k: v.detach().clone()
                              for k, v in trainer.model.state_dict().items()}


def _shows_progress(trainer: Any) -> bool:
    if trainer.quiet or not trainer.is_main:
        return False
    if trainer.progress is not None:
        return bool(trainer.progress)
    return sys.stderr.isatty()


class ProgressBar(DefaultCallback):
    """A tqdm bar per epoch on stderr, counting images (``progress=``; off when ``quiet``, on
    ranks other than 0, and by default when stderr is not a terminal)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.total = 0

    def on_epoch_begin(self, trainer: Any, epoch: int, **kwargs: Any) -> None:
        if not _shows_progress(trainer):
            return
        from tqdm import tqdm

        bs = trainer.batch_size
        self.total = min(trainer._shard_size(), trainer._steps_per_epoch() * bs)
        self.bar = tqdm(total=self.total, initial=trainer._start_batch * bs,
                        desc=f"epoch {epoch}/{trainer.epochs}", unit="img", leave=False,
                        file=sys.stderr, dynamic_ncols=True)

    def on_batch_end(self, trainer: Any, epoch: int, batch: int, loss: Any, **kwargs: Any) -> None:
        if self.bar is None:
            return
        bs = trainer.batch_size
        self.bar.update(min(bs, self.total - batch * bs))
        if batch % 10 == 0:
            self.bar.set_postfix(loss=f"{float(loss):.4f}", refresh=False)

    def on_batches_end(self, trainer: Any, epoch: int, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class EpochLog(DefaultCallback):
    """One line per epoch on stderr (losses, accuracies, learning rate, seconds; ``*`` marks a
    new best epoch), off when ``quiet`` and on ranks other than 0."""

    def on_epoch_saved(self, trainer: Any, epoch: int, record: dict[str, Any],
                       **kwargs: Any) -> None:
        if trainer.quiet or not trainer.is_main:
            return
        r = record
        val = (f"  val_loss {r['val_loss']:.4f} val_acc {r['val_acc']:.4f}"
               if r["val_loss"] is not None else "")
        best = (" *" if trainer.history.best_epoch == r["epoch"] and r["val_loss"] is not None
                else "")
        line = (f"epoch {r['epoch']}/{trainer.epochs}  train_loss {r['train_loss']:.4f} "
                f"train_acc {r['train_acc']:.4f}{val}  lr {r['lr']:.3g}  {r['seconds']:.1f}s{best}")
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)


def default_callbacks() -> list[DefaultCallback]:
    """A fresh set of the Trainer's own callbacks: :class:`BestModel`, :class:`ProgressBar`,
    :class:`EpochLog`."""
    return [BestModel(), ProgressBar(), EpochLog()]


def _bind(fn: Any) -> Any:
    def hook(trainer: Any, *args: Any, **kwargs: Any) -> None:
        fn(trainer, *args, **kwargs)

    return hook


__all__ = ["Callback", "EarlyStopping", "LambdaCallback"]
