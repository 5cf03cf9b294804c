"""Input preprocessing for training: normalisation and cheap batch augmentations
(shifts and flips, random erasing), each drawing from the training loop's generator."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from cnnnotes._validate import (
    boolean,
    instance,
    nonnegative_int,
    number,
    require,
    require_type,
    tensor,
)

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def mean_and_std(x: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation over every value of ``x`` (one grey channel).

    >>> mean_and_std(torch.tensor([0.0, 2.0]))
    (1.0, 1.4142135381698608)
    """
    tensor(x, "x", floating=True)
    return x.mean().item(), x.std().item()


def normalize(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """``(x - mean) / std``: with the training set's statistics, mean 0 and std 1.

    >>> normalize(torch.tensor([1.0, 3.0]), 1.0, 2.0)
    tensor([0., 1.])
    """
    tensor(x, "x", floating=True)
    mean, std = number(mean, "mean"), number(std, "std", above=0)
    return (x - mean) / std


def shift_and_flip(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Flip each image left-right with probability 1/2, then shift it by up to
    ``max_shift`` pixels in each direction: the usual light augmentation for 28×28
    clothing images.

    ``x`` is ``(N, C, H, W)``; the result has the same shape. The rows and columns a
    shift uncovers are filled with that image's own minimum, which is its background
    (0 for raw images, about −0.42 after normalisation), never with a plain 0.
    Every random draw comes from ``generator``.

    >>> x = torch.full((1, 1, 3, 3), -0.5)
    >>> x[0, 0, 1, 1:] = torch.tensor([1.0, 2.0])
    >>> shift_and_flip(x, torch.Generator().manual_seed(3), max_shift=1)  # flipped, moved up
    tensor([[[[ 2.0000,  1.0000, -0.5000],
              [-0.5000, -0.5000, -0.5000],
              [-0.5000, -0.5000, -0.5000]]]])
    """
    tensor(x, "x", shape="(N, C, H, W)", ndims=(4,), floating=True)
    instance(generator, "generator", torch.Generator, "a torch.Generator")
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


def random_erasing(
    x: torch.Tensor,
    generator: torch.Generator,
    p: float = 0.5,
    scale: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 1 / 0.3),
) -> torch.Tensor:
    """Random erasing (Zhong et al., 2020): with probability ``p`` per image, overwrite
    one rectangle with random values.

    The rectangle covers a fraction of the image drawn uniformly from ``scale`` and has
    an aspect ratio (height / width) drawn log-uniformly from ``ratio``; its sides are
    rounded and clipped to the image, and its corner is uniform over the positions where
    it fits. The new values are uniform between the image's own minimum and maximum (the
    paper's "random values", for raw and normalised inputs alike). Every channel of an
    image is erased in the same rectangle; every draw comes from ``generator``.

    >>> x = torch.zeros(2, 1, 4, 4)
    >>> x[:, :, 0, 0] = 1.0
    >>> out = random_erasing(x, torch.Generator().manual_seed(0), p=1.0, scale=(0.25, 0.25),
    ...                      ratio=(1.0, 1.0))
    >>> [int((o != i).sum() > 0) for o, i in zip(out, x)], int(((out < 0) | (out > 1)).sum())
    ([1, 1], 0)
    """
    tensor(x, "x", shape="(N, C, H, W)", ndims=(4,), floating=True)
    instance(generator, "generator", torch.Generator, "a torch.Generator")
    p = number(p, "p", at_least=0)
    require(p <= 1, f"p must be a probability in [0, 1], got {p}")
    for name, pair in (("scale", scale), ("ratio", ratio)):
        require_type(
            isinstance(pair, (tuple, list)) and len(pair) == 2,
            f"{name} must be a pair (low, high), got {pair!r}",
        )
    lo, hi = (number(s, "scale") for s in scale)
    require(0 < lo <= hi <= 1, f"scale must be (low, high) with 0 < low <= high <= 1, got {scale}")
    r_lo, r_hi = (number(r, "ratio", above=0) for r in ratio)
    require(r_lo <= r_hi, f"ratio must be (low, high) with low <= high, got {ratio}")
    n, _, h, w = x.shape
    erase = torch.rand(n, generator=generator) < p
    area = h * w * (lo + (hi - lo) * torch.rand(n, generator=generator))
    log_r = math.log(r_lo) + (math.log(r_hi) - math.log(r_lo)) * torch.rand(n, generator=generator)
    eh = torch.sqrt(area * log_r.exp()).round().clamp(1, h).long()
    ew = torch.sqrt(area / log_r.exp()).round().clamp(1, w).long()
    top = (torch.rand(n, generator=generator) * (h - eh + 1)).long()
    left = (torch.rand(n, generator=generator) * (w - ew + 1)).long()
    rows = torch.arange(h)[None, :]
    cols = torch.arange(w)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
    mask = erase[:, None, None, None] & in_rows[:, None, :, None] & in_cols[:, None, None, :]
    low = x.amin(dim=(1, 2, 3), keepdim=True)
    high = x.amax(dim=(1, 2, 3), keepdim=True)
    noise = low + (high - low) * torch.rand(x.shape, generator=generator, dtype=x.dtype)
    return torch.where(mask, noise, x)


def augmenter(shift_flip: bool, erase: float) -> Augment | None:
    """The batch augmentation a recipe asks for: :func:`shift_and_flip` when
    ``shift_flip``, then :func:`random_erasing` with probability ``erase`` when it is
    positive; ``None`` when neither.

    >>> augmenter(False, 0.0) is None, augmenter(True, 0.0) is shift_and_flip
    (True, True)
    """
    boolean(shift_flip, "shift_flip")
    erase = number(erase, "erase", at_least=0)
    require(erase <= 1, f"erase must be a probability in [0, 1], got {erase}")
    if erase == 0:
        return shift_and_flip if shift_flip else None

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if shift_flip:
            x = shift_and_flip(x, generator)
        return random_erasing(x, generator, p=erase)

    return augment
