"""Tiny fixed-weight one-channel CNNs whose maps can be derived by hand.

:class:`TinyCNN` is ``conv (3x3 all-ones kernels, scaled) -> activation -> [mix -> the same
activation module again] -> global average pool -> linear``. With an all-ones 3x3 kernel and
zero padding, the convolution is a neighbourhood sum ``nb(X)(q) = sum of X over the 3x3 window
around q``, and its transpose is the same neighbourhood sum, so every gradient is a short
formula; see the docstring of :class:`TinyCNN`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TinyCNN", "FailingLayer"]

ACTIVATIONS = ("relu", "relu-inplace", "functional", "leaky", "prelu", "gelu")


class _FailInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("FailingLayer: failure in backward (on purpose)")


class FailingLayer(nn.Module):
    """An identity layer that raises on purpose, to test cleanup after failures.

    Args:
        mode: ``"forward"`` (raise in every forward call), ``"backward"`` (raise when a
            gradient flows back through it) or ``"none"`` (an identity).
    """

    def __init__(self, mode: str = "forward") -> None:
        super().__init__()
        if mode not in ("forward", "backward", "none"):
            raise ValueError(f"mode must be 'forward', 'backward' or 'none', got {mode!r}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "forward":
            raise RuntimeError("FailingLayer: failure in forward (on purpose)")
        if self.mode == "backward":
            return _FailInBackward.apply(x)
        return x


class TinyCNN(nn.Module):
    """A fixed-weight CNN for exact tests, on one-channel images of any size.

    Forward pass for an image ``X`` (H, W), with ``nb`` the 3x3 neighbourhood sum (zero
    padding)::

        pre_k  = scales[k] * nb(X) + biases[k]                 layer "conv"   (K channels)
        r_k    = act(pre_k)                                    layer "act"
        # only when reuse=True (the SAME activation module runs again):
        m_o    = sum_k mix[o][k] * nb(r_k) + mix_bias[o]       layer "mix"
        r_o    = act(m_o)                                      layer "act" (2nd call)
        logit  = head @ mean_pixels(r) + head_bias             layers "pool", "flatten", "fc"

    So for ReLU, ``d logit_t / d r_k = head[t][k] / (H * W)`` everywhere, and a gradient ``g``
    at the conv output goes back to the pixels as ``sum_k scales[k] * nb(g_k)``.

    Args:
        scales: Kernel scale per conv channel (the kernel is ``scale * ones(3, 3)``).
        biases: Bias per conv channel.
        head: Linear weights (classes x channels).
        head_bias: Linear bias per class.
        activation: ``"relu"``, ``"relu-inplace"``, ``"functional"`` (``F.relu`` inside
            ``forward``: no module), ``"leaky"`` (LeakyReLU 0.1), ``"prelu"`` or ``"gelu"``.
        reuse: Add the "mix" conv and run the activation module a second time.
        mix: Mix weights (channels x channels); each is a 3x3 all-ones kernel times the value.
        mix_bias: Mix bias per channel.
        fail: Insert a :class:`FailingLayer` named ``"fail"`` after the first activation with
            this mode (``"forward"`` or ``"backward"``), or ``None``.
    """

    def __init__(
        self,
        scales: Sequence[float] = (1.0, -1.0),
        biases: Sequence[float] = (-0.5, 1.5),
        head: Sequence[Sequence[float]] = ((1.0, -1.0), (-0.5, 2.0), (0.25, 0.5)),
        head_bias: Sequence[float] | None = None,
        activation: str = "relu",
        reuse: bool = False,
        mix: Sequence[Sequence[float]] = ((1.0, 0.5), (-0.5, 1.0)),
        mix_bias: Sequence[float] = (-1.0, 0.5),
        fail: str | None = None,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        k = len(scales)
        head_t = torch.tensor(head, dtype=torch.float32)
        if len(biases) != k or head_t.ndim != 2 or head_t.shape[1] != k:
            raise ValueError("scales, biases and head columns need one entry per channel")
        self.conv = nn.Conv2d(1, k, 3, padding=1)
        self.functional = activation == "functional"
        if not self.functional:
            self.act = {
                "relu": lambda: nn.ReLU(),
                "relu-inplace": lambda: nn.ReLU(inplace=True),
                "leaky": lambda: nn.LeakyReLU(0.1),
                "prelu": lambda: nn.PReLU(init=0.25),
                "gelu": lambda: nn.GELU(),
            }[activation]()
        self.fail = FailingLayer(fail) if fail else None
        self.reuse = reuse
        if reuse:
            self.mix = nn.Conv2d(k, k, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(k, head_t.shape[0])
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor(scales, dtype=torch.float32).reshape(k, 1, 1, 1)
                                   .expand(k, 1, 3, 3))
            self.conv.bias.copy_(torch.tensor(biases, dtype=torch.float32))
            if reuse:
                mix_t = torch.tensor(mix, dtype=torch.float32)
                if mix_t.shape != (k, k) or len(mix_bias) != k:
                    raise ValueError("mix must be channels x channels and mix_bias per channel")
                self.mix.weight.copy_(mix_t[:, :, None, None].expand(k, k, 3, 3))
                self.mix.bias.copy_(torch.tensor(mix_bias, dtype=torch.float32))
            self.fc.weight.copy_(head_t)
            self.fc.bias.copy_(torch.zeros(head_t.shape[0]) if head_bias is None
                               else torch.tensor(head_bias, dtype=torch.float32))

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x) if self.functional else self.act(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._act(self.conv(x))
        if self.fail is not None:
            h = self.fail(h)
        if self.reuse:
            h = self._act(self.mix(h))
        return self.fc(self.flatten(self.pool(h)))
