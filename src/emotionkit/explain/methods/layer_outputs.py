"""``layer-outputs``: the feature maps of named layers (default: every convolution)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError
from .._layers import find_layer
from .._model_state import ModelState
from ..base import Explainer, chunks, target_scores
from ..explanation import Explanation
from ..inputs import (
    probe_model_input,
    resolve_targets,
)
from ._common import model_trace


class LayerOutputs(Explainer):
    """Record what named layers output for the given images.

    A module that runs several times per forward pass (a reused module) gives one entry per
    call: ``name`` for the first, ``name#2``, ``name#3``... for the next ones.

    Keyword Args:
        layer: A layer name, a list of names, or ``None`` for every convolution (in execution
            order).
        max_batch: Images per forward pass (default None: 32 on CPU, 256 on GPU).
    """

    name = "layer-outputs"
    kind = "layers"
    description = "Feature maps of any named layer (default: every convolution)"
    defaults = MappingProxyType({"layer": None, "max_batch": None})

    def explain(
        self, model: nn.Module, images: Any, target: Any = None, **options: Any
    ) -> Explanation:
        """Run the images through the model and keep the requested layers' outputs.

        Args:
            model: The model.
            images: The images (tensor, uint8 array, list, or Dataset).
            target: Only used for ``targets``/``scores`` (default: the predicted class).
            **options: ``layer``, ``max_batch``.

        Returns:
            An :class:`Explanation` of kind ``"layers"``: ``maps`` is a dict name -> tensor
            (N, channels, h, w) (or (N, units) for dense layers), in execution order.
        """
        setup = self.prepare(model, images, target, options)
        opts, x, spec = setup.options, setup.images, setup.target
        with ModelState(model) as state:
            max_batch = setup.settle_max_batch(
                self.name, probe_model_input(state.model, x, self.name)[1])
            trace = model_trace(state, x)
            layers = self._layers(state, trace, opts["layer"])
            opts["layer"] = layers
            outputs: dict[str, list[torch.Tensor]] = {}
            logits, targets = [], []
            calls: dict[str, int] = {}

            def reset(mod, args):  # a new forward pass: count calls from 1 again
                calls.clear()

            def recorder(name: str):
                def hook(mod, args, output):
                    calls[name] = calls.get(name, 0) + 1
                    key = name if calls[name] == 1 else f"{name}#{calls[name]}"
                    if isinstance(output, torch.Tensor):
                        outputs.setdefault(key, []).append(output.detach().clone())

                return hook

            with state.hooks() as hooks, torch.no_grad():
                hooks.forward_pre(model, reset)
                for name in layers:
                    hooks.forward(find_layer(model, name), recorder(name))
                for start, stop in chunks(len(x), max_batch):
                    out = model(x[start:stop])
                    targets.append(resolve_targets(spec, out, start))
                    logits.append(out)
        maps = {k: torch.cat(v).detach().float().cpu() for k, v in outputs.items()}
        all_logits, all_targets = torch.cat(logits), torch.cat(targets)
        names = setup.output_names(all_logits)
        return Explanation(
            maps=maps,
            images=x.cpu(),
            targets=all_targets.cpu(),
            scores=target_scores(all_logits, all_targets),
            method=self.name,
            options=opts,
            kind=self.kind,
            class_names=names,
        )

    def _layers(self, state: ModelState, trace, layer: Any) -> list[str]:
        if layer is None:
            convs = trace.conv_layers()
            if not convs:
                raise ConfigError(f"{self.name}: the model has no convolution; pass layer=NAME")
            return convs
        names = [layer] if isinstance(layer, str) else list(layer)
        for name in names:
            find_layer(state.model, name)
        return names
