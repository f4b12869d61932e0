"""The per-epoch training record and its JSON form.

JSON layout (``history.json`` in a run directory, and :meth:`History.to_dict`)::

    {"model_name": "compact",
     "epochs": [{"epoch": 1, "train_loss": 1.7, "train_acc": 0.31, "val_loss": 1.6,
                 "val_acc": 0.38, "lr": 0.001, "seconds": 12.5}, ...],
     "best_epoch": 7, "monitor": "val_acc"}

``val_loss`` / ``val_acc`` are ``null`` when there is no validation data, and ``best_epoch`` is
``null`` until a monitored value exists.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from typing import Any

from .._io import atomic_write_json, atomic_write_with
from ..errors import CheckpointError

EPOCH_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
MONITORS = ("val_acc", "val_loss", "train_acc", "train_loss")


class History:
    """What happened in each epoch of a training run.

    Args:
        model_name: Name of the trained model (``None`` for a model outside the zoo).
        monitor: The metric that picks the best epoch (``"val_acc"`` by default).
        epochs: Existing epoch records (dicts with :data:`EPOCH_FIELDS`).
        best_epoch: The best epoch so far (1-based), or ``None``.
    """

    def __init__(
        self,
        model_name: str | None = None,
        monitor: str = "val_acc",
        epochs: list[dict[str, Any]] | None = None,
        best_epoch: int | None = None,
    ) -> None:
        if monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {', '.join(MONITORS)}, got {monitor!r}")
        self.model_name = model_name
        self.monitor = monitor
        self.epochs: list[dict[str, Any]] = [dict(e) for e in (epochs or [])]
        self.best_epoch = best_epoch

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.epochs)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.epochs)

    def __getitem__(self, key: str | int) -> Any:
        """``history["val_acc"]`` -> list over epochs; ``history[-1]`` -> one epoch record."""
        if isinstance(key, str):
            if key not in EPOCH_FIELDS:
                raise KeyError(f"unknown history field {key!r}; fields: {', '.join(EPOCH_FIELDS)}")
            return [e.get(key) for e in self.epochs]
        return self.epochs[key]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (f"History(model_name={self.model_name!r}, epochs={len(self)}, "
                f"best_epoch={self.best_epoch}, monitor={self.monitor!r})")

    @property
    def best(self) -> dict[str, Any] | None:
        """The record of the best epoch, or ``None``."""
        if self.best_epoch is None:
            return None
        return self.epochs[self.best_epoch - 1]

    def append(self, record: dict[str, Any]) -> None:
        """Add one epoch record (missing fields become ``None``).

        Args:
            record: The epoch's values; ``epoch`` must be the next epoch number.
        """
        rec = {k: record.get(k) for k in EPOCH_FIELDS}
        if rec["epoch"] != len(self.epochs) + 1:
            raise ValueError(f"expected epoch {len(self.epochs) + 1}, got {rec['epoch']}")
        self.epochs.append(rec)

    def improved(self, value: float | None, min_delta: float = 0.0) -> bool:
        """Whether ``value`` of :attr:`monitor` beats the best epoch by more than ``min_delta``."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        best = self.best
        if best is None or best.get(self.monitor) is None:
            return True
        ref = best[self.monitor]
        return value < ref - min_delta if self.monitor.endswith("loss") else value > ref + min_delta

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The history as the JSON-ready dict described in the module docstring."""
        return {
            "model_name": self.model_name,
            "epochs": [dict(e) for e in self.epochs],
            "best_epoch": self.best_epoch,
            "monitor": self.monitor,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Rebuild a history from :meth:`to_dict` output.

        Args:
            data: The dict.

        Returns:
            The history.

        Raises:
            CheckpointError: If the dict does not have the history layout.
        """
        if not isinstance(data, dict) or not isinstance(data.get("epochs"), list):
            raise CheckpointError("history data must be a dict with an 'epochs' list")
        try:
            return cls(
                model_name=data.get("model_name"),
                monitor=data.get("monitor", "val_acc"),
                epochs=data["epochs"],
                best_epoch=data.get("best_epoch"),
            )
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"invalid history data: {exc}") from exc

    def save(self, path: str | os.PathLike) -> None:
        """Write the history as JSON, atomically.

        Args:
            path: Destination (conventionally ``history.json``).
        """
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Read a history written by :meth:`save`.

        Args:
            path: A ``history.json`` file.

        Returns:
            The history.

        Raises:
            CheckpointError: If the file is missing or not a history.
        """
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise CheckpointError(f"{path}: history file not found") from None
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a JSON history file ({exc})") from None
        return cls.from_dict(data)

    def plot(self, path: str | os.PathLike, title: str | None = None) -> None:
        """Save loss and accuracy curves (train vs validation) as a PNG, atomically.

        Args:
            path: Destination PNG.
            title: Figure title (default: the model name).
        """
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
        from matplotlib.ticker import MaxNLocator

        fig = Figure(figsize=(10, 4), dpi=100)
        epochs = self["epoch"]
        for ax, metric, label in zip(fig.subplots(1, 2), ("loss", "acc"), ("loss", "accuracy"),
                                     strict=True):
            # train dashed, validation solid: as evaluation.plot_training_curves draws them
            for split, style in (("train", "--"), ("val", "-")):
                values = self[f"{split}_{metric}"]
                pts = [(e, v) for e, v in zip(epochs, values, strict=True) if v is not None]
                if pts:
                    ax.plot(*zip(*pts, strict=True), style, marker="o", markersize=3,
                            label="validation" if split == "val" else "train")
            if self.best_epoch is not None:
                ax.axvline(self.best_epoch, color="grey", linewidth=0.8, linestyle=":",
                           label=f"best (epoch {self.best_epoch})")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
        fig.suptitle(title if title is not None else (self.model_name or "training"))
        fig.tight_layout()
        atomic_write_with(path, lambda fh: fig.savefig(fh, format="png"))


__all__ = ["History", "EPOCH_FIELDS", "MONITORS"]
