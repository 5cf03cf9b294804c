"""A convolution written as the dense layer it is: one big, sparse, shared weight matrix.

For one example ``x`` of shape ``(D, H, W)`` and a weight of shape ``(N, D, F_h, F_w)``,
:func:`conv_as_matrix` returns the matrix ``M`` of shape ``(N·H'·W', D·H·W)`` with

    ``M @ x.flatten() == F.conv2d(x, weight, stride=S, padding=P).flatten()``

(rows and columns in PyTorch's row-major order). Row ``(n, i, j)`` holds the
filter ``weight[n]`` at the place its window covers, and zeros elsewhere:

    ``M[(n, i, j), (d, r, c)] = weight[n, d, r − i·S + P, c − j·S + P]``

when both kernel indices are in range, else 0. Taps that fall on the zero
padding have no column, so they simply vanish. :func:`conv_as_linear` wraps the
matrix (and the bias, repeated over positions) in an ``nn.Linear``.

:func:`locally_connected` keeps the first restriction and drops the second: every
output position has filters of its own (an *unshared* convolution).

Arguments are validated: ``TypeError`` for a wrong type, ``ValueError`` for a
wrong value, each naming what it got and what is allowed.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnnotes._validate import instance, int_pair, require, tensor
from cnnnotes.conv._windows import windows
from cnnnotes.conv.shapes import window_count

__all__ = ["conv_as_linear", "conv_as_matrix", "locally_connected"]

Pair = int | tuple[int, int]


def conv_as_matrix(weight: Tensor, input_size: Pair, stride: Pair = 1, padding: Pair = 0) -> Tensor:
    """The ``(N·H'·W') × (D·H·W)`` matrix of ``F.conv2d(·, weight, None, stride, padding)``.

    ``input_size`` is ``H`` (square input) or ``(H, W)``; ``stride`` and ``padding`` are
    ints or ``(h, w)`` pairs, as in ``nn.Conv2d``. The result has the dtype and device
    of ``weight`` and is differentiable with respect to it.

    A 1×2 filter ``[a, b] = [1, 2]`` on a 1×3 input has two outputs, ``a·x0 + b·x1`` and
    ``a·x1 + b·x2``; with ``padding=(0, 1)`` a third and fourth appear at the edges:

    >>> conv_as_matrix(torch.tensor([[[[1.0, 2.0]]]]), (1, 3))
    tensor([[1., 2., 0.],
            [0., 1., 2.]])
    >>> conv_as_matrix(torch.tensor([[[[1.0, 2.0]]]]), (1, 3), padding=(0, 1))
    tensor([[2., 0., 0.],
            [1., 2., 0.],
            [0., 1., 2.],
            [0., 0., 1.]])
    """
    layout = "(N, D, F_h, F_w) = (out_channels, in_channels, kh, kw)"
    w = tensor(weight, "weight", shape=layout, ndims=(4,), floating=True)
    require(w.numel() > 0, f"weight must not be empty, got shape {tuple(w.shape)}")
    n, d, fh, fw = w.shape
    h, wd = int_pair(input_size, "input_size", 1)
    sh, sw = int_pair(stride, "stride", 1)
    ph, pw = int_pair(padding, "padding", 0)
    oh = window_count(h, fh, sh, ph, 1, where=" (height)")  # raises if the kernel is too big
    ow = window_count(wd, fw, sw, pw, 1, where=" (width)")

    dev = w.device
    # Every (output position, kernel tap) pair: input row r = i·S + u − P, column c = j·S + v − P.
    rows = torch.arange(oh, device=dev)[:, None] * sh + torch.arange(fh, device=dev) - ph
    cols = torch.arange(ow, device=dev)[:, None] * sw + torch.arange(fw, device=dev) - pw
    r = rows[:, None, :, None]  # (oh, 1, fh, 1)
    c = cols[None, :, None, :]  # (1, ow, 1, fw)
    inside = (r >= 0) & (r < h) & (c >= 0) & (c < wd)  # (oh, ow, fh, fw); padding taps: False

    out_idx = torch.arange(n * oh * ow, device=dev).reshape(n, 1, oh, ow, 1, 1)
    in_idx = torch.arange(d, device=dev).reshape(1, d, 1, 1, 1, 1) * (h * wd) + (r * wd + c)
    shape = (n, d, oh, ow, fh, fw)
    mask = inside.expand(shape)
    values = w[:, :, None, None, :, :].expand(shape)[mask]
    m = w.new_zeros(n * oh * ow, d * h * wd)
    return m.index_put((out_idx.expand(shape)[mask], in_idx.expand(shape)[mask]), values)


def conv_as_linear(conv: nn.Conv2d, input_size: Pair) -> nn.Linear:
    """An ``nn.Linear`` that computes ``conv`` on flattened ``(D, H, W)`` inputs.

    Its weight is :func:`conv_as_matrix` of ``conv.weight``; its bias repeats each
    filter's bias at all ``H'·W'`` positions. Only plain convolutions are allowed
    (``groups=1``, ``dilation=1``, zero padding given as numbers).

    >>> conv = nn.Conv2d(1, 2, 3, padding=1)
    >>> dense = conv_as_linear(conv, 4)
    >>> dense.in_features, dense.out_features
    (16, 32)
    """
    instance(conv, "conv", nn.Conv2d, "an nn.Conv2d")
    require(
        conv.groups == 1 and conv.dilation == (1, 1) and conv.padding_mode == "zeros",
        "conv_as_linear handles groups=1, dilation=1 and padding_mode='zeros' only, got "
        f"groups={conv.groups}, dilation={conv.dilation}, padding_mode={conv.padding_mode!r}",
    )
    require(
        not isinstance(conv.padding, str),
        f"conv.padding must be numbers, got {conv.padding!r}; "
        "build the layer with padding=P instead of a string",
    )
    with torch.no_grad():
        m = conv_as_matrix(conv.weight, input_size, conv.stride, conv.padding)
        dense = nn.Linear(m.shape[1], m.shape[0], bias=conv.bias is not None)
        dense = dense.to(device=m.device, dtype=m.dtype)
        dense.weight.copy_(m)
        if conv.bias is not None:
            dense.bias.copy_(conv.bias.repeat_interleave(m.shape[0] // conv.out_channels))
    return dense


def locally_connected(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Pair = 1, padding: Pair = 0
) -> Tensor:
    """Local connectivity without weight sharing: each output position has its own filters.

    ``x`` is ``(B, D, H, W)``; ``weight`` is ``(H', W', N, D, F_h, F_w)``, one bank of ``N``
    filters per output position ``(i, j)``; ``bias``, if given, is ``(N, H', W')``, one per
    output value. Output ``(n, i, j)`` is the window of ``(i, j)`` times ``weight[i, j, n]``,
    summed, plus ``bias[n, i, j]``. With the same bank at every position it is
    ``F.conv2d``: weight sharing is exactly that constraint.

    >>> x = torch.arange(9.0).reshape(1, 1, 3, 3)
    >>> w = torch.ones(2, 2, 1, 1, 2, 2)
    >>> w[1, 1] = 0.0  # the bottom-right position sees nothing
    >>> locally_connected(x, w)
    tensor([[[[ 8., 12.],
              [20.,  0.]]]])
    """
    tensor(x, "x", shape="(B, D, H, W)", ndims=(4,), floating=True)
    tensor(weight, "weight", shape="(H', W', N, D, F_h, F_w)", ndims=(6,), floating=True)
    require(
        x.shape[1] == weight.shape[3],
        f"weight is (H', W', N, D, F_h, F_w) with D = {weight.shape[3]}, "
        f"but x has {x.shape[1]} channels",
    )
    kernel = (weight.shape[4], weight.shape[5])
    win = windows(x, kernel, stride, padding, 1)  # (B, D, H', W', F_h, F_w)
    require(
        tuple(win.shape[2:4]) == tuple(weight.shape[:2]),
        f"this stride and padding give {win.shape[2]}x{win.shape[3]} positions "
        f"(height x width), but weight has banks for {weight.shape[0]}x{weight.shape[1]}",
    )
    out = torch.einsum("bdijuv,ijnduv->bnij", win, weight)
    if bias is None:
        return out
    tensor(bias, "bias", shape="(N, H', W')", ndims=(3,), floating=True)
    want = (weight.shape[2], *weight.shape[:2])
    require(tuple(bias.shape) == want, f"bias must have shape {want}, got {tuple(bias.shape)}")
    return out + bias
