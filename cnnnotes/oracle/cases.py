"""Seeded random cases for :func:`cnnnotes.oracle.agree`: the book's case generators.

A *case function* takes a :class:`Draw` and returns one case, a dict of argument
names to values (or ``None`` to draw again). The functions below are the book's
standard configurations; a chapter that needs another writes a three-line case
function with the same :class:`Draw`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from cnnnotes._validate import positive_int

__all__ = [
    "Case",
    "Draw",
    "conv_config",
    "conv_tensors",
    "draw_cases",
    "label_pairs",
    "layer_stack",
    "pool_config",
    "pool_grid",
    "pool_tensors",
]


class Draw:
    """Seeded random choices for one case: the generator a case function is given.

    >>> d = Draw(torch.Generator().manual_seed(0))
    >>> d.int(1, 6), d.ints(3, 0, 1), d.flag(), d.pick(["max", "avg"])
    (3, [1, 1, 0], True, 'avg')
    """

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def int(self, low: int, high: int) -> int:
        """An integer from ``low`` to ``high``, both included."""
        if high < low:
            raise ValueError(f"empty range: low={low} > high={high}")
        return int(torch.randint(low, high + 1, (1,), generator=self.generator))

    def ints(self, n: int, low: int, high: int) -> list[int]:
        """``n`` integers from ``low`` to ``high``, both included."""
        return torch.randint(low, high + 1, (n,), generator=self.generator).tolist()

    def flag(self) -> bool:
        """True or False, each with probability 1/2."""
        return bool(self.int(0, 1))

    def pick(self, options: Sequence[object]) -> object:
        """One of ``options``, uniformly."""
        return options[self.int(0, len(options) - 1)]

    def tensor(self, *shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Standard normal entries (float64 by default, so round-off stays far below 1e-10)."""
        return torch.randn(shape, generator=self.generator, dtype=dtype)

    def small_ints(self, *shape: int, high: int = 3) -> torch.Tensor:
        """Integer values ``0..high - 1`` as float64: arithmetic on them is exact, ties common."""
        return torch.randint(0, high, shape, generator=self.generator).double()


Case = Mapping[str, object]
"""One case: the arguments of both functions, by name, in call order."""


def draw_cases(make: Callable[[Draw], Case | None], n_cases: int, seed: int = 0) -> list[Case]:
    """``n_cases`` cases from ``make(draw)``, seeded; a ``None`` from ``make`` is redrawn.

    >>> draw_cases(lambda d: {"k": d.int(1, 9)}, 3)
    [{'k': 9}, {'k': 1}, {'k': 3}]
    """
    positive_int(n_cases, "n_cases")
    draw, cases = Draw(torch.Generator().manual_seed(seed)), []
    for _ in range(100 * n_cases):
        case = make(draw)
        if case is not None:
            cases.append(dict(case))
            if len(cases) == n_cases:
                return cases
    raise ValueError(f"the case function rejected almost every draw ({len(cases)} of {n_cases})")


def conv_config(draw: Draw) -> Case | None:
    """One dimension of a convolution PyTorch accepts: size 1-64, kernel 1-9,
    stride 1-5, padding 0-4, dilation 1-3."""
    w = draw.int(1, 64)
    k = draw.int(1, 9)
    s = draw.int(1, 5)
    p = draw.int(0, 4)
    d = draw.int(1, 3)
    if d * (k - 1) + 1 > w + 2 * p:
        return None
    return {"size": w, "kernel_size": k, "stride": s, "padding": p, "dilation": d}


def pool_config(draw: Draw) -> Case:
    """One dimension of a max pool, refused ones included: size 1-32, kernel 1-7,
    stride 1-7, padding 0-3, dilation 1-3, ``ceil_mode`` either way."""
    w = draw.int(1, 32)
    k = draw.int(1, 7)
    s = draw.int(1, 7)
    p = draw.int(0, 3)
    d = draw.int(1, 3)
    ceil = draw.flag()
    return {
        "size": w,
        "kernel_size": k,
        "stride": s,
        "padding": p,
        "dilation": d,
        "ceil_mode": ceil,
    }


def conv_tensors(draw: Draw) -> Case:
    """Input, weight and bias (float64) of a random 2-D convolution with its
    stride, padding and dilation; padded enough for the kernel to fit."""
    n = draw.int(1, 2)  # batch
    c = draw.int(1, 3)  # input channels
    o = draw.int(1, 3)  # output channels
    h = draw.int(1, 9)
    w = draw.int(1, 9)
    kh = draw.int(1, 4)
    kw = draw.int(1, 4)
    s = (draw.int(1, 3), draw.int(1, 3))
    d = (draw.int(1, 2), draw.int(1, 2))
    p = (draw.int(0, 3), draw.int(0, 3))
    need = (-(-(d[0] * (kh - 1) + 1 - h) // 2), -(-(d[1] * (kw - 1) + 1 - w) // 2))
    p = (max(p[0], need[0]), max(p[1], need[1]))
    x = draw.tensor(n, c, h, w)
    wt = draw.tensor(o, c, kh, kw)
    b = draw.tensor(o)
    return {"input": x, "weight": wt, "bias": b, "stride": s, "padding": p, "dilation": d}


def conv_transpose_tensors(draw: Draw) -> Case:
    """Input, weight ``(in, out, kh, kw)`` and bias (float64) of a random transposed
    convolution with stride, padding, output padding and dilation; PyTorch refuses some
    (an output padding not below max(stride, dilation), or an output with no rows)."""
    n = draw.int(1, 2)  # batch
    c = draw.int(1, 3)  # input channels
    o = draw.int(1, 3)  # output channels
    h, w = draw.int(1, 6), draw.int(1, 6)
    kh, kw = draw.int(1, 4), draw.int(1, 4)
    s = (draw.int(1, 3), draw.int(1, 3))
    p = (draw.int(0, 2), draw.int(0, 2))
    d = (draw.int(1, 2), draw.int(1, 2))
    top = (max(s[0], d[0]), max(s[1], d[1]))  # output padding must stay below it
    a = tuple(draw.int(0, t - 1) if draw.int(0, 9) else t for t in top)  # 1 in 10 refused
    x = draw.tensor(n, c, h, w)
    wt = draw.tensor(c, o, kh, kw)
    b = draw.tensor(o)
    return {
        "input": x,
        "weight": wt,
        "bias": b,
        "stride": s,
        "padding": p,
        "output_padding": a,
        "dilation": d,
    }


def local_tensors(draw: Draw) -> Case:
    """Input, weight ``(H', W', N, D, kh, kw)`` and bias ``(N, H', W')`` (float64) of a
    random locally connected layer with its stride and padding; padded enough to fit."""
    n = draw.int(1, 2)  # batch
    c = draw.int(1, 3)  # input channels
    o = draw.int(1, 3)  # filters per position
    h, w = draw.int(1, 8), draw.int(1, 8)
    kh, kw = draw.int(1, 4), draw.int(1, 4)
    s = (draw.int(1, 3), draw.int(1, 3))
    p = (max(draw.int(0, 2), -(-(kh - h) // 2)), max(draw.int(0, 2), -(-(kw - w) // 2)))
    oh, ow = (h + 2 * p[0] - kh) // s[0] + 1, (w + 2 * p[1] - kw) // s[1] + 1
    x = draw.tensor(n, c, h, w)
    wt = draw.tensor(oh, ow, o, c, kh, kw)
    b = draw.tensor(o, oh, ow)
    return {"input": x, "weight": wt, "bias": b, "stride": s, "padding": p}


def pool_tensors(draw: Draw) -> Case:
    """Input (float64) of a random 2-D pooling with kernel, stride and padding
    (at most half the kernel, as PyTorch requires)."""
    k = (draw.int(1, 4), draw.int(1, 4))
    s, p = (draw.int(1, 4), draw.int(1, 4)), (draw.int(0, 2), draw.int(0, 2))
    p = (min(p[0], k[0] // 2), min(p[1], k[1] // 2))
    h, w = draw.int(k[0], 10), draw.int(k[1], 10)
    x = draw.tensor(draw.int(1, 2), draw.int(1, 3), h, w)
    return {"input": x, "kernel_size": k, "stride": s, "padding": p}


def layer_stack(draw: Draw) -> Case:
    """A stack of 1-4 layers, each ``(kind, kernel, stride, dilation)`` with kind
    ``conv``, ``max`` or ``avg`` (an average pool has dilation 1)."""
    stack = []
    for _ in range(draw.int(1, 4)):
        kind = draw.pick(("conv", "max", "avg"))
        k = draw.int(1, 5)
        s = draw.int(1, 3)
        d = draw.int(1, 2)
        stack.append((kind, k, s, 1 if kind == "avg" else d))
    return {"layers": stack}


def pool_grid(max_size: int = 20, max_kernel: int = 5, max_stride: int = 5) -> list[Case]:
    """Every small pooling configuration (a fixed list, not a draw): size ``w`` up to
    ``max_size``, kernel ``k`` up to ``max_kernel``, stride ``s`` up to ``max_stride`` and
    padding ``p`` up to ``k // 2``, where the kernel fits.

    >>> len(pool_grid())
    1035
    """
    return [
        {"w": w, "k": k, "s": s, "p": p}
        for w in range(1, max_size + 1)
        for k in range(1, max_kernel + 1)
        for s in range(1, max_stride + 1)
        for p in range(k // 2 + 1)
        if k <= w + 2 * p
    ]


def label_pairs(draw: Draw) -> Case:
    """True and predicted labels of 0-199 examples among ``k`` = 1-12 classes."""
    k, n = draw.int(1, 12), draw.int(0, 199)
    return {
        "y_true": torch.tensor(draw.ints(n, 0, k - 1), dtype=torch.int64),
        "y_pred": torch.tensor(draw.ints(n, 0, k - 1), dtype=torch.int64),
        "k": k,
    }
