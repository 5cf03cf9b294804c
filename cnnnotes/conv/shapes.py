"""Shape arithmetic for convolution and pooling layers, checked against PyTorch.

Every function validates its arguments (:mod:`cnnnotes._validate`): ``TypeError`` for a
wrong type, ``ValueError`` for a wrong value, naming the argument and what is allowed.

PyTorch's rules reproduced here (checked against torch 2.x on every small case):

* convolution: ``out = ⌊(W + 2P − D(F−1) − 1) / S⌋ + 1``; the dilated kernel
  ``D(F−1)+1`` must fit in the padded input ``W + 2P``.
* pooling: the same formula, but ``ceil_mode=True`` rounds up and then drops the
  last window if it would start beyond the input plus left padding
  (``(out−1)·S ≥ W + P``). So with ``ceil_mode`` a window may overhang the
  padded input by up to ``S−1`` cells, and a kernel slightly larger than the
  input can still be allowed. The result must be at least 1.
* pooling padding: ``P ≤ F // 2``. ``max_pool2d`` checks both
  ``P ≤ (D(F−1)+1) // 2`` ("at most half of effective kernel size") and
  ``P ≤ F // 2`` (which ignores dilation); the second is always the stricter,
  so dilation never allows more padding. ``avg_pool2d`` has no dilation and
  uses ``P ≤ F // 2`` too.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from cnnnotes._validate import boolean, int_pair, integer, require

__all__ = [
    "conv_macs",
    "conv_output_size",
    "conv_param_count",
    "conv_transpose_output_size",
    "linear_param_count",
    "pool_output_size",
    "receptive_field",
    "receptive_field_steps",
]


def window_count(
    size: int, k: int, s: int, p: int, d: int, *, ceil_mode: bool = False, where: str = ""
) -> int:
    """Number of sliding windows (PyTorch's rule) for validated ints; raise if none fit.

    >>> window_count(28, 3, 1, 1, 1), window_count(5, 2, 2, 0, 1, ceil_mode=True)
    (28, 3)
    """
    eff = d * (k - 1) + 1
    span = size + 2 * p - eff
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or the left padding
    if out < 1:
        extra = f" plus the stride-1 = {s - 1} overhang that ceil_mode allows" if ceil_mode else ""
        raise ValueError(
            f"kernel_size {k} (dilated {eff}) is larger than the padded input "
            f"{size + 2 * p} (size {size} + 2*padding {p}){extra}{where}; "
            "the dilated kernel dilation*(kernel_size-1)+1 must fit"
        )
    return out


def check_pool_padding(k: int, p: int, where: str = "") -> None:
    """Raise unless ``p <= k // 2`` (PyTorch's pooling padding rule)."""
    require(
        p <= k // 2,
        f"padding {p} is more than half of kernel_size {k}{where}; "
        f"pooling allows padding <= kernel_size // 2 = {k // 2}",
    )


def conv_output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output height (or width) of ``nn.Conv2d``: ``⌊(W + 2P − D(F−1) − 1) / S⌋ + 1``.

    >>> conv_output_size(28, 3, padding=1)
    28
    >>> conv_output_size(7, 3, stride=2)
    3
    >>> conv_output_size(7, 3, dilation=2)
    3
    """
    return window_count(
        integer(size, "size", 1),
        integer(kernel_size, "kernel_size", 1),
        integer(stride, "stride", 1),
        integer(padding, "padding", 0),
        integer(dilation, "dilation", 1),
    )


def pool_output_size(
    size: int,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output height (or width) of ``nn.MaxPool2d`` / ``nn.AvgPool2d``.

    ``stride=None`` means ``stride = kernel_size``, as in the layers. ``padding``
    must be at most ``kernel_size // 2``. ``dilation`` exists only for max pooling.
    See the module docstring for the ``ceil_mode`` rule.

    >>> pool_output_size(28, 2)
    14
    >>> pool_output_size(5, 2), pool_output_size(5, 2, ceil_mode=True)
    (2, 3)
    >>> pool_output_size(2, 3, stride=2, ceil_mode=True)  # one overhanging window
    1
    """
    k = integer(kernel_size, "kernel_size", 1)
    s = k if stride is None else integer(stride, "stride", 1)
    p = integer(padding, "padding", 0)
    boolean(ceil_mode, "ceil_mode")
    check_pool_padding(k, p)
    return window_count(
        integer(size, "size", 1), k, s, p, integer(dilation, "dilation", 1), ceil_mode=ceil_mode
    )


def conv_param_count(
    in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], bias: bool = True
) -> int:
    """Learnable parameters of ``nn.Conv2d`` (no groups): ``N(F_h·F_w·D + 1)``.

    >>> conv_param_count(3, 16, 3)
    448
    >>> conv_param_count(3, 16, (3, 5), bias=False)
    720
    """
    d = integer(in_channels, "in_channels", 1)
    n = integer(out_channels, "out_channels", 1)
    kh, kw = int_pair(kernel_size, "kernel_size", 1)
    return n * (kh * kw * d + boolean(bias, "bias"))


def linear_param_count(in_features: int, out_features: int, bias: bool = True) -> int:
    """Learnable parameters of ``nn.Linear``: ``out·in (+ out)``.

    >>> linear_param_count(784, 10)
    7850
    """
    i = integer(in_features, "in_features", 1)
    o = integer(out_features, "out_features", 1)
    return o * (i + boolean(bias, "bias"))


def conv_macs(
    in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], out_h: int, out_w: int
) -> int:
    """Multiply-accumulates of one ``nn.Conv2d`` forward pass for one sample (bias excluded).

    >>> conv_macs(1, 8, 3, 28, 28)  # 8·28·28 outputs, 9 MACs each
    56448
    """
    kh, kw = int_pair(kernel_size, "kernel_size", 1)
    return (
        integer(in_channels, "in_channels", 1)
        * integer(out_channels, "out_channels", 1)
        * kh
        * kw
        * integer(out_h, "out_h", 1)
        * integer(out_w, "out_w", 1)
    )


SHAPE_KEEPING: tuple[type[nn.Module], ...] = (
    nn.Identity, nn.BatchNorm2d, nn.Dropout, nn.Dropout2d,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU,
    nn.GELU, nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish,
    nn.Hardsigmoid, nn.Softplus, nn.Softsign, nn.LogSigmoid, nn.Tanhshrink,
)  # fmt: skip
"""Layers that act on each pixel separately, so they leave the receptive field alone."""


def _square(value: object, what: str, where: str) -> int:
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ValueError(f"{where} has {what} {tuple(value)}; only square (equal) values work")
        value = value[0]
    return integer(value, f"{what} of {where}", 1)


def _leaves(layers: object) -> list[nn.Module]:
    if isinstance(layers, nn.Module) and not isinstance(layers, nn.Sequential):
        layers = [layers]
    if not isinstance(layers, Iterable):
        raise TypeError(f"layers must be an nn.Sequential or a list of layers, got {layers!r}")
    out: list[nn.Module] = []
    for layer in layers:
        out.extend(_leaves(layer) if isinstance(layer, nn.Sequential) else [layer])
    return out


def receptive_field_steps(layers: Iterable[nn.Module]) -> list[tuple[int, int]]:
    """``(receptive field, jump)`` after each layer; nested ``nn.Sequential`` are flattened.

    Recurrence: ``r ← r + (k_eff − 1)·j`` and ``j ← j·s`` with ``k_eff = d(k−1)+1``,
    starting from ``r = j = 1``. Padding does not matter.

    >>> receptive_field_steps([nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3)])
    [(3, 1), (3, 1), (4, 2), (8, 2)]
    """
    r = j = 1
    steps: list[tuple[int, int]] = []
    for i, layer in enumerate(_leaves(layers)):
        where = f"layer {i} ({layer!r})"
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k = _square(layer.kernel_size, "kernel_size", where)
            s = _square(layer.stride, "stride", where)
            d = _square(getattr(layer, "dilation", 1), "dilation", where)
            r, j = r + d * (k - 1) * j, j * s
        elif not isinstance(layer, SHAPE_KEEPING):
            raise TypeError(
                f"receptive_field cannot handle {where}; allowed: Conv2d, MaxPool2d, "
                "AvgPool2d and shape-keeping layers (ReLU and other activations, "
                "BatchNorm2d, Dropout, Dropout2d, Identity)"
            )
        steps.append((r, j))
    return steps


def receptive_field(layers: Iterable[nn.Module]) -> int:
    """Receptive field (in input pixels, per side) of one output pixel of a layer stack.

    >>> receptive_field(nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3)))
    5
    >>> receptive_field([nn.Conv2d(1, 8, 3, stride=2), nn.Conv2d(8, 8, 3, dilation=2)])
    11
    """
    steps = receptive_field_steps(layers)
    return steps[-1][0] if steps else 1


def conv_transpose_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    """Output height (or width) of ``nn.ConvTranspose2d``: ``(W−1)S − 2P + D(F−1) + OP + 1``.

    The inverse of :func:`conv_output_size`'s map: a convolution with the same
    settings sends this size back to ``size``. Because the convolution rounds down,
    up to ``S−1`` larger sizes map to ``size`` too; ``output_padding`` picks one, so
    PyTorch requires ``output_padding < max(stride, dilation)``. An output smaller
    than 1 is refused, as in PyTorch.

    >>> conv_transpose_output_size(14, 2, stride=2)
    28
    >>> conv_transpose_output_size(3, 3, stride=2, padding=1, output_padding=1)
    6
    >>> conv_output_size(6, 3, stride=2, padding=1)
    3
    """
    w, k = integer(size, "size", 1), integer(kernel_size, "kernel_size", 1)
    s, p = integer(stride, "stride", 1), integer(padding, "padding", 0)
    op, d = integer(output_padding, "output_padding", 0), integer(dilation, "dilation", 1)
    if op >= max(s, d):
        raise ValueError(
            f"output_padding {op} must be smaller than stride {s} or dilation {d} "
            f"(allowed: 0 <= output_padding < {max(s, d)})"
        )
    out = (w - 1) * s - 2 * p + d * (k - 1) + op + 1
    if out < 1:
        raise ValueError(
            f"output size (size-1)*stride - 2*padding + dilation*(kernel_size-1) "
            f"+ output_padding + 1 = {out} is too small; it must be >= 1 "
            f"(padding {p} is too large for size {w}, kernel_size {k})"
        )
    return out
