"""Self-checks for tensor functions (convolution, pooling, ToTensor, normalisation)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from cnnnotes._validate import choice
from cnnnotes.check.core import check_tensors

CONV_CASES: tuple[tuple[tuple[int, ...], tuple[int, ...], int, int], ...] = (
    ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0),
    ((1, 1, 5, 5), (2, 1, 3, 3), 1, 1),
    ((2, 3, 6, 6), (4, 3, 3, 3), 1, 1),
    ((1, 2, 7, 5), (3, 2, 3, 3), 2, 0),
    ((2, 1, 8, 8), (2, 1, 2, 2), 2, 1),
    ((1, 3, 5, 7), (2, 3, 1, 1), 1, 0),
    ((1, 2, 6, 6), (1, 2, 5, 5), 1, 2),
    ((2, 2, 9, 9), (3, 2, 3, 3), 3, 1),
    ((1, 1, 4, 4), (1, 1, 4, 4), 1, 0),
    ((1, 2, 6, 7), (2, 2, 2, 3), 1, 1),
    ((1, 3, 8, 6), (2, 3, 3, 2), 2, 1),
)
"""``(x shape, weight shape, stride, padding)`` cases of :func:`check_conv2d`."""


def check_conv2d(fn: Callable, *, seed: int = 0, bias_none: bool = False) -> str:
    """Check ``fn(x, weight, bias, stride, padding)`` against ``F.conv2d`` (float32).

    With ``bias_none=True`` every other case passes ``bias=None``.
    """
    g = torch.Generator().manual_seed(seed)

    def cases():
        for i, (xs, ws, s, p) in enumerate(CONV_CASES):
            x, w = torch.randn(xs, generator=g), torch.randn(ws, generator=g)
            b = None if bias_none and i % 2 else torch.randn(ws[0], generator=g)
            bias = None if b is None else (ws[0],)
            yield (
                f"x {xs}, weight {ws}, bias {bias}, stride={s}, padding={p}",
                (x, w, b, s, p),
                F.conv2d(x, w, b, s, p),
            )

    mistakes = {
        "flipping the kernel (true convolution; F.conv2d cross-correlates)": lambda x, w, b, s, p: (
            F.conv2d(x, w.flip(-2, -1), b, s, p)
        ),
    }
    return check_tensors(fn, cases(), "F.conv2d", mistakes)


POOL_CASES: tuple[tuple[tuple[int, ...], int, int, int, float], ...] = (
    ((1, 1, 4, 4), 2, 2, 0, 0.0),
    ((2, 3, 6, 6), 2, 2, 0, 0.0),
    ((1, 2, 7, 7), 3, 2, 0, 0.0),
    ((2, 2, 7, 5), 3, 2, 1, 0.0),
    ((1, 1, 5, 5), 3, 1, 1, -10.0),  # all negative: zero padding would show up
    ((1, 1, 6, 6), 2, 1, 1, 0.0),
    ((1, 3, 9, 9), 3, 3, 0, 0.0),
    ((1, 1, 5, 8), 4, 2, 2, 0.0),
)
"""``(x shape, kernel_size, stride, padding, shift of x)`` cases of :func:`check_pool2d`."""


def check_pool2d(fn: Callable, kind: str = "max", *, seed: int = 0) -> str:
    """Check ``fn(x, kernel_size, stride, padding)`` against ``F.max_pool2d`` / ``F.avg_pool2d``."""
    choice(kind, "kind", ("max", "avg"))
    ref, what = (F.max_pool2d, "F.max_pool2d") if kind == "max" else (F.avg_pool2d, "F.avg_pool2d")
    g = torch.Generator().manual_seed(seed)

    def cases():
        for xs, k, s, p, shift in POOL_CASES:
            x = torch.randn(xs, generator=g) + shift
            yield (
                f"x {xs}, kernel_size={k}, stride={s}, padding={p}",
                (x, k, s, p),
                ref(x, k, s, p),
            )

    mistakes = {
        "padding with zeros instead of -inf": lambda x, k, s, p: F.max_pool2d(
            F.pad(x, (p, p, p, p)), k, s
        ),
    }
    return check_tensors(fn, cases(), what, mistakes if kind == "max" else None)


def check_to_tensor(fn: Callable[[torch.Tensor], torch.Tensor], *, seed: int = 0) -> str:
    """Check ``fn(image)`` (a ``uint8 (H, W)`` image) against ``transforms.ToTensor``.

    >>> check_to_tensor(lambda im: im.unsqueeze(0).float() / 255)
    'All 12 cases match ToTensor.'
    >>> check_to_tensor(lambda im: im.unsqueeze(0).float() / 256)[:50]
    'Mismatch for a uint8 image of shape (28, 28): at i'
    """
    from torchvision.transforms.functional import to_tensor

    g = torch.Generator().manual_seed(seed)

    def cases():
        for i, shape in enumerate([(28, 28), (1, 1), (5, 7), (32, 16)] * 3):
            image = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
            if i == 1:
                image.fill_(255)  # the brightest pixel must map to exactly 1
            yield (
                f"a uint8 image of shape {shape}",
                (image,),
                to_tensor(image.numpy()),
            )

    return check_tensors(fn, cases(), "ToTensor")


def check_normalize(
    fn: Callable[[torch.Tensor, float, float], torch.Tensor], *, seed: int = 0
) -> str:
    """Check ``fn(x, mean, std)`` on ``(N, 1, H, W)`` batches against ``transforms.Normalize``.

    >>> check_normalize(lambda x, m, s: (x - m) / s)
    'All 10 cases match transforms.Normalize.'
    >>> check_normalize(lambda x, m, s: x / s - m)[:41]
    'Mismatch for x (2, 1, 28, 28), mean 0.286'
    """
    from torchvision.transforms import Normalize

    g = torch.Generator().manual_seed(seed)
    stats = [(0.286, 0.353), (0.5, 0.5), (0.0, 1.0), (0.1307, 0.3081), (0.9, 0.05)] * 2

    def cases():
        for i, (mean, std) in enumerate(stats):
            shape = (2 + i % 3, 1, 28 - i, 28)
            x = torch.rand(shape, generator=g)
            yield (
                f"x {shape}, mean {mean}, std {std}",
                (x, mean, std),
                Normalize((mean,), (std,))(x),
            )

    return check_tensors(fn, cases(), "transforms.Normalize")
