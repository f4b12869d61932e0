"""Principal component analysis, as done by hand, and eigenfaces.

For ``N`` points ``x_i`` in ``R^d`` (rows of ``X``) with mean ``mu``, the covariance is
``C = (X - mu)^T (X - mu) / (N - ddof)``: ``ddof=0`` is the population convention (1/N, the one of
the worked example in SPEC and of most course notes), ``ddof=1`` the sample convention (1/(N-1),
scikit-learn's ``explained_variance_``). Both eigenvalue sets are always on the result; they differ
by the factor ``N / (N - 1)``. Axes and explained-variance ratios do not depend on the convention.

The principal axes are the unit eigenvectors of ``C`` sorted by decreasing eigenvalue. Each axis
is only defined up to sign; emotionkit makes the entry of largest absolute value positive (the
first such entry on a tie), so results are reproducible across runs, devices and libraries.

Algorithm: when ``d <= N`` the ``d x d`` covariance is formed and :func:`torch.linalg.eigh` is used;
when ``d > N`` (2,304-pixel faces and a few hundred images) the thin SVD of the centered data,
``X - mu = U S V^T``, gives the same axes (rows of ``V^T``) with eigenvalues ``S^2 / (N - ddof)``
without ever forming the 2,304 x 2,304 matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ._array import ArrayLike, as_tensor, check_finite, is_torch, like, shape_str

__all__ = ["PCAResult", "fit", "eigenfaces", "plot_eigenfaces"]


def _sign_fix(vectors: torch.Tensor) -> torch.Tensor:
    """Flip each row so that its entry of largest absolute value is positive."""
    idx = vectors.abs().argmax(dim=1, keepdim=True)  # argmax returns the first maximum
    signs = torch.sign(vectors.gather(1, idx))
    signs[signs == 0] = 1
    return vectors * signs


@dataclass
class PCAResult:
    """A fitted PCA. Arrays are numpy or torch, like the data given to :func:`fit`.

    Attributes:
        mean: Mean point, shape ``(d,)``.
        components: The first ``k`` principal axes as rows, shape ``(k, d)``, unit length.
        eigenvalues: Their eigenvalues (variances along the axes) for the chosen ``ddof``.
        eigenvalues_population: The same with the 1/N convention.
        eigenvalues_sample: The same with the 1/(N-1) convention.
        explained_variance_ratio: ``eigenvalues / sum(all eigenvalues)`` (convention-free).
        singular_values: Singular values of the centered data, ``sqrt((N - ddof) * eigenvalues)``.
        n_samples: ``N``.
        ddof: 0 (1/N) or 1 (1/(N-1)).
        k: Number of components kept in the fields above.
        method: ``"eigh"`` (covariance eigendecomposition) or ``"svd"`` (thin SVD of the data).
        image_shape: ``(H, W)`` when fitted by :func:`eigenfaces`, else None.
    """

    mean: ArrayLike
    components: ArrayLike
    eigenvalues: ArrayLike
    eigenvalues_population: ArrayLike
    eigenvalues_sample: ArrayLike
    explained_variance_ratio: ArrayLike
    singular_values: ArrayLike
    n_samples: int
    ddof: int
    k: int
    method: str
    image_shape: tuple[int, int] | None = None
    _mean_t: torch.Tensor = field(repr=False, default=None)
    _axes_t: torch.Tensor = field(repr=False, default=None)  # every axis found, (r, d)
    _eig_t: torch.Tensor = field(repr=False, default=None)  # every eigenvalue, chosen ddof
    _cov_t: torch.Tensor | None = field(repr=False, default=None)
    _torch_out: bool = field(repr=False, default=False)

    # ------------------------------------------------------------------ derived quantities
    @property
    def n_features(self) -> int:
        """``d``, the dimension of the points."""
        return int(self._mean_t.shape[0])

    @property
    def max_k(self) -> int:
        """How many axes were computed (``min(N, d)``), the largest ``k`` the methods accept."""
        return int(self._axes_t.shape[0])

    @property
    def covariance(self) -> ArrayLike:
        """The ``d x d`` covariance matrix for the chosen ``ddof``.

        Formed directly by the ``eigh`` method; rebuilt from all axes (``V^T diag(lambda) V``,
        exact since the rank is at most ``min(N - 1, d)``) after the ``svd`` method.
        """
        if self._cov_t is None:
            axes, eig = self._axes_t, self._eig_t
            self._cov_t = (axes.T * eig) @ axes
        return like(self._cov_t, self._torch_out)

    @property
    def cumulative_explained_variance_ratio(self) -> ArrayLike:
        """Running sum of :attr:`explained_variance_ratio`."""
        total = self._eig_t.sum()
        ratio = self._eig_t[: self.k] / total if float(total) > 0 else self._eig_t[: self.k] * 0
        return like(torch.cumsum(ratio, 0), self._torch_out)

    def components_for(self, k: int | None = None) -> ArrayLike:
        """The first ``k`` axes (rows), ``k`` up to :attr:`max_k`.

        Args:
            k: Number of axes; defaults to :attr:`k`.

        Returns:
            Array of shape ``(k, d)``.
        """
        return like(self._axes_t[: self._check_k(k)], self._torch_out)

    # ------------------------------------------------------------------ projections
    def _check_k(self, k: int | None) -> int:
        if k is None:
            return self.k
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ConfigError(f"k must be an integer, got {k!r}")
        k = int(k)
        if not 0 <= k <= self.max_k:
            raise ConfigError(f"k must be between 0 and {self.max_k} (the axes computed), got {k}")
        return k

    def _points(self, X: Any) -> tuple[torch.Tensor, bool, bool]:
        """Points as an (N, d) tensor on the fit's device and dtype; images are flattened."""
        t = as_tensor(X, "X", floating=False)
        if self.image_shape is not None and t.ndim >= 3:
            t, shape = _face_matrix(t)
            if shape != self.image_shape:
                raise ConfigError(f"images are {shape[0]}x{shape[1]}, the PCA is of "
                                  f"{self.image_shape[0]}x{self.image_shape[1]}")
        elif t.dtype == torch.uint8 and self.image_shape is not None:
            t = t.to(torch.float64) / 255.0
        single = t.ndim == 1
        if single:
            t = t.unsqueeze(0)
        if t.ndim != 2 or t.shape[1] != self.n_features:
            raise ConfigError(
                f"X must have shape (N, {self.n_features}) (or ({self.n_features},) for one "
                f"point), got {shape_str(t)}"
            )
        t = t.to(device=self._mean_t.device, dtype=self._mean_t.dtype)
        return t, single, is_torch(X)

    def transform(self, X: ArrayLike, k: int | None = None) -> ArrayLike:
        """Coordinates of points on the first ``k`` axes: ``(X - mean) @ components.T``.

        Args:
            X: Points, shape ``(N, d)`` or ``(d,)``.
            k: Number of axes (default :attr:`k`).

        Returns:
            Scores of shape ``(N, k)`` (``(k,)`` for one point), numpy or torch like ``X``.
        """
        t, single, torch_out = self._points(X)
        z = (t - self._mean_t) @ self._axes_t[: self._check_k(k)].T
        return like(z[0] if single else z, torch_out)

    def inverse_transform(self, Z: ArrayLike) -> ArrayLike:
        """Points from scores: ``mean + Z @ components[:k]`` where ``k = Z.shape[-1]``.

        Args:
            Z: Scores, shape ``(N, k)`` or ``(k,)``.

        Returns:
            Points of shape ``(N, d)`` (``(d,)`` for one), numpy or torch like ``Z``.
        """
        z = as_tensor(Z, "Z", device=self._mean_t.device, dtype=self._mean_t.dtype)
        single = z.ndim == 1
        z = z.unsqueeze(0) if single else z
        if z.ndim != 2:
            raise ConfigError(f"Z must have shape (N, k), got {shape_str(z)}")
        k = self._check_k(int(z.shape[1]))
        x = self._mean_t + z @ self._axes_t[:k]
        return like(x[0] if single else x, is_torch(Z))

    def reconstruct(self, X: ArrayLike, k: int | None = None) -> ArrayLike:
        """Project points on the first ``k`` axes and map them back: ``mean + (X-mean) V_k^T V_k``.

        Args:
            X: Points, shape ``(N, d)`` or ``(d,)``.
            k: Number of axes (default :attr:`k`; ``max_k`` reproduces ``X`` exactly).

        Returns:
            Reconstructed points, same shape as ``X``, numpy or torch like ``X``.
        """
        t, single, torch_out = self._points(X)
        axes = self._axes_t[: self._check_k(k)]
        x = self._mean_t + ((t - self._mean_t) @ axes.T) @ axes
        return like(x[0] if single else x, torch_out)

    def reconstruction_error(self, X: ArrayLike, k: int | None = None) -> ArrayLike:
        """Euclidean (L2) distance of each point to its ``k``-component reconstruction.

        Args:
            X: Points, shape ``(N, d)`` or ``(d,)``.
            k: Number of axes (default :attr:`k`).

        Returns:
            Errors of shape ``(N,)`` (a 0-d array for one point), numpy or torch like ``X``.
            Their squares sum to ``(N - ddof) * sum(eigenvalues beyond k)`` on the fitted data.
        """
        t, single, torch_out = self._points(X)
        axes = self._axes_t[: self._check_k(k)]
        centered = t - self._mean_t
        residual = centered - (centered @ axes.T) @ axes
        err = torch.linalg.vector_norm(residual, dim=1)
        return like(err[0] if single else err, torch_out)

    # ------------------------------------------------------------------ eigenfaces
    def mean_image(self) -> ArrayLike:
        """The mean as an image of shape :attr:`image_shape` (eigenfaces only)."""
        shape = self._image_shape()
        return like(self._mean_t.reshape(shape), self._torch_out)

    def component_images(self, k: int | None = None) -> ArrayLike:
        """The first ``k`` axes as images, shape ``(k, H, W)`` (eigenfaces only).

        Args:
            k: Number of axes (default :attr:`k`).

        Returns:
            The eigenfaces.
        """
        shape = self._image_shape()
        axes = self._axes_t[: self._check_k(k)]
        return like(axes.reshape(axes.shape[0], *shape), self._torch_out)

    def _image_shape(self) -> tuple[int, int]:
        if self.image_shape is None:
            raise ConfigError("this PCA was not fitted on images; use eigenfaces()")
        return self.image_shape

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists of floats) of the fitted quantities, covariance included."""

        def lst(v: ArrayLike) -> list:
            return (v.detach().cpu().numpy() if is_torch(v) else np.asarray(v)).tolist()

        out = {
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "ddof": self.ddof,
            "k": self.k,
            "method": self.method,
            "mean": lst(self.mean),
            "components": lst(self.components),
            "eigenvalues": lst(self.eigenvalues),
            "eigenvalues_population": lst(self.eigenvalues_population),
            "eigenvalues_sample": lst(self.eigenvalues_sample),
            "explained_variance_ratio": lst(self.explained_variance_ratio),
            "cumulative_explained_variance_ratio": lst(self.cumulative_explained_variance_ratio),
        }
        if self.n_features <= 256:
            out["covariance"] = lst(self.covariance)
        return out


def _check_ddof(ddof: Any) -> int:
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or int(ddof) not in (0, 1):
        raise ConfigError(f"ddof must be 0 (divide by N) or 1 (divide by N-1), got {ddof!r}")
    return int(ddof)


def fit(X: ArrayLike, k: int | None = None, ddof: int = 0, method: str = "auto") -> PCAResult:
    """Fit a PCA to the rows of ``X``.

    Args:
        X: Data of shape ``(N, d)``, one point per row (numpy, torch, or nested lists), ``N >= 2``.
            Integer data is promoted to float64; float data keeps its precision.
        k: Number of components to keep in the result's fields (default: all ``min(N, d)``).
            The projection methods accept any ``k`` up to ``min(N, d)`` later.
        ddof: 0 for the 1/N covariance (``eigenvalues == eigenvalues_population``), 1 for 1/(N-1).
        method: ``"auto"`` (``eigh`` when ``d <= N``, else ``svd``), ``"eigh"`` or ``"svd"``.

    Returns:
        A :class:`PCAResult`; its arrays are numpy or torch like ``X``, on ``X``'s device.

    Raises:
        ConfigError: ``X`` is not 2-D, has fewer than 2 rows, holds NaN/inf, or ``k``, ``ddof``,
            ``method`` are invalid.

    Example:
        >>> r = fit([[1, 2, 3], [4, 8, 5], [3, 12, 9], [1, 8, 5], [5, 14, 2],
        ...          [7, 4, 1], [9, 8, 9], [3, 8, 1], [11, 5, 6], [10, 11, 7]])
        >>> [round(float(v), 4) for v in r.eigenvalues]
        [15.2974, 11.6305, 5.472]
    """
    ddof = _check_ddof(ddof)
    t = as_tensor(X, "X")
    if t.ndim != 2:
        raise ConfigError(f"X must be 2-D (N points x d features), got shape {shape_str(t)}")
    n, d = (int(s) for s in t.shape)
    if n < 2 or d < 1:
        raise ConfigError(f"PCA needs at least 2 points of dimension >= 1, got {shape_str(t)}")
    check_finite(t, "X")
    method = str(method).lower()
    if method not in ("auto", "eigh", "svd"):
        raise ConfigError(f"method must be 'auto', 'eigh' or 'svd', got {method!r}")
    if method == "auto":
        method = "eigh" if d <= n else "svd"
    mean = t.mean(dim=0)
    centered = t - mean
    cov = None
    if method == "eigh":
        cov = centered.T @ centered / (n - ddof)
        cov = (cov + cov.T) / 2  # exactly symmetric for eigh
        eig, vecs = torch.linalg.eigh(cov)
        order = torch.argsort(eig, descending=True)
        eig, axes = eig[order], vecs[:, order].T
        eig = eig.clamp(min=0)  # round-off can give -1e-16 for a rank-deficient C
    else:
        _, s, vt = torch.linalg.svd(centered, full_matrices=False)
        eig, axes = s**2 / (n - ddof), vt
    axes = _sign_fix(axes)
    k_all = int(axes.shape[0])
    if k is None:
        k = k_all
    elif isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= k_all:
        raise ConfigError(f"k must be an integer between 1 and min(N, d) = {k_all}, got {k!r}")
    k = int(k)
    scale_pop = (n - ddof) / n
    scale_sample = (n - ddof) / (n - 1)
    total = eig.sum()
    ratio = eig / total if float(total) > 0 else torch.zeros_like(eig)
    torch_out = is_torch(X)
    return PCAResult(
        mean=like(mean, torch_out),
        components=like(axes[:k], torch_out),
        eigenvalues=like(eig[:k], torch_out),
        eigenvalues_population=like(eig[:k] * scale_pop, torch_out),
        eigenvalues_sample=like(eig[:k] * scale_sample, torch_out),
        explained_variance_ratio=like(ratio[:k], torch_out),
        singular_values=like(torch.sqrt(eig[:k] * (n - ddof)), torch_out),
        n_samples=n,
        ddof=ddof,
        k=k,
        method=method,
        _mean_t=mean,
        _axes_t=axes,
        _eig_t=eig,
        _cov_t=cov,
        _torch_out=torch_out,
    )


def _face_matrix(images: ArrayLike) -> tuple[torch.Tensor, tuple[int, int]]:
    """Flatten ``(N, H, W)`` / ``(N, 1, H, W)`` images to ``(N, H*W)`` floats (uint8 -> [0, 1])."""
    t = as_tensor(images, "images", floating=False)
    if t.ndim == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 3:
        raise ConfigError(
            f"images must have shape (N, H, W) or (N, 1, H, W), got {shape_str(t)}"
        )
    scale = t.dtype == torch.uint8
    t = t.to(torch.float64 if not t.is_floating_point() else t.dtype)
    if scale:
        t = t / 255.0
    return t.reshape(t.shape[0], -1), (int(t.shape[1]), int(t.shape[2]))


def eigenfaces(images: ArrayLike, k: int | None = None, ddof: int = 0) -> PCAResult:
    """PCA of face images (eigenfaces): each image is a point in ``R^(H*W)``.

    Args:
        images: ``(N, H, W)`` or ``(N, 1, H, W)``; uint8 images are scaled to [0, 1] (float64),
            float images are used as they are.
        k: Components to keep (default ``min(N, H*W)``).
        ddof: Covariance convention, as in :func:`fit`.

    Returns:
        A :class:`PCAResult` with ``image_shape`` set, so :meth:`PCAResult.mean_image` and
        :meth:`PCAResult.component_images` work and the projection methods accept images.
    """
    flat, shape = _face_matrix(images)
    result = fit(flat if is_torch(images) else flat.cpu().numpy(), k=k, ddof=ddof)
    result.image_shape = shape
    return result


def _default_ks(k: int) -> list[int]:
    ks = sorted({max(1, round(k * f)) for f in (1 / 16, 1 / 4, 1)} | {1})
    return [x for x in ks if x <= k]


def plot_eigenfaces(
    result: PCAResult,
    images: ArrayLike,
    path: str | Path,
    k: int | None = None,
    n_faces: int = 4,
    ks: Sequence[int] | None = None,
    max_components: int = 8,
) -> Path:
    """Save a PNG: the mean face, the top eigenfaces, and faces rebuilt from k components.

    Row 1 shows the mean face and up to ``max_components`` eigenfaces (as signed maps, gray is 0);
    each following row shows one face and its reconstructions with each of ``ks`` components,
    titled with ``k`` and the L2 reconstruction error.

    Args:
        result: An :func:`eigenfaces` result.
        images: Faces to reconstruct (the first ``n_faces`` are shown), shaped like the fit data.
        path: Destination PNG (written atomically).
        k: Top ``k`` used for the last reconstruction column (default ``result.k``).
        n_faces: Faces to show.
        ks: Component counts to show (default: 1, k/16, k/4 and k).
        max_components: Eigenfaces shown in the first row.

    Returns:
        The written path.

    Raises:
        ConfigError: ``result`` was not fitted on images, or the images do not match it.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas for PNG

    from .._io import atomic_write_with

    shape = result._image_shape()
    k = result._check_k(k)
    flat, img_shape = _face_matrix(images)
    if img_shape != shape:
        raise ConfigError(f"images are {img_shape[0]}x{img_shape[1]}, the PCA is of {shape}")
    if n_faces < 1:
        raise ConfigError(f"n_faces must be >= 1, got {n_faces}")
    faces = flat[:n_faces].to(device=result._mean_t.device, dtype=result._mean_t.dtype)
    ks = sorted({result._check_k(int(x)) for x in (ks if ks is not None else _default_ks(k))})
    ks = [x for x in ks if x > 0] or [k]
    n_comp = min(max_components, k)
    mean_img = result._mean_t.reshape(shape).cpu().numpy()
    comps = result._axes_t[:n_comp].reshape(n_comp, *shape).cpu().numpy()

    cols = max(1 + n_comp, 1 + len(ks))
    rows = 1 + faces.shape[0]
    fig = Figure(figsize=(1.6 * cols, 1.75 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(mean_img, cmap="gray")
    axes[0, 0].set_title("mean", fontsize=8)
    total = float(result._eig_t.sum())
    for j in range(n_comp):
        lim = float(np.abs(comps[j]).max()) or 1.0
        axes[0, 1 + j].imshow(comps[j], cmap="gray", vmin=-lim, vmax=lim)
        ratio = float(result._eig_t[j]) / total if total > 0 else 0.0
        axes[0, 1 + j].set_title(f"PC{j + 1} ({100 * ratio:.1f}%)", fontsize=8)
    lo, hi = float(flat.min()), float(flat.max())
    for i in range(faces.shape[0]):
        axes[1 + i, 0].imshow(faces[i].reshape(shape).cpu().numpy(), cmap="gray",
                              vmin=lo, vmax=hi)
        axes[1 + i, 0].set_title("original", fontsize=8)
        centered = faces[i] - result._mean_t
        for j, kk in enumerate(ks[: cols - 1]):
            axes_k = result._axes_t[:kk]
            rec = result._mean_t + (centered @ axes_k.T) @ axes_k
            err = float(torch.linalg.vector_norm(rec - faces[i]))
            axes[1 + i, 1 + j].imshow(rec.reshape(shape).cpu().numpy(), cmap="gray",
                                      vmin=lo, vmax=hi)
            axes[1 + i, 1 + j].set_title(f"k={kk} err={err:.2f}", fontsize=8)
    fig.suptitle(f"Eigenfaces: PCA of {result.n_samples} faces", fontsize=10)
    fig.tight_layout()
    atomic_write_with(path, lambda fh: fig.savefig(fh, format="png", dpi=100))
    return Path(path)
