"""The hand calculations of the course, as tested functions.

Submodules (each usable on its own)::

    from emotionkit.math import conv, pca, batchnorm, softmax
    conv.output_size(48, 3, p="same")             # 48
    conv.analyze(model)                            # per-layer shapes, params, mults, adds
    pca.fit(points).eigenvalues                    # with 1/N and 1/(N-1) conventions
    batchnorm.backward(dy, x, gamma).dx            # analytic BatchNorm gradients
    softmax.cross_entropy_grad(logits, targets)    # y_hat - y

Every function that takes arrays accepts numpy arrays or torch tensors and returns the same kind;
with CUDA tensors the work is done on the GPU.
"""

from __future__ import annotations

from . import batchnorm, conv, model_cost, pca, softmax
from .batchnorm import BatchNormCache, BatchNormGrads
from .conv import (
    ConvCost,
    conv_macs,
    conv_ops,
    conv_params,
    output_size,
    pool_output_size,
    same_padding,
)
from .model_cost import Complexity, ComplexityTerm, CostTable, LayerCost, analyze, complexity
from .pca import PCAResult, eigenfaces, plot_eigenfaces
from .softmax import (
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    sigmoid,
)

__all__ = [
    "batchnorm",
    "conv",
    "model_cost",
    "pca",
    "softmax",
    "output_size",
    "same_padding",
    "pool_output_size",
    "conv_params",
    "conv_macs",
    "conv_ops",
    "ConvCost",
    "analyze",
    "complexity",
    "LayerCost",
    "CostTable",
    "Complexity",
    "ComplexityTerm",
    "PCAResult",
    "eigenfaces",
    "plot_eigenfaces",
    "BatchNormCache",
    "BatchNormGrads",
    "log_softmax",
    "cross_entropy",
    "cross_entropy_grad",
    "sigmoid",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_grad",
]
