"""analysis.embedding: PCA from the covariance's eigenvectors against torch.linalg.svd of the
centred data (up to sign) over many shapes, and against a planted bug (no centring)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from cnnnotes.analysis.embedding import PCA, pca

pytestmark = pytest.mark.usefixtures("one_thread")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def uncentred_pca(x: Tensor, k: int) -> PCA:
    """Planted bug: the eigenvectors of XᵀX / (N − 1) without subtracting the mean."""
    values, vectors = torch.linalg.eigh(x.T @ x / (len(x) - 1))
    components = vectors.flip(1).T[:k]
    ratio = values.flip(0)[:k] / values.sum()
    return PCA(components, ratio, x @ components.T, torch.zeros(x.shape[1], dtype=x.dtype))


def svd_check(method, x: Tensor, k: int) -> bool:
    """The check: components, variance shares and projections equal the SVD's, up to sign."""
    out = method(x, k)
    centred = x - x.mean(dim=0)
    u, s, vh = torch.linalg.svd(centred, full_matrices=False)
    signs = (out.components * vh[:k]).sum(dim=1).sign()  # ±1 per component
    ok = torch.allclose(out.components, signs[:, None] * vh[:k], rtol=0, atol=1e-8)
    ok = ok and torch.allclose(out.explained_variance_ratio, (s * s)[:k] / (s * s).sum())
    projections = u[:, :k] * s[:k] * signs
    return ok and torch.allclose(out.projections, projections, rtol=0, atol=1e-8)


def shifted_data(seed: int) -> tuple[Tensor, int]:
    """Random shape, off-centre data with distinct variances; k up to the rank N − 1."""
    g = _gen(seed)
    n, d = (
        int(torch.randint(3, 40, (1,), generator=g)),
        int(torch.randint(1, 12, (1,), generator=g)),
    )
    scales = torch.linspace(3.0, 0.5, d, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * scales + 5.0
    k = int(torch.randint(1, min(n - 1, d) + 1, (1,), generator=g))
    return x, k


@pytest.mark.parametrize("seed", range(40))
def test_pca_matches_svd_over_many_shapes(seed: int) -> None:
    x, k = shifted_data(seed)
    assert svd_check(pca, x, k)


@pytest.mark.parametrize(("method", "passes"), [(pca, True), (uncentred_pca, False)])
def test_the_svd_check_catches_pca_without_centring(method, passes) -> None:
    assert all(svd_check(method, *shifted_data(seed)) for seed in range(5)) is passes


def test_pca_conventions() -> None:
    x = torch.randn(30, 5, generator=_gen(1), dtype=torch.float64)
    out = pca(x, 5)
    torch.testing.assert_close(out.components @ out.components.T, torch.eye(5, dtype=x.dtype))
    torch.testing.assert_close(out.explained_variance_ratio.sum().item(), 1.0)
    assert (out.explained_variance_ratio.diff() <= 0).all()  # largest variance first
    biggest = out.components.abs().argmax(dim=1)
    assert (out.components.gather(1, biggest[:, None]) > 0).all()  # the sign convention
    torch.testing.assert_close(out.projections @ out.components + out.mean, x)  # k = D: lossless
    small = pca(x.float(), 2)
    assert small.components.dtype == torch.float32 and small.projections.shape == (30, 2)


BAD = [
    (lambda: pca([[1.0, 2.0]], 1), TypeError, "torch.Tensor"),
    (lambda: pca(torch.zeros(3, 2, dtype=torch.int64), 1), TypeError, "floating"),
    (lambda: pca(torch.zeros(3), 1), ValueError, r"\(N, D\)"),
    (lambda: pca(torch.zeros(1, 2), 1), ValueError, "at least 2 rows"),
    (lambda: pca(torch.zeros(3, 2), 3), ValueError, "at most the number of features D = 2"),
    (lambda: pca(torch.zeros(3, 2), 0), ValueError, "k must be an int >= 1"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "match"), BAD)
def test_bad_input_is_refused_with_what_is_allowed(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
