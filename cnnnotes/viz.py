"""Figures shared by the chapters: one fixed style, image grids, kernels, feature maps.

Every function returns the ``matplotlib.figure.Figure`` it drew and prints
nothing; the notebook shows it. The style is fixed so the stored
``<Figure size ...>`` text is the same on every run.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from cnnnotes._validate import positive_int

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
