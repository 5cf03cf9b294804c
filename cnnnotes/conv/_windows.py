"""Windows of an image batch, shared by the forward ops and their backward passes.

Private: :mod:`cnnnotes.conv.ops` and :mod:`cnnnotes.conv.backprop` build on these; a
reader uses the public ops. Validation of tensor arguments lives here too, so
that both modules give the same messages.
"""

from __future__ import annotations

from torch import Tensor

from cnnnotes._validate import int_pair, tensor
from cnnnotes.conv.shapes import check_pool_padding, window_count

Pair = int | tuple[int, int]


def float_tensor(t: object, name: str, shape: str, ndims: tuple[int, ...]) -> Tensor:
    """Check that ``t`` is a floating-point tensor with one of the allowed ndims."""
    return tensor(t, name, shape=shape, ndims=ndims, floating=True)


def batched(x: object) -> tuple[Tensor, bool]:
    """Validate an image batch; return it as 4-D and whether it was unbatched."""
    x = float_tensor(x, "x", "(N, C, H, W) or (C, H, W)", (3, 4))
    return (x.unsqueeze(0), True) if x.ndim == 3 else (x, False)


def pad(x: Tensor, ph: int, pw: int, value: float) -> Tensor:
    """Pad the last two dims by building a filled tensor and copying ``x`` into it."""
    if ph == 0 and pw == 0:
        return x
    *lead, h, w = x.shape
    out = x.new_full((*lead, h + 2 * ph, w + 2 * pw), value)
    out[..., ph : ph + h, pw : pw + w] = x
    return out


def windows(
    x: Tensor, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair, *, fill: float = 0.0
) -> Tensor:
    """All (dilated) windows of a 4-D ``x``: shape ``(N, C, out_h, out_w, kh, kw)``."""
    (kh, kw), (sh, sw) = int_pair(kernel, "kernel_size", 1), int_pair(stride, "stride", 1)
    (ph, pw), (dh, dw) = int_pair(padding, "padding", 0), int_pair(dilation, "dilation", 1)
    window_count(x.shape[2], kh, sh, ph, dh, where=" (height)")  # raises if too big
    window_count(x.shape[3], kw, sw, pw, dw, where=" (width)")
    xp = pad(x, ph, pw, fill)
    win = xp.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)
    return win[..., ::dh, ::dw]


def columns(
    x: Tensor, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair
) -> tuple[Tensor, int, int]:
    """im2col of a 4-D ``x``, plus the output height and width."""
    win = windows(x, kernel, stride, padding, dilation)
    n, c, oh, ow, kh, kw = win.shape
    return win.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow), oh, ow


def conv_args(
    x: object, weight: object, bias: object, *, transposed: bool = False
) -> tuple[Tensor, bool, Tensor]:
    """Validate conv inputs; return the 4-D input, the unbatched flag and the weight.

    A convolution's weight is ``(out, in, kh, kw)``; a transposed convolution's
    (``transposed=True``) is ``(in, out, kh, kw)``.
    """
    x4, unbatched = batched(x)
    layout = (
        "(in_channels, out_channels, kh, kw)"
        if transposed
        else "(out_channels, in_channels, kh, kw)"
    )
    w = float_tensor(weight, "weight", layout, (4,))
    kind, short = (
        ("a transposed convolution's", "(C_in, C_out, kh, kw)")
        if transposed
        else ("a convolution's", "(O, C, kh, kw)")
    )
    c_in, c_out = (w.shape[0], w.shape[1]) if transposed else (w.shape[1], w.shape[0])
    if w.dtype != x4.dtype:
        raise TypeError(f"weight dtype {w.dtype} must match x dtype {x4.dtype}")
    if c_in != x4.shape[1]:
        raise ValueError(
            f"x has C={x4.shape[1]} channels but weight expects {c_in} "
            f"({kind} weight is {short} = {tuple(w.shape)})"
        )
    if bias is not None:
        b = float_tensor(bias, "bias", f"({c_out},) or None", (1,))
        if b.shape[0] != c_out:
            raise ValueError(
                f"bias must have shape ({c_out},), one value per output channel, "
                f"got shape {tuple(b.shape)}"
            )
        if b.dtype != x4.dtype:
            raise TypeError(f"bias dtype {b.dtype} must match x dtype {x4.dtype}")
    return x4, unbatched, w


def checked_conv_args(
    x: object, weight: object, bias: object, stride: Pair, padding: Pair, dilation: Pair
) -> tuple[Tensor, bool, Tensor, tuple[int, int], tuple[int, int], tuple[int, int]]:
    """:func:`conv_args`, then stride, padding and dilation as ``(h, w)`` pairs of ints.

    Raises unless the dilated kernel fits the padded input (at least one output cell).
    """
    x4, unbatched, w = conv_args(x, weight, bias)
    s, p = int_pair(stride, "stride", 1), int_pair(padding, "padding", 0)
    d = int_pair(dilation, "dilation", 1)
    window_count(x4.shape[2], w.shape[2], s[0], p[0], d[0], where=" (height)")
    window_count(x4.shape[3], w.shape[3], s[1], p[1], d[1], where=" (width)")
    return x4, unbatched, w, s, p, d


def finish(out: Tensor, bias: Tensor | None, unbatched: bool) -> Tensor:
    """Add one bias per output channel and drop the batch dim of an unbatched input."""
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out[0] if unbatched else out


def pool_windows(
    x: object, kernel_size: Pair, stride: Pair | None, padding: Pair, fill: float
) -> tuple[Tensor, bool]:
    x4, unbatched = batched(x)
    k = int_pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else int_pair(stride, "stride", 1)
    p = int_pair(padding, "padding", 0)
    check_pool_padding(k[0], p[0], " (height)")
    check_pool_padding(k[1], p[1], " (width)")
    return windows(x4, k, s, p, 1, fill=fill), unbatched
