"""The book's standard sweeps: one formula or op against PyTorch on seeded random cases.

Each ``sweep_*`` function is one call to :func:`cnnnotes.oracle.agree` with a
case function from :mod:`cnnnotes.oracle.cases`, and returns its
:class:`~cnnnotes.oracle.Agreement` (``print`` it for the one-line verdict).
Sizes are measured by running real layers on tiny ``size × 1`` inputs (faster
than the ``meta`` device for such small tensors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cnnnotes._validate import choice
from cnnnotes.conv import ops
from cnnnotes.conv.shapes import conv_output_size, pool_output_size, receptive_field
from cnnnotes.oracle import Agreement, agree, cases

__all__ = [
    "empirical_receptive_field",
    "stack_layers",
    "sweep_conv2d",
    "sweep_output_sizes",
    "sweep_pool2d",
    "sweep_pool_sizes",
    "sweep_receptive_fields",
    "torch_output_size",
]


def torch_output_size(layer: nn.Module, size: int) -> int | None:
    """Output height of ``layer`` on a ``size × 1`` input, or None if PyTorch refuses it."""
    try:
        return _height(layer, size)
    except RuntimeError:
        return None


def _height(layer: nn.Module, size: int) -> int:
    """Output height of ``layer`` on a ``size × 1`` input; PyTorch's error if it refuses."""
    return layer(torch.zeros(1, 1, size, 1)).shape[2]


def sweep_output_sizes(n_cases: int = 10_000, seed: int = 0) -> Agreement:
    """:func:`~cnnnotes.conv.shapes.conv_output_size` vs ``nn.Conv2d``, on
    :func:`~cnnnotes.oracle.cases.conv_config` cases.

    >>> print(sweep_output_sizes(100))
    conv_output_size vs nn.Conv2d: 100 random cases, all exact
    """

    def real(w: int, k: int, s: int, p: int, d: int) -> int:
        return _height(nn.Conv2d(1, 1, (k, 1), (s, 1), (p, 0), (d, 1), bias=False), w)

    return agree(
        lambda *a: conv_output_size(*a),
        real,
        cases.conv_config,
        n_cases=n_cases,
        seed=seed,
        claim="conv_output_size vs nn.Conv2d",
    )


def sweep_pool_sizes(n_cases: int = 10_000, seed: int = 0) -> Agreement:
    """:func:`~cnnnotes.conv.shapes.pool_output_size` vs ``nn.MaxPool2d``, on
    :func:`~cnnnotes.oracle.cases.pool_config` cases.

    Refusals count too: a case agrees when both give the same size or both refuse
    it (ours with ``ValueError``, PyTorch with ``RuntimeError``).

    >>> print(sweep_pool_sizes(100))
    pool_output_size vs nn.MaxPool2d: 100 random cases, all exact (37 refused by both)
    """

    def real(w: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
        return _height(nn.MaxPool2d((k, 1), (s, 1), (p, 0), (d, 1), ceil_mode=ceil), w)

    return agree(
        lambda *a: pool_output_size(*a),
        real,
        cases.pool_config,
        n_cases=n_cases,
        seed=seed,
        claim="pool_output_size vs nn.MaxPool2d",
    )


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


def stack_layers(layers: Sequence[tuple[str, int, int, int]]) -> list[nn.Module]:
    """Real layers for a :func:`~cnnnotes.oracle.cases.layer_stack` spec (each conv then a ReLU)."""
    modules: list[nn.Module] = []
    for kind, k, s, d in layers:
        if kind == "conv":
            modules += [nn.Conv2d(1, 1, k, s, dilation=d, device="meta"), nn.ReLU()]
        elif kind == "max":
            modules.append(nn.MaxPool2d(k, s, dilation=d))
        else:
            modules.append(nn.AvgPool2d(k, s))
    return modules


def sweep_receptive_fields(n_cases: int = 200, seed: int = 0) -> Agreement:
    """:func:`~cnnnotes.conv.shapes.receptive_field` vs gradients, on random layer stacks.

    Each stack (:func:`~cnnnotes.oracle.cases.layer_stack`) is measured with
    :func:`empirical_receptive_field` on ones-weight convolutions with the same
    kernels, strides and dilations (a max pool's gradient reaches only the maximum,
    so the pool itself cannot be measured this way).

    >>> print(sweep_receptive_fields(20))
    receptive_field vs gradients: 20 random cases, all exact
    """
    return agree(
        lambda layers: receptive_field(stack_layers(layers)),
        lambda layers: empirical_receptive_field([(k, s, d) for _, k, s, d in layers]),
        cases.layer_stack,
        n_cases=n_cases,
        seed=seed,
        claim="receptive_field vs gradients",
    )


def sweep_conv2d(n_cases: int = 500, seed: int = 0) -> Agreement:
    """:func:`~cnnnotes.conv.ops.conv2d` vs ``F.conv2d`` on :func:`~.cases.conv_tensors`.

    >>> print(sweep_conv2d(20))
    ops.conv2d vs F.conv2d: 20 random cases, all agree to 1e-10
    """
    return agree(
        ops.conv2d,
        F.conv2d,
        cases.conv_tensors,
        n_cases=n_cases,
        seed=seed,
        claim="ops.conv2d vs F.conv2d",
    )


def sweep_pool2d(n_cases: int = 500, seed: int = 0, kind: str = "max") -> Agreement:
    """``ops.max_pool2d`` (or ``kind="avg"``) vs ``torch.nn.functional`` on
    :func:`~cnnnotes.oracle.cases.pool_tensors`.

    >>> print(sweep_pool2d(20, kind="avg"))
    ops.avg_pool2d vs F.avg_pool2d: 20 random cases, all agree to 1e-10
    """
    choice(kind, "kind", ("max", "avg"))
    ours, theirs = (
        (ops.max_pool2d, F.max_pool2d) if kind == "max" else (ops.avg_pool2d, F.avg_pool2d)
    )
    return agree(
        ours,
        theirs,
        cases.pool_tensors,
        n_cases=n_cases,
        seed=seed,
        claim=f"ops.{kind}_pool2d vs F.{kind}_pool2d",
    )
