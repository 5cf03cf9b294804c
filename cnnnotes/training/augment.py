"""Input preprocessing for training: normalisation and cheap batch augmentations."""

from __future__ import annotations

import torch

from cnnnotes._validate import instance, nonnegative_int, number, tensor


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
