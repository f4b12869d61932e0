"""emotionkit.training: the Trainer, callbacks, safe checkpoints, ensembles and torchrun support.

::

    from emotionkit.training import Trainer, load
    trainer = Trainer(model, epochs=30, scheduler="cosine", out_dir="runs/compact")
    history = trainer.fit(data.split("Training"), data.split("PublicTest"))
    model = load("runs/compact/model.safetensors")
"""

from ..models.ensemble import Ensemble
from .callbacks import Callback, EarlyStopping, LambdaCallback
from .checkpoint import load, read_checkpoint, save
from .ensemble import train_ensemble
from .fit import train_function
from .history import History
from .precision import Precision, resolve_channels_last, resolve_precision
from .trainer import Trainer, TrainingInterrupted

__all__ = [
    "Trainer",
    "TrainingInterrupted",
    "History",
    "Callback",
    "EarlyStopping",
    "LambdaCallback",
    "save",
    "load",
    "read_checkpoint",
    "Ensemble",
    "train_ensemble",
    "train_function",
    "Precision",
    "resolve_precision",
    "resolve_channels_last",
]
