"""A stand-in for the shipped pretrained weights, for tests that must not depend on them.

:func:`install_fake_weights` writes a tiny ``compact`` (width 0.125) with a complete
``pretrained`` record into a folder and points :mod:`emotionkit.models.pretrained` at it;
:func:`restore_weights` undoes that. The pytest fixture in emotionkit's own tests wraps them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

_SAVED: list = []


def fake_record(model: torch.nn.Module, name: str) -> dict:
    """A ``pretrained`` record with every field, and made-up accuracies (0.5 / 0.51 / 0.52)."""
    from ..data.classes import CLASS_NAMES
    from ..models import count_params

    counts = count_params(model)
    return {
        "class_names": list(CLASS_NAMES),
        "preprocessing": {"input": "float32 (N, 1, 48, 48) gray in [0, 1]",
                          "normalization": {"mean": 0.5, "std": 0.25}},
        "dataset": {"name": "synthetic", "train_split": "Training", "n_train": 0,
                    "selected_on": "PublicTest", "reported_on": "PublicTest", "n_val": 0},
        "training": {"command": f"emotionkit train --model {name} (fake, for tests)",
                     "seed": 0, "train_args": {}, "epochs_run": 0, "best_epoch": None,
                     "wall_seconds": 0.0, "hardware": "none", "started": None, "notes": ""},
        "accuracy": {"publictest": 0.5, "publictest_flip": 0.51, "publictest_tencrop": 0.52,
                     "measured_with": "not measured (fake weights)"},
        "params": counts["total"],
        "trainable_params": counts["trainable"],
        "emotionkit": "0",
        "dtype": "float32",
    }


def install_fake_weights(folder: str | os.PathLike, name: str = "compact",
                         seed: int = 0) -> Path:
    """Write fake shipped weights of ``name`` (a small config) and make them the shipped ones.

    Returns:
        The weights file.
    """
    from .. import _checkpoint
    from ..models import ModelZoo, pretrained
    from ..training.checkpoint import model_identity

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"width": 0.125} if name == "compact" else {}
    model = ModelZoo.create(name, seed=seed, **config).eval()
    path = folder / f"{name}.safetensors"
    record = fake_record(model, name)
    _checkpoint.write_checkpoint(
        path, {k: v for k, v in model.state_dict().items()},
        {"kind": "model", **model_identity(model), "class_names": record["class_names"],
         "train_args": {}, "history": None, "pretrained": record})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / pretrained.INDEX_FILE).write_text(json.dumps(
        {name: {"file": path.name, "sha256": digest, "rank_accuracy": 0.52}}))
    _SAVED.append(pretrained._weights_dir)
    pretrained._weights_dir = lambda: folder
    clear_caches()
    return path


def restore_weights() -> None:
    """Point :mod:`emotionkit.models.pretrained` back at the package's own weights."""
    from ..models import pretrained

    if _SAVED:
        pretrained._weights_dir = _SAVED.pop()
    clear_caches()


def clear_caches() -> None:
    """Forget cached shipped-weight files and metadata."""
    from ..models import pretrained

    pretrained._index.cache_clear()
    pretrained._verified.cache_clear()


__all__ = ["clear_caches", "fake_record", "install_fake_weights", "restore_weights"]
