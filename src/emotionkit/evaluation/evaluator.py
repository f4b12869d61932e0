""":class:`Evaluator`: batched, streaming predictions and metrics of a model or an ensemble.

::

    from emotionkit import Dataset, load
    from emotionkit.evaluation import Evaluator
    data = Dataset.load("fer2013.csv.gz")
    result = Evaluator(load("runs/compact/model.safetensors")).evaluate(
        data, split="PublicTest", tta="flip", train=data.split("Training"))
    print(result.summary())

Images travel to the device as uint8 in chunks and become floats there; each chunk (with all of
its TTA views) is one forward pass under :func:`torch.inference_mode` with the model in eval
mode; the probabilities are the only thing brought back. There is no per-image Python work.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from .._modes import eval_mode  # noqa: F401  (also re-exported here)
from ..data.classes import CLASS_NAMES, NUM_CLASSES
from ..errors import ConfigError
from ..runtime import resolve_channels_last, resolve_device, resolve_precision
from .leakage import train_overlap
from .result import EvaluationResult
from .tta import average_views, check_mode, make_views, n_views

IMAGE_SIZE = 48


def model_name_of(model: nn.Module) -> str:
    """A display name: checkpoint metadata, then the zoo name, then the class name."""
    meta = getattr(model, "emotionkit_meta", None)
    if isinstance(meta, dict) and meta.get("model_name"):
        return str(meta["model_name"])
    return str(getattr(model, "emotionkit_name", None) or type(model).__name__)


def _as_images(images: Any) -> np.ndarray | torch.Tensor:
    """Validate prediction input; return uint8 numpy (N, 48, 48) or a float tensor (N, 1, 48, 48).

    Accepts a :class:`~emotionkit.data.Dataset`, uint8 arrays/tensors (N, 48, 48) or
    (N, 1, 48, 48) on the 0..255 scale, and float arrays/tensors of those shapes in [0, 1].
    """
    if hasattr(images, "images") and hasattr(images, "splits"):  # a Dataset
        return images.images
    if isinstance(images, np.ndarray):
        if images.dtype == np.uint8:
            arr = images
        else:
            images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
            arr = None
    elif isinstance(images, torch.Tensor):
        arr = images.cpu().numpy() if images.dtype == torch.uint8 else None
    else:
        raise ConfigError(f"cannot predict on a {type(images).__name__}: pass a Dataset, a uint8 "
                          "array (N, 48, 48) or a float tensor (N, 1, 48, 48) in [0, 1]")
    x = arr if arr is not None else images
    shape = tuple(x.shape)
    if len(shape) == 4 and shape[1] == 1:
        x = x[:, 0] if arr is not None else x
    elif len(shape) == 3 and arr is None:
        x = x.unsqueeze(1)
    if (len(shape) not in (3, 4) or shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE)
            or (len(shape) == 4 and shape[1] != 1)):
        raise ConfigError(f"images must have shape (N, 48, 48) or (N, 1, 48, 48), got {shape}")
    if arr is None and x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-6 or hi > 1.0 + 1e-6:
            hint = "; they look like 0..255 values: divide by 255" if hi > 1.5 else ""
            raise ConfigError(f"float images must be in [0, 1], got values in [{lo:.4g}, "
                              f"{hi:.4g}]{hint}")
    return x


class Evaluator:
    """Predict with a model (or an :class:`~emotionkit.training.Ensemble`) and score it.

    Args:
        model: Any module mapping (N, 1, 48, 48) images in [0, 1] to (N, 7) logits (or, as an
            Ensemble does, log-probabilities). It is moved to ``device``; its train/eval flags are
            left as they were after every call.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        batch_size: Model inputs per forward pass. With TTA each pass holds
            ``batch_size // views`` images with all their views.
        progress: Show a progress bar on stderr; ``None`` shows it only on a terminal.
        precision: ``"fp32"`` (default: exact metrics), or ``"bf16"`` / ``"fp16"`` / ``"auto"``
            autocast for speed, resolved by :func:`emotionkit.runtime.resolve_precision` like
            everywhere else (fp16 on CUDA only; bf16 is fast on GPUs and on CPUs with AVX-512
            BF16/AMX).
        channels_last: Run convolutions in the NHWC memory format (``None``: on for models
            with 2-D convolutions, :func:`emotionkit.runtime.resolve_channels_last`; about 1.4x
            faster on CPU). Converts the model's 4-D weights in place; the values are
            unchanged.
    """

    def __init__(
        self,
        model: nn.Module,
        device: str | torch.device = "auto",
        batch_size: int = 512,
        progress: bool | None = None,
        precision: str = "fp32",
        channels_last: bool | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ConfigError(f"Evaluator needs a torch.nn.Module, got {type(model).__name__}")
        self.device = resolve_device(device)
        self.batch_size = self._check_batch(batch_size)
        self.progress = progress
        self._precision = resolve_precision(precision, self.device)
        self.precision = self._precision.name
        self.channels_last = resolve_channels_last(channels_last, model, self.device)
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model_name = model_name_of(model)
        floats = [p.dtype for p in model.parameters() if p.is_floating_point()]
        self._dtype = floats[0] if floats else torch.float32

    @staticmethod
    def _check_batch(batch_size: Any) -> int:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        return int(batch_size)

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, images: Any, tta: str = "none",
                      batch_size: int | None = None) -> np.ndarray:
        """Class probabilities of each image (averaged over the TTA views).

        Args:
            images: A Dataset, uint8 (N, 48, 48) / (N, 1, 48, 48) on 0..255, or float
                (N, 1, 48, 48) in [0, 1] (numpy or torch).
            tta: ``"none"``, ``"flip"`` or ``"tencrop"`` (see :mod:`emotionkit.evaluation.tta`).
            batch_size: Overrides the evaluator's batch size.

        Returns:
            float32 (N, 7); rows sum to one.
        """
        return self._predict(images, tta, batch_size)[0]

    def predict(self, images: Any, tta: str = "none", batch_size: int | None = None) -> np.ndarray:
        """Predicted class of each image (argmax of :meth:`predict_proba`).

        Args:
            images: As for :meth:`predict_proba`.
            tta: As for :meth:`predict_proba`.
            batch_size: As for :meth:`predict_proba`.

        Returns:
            int64 (N,) labels in FER2013 order.
        """
        return self.predict_proba(images, tta, batch_size).argmax(axis=1)

    def _predict(self, images: Any, tta: str, batch_size: int | None) -> tuple[np.ndarray, float]:
        from tqdm.auto import tqdm

        mode = check_mode(tta)
        bs = self.batch_size if batch_size is None else self._check_batch(batch_size)
        x = _as_images(images)
        n = len(x)
        per_chunk = max(1, bs // n_views(mode))
        out = torch.empty((n, NUM_CLASSES), dtype=torch.float32)
        dev = self.device
        bar = tqdm(total=n, unit="img", desc=f"evaluating ({mode})", file=sys.stderr,
                   leave=False, disable=(None if self.progress is None else not self.progress)
                   if n > per_chunk else True)
        t0 = time.perf_counter()
        with eval_mode(self.model), torch.inference_mode(), bar, self._autocast():
            for start in range(0, n, per_chunk):
                chunk = x[start:start + per_chunk]
                if isinstance(chunk, np.ndarray):  # uint8: 4x fewer bytes to move, convert there
                    xb = torch.from_numpy(np.ascontiguousarray(chunk)).to(dev, non_blocking=True)
                    xb = xb.unsqueeze(1).to(self._dtype).div_(255.0)
                else:
                    xb = chunk.to(dev, self._dtype, non_blocking=True)
                views = make_views(xb, mode)
                if self.channels_last:
                    views = views.contiguous(memory_format=torch.channels_last)
                logits = self.model(views)
                if start == 0:
                    self._check_output(logits, len(views))
                probs = torch.softmax(logits.float(), dim=1)
                out[start:start + len(xb)] = average_views(probs, len(xb)).cpu()
                bar.update(len(xb))
        seconds = time.perf_counter() - t0
        return out.numpy(), seconds

    def _autocast(self) -> contextlib.AbstractContextManager:
        return self._precision.autocast()

    def _check_output(self, logits: Any, n: int) -> None:
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (n, NUM_CLASSES):
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ConfigError(f"model {self.model_name!r} returned {got} for {n} images; "
                              f"emotionkit evaluates {NUM_CLASSES}-class models, which must "
                              f"return ({n}, {NUM_CLASSES}) logits")

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self,
        dataset: Any,
        split: str | None = None,
        tta: str = "none",
        batch_size: int | None = None,
        train: Any = None,
    ) -> EvaluationResult:
        """Predict on a dataset and compute every metric.

        Args:
            dataset: A :class:`~emotionkit.data.Dataset` or anything ``Dataset.load`` reads (a
                path, ``"synthetic:N"``).
            split: Evaluate only this split (e.g. ``"PublicTest"``); ``None`` for all images.
            tta: ``"none"``, ``"flip"`` or ``"tencrop"``.
            batch_size: Overrides the evaluator's batch size.
            train: Optional training data (a Dataset or a path) for leakage-aware scores: test
                images with an exact byte copy in it are counted and left out of
                ``result.clean_accuracy``. When it holds a ``Training`` split besides others (the
                full FER2013 file), only that split is used.

        Returns:
            An :class:`~emotionkit.evaluation.EvaluationResult`; for unlabeled data its metrics
            are ``None`` and ``result.note`` says why.

        Raises:
            ConfigError: The selection is empty or the model output has the wrong shape.
            UnknownNameError: ``split`` is not in the dataset.
        """
        mode = check_mode(tta)
        ds = _as_dataset(dataset)
        if split is not None:
            ds = ds.split(split)
        if len(ds) == 0:
            raise ConfigError(f"{ds.source}: no images to evaluate"
                              + (f" in split {split!r}" if split else ""))
        probabilities, seconds = self._predict(ds.images, mode, batch_size)
        overlap, train_source, train_n = None, None, None
        if train is not None:
            tr = _training_part(_as_dataset(train))
            overlap = train_overlap(ds.images, tr.images, ds.labels, tr.labels)
            train_source, train_n = tr.source, len(tr)
        return EvaluationResult(
            probabilities=probabilities, labels=ds.labels, tta=mode,
            split=split if split is None else _split_name(ds, split), source=ds.source,
            model_name=self.model_name, ids=ds.ids,
            in_train=None if overlap is None else overlap.in_train,
            conflicting=None if overlap is None else overlap.conflicting,
            train_source=train_source, train_images=train_n, seconds=seconds,
            class_names=CLASS_NAMES,
        )


def _as_dataset(data: Any) -> Any:
    from ..data import Dataset

    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return Dataset.load(data)
    raise ConfigError(f"expected a Dataset or a data path, got {type(data).__name__}")


def _training_part(ds: Any) -> Any:
    names = ds.split_names
    return ds.split("Training") if "Training" in names and len(names) > 1 else ds


def _split_name(ds: Any, asked: str) -> str:
    names = ds.split_names
    return names[0] if len(names) == 1 else asked


__all__ = ["Evaluator", "eval_mode", "model_name_of"]
