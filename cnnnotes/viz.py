"""Figures shared by the chapters: one fixed style, image grids, matrices, learning curves,
a sliding kernel.

Every function returns the ``Figure`` (the animation: the ``FuncAnimation``) it drew and
prints nothing; the notebook shows it. The style is fixed so the stored ``<Figure size ...>``
text is the same on every run. The sliding-kernel pictures of chapter 4 draw, on a square
input, what :mod:`cnnnotes.conv.sliding` computes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnnnotes._validate import integer, positive_int
from cnnnotes.conv.sliding import coverage, effective_kernel_size, window_starts

BOOK_STYLE: dict[str, object] = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 10,
    "image.cmap": "gray",
    "image.interpolation": "nearest",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def use_book_style() -> None:
    """Apply :data:`BOOK_STYLE` to matplotlib's rcParams."""
    mpl.rcParams.update(BOOK_STYLE)


def _as_image(img: torch.Tensor) -> torch.Tensor:
    """A ``(H, W)`` CPU tensor from ``(H, W)`` or ``(1, H, W)``."""
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor image, got {type(img).__name__}")
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 2:
        raise ValueError(f"expected an image of shape (H, W) or (1, H, W), got {tuple(img.shape)}")
    return img.detach().cpu()


def image_grid(
    images: Sequence[torch.Tensor] | torch.Tensor,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.1,
    cmap: str = "gray",
    symmetric: bool = False,
) -> Figure:
    """Show images in a grid, each with an optional title, axes hidden.

    ``symmetric=True`` centres the colour map at zero (for kernels and signed
    feature maps, with a diverging ``cmap``).
    """
    n = len(images)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles")
    ncols = positive_int(ncols, "ncols")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * nrows))
    flat = axes.ravel() if hasattr(axes, "ravel") else [axes]
    for i, ax in enumerate(flat):
        ax.axis("off")
        if i >= n:
            continue
        img = _as_image(images[i])
        kwargs: dict[str, object] = {"cmap": cmap}
        if symmetric:
            bound = float(img.abs().max()) or 1.0
            kwargs.update(vmin=-bound, vmax=bound)
        ax.imshow(img.numpy(), **kwargs)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def matrix_figure(
    matrix: torch.Tensor,
    ax_title: str = "",
    fmt: str = "{:.0f}",
    cmap: str = "Blues",
    size: float = 0.45,
) -> Figure:
    """Draw a small 2-D tensor as coloured cells with each value written in its cell."""
    m = _as_image(matrix).to(torch.float64)
    h, w = m.shape
    fig, ax = plt.subplots(figsize=(max(2.0, size * w), max(2.0, size * h)))
    ax.imshow(m.numpy(), cmap=cmap)
    mid = float(m.min() + m.max()) / 2
    for r in range(h):
        for c in range(w):
            value = float(m[r, c])
            ax.text(
                c,
                r,
                fmt.format(value),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value > mid else "black",
            )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(ax_title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- training
CURVES = ("train_loss", "train_acc", "val_loss", "val_acc")
"""The per-epoch lists :func:`learning_curves` reads (a training history's fields)."""


def learning_curves(history: object, size: tuple[float, float] = (6.4, 2.6)) -> Figure:
    """Loss (left) and accuracy in % (right) per epoch, training against validation.

    ``history`` has the lists of :data:`CURVES`, one value per epoch (accuracies as
    fractions), as attributes (a ``cnnnotes.training.loop.History``) or as keys. The
    training values are running means over an epoch, taken while the weights changed,
    so they are drawn half an epoch early, at ``e - 0.5``; validation, measured after
    epoch ``e``, at ``e``.
    """
    get = history.get if isinstance(history, dict) else lambda k: getattr(history, k, None)
    series = {k: get(k) for k in CURVES}
    lengths = {len(v) if isinstance(v, Sequence) else -1 for v in series.values()}
    if len(lengths) != 1 or min(lengths) < 1:
        raise ValueError(f"history needs {', '.join(CURVES)}: equal, non-empty lists")
    accs = [a for k in ("train_acc", "val_acc") for a in series[k]]
    if not all(0 <= a <= 1 for a in accs):
        raise ValueError("accuracies must be fractions in [0, 1]")
    epochs = np.arange(1, lengths.pop() + 1)
    fig, axes = plt.subplots(1, 2, figsize=size)
    for ax, what, scale in zip(axes, ("loss", "acc"), (1, 100), strict=True):
        ax.plot(epochs - 0.5, scale * np.array(series[f"train_{what}"]), "o-", label="training")
        ax.plot(epochs, scale * np.array(series[f"val_{what}"]), "s-", label="validation")
        ax.set(xlabel="epoch", xticks=epochs)
    axes[0].set_ylabel("mean cross-entropy")
    axes[1].set_ylabel("accuracy (%)")
    axes[1].legend()
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- sliding kernels
# cell codes: 0 padding, 1 input, 2 tap on padding, 3 tap on input, 4 input no tap ever reaches
_CMAP = ListedColormap(["#d9d9d9", "#ffffff", "#9ecae1", "#2171b5", "#fb6a4a"])


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
