"""Data-quality audit and cleaning: blank images, exact duplicates, conflicting labels.

* **Blank**: an image whose pixels all have the same value (std <= ``blank_std``; 0 = constant).
* **Duplicate group**: two or more non-blank images with byte-identical pixels. A group is
  *within* a split when all its copies share one split, *cross-split* otherwise (leakage between
  training and test data), and *conflicting* when its copies carry different labels.

Blank images are reported only as blanks, not as a duplicate group of each other.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError

DUPLICATE_MODES = ("cross-split", "all", "none")


@dataclass(frozen=True)
class DuplicateGroup:
    """Byte-identical images.

    Attributes:
        indices: Positions in the dataset, ascending.
        splits: Split of each copy.
        labels: Label of each copy (empty when unlabeled).
    """

    indices: tuple[int, ...]
    splits: tuple[str, ...]
    labels: tuple[int, ...]

    @property
    def cross_split(self) -> bool:
        """Whether the copies lie in more than one split."""
        return len(set(self.splits)) > 1

    @property
    def conflicting(self) -> bool:
        """Whether the copies carry different labels."""
        return len(set(self.labels)) > 1


@dataclass
class AuditReport:
    """What :func:`audit` found.

    Attributes:
        source: The dataset's source.
        images: Number of images audited.
        split_sizes: Images per split.
        blank: Indices of blank images.
        blank_ids: Their ids (CSV line numbers, file paths, ...).
        groups: Every duplicate group.
    """

    source: str
    images: int
    split_sizes: dict[str, int]
    blank: list[int]
    blank_ids: list[Any]
    groups: list[DuplicateGroup] = field(default_factory=list)

    @property
    def duplicate_copies(self) -> int:
        """Images beyond the first of their group (what deduplication would remove)."""
        return sum(len(g.indices) - 1 for g in self.groups)

    def within_split(self) -> dict[str, int]:
        """Number of duplicate groups whose copies all lie in one split, per split."""
        counts: Counter[str] = Counter(g.splits[0] for g in self.groups if not g.cross_split)
        return {s: counts.get(s, 0) for s in self.split_sizes}

    def cross_split(self) -> dict[str, int]:
        """Number of groups shared by each combination of splits, keyed ``"A/B"``."""
        counts: Counter[str] = Counter(
            "/".join(_ordered(set(g.splits), self.split_sizes))
            for g in self.groups
            if g.cross_split
        )
        return dict(sorted(counts.items()))

    def conflicting(self) -> list[DuplicateGroup]:
        """Groups whose copies carry different labels."""
        return [g for g in self.groups if g.conflicting]

    def summary(self) -> dict[str, Any]:
        """The counts only (no index lists), JSON-ready."""
        return {
            "source": self.source,
            "images": self.images,
            "splits": dict(self.split_sizes),
            "blank_images": len(self.blank),
            "duplicate_groups": len(self.groups),
            "duplicate_copies": self.duplicate_copies,
            "groups_within_split": self.within_split(),
            "groups_across_splits": self.cross_split(),
            "conflicting_label_groups": len(self.conflicting()),
            "conflicting_label_groups_across_splits": sum(
                1 for g in self.conflicting() if g.cross_split
            ),
        }

    def to_dict(self) -> dict[str, Any]:
        """Summary plus every blank index and duplicate group, JSON-ready."""
        out = self.summary()
        out["blank"] = [int(i) for i in self.blank]
        out["blank_ids"] = [_plain(v) for v in self.blank_ids]
        out["groups"] = [
            dict(asdict(g), cross_split=g.cross_split, conflicting=g.conflicting)
            for g in self.groups
        ]
        for g in out["groups"]:
            g["indices"], g["splits"], g["labels"] = (
                list(g["indices"]), list(g["splits"]), list(g["labels"])
            )
        return out


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _ordered(names: set[str], order: dict[str, int]) -> list[str]:
    known = [s for s in order if s in names]
    return known + sorted(names - set(known))


def blank_mask(images: np.ndarray, blank_std: float = 0.0) -> np.ndarray:
    """Which images are blank.

    Args:
        images: uint8 (N, H, W).
        blank_std: Largest pixel standard deviation (0..255 scale) still counted as blank; 0 means
            exactly constant.

    Returns:
        Boolean (N,).
    """
    if len(images) == 0:
        return np.zeros(0, dtype=bool)
    flat = images.reshape(len(images), -1)
    if blank_std <= 0:
        return flat.min(axis=1) == flat.max(axis=1)
    return flat.std(axis=1, dtype=np.float64) <= blank_std


def duplicate_groups(images: np.ndarray, candidates: np.ndarray | None = None) -> list[np.ndarray]:
    """Groups of byte-identical images.

    Args:
        images: uint8 (N, H, W).
        candidates: Indices to consider (default: all).

    Returns:
        Index arrays (ascending) of every group with two or more members, ordered by first index.
    """
    idx = np.arange(len(images)) if candidates is None else np.asarray(candidates)
    if idx.size < 2:
        return []
    flat = np.ascontiguousarray(images[idx].reshape(len(idx), -1))
    rows = flat.view(np.dtype((np.void, flat.shape[1]))).ravel()
    _, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    dup = counts[inverse] > 1
    if not dup.any():
        return []
    order = np.lexsort((idx[dup], inverse[dup]))
    members, keys = idx[dup][order], inverse[dup][order]
    cuts = np.flatnonzero(np.diff(keys)) + 1
    groups = np.split(members, cuts)
    groups.sort(key=lambda g: int(g[0]))
    return groups


def audit(dataset: Any, blank_std: float = 0.0) -> AuditReport:
    """Audit a dataset.

    Args:
        dataset: A :class:`~emotionkit.data.Dataset`.
        blank_std: See :func:`blank_mask`.

    Returns:
        The report.
    """
    images = dataset.images
    blank = blank_mask(images, blank_std)
    blank_idx = np.flatnonzero(blank)
    splits = [str(s) for s in dataset.splits]
    labels = dataset.labels
    groups = []
    for members in duplicate_groups(images, np.flatnonzero(~blank)):
        groups.append(
            DuplicateGroup(
                indices=tuple(int(i) for i in members),
                splits=tuple(splits[i] for i in members),
                labels=tuple(int(labels[i]) for i in members) if labels is not None else (),
            )
        )
    return AuditReport(
        source=str(dataset.source),
        images=len(dataset),
        split_sizes=dataset.split_counts(),
        blank=[int(i) for i in blank_idx],
        blank_ids=[_plain(v) for v in np.asarray(dataset.ids)[blank_idx]],
        groups=groups,
    )


@dataclass
class CleanReport:
    """What :func:`clean` removed.

    Attributes:
        source: The dataset's source.
        images_before: Images in the input.
        images_after: Images kept.
        dropped: Reason -> indices (in the input) dropped for that reason; an image is listed
            under the first reason that applied (blank, conflicting, duplicate).
        options: The options used.
    """

    source: str
    images_before: int
    images_after: int
    dropped: dict[str, list[int]]
    options: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with per-reason counts next to the index lists."""
        return {
            "source": self.source,
            "images_before": self.images_before,
            "images_after": self.images_after,
            "dropped_counts": {k: len(v) for k, v in self.dropped.items()},
            "dropped": {k: list(v) for k, v in self.dropped.items()},
            "options": dict(self.options),
        }


def _keeper(group: DuplicateGroup, keep: str) -> int:
    """Position (within the group) of the copy to keep."""
    if keep == "first":
        return 0
    train = [k for k, s in enumerate(group.splits) if s == "Training"]
    other = [k for k, s in enumerate(group.splits) if s != "Training"]
    if keep == "train":
        return (train or other)[0]
    if keep == "eval":
        return (other or train)[0]
    return next((k for k, s in enumerate(group.splits) if s == keep), 0)


def clean(
    dataset: Any,
    *,
    blank: bool = True,
    duplicates: str = "cross-split",
    conflicting: bool = True,
    keep: str = "eval",
    blank_std: float = 0.0,
    report: AuditReport | None = None,
) -> tuple[Any, CleanReport]:
    """Drop blank images, duplicates and conflicting-label duplicates.

    Args:
        dataset: A :class:`~emotionkit.data.Dataset`.
        blank: Drop blank images.
        duplicates: ``"cross-split"``: for a group spanning several splits keep only the copies
            in the split of the kept copy (no leakage between splits); ``"all"``: also keep just
            one copy of every within-split group; ``"none"``: keep duplicates.
        conflicting: Drop every copy of a group whose copies disagree on the label.
        keep: Which copy of a group survives: ``"eval"`` (a copy outside ``Training``, so the
            test splits stay as published and training loses the leaked copies), ``"train"``,
            ``"first"`` (first in file order), or a split name.
        blank_std: See :func:`blank_mask`.
        report: A report from :func:`audit` for this dataset, to avoid auditing twice.

    Returns:
        ``(cleaned dataset, CleanReport)``.

    Raises:
        ConfigError: An unknown ``duplicates`` mode.
    """
    if duplicates not in DUPLICATE_MODES:
        raise ConfigError(
            f"duplicates must be one of {', '.join(DUPLICATE_MODES)}, got {duplicates!r}"
        )
    if keep not in ("eval", "train", "first") and keep not in dataset.split_names:
        raise ConfigError(
            f"keep must be 'eval', 'train', 'first' or a split name "
            f"({', '.join(dataset.split_names)}), got {keep!r}"
        )
    rep = report if report is not None else audit(dataset, blank_std=blank_std)
    dropped: dict[str, set[int]] = {"blank": set(), "conflicting": set(), "duplicate": set()}
    if blank:
        dropped["blank"].update(rep.blank)
    for g in rep.groups:
        if conflicting and g.conflicting:
            dropped["conflicting"].update(g.indices)
            continue
        if duplicates == "none" or (duplicates == "cross-split" and not g.cross_split):
            continue
        k = _keeper(g, keep)
        if duplicates == "all":
            dropped["duplicate"].update(i for j, i in enumerate(g.indices) if j != k)
        else:  # cross-split: drop the copies outside the kept copy's split
            dropped["duplicate"].update(
                i for i, s in zip(g.indices, g.splits, strict=True) if s != g.splits[k]
            )
    mask = np.ones(len(dataset), dtype=bool)
    for ids in dropped.values():
        mask[list(ids)] = False
    result = dataset.subset(np.flatnonzero(mask))
    creport = CleanReport(
        source=str(dataset.source),
        images_before=len(dataset),
        images_after=int(mask.sum()),
        dropped={k: sorted(v) for k, v in dropped.items()},
        options={"blank": blank, "duplicates": duplicates, "conflicting": conflicting,
                 "keep": keep, "blank_std": blank_std},
    )
    return result, creport
