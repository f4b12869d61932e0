"""``activation-max``: synthesize the input that most excites each channel of a layer.

Gradient ascent on the pixels, from seeded noise around mid-gray, of the mean activation of
one channel (or unit) of a named layer, with the usual regularizers: L2 decay towards gray,
total variation, random jitter (circular shifts of at most ``jitter`` pixels, 2 by default
for 48-pixel faces) and a Gaussian blur every ``blur_every`` steps; pixels stay in [0, 1].

All requested channels are optimized *together*, as one batch (in chunks of ``max_batch``):
image ``k`` only feeds the objective of channel ``k``, and in eval mode images do not
interact, so this equals optimizing each channel alone, many times faster. Every random
choice of channel ``c`` (start noise, shifts) comes from a generator seeded by ``(seed, c)``,
so a channel's result does not depend on which other channels are in the batch. The forward
pass stops at the layer: later layers never run. When the layer is a plain ``nn.Conv2d``, the
mean of one of its channels is a fixed linear function of the layer's input (:func:`mean_adjoint`),
so the layer itself is never computed: each image costs one dot product there.

The layers in front of the target run in a cheaper but equivalent form while the explainer works
(``emotionkit.explain._fast_prefix``): eval-mode BatchNorm folded into the convolution before
it, and NHWC weights. With ``precision="auto"`` the forward pass runs under bf16 autocast where
the hardware computes bf16 natively (CUDA GPUs with bf16; CPUs with AVX-512 BF16 or AMX, see
:func:`emotionkit.runtime.resolve_precision`) and in fp32 elsewhere; the pixels, the
regularizers and the optimizer always stay fp32. Pass ``precision="fp32"`` for results that are
the same on every machine.
"""

from __future__ import annotations

import math
import numbers
import re
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..._random import seeded_generator
from ...errors import ConfigError, ExplainError
from ...runtime import resolve_channels_last, resolve_precision
from .. import _blur
from .._fast_prefix import speed_up_prefix
from .._layers import check_single_call, default_conv_layer, find_layer
from .._model_state import ModelState
from ..base import (
    Explainer,
    check_bool,
    check_float,
    check_int,
    check_memory,
    chunks,
)
from ..explanation import Explanation
from ..inputs import model_device
from ._common import model_trace, progress_bar

#: The most gradient-ascent steps per call.
MAX_STEPS = 100_000
#: The largest jitter, in pixels.
MAX_SHIFT = 10_000
#: The most pixels (C * H * W) of one synthesized image.
MAX_INPUT_PIXELS = 1 << 22


class _StopForward(Exception):
    """Raised by the layer hook to skip the rest of the network."""


def parse_channels(value: Any, count: int, method: str = "activation-max") -> list[int]:
    """Turn ``None`` (all), an int, ``"0-63"`` / ``"0,3,5-7"`` or a list into channel indices.

    Args:
        value: The channels option.
        count: Number of channels of the layer.
        method: Explainer name, for messages.

    Returns:
        Channel indices, in the given order.

    Raises:
        ConfigError: Malformed, or a channel outside ``0..count-1``.
    """
    if value is None:
        return list(range(count))
    if isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    elif isinstance(value, str):
        items = []
        for part in value.replace(" ", "").split(","):
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not m:
                raise ConfigError(
                    f"{method}: cannot read channels {value!r}; use e.g. 0-63 or 0,3,5-7"
                )
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise ConfigError(f"{method}: empty channel range {part!r} in {value!r}")
            items.extend(range(lo, hi + 1))
    elif isinstance(value, (list, tuple, range, np.ndarray, torch.Tensor)):
        items = [int(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    else:
        raise ConfigError(f"{method}: channels must be an int, a range string or a list, "
                          f"got {value!r}")
    if not items:
        raise ConfigError(f"{method}: no channels selected")
    bad = [c for c in items if not 0 <= c < count]
    if bad:
        raise ConfigError(f"{method}: channel {bad[0]} is outside 0..{count - 1} of the layer")
    return items


def roll_batch(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Circularly shift each image of (K, C, H, W) by its own ``(dy[k], dx[k])`` pixels."""
    k, c, h, w = x.shape
    rows = (torch.arange(h, device=x.device)[None, :] - dy[:, None]) % h
    cols = (torch.arange(w, device=x.device)[None, :] - dx[:, None]) % w
    x = x.gather(2, rows[:, None, :, None].expand(k, c, h, w))
    return x.gather(3, cols[:, None, None, :].expand(k, c, h, w))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each channel of (K, C, H, W) with a Gaussian of std ``sigma`` (reflect padding).

    The regularizing blur: the explain package's one Gaussian blur with a kernel of
    ``ceil(2 * sigma)`` pixels each side; an image smaller than the kernel is left as it is.
    """
    return _blur.gaussian_blur(x, sigma, truncate=2.0, padding="reflect")


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, per image (K,)."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    return dh + dw


def _slices_conv(module: nn.Module) -> bool:
    """Whether the layer is a plain convolution whose channel means are linear in its input."""
    return (type(module) is nn.Conv2d and module.groups == 1
            and module.padding_mode == "zeros")


def mean_adjoint(conv: nn.Conv2d, in_shape: tuple[int, ...]) -> torch.Tensor:
    """The weights that turn a convolution's spatial mean into a dot product with its input.

    For a convolution with zero padding, the mean over positions of output channel ``c`` is
    linear in the input: ``mean(conv(x)[c]) = sum(G[c] * x) + bias[c]``. ``G`` (out, C, H, W)
    does not depend on ``x``; it is found once, exactly, by differentiating that mean for every
    channel at once. Activation maximization of a convolution's channel then costs one
    multiply-add per input value instead of the convolution, and the gradient with respect to
    the layer's input is ``G[c]`` itself.

    Args:
        conv: The convolution (``groups=1``, ``padding_mode="zeros"``).
        in_shape: Shape ``(C, H, W)`` of one input to it.

    Returns:
        ``G`` as float32 on the convolution's device, shape ``(out_channels, *in_shape)``.
    """
    weight = conv.weight.detach().float()
    cout = weight.shape[0]
    with torch.enable_grad(), torch.autocast(weight.device.type, enabled=False):
        x = torch.zeros((cout, *in_shape), device=weight.device, requires_grad=True)
        out = F.conv2d(x, weight, None, conv.stride, conv.padding, conv.dilation)
        idx = torch.arange(cout, device=weight.device)
        (grad,) = torch.autograd.grad(out[idx, idx].flatten(1).mean(1).sum(), x)
    return grad


def _channel_generator(seed: int, channel: int) -> torch.Generator:
    return seeded_generator(seed, channel)


def _is_whole(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())


def _input_shape(model: nn.Module, option: Any, images: torch.Tensor | None) -> tuple[int, ...]:
    if option is not None:
        if (isinstance(option, (str, bytes)) or not hasattr(option, "__len__")
                or not all(_is_whole(v) for v in option)):
            raise ConfigError(f"activation-max: input_shape must be (C, H, W), got {option!r}")
        shape = tuple(int(v) for v in option)
        if len(shape) != 3 or min(shape) < 1:
            raise ConfigError(f"activation-max: input_shape must be (C, H, W), got {option!r}")
        if math.prod(shape) > MAX_INPUT_PIXELS:
            raise ConfigError(f"activation-max: input_shape {shape} has {math.prod(shape):,} "
                              f"pixels; the limit is {MAX_INPUT_PIXELS:,}")
        return shape
    if images is not None:
        return tuple(images.shape[1:])
    name = getattr(model, "emotionkit_name", None)
    if isinstance(name, str):
        try:
            from ...models import ModelZoo

            return tuple(ModelZoo.info(name)["input_size"])
        except Exception:  # not a zoo name any more: fall back to FER2013's size
            pass
    return (1, 48, 48)


class ActivationMax(Explainer):
    """Activation maximization; see the module docstring.

    Keyword Args:
        layer: Layer name (default: the last convolution in execution order).
        channels: ``None`` (all), an index, ``"0-63"``-style ranges, or a list.
        steps: Gradient-ascent steps (0 to :data:`MAX_STEPS`).
        lr: Adam learning rate (pixels are on [0, 1]; Adam's usual betas 0.9, 0.999).
        l2: Weight of the L2 decay of ``pixel - 0.5``.
        tv: Weight of the total-variation penalty.
        jitter: Largest random shift in pixels per step (0: none; at most :data:`MAX_SHIFT`).
        blur_every: Blur every k steps (0: never).
        blur_sigma: Standard deviation of that blur in pixels.
        init_noise: Standard deviation of the starting noise around 0.5.
        seed: Seed of every random choice.
        input_shape: ``(C, H, W)``; default from the model's zoo entry, else (1, 48, 48).
        max_batch: Channels optimized together (default None: 32 on CPU, 256 on GPU).
        precision: ``"auto"`` (bf16 autocast where the hardware runs it natively, else fp32),
            ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA only) for the forward pass.
        fold_batchnorm: Fold eval-mode BatchNorm into the convolution before it (exact up to
            rounding; checked numerically before use).
        channels_last: NHWC weights for the convolutions in front of the layer (``None``:
            yes for models with 2-D convolutions).
        progress: Show a progress bar on stderr.
    """

    name = "activation-max"
    kind = "synthesis"
    description = "Synthesized inputs that maximize each channel of a layer (all in one batch)"
    defaults = MappingProxyType({
        "layer": None, "channels": None, "steps": 200, "lr": 0.05, "l2": 1e-3, "tv": 0.05,
        "jitter": 2, "blur_every": 4, "blur_sigma": 0.5, "init_noise": 0.1, "seed": 0,
        "input_shape": None, "max_batch": None, "precision": "auto", "fold_batchnorm": True,
        "channels_last": None, "progress": False,
    })

    def explain(
        self, model: nn.Module, images: Any = None, target: Any = None, **options: Any
    ) -> Explanation:
        """Synthesize one input per channel.

        Args:
            model: The model.
            images: Optional starting images instead of noise: one for all channels, or one
                per channel.
            target: Must be ``None`` (the objective is a channel, not a class).
            **options: See the class docstring.

        Returns:
            An :class:`Explanation` of kind ``"synthesis"``: ``maps`` (K, C, H, W) holds the
            synthesized images, ``scores["activation"]`` their channel's mean activation.
        """
        if target is not None:
            raise ConfigError(f"{self.name} takes no target; choose channels with channels=")
        setup = self.prepare(model, images, None, options, images_required=False)
        opts, device, dtype, start = setup.options, setup.device, setup.dtype, setup.images
        steps = check_int(self.name, "steps", opts["steps"], 0, MAX_STEPS)
        lr = check_float(self.name, "lr", opts["lr"], 0.0, strict=True)
        l2 = check_float(self.name, "l2", opts["l2"], 0.0)
        tv = check_float(self.name, "tv", opts["tv"], 0.0)
        jitter = check_int(self.name, "jitter", opts["jitter"], 0, MAX_SHIFT)
        blur_every = check_int(self.name, "blur_every", opts["blur_every"], 0)
        blur_sigma = check_float(self.name, "blur_sigma", opts["blur_sigma"], 0.0, strict=True)
        init_noise = check_float(self.name, "init_noise", opts["init_noise"], 0.0)
        seed = check_int(self.name, "seed", opts["seed"])
        check_bool(self.name, "progress", opts["progress"])
        fold = check_bool(self.name, "fold_batchnorm", opts["fold_batchnorm"])
        plan_precision = resolve_precision(str(opts["precision"]), device)
        opts["precision"] = plan_precision.name
        channels_last = resolve_channels_last(
            None if opts["channels_last"] is None
            else check_bool(self.name, "channels_last", opts["channels_last"]),
            model, device)
        opts["channels_last"] = channels_last
        max_batch = setup.settle_max_batch(self.name)
        shape = _input_shape(model, opts["input_shape"], start)
        opts["input_shape"] = list(shape)
        if start is not None and tuple(start.shape[1:]) != shape:
            raise ConfigError(f"{self.name}: starting images of shape {tuple(start.shape[1:])} "
                              f"do not match input_shape {shape}")

        with ModelState(model) as state:
            probe = torch.full((1, *shape), 0.5, device=device, dtype=dtype)
            trace = model_trace(state, probe)
            layer = default_conv_layer(trace, self.name) if opts["layer"] is None else opts["layer"]
            module = find_layer(model, layer)
            check_single_call(trace, layer, self.name)
            names = [n for n, _ in trace.calls]
            out_shape = dict(zip(names, trace.output_shapes, strict=True)).get(layer)
            if out_shape is None:  # a container module: run once to see its output
                out_shape = self._output_shape(state, module, probe)
            if not isinstance(out_shape, tuple) or len(out_shape) not in (2, 4):
                raise ExplainError(f"{self.name}: layer {layer!r} gives {out_shape}; need "
                                   "(N, C, h, w) or (N, units)")
            channels = parse_channels(opts["channels"], out_shape[1], self.name)
            opts["layer"], opts["channels"] = layer, channels
            together = min(len(channels), max_batch)
            # per image in a batch: the pixels, Adam's two moments and the gradient
            check_memory(self.name, f"{together} images of shape {shape} optimized together",
                         together * math.prod(shape) * 4 * (torch.finfo(dtype).bits // 8),
                         "use a smaller max_batch or input_shape")
            gen = torch.Generator().manual_seed(0)
            check_batch = torch.rand((2, *shape), generator=gen).to(device=device, dtype=dtype)
            prefix = speed_up_prefix(
                state, trace, layer, check_batch,
                lambda x: self._layer_output(state, module, x),
                fold_batchnorm=fold, channels_last=channels_last,
            )
            if start is not None and len(start) not in (1, len(channels)):
                raise ConfigError(f"{self.name}: give 1 starting image or one per channel "
                                  f"({len(channels)}), got {len(start)}")
            results, finals, histories = [], [], []
            n_chunks = math.ceil(len(channels) / max_batch)
            with progress_bar(steps * n_chunks, opts["progress"], self.name) as update:
                for a, b in chunks(len(channels), max_batch):
                    init = None
                    if start is not None:
                        init = start if len(start) == 1 else start[a:b]
                    img, final, hist = self._optimize(
                        state, module, channels[a:b], shape, init, steps, lr, l2, tv, jitter,
                        blur_every, blur_sigma, init_noise, seed, update, plan_precision,
                    )
                    results.append(img)
                    finals.append(final)
                    histories.append(hist)
        maps = torch.cat(results).detach().cpu()
        return Explanation(
            maps=maps,
            images=maps.clone(),
            targets=None,
            scores={"activation": torch.cat(finals).cpu()},
            method=self.name,
            options=opts,
            extras={"layer": layer, "channels": channels,
                    "history": torch.cat(histories, dim=1).cpu(),
                    "folded": prefix.folded, "channels_last_layers": prefix.channels_last,
                    "prefix_notes": prefix.skipped},
            kind=self.kind,
        )

    @staticmethod
    def _layer_output(state: ModelState, module: nn.Module, x: torch.Tensor) -> Any:
        """The layer's output for ``x``; the layers after it do not run."""
        seen: list[Any] = []

        def hook(mod, args, output):
            seen.append(output)
            raise _StopForward

        with state.hooks() as hooks:
            hooks.forward(module, hook)
            try:
                state.model(x)
            except _StopForward:
                pass
        return seen[0] if seen else None

    @classmethod
    def _output_shape(cls, state: ModelState, module: nn.Module, probe: torch.Tensor):
        with torch.no_grad():
            output = cls._layer_output(state, module, probe)
        return tuple(output.shape) if isinstance(output, torch.Tensor) else None

    def _optimize(self, state, module, channels, shape, init, steps, lr, l2, tv, jitter,
                  blur_every, blur_sigma, init_noise, seed, update, precision):
        """Optimize one batch of channels; returns (images, final activations, history)."""
        device, dtype = model_device(state.model)
        k = len(channels)
        gens = [_channel_generator(seed, c) for c in channels]
        if init is None:
            noise = torch.stack([torch.randn(shape, generator=g) for g in gens])
            x0 = (0.5 + init_noise * noise).clamp(0.0, 1.0)
        else:
            x0 = init.expand(k, *shape).detach().cpu()
        if jitter:
            shifts = torch.stack([torch.randint(-jitter, jitter + 1, (max(steps, 1), 2),
                                                generator=g) for g in gens]).to(device)
        param = x0.to(device=device, dtype=dtype).clone().requires_grad_(True)
        # Adam, written out: per-pixel statistics keep the channels independent, and it avoids
        # torch.optim's slow first-use imports
        moment1, moment2 = torch.zeros_like(param), torch.zeros_like(param)
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        index = torch.arange(k, device=device)
        chans = torch.as_tensor(channels, device=device)
        captured: list[torch.Tensor] = []
        sliced = _slices_conv(module)

        def hook(mod, args, output):
            captured.append(output[index, chans])
            raise _StopForward

        adjoint: list[torch.Tensor] = []

        def sliced_hook(mod, args):
            (inp,) = args
            if not adjoint:  # G of every channel, once per call (shared by all batches)
                in_shape = tuple(inp.shape[1:])
                g = state.cached(f"mean_adjoint{in_shape}",
                                 lambda: mean_adjoint(mod, in_shape))[chans]
                adjoint.append(g.contiguous(memory_format=torch.channels_last)
                               if inp.is_contiguous(memory_format=torch.channels_last) else g)
            value = (inp * adjoint[0]).flatten(1).sum(1)
            if mod.bias is not None:
                value = value + mod.bias[chans].float()
            captured.append(value)
            raise _StopForward

        def objective(x: torch.Tensor) -> torch.Tensor:
            captured.clear()
            try:
                state.model(x)
            except _StopForward:
                pass
            (picked,) = captured
            picked = picked.float()
            return picked.flatten(1).mean(1) if picked.ndim > 1 else picked

        history = torch.zeros(steps, k)
        with state.hooks() as hooks:
            if sliced:
                hooks.forward_pre(module, sliced_hook)
            else:
                hooks.forward(module, hook)
            for step in range(steps):
                x = roll_batch(param, shifts[:, step, 0], shifts[:, step, 1]) if jitter else param
                with precision.autocast():
                    act = objective(x)
                loss = -act.sum()
                if l2:
                    loss = loss + l2 * ((param - 0.5) ** 2).flatten(1).sum(1).sum()
                if tv:
                    loss = loss + tv * total_variation(param).sum()
                (grad,) = torch.autograd.grad(loss, param)
                with torch.no_grad():
                    moment1.mul_(beta1).add_(grad, alpha=1.0 - beta1)
                    moment2.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                    denom = (moment2 / (1.0 - beta2 ** (step + 1))).sqrt_().add_(eps)
                    param.addcdiv_(moment1, denom, value=-lr / (1.0 - beta1 ** (step + 1)))
                    param.clamp_(0.0, 1.0)
                    if blur_every and (step + 1) % blur_every == 0:
                        param.copy_(gaussian_blur(param, blur_sigma))
                history[step] = act.detach().cpu()
                update(1)
            with torch.no_grad():
                final = objective(param)
        return param.detach(), final.detach(), history
