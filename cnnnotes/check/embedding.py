"""The PCA self-check: a learner's projections against :func:`cnnnotes.analysis.embedding.pca`.

The cases are a fixed grid of seeded point clouds (float64); a component's sign is arbitrary,
so each column of the answer is given the reference's sign before the comparison. A mismatch
shows one case and names the classic mistake that explains it (the :data:`PCA_MISTAKES`
table: the message's words, and the slip in a wrong PCA).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from cnnnotes._validate import function
from cnnnotes._validate import seed as a_seed
from cnnnotes.analysis.embedding import pca
from cnnnotes.check.core import check_tensors

F64 = torch.float64
PCA_CASES = (
    {"x": (50, 4), "k": 2},
    {"x": (30, 6), "k": 1},
    {"x": (80, 3), "k": 3},
    {"x": (40, 10), "k": 4},
)
"""Cases of :func:`check_pca`: ``N`` points in ``D`` dimensions away from the origin, with
well separated variances along random directions."""


def _pca(
    x: Tensor,
    k: int,
    *,
    centre: bool = True,
    shift: bool = False,
    last: bool = False,
    rows: bool = False,
    svd_u: bool = False,
) -> Tensor:
    """PCA projections through ``torch.linalg.eigh``, right (the defaults) or with one slip."""
    centred = x - x.mean(dim=0) if centre else x
    if svd_u:
        return torch.linalg.svd(centred, full_matrices=False)[0][:, :k]
    vectors = torch.linalg.eigh(centred.T @ centred / (len(x) - 1))[1]  # ascending
    vectors = vectors if last else vectors.flip(1)
    basis = vectors.T[:, :k] if rows else vectors[:, :k]
    return (x if shift else centred) @ basis


PCA_MISTAKES = {
    "did not subtract the mean first, so the first direction points towards the mean":
        {"centre": False},
    "projected the raw rows x instead of the centred rows x − μ": {"shift": True},
    "took the last k eigenvectors: torch.linalg.eigh sorts eigenvalues in ascending order":
        {"last": True},
    "took rows of the eigenvector matrix as directions; the eigenvectors are its columns":
        {"rows": True},
    "returned U[:, :k] of the SVD; the projections are U·S (= X̃·V)": {"svd_u": True},
}  # fmt: skip
"""Classic wrong PCA projections: the message's words, and the slip in :func:`_pca`."""


def _signs_matched(got: object, reference: Tensor) -> object:
    """``got`` with each column's sign flipped to agree with ``reference`` (a component's
    sign is arbitrary); anything but a tensor of the same shape is left as it is."""
    if not isinstance(got, Tensor) or got.shape != reference.shape:
        return got
    return got * torch.where((got * reference).sum(dim=0) < 0, -1.0, 1.0).to(got.dtype)


def check_pca(fn: Callable, *, seed: int = 0) -> str:
    """Check ``fn(x, k)`` → ``(N, k)`` projections of the rows of ``x`` on their first ``k``
    principal components (each column's sign is free) against
    :func:`cnnnotes.analysis.embedding.pca` on :data:`PCA_CASES`.

    >>> check_pca(_pca)
    'All 4 cases match cnnnotes.analysis.embedding.pca.'
    >>> check_pca(lambda x, k: _pca(x, k, last=True)).split("you ")[-1]
    'took the last k eigenvectors: torch.linalg.eigh sorts eigenvalues in ascending order.'
    """
    function(fn, "fn", "your function fn(x, k)")
    g = torch.Generator().manual_seed(a_seed(seed))

    def cases():
        for case in PCA_CASES:
            (n, d), k = case["x"], case["k"]
            rotation = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))[0]
            spread = torch.linspace(3.0, 0.3, d, dtype=F64)
            mean = 3 * torch.randn(d, generator=g, dtype=F64)
            x = torch.randn(n, d, generator=g, dtype=F64) * spread @ rotation.T + mean
            want = pca(x, k).projections
            hints = [(m, _signs_matched(_pca(x, k, **v), want)) for m, v in PCA_MISTAKES.items()]
            yield (
                f"x of shape {(n, d)}, k={k} (each column's sign matched first)",
                (x, k),
                want,
                hints,
            )

    def signs_matched(x: Tensor, k: int) -> object:
        return _signs_matched(fn(x, k), pca(x, k).projections)

    return check_tensors(signs_matched, cases(), "cnnnotes.analysis.embedding.pca")
