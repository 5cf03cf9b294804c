"""Where a sliding kernel goes: placements, padding modes, covered cells.

One axis at a time, as in ``nn.Conv2d``: ``size`` input cells get ``padding`` zeros on each
side (input cell ``i`` is padded index ``i + padding``); ``kernel_size`` taps ``dilation`` apart
span ``dilation*(kernel_size-1)+1`` cells; placements start at ``0, stride, 2*stride, ...``
while the span fits. The pictures of all this are in :mod:`cnnnotes.viz`.
"""

from __future__ import annotations

from cnnnotes._validate import integer

__all__ = [
    "MODES",
    "coverage",
    "covered_rows",
    "effective_kernel_size",
    "padding_for",
    "uncovered",
    "window_starts",
]

MODES = ("valid", "same", "full")  # the padding modes of padding_for


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Cells spanned by a dilated kernel, ``d(F−1)+1``.

    >>> effective_kernel_size(3), effective_kernel_size(3, dilation=2)
    (3, 5)
    """
    return integer(dilation, "dilation", 1) * (integer(kernel_size, "kernel_size", 1) - 1) + 1


def window_starts(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> list[int]:
    """Start of every placement in padded coordinates, found by sliding (not by the formula).

    >>> window_starts(5, 3, stride=2, padding=1)
    [0, 2, 4]
    >>> window_starts(8, 3, stride=3)
    [0, 3]
    """
    w = integer(size, "size", 1)
    s = integer(stride, "stride", 1)
    p = integer(padding, "padding", 0)
    span = effective_kernel_size(kernel_size, dilation)
    starts = list(range(0, w + 2 * p - span + 1, s))  # 0, S, 2S, ... while the window fits
    if not starts:
        raise ValueError(
            f"the kernel spans dilation*(kernel_size-1)+1 = {span} cells, more than the padded "
            f"input size+2*padding = {w + 2 * p}; use a smaller kernel or dilation, or more padding"
        )
    return starts


def coverage(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> list[int]:
    """For each input cell, how many kernel taps land on it over all placements.

    With all weights 1 this is the gradient of the summed output with respect to the input.

    >>> coverage(8, 3, stride=2)
    [1, 1, 2, 1, 2, 1, 1, 0]
    >>> coverage(5, 2, stride=2, dilation=2)  # the gaps between taps are never read
    [1, 0, 2, 0, 1]
    """
    counts = [0] * size
    for a in window_starts(size, kernel_size, stride, padding, dilation):
        for i in range(a - padding, a - padding + dilation * kernel_size, dilation):
            if 0 <= i < size:
                counts[i] += 1
    return counts


def covered_rows(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> list[int]:
    """Input indices that some tap of some placement reads.

    >>> covered_rows(8, 3, stride=3)
    [0, 1, 2, 3, 4, 5]
    """
    return [i for i, c in enumerate(coverage(size, kernel_size, stride, padding, dilation)) if c]


def uncovered(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> list[int]:
    """Input indices that no tap ever reads: they cannot influence the output.

    >>> uncovered(8, 3, stride=3), uncovered(8, 3, stride=3, padding=1)
    ([6, 7], [])
    """
    counts = coverage(size, kernel_size, stride, padding, dilation)
    return [i for i, c in enumerate(counts) if c == 0]


def padding_for(mode: str, kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    """Zeros ``(before, after)`` the input for ``mode`` ``'valid'``, ``'same'`` or ``'full'``.

    ``'same'`` (stride 1 only) pads ``d(F−1)`` in total, an odd total's extra zero *after*
    the input as in ``nn.Conv2d(padding='same')``; ``'full'`` pads ``d(F−1)`` per side.

    >>> padding_for("valid", 3), padding_for("same", 3), padding_for("same", 4)
    ((0, 0), (1, 1), (1, 2))
    >>> padding_for("full", 3, dilation=2)
    (4, 4)
    """
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, one of {MODES}, got {mode!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    total = effective_kernel_size(kernel_size, dilation) - 1
    return {"valid": (0, 0), "same": (total // 2, total - total // 2), "full": (total, total)}[mode]
