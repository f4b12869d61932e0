"""Reader for image folders ``ROOT/<split>/<class>/*.png|jpg`` (or ``ROOT/<class>/*``).

Class folders are mapped by *name* to the FER2013 order (``classes.class_index``), never by their
sorted position: alphabetical order (angry, disgust, fear, happy, neutral, sad, surprise) puts
neutral at 4, which is sad's label. Split folders named ``train``/``training`` become
``"Training"``, ``test``/``val``/``validation``/``publictest`` become ``"PublicTest"``,
``privatetest`` becomes ``"PrivateTest"``; other names are kept as written. Images of any size or
mode (RGB, RGBA, 16-bit, ...) are converted to 48x48 grayscale with one warning that counts them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError, UnknownNameError
from .classes import class_index
from .problems import Problems

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
_SPLIT_ALIASES = {
    "train": "Training",
    "training": "Training",
    "test": "PublicTest",
    "val": "PublicTest",
    "valid": "PublicTest",
    "validation": "PublicTest",
    "publictest": "PublicTest",
    "public_test": "PublicTest",
    "privatetest": "PrivateTest",
    "private_test": "PrivateTest",
}
_IGNORED = {"thumbs.db", "desktop.ini"}


def split_name(folder: str) -> str:
    """Canonical split name of a split folder (see the module docstring)."""
    return _SPLIT_ALIASES.get(folder.lower(), folder)


def _visible_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _is_class_name(name: str) -> bool:
    if name.strip().isdigit():
        return False  # numbered folders are ambiguous; insist on names
    try:
        class_index(name)
    except UnknownNameError:
        return False
    return True


def list_images(root: str | os.PathLike, problems: Problems) -> list[tuple[Path, str, int]]:
    """Find the images of a folder dataset.

    Args:
        root: ``ROOT`` with ``<split>/<class>/`` or ``<class>/`` sub-folders.
        problems: Where unknown class folders and non-image files are reported.

    Returns:
        ``(path, split, label)`` per image, in a deterministic order.

    Raises:
        DataFormatError: The folder has no sub-folders or no images (or a problem, when raising).
    """
    root = Path(root)
    subdirs = _visible_dirs(root)
    if not subdirs:
        raise DataFormatError(
            f"{root}: empty folder; expected image folders ROOT/<split>/<class>/*.png|jpg"
        )
    if all(_is_class_name(d.name) for d in subdirs):
        groups = [("Training", subdirs)]
    else:
        groups = [(split_name(d.name), _visible_dirs(d)) for d in subdirs]
    found: list[tuple[Path, str, int]] = []
    for split, class_dirs in groups:
        for cdir in class_dirs:
            try:
                if cdir.name.strip().isdigit():
                    raise UnknownNameError("numbered class folders are ambiguous")
                label = class_index(cdir.name)
            except UnknownNameError:
                problems.report(
                    f"unknown class folder {cdir.name!r}; class folders must be named "
                    "angry, disgust, fear, happy, sad, surprise, neutral (any case)",
                    file=str(cdir),
                    value=cdir.name,
                )
                continue
            for f in sorted(cdir.iterdir()):
                if f.name.startswith(".") or f.name.lower() in _IGNORED or f.is_dir():
                    continue
                if f.suffix.lower() not in IMAGE_SUFFIXES:
                    problems.report(
                        f"not an image file (expected {', '.join(IMAGE_SUFFIXES)})",
                        file=str(f),
                        value=f.suffix,
                    )
                    continue
                found.append((f, split, label))
    if not found and not problems.records:
        raise DataFormatError(
            f"{root}: no images found; expected image folders ROOT/<split>/<class>/*.png|jpg"
        )
    return found


def to_gray48(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Convert an image array of any size/mode to uint8 48x48 grayscale.

    Args:
        image: As returned by ``skimage.io.imread``: (H, W), (H, W, 1|2|3|4), any dtype.

    Returns:
        ``(gray48, note)``; ``note`` describes the conversion (``"64x64 RGB"``), None when the
        image already was uint8 48x48 grayscale (then it is returned unchanged).

    Raises:
        ValueError: The array is not an image (wrong number of dimensions or channels).
    """
    from skimage.color import rgb2gray
    from skimage.transform import resize
    from skimage.util import img_as_float

    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2 and a.dtype == np.uint8 and a.shape == (48, 48):
        return a, None
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise ValueError(f"unsupported image array shape {a.shape}")
    mode = {2: "gray+alpha", 3: "RGB", 4: "RGBA"}[a.shape[2]] if a.ndim == 3 else "gray"
    note = f"{a.shape[1]}x{a.shape[0]} {mode}" + ("" if a.dtype == np.uint8 else f" {a.dtype}")
    f = img_as_float(a)
    if f.ndim == 3:
        f = f[..., 0] if f.shape[2] == 2 else rgb2gray(f[..., :3])
    if f.shape != (48, 48):
        f = resize(f, (48, 48), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(np.round(f * 255.0), 0, 255).astype(np.uint8), note


def read_folder(
    root: str | os.PathLike,
    files: list[tuple[Path, str, int]],
    problems: Problems,
    *,
    progress: bool = False,
) -> dict[str, Any]:
    """Read the listed images.

    Args:
        root: The dataset folder (ids are paths relative to it).
        files: From :func:`list_images`.
        problems: Where unreadable images are reported.
        progress: Show a progress bar.

    Returns:
        Arrays ``images``, ``labels``, ``splits``, ``ids`` (relative paths), ``format``, and
        ``notes`` (warnings to show, e.g. how many images were converted to 48x48 gray).
    """
    from skimage import io as skio
    from tqdm.auto import tqdm

    images, labels, splits, ids = [], [], [], []
    converted: list[str] = []
    for path, split, label in tqdm(files, desc=f"reading {Path(root).name}", unit="img",
                                   disable=None if progress else True, leave=False):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = skio.imread(path)
            gray, note = to_gray48(raw)
        except Exception as exc:  # any decoder failure is the file's fault
            reason = " ".join(str(exc).split()) or type(exc).__name__
            problems.report(f"unreadable image ({reason[:120]})", file=str(path))
            continue
        if note is not None:
            converted.append(f"{path.relative_to(root)}: {note}")
        images.append(gray)
        labels.append(label)
        splits.append(split)
        ids.append(str(path.relative_to(root)))
    notes = []
    if converted:
        notes.append(
            f"{root}: converted {len(converted)} image(s) to 48x48 grayscale "
            f"(e.g. {converted[0]})"
        )
    stacked = np.stack(images) if images else np.zeros((0, 48, 48), np.uint8)
    return {
        "images": stacked,
        "labels": np.array(labels, dtype=np.int64),
        "splits": np.array(splits, dtype=object),
        "ids": np.array(ids, dtype=str),
        "format": "folder",
        "notes": notes,
    }
