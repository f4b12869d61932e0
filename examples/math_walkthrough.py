"""Walk through the course's hand calculations with emotionkit.math and print every answer.

Run:  python examples/math_walkthrough.py [--figure eigenfaces.png]

Each section prints the worked answer and checks it against an independent computation
(torch's own layers, autograd or scikit-learn), so the script doubles as a self-test.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emotionkit.math import batchnorm, conv, pca
from emotionkit.math import softmax as sm
from emotionkit.math.model_cost import analyze, complexity


def section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def conv_answers() -> None:
    section("1. Convolution output size, parameters, multiplications, additions")
    for n, k, p, s in [(48, 3, 1, 1), (48, 5, 0, 2), (48, 4, "same", 1), (7, 3, 0, 2)]:
        size = conv.output_size(n, k, p, s)
        x, torch_pad = torch.zeros(1, 1, n, n), p
        if p == "same":  # pad explicitly, (before, after) as TensorFlow and PyTorch do
            before, after = conv.same_padding(k, n=n, s=s)
            x, torch_pad = F.pad(x, (before, after, before, after)), 0
        actual = nn.Conv2d(1, 1, k, stride=s, padding=torch_pad)(x).shape[-1]
        print(f"n={n:>2} k={k} p={p!s:>4} s={s}: output {size:>2} (torch: {actual})")
    print("Keras MaxPooling2D(4, 'same') x3:", [48] + [
        conv.pool_output_size(v, 4, padding="same") for v in (48, 12, 3)
    ])
    for c_in, c_out in [(1, 32), (32, 64)]:
        for bias in (True, False):
            c = conv.conv_ops(48, c_in, c_out, 3, p="same", bias=bias)
            print(f"conv 3x3 same {c_in:>2}->{c_out:<2} bias={bias!s:<5}: params {c.params:>6,}  "
                  f"mults {c.multiplications:>11,}  adds {c.additions:>11,}  "
                  f"(per output: {c.per_output_multiplications} x, "
                  f"{c.per_output_additions} +)")


def model_answers() -> None:
    section("2. A small CNN layer by layer, and the big-O of a CNN")
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 12 * 12, 7),
    )
    print(analyze(model))
    c = complexity(model)
    print(c.text)
    print(c.latex)
    print("terms:", c.expanded)
    try:
        from emotionkit.models import ModelZoo
    except ImportError:
        print("(the model zoo is not installed: skipping the report models)")
        return
    for name in ("hw17-cnn", "hw19-cnn"):
        if name in ModelZoo.list():
            table = analyze(ModelZoo.create(name))
            print(f"{name}: {table.total_params:,} parameters, {table.total_macs:,} MACs per image")


def pca_answers(figure: str | None) -> None:
    section("3. PCA of the ten points (SPEC's worked example)")
    points = np.array([(1, 2, 3), (4, 8, 5), (3, 12, 9), (1, 8, 5), (5, 14, 2), (7, 4, 1),
                       (9, 8, 9), (3, 8, 1), (11, 5, 6), (10, 11, 7)])
    r = pca.fit(points)
    with np.printoptions(precision=4, suppress=True):
        print("mean:", r.mean)
        print("covariance (1/N):\n", r.covariance)
        print("eigenvalues (1/N):    ", r.eigenvalues_population)
        print("eigenvalues (1/(N-1)):", r.eigenvalues_sample)
        print("explained variance ratio:", r.explained_variance_ratio)
        print("principal axes (rows):\n", r.components)
        print("reconstruction error with k=1:", r.reconstruction_error(points, 1))
        print("reconstruction error with k=3:", r.reconstruction_error(points, 3))
    from sklearn.decomposition import PCA

    sk = PCA().fit(points)
    same = np.allclose(np.abs(sk.components_), np.abs(r.components))
    print(f"scikit-learn agrees up to sign: {same}; its explained_variance_ is the 1/(N-1) "
          f"set: {np.allclose(sk.explained_variance_, r.eigenvalues_sample)}")
    if figure:
        from emotionkit.data import synthetic

        faces = synthetic(20, seed=0).images
        faces_pca = pca.eigenfaces(faces, k=40)
        path = pca.plot_eigenfaces(faces_pca, faces, figure)
        top = float(np.sum(faces_pca.explained_variance_ratio[:10]))
        print(f"eigenfaces of {len(faces)} synthetic faces: top 10 explain {top:.1%}; "
              f"figure written to {path}")


def batchnorm_answers() -> None:
    section("4. BatchNorm backward pass vs autograd (float64)")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 5, 5, generator=g, dtype=torch.float64)
    gamma = torch.randn(3, generator=g, dtype=torch.float64)
    beta = torch.randn(3, generator=g, dtype=torch.float64)
    dy = torch.randn(4, 3, 5, 5, generator=g, dtype=torch.float64)
    grads = batchnorm.backward(dy, x, gamma)
    xs, gs, bs = (t.clone().requires_grad_(True) for t in (x, gamma, beta))
    (F.batch_norm(xs, None, None, gs, bs, training=True) * dy).sum().backward()
    for name, ref in (("dx", xs.grad), ("dgamma", gs.grad), ("dbeta", bs.grad)):
        err = float((grads[name] - ref).abs().max())
        print(f"{name:>6}: max |analytic - autograd| = {err:.1e}")
    print("dvar  =", grads.dvar.numpy().round(4), " dmean =", grads.dmean.numpy().round(4))


def softmax_answers() -> None:
    section("5. Softmax cross-entropy gradient y_hat - y")
    z = np.array([[2.0, 1.0, 0.1]])
    print("softmax(2, 1, 0.1) =", sm.softmax(z).round(4))
    print("loss for class 0   =", round(float(sm.cross_entropy(z, [0])), 4))
    print("gradient           =", sm.cross_entropy_grad(z, [0]).round(4))
    print("with smoothing 0.1 =", sm.cross_entropy_grad(z, [0], label_smoothing=0.1).round(4))
    zt = torch.tensor(z, requires_grad=True)
    F.cross_entropy(zt, torch.tensor([0]), reduction="sum").backward()
    print("autograd           =", zt.grad.numpy().round(4))
    big = np.array([[1e4, -1e4, 0.0]])
    print("logits +-1e4: loss", float(sm.cross_entropy(big, [1])), "gradient",
          sm.cross_entropy_grad(big, [1]))
    print("binary: sigmoid(0.5) - 1 =", round(float(sm.binary_cross_entropy_grad(
        np.array([0.5]), np.array([1.0]))[0]), 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figure", default=None, help="Also write an eigenfaces PNG here.")
    args = parser.parse_args()
    conv_answers()
    model_answers()
    pca_answers(args.figure)
    batchnorm_answers()
    softmax_answers()


if __name__ == "__main__":
    main()
