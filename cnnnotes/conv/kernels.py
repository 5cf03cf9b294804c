"""Classic image-processing kernels, and a size-keeping way to apply one to an image.

Every kernel function returns a new float32 tensor of shape ``(F, F)``. Kernels
are written for cross-correlation, which is what ``F.conv2d`` computes (no flip):
``sobel("x")`` is positive where brightness increases from left to right.
Bad arguments raise ``TypeError`` or ``ValueError`` naming what was wrong and
what is allowed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnnotes._validate import boolean, choice, integer, number, positive_int, require, tensor

__all__ = [
    "PADDING_MODES",
    "apply_kernel",
    "box_blur",
    "classic_kernels",
    "gaussian",
    "identity",
    "laplacian",
    "prewitt",
    "sharpen",
    "sobel",
]

PADDING_MODES = ("zeros", "replicate", "reflect", "circular")
"""Border handling accepted by :func:`apply_kernel` (as in ``nn.Conv2d``'s ``padding_mode``)."""


def _odd_size(size: object) -> int:
    """``size`` as an odd int >= 1: a kernel with a centre pixel."""
    n = integer(size, "size")
    require(
        n >= 1 and n % 2 == 1, f"size must be an odd int >= 1 (the kernel needs a centre), got {n}"
    )
    return n


def identity(size: int = 3) -> Tensor:
    """A 1 in the centre, 0 elsewhere: the output equals the input.

    >>> identity(3)
    tensor([[0., 0., 0.],
            [0., 1., 0.],
            [0., 0., 0.]])
    """
    n = _odd_size(size)
    k = torch.zeros(n, n)
    k[n // 2, n // 2] = 1.0
    return k


def box_blur(size: int = 3) -> Tensor:
    """The mean of a ``size × size`` neighbourhood: every weight is ``1 / size²``.

    >>> box_blur(2)
    tensor([[0.2500, 0.2500],
            [0.2500, 0.2500]])
    """
    n = positive_int(size, "size")
    return torch.full((n, n), 1.0 / (n * n))


def gaussian(size: int = 5, sigma: float = 1.0) -> Tensor:
    """A weighted mean with weights ``∝ exp(−(i² + j²) / (2σ²))`` around the centre, sum 1.

    Built as the outer product of a normalised 1-D Gaussian with itself.

    >>> gaussian(3, sigma=1.0).sum().item()
    1.0
    >>> bool((gaussian(5) == gaussian(5).T).all())
    True
    """
    n, sigma = _odd_size(size), number(sigma, "sigma", above=0)
    t = torch.arange(n, dtype=torch.float64) - n // 2
    g = torch.exp(-(t**2) / (2.0 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g).to(torch.float32)


def sharpen() -> Tensor:
    """Identity minus the 4-neighbour Laplacian: boosts a pixel against its neighbours.

    >>> sharpen()
    tensor([[ 0., -1.,  0.],
            [-1.,  5., -1.],
            [ 0., -1.,  0.]])
    """
    return identity(3) - laplacian()


def sobel(axis: str = "x") -> Tensor:
    """Sobel edge kernel: a difference along ``axis``, smoothed with weights 1, 2, 1 across it.

    ``"x"`` responds to vertical edges (brightness changing along a row), ``"y"``
    to horizontal edges.

    >>> sobel("x")
    tensor([[-1.,  0.,  1.],
            [-2.,  0.,  2.],
            [-1.,  0.,  1.]])
    """
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    return k if choice(axis, "axis", ("x", "y")) == "x" else k.T.contiguous()


def prewitt(axis: str = "x") -> Tensor:
    """Prewitt edge kernel: like :func:`sobel` with equal weights 1, 1, 1 across ``axis``.

    >>> prewitt("y")
    tensor([[-1., -1., -1.],
            [ 0.,  0.,  0.],
            [ 1.,  1.,  1.]])
    """
    k = torch.tensor([[-1.0, 0.0, 1.0]] * 3)
    return k if choice(axis, "axis", ("x", "y")) == "x" else k.T.contiguous()


def laplacian(diagonals: bool = False) -> Tensor:
    """The discrete Laplacian: sum of the neighbours minus that many times the centre.

    4 neighbours by default; ``diagonals=True`` uses all 8.

    >>> laplacian()
    tensor([[ 0.,  1.,  0.],
            [ 1., -4.,  1.],
            [ 0.,  1.,  0.]])
    """
    boolean(diagonals, "diagonals")
    k = torch.ones(3, 3) if diagonals else torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]])
    k[1, 1] = -(k.sum() - k[1, 1])
    return k


def classic_kernels() -> dict[str, Tensor]:
    """Fresh copies of the kernels the convolution chapter shows, in display order.

    >>> list(classic_kernels())
    ['identity', 'box_blur', 'gaussian', 'sharpen', 'sobel_x', 'sobel_y', 'laplacian']
    """
    return {
        "identity": identity(3),
        "box_blur": box_blur(3),
        "gaussian": gaussian(5, 1.0),
        "sharpen": sharpen(),
        "sobel_x": sobel("x"),
        "sobel_y": sobel("y"),
        "laplacian": laplacian(),
    }


def apply_kernel(image: Tensor, kernel: Tensor, padding_mode: str = "zeros") -> Tensor:
    """Cross-correlate a ``(H, W)`` or ``(1, H, W)`` image with a ``(kh, kw)`` kernel.

    The image is padded so that the output has the input's shape: ``kh − 1``
    rows in all, half on top (the extra one at the bottom when ``kh`` is even,
    as ``F.conv2d(..., padding="same")``), and likewise for columns. Then
    ``F.conv2d`` slides the kernel without flipping it. The kernel is converted
    to the image's dtype.

    >>> image = torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 3)
    >>> apply_kernel(image, sobel("x"))
    tensor([[ 0.,  3.,  3., -3.],
            [ 0.,  4.,  4., -4.],
            [ 0.,  3.,  3., -3.]])
    >>> apply_kernel(image, sobel("x"), padding_mode="replicate")
    tensor([[0., 4., 4., 0.],
            [0., 4., 4., 0.],
            [0., 4., 4., 0.]])
    """
    tensor(image, "image", shape="(H, W) or (1, H, W)", ndims=(2, 3), floating=True)
    require(
        image.ndim == 2 or image.shape[0] == 1,
        f"image must have shape (H, W) or (1, H, W), got {tuple(image.shape)}",
    )
    tensor(kernel, "kernel", shape="(kh, kw)", ndims=(2,), floating=True)
    choice(padding_mode, "padding_mode", PADDING_MODES)
    (h, w), (kh, kw) = image.shape[-2:], kernel.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    pads = (left, kw - 1 - left, top, kh - 1 - top)  # F.pad order: left, right, top, bottom
    require(
        padding_mode != "reflect" or (max(pads[:2]) < w and max(pads[2:]) < h),
        f"padding_mode='reflect' needs padding < image size; kernel {(kh, kw)} "
        f"is too large for image {(h, w)}",
    )
    require(
        padding_mode != "circular" or (max(pads[:2]) <= w and max(pads[2:]) <= h),
        f"padding_mode='circular' needs padding <= image size; kernel {(kh, kw)} "
        f"is too large for image {(h, w)}",
    )
    x = image.reshape(1, 1, h, w)
    mode = "constant" if padding_mode == "zeros" else padding_mode
    out = F.conv2d(F.pad(x, pads, mode=mode), kernel.to(image.dtype)[None, None])
    return out.reshape(image.shape)
