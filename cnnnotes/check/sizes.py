"""Self-checks for sizes and counts, against real layers.

Output sizes of a convolution and a transposed convolution, parameter counts, receptive
fields. A mismatch that a classic slip explains (ceil for floor, a forgotten ``output_padding``,
…) is named in the message.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from cnnnotes.check.core import check_scalars, same_number

CONV_SIZE_MISTAKES = {
    "ceil instead of floor":
        lambda w, k, s, p, d: math.ceil((w + 2 * p - d * (k - 1) - 1) / s) + 1,
    "dividing without the floor":
        lambda w, k, s, p, d: (w + 2 * p - d * (k - 1) - 1) / s + 1,
    "padding on one side only (P instead of 2P)":
        lambda w, k, s, p, d: (w + p - d * (k - 1) - 1) // s + 1,
    "forgetting the +1": lambda w, k, s, p, d: (w + 2 * p - d * (k - 1) - 1) // s,
    "ignoring the dilation (F in place of d(F − 1) + 1)":
        lambda w, k, s, p, d: (w + 2 * p - k) // s + 1,
    "d·F in place of the dilated kernel's span d(F − 1) + 1":
        lambda w, k, s, p, d: (w + 2 * p - d * k) // s + 1,
    "reading the dilation as the gap between taps (d + 1 in place of d)":
        lambda w, k, s, p, d: (w + 2 * p - (d + 1) * (k - 1) - 1) // s + 1,
}  # fmt: skip
"""The classic slips in W' = floor((W + 2P - d(F - 1) - 1) / S) + 1."""

PARAM_MISTAKES = {
    "one bias per input channel, N(F²D + D) (the notes' slip)": lambda d, n, k: n * (k * k * d + d),
    "forgetting the bias, N·F²·D": lambda d, n, k: n * k * k * d,
    "forgetting the input depth, N(F² + 1)": lambda d, n, k: n * (k * k + 1),
}
"""The classic slips in the parameter count N(F²D + 1)."""


def _sizes() -> tuple[int, ...]:
    return (*range(5, 33), 1, 2, 3, 4)  # typical sizes first, tiny ones last


CONV_SIZE_CASES = tuple(
    (w, k, s, p, d)
    for d in (1, 2, 3)
    for s in (1, 2, 3, 4)
    for k in (3, 5, 1, 2, 4, 7)
    for p in (0, 1, 2, 3)
    for w in _sizes()
    if d * (k - 1) + 1 <= w + 2 * p  # the kernel fits: PyTorch refuses the rest
)
"""``(size, kernel_size, stride, padding, dilation)`` cases of :func:`check_output_size`."""


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside, restoring the count after.

    Thousands of ops on a handful of numbers: on a busy machine a second thread makes
    each one wait for a core (milliseconds, not microseconds), and answers never depend
    on the thread count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.cache
def _column(n: int) -> torch.Tensor:
    """A ``1 × 1 × n × 1`` tensor of zeros: an input or a kernel of height ``n``."""
    return torch.zeros(1, 1, n, 1)


@functools.cache
def conv_height(w: int, k: int, s: int, p: int, d: int) -> int | None:
    """PyTorch's output height of a convolution on a ``w × 1`` input, or None if it refuses.

    A real ``F.conv2d`` (the op ``nn.Conv2d`` runs) with a ``(k, 1)`` kernel, stride
    ``(s, 1)``, padding ``(p, 0)`` and dilation ``(d, 1)``, on zeros: only the shape
    counts. Remembered, so every check shares one pass over the cases.

    >>> conv_height(7, 3, 2, 1, 1), conv_height(2, 5, 1, 0, 1)
    (4, None)
    """
    try:
        with one_thread():
            return F.conv2d(_column(w), _column(k), None, (s, 1), (p, 0), (d, 1)).shape[2]
    except RuntimeError:
        return None


@functools.cache
def conv_transpose_height(n: int, k: int, s: int, p: int, a: int, d: int) -> int | None:
    """PyTorch's output height of a transposed convolution on an ``n × 1`` input, or None.

    A real ``F.conv_transpose2d`` (the op ``nn.ConvTranspose2d`` runs) with a ``(k, 1)``
    kernel, stride ``(s, 1)``, padding ``(p, 0)``, output padding ``(a, 0)`` and
    dilation ``(d, 1)``, on zeros. Remembered, like :func:`conv_height`.

    >>> conv_transpose_height(4, 3, 2, 1, 1, 1), conv_transpose_height(4, 3, 1, 0, 1, 1)
    (8, None)
    """
    try:
        with one_thread():
            out = F.conv_transpose2d(
                _column(n), _column(k), None, (s, 1), (p, 0), (a, 0), 1, (d, 1)
            )
    except RuntimeError:
        return None
    return out.shape[2]


def _call(fn: Callable, args: tuple) -> object:
    """``fn(*args)`` on copies of list arguments, or None if it raises."""
    try:
        return fn(*(list(a) if isinstance(a, (list, tuple)) else a for a in args))
    except Exception:  # the learner's code may raise anything
        return None


def name_slip(fn: Callable, cases: tuple, oracle: Callable, mistakes: dict[str, Callable]) -> str:
    """`` That is what <slip> gives.`` for the classic slip that gives every one of ``fn``'s
    wrong answers (the one that agrees with ``fn`` on the most cases, if several do); ``""``
    if no single slip explains them all."""
    answers = [_call(fn, c) for c in cases]
    wrong = [i for i, c in enumerate(cases) if not same_number(answers[i], oracle(*c))]
    if not wrong:
        return ""
    fits = []
    for name, slip in mistakes.items():
        theirs = [_call(slip, c) for c in cases]
        if all(same_number(answers[i], theirs[i]) for i in wrong):
            fits.append((sum(map(same_number, answers, theirs)), name))
    if not fits:
        return ""
    best = max(count for count, _ in fits)
    name = next(name for count, name in fits if count == best)
    return f" That is what {name} gives."


def check_output_size(fn: Callable[[int, int, int, int, int], int]) -> str:
    """Check ``fn(size, kernel_size, stride, padding, dilation)`` against ``nn.Conv2d``.

    The cases are :data:`CONV_SIZE_CASES`: every size up to 32, kernel up to 7, stride
    up to 4, padding up to 3 and dilation up to 3 where the kernel fits. PyTorch's size
    is :func:`conv_height`, the op ``nn.Conv2d`` runs. A mismatch that a classic slip
    explains (:data:`CONV_SIZE_MISTAKES`) is named in the message.

    >>> def conv_size(w, k, s, p, d):
    ...     return (w + 2 * p - d * (k - 1) - 1) // s + 1
    >>> check_output_size(conv_size)
    'All 8,268 cases match PyTorch.'
    >>> check_output_size(lambda w, k, s, p, d: (w + 2 * p - k) // s + 1).endswith(
    ...     "That is what ignoring the dilation (F in place of d(F − 1) + 1) gives.")
    True
    """
    names = ("size", "kernel_size", "stride", "padding", "dilation")
    msg = check_scalars(fn, names, iter(CONV_SIZE_CASES), conv_height)
    if msg.startswith("Mismatch"):
        msg += name_slip(fn, CONV_SIZE_CASES, conv_height, CONV_SIZE_MISTAKES)
    return msg


PARAM_COUNT_CASES: tuple[tuple[int, int, int], ...] = tuple(
    (d, n, k) for k in (3, 5, 1, 2, 7) for d in (1, 3, 2, 8) for n in (1, 8, 16, 2)
)
"""``(in_channels, out_channels, kernel_size)`` cases of :func:`check_param_count`."""


def check_param_count(fn: Callable[[int, int, int], int]) -> str:
    """Check ``fn(in_channels, out_channels, kernel_size)`` against ``nn.Conv2d`` (with bias).

    >>> check_param_count(lambda d, n, k: n * (k * k * d + 1))
    'All 80 cases match PyTorch.'
    >>> "one bias per input channel" in check_param_count(lambda d, n, k: n * (k * k * d + d))
    True
    """
    cases = iter(PARAM_COUNT_CASES)

    def oracle(d: int, n: int, k: int) -> int:
        return sum(p.numel() for p in nn.Conv2d(d, n, k, device="meta").parameters())

    names = ("in_channels", "out_channels", "kernel_size")
    return check_scalars(fn, names, cases, oracle, PARAM_MISTAKES)


class TransposeSizeCase(NamedTuple):
    """A case of :func:`check_conv_transpose_size`: the arguments of ``fn``."""

    size: int
    kernel_size: int
    stride: int
    padding: int
    output_padding: int
    dilation: int


CONV_TRANSPOSE_SIZE_CASES = tuple(
    TransposeSizeCase(n, k, s, p, a, d)
    for s in (1, 2, 3)
    for d in (1, 2, 3)
    for a in range(max(s, d))  # PyTorch's rule: output_padding < max(stride, dilation)
    for p in (0, 1, 2)
    for k in (3, 2, 4, 1, 5)
    for n in (*range(4, 16), 1, 2, 3)
    if (n - 1) * s - 2 * p + d * (k - 1) + a + 1 >= 1  # PyTorch refuses an empty output
)
"""The cases of :func:`check_conv_transpose_size`, every one a layer PyTorch accepts."""

TRANSPOSE_MISTAKES = {
    "forgot output_padding": lambda n, k, s, p, a, d: (n - 1) * s - 2 * p + d * (k - 1) + 1,
    "forgot the dilation, d(F − 1)": lambda n, k, s, p, a, d: (n - 1) * s - 2 * p + k + a,
    "took d·F for the dilated kernel's span, which is d(F − 1) + 1":
        lambda n, k, s, p, a, d: (n - 1) * s - 2 * p + d * k + a,
    "added 2·padding instead of subtracting it":
        lambda n, k, s, p, a, d: (n - 1) * s + 2 * p + d * (k - 1) + a + 1,
    "used size·stride instead of (size − 1)·stride":
        lambda n, k, s, p, a, d: n * s - 2 * p + d * (k - 1) + a + 1,
    "computed a Conv2d's output size (the map the other way)":
        lambda n, k, s, p, a, d: (n + 2 * p - d * (k - 1) - 1) // s + 1,
    "used ceil instead of floor in a Conv2d's size (and a transposed convolution "
    "needs no rounding at all)":
        lambda n, k, s, p, a, d: -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1,
}  # fmt: skip
"""Classic wrong formulas for the output size of a transposed convolution."""


def check_conv_transpose_size(fn: Callable[[int, int, int, int, int, int], int]) -> str:
    """Check ``fn(size, kernel_size, stride, padding, output_padding, dilation)`` (an int).

    The expected sizes come from :func:`conv_transpose_height` (the op
    ``nn.ConvTranspose2d`` runs) on every case of :data:`CONV_TRANSPOSE_SIZE_CASES`
    (strides and dilations 1 to 3, every ``output_padding`` PyTorch accepts). A
    function that matches a classic wrong formula on every case is told which.

    >>> right = lambda n, k, s, p, a, d: (n - 1) * s - 2 * p + d * (k - 1) + a + 1
    >>> check_conv_transpose_size(right)
    'All 4,854 cases match PyTorch.'
    >>> check_conv_transpose_size(lambda n, k, s, p, a, d: (n - 1) * s - 2 * p + k + a)[-48:]
    'It looks like you forgot the dilation, d(F − 1).'
    """
    every = CONV_TRANSPOSE_SIZE_CASES
    msg = check_scalars(fn, TransposeSizeCase._fields, iter(every), conv_transpose_height)
    if msg.startswith("Mismatch"):
        for mistake, formula in TRANSPOSE_MISTAKES.items():
            if all(same_number(_safe(fn, c), formula(*c)) for c in every):
                return f"{msg} It looks like you {mistake}."
    return msg


def _safe(fn: Callable, args: tuple) -> object:
    try:
        return fn(*args)
    except Exception:  # the learner's code may raise anything
        return None
