"""The :class:`Dataset` container: uint8 48x48 faces, optional labels, a split name per image."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._names import unknown_name_message
from ..errors import ConfigError, DataFormatError, UnknownNameError
from .classes import CLASS_NAMES, DISPLAY_NAMES, NUM_CLASSES

IMAGE_SIZE = 48
_SPLIT_ORDER = {"Training": 0, "Validation": 1, "PublicTest": 2, "PrivateTest": 3, "Test": 4}


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
        if self.ids.shape != (n,):
            raise DataFormatError(f"{source}: {len(self.ids)} ids for {n} images")
        #: Rows skipped while reading with ``on_error="skip"``: dicts with ``file``, ``line``,
        #: ``reason``, ``value`` and ``message``.
        self.skipped: list[dict[str, Any]] = []
        #: Set by :meth:`clean` on its result: what was dropped and why.
        self.clean_report: Any = None

    # ----------------------------------------------------------------- loading and saving
    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        on_error: str = "raise",
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        progress: bool = False,
        seed: int = 0,
    ) -> Dataset:
        """Read a dataset from any supported source, detected from the file itself.

        Args:
            path: A FER2013 CSV (``emotion,pixels,Usage``, also with leading-space headers), a
                course CSV (``label,feature`` or ``id,feature``), either ``.gz``-compressed, an
                image folder ``ROOT/<split>/<class>/*.png|jpg``, an emotionkit ``.npz``, or
                ``"synthetic"`` / ``"synthetic:N"`` (the built-in demo set, N faces per class).
            on_error: ``"raise"`` (default) raises :class:`~emotionkit.DataFormatError` naming
                file, line and value; ``"skip"`` drops bad rows, records them in
                ``dataset.skipped`` and warns (:class:`~emotionkit.data.DataWarning`) once.
            cache: Keep a parsed copy of CSV files and folders in the cache directory and reuse
                it while the source is unchanged (see :mod:`emotionkit.data.cache`).
            cache_dir: Cache directory (default ``$EMOTIONKIT_CACHE_DIR`` or the user cache).
            progress: Show progress bars on stderr (only on a terminal).
            seed: Seed of the ``synthetic`` set.

        Returns:
            The dataset.

        Raises:
            DataFormatError: Unknown format, empty file, missing column, or a bad row.
        """
        from .readers import read_any

        return read_any(path, on_error=on_error, cache=cache, cache_dir=cache_dir,
                        progress=progress, seed=seed)

    def save(self, path: str | os.PathLike, *, compress: bool = True) -> None:
        """Write the dataset as an emotionkit ``.npz`` (atomically); :meth:`load` reads it back.

        Args:
            path: Destination, conventionally ending in ``.npz``.
            compress: Zip-compress the arrays.
        """
        from .readers import write_npz

        write_npz(self, path, compress=compress)

    def export(self, path: str | os.PathLike, fmt: str | None = None) -> str:
        """Write the dataset as npz, FER2013 CSV (``.csv``/``.csv.gz``) or an image folder.

        Args:
            path: Destination; the format follows its name unless ``fmt`` is given.
            fmt: ``"npz"``, ``"csv"``, ``"csv.gz"`` or ``"folder"``.

        Returns:
            The format written.
        """
        from .writers import write_any

        return write_any(self, path, fmt)

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
            index = np.asarray(index) if index else np.zeros(0, np.int64)
        part = Dataset(
            self.images[index],
            None if self.labels is None else self.labels[index],
            self.splits[index],
            source=self.source,
            ids=self.ids[index],
        )
        part.skipped = self.skipped
        return part

    def __repr__(self) -> str:
        splits = ", ".join(f"{k}={v}" for k, v in self.split_counts().items())
        labeled = "labeled" if self.has_labels else "unlabeled"
        return (
            f"Dataset({len(self)} images, {labeled}, splits: {splits or 'none'}, "
            f"source={self.source!r})"
        )

    @property
    def has_labels(self) -> bool:
        """Whether the dataset carries labels."""
        return self.labels is not None

    @property
    def split_names(self) -> list[str]:
        """Split names: Training, Validation, PublicTest, PrivateTest, Test first (those present),
        then any other name in order of first appearance."""
        seen: dict[str, None] = {}
        for s in self.splits:
            seen.setdefault(str(s), None)
        return sorted(seen, key=lambda s: _SPLIT_ORDER.get(s, len(_SPLIT_ORDER)))

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
            ``(rest, held_out)``; ``held_out`` gets split name ``"Validation"``. Each class
            contributes ``round(fraction * count)`` images to ``held_out`` (by label; for
            unlabeled data, the whole set is sampled).
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
    def train_val_split(
        self, val: str | float | None = "auto", seed: int = 0
    ) -> tuple[Dataset, Dataset | None]:
        """The training and validation sets, by the one rule every command uses.

        Training is the ``Training`` split when the data has one, else all of it.

        Args:
            val: ``"auto"`` (``PublicTest`` when present, else a stratified tenth of Training),
                a split name, a fraction of Training in (0, 1) (a stratified hold-out, see
                :meth:`stratified_split`), or ``None`` (no validation set).
            seed: Seed of a fractional hold-out.

        Returns:
            ``(train, val)``; ``val`` is ``None`` when ``val`` is ``None``.

        Raises:
            UnknownNameError: ``val`` names a split the data does not have.
            ConfigError: ``val`` is the training split itself, or a fraction outside (0, 1).
        """
        names = self.split_names
        train = self.split("Training") if "Training" in names else self
        if isinstance(val, str) and val.lower() == "auto":
            val = "PublicTest" if "PublicTest" in names else 0.1
        if val is None:
            return train, None
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            return train.stratified_split(float(val), seed=seed)
        held = self.split(str(val))
        if held.split_names == train.split_names:
            raise ConfigError(f"validation split {val!r} is the training split; use a fraction "
                              "such as 0.1")
        return train, held

    def class_counts(self) -> dict[str, int]:
        """Images per class, in FER2013 order (empty dict when unlabeled)."""
        if self.labels is None:
            return {}
        counts = np.bincount(self.labels, minlength=NUM_CLASSES)
        return {name: int(c) for name, c in zip(CLASS_NAMES, counts, strict=True)}

    def split_counts(self) -> dict[str, int]:
        """Images per split name, in order of first appearance."""
        return {s: int(np.sum(self.splits == s)) for s in self.split_names}

    def describe(self) -> dict[str, Any]:
        """Counts per split and class plus pixel statistics, as a JSON-ready dict.

        Returns:
            A dict with keys ``source``, ``images``, ``labeled``, ``class_names``,
            ``display_names``, ``splits`` (per split: ``images``, ``classes``, ``pixel_mean``,
            ``pixel_std``), ``classes``, ``pixel_mean``, ``pixel_std``, ``pixel_min``,
            ``pixel_max`` and ``skipped``; pixel values on the 0..255 scale (``None`` when
            there are no images).
        """
        per_split = {}
        for s in self.split_names:
            mask = np.asarray(self.splits == s)
            counts = {}
            if self.labels is not None:
                binc = np.bincount(self.labels[mask], minlength=NUM_CLASSES)
                counts = {name: int(c) for name, c in zip(CLASS_NAMES, binc, strict=True)}
            per_split[s] = {"images": int(mask.sum()), "classes": counts,
                            **_pixel_stats(self.images[mask], brief=True)}
        return {
            "source": self.source,
            "images": len(self),
            "labeled": self.has_labels,
            "class_names": list(CLASS_NAMES),
            "display_names": list(DISPLAY_NAMES),
            "splits": per_split,
            "classes": self.class_counts(),
            **_pixel_stats(self.images),
            "skipped": len(self.skipped),
        }

    # ----------------------------------------------------------------- quality
    def audit(self, blank_std: float = 0.0) -> Any:
        """Find blank images, exact duplicates and duplicates with conflicting labels.

        Args:
            blank_std: Largest pixel std (0..255) counted as blank; 0 means exactly constant.

        Returns:
            An :class:`~emotionkit.data.audit.AuditReport` (``to_dict()`` for JSON).
        """
        from .audit import audit

        return audit(self, blank_std=blank_std)

    def clean(
        self,
        blank: bool = True,
        duplicates: str = "cross-split",
        conflicting: bool = True,
        keep: str = "eval",
        blank_std: float = 0.0,
    ) -> Dataset:
        """A copy without blank images, leaked or repeated duplicates, and conflicting labels.

        See :func:`emotionkit.data.audit.clean` for the options. What was dropped is in the
        result's ``clean_report`` (a :class:`~emotionkit.data.audit.CleanReport`).

        Returns:
            The cleaned dataset.
        """
        from .audit import clean

        result, report = clean(self, blank=blank, duplicates=duplicates,
                               conflicting=conflicting, keep=keep, blank_std=blank_std)
        result.clean_report = report
        return result

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
        from ..runtime import resolve_device

        dev = resolve_device(device)
        x = torch.from_numpy(np.ascontiguousarray(self.images)).to(dev).unsqueeze(1).float()
        x.div_(255.0)
        y = None if self.labels is None else torch.from_numpy(np.array(self.labels)).to(dev)
        return x, y


def _pixel_stats(images: np.ndarray, brief: bool = False) -> dict[str, Any]:
    """Pixel mean/std (and min/max) on 0..255 from the histogram: exact, no float copy."""
    if images.size == 0:
        keys = ("pixel_mean", "pixel_std") if brief else (
            "pixel_mean", "pixel_std", "pixel_min", "pixel_max")
        return dict.fromkeys(keys)
    counts = np.bincount(images.reshape(-1), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    total = counts.sum()
    mean = float((counts * levels).sum() / total)
    std = float(np.sqrt((counts * (levels - mean) ** 2).sum() / total))
    out: dict[str, Any] = {"pixel_mean": mean, "pixel_std": std}
    if not brief:
        present = np.flatnonzero(counts)
        out.update(pixel_min=int(present[0]), pixel_max=int(present[-1]))
    return out
