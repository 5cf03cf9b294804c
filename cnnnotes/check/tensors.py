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


CONV_MISTAKES: dict[str, Callable[..., torch.Tensor]] = {
    "flipping the kernel (true convolution; F.conv2d cross-correlates)": lambda x, w, b, s, p: (
        F.conv2d(x, w.flip(-2, -1), b, s, p)
    ),
    "forgetting the bias": lambda x, w, b, s, p: F.conv2d(x, w, None, s, p),
    "adding the bias once per input channel (D biases per filter, the notes' slip)": (
        lambda x, w, b, s, p: F.conv2d(x, w, None, s, p) + x.shape[1] * b[:, None, None]
    ),
    "ignoring the stride (moving one pixel at a time)": lambda x, w, b, s, p: F.conv2d(
        x, w, b, 1, p
    ),
    "padding on one side only (top and left)": lambda x, w, b, s, p: F.conv2d(
        F.pad(x, (p, 0, p, 0)), w, b, s
    ),
}
"""Classic slips in a convolution layer ``fn(x, weight, bias, stride, padding)``."""


def check_conv2d(fn: Callable, *, seed: int = 0, bias_none: bool = False) -> str:
    """Check ``fn(x, weight, bias, stride, padding)`` against ``F.conv2d`` (float32).

    With ``bias_none=True`` every other case passes ``bias=None``.

    >>> check_conv2d(F.conv2d)
    'All 11 cases match F.conv2d.'
    >>> check_conv2d(lambda x, w, b, s, p: F.conv2d(x, w, None, s, p)).endswith(
    ...     "That is what forgetting the bias gives.")
    True
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

    return check_tensors(fn, cases(), "F.conv2d", CONV_MISTAKES)


POOL_CASES: tuple[tuple[tuple[int, ...], int, int, int, float], ...] = (
    ((1, 1, 4, 4), 2, 2, 0, 0.0),
    ((2, 3, 6, 6), 2, 2, 0, 0.0),
    ((1, 2, 7, 7), 3, 2, 0, 0.0),
    ((2, 2, 7, 5), 3, 2, 1, 0.0),
    ((1, 1, 5, 5), 3, 1, 1, -10.0),  # all negative: zero padding would show up
    ((1, 1, 6, 6), 2, 1, 1, 0.0),
    ((1, 3, 9, 9), 3, 3, 0, 0.0),
    ((1, 1, 5, 8), 4, 2, 2, 0.0),
    ((2, 2, 5, 6), 1, 2, 0, 0.0),
    ((1, 2, 10, 9), 4, 3, 2, -10.0),
)
"""``(x shape, kernel_size, stride, padding, shift of x)`` cases of :func:`check_pool2d` and
:func:`check_avg_pool2d`: kernels 1 to 4, strides 1 to 3, paddings 0 to 2."""

POOL_MISTAKES: dict[str, dict[str, Callable[..., torch.Tensor]]] = {
    "max": {
        "padding with zeros instead of -inf": lambda x, k, s, p: F.max_pool2d(
            F.pad(x, (p, p, p, p)), k, s
        ),
        "stepping by 1, ignoring the stride": lambda x, k, s, p: F.max_pool2d(x, k, 1, p),
        "stepping by kernel_size, ignoring the stride": lambda x, k, s, p: F.max_pool2d(
            x, k, k, p
        ),
    },
    "avg": {
        "dividing by the real cells only (that is count_include_pad=False)":
            lambda x, k, s, p: F.avg_pool2d(x, k, s, p, count_include_pad=False),
        "stepping by 1, ignoring the stride": lambda x, k, s, p: F.avg_pool2d(x, k, 1, p),
        "dividing by kernel_size, not kernel_size²": lambda x, k, s, p: k * F.avg_pool2d(
            x, k, s, p
        ),
    },
}  # fmt: skip
"""Classic wrong versions of ``my_max_pool2d`` and ``my_avg_pool2d`` (count_include_pad=True)."""


def _pool_cases(seed: int):
    """``(x, kernel_size, stride, padding)`` for each of :data:`POOL_CASES`."""
    g = torch.Generator().manual_seed(seed)
    for xs, k, s, p, shift in POOL_CASES:
        yield torch.randn(xs, generator=g) + shift, k, s, p


def check_pool2d(fn: Callable, kind: str = "max", *, seed: int = 0) -> str:
    """Check ``fn(x, kernel_size, stride, padding)`` against ``F.max_pool2d`` / ``F.avg_pool2d``
    (``count_include_pad=True``) on the cases of :data:`POOL_CASES`, naming the classic
    mistakes of :data:`POOL_MISTAKES`.

    >>> check_pool2d(lambda x, k, s, p: F.max_pool2d(x, k, s, p))
    'All 10 cases match F.max_pool2d.'
    """
    choice(kind, "kind", ("max", "avg"))
    ref, what = (F.max_pool2d, "F.max_pool2d") if kind == "max" else (F.avg_pool2d, "F.avg_pool2d")
    cases = (
        (
            f"x {tuple(x.shape)}, kernel_size={k}, stride={s}, padding={p}",
            (x, k, s, p),
            ref(x, k, s, p),
        )
        for x, k, s, p in _pool_cases(seed)
    )
    return check_tensors(fn, cases, what, POOL_MISTAKES[kind])


AVG_POOL_MISTAKES: dict[str, Callable[..., torch.Tensor]] = {
    "dividing by kernel_size² whatever count_include_pad says":
        lambda x, k, s, p, c: F.avg_pool2d(x, k, s, p, count_include_pad=True),
    "dividing by the real cells whatever count_include_pad says":
        lambda x, k, s, p, c: F.avg_pool2d(x, k, s, p, count_include_pad=False),
    "stepping by 1, ignoring the stride":
        lambda x, k, s, p, c: F.avg_pool2d(x, k, 1, p, count_include_pad=c),
    "dividing by kernel_size, not kernel_size²":
        lambda x, k, s, p, c: k * F.avg_pool2d(x, k, s, p, count_include_pad=True),
}  # fmt: skip
"""Classic wrong versions of ``my_avg_pool2d(x, kernel_size, stride, padding,
count_include_pad)``."""


def check_avg_pool2d(fn: Callable, *, seed: int = 0) -> str:
    """Check ``fn(x, kernel_size, stride, padding, count_include_pad)`` against
    ``F.avg_pool2d``: each case of :data:`POOL_CASES` with ``count_include_pad=True``, then
    ``False``; the classic mistakes of :data:`AVG_POOL_MISTAKES` are named.

    >>> check_avg_pool2d(lambda x, k, s, p, c: F.avg_pool2d(x, k, s, p, count_include_pad=c))
    'All 20 cases match F.avg_pool2d.'
    """

    def cases():
        for x, k, s, p in _pool_cases(seed):
            for c in (True, False):
                yield (
                    f"x {tuple(x.shape)}, kernel_size={k}, stride={s}, padding={p}, "
                    f"count_include_pad={c}",
                    (x, k, s, p, c),
                    F.avg_pool2d(x, k, s, p, count_include_pad=c),
                )

    return check_tensors(fn, cases(), "F.avg_pool2d", AVG_POOL_MISTAKES)


TO_TENSOR_SHAPES: tuple[tuple[int, int], ...] = ((28, 28), (1, 1), (5, 7), (32, 16)) * 3
"""Image shapes ``(H, W)`` of :func:`check_to_tensor`'s cases; the second image is all white."""

TO_TENSOR_MISTAKES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "dividing by 256 instead of 255": lambda im: im.unsqueeze(0).float() / 256,
    "integer division (// 255), which sends every pixel but white to 0": lambda im: (
        im.unsqueeze(0) // 255
    ).float(),
    "not scaling to [0, 1] (no division by 255)": lambda im: im.unsqueeze(0).float(),
    "forgetting the channel dimension, (H, W) instead of (1, H, W)": lambda im: im.float() / 255,
    "putting the channel axis last, (H, W, 1), as NumPy and PIL store images": lambda im: (
        im.unsqueeze(-1).float() / 255
    ),
}
"""Classic slips in ``fn(image)``, a uint8 ``(H, W)`` image to a float ``(1, H, W)`` tensor."""


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
        for i, shape in enumerate(TO_TENSOR_SHAPES):
            image = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
            if i == 1:
                image.fill_(255)  # the brightest pixel must map to exactly 1
            yield (
                f"a uint8 image of shape {shape}",
                (image,),
                to_tensor(image.numpy()),
            )

    return check_tensors(fn, cases(), "ToTensor", TO_TENSOR_MISTAKES)


NORMALIZE_CASES: tuple[tuple[tuple[int, int, int, int], float, float], ...] = tuple(
    ((2 + i % 3, 1, 28 - i, 28 - 3 * (i % 2)), mean, std)
    for i, (mean, std) in enumerate(
        [(0.286, 0.353), (0.5, 0.5), (0.0, 1.0), (0.1307, 0.3081), (0.9, 0.05)] * 2
    )
)
"""``(x shape (N, 1, H, W), mean, std)`` cases of :func:`check_normalize`."""

NORMALIZE_MISTAKES: dict[str, Callable[[torch.Tensor, float, float], torch.Tensor]] = {
    "dividing before subtracting, x / std - mean": lambda x, m, s: x / s - m,
    "multiplying by std instead of dividing": lambda x, m, s: (x - m) * s,
    "swapping mean and std": lambda x, m, s: (x - s) / m,
    "forgetting to divide by std": lambda x, m, s: x - m,
    "using the batch's own mean and std instead of the given ones": lambda x, m, s: (
        (x - x.mean()) / x.std()
    ),
}
"""Classic slips in ``(x - mean) / std``."""


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

    def cases():
        for shape, mean, std in NORMALIZE_CASES:
            x = torch.rand(shape, generator=g)
            yield (
                f"x {shape}, mean {mean}, std {std}",
                (x, mean, std),
                Normalize((mean,), (std,))(x),
            )

    return check_tensors(fn, cases(), "transforms.Normalize", NORMALIZE_MISTAKES)
