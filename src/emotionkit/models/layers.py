"""Small layers shared by the zoo models."""

from __future__ import annotations

import torch
from torch import nn


class Normalize(nn.Module):
    """Standardize pixel input: ``(x - mean) / std``, with the statistics stored as buffers.

    Every zoo model starts with one of these as ``input_norm``, so a model takes raw images in
    [0, 1] and carries its training-set statistics inside its state dict (and so inside every
    checkpoint). Explainers therefore attribute in pixel space. The buffers are not parameters
    and are not counted in parameter totals.

    Args:
        mean: Pixel mean of the training split (on the [0, 1] scale).
        std: Pixel standard deviation of the training split (on the [0, 1] scale).
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def set_stats(self, mean: float, std: float) -> None:
        """Replace the statistics in place.

        For example with the output of :func:`emotionkit.data.normalize.compute_stats`.

        Args:
            mean: New mean.
            std: New standard deviation (must be > 0).
        """
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std}")
        self.mean.fill_(float(mean))
        self.std.fill_(float(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={float(self.mean):.4f}, std={float(self.std):.4f}"


ACTIVATIONS = ("relu", "leaky_relu", "prelu")


def make_activation(name: str, channels: int = 1, negative_slope: float = 0.01) -> nn.Module:
    """Build a *new* activation module (never share one instance between two places).

    Explainers such as guided backpropagation hook activation modules, so every zoo model uses
    one module per activation site and no functional ``F.relu`` in ``forward``.

    Args:
        name: ``"relu"``, ``"leaky_relu"`` or ``"prelu"``.
        channels: Number of channels; PReLU learns one slope per channel.
        negative_slope: Slope of LeakyReLU for negative inputs (PReLU starts at 0.25).

    Returns:
        A fresh ``nn.ReLU``, ``nn.LeakyReLU`` or ``nn.PReLU`` module (never in-place).

    Raises:
        ConfigError: If ``name`` is not one of :data:`ACTIVATIONS`.
    """
    from .._names import unknown_name_message
    from ..errors import ConfigError

    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    if name == "prelu":
        return nn.PReLU(num_parameters=channels, init=0.25)
    raise ConfigError(unknown_name_message("activation", str(name), ACTIVATIONS))


class MaxPool2dSame(nn.MaxPool2d):
    """Max pooling with Keras/TensorFlow ``padding="same"``: output size ``ceil(n / stride)``.

    The missing rows/columns are added as ``-inf`` (so they never win the max), with the odd one
    at the bottom/right as TensorFlow does: ``pad_before = total // 2``. Example: a 4x4 pool with
    stride 4 maps 48 -> 12 -> 3 -> 1, the last step padding the 3x3 map to 4x4 at the bottom/right.

    Args:
        kernel_size: Pooling window (int or pair).
        stride: Stride (defaults to ``kernel_size``, as in Keras).
    """

    def __init__(
        self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
    ) -> None:
        super().__init__(kernel_size, stride=stride, padding=0, ceil_mode=False)

    @staticmethod
    def _pair(v) -> tuple[int, int]:
        return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))

    def same_padding(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Padding ``(left, right, top, bottom)`` used for an input of the given size.

        Args:
            height: Input height.
            width: Input width.

        Returns:
            The four padding amounts in ``torch.nn.functional.pad`` order.
        """
        kh, kw = self._pair(self.kernel_size)
        sh, sw = self._pair(self.stride)
        pads = []
        for size, k, s in ((width, kw, sw), (height, kh, sh)):
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return tuple(pads)  # type: ignore[return-value]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = self.same_padding(x.shape[-2], x.shape[-1])
        if any(pads):
            x = torch.nn.functional.pad(x, pads, value=float("-inf"))
        return torch.nn.functional.max_pool2d(x, self.kernel_size, self.stride)


class Conv2dSame(nn.Conv2d):
    """A stride-1 ``Conv2d`` with Keras/TensorFlow ``padding="same"`` for any kernel size.

    For an even kernel the padding is asymmetric: ``(k - 1) // 2`` before and the rest after
    (bottom/right), as TensorFlow does. PyTorch's own ``padding="same"`` computes the same thing
    but warns on even kernels; this layer pads explicitly with zeros instead.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Kernel size (int or pair).
        bias: Whether to learn a bias.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=bias)
        kh, kw = self.kernel_size
        # F.pad order: left, right, top, bottom; the odd pixel goes right/bottom
        self.same_padding = (
            (kw - 1) // 2, kw - 1 - (kw - 1) // 2, (kh - 1) // 2, kh - 1 - (kh - 1) // 2
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.nn.functional.pad(x, self.same_padding))


def conv_same(
    in_channels: int, out_channels: int, kernel_size: int, bias: bool = True
) -> nn.Conv2d:
    """A stride-1 convolution with 'same' padding: a plain ``Conv2d`` for odd kernels, else
    :class:`Conv2dSame`.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size.
        bias: Whether to learn a bias.

    Returns:
        The convolution module.
    """
    if kernel_size % 2:
        pad = kernel_size // 2
        return nn.Conv2d(in_channels, out_channels, kernel_size, padding=pad, bias=bias)
    return Conv2dSame(in_channels, out_channels, kernel_size, bias=bias)
