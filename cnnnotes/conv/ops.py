"""Convolution and pooling from scratch, matching ``torch.nn.functional``.

Tensors are NCHW; an unbatched ``(C, H, W)`` input gives an unbatched result, as
in PyTorch. Only basic tensor operations are used (a new zero or −inf tensor for
padding, slicing, ``Tensor.unfold``, matmul, ``einsum``), never ``F.conv2d``,
``F.max_pool2d``, ``F.avg_pool2d``, ``F.unfold`` or ``F.pad``. Bad arguments raise
``TypeError`` or ``ValueError`` naming what was wrong and what is allowed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnnotes._validate import choice, require
from cnnnotes.conv._windows import (
    Pair,
    batched,
    checked_conv_args,
    columns,
    conv_args,
    finish,
    float_tensor,
    pad,
    pool_windows,
    windows,
)

__all__ = [
    "avg_pool2d",
    "conv2d",
    "conv2d_loops",
    "convolve1d",
    "convolve2d",
    "cross_correlate1d",
    "im2col",
    "max_pool2d",
]


def im2col(
    x: Tensor, kernel_size: Pair, stride: Pair = 1, padding: Pair = 0, dilation: Pair = 1
) -> Tensor:
    """Patches as columns, exactly like ``F.unfold``: ``(N, C·kh·kw, L)``.

    >>> im2col(torch.arange(9.0).reshape(1, 1, 3, 3), 2)
    tensor([[[0., 1., 3., 4.],
             [1., 2., 4., 5.],
             [3., 4., 6., 7.],
             [4., 5., 7., 8.]]])
    """
    x4, unbatched = batched(x)
    cols = columns(x4, kernel_size, stride, padding, dilation)[0]
    return cols[0] if unbatched else cols


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
) -> Tensor:
    """2-D cross-correlation like ``F.conv2d`` (no groups), vectorised with :func:`im2col`.

    >>> x = torch.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv2d(x, torch.ones(1, 1, 2, 2), torch.tensor([0.5]))
    tensor([[[[ 8.5000, 12.5000],
              [20.5000, 24.5000]]]])
    """
    x4, unbatched, w = conv_args(x, weight, bias)
    cols, oh, ow = columns(x4, w.shape[2:], stride, padding, dilation)  # (N, C·kh·kw, L)
    out = (w.reshape(w.shape[0], -1) @ cols).reshape(x4.shape[0], w.shape[0], oh, ow)
    return finish(out, bias, unbatched)


def conv2d_loops(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
) -> Tensor:
    """:func:`conv2d` one output cell at a time, the index arithmetic in sight.

    Output cell ``(i, j)`` multiplies kernel tap ``(a, b)`` with input row
    ``i*S + a*d - P`` and column ``j*S + b*d - P`` (stride S, padding P and
    dilation d of that axis) and sums over taps and input channels. A row
    outside the input is a zero of the padding; in the zero-padded copy it is
    row ``i*S + a*d``. Slow: for reading, not for training.

    >>> x = torch.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv2d_loops(x, torch.ones(1, 1, 2, 2), torch.tensor([0.5]))
    tensor([[[[ 8.5000, 12.5000],
              [20.5000, 24.5000]]]])
    """
    x, unbatched, weight, (sh, sw), (ph, pw), (dh, dw) = checked_conv_args(
        x, weight, bias, stride, padding, dilation
    )
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1  # the output size formula
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    padded = x.new_zeros(n, c, h + 2 * ph, w + 2 * pw)  # P zeros on each side
    padded[:, :, ph : ph + h, pw : pw + w] = x
    out = x.new_zeros(n, o, oh, ow)
    for i in range(oh):
        for j in range(ow):
            # padded rows i*S + a*d are input rows i*S + a*d - P; columns alike
            rows = [i * sh + a * dh for a in range(kh)]
            cols = [j * sw + b * dw for b in range(kw)]
            patch = padded[:, :, rows][:, :, :, cols]  # (N, C, kh, kw)
            products = patch[:, None] * weight  # (N, O, C, kh, kw)
            out[:, :, i, j] = products.sum(dim=(2, 3, 4))  # over C, a and b
    if bias is not None:
        out += bias.reshape(o, 1, 1)
    return out[0] if unbatched else out


def max_pool2d(
    x: Tensor, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0
) -> Tensor:
    """Max pooling like ``F.max_pool2d`` (padding counts as −inf, ``ceil_mode=False``).

    >>> max_pool2d(torch.arange(16.0).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    win, unbatched = pool_windows(x, kernel_size, stride, padding, float("-inf"))
    out = win.amax(dim=(-2, -1))
    return out[0] if unbatched else out


def avg_pool2d(
    x: Tensor, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0
) -> Tensor:
    """Average pooling like ``F.avg_pool2d`` (zero padding counted, ``ceil_mode=False``).

    >>> avg_pool2d(torch.arange(16.0).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """
    win, unbatched = pool_windows(x, kernel_size, stride, padding, 0.0)
    out = win.mean(dim=(-2, -1))
    return out[0] if unbatched else out


def _vectors(x: object, k: object, mode: str) -> tuple[Tensor, Tensor]:
    x = float_tensor(x, "x", "(length,)", (1,))
    k = float_tensor(k, "k", "(length,)", (1,))
    choice(mode, "mode", ("full", "valid"))
    require(
        len(k) >= 1 and len(x) >= 1 and (mode == "full" or len(k) <= len(x)),
        f"k (length {len(k)}) must be non-empty and, for mode='valid', no longer than "
        f"x (length {len(x)})",
    )
    return x, k


def cross_correlate1d(x: Tensor, k: Tensor, mode: str = "valid") -> Tensor:
    """``y[i] = Σ_m x[i+m]·k[m]`` (what CNN layers compute); mode 'valid' or 'full'.

    >>> cross_correlate1d(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 1.0]))
    tensor([2., 3.])
    """
    x, k = _vectors(x, k, mode)
    if mode == "full":
        x = pad(x[None], 0, len(k) - 1, 0.0)[0]
    return x.unfold(0, len(k), 1) @ k


def convolve1d(x: Tensor, k: Tensor, mode: str = "full") -> Tensor:
    """True convolution (kernel flipped), like ``numpy.convolve`` in 'full'/'valid' mode.

    As in numpy, 'valid' mode swaps the arguments if ``k`` is the longer one.

    >>> convolve1d(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 1.0]))
    tensor([0., 1., 2., 3.])
    """
    x, k = _vectors(x, k, "full" if mode == "valid" else mode)  # checked again below
    if mode == "valid" and len(k) > len(x):
        x, k = k, x
    return cross_correlate1d(x, k.flip(0), mode)


def convolve2d(x: Tensor, k: Tensor, mode: str = "full") -> Tensor:
    """True 2-D convolution of plain ``(H, W)`` tensors (kernel flipped both ways).

    ``mode='full'`` (default, like ``scipy.signal.convolve2d``) or ``'valid'``.

    >>> convolve2d(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, 1.0]]))
    tensor([[0., 1., 2.],
            [0., 3., 4.]])
    """
    x = float_tensor(x, "x", "(H, W)", (2,))
    k = float_tensor(k, "k", "(kh, kw)", (2,))
    choice(mode, "mode", ("full", "valid"))
    kh, kw = k.shape
    pad = (kh - 1, kw - 1) if mode == "full" else (0, 0)
    win = windows(x[None, None], (kh, kw), 1, pad, 1)[0, 0]  # (oh, ow, kh, kw)
    return torch.einsum("ijab,ab->ij", win, k.flip(0, 1))
