"""The self-check of the convolution backward exercises, with padding, dilation and stride.

The expected gradients come from PyTorch's autograd on :data:`CONV_BACKWARD_CASES`.
A failing answer is shown its first failing case and, when its output is exactly
what a classic slip gives on that case (an unflipped kernel, the padding not cut
off, the dilation ignored or swapped with the stride, …), the slip's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnnotes.check.backprop import Hint, autograd_grads
from cnnnotes.check.core import check_tensors
from cnnnotes.conv.backprop import conv_transpose2d


class ConvBackwardCase(NamedTuple):
    """A case of :func:`check_conv2d_backward`: the shapes and settings of one ``F.conv2d``.

    Its fields are the arguments of the learner's function; the one in ``drawn``,
    ``grad_out``, is drawn at random in the shape of the convolution's output.
    """

    x: tuple[int, int, int, int]
    weight: tuple[int, int, int, int]
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    drawn = ("grad_out",)


_C = ConvBackwardCase
CONV_BACKWARD_CASES = (
    # stride 1, no padding, no dilation (first as many input as output channels)
    _C((2, 1, 5, 5), (1, 1, 3, 3)), _C((2, 2, 4, 4), (2, 2, 4, 4)),
    _C((1, 1, 5, 5), (1, 1, 3, 3)), _C((2, 3, 6, 6), (4, 3, 3, 3)),
    _C((1, 2, 7, 5), (3, 2, 3, 2)), _C((3, 1, 6, 7), (2, 1, 2, 2)),
    _C((1, 3, 5, 5), (2, 3, 1, 1)),
    # strides 2 and 3
    _C((2, 1, 7, 7), (1, 1, 3, 3), 2), _C((2, 2, 8, 8), (3, 2, 3, 3), 2),
    _C((1, 3, 9, 7), (2, 3, 2, 3), 3), _C((2, 1, 6, 6), (1, 1, 2, 2), 2),
    _C((1, 2, 10, 9), (2, 2, 4, 3), 3),
    # padding and dilation, alone and with a stride
    _C((2, 2, 6, 6), (3, 2, 3, 3), 1, 1), _C((1, 3, 7, 6), (2, 3, 3, 2), 1, 2),
    _C((1, 2, 11, 10), (2, 2, 3, 3), 3, 2, 2), _C((2, 1, 9, 9), (2, 1, 3, 3), 1, 0, 2),
    _C((1, 2, 10, 8), (3, 2, 2, 3), 1, 1, 3), _C((1, 2, 7, 7), (2, 2, 3, 3), 2, 1),
    _C((2, 3, 9, 8), (4, 3, 3, 2), 2, 1, 2), _C((2, 1, 8, 9), (1, 1, 2, 2), 2, 2, 3),
)  # fmt: skip
"""The cases of :func:`check_conv2d_backward`: strides 1–3, padding 0–2, dilation 1–3."""


def cases_for(stride: int | None) -> tuple[ConvBackwardCase, ...]:
    """The cases ``check_conv2d_backward(fn, stride=stride)`` runs: every case for ``None``,
    else the cases of that stride without padding or dilation.

    >>> len(cases_for(None)) == len(CONV_BACKWARD_CASES), {c.stride for c in cases_for(2)}
    (True, {2})
    """
    if stride is not None and stride not in (1, 2, 3):
        raise ValueError(f"stride must be 1, 2, 3 or None (all of them), got {stride!r}")
    if stride is None:
        return CONV_BACKWARD_CASES
    return tuple(c for c in CONV_BACKWARD_CASES if c.stride == stride and c[3:] == (0, 1))


def _tap_loop(
    grad_out: Tensor, x: Tensor, weight: Tensor, padding: int, tap_step: int, out_step: int
) -> tuple[Tensor, Tensor]:
    """``(gradient of the padded input, grad_weight)`` of a convolution whose tap ``(u, v)``
    at output ``(i, j)`` reads padded pixel ``(u·tap_step + i·out_step, v·tap_step + j·out_step)``.

    Right with ``tap_step = d`` and ``out_step = S``; each classic slip changes one of
    them. Loops over the taps, as the exercise's solution does.

    >>> grad_xp, grad_w = _tap_loop(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 3, 3),
    ...                            torch.ones(1, 1, 2, 2), 0, 1, 1)
    >>> grad_xp[0, 0].tolist(), grad_w[0, 0].tolist()
    ([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], [[4.0, 4.0], [4.0, 4.0]])
    """
    kh, kw = weight.shape[2:]
    oh, ow = grad_out.shape[2:]
    xp = F.pad(x, (padding,) * 4)
    grad_xp = torch.zeros_like(xp)
    grad_w = torch.zeros_like(weight)
    for u in range(kh):
        for v in range(kw):
            rows = slice(u * tap_step, u * tap_step + out_step * (oh - 1) + 1, out_step)
            cols = slice(v * tap_step, v * tap_step + out_step * (ow - 1) + 1, out_step)
            grad_w[:, :, u, v] = torch.einsum("nohw,nchw->oc", grad_out, xp[:, :, rows, cols])
            tap = weight[:, :, u, v]
            grad_xp[:, :, rows, cols] += torch.einsum("nohw,oc->nchw", grad_out, tap)
    return grad_xp, grad_w


def _formed(candidates: list[tuple[str, Callable[[], Tensor]]]) -> list[Hint]:
    """The ``(mistake, output)`` pairs whose wrong output can be formed on this case."""
    found = []
    for mistake, wrong in candidates:
        try:
            found.append((mistake, wrong()))
        except (RuntimeError, ValueError):  # the slip cannot even run on this case
            continue
    return found


def _grad_x_slips(case: ConvBackwardCase, grad_out: Tensor, x: Tensor, w: Tensor) -> list[Hint]:
    """The classic wrong ``grad_x`` of ``case``."""
    s, p, d = case[2:]
    h, wd = x.shape[2:]
    kh, kw = w.shape[2:]
    rest = ((h + 2 * p - d * (kh - 1) - 1) % s, (wd + 2 * p - d * (kw - 1) - 1) % s)
    slips = [
        (
            "used the unflipped kernel: grad_x needs the kernel flipped (rotated 180°)",
            lambda: conv_transpose2d(grad_out, w.flip(2, 3), None, s, p, rest, d),
        )
    ]
    if (s, p, d) == (1, 0, 1) and w.shape[0] == w.shape[1] > 1:
        unswapped = "kept the kernel's channel order: swap its input and output channels"
        full = lambda: F.conv2d(grad_out, w.flip(2, 3), padding=(kh - 1, kw - 1))  # noqa: E731
        slips.append((unswapped, full))
    if p > 0:

        def padded() -> Tensor:
            return _tap_loop(grad_out, x, w, p, d, s)[0]

        cut = "cut P rows and columns from every border"
        slips.append((f"returned the gradient of the padded input: {cut}", padded))
        one_side = f"cut all the padding from the bottom and right: {cut}"
        slips.append((one_side, lambda: padded()[:, :, :h, :wd]))
    if s > 1:
        stride_1 = (
            "used the stride-1 formula: for stride S, spread grad_out with S−1 zeros between "
            "its entries (a transposed convolution)"
        )
        slips.append((stride_1, lambda: conv_transpose2d(grad_out, w, None, 1, p, 0, d)))
    return _formed(slips + _dilation_slips(case, grad_out, x, w, 0))


def _grad_w_slips(case: ConvBackwardCase, grad_out: Tensor, x: Tensor, w: Tensor, want: Tensor):
    """The classic wrong ``grad_weight`` of ``case``."""
    s, p, d = case[2:]
    slips = [
        (
            "divided grad_weight by the batch size N: grad_out already holds the 1/N",
            lambda: want / x.shape[0],
        ),
        (
            "returned grad_weight as (in_channels, out_channels, …): transpose it to the "
            "weight's shape",
            lambda: want.transpose(0, 1),
        ),
    ]
    if p > 0:
        unpadded = "read the unpadded input in grad_weight: pad x by P first"
        slips.append((unpadded, lambda: _tap_loop(grad_out, x, w, 0, d, s)[1]))
        slips.append((unpadded, lambda: _correlate(x, grad_out, w, 0, d, s)))
    if s != d:
        swapped = (
            "correlated with the layer's stride and dilation: in grad_weight they swap roles "
            "(G is read with dilation S, the taps with stride d)"
        )
        slips.append((swapped, lambda: _correlate(x, grad_out, w, p, s, d)))
    if d > 1:
        slips.append((_IGNORED_DILATION, lambda: _correlate(x, grad_out, w, p, 1, s)))
    return _formed(slips + _dilation_slips(case, grad_out, x, w, 1))


def _correlate(x: Tensor, grad_out: Tensor, w: Tensor, padding: int, stride: int, dilation: int):
    """grad_weight as ``F.conv2d`` of the input with ``grad_out`` (batch and channel axes
    swapped), cut to the kernel's size: right with ``stride = d`` and ``dilation = S``."""
    xt, gt = x.transpose(0, 1), grad_out.transpose(0, 1)
    got = F.conv2d(xt, gt, padding=padding, stride=stride, dilation=dilation)
    return got[:, :, : w.shape[2], : w.shape[3]].transpose(0, 1)


_IGNORED_DILATION = (
    "ignored the dilation: tap (u, v) of output (i, j) reads padded pixel (iS + u·d, jS + v·d)"
)


def _dilation_slips(case: ConvBackwardCase, grad_out: Tensor, x: Tensor, w: Tensor, which: int):
    """The tap loop that ignores the dilation (cases with ``d > 1``); ``which`` picks grad_x
    (0, cropped to the input) or grad_weight (1)."""
    s, p, d = case[2:]
    if d == 1:
        return []

    def grad(tap_step: int, out_step: int) -> Tensor:
        got = _tap_loop(grad_out, x, w, p, tap_step, out_step)[which]
        return got[:, :, p : p + x.shape[2], p : p + x.shape[3]] if which == 0 else got

    return [(_IGNORED_DILATION, lambda: grad(1, s))]


def _bias_slips(grad_out: Tensor) -> list[Hint]:
    """The classic wrong ``grad_bias``."""
    return [
        (
            "averaged grad_bias instead of summing over the batch and all positions",
            grad_out.mean(dim=(0, 2, 3)),
        ),
        ("summed grad_bias over the positions of the first example only", grad_out[0].sum((1, 2))),
    ]


def check_conv2d_backward(fn: Callable, *, stride: int | None = 1, seed: int = 0) -> str:
    """Check ``fn(grad_out, x, weight, stride, padding, dilation)`` → ``(grad_x, grad_weight,
    grad_bias)``, the gradients of ``F.conv2d(x, weight, bias, stride, padding, dilation)``.

    ``stride=1`` checks the stride-1 cases without padding or dilation, calling
    ``fn(grad_out, x, weight, 1)`` (``fn`` may ignore its ``stride``); ``stride=2`` or
    ``3`` the cases of that stride, likewise. ``stride=None`` checks every case of
    :data:`CONV_BACKWARD_CASES` (strides 1 to 3, padding 0 to 2, dilation 1 to 3) and
    passes ``padding`` and ``dilation`` too where a case pads or dilates. Each case
    counts three times, once per gradient.

    >>> from cnnnotes.conv.backprop import conv2d_backward
    >>> check_conv2d_backward(conv2d_backward, stride=None)
    'All 60 cases match autograd of F.conv2d.'
    """
    chosen = cases_for(stride)
    g = torch.Generator().manual_seed(seed)
    names = ("grad_x", "grad_weight", "grad_bias")

    def part(i: int, *args: object) -> object:
        out = fn(*args)
        if not (isinstance(out, tuple | list) and len(out) == 3):
            raise TypeError(f"return a tuple {names}, not {type(out).__name__}")
        return out[i]

    def cases() -> Iterator[tuple]:
        for case in chosen:
            plain = case[3:] == (0, 1)  # no padding, no dilation
            x = torch.randn(case.x, generator=g)
            w = torch.randn(case.weight, generator=g)
            b = torch.randn(case.weight[:1], generator=g)
            settings = case[2:]  # stride, padding, dilation

            def conv(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
                return F.conv2d(x, w, b, *settings)  # noqa: B023

            grad_out = torch.randn(conv(x, w, b).shape, generator=g)
            want = autograd_grads(conv, (x, w, b), grad_out)
            hints = (
                _grad_x_slips(case, grad_out, x, w),
                _grad_w_slips(case, grad_out, x, w, want[1]),
                _bias_slips(grad_out),
            )
            args = (grad_out, x, w, *(settings[:1] if plain else settings))
            text = f"x {case.x}, weight {case.weight}, stride={case.stride}"
            text += "" if plain else f", padding={case.padding}, dilation={case.dilation}"
            for i in range(3):
                yield f"{names[i]} of {text}", (i, *args), want[i], hints[i]

    return check_tensors(part, cases(), "autograd of F.conv2d")
