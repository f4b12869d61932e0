"""The exceptions emotionkit raises.

Every error the library raises on purpose derives from :class:`EmotionKitError`, so a caller can
catch them all in one place; the CLI turns them into one ``Error: ...`` line and a non-zero exit.
"""

from __future__ import annotations


class EmotionKitError(Exception):
    """Base class of every error emotionkit raises on purpose."""


class DataFormatError(EmotionKitError, ValueError):
    """A data file (CSV, image folder, npz) is malformed; the message names file, line and value."""


class UnknownNameError(EmotionKitError, KeyError):
    """A name (model, explainer, layer, class, option value) is not known.

    Args:
        message: The full message, which should list the valid or closest names.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownModelError(UnknownNameError):
    """A model name is not in the :class:`~emotionkit.ModelZoo` registry."""


class UnknownExplainerError(UnknownNameError):
    """An explainer name is not registered by any loaded plugin."""


class UnknownLayerError(UnknownNameError):
    """A layer name is not a module of the given model."""


class ConfigError(EmotionKitError, ValueError):
    """An option or a combination of options is invalid."""


class CheckpointError(EmotionKitError):
    """A checkpoint file is missing, corrupt, untrusted or incompatible."""


class TrainingError(EmotionKitError):
    """Training cannot go on (for example a NaN or infinite loss)."""


class ExplainError(EmotionKitError):
    """An explainer cannot handle the given model or inputs (the message says why)."""


class PluginError(EmotionKitError):
    """A plugin failed to load or registered something invalid."""


__all__ = [
    "EmotionKitError",
    "DataFormatError",
    "UnknownNameError",
    "UnknownModelError",
    "UnknownExplainerError",
    "UnknownLayerError",
    "ConfigError",
    "CheckpointError",
    "TrainingError",
    "ExplainError",
    "PluginError",
]
