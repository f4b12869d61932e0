"""THE rule for running a model in eval mode temporarily: every module keeps its own flag.

``model.train(was_training)`` after ``model.eval()`` is wrong for a model whose parts were put in
different modes on purpose (a frozen BatchNorm left in eval mode while the rest trains): it
flips them all to one flag. :func:`eval_mode` records and restores each module's flag.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode; restore each one's own flag afterwards, also on error.

    Args:
        model: The module.

    Yields:
        The module, in eval mode.
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in modes:
            m.training = flag
