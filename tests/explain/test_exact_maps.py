"""Exact maps on TinyCNN, against hand-derived values and an independent numpy derivation.

TinyCNN's convolutions use 3x3 all-ones kernels with zero padding, i.e. neighbourhood sums
``nb``; a neighbourhood sum is its own transpose, so every backward pass is a few lines of
numpy below (no autograd involved).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotionkit import explain
from emotionkit.errors import ExplainError
from emotionkit.testing import TinyCNN

# the 3x3 image of the hand derivations: ones in two opposite corners
X3 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def nb(a: np.ndarray) -> np.ndarray:
    """Sum over the 3x3 neighbourhood of each pixel, zero padding."""
    p = np.pad(a, 1)
    h, w = a.shape
    return sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3))


def reference(x, cfg, target, guided=False):
    """Forward and backward of TinyCNN in numpy. Returns (input gradient, logits, pre, grads)."""
    scales, biases, head = cfg["scales"], cfg["biases"], np.asarray(cfg["head"])
    k, hw = len(scales), x.size
    pre = [s * nb(x) + b for s, b in zip(scales, biases, strict=True)]
    r1 = [np.maximum(p, 0) for p in pre]
    if cfg.get("reuse"):
        mix, mb = np.asarray(cfg["mix"]), cfg["mix_bias"]
        m = [sum(mix[o, i] * nb(r1[i]) for i in range(k)) + mb[o] for o in range(k)]
        feat = [np.maximum(v, 0) for v in m]
    else:
        feat = r1
    logits = head @ np.array([f.mean() for f in feat])
    clamp = (lambda g: np.maximum(g, 0)) if guided else (lambda g: g)
    g_feat = [np.full(x.shape, head[target, i] / hw) for i in range(k)]
    if cfg.get("reuse"):
        g_m = [clamp(g_feat[o]) * (m[o] > 0) for o in range(k)]
        g_r1 = [sum(mix[o, i] * nb(g_m[o]) for o in range(k)) for i in range(k)]
    else:
        g_r1 = g_feat
    g_pre = [clamp(g_r1[i]) * (pre[i] > 0) for i in range(k)]
    grad = sum(scales[i] * nb(g_pre[i]) for i in range(k))
    return grad, logits, pre, g_pre, r1, g_r1


def tensor(*images: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.stack(images)[:, None], dtype=torch.float32)


CFG = {"scales": (1.0, -1.0), "biases": (-3.0, 3.5),
       "head": ((1.0, -1.0), (-0.5, 2.0), (0.25, 0.5))}
REUSE_CFG = {**CFG, "reuse": True, "mix": ((1.0, -0.5), (0.5, 1.0)), "mix_bias": (-2.0, -3.0)}


def model_of(cfg, activation="relu"):
    return TinyCNN(cfg["scales"], cfg["biases"], cfg["head"], activation=activation,
                   reuse=cfg.get("reuse", False), mix=cfg.get("mix", ((1.0, 0.5), (-0.5, 1.0))),
                   mix_bias=cfg.get("mix_bias", (-1.0, 0.5)))


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.uniform(0, 1, (6, 6)).round(3) for _ in range(3)]


# ----------------------------------------------------------------------------- hand-derived
LITERAL = TinyCNN(scales=(1.0, -1.0), biases=(-0.5, 1.5), head=((1.0, -1.0), (-0.5, 2.0)))


def test_saliency_literal_hand_derivation():
    # nb(X3) = [[1,1,0],[1,2,1],[0,1,1]]; channel 0 (nb - 0.5) is active except at the two
    # zero corners, channel 1 (1.5 - nb) except at the centre. d logit0 / dX(p) =
    # (1/9) * (#active ch0 in N(p) + #active ch1 in N(p)).
    result = explain.run("saliency", LITERAL, tensor(X3), target=0, absolute=False)
    expected = torch.tensor([[7, 10, 6], [10, 15, 10], [6, 10, 7]]) / 9.0
    torch.testing.assert_close(result.maps[0, 0], expected)
    # target 1 = -0.5 * ch0 + 2 * ch1: gradient (1/9)(-0.5 * n0 - 2 * n1)
    result = explain.run("saliency", LITERAL, tensor(X3), target=1, absolute=False)
    n0 = torch.tensor([[4, 5, 3], [5, 7, 5], [3, 5, 4]], dtype=torch.float32)
    n1 = torch.tensor([[3, 5, 3], [5, 8, 5], [3, 5, 3]], dtype=torch.float32)
    torch.testing.assert_close(result.maps[0, 0], (-0.5 * n0 - 2.0 * n1) / 9.0)
    absolute = explain.run("saliency", LITERAL, tensor(X3), target=1)
    torch.testing.assert_close(absolute.maps[0, 0], (0.5 * n0 + 2.0 * n1) / 9.0)


@pytest.mark.parametrize("activation", ["relu", "relu-inplace"])
def test_guided_backprop_literal_hand_derivation(activation):
    # target 0: channel 1's gradient (-1/9) is negative and is clamped away at the ReLU, so
    # only channel 0 remains: (1/9) * n0. Target 1: channel 0's (-0.5/9) is clamped.
    model = TinyCNN(scales=(1.0, -1.0), biases=(-0.5, 1.5), head=((1.0, -1.0), (-0.5, 2.0)),
                    activation=activation)
    n0 = torch.tensor([[4, 5, 3], [5, 7, 5], [3, 5, 4]], dtype=torch.float32)
    n1 = torch.tensor([[3, 5, 3], [5, 8, 5], [3, 5, 3]], dtype=torch.float32)
    result = explain.run("guided-backprop", model, tensor(X3, X3), target=[0, 1])
    torch.testing.assert_close(result.maps[0, 0], n0 / 9.0)
    # channel 1 has scale -1, so its guided gradient 2/9 * n1 flips sign through the conv
    torch.testing.assert_close(result.maps[1, 0], -2.0 * n1 / 9.0)


def test_grad_cam_literal_hand_derivation():
    # layer "conv" (pre-activation A): alpha_k = mean(d logit0 / dA_k) = head[0,k]/9 * active
    # share: alpha0 = 7/81, alpha1 = -8/81; cam = relu(7 A0 - 8 A1) / 81 -> only the centre
    # survives: (7 * 1.5 - 8 * -0.5) / 81 = 14.5 / 81.
    result = explain.run("grad-cam", LITERAL, tensor(X3), target=0, layer="conv")
    expected = torch.zeros(3, 3)
    expected[1, 1] = 14.5 / 81.0
    torch.testing.assert_close(result.extras["layer_maps"][0, 0], expected)
    torch.testing.assert_close(result.maps[0, 0], expected)  # same size: no resampling
    # layer "act": alpha_k = head[0,k]/9, cam = relu(r0 - r1)/9 -> centre 1.5/9
    result = explain.run("grad-cam", LITERAL, tensor(X3), target=0, layer="act")
    expected[1, 1] = 1.5 / 9.0
    torch.testing.assert_close(result.maps[0, 0], expected)


def test_integrated_gradients_exact_on_a_model_linear_along_the_path():
    # bias 10 keeps the ReLU active on the whole path from black, so the model is linear:
    # logit0 = 2 * mean(nb(X) + 10) and IG = X(p) * 2 |N(p)| / 9 exactly: 8/9 at both corners.
    model = TinyCNN(scales=(1.0,), biases=(10.0,), head=((2.0,), (-1.0,)))
    result = explain.run("integrated-gradients", model, tensor(X3), target=0, steps=4)
    expected = torch.zeros(3, 3)
    expected[0, 0] = expected[2, 2] = 8.0 / 9.0
    torch.testing.assert_close(result.maps[0, 0], expected)
    assert float(result.extras["completeness_error"][0]) < 1e-5
    torch.testing.assert_close(result.extras["target_delta"][0], torch.tensor(16.0 / 9.0))


# ----------------------------------------------------------------------------- general case
@pytest.mark.parametrize("activation", ["relu", "relu-inplace"])
@pytest.mark.parametrize("cfg", [CFG, REUSE_CFG], ids=["plain", "reused-relu"])
@pytest.mark.parametrize("target", [0, 1, 2])
def test_saliency_and_guided_match_the_derivation(images, cfg, activation, target):
    model = model_of(cfg, activation)
    x = tensor(*images)
    sal = explain.run("saliency", model, x, target=target, absolute=False)
    gbp = explain.run("guided-backprop", model, x, target=target)
    for i, img in enumerate(images):
        grad, logits, pre, *_ = reference(img, cfg, target)
        assert 0.0 < np.mean(pre[0] > 0) < 1.0 or 0.0 < np.mean(pre[1] > 0) < 1.0
        guided, *_ = reference(img, cfg, target, guided=True)
        np.testing.assert_allclose(sal.maps[i, 0].numpy(), grad, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(gbp.maps[i, 0].numpy(), guided, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sal.scores["logit"][i], logits[target], rtol=1e-5)


def test_reused_relu_masks_are_applied_per_call(images):
    """The reused-ReLU test distinguishes per-call masks from a single (wrong) mask."""
    model = model_of(REUSE_CFG, "relu-inplace")
    x = tensor(*images)
    gbp = explain.run("guided-backprop", model, x, target=0)
    img = images[0]
    correct, *_ = reference(img, REUSE_CFG, 0, guided=True)
    # a wrong implementation that reused the second call's mask at the first call
    scales, biases = REUSE_CFG["scales"], REUSE_CFG["biases"]
    mix, mb = np.asarray(REUSE_CFG["mix"]), REUSE_CFG["mix_bias"]
    head = np.asarray(REUSE_CFG["head"])
    r1 = [np.maximum(s * nb(img) + b, 0) for s, b in zip(scales, biases, strict=True)]
    m = [sum(mix[o, i] * nb(r1[i]) for i in range(2)) + mb[o] for o in range(2)]
    g_m = [np.maximum(head[0, o] / img.size, 0) * (m[o] > 0) for o in range(2)]
    g_r1 = [sum(mix[o, i] * nb(g_m[o]) for o in range(2)) for i in range(2)]
    wrong = sum(scales[i] * nb(np.maximum(g_r1[i], 0) * (m[i] > 0)) for i in range(2))
    assert not np.allclose(correct, wrong, atol=1e-4), "test image does not separate the cases"
    np.testing.assert_allclose(gbp.maps[0, 0].numpy(), correct, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", ["conv", "act"])
def test_grad_cam_matches_the_derivation(images, layer):
    model = model_of(CFG)
    result = explain.run("grad-cam", model, tensor(*images), target=1, layer=layer)
    for i, img in enumerate(images):
        _, _, pre, g_pre, r1, g_r1 = reference(img, CFG, 1)
        acts, grads = (pre, g_pre) if layer == "conv" else (r1, g_r1)
        cam = np.maximum(sum(g.mean() * a for a, g in zip(acts, grads, strict=True)), 0)
        np.testing.assert_allclose(result.maps[i, 0].numpy(), cam, rtol=1e-5, atol=1e-7)


def test_grad_cam_default_layer_is_last_conv_by_execution_order():
    model = model_of(REUSE_CFG)
    result = explain.run("grad-cam", model, tensor(X3))
    assert result.options["layer"] == "mix"
    with pytest.raises(ExplainError, match="runs 2 times"):
        explain.run("grad-cam", model, tensor(X3), layer="act")


def test_integrated_gradients_completeness_with_kinks(images):
    model = model_of(CFG)
    x = tensor(*images)
    errors = []
    for steps in (4, 64, 256):
        result = explain.run("integrated-gradients", model, x, target=0, steps=steps,
                             rule="trapezoid", baseline=0.0, max_batch=1024)
        with torch.no_grad():
            delta = model(x)[:, 0] - model(torch.zeros_like(x))[:, 0]
        sums = result.maps.flatten(1).double().sum(1)
        torch.testing.assert_close(result.extras["completeness_error"],
                                   (sums - delta.double()).abs())
        errors.append(float(result.extras["completeness_error"].max()))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 5e-3


def test_occlusion_hand_derivation():
    # logit0 of the linear model = 2 * mean(nb(X) + 10); covering pixel p with 0 lowers it
    # by 2 * X(p) * |N(p)| / 9: window 1 gives exactly that per pixel.
    model = TinyCNN(scales=(1.0,), biases=(10.0,), head=((2.0,), (-1.0,)))
    result = explain.run("occlusion", model, tensor(X3), target=0, window=1, stride=1)
    expected = torch.zeros(3, 3)
    expected[0, 0] = expected[2, 2] = 8.0 / 9.0
    torch.testing.assert_close(result.maps[0, 0], expected)
    # a 2x2 window at stride 2 on 3x3: starts 0 and 1 per axis (the last touches the border)
    result = explain.run("occlusion", model, tensor(X3), target=0, window=2, stride=2)
    assert result.extras["windows"] == 4
