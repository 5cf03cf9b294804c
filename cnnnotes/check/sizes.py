"""Self-checks for sizes and counts, against real layers.

Output sizes of a convolution, a pool and a transposed convolution, parameter counts, receptive
fields. A mismatch that a classic slip explains (ceil for floor, a forgotten ``output_padding``,
…) is named in the message.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator

from torch import nn

from cnnnotes.check.core import check_scalars, same_number
from cnnnotes.oracle.sweep import empirical_receptive_field, torch_output_size

SIZE_MISTAKES = {
    "ceil instead of floor": lambda w, k, s, p: math.ceil((w + 2 * p - k) / s) + 1,
    "dividing without the floor": lambda w, k, s, p: (w + 2 * p - k) / s + 1,
    "padding on one side only (P instead of 2P)": lambda w, k, s, p: (w + p - k) // s + 1,
    "forgetting the +1": lambda w, k, s, p: (w + 2 * p - k) // s,
}
"""The classic slips in W' = floor((W + 2P - F) / S) + 1."""

PARAM_MISTAKES = {
    "one bias per input channel, N(F²D + D) (the notes' slip)": lambda d, n, k: n * (k * k * d + d),
    "forgetting the bias, N·F²·D": lambda d, n, k: n * k * k * d,
    "forgetting the input depth, N(F² + 1)": lambda d, n, k: n * (k * k + 1),
}
"""The classic slips in the parameter count N(F²D + 1)."""


def _sizes() -> tuple[int, ...]:
    return (*range(5, 33), 1, 2, 3, 4)  # typical sizes first, tiny ones last


def check_output_size(fn: Callable[[int, int, int, int], int]) -> str:
    """Check ``fn(size, kernel_size, stride, padding)`` against ``nn.Conv2d``.

    A mismatch that a classic slip explains (ceil for floor, no floor, padding on
    one side, no +1) is named in the message.

    >>> check_output_size(lambda size, k, s, p: (size + 2 * p - k) / s + 1).endswith(
    ...     "PyTorch gives 2. That is what dividing without the floor gives.")
    True
    """

    def cases() -> Iterator[tuple[int, int, int, int]]:
        for s in (1, 2, 3, 4):
            for k in (3, 5, 1, 2, 4, 7):
                for p in (0, 1, 2, 3):
                    yield from ((w, k, s, p) for w in _sizes() if k <= w + 2 * p)

    @functools.cache
    def layer(k: int, s: int, p: int) -> nn.Module:
        return nn.Conv2d(1, 1, (k, 1), (s, 1), (p, 0), bias=False)

    def oracle(w: int, k: int, s: int, p: int) -> int:
        return torch_output_size(layer(k, s, p), w)

    names = ("size", "kernel_size", "stride", "padding")
    return check_scalars(fn, names, cases(), oracle, SIZE_MISTAKES)


def check_pool_size(fn: Callable[[int, int, int, int], int]) -> str:
    """Check ``fn(size, kernel_size, stride, padding)`` against ``nn.MaxPool2d`` (floor mode)."""

    def cases() -> Iterator[tuple[int, int, int, int]]:
        for s in (2, 1, 3):
            for k in (2, 3, 1, 4, 5):
                for p in range(k // 2 + 1):
                    yield from ((w, k, s, p) for w in _sizes() if k <= w + 2 * p)

    def oracle(w: int, k: int, s: int, p: int) -> int:
        return torch_output_size(nn.MaxPool2d((k, 1), (s, 1), (p, 0)), w)

    names = ("size", "kernel_size", "stride", "padding")
    return check_scalars(fn, names, cases(), oracle, SIZE_MISTAKES)


def check_param_count(fn: Callable[[int, int, int], int]) -> str:
    """Check ``fn(in_channels, out_channels, kernel_size)`` against ``nn.Conv2d`` (with bias).

    >>> check_param_count(lambda d, n, k: n * (k * k * d + 1))
    'All 80 cases match PyTorch.'
    >>> "one bias per input channel" in check_param_count(lambda d, n, k: n * (k * k * d + d))
    True
    """
    cases = ((d, n, k) for k in (3, 5, 1, 2, 7) for d in (1, 3, 2, 8) for n in (1, 8, 16, 2))

    def oracle(d: int, n: int, k: int) -> int:
        return sum(p.numel() for p in nn.Conv2d(d, n, k, device="meta").parameters())

    names = ("in_channels", "out_channels", "kernel_size")
    return check_scalars(fn, names, cases, oracle, PARAM_MISTAKES)


def check_receptive_field(fn: Callable[[list[tuple[int, int]]], int]) -> str:
    """Check ``fn([(kernel, stride), ...])`` against gradients of real ``Conv2d`` stacks.

    The expected value is measured by :func:`~cnnnotes.oracle.sweep.empirical_receptive_field`.

    >>> check_receptive_field(lambda layers: 1 + sum(k - 1 for k, s in layers))
    'Mismatch: fn(layers=[(3, 2), (3, 1)]) returned 5, the measured receptive field is 7.'
    """
    one = ((3, 1), (3, 2), (2, 2), (5, 1), (1, 1), (5, 2), (2, 1), (3, 3))
    few = ((3, 1), (3, 2), (2, 2))
    stacks = [
        *([a] for a in one),
        *([a, b] for a in one for b in one),
        *([a, b, c] for a in few for b in few for c in few),
    ]
    msg = check_scalars(fn, ("layers",), ((s,) for s in stacks), empirical_receptive_field)
    return msg.replace("PyTorch gives", "the measured receptive field is")


TRANSPOSE_MISTAKES: tuple[tuple[str, Callable[[int, int, int, int, int], int]], ...] = (
    ("forgot output_padding", lambda n, k, s, p, op: (n - 1) * s - 2 * p + k),
    ("added 2·padding instead of subtracting it",
     lambda n, k, s, p, op: (n - 1) * s + 2 * p + k + op),
    ("used size·stride instead of (size − 1)·stride",
     lambda n, k, s, p, op: n * s - 2 * p + k + op),
    ("computed a Conv2d's output size (the map the other way)",
     lambda n, k, s, p, op: (n + 2 * p - k) // s + 1),
    ("used ceil instead of floor in a Conv2d's size (and a transposed convolution "
     "needs no rounding at all)", lambda n, k, s, p, op: -(-(n + 2 * p - k) // s) + 1),
)  # fmt: skip
"""Classic wrong formulas for the output size of a transposed convolution."""


def check_conv_transpose_size(fn: Callable[[int, int, int, int, int], int]) -> str:
    """Check ``fn(size, kernel_size, stride, padding, output_padding)`` (an int).

    The expected sizes come from real ``nn.ConvTranspose2d`` layers, on every case
    PyTorch accepts (output_padding < stride, output size >= 1).

    >>> check_conv_transpose_size(lambda n, k, s, p, op: (n - 1) * s - 2 * p + k + op)
    'All 1,311 cases match PyTorch.'
    >>> check_conv_transpose_size(lambda n, k, s, p, op: (n - 1) * s - 2 * p + k)[-40:]
    'It looks like you forgot output_padding.'
    """

    @functools.cache
    def layer(k: int, s: int, p: int, op: int) -> nn.Module:
        return nn.ConvTranspose2d(1, 1, (k, 1), (s, 1), (p, 0), (op, 0), bias=False)

    def oracle(n: int, k: int, s: int, p: int, op: int) -> int | None:
        return torch_output_size(layer(k, s, p, op), n)

    every = [
        (n, k, s, p, op)
        for s in (1, 2, 3)
        for op in range(s)
        for p in (0, 1, 2)
        for k in (3, 2, 4, 1, 5)
        for n in (*range(4, 16), 1, 2, 3)
        if (n - 1) * s - 2 * p + k + op >= 1
    ]
    names = ("size", "kernel_size", "stride", "padding", "output_padding")
    msg = check_scalars(fn, names, iter(every), oracle)
    if msg.startswith("Mismatch"):
        for mistake, formula in TRANSPOSE_MISTAKES:
            if all(same_number(_safe(fn, c), formula(*c)) for c in every):
                return f"{msg} It looks like you {mistake}."
    return msg


def _safe(fn: Callable, args: tuple) -> object:
    try:
        return fn(*args)
    except Exception:  # the learner's code may raise anything
        return None
