"""Where a sliding kernel goes: placements, padding modes, covered cells, and pictures of them.

One axis at a time, as in ``nn.Conv2d``: ``size`` input cells get ``padding`` zeros on each
side (input cell ``i`` is padded index ``i + padding``); ``kernel_size`` taps ``dilation`` apart
span ``dilation*(kernel_size-1)+1`` cells; placements start at ``0, stride, 2*stride, ...``
while the span fits. Drawing functions return a Figure or FuncAnimation and show nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnnnotes._validate import integer

__all__ = [
    "MODES", "animate_sliding", "animation_html", "coverage", "covered_rows", "draw_coverage",
    "draw_placements", "effective_kernel_size", "padding_for", "uncovered", "window_starts"
]  # fmt: skip

MODES = ("valid", "same", "full")  # the padding modes of padding_for
# cell codes: 0 padding, 1 input, 2 tap on padding, 3 tap on input, 4 input no tap ever reaches
_CMAP = ListedColormap(["#d9d9d9", "#ffffff", "#9ecae1", "#2171b5", "#fb6a4a"])


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
    w, s, p = integer(size, "size", 1), integer(stride, "stride", 1), integer(padding, "padding", 0)
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


def _codes(size: int, padding: int, counts: Sequence[int] | None = None) -> np.ndarray:
    """The padded square grid as cell codes; with 1-D ``counts``, unread input cells are 4."""
    n = size + 2 * padding
    code = np.zeros((n, n), dtype=int)
    inner = 1 if counts is None else np.where(np.outer(counts, counts) > 0, 1, 4)
    code[padding : padding + size, padding : padding + size] = inner
    return code


def _draw(ax: plt.Axes, code: np.ndarray, title: str, box: tuple[int, int, int] | None) -> None:
    """Draw cell codes with grid lines; ``box = (row, col, span)`` outlines a window."""
    ax.clear()
    ax.imshow(code, cmap=_CMAP, vmin=0, vmax=4)
    n_r, n_c = code.shape
    ax.hlines(np.arange(n_r + 1) - 0.5, -0.5, n_c - 0.5, color="#737373", lw=0.5, clip_on=False)
    ax.vlines(np.arange(n_c + 1) - 0.5, -0.5, n_r - 0.5, color="#737373", lw=0.5, clip_on=False)
    if box is not None:
        r, c, span = box
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), span, span, fill=False, ec="#08306b", lw=2))
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)


def _window(
    size: int, kernel_size: int, stride: int, padding: int, dilation: int, i: int, j: int
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Cell codes with the taps of placement (output index) ``(i, j)``, and its outline."""
    starts = window_starts(size, kernel_size, stride, padding, dilation)
    if not (0 <= i < len(starts) and 0 <= j < len(starts)):
        raise ValueError(f"placement {(i, j)} is outside the {len(starts)}×{len(starts)} outputs")
    taps = [dilation * t for t in range(kernel_size)]
    code = _codes(size, padding)
    code[np.ix_([starts[i] + t for t in taps], [starts[j] + t for t in taps])] += 2
    return code, (starts[i], starts[j], effective_kernel_size(kernel_size, dilation))


def draw_placements(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    placements: Sequence[tuple[int, int]] | None = None,
) -> Figure:
    """One panel per placement ``(i, j)`` (default: the first row of outputs), 4 per row.

    Square input. Grey cells are padding, white cells the input, blue cells the taps.
    """
    n_out = len(window_starts(size, kernel_size, stride, padding, dilation))
    if placements is None:
        placements = [(0, j) for j in range(min(n_out, 4))]
    if len(placements) == 0:
        raise ValueError("placements must name at least one (i, j) output index")
    ncols = min(4, len(placements))
    nrows = -(-len(placements) // ncols)
    side = max(1.4, 0.22 * (size + 2 * padding))
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, (side + 0.3) * nrows))
    flat = np.atleast_1d(axes).ravel()
    for ax in flat[len(placements) :]:
        ax.axis("off")
    for ax, (i, j) in zip(flat, placements, strict=False):
        code, box = _window(size, kernel_size, stride, padding, dilation, i, j)
        _draw(ax, code, f"output ({i}, {j})", box)
    fig.tight_layout()
    return fig


def draw_coverage(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> Figure:
    """Taps reading each cell of a square input (red: none; outline: the last placement)."""
    counts = np.array(coverage(size, kernel_size, stride, padding, dilation))
    last = window_starts(size, kernel_size, stride, padding, dilation)[-1]
    side = max(1.8, 0.32 * (size + 2 * padding))
    fig, ax = plt.subplots(figsize=(side, side + 0.3))
    box = (last, last, effective_kernel_size(kernel_size, dilation))
    _draw(ax, _codes(size, padding, counts), "taps reading each input cell", box)
    for (r, c), value in np.ndenumerate(np.outer(counts, counts)):
        ax.text(c + padding, r + padding, str(value), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    return fig


def animate_sliding(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> FuncAnimation:
    """The kernel visiting every placement in reading order, the output filling up.

    One frame per output cell (``W'·H'`` frames, 0.7 s each). Not a pyplot figure, so
    a notebook shows only what :func:`animation_html` returns.
    """
    n_out = len(window_starts(size, kernel_size, stride, padding, dilation))
    fig = Figure(figsize=(3.6, 2.0), layout="constrained")
    ax_in, ax_out = fig.subplots(1, 2, width_ratios=[size + 2 * padding, max(n_out, 2)])

    def frame(f: int) -> list:
        i, j = divmod(f, n_out)
        code, box = _window(size, kernel_size, stride, padding, dilation, i, j)
        _draw(ax_in, code, f"input, P={padding}, S={stride}", box)
        out = (np.arange(n_out * n_out) < f).astype(int).reshape(n_out, n_out)
        out[i, j] = 3
        _draw(ax_out, out, f"output ({i}, {j})", None)
        return []

    return FuncAnimation(fig, frame, frames=n_out * n_out, interval=700)


def animation_html(anim: FuncAnimation, dpi: int = 100) -> str:
    """``anim.to_jshtml()`` made fit for an offline page, with a content-derived element id.

    Drops the font-awesome stylesheet matplotlib loads from a CDN (the book's theme has
    the icons) and replaces the random id by a hash, so a rerun gives the same text.
    """
    if not isinstance(anim, FuncAnimation):
        raise TypeError(f"anim must be a FuncAnimation, got {type(anim).__name__}")
    with mpl.rc_context({"savefig.dpi": integer(dpi, "dpi", 10)}):
        html = anim.to_jshtml()
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*">\s*', "", html)
    for old in set(re.findall(r"_anim_img([0-9a-f]{32})", html)):
        new = hashlib.sha256(html.replace(old, "").encode()).hexdigest()[:16]
        html = html.replace(old, new)
    return html
