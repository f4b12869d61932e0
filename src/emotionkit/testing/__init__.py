"""Test helpers for emotionkit and its plugins: tiny fixed-weight models and leak checks.

* :class:`TinyCNN`: a one-channel CNN with all-ones kernels and chosen biases whose
  saliency, guided-backprop, Grad-CAM and integrated-gradient maps can be derived by hand; in
  variants with in-place, reused, functional and non-ReLU activations.
* :class:`FailingLayer`: raises in forward or backward on purpose.
* :class:`InputGradientStub`: a vanilla-gradient explainer built from the contract alone.
* :class:`RegionModel`: looks only at one 8x8 region (for faithfulness tests).
* :func:`check_explainer`, :func:`snapshot`, :func:`assert_restored`, :func:`hook_counts`:
  assert that an explainer leaves no hooks and restores the model.
"""

from __future__ import annotations

from .checks import ModelSnapshot, assert_restored, check_explainer, hook_counts, snapshot
from .explainers import InputGradientStub
from .models import FailingLayer, TinyCNN
from .region import RegionModel

__all__ = [
    "TinyCNN",
    "FailingLayer",
    "RegionModel",
    "InputGradientStub",
    "check_explainer",
    "snapshot",
    "assert_restored",
    "hook_counts",
    "ModelSnapshot",
]
