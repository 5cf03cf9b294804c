"""What a convolution costs: parameters and multiply-accumulates (MACs) of grouped,
depthwise-separable and residual layers.

A 2-D convolution from ``C_in`` to ``C_out`` channels with a ``k_h × k_w`` kernel
computes each of its ``C_out·H'·W'`` outputs as a sum over a window of the channels
its filter sees. Normally that is all ``C_in`` of them; with ``groups = g`` the
channels are cut into ``g`` groups and each filter sees only its own group's
``C_in/g`` (``C_in`` and ``C_out`` both divisible by ``g``). Hence, per sample,

    params = C_out·(C_in/g)·k_h·k_w  (+ C_out biases)
    MACs   = H'·W'·C_out·(C_in/g)·k_h·k_w

and grouping divides both by ``g``. *Depthwise* is the extreme ``g = C_in = C_out``:
one filter per channel, no mixing of channels. A *depthwise-separable* convolution
(MobileNet) follows it with a *pointwise* 1×1 convolution that does the mixing:

    params = C_in·k_h·k_w + C_in·C_out  (+ C_in + C_out biases)
    MACs   = H'·W'·(C_in·k_h·k_w + C_in·C_out)

against ``H'·W'·C_in·C_out·k_h·k_w`` for the full convolution: the ratio is
``1/C_out + 1/(k_h·k_w)``, about ``1/9`` for 3×3 kernels and many channels. Fewer
MACs is not the same as less time: a depthwise convolution does little arithmetic
per value it reads, so memory traffic, not arithmetic, often sets its speed.

MACs count multiplications of the convolutions only (biases, batch norm, ReLU and
additions excluded), as ``torch.utils.flop_counter.FlopCounterMode`` does with 2
FLOPs per MAC.
"""

from __future__ import annotations

from cnnnotes._validate import boolean, int_pair, positive_int, require
from cnnnotes.conv.shapes import conv_output_size

__all__ = [
    "depthwise_separable_macs",
    "depthwise_separable_params",
    "grouped_conv_macs",
    "grouped_conv_params",
    "residual_block_macs",
    "residual_block_params",
    "separable_cost_ratio",
]

Pair = int | tuple[int, int]


def _groups(c_in: int, c_out: int, groups: int) -> tuple[int, int, int]:
    """Validated ``(c_in, c_out, groups)``; both channel counts divisible by ``groups``."""
    c_in, c_out = positive_int(c_in, "c_in"), positive_int(c_out, "c_out")
    g = positive_int(groups, "groups")
    require(
        c_in % g == 0 and c_out % g == 0,
        f"c_in={c_in} and c_out={c_out} must both be divisible by groups={g}",
    )
    return c_in, c_out, g


def grouped_conv_params(
    c_in: int, c_out: int, kernel_size: Pair, groups: int = 1, bias: bool = True
) -> int:
    """Parameters of ``nn.Conv2d(c_in, c_out, kernel_size, groups=groups, bias=bias)``.

    ``C_out`` filters of ``(C_in/g)·k_h·k_w`` weights each, plus a bias per filter.

    >>> grouped_conv_params(32, 64, 3), grouped_conv_params(32, 64, 3, groups=4, bias=False)
    (18496, 4608)
    """
    c_in, c_out, g = _groups(c_in, c_out, groups)
    kh, kw = int_pair(kernel_size, "kernel_size", 1)
    return c_out * (c_in // g) * kh * kw + c_out * boolean(bias, "bias")


def grouped_conv_macs(
    c_in: int, c_out: int, kernel_size: Pair, out_h: int, out_w: int, groups: int = 1
) -> int:
    """MACs of one such convolution for one sample: ``H'·W'·C_out·(C_in/g)·k_h·k_w``.

    >>> grouped_conv_macs(32, 64, 3, 28, 28), grouped_conv_macs(32, 64, 3, 28, 28, groups=32)
    (14450688, 451584)
    """
    c_in, c_out, g = _groups(c_in, c_out, groups)
    kh, kw = int_pair(kernel_size, "kernel_size", 1)
    cells = positive_int(out_h, "out_h") * positive_int(out_w, "out_w")
    return cells * c_out * (c_in // g) * kh * kw


def depthwise_separable_params(c_in: int, c_out: int, kernel_size: Pair, bias: bool = True) -> int:
    """Parameters of a depthwise ``k × k`` convolution then a pointwise ``1 × 1`` one.

    ``C_in·k_h·k_w`` (one filter per channel) ``+ C_in·C_out`` (the mixing), plus
    ``C_in + C_out`` biases.

    >>> depthwise_separable_params(32, 64, 3), depthwise_separable_params(32, 64, 3, bias=False)
    (2432, 2336)
    """
    depthwise = grouped_conv_params(c_in, c_in, kernel_size, groups=c_in, bias=bias)
    return depthwise + grouped_conv_params(c_in, c_out, 1, bias=bias)


def depthwise_separable_macs(
    c_in: int, c_out: int, kernel_size: Pair, out_h: int, out_w: int
) -> int:
    """MACs for one sample: ``H'·W'·(C_in·k_h·k_w + C_in·C_out)``.

    >>> depthwise_separable_macs(32, 64, 3, 28, 28)  # against 14,450,688 for the full one
    1831424
    """
    depthwise = grouped_conv_macs(c_in, c_in, kernel_size, out_h, out_w, groups=c_in)
    return depthwise + grouped_conv_macs(c_in, c_out, 1, out_h, out_w)


def separable_cost_ratio(c_out: int, kernel_size: Pair) -> float:
    """Depthwise-separable over full convolution, in MACs (and weights): ``1/C_out + 1/(k_h·k_w)``.

    ``H'·W'·C_in·(k_h·k_w + C_out) / (H'·W'·C_in·C_out·k_h·k_w)``; ``C_in`` cancels.

    >>> round(separable_cost_ratio(64, 3), 6), round(1831424 / 14450688, 6)
    (0.126736, 0.126736)
    """
    kh, kw = int_pair(kernel_size, "kernel_size", 1)
    return 1 / positive_int(c_out, "c_out") + 1 / (kh * kw)


def _projects(c_in: int, c_out: int, stride: int) -> bool:
    return stride != 1 or c_in != c_out


def residual_block_params(c_in: int, c_out: int, stride: int = 1, residual: bool = True) -> int:
    """Parameters of :class:`~cnnnotes.modern.blocks.ResidualBlock` ``(c_in, c_out, stride)``.

    Two bias-free 3×3 convolutions (``9·C_in·C_out + 9·C_out²``), two batch norms
    (``2·C_out`` each: a scale and a shift per channel) and, when the shape changes
    (``stride ≠ 1`` or ``C_in ≠ C_out``) and ``residual``, the 1×1 projection with its
    batch norm (``C_in·C_out + 2·C_out``).

    >>> residual_block_params(16, 16), residual_block_params(16, 32, stride=2)
    (4672, 14528)
    """
    c_in, c_out = positive_int(c_in, "c_in"), positive_int(c_out, "c_out")
    stride = positive_int(stride, "stride")
    main = 9 * c_in * c_out + 9 * c_out * c_out + 4 * c_out
    shortcut = c_in * c_out + 2 * c_out
    return main + (
        shortcut if boolean(residual, "residual") and _projects(c_in, c_out, stride) else 0
    )


def residual_block_macs(
    c_in: int, c_out: int, height: int, width: int, stride: int = 1, residual: bool = True
) -> int:
    """MACs of that block for one ``(c_in, height, width)`` input (convolutions only).

    The first convolution (stride ``s``, padding 1) gives ``H' = ⌊(H − 1)/s⌋ + 1``
    rows (:func:`~cnnnotes.conv.shapes.conv_output_size`), and so does everything
    after it: ``H'·W'·(9·C_in·C_out + 9·C_out² (+ C_in·C_out for the projection))``.

    >>> residual_block_macs(16, 16, 28, 28), residual_block_macs(16, 32, 28, 28, stride=2)
    (3612672, 2809856)
    """
    c_in, c_out = positive_int(c_in, "c_in"), positive_int(c_out, "c_out")
    stride = positive_int(stride, "stride")
    oh = conv_output_size(height, 3, stride, 1)
    ow = conv_output_size(width, 3, stride, 1)
    per_cell = 9 * c_in * c_out + 9 * c_out * c_out
    if boolean(residual, "residual") and _projects(c_in, c_out, stride):
        per_cell += c_in * c_out
    return oh * ow * per_cell
