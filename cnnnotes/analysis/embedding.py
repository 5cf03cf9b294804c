"""A flat picture of what a layer learned: principal component analysis from scratch.

For ``N`` feature vectors ``x_n`` (rows of ``x``, ``D`` features each), PCA centres them,
``x̃_n = x_n − μ``, forms the covariance ``Σ = X̃ᵀX̃ / (N − 1)`` and diagonalises it,
``Σ = V Λ Vᵀ`` (``torch.linalg.eigh``, eigenvalues ``λ_1 ≥ … ≥ λ_D``). The first ``k``
eigenvectors are the directions of largest variance; projecting on them, ``X̃ V_k``, gives
the ``k``-D picture, and ``λ_i / Σ_j λ_j`` is the share of the variance each keeps. The same
directions are the right singular vectors of ``X̃`` (``λ_i = s_i² / (N − 1)``), up to sign;
here each component's largest entry (in absolute value) is made positive.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from cnnnotes._validate import positive_int, require, tensor

__all__ = ["PCA", "pca"]


class PCA(NamedTuple):
    """``components`` ``(k, D)`` (rows, unit length), ``explained_variance_ratio`` ``(k,)``,
    ``projections`` ``(N, k)`` and the ``mean`` ``(D,)`` that was subtracted."""

    components: Tensor
    explained_variance_ratio: Tensor
    projections: Tensor
    mean: Tensor


def pca(x: Tensor, k: int) -> PCA:
    """The first ``k`` principal components of the rows of ``x`` and the rows projected on them.

    Computed in float64 and returned in ``x``'s dtype. With ``N`` rows at most ``N − 1``
    eigenvalues are non-zero; components beyond them span no variance and are arbitrary.

    >>> out = pca(torch.tensor([[1.0, 1.0], [3.0, 3.0], [2.0, 2.0]]), k=2)
    >>> out.components[0], out.explained_variance_ratio
    (tensor([0.7071, 0.7071]), tensor([1., 0.]))
    >>> out.projections[:, 0]
    tensor([-1.4142,  1.4142,  0.0000])
    """
    tensor(x, "x", shape="(N, D)", ndims=(2,), floating=True)
    n, d = x.shape
    require(n >= 2, f"x needs at least 2 rows (samples) to have a covariance, got {n}")
    require(bool(torch.isfinite(x).all()), "x must be finite (no nan or inf)")
    k = positive_int(k, "k")
    require(k <= d, f"k must be at most the number of features D = {d}, got {k}")
    data = x.detach().to(torch.float64)
    mean = data.mean(dim=0)
    centred = data - mean
    covariance = centred.T @ centred / (n - 1)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
    eigenvalues = eigenvalues.flip(0).clamp(min=0)  # rounding can leave a tiny negative
    components = eigenvectors.flip(1).T[:k]  # (k, D), largest variance first
    biggest = components.abs().argmax(dim=1, keepdim=True)
    components = components * components.gather(1, biggest).sign()
    total = eigenvalues.sum()
    ratio = eigenvalues[:k] / total if total > 0 else torch.zeros(k, dtype=torch.float64)
    return PCA(
        components=components.to(x.dtype),
        explained_variance_ratio=ratio.to(x.dtype),
        projections=(centred @ components.T).to(x.dtype),
        mean=mean.to(x.dtype),
    )
