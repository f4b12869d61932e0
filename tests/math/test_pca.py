"""PCA: SPEC's worked example, scikit-learn agreement, reconstructions, eigenfaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from emotionkit.errors import ConfigError
from emotionkit.math import pca

POINTS = np.array([(1, 2, 3), (4, 8, 5), (3, 12, 9), (1, 8, 5), (5, 14, 2), (7, 4, 1),
                   (9, 8, 9), (3, 8, 1), (11, 5, 6), (10, 11, 7)])


def test_worked_example_from_spec():
    r = pca.fit(POINTS)
    np.testing.assert_allclose(r.mean, [5.4, 8.0, 4.8], atol=1e-12)
    np.testing.assert_allclose(
        r.covariance, [[12.04, 0.5, 3.28], [0.5, 12.2, 2.9], [3.28, 2.9, 8.16]], atol=1e-12
    )
    np.testing.assert_allclose(r.eigenvalues, [15.2974, 11.6305, 5.4720], atol=1e-4)
    np.testing.assert_allclose(r.eigenvalues_population, r.eigenvalues)
    np.testing.assert_allclose(r.eigenvalues_sample, r.eigenvalues * 10 / 9)
    # eigenvalues sum to the trace; the axes diagonalize the covariance
    assert float(np.sum(r.eigenvalues)) == pytest.approx(12.04 + 12.2 + 8.16)
    v = r.components
    np.testing.assert_allclose(v @ r.covariance @ v.T, np.diag(r.eigenvalues), atol=1e-10)
    np.testing.assert_allclose(v @ v.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(r.explained_variance_ratio, r.eigenvalues / 32.4)
    assert r.method == "eigh" and r.n_samples == 10 and r.k == 3


def test_sample_convention():
    r = pca.fit(POINTS, ddof=1)
    np.testing.assert_allclose(r.covariance, np.cov(POINTS.T, ddof=1), atol=1e-12)
    np.testing.assert_allclose(r.eigenvalues, r.eigenvalues_sample)
    np.testing.assert_allclose(r.eigenvalues_population, [15.2974, 11.6305, 5.4720], atol=1e-4)


def test_sign_convention_largest_entry_positive():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 6))
    for r in (pca.fit(X), pca.fit(-X), pca.fit(X, method="svd")):
        comps = r.components
        rows = np.arange(comps.shape[0])
        assert np.all(comps[rows, np.abs(comps).argmax(axis=1)] > 0)
    np.testing.assert_allclose(pca.fit(X).components, pca.fit(X, method="svd").components,
                               atol=1e-10)


@pytest.mark.parametrize("shape", [(40, 5), (12, 30)])
def test_equals_sklearn_up_to_sign(shape):
    rng = np.random.default_rng(1)
    X = rng.normal(size=shape) @ rng.normal(size=(shape[1], shape[1]))
    k = min(shape) - 1
    ours = pca.fit(X, k=k, ddof=1)
    ref = PCA(n_components=k, svd_solver="full").fit(X)
    signs = np.sign(np.sum(ours.components * ref.components_, axis=1))
    assert np.all(signs != 0)
    np.testing.assert_allclose(ours.components, ref.components_ * signs[:, None], atol=1e-8)
    np.testing.assert_allclose(ours.eigenvalues, ref.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(ours.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-9)
    np.testing.assert_allclose(ours.singular_values, ref.singular_values_, rtol=1e-9)
    np.testing.assert_allclose(ours.transform(X), ref.transform(X) * signs, atol=1e-8)
    assert ours.method == ("eigh" if shape[1] <= shape[0] else "svd")


def test_reconstruction_and_error():
    r = pca.fit(POINTS)
    np.testing.assert_allclose(r.reconstruction_error(POINTS, 3), 0, atol=1e-12)
    np.testing.assert_allclose(r.reconstruct(POINTS, 3), POINTS, atol=1e-12)
    # the squared errors with k axes sum to N * (eigenvalues beyond k) (1/N convention)
    for k in range(4):
        err = r.reconstruction_error(POINTS, k)
        assert err.shape == (10,)
        assert float(np.sum(err**2)) == pytest.approx(10 * float(np.sum(r.eigenvalues[k:])))
    # the error is the distance to the reconstruction, one value per point
    rec = r.reconstruct(POINTS, 1)
    np.testing.assert_allclose(r.reconstruction_error(POINTS, 1),
                               np.linalg.norm(POINTS - rec, axis=1))
    # a single point, and transform/inverse_transform round trip
    z = r.transform(POINTS[0], 2)
    assert z.shape == (2,)
    np.testing.assert_allclose(r.inverse_transform(z), r.reconstruct(POINTS[0], 2))
    assert np.ndim(r.reconstruction_error(POINTS[0], 1)) == 0


def test_k_limits_fields_but_not_methods():
    r = pca.fit(POINTS, k=1)
    assert r.components.shape == (1, 3) and r.eigenvalues.shape == (1,)
    assert r.max_k == 3 and r.components_for(2).shape == (2, 3)
    np.testing.assert_allclose(r.reconstruct(POINTS, 3), POINTS, atol=1e-12)
    np.testing.assert_allclose(r.covariance, pca.fit(POINTS).covariance)  # always full
    np.testing.assert_allclose(r.cumulative_explained_variance_ratio, [15.2974434 / 32.4])


def test_svd_path_rebuilds_the_covariance():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(8, 20))
    r = pca.fit(X)
    assert r.method == "svd" and r.max_k == 8
    np.testing.assert_allclose(r.covariance, np.cov(X.T, ddof=0), atol=1e-12)
    np.testing.assert_allclose(r.reconstruction_error(X, 8), 0, atol=1e-12)
    assert float(r.eigenvalues[-1]) == pytest.approx(0, abs=1e-12)  # rank N - 1


def test_torch_in_torch_out():
    r = pca.fit(torch.tensor(POINTS))
    assert isinstance(r.components, torch.Tensor) and r.components.dtype == torch.float64
    assert isinstance(r.covariance, torch.Tensor)
    torch.testing.assert_close(r.eigenvalues, torch.tensor([15.2974434, 11.6305237, 5.4720329],
                                                           dtype=torch.float64))
    err = r.reconstruction_error(torch.tensor(POINTS), 2)
    assert isinstance(err, torch.Tensor) and err.shape == (10,)
    assert isinstance(r.reconstruction_error(POINTS, 2), np.ndarray)  # kind follows the argument
    r32 = pca.fit(torch.tensor(POINTS, dtype=torch.float32))
    assert r32.components.dtype == torch.float32


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: pca.fit(np.ones(5)), r"X must be 2-D .* got shape \(5,\)"),
        (lambda: pca.fit(np.ones((1, 3))), "at least 2 points"),
        (lambda: pca.fit(POINTS, k=4), r"k must be an integer between 1 and min\(N, d\) = 3"),
        (lambda: pca.fit(POINTS, k=0), "k must be"),
        (lambda: pca.fit(POINTS, ddof=2), "ddof must be 0"),
        (lambda: pca.fit(POINTS, method="qr"), "method must be"),
        (lambda: pca.fit([[1.0, np.nan], [2.0, 3.0]]), "NaN or infinite"),
        (lambda: pca.fit([["a", "b"], ["c", "d"]]), "numeric"),
        (lambda: pca.fit(POINTS).transform(np.ones((2, 4))), r"X must have shape \(N, 3\)"),
        (lambda: pca.fit(POINTS).reconstruct(POINTS, 5), "k must be between 0 and 3"),
        (lambda: pca.fit(POINTS).mean_image(), "not fitted on images"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def _faces(n: int = 24, size: int = 12) -> np.ndarray:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:size, :size] / size
    base = [np.sin(3 * xx), np.cos(2 * yy), xx * yy, (xx - 0.5) ** 2]
    weights = rng.normal(size=(n, len(base)))
    imgs = 0.5 + 0.1 * np.tensordot(weights, np.stack(base), axes=1)
    return np.clip(imgs * 255, 0, 255).astype(np.uint8)


def test_eigenfaces_and_figure(tmp_path):
    faces = _faces()
    r = pca.eigenfaces(faces, k=6)
    assert r.image_shape == (12, 12) and r.method == "svd"
    assert r.mean_image().shape == (12, 12) and r.component_images(3).shape == (3, 12, 12)
    np.testing.assert_allclose(r.mean_image(), faces.mean(axis=0) / 255.0, atol=1e-12)
    # uint8 images are scaled to [0, 1]; the full basis rebuilds them exactly
    rec = r.reconstruct(faces, r.max_k)
    np.testing.assert_allclose(rec, faces.reshape(len(faces), -1) / 255.0, atol=1e-10)
    # four underlying patterns (plus uint8 rounding): 4 axes hold nearly all the variance
    assert float(np.sum(r.explained_variance_ratio[:4])) > 0.99
    same = pca.eigenfaces(torch.tensor(faces[:, None]), k=6)  # (N, 1, H, W) tensor
    assert isinstance(same.components, torch.Tensor)
    torch.testing.assert_close(same.components, torch.from_numpy(r.components))
    path = pca.plot_eigenfaces(r, faces, tmp_path / "sub" / "eigenfaces.png", n_faces=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]
    with pytest.raises(ConfigError, match="images are 8x8"):
        pca.plot_eigenfaces(r, faces[:, :8, :8], tmp_path / "x.png")
    with pytest.raises(ConfigError, match=r"shape \(N, H, W\)"):
        pca.eigenfaces(np.zeros((4, 144)))
