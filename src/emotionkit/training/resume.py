"""The Trainer's resume state: ``out_dir/last.safetensors``, written after every epoch.

The file is an emotionkit checkpoint of kind ``"resume"`` (see
:mod:`emotionkit.training.checkpoint`): the model's weights under ``model.``, the best epoch's
under ``best.``, and under the metadata key ``resume`` everything else a run needs to continue
exactly as if it had never stopped: the epoch (and, after Ctrl-C, how far into the next one),
the optimizer, scheduler and gradient-scaler states, every callback's state and each process's
RNG states (torch, CUDA, numpy, Python and the augmenter's). :func:`write` writes it,
:func:`restore` checks that it belongs to this run and loads it into the Trainer.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError
from . import distributed
from .checkpoint import (
    load_weights,
    model_identity,
    pack_state,
    read_checkpoint,
    state_tensors,
    unpack_state,
    write_checkpoint,
)
from .history import History

#: The resume file's name in a run directory.
LAST_NAME = "last.safetensors"


def rng_state(device: torch.device, augmenter: Any = None) -> dict[str, Any]:
    """This process's random-number generator states.

    Args:
        device: The training device (CUDA generators are saved when it is a GPU).
        augmenter: The run's :class:`~emotionkit.data.augment.Augmenter`, or ``None``.

    Returns:
        ``{"torch", "cuda", "numpy", "python", "augmenter"}`` states, for :func:`set_rng_state`.
    """
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if device.type == "cuda" else [],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "augmenter": augmenter.state_dict() if augmenter is not None else None,
    }


def set_rng_state(state: dict[str, Any], device: torch.device, augmenter: Any = None) -> None:
    """Restore what :func:`rng_state` returned.

    Args:
        state: The saved states.
        device: The training device.
        augmenter: The run's augmenter, or ``None``.
    """
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state.get("cuda"):
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if augmenter is not None and state.get("augmenter") is not None:
        augmenter.load_state_dict(state["augmenter"])


def write(trainer: Any, partial: dict[str, Any] | None) -> None:
    """Write the trainer's resume state to ``trainer.last_path`` (atomically, on rank 0).

    Every process takes part (the RNG states of all of them are gathered).

    Args:
        trainer: The :class:`~emotionkit.training.Trainer`, at the end of an epoch or stopped
            inside one.
        partial: ``None`` at the end of an epoch; after Ctrl-C inside one, how far it got
            (``batch``, the running ``loss_sum`` / ``correct`` / ``count``, ``lr``,
            ``seconds``).
    """
    rng = distributed.gather_objects(rng_state(trainer.device, trainer.augmenter), trainer.dist)
    if not trainer.is_main:
        return
    best = trainer._best.state
    tensors = state_tensors(trainer.model, "model.")
    if best is not None:
        tensors.update({f"best.{k}": v for k, v in best.items()})
    state = {
        "epoch": trainer.epoch,
        "partial": partial,
        "should_stop": trainer.should_stop,
        "best_stored": best is not None,
        "world_size": trainer.dist.world_size,
        "batch_size": trainer.batch_size,
        "data": _data_sizes(trainer),
        "optimizer": pack_state(trainer.optimizer.state_dict(), "optimizer", tensors),
        "scheduler": (pack_state(trainer.scheduler.state_dict(), "scheduler", tensors)
                      if trainer.scheduler is not None else None),
        "scaler": (pack_state(trainer.scaler.state_dict(), "scaler", tensors)
                   if trainer.scaler is not None else None),
        "callbacks": [{"class": type(cb).__qualname__,
                       "state": pack_state(cb.state_dict(), f"callbacks.{i}", tensors)}
                      for i, cb in enumerate(trainer.callbacks)],
        "rng": [pack_state(r, f"rng.{i}", tensors) for i, r in enumerate(rng)],
    }
    meta = {"kind": "resume", **model_identity(trainer.model), "class_names": trainer.class_names,
            "train_args": trainer.train_args(), "history": trainer.history.to_dict(),
            "resume": state}
    write_checkpoint(trainer.last_path, tensors, meta)


def _data_sizes(trainer: Any) -> dict[str, int | None]:
    return {"n_train": len(trainer._train),
            "n_val": len(trainer._val) if trainer._val is not None else None}


def check(trainer: Any, path: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """Check that a resume file belongs to this run (same model, data sizes, batch size, and a
    per-step schedule not stretched to more epochs).

    Args:
        trainer: The Trainer about to continue.
        path: The file, for messages.
        meta: Its metadata.

    Returns:
        The ``resume`` part of the metadata.

    Raises:
        CheckpointError: The file was written by another run, or its state is missing.
    """
    state = meta.get("resume")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: resume state is missing from the metadata")
    name = getattr(trainer.model, "emotionkit_name", None)
    if meta.get("model_name") != name:
        raise CheckpointError(f"{path}: written for model {meta.get('model_name')!r}, this "
                              f"run trains {name!r}")
    data, sizes = state.get("data", {}), _data_sizes(trainer)
    if data.get("n_train") != sizes["n_train"] or data.get("n_val") != sizes["n_val"]:
        raise CheckpointError(
            f"{path}: written for {data.get('n_train')} training / {data.get('n_val')} "
            f"validation images, this run has {sizes['n_train']} / {sizes['n_val']}")
    if state.get("batch_size") != trainer.batch_size:
        raise CheckpointError(f"{path}: written with batch_size {state.get('batch_size')}, "
                              f"this run uses {trainer.batch_size}")
    stored = meta.get("train_args") or {}
    if (trainer._batch_scheduler and stored.get("epochs") not in (None, trainer.epochs)
            and stored.get("scheduler") == trainer.train_args()["scheduler"]):
        raise CheckpointError(
            f"{path}: written for {stored.get('epochs')} epochs with the per-step "
            f"{stored.get('scheduler')!r} schedule, which cannot be stretched to "
            f"{trainer.epochs}; resume with epochs={stored.get('epochs')}, or fine-tune from "
            f"the run's weights in a new run (emotionkit train --init DIR)")
    return state


def restore(trainer: Any) -> bool:
    """Continue from ``trainer.last_path`` when ``trainer.resume`` asks for it.

    Loads the weights, the best weights, the optimizer, scheduler, scaler, callback and RNG
    states, the history and the position (epoch, batch) into the trainer.

    Args:
        trainer: The Trainer, prepared for its data (optimizer and scheduler built).

    Returns:
        Whether a resume state was loaded (``False`` for ``resume=False``, and for
        ``resume="auto"`` without a file).

    Raises:
        CheckpointError: ``resume=True`` without a file, or a file that does not fit this run.
    """
    if not trainer.resume:
        return False
    path = trainer.last_path
    if not path.exists():
        if trainer.resume == "auto":
            return False
        raise CheckpointError(f"cannot resume: {path} does not exist (use resume='auto' to "
                              "start afresh when there is nothing to resume)")
    tensors, meta = read_checkpoint(path, kinds=("resume",))
    state = check(trainer, path, meta)
    load_weights(trainer.model, tensors, "model.", str(path))
    if state.get("best_stored"):
        trainer._best.state = {k[5:]: v.to(trainer.device) for k, v in tensors.items()
                               if k.startswith("best.")}
    try:
        trainer.optimizer.load_state_dict(unpack_state(state["optimizer"], tensors))
        if trainer.scheduler is not None and state.get("scheduler") is not None:
            trainer.scheduler.load_state_dict(unpack_state(state["scheduler"], tensors))
        if trainer.scaler is not None and state.get("scaler") is not None:
            trainer.scaler.load_state_dict(unpack_state(state["scaler"], tensors))
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: optimizer/scheduler state does not fit this run "
                              f"({exc})") from None
    saved_cbs = state.get("callbacks") or []
    for i, cb in enumerate(trainer.callbacks):
        if i < len(saved_cbs) and saved_cbs[i].get("class") == type(cb).__qualname__:
            cb.load_state_dict(unpack_state(saved_cbs[i]["state"], tensors))
    rng = state.get("rng") or []
    if len(rng) == trainer.dist.world_size:
        set_rng_state(unpack_state(rng[trainer.dist.rank], tensors), trainer.device,
                      trainer.augmenter)
    trainer.history = History.from_dict(meta.get("history") or {"epochs": []})
    trainer.epoch = int(state["epoch"])
    trainer.should_stop = bool(state.get("should_stop", False))
    partial = state.get("partial")
    trainer._partial = partial
    trainer._start_batch = int(partial["batch"]) if partial else 0
    if not trainer.quiet and trainer.is_main:
        where = (f"epoch {trainer.epoch + 1}, batch {trainer._start_batch + 1}" if partial
                 else f"epoch {trainer.epoch + 1}")
        print(f"Resuming from {path} at {where}", file=sys.stderr)
    return True


__all__ = ["LAST_NAME", "write", "restore", "check", "rng_state", "set_rng_state"]
