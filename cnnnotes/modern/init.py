"""Initialisation: the variance argument, Kaiming (He) initialisation, and a measurement.

A unit of a linear or convolutional layer sums ``n_in`` products,
``y = Σ_{i=1}^{n_in} w_i·x_i`` (``n_in`` = the *fan-in*: input features, or
``C_in·k_h·k_w`` for a convolution). With the weights independent of the inputs,
zero-mean and of equal variance,

    Var[y] = n_in · Var[w] · E[x²].

If ``x = ReLU(y')`` for a pre-activation ``y'`` of the layer below, symmetric about 0,
half of ``y'²``'s mass is cut: ``E[x²] = Var[y']/2``. So from layer to layer

    Var[y_l] = (n_in · Var[w] / 2) · Var[y_{l−1}],

and through ``L`` layers the factor is raised to the power ``L``: below 1 the signal
vanishes, above 1 it explodes, geometrically in depth. It stays put exactly when

    Var[w] = 2 / n_in,   std = √2 / √n_in = gain / √fan_in  with gain = √2,

He et al. (2015)'s initialisation, ``torch.nn.init.kaiming_normal_(w, mode="fan_in",
nonlinearity="relu")``. A small fixed std (say 0.01) instead multiplies the variance
by ``n_in·10⁻⁴/2`` per layer: orders of magnitude lost after a few layers.
:func:`activation_variance_through_depth` measures both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnnotes._validate import choice, instance, number, positive_int, require, tensor

__all__ = [
    "RELU_GAIN",
    "activation_variance_through_depth",
    "fan_in",
    "kaiming_normal_",
    "kaiming_std",
]

RELU_GAIN = math.sqrt(2.0)
"""The gain for ReLU: ``Var[w] = gain²/n_in`` makes up for the half that ReLU cuts."""


def fan_in(shape: Sequence[int]) -> int:
    """The number of inputs each output sums: ``shape[1]·shape[2]·…`` of a weight's shape.

    A linear weight is ``(out, in)``; a convolution's ``(C_out, C_in/groups, k_h, k_w)``.

    >>> fan_in((128, 12544)), fan_in((64, 32, 3, 3)), fan_in(torch.Size([8, 1, 5, 5]))
    (12544, 288, 25)
    """
    instance(shape, "shape", (tuple, list, torch.Size), "a weight shape like (out, in, kh, kw)")
    require(len(shape) >= 2, f"shape must have 2 or more dims (out, in, ...), got {shape!r}")
    sizes = [positive_int(s, f"shape[{i}]") for i, s in enumerate(shape)]
    return math.prod(sizes[1:])


def kaiming_std(n_in: int, gain: float = RELU_GAIN) -> float:
    """``gain / √n_in``: the std that keeps ``Var[y]`` constant from layer to layer.

    >>> kaiming_std(2), kaiming_std(8), kaiming_std(9, gain=1.0)
    (1.0, 0.5, 0.3333333333333333)
    """
    n = positive_int(n_in, "n_in")
    return number(gain, "gain", above=0) / math.sqrt(n)


@torch.no_grad()
def kaiming_normal_(weight: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Fill ``weight`` in place with ``N(0, 2/fan_in)`` draws and return it.

    The same as ``torch.nn.init.kaiming_normal_(weight, mode="fan_in",
    nonlinearity="relu", generator=generator)``: the same std, drawn the same way,
    so the same generator state gives the same numbers.

    >>> w = kaiming_normal_(torch.empty(1000, 50), torch.Generator().manual_seed(0))
    >>> round(w.std().item(), 1), kaiming_std(50)  # √(2/50) = 0.2
    (0.2, 0.2)
    """
    tensor(weight, "weight", shape="(out, in, ...)", floating=True)
    if generator is not None:
        instance(generator, "generator", torch.Generator, "a torch.Generator")
    std = kaiming_std(fan_in(tuple(weight.shape)))
    return weight.normal_(0.0, std, generator=generator)


def _layer(h: Tensor, w: Tensor) -> Tensor:
    """``W·h``: a linear layer for a 2-D ``w``, else a 3×3 convolution with circular padding."""
    if w.ndim == 2:
        return h @ w.T
    return F.conv2d(F.pad(h, (1, 1, 1, 1), mode="circular"), w)


def activation_variance_through_depth(
    depth: int,
    width: int,
    init: str | float,
    generator: torch.Generator,
    *,
    kind: str = "mlp",
    batch: int = 512,
    size: int = 8,
    nets: int = 1,
) -> list[float]:
    """The variance of the pre-activations ``y_l`` of layers ``l = 1..depth`` of a plain ReLU stack.

    Input ``x ~ N(0, 1)``, then ``depth`` layers ``y_l = W_l·h_{l−1}``, ``h_l = ReLU(y_l)``,
    no bias, every layer ``width → width``: ``kind="mlp"`` linear layers on ``(batch,
    width)`` inputs, ``kind="conv"`` 3×3 convolutions on ``(batch, width, size, size)``
    maps with *circular* padding (every output sees all ``9·width`` inputs, as the
    argument assumes; zero padding would lose a little at the borders in every layer).
    ``init="kaiming"`` draws each ``W_l`` with :func:`kaiming_normal_`; a number draws
    ``N(0, init²)``. All in float64 (a collapsed variance stays visible), all draws
    from ``generator``. The variance is over all entries of ``y_l``, averaged over
    ``nets`` networks drawn independently.

    The argument is about the expectation over the weights. One network of finite width
    wanders around it, since each layer's gain is a random number near its mean; the
    wander compounds with depth and shrinks with width. ``nets > 1`` averages it away.

    With Kaiming the first layer's ``Var[y_1] = n_in·(2/n_in)·E[x²] = 2`` and every
    later one stays near 2; with std 0.01, ``Var[y_1] = 256·10⁻⁴`` and each later layer
    multiplies it by ``256·10⁻⁴/2``:

    >>> g = torch.Generator().manual_seed(0)
    >>> [round(v, 1) for v in activation_variance_through_depth(3, 256, "kaiming", g)]
    [2.0, 2.0, 2.0]
    >>> [f"{v:.0e}" for v in activation_variance_through_depth(3, 256, 0.01, g)]
    ['3e-02', '3e-04', '4e-06']
    """
    depth, width = positive_int(depth, "depth"), positive_int(width, "width")
    if isinstance(init, str):
        choice(init, "init", ("kaiming",))
    else:
        number(init, "init (a std)", above=0)
    instance(generator, "generator", torch.Generator, "a torch.Generator")
    kind = choice(kind, "kind", ("mlp", "conv"))
    batch, size = positive_int(batch, "batch"), positive_int(size, "size")
    shape = (batch, width) if kind == "mlp" else (batch, width, size, size)
    weight_shape = (width, width) if kind == "mlp" else (width, width, 3, 3)
    totals = [0.0] * depth
    for _ in range(positive_int(nets, "nets")):
        h = torch.randn(shape, generator=generator, dtype=torch.float64)
        for layer in range(depth):
            w = torch.empty(weight_shape, dtype=torch.float64)
            if init == "kaiming":
                kaiming_normal_(w, generator)
            else:
                w.normal_(0.0, float(init), generator=generator)
            y = _layer(h, w)
            totals[layer] += float(y.var())
            h = torch.relu(y)
    return [t / nets for t in totals]
