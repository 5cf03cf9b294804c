"""Backward passes of convolution and pooling from scratch, and the transposed convolution.

Every forward op here reads its input through sliding *windows* (``_windows.windows``:
shape ``(N, C, out_h, out_w, kh, kw)``). Its backward pass therefore sends each
output's gradient back through the same windows: every window adds its share to
the input pixels it read, and where windows overlap the shares add up. That one
movement, :func:`_add_windows`, is the adjoint of reading windows; the ops differ
only in the share each tap of a window receives:

* convolution: ``∂L/∂x`` gets ``grad_out · weight`` at every tap (the weight is the
  share), ``∂L/∂w`` collects ``grad_out · x`` over all windows, ``∂L/∂b`` sums ``grad_out``;
* max pooling: the whole gradient goes to the one tap that held the maximum;
* average pooling: every tap gets ``grad_out / (kh·kw)``.

The input gradient of a convolution is a *transposed convolution* of ``grad_out``
with the same weight; for stride 1 that is a "full" cross-correlation with the
kernel flipped in both directions (and input/output channels swapped). Hence
``conv_transpose2d(x, w, stride, padding, output_padding, dilation)`` is exactly
the input gradient of ``conv2d`` with those settings, ``output_padding`` choosing
among the input sizes that the convolution maps to the same output size.

:func:`conv_transpose2d_as_conv` computes the same transposed convolution the other way
round: zeros inserted between the input's pixels, then the book's own ``ops.conv2d``.

Only basic tensor operations are used (new zero tensors, slicing, ``einsum``,
``argmax``), never ``F.conv2d``, ``F.conv_transpose2d``, pooling, ``F.unfold``,
``F.fold``, ``F.pad`` or autograd. Tensors are NCHW; an unbatched ``(C, H, W)``
input goes with an unbatched ``grad_out`` and gives an unbatched ``grad_x``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnnotes._validate import int_pair, require, require_type
from cnnnotes.conv._windows import conv_args, finish, float_tensor, pool_windows, windows
from cnnnotes.conv.ops import conv2d
from cnnnotes.conv.shapes import conv_transpose_output_size

__all__ = [
    "avg_pool2d_backward",
    "conv2d_backward",
    "conv_transpose2d",
    "conv_transpose2d_as_conv",
    "max_pool2d_backward",
]

Pair = int | tuple[int, int]


def _add_windows(
    taps: Tensor, size: tuple[int, int], stride: Pair, padding: Pair, dilation: Pair
) -> Tensor:
    """Add every window's ``(kh, kw)`` values back where the window read them from.

    ``taps`` has shape ``(N, C, out_h, out_w, kh, kw)``; the result ``(N, C, H, W)``
    with ``(H, W) = size``. Values that land on the padding are dropped.
    """
    n, c, oh, ow, kh, kw = taps.shape
    (sh, sw), (ph, pw) = int_pair(stride, "stride", 1), int_pair(padding, "padding", 0)
    dh, dw = int_pair(dilation, "dilation", 1)
    out = taps.new_zeros(n, c, size[0] + 2 * ph, size[1] + 2 * pw)  # the padded input
    for a in range(kh):
        for b in range(kw):
            # tap (a, b) of window (i, j) read padded pixel (a·dh + i·sh, b·dw + j·sw)
            rows = slice(a * dh, a * dh + sh * (oh - 1) + 1, sh)
            cols = slice(b * dw, b * dw + sw * (ow - 1) + 1, sw)
            out[:, :, rows, cols] += taps[..., a, b]
    return out[:, :, ph : ph + size[0], pw : pw + size[1]]


def _grad_out(grad_out: object, shape: tuple[int, ...], unbatched: bool, dtype: object) -> Tensor:
    """Check that ``grad_out`` has exactly the forward output's shape; return it as 4-D."""
    want = shape[1:] if unbatched else shape
    g = float_tensor(grad_out, "grad_out", f"{want} (the forward output's shape)", (3, 4))
    require(
        tuple(g.shape) == tuple(want),
        f"grad_out must have the forward output's shape {tuple(want)}, got {tuple(g.shape)}",
    )
    require_type(g.dtype == dtype, f"grad_out dtype {g.dtype} must match x dtype {dtype}")
    return g.unsqueeze(0) if unbatched else g


def conv2d_backward(
    grad_out: Tensor,
    x: Tensor,
    weight: Tensor,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients ``(grad_x, grad_weight, grad_bias)`` of ``conv2d(x, weight, bias, ...)``.

    With windows ``X[n, c, i, j, a, b]`` the forward pass is
    ``out[n, o, i, j] = Σ_{c,a,b} X[n, c, i, j, a, b] · w[o, c, a, b] + b[o]``, so

    * ``grad_bias[o] = Σ_{n,i,j} grad_out[n, o, i, j]``;
    * ``grad_weight[o, c, a, b] = Σ_{n,i,j} grad_out[n, o, i, j] · X[n, c, i, j, a, b]``;
    * ``grad_x``: each window adds ``Σ_o grad_out[n, o, i, j] · w[o, c, a, b]`` to the
      pixel its tap ``(a, b)`` read (a transposed convolution of ``grad_out``).

    >>> x = torch.arange(9.0).reshape(1, 1, 3, 3)
    >>> grad_x, grad_w, grad_b = conv2d_backward(torch.ones(1, 1, 2, 2), x, torch.ones(1, 1, 2, 2))
    >>> grad_x  # how many windows read each pixel
    tensor([[[[1., 2., 1.],
              [2., 4., 2.],
              [1., 2., 1.]]]])
    >>> grad_w, grad_b
    (tensor([[[[ 8., 12.],
              [20., 24.]]]]), tensor([4.]))

    For stride 1 (no padding) ``grad_x`` is the "full" correlation of ``grad_out``
    with the flipped kernel, channels swapped:

    >>> from cnnnotes.conv.ops import conv2d
    >>> g = torch.Generator().manual_seed(0)
    >>> x, w = torch.randn(2, 3, 6, 5, generator=g), torch.randn(4, 3, 3, 2, generator=g)
    >>> grad_out = torch.randn(2, 4, 4, 4, generator=g)
    >>> x, w, grad_out = x.double(), w.double(), grad_out.double()
    >>> full = conv2d(grad_out, w.transpose(0, 1).flip(2, 3), padding=(2, 1))
    >>> torch.allclose(conv2d_backward(grad_out, x, w)[0], full)
    True
    """
    x4, unbatched, w = conv_args(x, weight, None)
    win = windows(x4, w.shape[2:], stride, padding, dilation)  # (N, C, oh, ow, kh, kw)
    n, _, oh, ow = win.shape[:4]
    g = _grad_out(grad_out, (n, w.shape[0], oh, ow), unbatched, x4.dtype)
    grad_bias = g.sum(dim=(0, 2, 3))
    grad_weight = torch.einsum("noij,ncijab->ocab", g, win)
    taps = torch.einsum("noij,ocab->ncijab", g, w)  # what each window sends back
    grad_x = _add_windows(taps, x4.shape[2:], stride, padding, dilation)
    return (grad_x[0] if unbatched else grad_x), grad_weight, grad_bias


def conv_transpose2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Pair = 1,
    padding: Pair = 0,
    output_padding: Pair = 0,
    dilation: Pair = 1,
) -> Tensor:
    """Transposed convolution like ``F.conv_transpose2d`` (no groups).

    ``weight`` has shape ``(in_channels, out_channels, kh, kw)``. Every input pixel
    stamps a copy of the kernel, scaled by its value, onto the output, ``stride``
    pixels apart; overlapping stamps add, and ``padding`` cells are cut from each
    border. The output size is :func:`~cnnnotes.conv.shapes.conv_transpose_output_size`.
    This is exactly ``grad_x`` of :func:`conv2d_backward` for a convolution with
    weight ``weight`` and the same settings, taking ``x`` as its ``grad_out``.

    >>> conv_transpose2d(torch.tensor([[[[1.0, 2.0]]]]), torch.ones(1, 1, 1, 3), stride=2)
    tensor([[[[1., 1., 3., 2., 2.]]]])
    >>> from cnnnotes.conv.ops import conv2d
    >>> g = torch.Generator().manual_seed(0)
    >>> x, w = torch.randn(1, 2, 3, 3, generator=g), torch.randn(2, 4, 3, 3, generator=g)
    >>> x, w = x.double(), w.double()
    >>> up = conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    >>> up.shape  # the convolution with these settings maps 6×6 back to 3×3
    torch.Size([1, 4, 6, 6])
    >>> grad_x = conv2d_backward(x, up, w, stride=2, padding=1)[0]
    >>> torch.allclose(up, grad_x)
    True
    """
    x4, unbatched, w, size = _transpose_args(
        x, weight, bias, stride, padding, output_padding, dilation
    )
    taps = torch.einsum("ncij,coab->noijab", x4, w)  # the kernel stamped by each input pixel
    out = _add_windows(taps, size, stride, padding, dilation)
    return finish(out, bias, unbatched)


def _transpose_args(
    x: object,
    weight: object,
    bias: object,
    stride: Pair,
    padding: Pair,
    output_padding: Pair,
    dilation: Pair,
) -> tuple[Tensor, bool, Tensor, tuple[int, int]]:
    """Validate a transposed convolution's arguments as PyTorch does; return the 4-D input,
    the unbatched flag, the weight and the output's ``(height, width)``."""
    x4, unbatched, w = conv_args(x, weight, bias, transposed=True)
    s, p = int_pair(stride, "stride", 1), int_pair(padding, "padding", 0)
    op, d = int_pair(output_padding, "output_padding", 0), int_pair(dilation, "dilation", 1)
    size = tuple(
        conv_transpose_output_size(x4.shape[2 + i], w.shape[2 + i], s[i], p[i], op[i], d[i])
        for i in (0, 1)
    )
    return x4, unbatched, w, size


def conv_transpose2d_as_conv(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Pair = 1,
    padding: Pair = 0,
    output_padding: Pair = 0,
    dilation: Pair = 1,
) -> Tensor:
    """The transposed convolution :func:`conv_transpose2d`, as an ordinary convolution.

    Put ``stride - 1`` zeros between neighbouring input pixels, add ``q = d(F-1) - P``
    zeros on each side (a negative ``q`` crops) and ``output_padding`` more at the bottom
    and right, then cross-correlate at stride 1 and dilation ``d`` with the kernel flipped
    in both spatial axes and its two channel axes swapped (Dumoulin & Visin, 2016).

    >>> conv_transpose2d_as_conv(torch.tensor([[[[1.0, 2.0]]]]), torch.ones(1, 1, 1, 3), stride=2)
    tensor([[[[1., 1., 3., 2., 2.]]]])
    """
    x4, unbatched, w, (out_h, out_w) = _transpose_args(
        x, weight, bias, stride, padding, output_padding, dilation
    )
    (sh, sw), (ph, pw) = int_pair(stride, "stride", 1), int_pair(padding, "padding", 0)
    dh, dw = int_pair(dilation, "dilation", 1)
    n, c, h, wd = x4.shape
    fh, fw = w.shape[2], w.shape[3]
    qh, qw = dh * (fh - 1) - ph, dw * (fw - 1) - pw
    size_h, size_w = out_h + dh * (fh - 1), out_w + dw * (fw - 1)  # the stuffed, padded map
    rows, cols = torch.arange(h) * sh + qh, torch.arange(wd) * sw + qw  # where pixels land
    keep_r, keep_c = (rows >= 0) & (rows < size_h), (cols >= 0) & (cols < size_w)
    stuffed = x4.new_zeros(n, c, size_h, size_w)
    stuffed[:, :, rows[keep_r, None], cols[None, keep_c]] = x4[:, :, keep_r][:, :, :, keep_c]
    flipped = w.flip(2, 3).transpose(0, 1)  # (out, in, F, F), each kernel turned by 180°
    out = conv2d(stuffed, flipped, dilation=(dh, dw))
    return finish(out, bias, unbatched)


def max_pool2d_backward(
    grad_out: Tensor, x: Tensor, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0
) -> Tensor:
    """Gradient of ``max_pool2d(x, ...)`` with respect to ``x``, like autograd of ``F.max_pool2d``.

    Each window's gradient goes to the one input pixel that held its maximum.
    Ties: as in PyTorch, the *first* maximum in the window's scan order (row by row,
    left to right) gets it all, the others get nothing. Overlapping windows
    (``stride < kernel_size``) that pick the same pixel add their gradients.

    >>> x = torch.tensor([[[[1.0, 3.0, 2.0], [3.0, 0.0, 1.0]]]])
    >>> max_pool2d_backward(torch.tensor([[[[10.0, 20.0]]]]), x, 2, stride=1)
    tensor([[[[ 0., 30.,  0.],
              [ 0.,  0.,  0.]]]])
    """
    win, unbatched = pool_windows(x, kernel_size, stride, padding, float("-inf"))
    n, c, oh, ow, kh, kw = win.shape
    g = _grad_out(grad_out, (n, c, oh, ow), unbatched, win.dtype)
    first = win.reshape(n, c, oh, ow, kh * kw).argmax(dim=-1)  # first maximum in scan order
    winner = torch.arange(kh * kw) == first[..., None]  # one-hot over the window's taps
    taps = winner.reshape(win.shape) * g[..., None, None]
    stride = kernel_size if stride is None else stride
    grad_x = _add_windows(taps, x.shape[-2:], stride, padding, 1)
    return grad_x[0] if unbatched else grad_x


def avg_pool2d_backward(
    grad_out: Tensor, x: Tensor, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0
) -> Tensor:
    """Gradient of ``avg_pool2d(x, ...)`` with respect to ``x``, like autograd of ``F.avg_pool2d``.

    Each window spreads its gradient evenly, ``grad_out / (kh·kw)`` to every tap
    (zero padding counts as taps, ``count_include_pad=True``; the share that lands on
    the padding is dropped). Overlapping windows add their shares.

    >>> avg_pool2d_backward(torch.tensor([[[[4.0, 8.0]]]]), torch.zeros(1, 1, 2, 3), 2, stride=1)
    tensor([[[[1., 3., 2.],
              [1., 3., 2.]]]])
    """
    win, unbatched = pool_windows(x, kernel_size, stride, padding, 0.0)
    n, c, oh, ow, kh, kw = win.shape
    g = _grad_out(grad_out, (n, c, oh, ow), unbatched, win.dtype)
    taps = (g / (kh * kw))[..., None, None].expand(n, c, oh, ow, kh, kw)
    stride = kernel_size if stride is None else stride
    grad_x = _add_windows(taps, x.shape[-2:], stride, padding, 1)
    return grad_x[0] if unbatched else grad_x
