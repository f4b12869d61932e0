"""numpy in -> numpy out, torch in -> torch out (same device), for every array function."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotionkit.errors import ConfigError
from emotionkit.math import batchnorm, pca
from emotionkit.math import softmax as sm
from emotionkit.math._array import as_tensor, like

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _calls(x2d, idx, x4d, gamma):
    """(name, function) pairs covering each public array function."""
    return [
        ("softmax", lambda: sm.softmax(x2d)),
        ("log_softmax", lambda: sm.log_softmax(x2d)),
        ("cross_entropy", lambda: sm.cross_entropy(x2d, idx)),
        ("cross_entropy_grad", lambda: sm.cross_entropy_grad(x2d, idx)),
        ("sigmoid", lambda: sm.sigmoid(x2d)),
        ("bce", lambda: sm.binary_cross_entropy_with_logits(x2d, x2d * 0)),
        ("bce_grad", lambda: sm.binary_cross_entropy_grad(x2d, x2d * 0)),
        ("bn_forward", lambda: batchnorm.forward(x4d, gamma, gamma)[0]),
        ("bn_backward", lambda: batchnorm.backward(x4d, x4d, gamma).dx),
        ("pca_components", lambda: pca.fit(x2d).components),
        ("pca_error", lambda: pca.fit(x2d).reconstruction_error(x2d, 1)),
    ]


def test_numpy_in_numpy_out():
    rng = np.random.default_rng(0)
    x2d, x4d = rng.normal(size=(6, 4)), rng.normal(size=(3, 2, 4, 4))
    for name, call in _calls(x2d, np.array([0, 1, 2, 3, 0, 1]), x4d, np.ones(2)):
        out = call()
        assert isinstance(out, (np.ndarray, np.floating)), name
        assert out.dtype == np.float64, name


@pytest.mark.parametrize("device", DEVICES)
def test_torch_in_torch_out_on_its_device(device):
    g = torch.Generator().manual_seed(0)
    x2d = torch.randn(6, 4, generator=g).to(device)
    x4d = torch.randn(3, 2, 4, 4, generator=g).to(device)
    idx = torch.tensor([0, 1, 2, 3, 0, 1], device=device)
    gamma = torch.ones(2, device=device)
    for name, call in _calls(x2d, idx, x4d, gamma):
        out = call()
        assert isinstance(out, torch.Tensor), name
        assert out.device.type == device and out.dtype == torch.float32, name
        assert not out.requires_grad


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_results_equal_cpu_results():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 5, 5, generator=g, dtype=torch.float64)
    dy = torch.randn(8, 3, 5, 5, generator=g, dtype=torch.float64)
    gamma = torch.randn(3, generator=g, dtype=torch.float64)
    cpu = batchnorm.backward(dy, x, gamma)
    gpu = batchnorm.backward(dy.cuda(), x.cuda(), gamma.cuda())
    for name in cpu:
        torch.testing.assert_close(gpu[name].cpu(), cpu[name], rtol=0, atol=1e-12)
    pts = torch.randn(50, 6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(pca.fit(pts.cuda()).components.cpu(), pca.fit(pts).components)
    # targets given as numpy are moved to the logits' device
    z = torch.randn(4, 3, generator=g, dtype=torch.float64)
    got = sm.cross_entropy_grad(z.cuda(), np.array([0, 1, 2, 0]))
    torch.testing.assert_close(got.cpu(), sm.cross_entropy_grad(z, np.array([0, 1, 2, 0])))


def test_integer_and_list_input_become_float64():
    assert as_tensor([1, 2, 3], "x").dtype == torch.float64
    assert as_tensor(torch.tensor([1, 2]), "x").dtype == torch.float64
    assert as_tensor(np.float16([1.0]), "x").dtype == torch.float32
    assert as_tensor(np.int64(3), "x", floating=False).shape == ()
    assert isinstance(like(torch.tensor(2.0), torch_out=False), np.floating)
    view = np.arange(10.0)[::-2]  # negative stride: copied, not rejected
    assert as_tensor(view, "x").tolist() == view.tolist()
    with pytest.raises(ConfigError, match="numeric"):
        as_tensor(np.array(["a"]), "x")
    with pytest.raises(ConfigError, match="real-valued"):
        as_tensor(torch.tensor([1j]), "x")
