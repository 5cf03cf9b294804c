"""Shifting images and measuring how much a feature map changes (translation experiments).

``shift`` moves the content of an NCHW batch by whole pixels without wrap-around:
what leaves the frame is lost and the vacated rows and columns are filled with a
constant. ``pooled_change`` measures, image by image, how much the output of a
feature function (a pooling layer, or convolution → ReLU → pooling, or
``nn.Identity()`` for "no pooling") changes when its input is shifted.

Both are pure functions: they return new tensors and never modify their inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from cnnnotes._validate import choice, function, integer, number, require, tensor

__all__ = ["MEASURES", "changed_fraction", "pooled_change", "relative_l2", "shift"]

MEASURES: tuple[str, ...] = ("relative_l2", "changed_fraction")
"""The measures :func:`pooled_change` knows."""


def _offset(value: object, name: str, limit: int, axis: str) -> int:
    """Return ``value`` as an int with ``|value| < limit``, or raise."""
    v = integer(value, name)
    require(
        abs(v) < limit,
        f"{name} = {v} would move the whole image out of the frame; "
        f"allowed: -{limit - 1} <= {name} <= {limit - 1} (the {axis} is {limit})",
    )
    return v


def shift(x: Tensor, dy: int, dx: int, fill: float = 0.0) -> Tensor:
    """Move the content of an NCHW batch ``dy`` pixels down and ``dx`` pixels right.

    Negative values move up / left. There is no wrap-around: pixels pushed out of
    the frame are lost and the uncovered rows and columns hold ``fill``. The
    result is a new tensor with the shape, dtype and device of ``x``:
    ``out[..., i, j] = x[..., i - dy, j - dx]`` where that index exists, else ``fill``.

    >>> x = torch.arange(1.0, 7.0).reshape(1, 1, 2, 3)
    >>> shift(x, 0, 1)
    tensor([[[[0., 1., 2.],
              [0., 4., 5.]]]])
    >>> shift(x, -1, 0, fill=-1.0)
    tensor([[[[ 4.,  5.,  6.],
              [-1., -1., -1.]]]])
    """
    tensor(x, "x", shape="(N, C, H, W)", ndims=(4,), floating=True)
    h, w = x.shape[-2:]
    dy = _offset(dy, "dy", h, "height")
    dx = _offset(dx, "dx", w, "width")
    out = x.new_full(x.shape, number(fill, "fill", finite=False))
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def _pair_of_maps(a: object, b: object) -> tuple[Tensor, Tensor]:
    tensor(a, "before", shape="(N, ...)")
    tensor(b, "after", shape="(N, ...)")
    require(
        a.shape == b.shape and a.ndim >= 2,
        f"before and after must have the same shape (N, ...), got {tuple(a.shape)} and "
        f"{tuple(b.shape)}",
    )
    return a.flatten(1).to(torch.float64), b.flatten(1).to(torch.float64)


def relative_l2(before: Tensor, after: Tensor) -> Tensor:
    """Per-sample ``‖after − before‖₂ / ‖before‖₂`` (0 if both are all zero, inf if only before is).

    >>> relative_l2(torch.tensor([[3.0, 4.0], [1.0, 0.0]]), torch.tensor([[3.0, 4.0], [0.0, 1.0]]))
    tensor([0.0000, 1.4142], dtype=torch.float64)
    """
    a, b = _pair_of_maps(before, after)
    diff = (b - a).norm(dim=1)
    ref = a.norm(dim=1)
    return torch.where(diff == 0, torch.zeros_like(diff), diff / ref)


def changed_fraction(before: Tensor, after: Tensor, rel_tol: float = 1e-5) -> Tensor:
    """Per-sample share of *active* values that changed by more than round-off.

    A position is active when it is nonzero in ``before`` or in ``after``; the
    all-zero background is left out, since it would count as "unchanged" for
    free. "Nonzero" and "changed" are judged against ``rel_tol`` times the
    sample's largest magnitude, so float round-off (which differs from one CPU
    to another) never counts as a change. A sample with no active position gets 0.

    >>> changed_fraction(torch.tensor([[0.0, 2.0, 5.0, 0.0]]), torch.tensor([[0.0, 2.0, 4.0, 1.0]]))
    tensor([0.6667], dtype=torch.float64)
    >>> changed_fraction(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 2.0 + 1e-7]]))
    tensor([0.], dtype=torch.float64)
    """
    a, b = _pair_of_maps(before, after)
    scale = torch.maximum(a.abs(), b.abs()).amax(dim=1, keepdim=True) * rel_tol
    active = (a.abs() > scale) | (b.abs() > scale)
    changed = ((a - b).abs() > scale) & active
    return changed.sum(dim=1, dtype=torch.float64) / active.sum(dim=1).clamp(min=1)


def pooled_change(
    x: Tensor,
    dy: int,
    dx: int,
    pool: Callable[[Tensor], Tensor],
    measure: str = "relative_l2",
) -> Tensor:
    """How much ``pool(x)`` changes when ``x`` is shifted by ``(dy, dx)``, one value per image.

    ``pool`` is any function from an NCHW batch to a batch of feature maps, for
    example ``nn.MaxPool2d(2)``, a convolution followed by ReLU and pooling, or
    ``nn.Identity()`` to measure the unpooled input itself. The shifted batch is
    :func:`shift` ``(x, dy, dx)`` (zero fill), and ``measure`` compares
    ``pool(x)`` with ``pool(shift(x, dy, dx))`` position by position:
    ``"relative_l2"`` (:func:`relative_l2`) or ``"changed_fraction"``
    (:func:`changed_fraction`). Returns a float64 tensor of shape ``(N,)``.

    >>> x = torch.zeros(1, 1, 4, 4)
    >>> x[0, 0, 0, 0] = 1.0  # one bright pixel in the top-left 2×2 window
    >>> pooled_change(x, 1, 1, torch.nn.MaxPool2d(2))  # still inside that window
    tensor([0.], dtype=torch.float64)
    >>> pooled_change(x, 1, 1, torch.nn.Identity())
    tensor([1.4142], dtype=torch.float64)
    """
    tensor(x, "x", shape="(N, C, H, W)", ndims=(4,), floating=True)
    _offset(dy, "dy", x.shape[2], "height")
    _offset(dx, "dx", x.shape[3], "width")
    function(pool, "pool", "callable (e.g. nn.MaxPool2d(2))")
    choice(measure, "measure", MEASURES)
    with torch.no_grad():  # a measurement: no autograd graph through a learnable pool
        before, after = pool(x), pool(shift(x, dy, dx))
    return (relative_l2 if measure == "relative_l2" else changed_fraction)(before, after)
