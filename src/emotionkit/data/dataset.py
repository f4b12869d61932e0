"""The :class:`Dataset` container: uint8 48x48 faces, optional labels, and a split name per image."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataFormatError, UnknownNameError
from .._names import unknown_name_message
from .classes import CLASS_NAMES, DISPLAY_NAMES, NUM_CLASSES

IMAGE_SIZE = 48


class Dataset(torch.utils.data.Dataset):
    """Facial-expression images with labels and split names.

    Images are always uint8 arrays of shape (N, 48, 48); labels are int64 in 0..6 (FER2013
    order, see :mod:`emotionkit.data.classes`) or ``None`` for unlabeled data; ``splits`` holds one
    split name per image (e.g. ``"Training"``, ``"PublicTest"``).

    Indexing with an int returns ``(image_tensor, label)`` (the torch Dataset protocol: a float
    tensor (1, 48, 48) in [0, 1] and an int label, -1 when unlabeled); indexing with a slice, an
    index array or a boolean mask returns a new :class:`Dataset`.

    Args:
        images: uint8 array (N, 48, 48).
        labels: int array (N,) in 0..6, or ``None``.
        splits: split name per image, one name for all, or ``None`` (all ``"Training"``).
        source: Where the data came from (a path or ``"synthetic"``), for messages.
        ids: Optional per-image identifiers (e.g. CSV line numbers or file paths).
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray | None = None,
        splits: np.ndarray | Sequence[str] | str | None = None,
        *,
        source: str = "<memory>",
        ids: np.ndarray | Sequence | None = None,
    ) -> None:
        images = np.asarray(images)
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataFormatError(
                f"{source}: images must have shape (N, 48, 48), got {tuple(images.shape)}"
            )
        if images.dtype != np.uint8:
            raise DataFormatError(f"{source}: images must be uint8, got {images.dtype}")
        n = len(images)
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (n,):
                raise DataFormatError(
                    f"{source}: {labels.shape[0] if labels.ndim else 0} labels for {n} images"
                )
            if not np.issubdtype(labels.dtype, np.integer):
                raise DataFormatError(f"{source}: labels must be integers, got {labels.dtype}")
            bad = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
            if bad.size:
                raise DataFormatError(
                    f"{source}: label {labels[bad[0]]} at index {bad[0]} is outside 0..6"
                )
            labels = labels.astype(np.int64, copy=False)
        if splits is None:
            splits = np.full(n, "Training", dtype=object)
        elif isinstance(splits, str):
            splits = np.full(n, splits, dtype=object)
        else:
            splits = np.asarray(splits, dtype=object)
            if splits.shape != (n,):
                raise DataFormatError(f"{source}: {len(splits)} split names for {n} images")
        self.images: np.ndarray = images
        self.labels: np.ndarray | None = labels
        self.splits: np.ndarray = splits
        self.source: str = source
        self.ids: np.ndarray = np.arange(n) if ids is None else np.asarray(ids)

    # ----------------------------------------------------------------- loading and saving
    @classmethod
    def load(cls, path: str | os.PathLike, *, on_error: str = "raise", **options: Any) -> Dataset:
        """Read a dataset from any supported source, detected from the file itself.

        Args:
            path: A FER2013 CSV (``emotion,pixels,Usage``, also with leading-space headers), a
                course CSV (``label,feature`` or ``id,feature``), either ``.gz``-compressed, an
                image folder ``ROOT/<split>/<class>/*.png|jpg``, an emotionkit ``.npz``, or
                ``"synthetic"`` / ``"synthetic:N"`` (the built-in demo set, N faces per class).
            on_error: ``"raise"`` (default) raises :class:`~emotionkit.DataFormatError` naming
                file, line and value; ``"skip"`` drops bad rows and records them in
                ``dataset.skipped``.
            **options: Reader options (e.g. ``cache=False``, ``seed`` for synthetic data).

        Returns:
            The dataset.
        """
        from .readers import read_any

        return read_any(path, on_error=on_error, **options)

    def save(self, path: str | os.PathLike) -> None:
        """Write the dataset as an emotionkit ``.npz`` (atomically).

        Args:
            path: Destination, conventionally ending in ``.npz``.
        """
        from .readers import write_npz

        write_npz(self, path)

    # ----------------------------------------------------------------- container protocol
    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)):
            image = torch.from_numpy(self.images[index]).float().div_(255.0).unsqueeze(0)
            label = int(self.labels[index]) if self.labels is not None else -1
            return image, label
        return self.subset(index)

    def subset(self, index: Any) -> Dataset:
        """Return the images selected by a slice, an index array or a boolean mask.

        Args:
            index: Anything numpy accepts as an index along the first axis.

        Returns:
            A new dataset (arrays are copies for fancy indexing, views for slices).
        """
        if isinstance(index, list):
            index = np.asarray(index)
        return Dataset(
            self.images[index],
            None if self.labels is None else self.labels[index],
            self.splits[index],
            source=self.source,
            ids=self.ids[index],
        )

    def __repr__(self) -> str:
        splits = ", ".join(f"{k}={v}" for k, v in self.split_counts().items())
        labeled = "labeled" if self.has_labels else "unlabeled"
        return f"Dataset({len(self)} images, {labeled}, splits: {splits or 'none'}, source={self.source!r})"

    @property
    def has_labels(self) -> bool:
        """Whether the dataset carries labels."""
        return self.labels is not None

    @property
    def split_names(self) -> list[str]:
        """Split names in order of first appearance."""
        seen: dict[str, None] = {}
        for s in self.splits:
            seen.setdefault(str(s), None)
        return list(seen)

    # ----------------------------------------------------------------- splitting
    def split(self, name: str) -> Dataset:
        """Return the images of one split.

        Args:
            name: A split name (case-insensitive), e.g. ``"Training"`` or ``"PublicTest"``.

        Returns:
            The images of that split.

        Raises:
            UnknownNameError: No image has that split name.
        """
        names = self.split_names
        lookup = {n.lower(): n for n in names}
        if name.lower() not in lookup:
            raise UnknownNameError(unknown_name_message("split", name, names))
        return self.subset(self.splits == lookup[name.lower()])

    def stratified_split(self, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Split into two parts keeping class proportions, e.g. a validation hold-out.

        Args:
            fraction: Share of each class that goes to the second part, in (0, 1).
            seed: Seed of the shuffle (the result depends on nothing else).

        Returns:
            ``(rest, held_out)``; ``held_out`` gets split name ``"Validation"``.
        """
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"fraction must be in (0, 1), got {fraction}")
        rng = np.random.default_rng(seed)
        n = len(self)
        if self.labels is None:
            order = rng.permutation(n)
            held = order[: int(round(fraction * n))]
        else:
            held_parts = []
            for c in range(NUM_CLASSES):
                idx = np.flatnonzero(self.labels == c)
                rng.shuffle(idx)
                held_parts.append(idx[: int(round(fraction * len(idx)))])
            held = np.concatenate(held_parts)
        mask = np.zeros(n, dtype=bool)
        mask[held] = True
        rest, out = self.subset(~mask), self.subset(np.sort(held))
        out.splits = np.full(len(out), "Validation", dtype=object)
        return rest, out

    # ----------------------------------------------------------------- statistics
    def class_counts(self) -> dict[str, int]:
        """Images per class, in FER2013 order (empty dict when unlabeled)."""
        if self.labels is None:
            return {}
        counts = np.bincount(self.labels, minlength=NUM_CLASSES)
        return {name: int(c) for name, c in zip(CLASS_NAMES, counts)}

    def split_counts(self) -> dict[str, int]:
        """Images per split name, in order of first appearance."""
        return {s: int(np.sum(self.splits == s)) for s in self.split_names}

    def describe(self) -> dict[str, Any]:
        """Counts per split and class plus pixel statistics, as a JSON-ready dict.

        Returns:
            ``{"source", "images", "labeled", "splits": {split: {"images", "classes"}},
            "classes", "pixel_mean", "pixel_std", "pixel_min", "pixel_max"}`` (pixels on 0..255).
        """
        per_split = {}
        for s in self.split_names:
            part = self.split(s)
            per_split[s] = {"images": len(part), "classes": part.class_counts()}
        px = self.images.astype(np.float64) if len(self) else np.zeros(1)
        return {
            "source": self.source,
            "images": len(self),
            "labeled": self.has_labels,
            "class_names": list(CLASS_NAMES),
            "display_names": list(DISPLAY_NAMES),
            "splits": per_split,
            "classes": self.class_counts(),
            "pixel_mean": float(px.mean()),
            "pixel_std": float(px.std()),
            "pixel_min": int(px.min()),
            "pixel_max": int(px.max()),
        }

    # ----------------------------------------------------------------- tensors
    def to_tensor(
        self, device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """All images as one float tensor (N, 1, 48, 48) in [0, 1], and labels (int64) or None.

        Args:
            device: Where to put the tensors (``"auto"`` picks CUDA when present).

        Returns:
            ``(images, labels)``.
        """
        from .._runtime import resolve_device

        dev = resolve_device(device)
        x = torch.from_numpy(self.images).to(dev).unsqueeze(1).float().div_(255.0)
        y = None if self.labels is None else torch.from_numpy(self.labels).to(dev)
        return x, y
