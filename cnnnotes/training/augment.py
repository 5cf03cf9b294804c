"""Input preprocessing for training: normalisation and cheap batch augmentations."""

from __future__ import annotations

import torch

from cnnnotes._validate import nonnegative_int


def mean_and_std(x: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation over every value of ``x`` (one grey channel).

    >>> mean_and_std(torch.tensor([0.0, 2.0]))
    (1.0, 1.4142135381698608)
    """
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    return x.mean().item(), x.std().item()


def normalize(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """``(x - mean) / std``: with the training set's statistics, mean 0 and std 1.

    >>> normalize(torch.tensor([1.0, 3.0]), 1.0, 2.0)
    tensor([0., 1.])
    """
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std!r}")
    return (x - mean) / std


def shift_and_flip(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Randomly shift each image by up to ``max_shift`` pixels (zero fill) and flip half of
    them left-right: the usual light augmentation for 28×28 clothing images.

    ``x`` is ``(N, C, H, W)``; the result has the same shape. The fill value is each
    image's own minimum (the background after normalisation).
    """
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {tuple(x.shape)}")
    p = nonnegative_int(max_shift, "max_shift")
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if max_shift == 0:
        return x
    fill = x.amin(dim=(1, 2, 3), keepdim=True)
    padded = fill.expand(n, x.shape[1], h + 2 * p, w + 2 * p).clone()
    padded[:, :, p : p + h, p : p + w] = x
    dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]
    batch = torch.arange(n)[:, None, None, None]
    chan = torch.arange(x.shape[1])[None, :, None, None]
    return padded[batch, chan, rows, cols]
