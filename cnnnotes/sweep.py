"""Random sweeps for the chapters' check cells ("10,000 cases, 0 mismatches").

Each ``sweep_*`` function draws ``n_cases`` random valid configurations from a
``torch.Generator`` seeded with ``seed`` (so a cell gives the same answer every
run), compares one of this package's functions with real PyTorch, and returns
``(cases, mismatches)``. Sizes are measured by running real layers on tiny
``size × 1`` inputs (faster than the ``meta`` device for such small tensors).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cnnnotes import ops
from cnnnotes._validate import choice, positive_int
from cnnnotes.shapes import conv_output_size, pool_output_size, receptive_field

__all__ = [
    "count_mismatches",
    "empirical_receptive_field",
    "sweep_conv2d",
    "sweep_output_sizes",
    "sweep_pool2d",
    "sweep_pool_sizes",
    "sweep_receptive_fields",
    "torch_output_size",
]


def _check_cases(n_cases: object) -> None:
    positive_int(n_cases, "n_cases")


def _randint(g: torch.Generator, low: int, high: int) -> int:
    """One integer from ``low`` to ``high`` inclusive."""
    return int(torch.randint(low, high + 1, (1,), generator=g))


def torch_output_size(layer: nn.Module, size: int) -> int | None:
    """Output height of ``layer`` on a ``size × 1`` input, or None if PyTorch refuses it."""
    try:
        return layer(torch.zeros(1, 1, size, 1)).shape[2]
    except RuntimeError:
        return None


def _ours(fn: Callable[..., int], *args: object) -> int | None:
    """``fn(*args)``, or None if it raises ``ValueError``."""
    try:
        return fn(*args)
    except ValueError:
        return None


def count_mismatches(
    cases: Iterable[Sequence[object]], fn_a: Callable[..., object], fn_b: Callable[..., object]
) -> int:
    """How many ``cases`` (argument tuples) ``fn_a`` and ``fn_b`` disagree on.

    A case agrees when both return equal values or both raise an exception.

    >>> real = lambda w, k: (w - k) / 2 + 1  # stride 2, no floor
    >>> count_mismatches([(7, 3), (8, 3)], real, lambda w, k: (w - k) // 2 + 1)
    1
    """
    bad = 0
    for args in cases:
        results = []
        for fn in (fn_a, fn_b):
            try:
                results.append((True, fn(*args)))
            except Exception:  # both raising counts as agreement
                results.append((False, None))
        bad += results[0] != results[1]
    return bad


def sweep_output_sizes(n_cases: int = 10_000, seed: int = 0) -> tuple[int, int]:
    """:func:`~cnnnotes.shapes.conv_output_size` vs ``nn.Conv2d`` on random configs.

    Draws size 1–64, kernel 1–9, stride 1–5, padding 0–4, dilation 1–3, keeping
    only configurations PyTorch accepts.

    >>> sweep_output_sizes(100)
    (100, 0)
    """
    _check_cases(n_cases)
    g, cases, bad = torch.Generator().manual_seed(seed), 0, 0
    while cases < n_cases:
        w, k, s = _randint(g, 1, 64), _randint(g, 1, 9), _randint(g, 1, 5)
        p, d = _randint(g, 0, 4), _randint(g, 1, 3)
        if d * (k - 1) + 1 > w + 2 * p:
            continue
        conv = nn.Conv2d(1, 1, (k, 1), (s, 1), (p, 0), (d, 1), bias=False)
        cases += 1
        bad += torch_output_size(conv, w) != _ours(conv_output_size, w, k, s, p, d)
    return cases, bad


def sweep_pool_sizes(n_cases: int = 10_000, seed: int = 0) -> tuple[int, int]:
    """:func:`~cnnnotes.shapes.pool_output_size` vs ``nn.MaxPool2d``, random ``ceil_mode``.

    Draws size 1–32, kernel 1–7, stride 1–7, padding 0–3, dilation 1–3. Both
    accepting and refusing count: a case matches when both give the same size or
    both refuse it (ours with ``ValueError``, PyTorch with ``RuntimeError``).

    >>> sweep_pool_sizes(100)
    (100, 0)
    """
    _check_cases(n_cases)
    g, bad = torch.Generator().manual_seed(seed), 0
    for _ in range(n_cases):
        w, k, s, p = _randint(g, 1, 32), _randint(g, 1, 7), _randint(g, 1, 7), _randint(g, 0, 3)
        d, ceil = _randint(g, 1, 3), bool(_randint(g, 0, 1))
        pool = nn.MaxPool2d((k, 1), (s, 1), (p, 0), (d, 1), ceil_mode=ceil)
        bad += torch_output_size(pool, w) != _ours(pool_output_size, w, k, s, p, d, ceil)
    return n_cases, bad


def empirical_receptive_field(layers: Sequence[tuple[int, ...]]) -> int:
    """Receptive field measured with gradients, for ``(kernel, stride[, dilation])`` layers.

    Builds an ``nn.Sequential`` of unpadded ``Conv2d`` layers with all-ones
    weights, back-propagates from the centre output pixel and returns the span
    (first to last column) of input pixels with a nonzero gradient. The span,
    not the count, because a stride larger than the kernel leaves holes.

    >>> empirical_receptive_field([(3, 1), (3, 2), (3, 1)])
    9
    """
    convs = []
    for k, s, *rest in layers:
        conv = nn.Conv2d(1, 1, k, s, dilation=rest[0] if rest else 1, bias=False)
        convs.append(conv.double().requires_grad_(False))
        convs[-1].weight.fill_(1.0)
    need = 1 + sum(c.dilation[0] * (c.kernel_size[0] - 1) for c in convs)
    size = need * math.prod(c.stride[0] for c in convs)  # certainly big enough
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    y = nn.Sequential(*convs)(x)
    y[0, 0, (y.shape[2] - 1) // 2, (y.shape[3] - 1) // 2].backward()
    cols = (x.grad[0, 0] != 0).any(dim=0).nonzero()
    return int(cols.max() - cols.min()) + 1


def _random_stack(g: torch.Generator) -> tuple[list[nn.Module], list[tuple[int, int, int]]]:
    """A random stack of conv/pool/ReLU layers and its ``(k, s, d)`` for measuring."""
    layers: list[nn.Module] = []
    spec: list[tuple[int, int, int]] = []
    for _ in range(_randint(g, 1, 4)):
        kind, k, s, d = _randint(g, 0, 3), _randint(g, 1, 5), _randint(g, 1, 3), _randint(g, 1, 2)
        if kind == 0:
            layers += [nn.Conv2d(1, 1, k, s, dilation=d, device="meta"), nn.ReLU()]
        elif kind == 1:
            layers.append(nn.MaxPool2d(k, s, dilation=d))
        else:
            d = 1
            layers.append(nn.AvgPool2d(k) if kind == 2 else nn.AvgPool2d(k, s))
            s = k if kind == 2 else s
        spec.append((k, s, d))
    return layers, spec


def sweep_receptive_fields(n_cases: int = 200, seed: int = 0) -> tuple[int, int]:
    """:func:`~cnnnotes.shapes.receptive_field` vs gradients, on random layer stacks.

    Stacks of 1–4 Conv2d (+ReLU), MaxPool2d and AvgPool2d layers; each is
    measured with :func:`empirical_receptive_field` on ones-weight convolutions
    with the same kernel, stride and dilation (a max pool's gradient reaches only
    the maximum, so the pool itself cannot be measured this way).

    >>> sweep_receptive_fields(20)
    (20, 0)
    """
    _check_cases(n_cases)
    g, bad = torch.Generator().manual_seed(seed), 0
    for _ in range(n_cases):
        layers, spec = _random_stack(g)
        bad += receptive_field(layers) != empirical_receptive_field(spec)
    return n_cases, bad


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    try:
        torch.testing.assert_close(a, b)
    except AssertionError:
        return False
    return True


def sweep_conv2d(n_cases: int = 500, seed: int = 0) -> tuple[int, int]:
    """:func:`~cnnnotes.ops.conv2d` vs ``F.conv2d`` (float64, random shapes/strides/paddings).

    >>> sweep_conv2d(20)
    (20, 0)
    """
    _check_cases(n_cases)
    g, bad = torch.Generator().manual_seed(seed), 0
    for _ in range(n_cases):
        n, c, o = _randint(g, 1, 2), _randint(g, 1, 3), _randint(g, 1, 3)
        h, w, kh, kw = _randint(g, 1, 9), _randint(g, 1, 9), _randint(g, 1, 4), _randint(g, 1, 4)
        s, d = (_randint(g, 1, 3), _randint(g, 1, 3)), (_randint(g, 1, 2), _randint(g, 1, 2))
        p = (_randint(g, 0, 3), _randint(g, 0, 3))
        need = (-(-(d[0] * (kh - 1) + 1 - h) // 2), -(-(d[1] * (kw - 1) + 1 - w) // 2))
        p = (max(p[0], need[0]), max(p[1], need[1]))  # pad enough for the kernel to fit
        x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
        wt = torch.randn(o, c, kh, kw, generator=g, dtype=torch.float64)
        b = torch.randn(o, generator=g, dtype=torch.float64)
        bad += not _close(ops.conv2d(x, wt, b, s, p, d), F.conv2d(x, wt, b, s, p, d))
    return n_cases, bad


def sweep_pool2d(n_cases: int = 500, seed: int = 0, kind: str = "max") -> tuple[int, int]:
    """:func:`~cnnnotes.ops.max_pool2d` (or ``kind="avg"``) vs ``torch.nn.functional``.

    >>> sweep_pool2d(20), sweep_pool2d(20, kind="avg")
    ((20, 0), (20, 0))
    """
    _check_cases(n_cases)
    choice(kind, "kind", ("max", "avg"))
    ours, theirs = (
        (ops.max_pool2d, F.max_pool2d) if kind == "max" else (ops.avg_pool2d, F.avg_pool2d)
    )
    g, bad = torch.Generator().manual_seed(seed), 0
    for _ in range(n_cases):
        k = (_randint(g, 1, 4), _randint(g, 1, 4))
        s, p = (_randint(g, 1, 4), _randint(g, 1, 4)), (_randint(g, 0, 2), _randint(g, 0, 2))
        p = (min(p[0], k[0] // 2), min(p[1], k[1] // 2))
        h, w = _randint(g, k[0], 10), _randint(g, k[1], 10)
        x = torch.randn(_randint(g, 1, 2), _randint(g, 1, 3), h, w, generator=g).double()
        bad += not _close(ours(x, k, s, p), theirs(x, k, s, p))
    return n_cases, bad
