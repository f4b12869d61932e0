"""The math of the study (section 8 of ``emotionkit report``; question 7 of the assignment).

1. Per layer of the ``compact`` CNN: output shape, parameters, multiplications and additions
   (:func:`emotionkit.math.analyze`), the conv layers redone by hand, and the CNN's big-O time.
2. PCA by hand of the assignment's ten 3-D points (covariance with 1/N), checked against
   :func:`emotionkit.math.pca.fit`; eigenfaces of ``--images`` training faces.
3. BatchNorm backward and the softmax cross-entropy gradient ``y_hat - y`` against autograd
   (``math_walkthrough.py`` has more worked answers).

Run on the real data (only the eigenfaces use it):

    python examples/study_8_math.py --data fer2013.csv.gz --width 1 --out study/8
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import emotionkit as ek
from emotionkit.math import analyze, batchnorm, complexity, cross_entropy_grad, pca
from emotionkit.models import count_params

POINTS = [(1, 2, 3), (4, 8, 5), (3, 12, 9), (1, 8, 5), (5, 14, 2), (7, 4, 1), (9, 8, 9),
          (3, 8, 1), (11, 5, 6), (10, 11, 7)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The math: costs, big-O, PCA, gradients.")
    parser.add_argument("--data", default="synthetic", help="faces for the eigenfaces")
    parser.add_argument("--out", type=Path, default=Path("study-examples/8-math"))
    parser.add_argument("--width", type=float, default=0.5, help="channel multiplier of the CNN")
    parser.add_argument("--images", type=int, default=2000, help="faces for the eigenfaces")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    # 1. Costs per layer; a conv's output side is floor((n + 2p - k) / s) + 1.
    model = ek.ModelZoo.create("compact", width=args.width, seed=0)
    table = analyze(model)
    print(table.to_text())
    for row in (r for r in table if r.type == "Conv2d"):
        conv = model.get_submodule(row.name)
        (k, _), (p, _), (s, _), n = conv.kernel_size, conv.padding, conv.stride, row.input_shape[-1]
        side = (n + 2 * p - k) // s + 1
        mults = side * side * k * k * conv.in_channels * conv.out_channels  # one per weight use
        outputs = side * side * conv.out_channels  # each sums k*k*c_in products (no bias)
        print(f"{row.name} by hand: side {side}, mults {mults}, adds {mults - outputs} "
              f"(analyze: {row.output_shape[-1]}, {row.multiplications}, {row.additions})")
    print(f"analyze total params: {table.totals()['params']}")
    print(f"trainable params: {count_params(model)['trainable']}")
    big_o = complexity(model)
    print(f"big-O: {big_o.text}, here {big_o.total} multiply-accumulates per image")

    # 2. PCA by hand: centre, covariance with 1/N, eigen-decomposition (largest first).
    X = np.array(POINTS, dtype=float)
    centred = X - X.mean(axis=0)
    cov = centred.T @ centred / len(X)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)  # ascending order
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    print("covariance:\n", cov.round(4))
    print("PCA eigenvalues by hand:", " ".join(f"{v:.4f}" for v in eigenvalues))
    print("PCA eigenvalues by emotionkit:", " ".join(f"{v:.4f}" for v in pca.fit(X).eigenvalues))
    print("first principal axis:", eigenvectors[:, 0].round(4))  # up to sign
    faces = ek.Dataset.load(args.data).split("Training").images[: args.images]
    faces_pca = pca.eigenfaces(faces, k=40)
    pca.plot_eigenfaces(faces_pca, faces, args.out / "eigenfaces.png")
    share = float(faces_pca.explained_variance_ratio[:10].sum())
    print(f"variance explained by 10 eigenfaces: {share:.4f}")

    # 3a. BatchNorm backward (float64) against autograd.
    g = torch.Generator().manual_seed(0)
    x, dy = (torch.randn(8, 3, 4, 4, generator=g, dtype=torch.float64) for _ in range(2))
    gamma = torch.rand(3, generator=g, dtype=torch.float64) + 0.5
    xs, gs = x.clone().requires_grad_(), gamma.clone().requires_grad_()
    (F.batch_norm(xs, None, None, gs, None, training=True) * dy).sum().backward()
    grads = batchnorm.backward(dy, x, gamma)
    for name, ours, ref in (("dx", grads.dx, xs.grad), ("dgamma", grads.dgamma, gs.grad)):
        print(f"BatchNorm {name} max error: {float((ours - ref).abs().max()):.3g}")

    # 3b. d(cross-entropy(softmax(z), y)) / dz = softmax(z) - one_hot(y), against autograd.
    z = torch.randn(5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 3, 6, 2, 3])
    F.cross_entropy(z, y, reduction="sum").backward()
    by_hand = torch.softmax(z.detach(), dim=1) - F.one_hot(y, 7)
    print(f"softmax-CE gradient max error: {float((by_hand - z.grad).abs().max()):.3g}")
    library = cross_entropy_grad(z.detach(), y)
    print(f"emotionkit gradient max error: {float((library - z.grad).abs().max()):.3g}")


if __name__ == "__main__":
    main()
