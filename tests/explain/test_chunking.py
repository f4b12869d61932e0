"""The default chunk size comes from a memory budget and one image's measured activations."""

from __future__ import annotations

import torch
from torch import nn

from emotionkit import explain
from emotionkit.explain.base import CHUNK_BUDGET, CHUNK_LIMITS, resolve_max_batch
from emotionkit.explain.inputs import probe_model_input

CPU = torch.device("cpu")


def test_probe_counts_every_leaf_output_exactly():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 48 * 48, 7)).eval()
    logits, nbytes = probe_model_input(model, torch.rand(5, 1, 48, 48), "saliency")
    # conv (4x48x48) + relu (4x48x48) + flatten (9216) + linear (7), float32, one image
    assert nbytes == (4 * 48 * 48 * 3 + 7) * 4
    assert logits.shape == (1, 7)
    assert all(not m._forward_hooks for m in model.modules())  # the probe leaves no hook


def test_budget_rule_and_limits():
    low, high = CHUNK_LIMITS["cpu"]
    assert resolve_max_batch("m", None, CPU, CHUNK_BUDGET["cpu"] // 100) == 100
    assert resolve_max_batch("m", None, CPU, CHUNK_BUDGET["cpu"] * 10) == low
    assert resolve_max_batch("m", None, CPU, 1) == high
    assert resolve_max_batch("m", None, CPU) == 32  # nothing measured: the fixed default
    assert resolve_max_batch("m", 5, CPU, 1) == 5  # the caller's choice wins


def test_explanations_record_the_chosen_chunk_and_do_not_depend_on_it():
    model = nn.Sequential(nn.Flatten(), nn.Linear(48 * 48, 7)).eval()
    x = torch.rand(6, 1, 48, 48)
    auto = explain.run("saliency", model, x)
    per_image = (48 * 48 + 7) * 4  # flatten + linear outputs
    assert auto.options["max_batch"] == min(CHUNK_LIMITS["cpu"][1],
                                            CHUNK_BUDGET["cpu"] // per_image)
    one = explain.run("saliency", model, x, max_batch=1)
    torch.testing.assert_close(auto.maps, one.maps)


def test_chunks_are_balanced_and_cover_everything():
    from emotionkit.explain.base import chunks

    assert list(chunks(65, 64)) == [(0, 33), (33, 65)]
    assert list(chunks(64, 64)) == [(0, 64)]
    assert list(chunks(5, 2)) == [(0, 2), (2, 4), (4, 5)]
    assert list(chunks(0, 8)) == []
    for n in range(1, 40):
        for m in range(1, 12):
            parts = list(chunks(n, m))
            sizes = [b - a for a, b in parts]
            assert parts[0][0] == 0 and parts[-1][1] == n and max(sizes) <= m
            assert max(sizes) - min(sizes) <= 1 and len(parts) == -(-n // m)
