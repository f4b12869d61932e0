"""Precision and memory-format choices for training: re-exported from :mod:`emotionkit.runtime`.

The rule itself lives in :mod:`emotionkit.runtime`, where evaluation, explainers and the CLI
read it too; this module keeps the ``emotionkit.training.precision`` names importable.
"""

from ..runtime import (  # noqa: F401
    PRECISIONS,
    Precision,
    has_conv2d,
    resolve_channels_last,
    resolve_precision,
)
