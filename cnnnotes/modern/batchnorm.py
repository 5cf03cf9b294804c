"""Batch normalisation from scratch: train and eval modes, running averages, the backward pass.

For an input ``x`` of shape ``(N, C, *)`` (``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``)
each channel ``c`` is normalised over its ``m = N·H·W`` values (every axis but the
channel axis):

* **train mode**: the batch's own statistics, ``μ = (1/m) Σ x`` and the *biased*
  variance ``σ² = (1/m) Σ (x − μ)²``; then ``x̂ = (x − μ)/√(σ² + ε)`` and
  ``y = γ·x̂ + β`` (a learned scale and shift per channel). The running averages the
  layer keeps for later are updated with ``momentum`` ``α``, the variance *unbiased*
  (``σ²·m/(m − 1)``), exactly as PyTorch does::

      running_mean ← (1 − α)·running_mean + α·μ
      running_var  ← (1 − α)·running_var  + α·σ²·m/(m − 1)

* **eval mode**: the running statistics stand in for ``μ`` and ``σ²``, nothing is
  updated, and each example's output no longer depends on the rest of the batch.

Where it goes: conv → BN → ReLU. A convolution's bias ``b_c`` adds the same constant
to every value of channel ``c``, so it moves ``μ`` by ``b_c`` and leaves ``x − μ``
unchanged: in train mode the bias is cancelled, and ``β`` takes its place
(``nn.Conv2d(..., bias=False)``).

Only elementary tensor operations are used (sums, means, ``sqrt``), never
``F.batch_norm`` or autograd.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnnotes._validate import boolean, number, require, require_type, tensor

__all__ = ["batch_norm", "batch_norm_backward"]


def _input(x: object, name: str = "x") -> Tensor:
    """A floating-point ``(N, C, *)`` tensor with ``N, C >= 1``."""
    tensor(x, name, shape="(N, C, *)", floating=True)
    require(
        x.ndim >= 2 and 0 not in x.shape,
        f"{name} must have shape (N, C, *) with N >= 1 and C >= 1, got {tuple(x.shape)}",
    )
    return x


def _per_channel(value: object, name: str, x: Tensor, default: float | None) -> Tensor:
    """A ``(C,)`` tensor of ``x``'s dtype, or ``default`` for every channel when ``None``."""
    c = x.shape[1]
    if value is None:
        require(default is not None, f"{name} is needed here: a tensor of shape ({c},)")
        return torch.full((c,), default, dtype=x.dtype, device=x.device)
    tensor(value, name, shape=f"({c},)", floating=True)
    require(value.shape == (c,), f"{name} must have shape ({c},), got {tuple(value.shape)}")
    require_type(value.dtype == x.dtype, f"{name} dtype {value.dtype} must match x's {x.dtype}")
    return value


def _shape(v: Tensor, x: Tensor) -> Tensor:
    """A ``(C,)`` tensor shaped ``(1, C, 1, ..., 1)`` to broadcast against ``x``."""
    return v.reshape(1, -1, *([1] * (x.ndim - 2)))


def _channel_dims(x: Tensor) -> list[int]:
    """Every axis of ``x`` but the channel axis 1: the axes a channel's statistics run over."""
    return [d for d in range(x.ndim) if d != 1]


def _batch_statistics(x: Tensor) -> tuple[Tensor, Tensor, int]:
    """Each channel's mean, *biased* variance and number of values ``m`` (at least 2)."""
    m = x.numel() // x.shape[1]
    require(m > 1, f"train mode needs more than 1 value per channel, got x of shape {x.shape}")
    dims = _channel_dims(x)
    mean = x.mean(dim=dims)
    return mean, ((x - _shape(mean, x)) ** 2).mean(dim=dims), m  # divide by m


def _running(running_mean: object, running_var: object, x: Tensor) -> tuple[Tensor, Tensor]:
    """The running statistics that eval mode normalises with (both required)."""
    mean = _per_channel(running_mean, "running_mean (eval mode)", x, None)
    return mean, _per_channel(running_var, "running_var (eval mode)", x, None)


def _forward_args(
    x: object, training: object, momentum: object, eps: object
) -> tuple[Tensor, bool, float, float]:
    x = _input(x)
    momentum = number(momentum, "momentum", at_least=0)
    require(momentum <= 1, f"momentum must be a number in [0, 1], got {momentum!r}")
    return x, boolean(training, "training"), momentum, number(eps, "eps", above=0)


def _backward_args(
    grad_out: object, x: object, training: object, eps: object
) -> tuple[Tensor, Tensor, bool, float]:
    x = _input(x)
    tensor(grad_out, "grad_out", shape=f"{tuple(x.shape)} (x's shape)", floating=True)
    require(
        grad_out.shape == x.shape,
        f"grad_out must have x's shape {tuple(x.shape)}, got {tuple(grad_out.shape)}",
    )
    require_type(grad_out.dtype == x.dtype, f"grad_out dtype {grad_out.dtype} must match x's")
    return x, grad_out, boolean(training, "training"), number(eps, "eps", above=0)


def batch_norm(
    x: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """``(y, new_running_mean, new_running_var)`` like ``F.batch_norm`` (same argument order).

    Train mode: ``y = γ·(x − μ)/√(σ² + ε) + β`` with the batch's ``μ`` and biased ``σ²``
    per channel, and the running averages updated with the unbiased variance (returned
    as new tensors; ``F.batch_norm`` overwrites its arguments instead). ``ε > 0`` (PyTorch
    refuses 0 in train mode).
    Running statistics may be ``None`` in train mode (then ``None`` comes back).
    Eval mode: the running statistics normalise, and come back unchanged.
    ``gamma=None`` means 1 and ``beta=None`` means 0 (``affine=False``).

    >>> x = torch.tensor([[1.0], [3.0]])  # N=2 examples, C=1 channel
    >>> y, mean, var = batch_norm(x, torch.zeros(1), torch.ones(1))
    >>> y.flatten(), mean, var  # μ = 2, σ² = 1, unbiased 2: 0.9·1 + 0.1·2 = 1.1
    (tensor([-1.0000,  1.0000]), tensor([0.2000]), tensor([1.1000]))
    >>> batch_norm(x, mean, var, training=False)[0].flatten()  # (x − 0.2)/√1.1
    tensor([0.7628, 2.6697])
    """
    x, training, momentum, eps = _forward_args(x, training, momentum, eps)
    g = _shape(_per_channel(gamma, "gamma", x, 1.0), x)
    b = _shape(_per_channel(beta, "beta", x, 0.0), x)
    if not training:
        mean, var = _running(running_mean, running_var, x)
        y = g * (x - _shape(mean, x)) / (_shape(var, x) + eps).sqrt() + b
        return y, mean.clone(), var.clone()
    mean, var, m = _batch_statistics(x)
    y = g * (x - _shape(mean, x)) / (_shape(var, x) + eps).sqrt() + b
    new_mean = new_var = None
    if running_mean is not None:
        old = _per_channel(running_mean, "running_mean", x, None)
        new_mean = (1 - momentum) * old + momentum * mean
    if running_var is not None:
        old = _per_channel(running_var, "running_var", x, None)
        new_var = (1 - momentum) * old + momentum * var * m / (m - 1)  # unbiased
    return y, new_mean, new_var


def batch_norm_backward(
    grad_out: Tensor,
    x: Tensor,
    gamma: Tensor | None = None,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    training: bool = True,
    eps: float = 1e-5,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients ``(dx, dγ, dβ)`` of :func:`batch_norm`'s output ``y`` given ``g = ∂L/∂y``.

    Per channel, with ``s = √(σ² + ε)``, ``x̂ = (x − μ)/s`` and sums and means over the
    channel's ``m`` values:

    * ``dβ = Σ g`` and ``dγ = Σ g·x̂`` (``y = γ·x̂ + β``);
    * eval mode: ``μ`` and ``s`` are constants, so ``dx = γ·g/s``;
    * train mode: ``μ`` and ``s`` depend on every ``x_i``. From ``∂μ/∂x_i = 1/m`` and
      ``∂s/∂x_i = (x_i − μ)/(m·s) = x̂_i/m``,
      ``∂x̂_j/∂x_i = (δ_ij − 1/m − x̂_i·x̂_j/m)/s``. With ``d = γ·g`` (the gradient
      reaching ``x̂``), summing ``d_j·∂x̂_j/∂x_i`` over ``j``::

          dx = (d − mean(d) − x̂·mean(d·x̂)) / s

      The gradient loses its mean and its component along ``x̂``: moving every input
      of a channel together, or scaling them about their mean, changes nothing after
      normalising.

    ``gamma=None`` means 1 (``dγ`` is still returned).

    >>> x, g = torch.tensor([[1.0], [3.0]]), torch.tensor([[1.0], [0.0]])
    >>> batch_norm_backward(g, x, eps=3.0)  # s = √(1 + 3) = 2, x̂ = (−0.5, 0.5)
    (tensor([[ 0.1875],
            [-0.1875]]), tensor([-0.5000]), tensor([1.]))
    """
    x, grad_out, training, eps = _backward_args(grad_out, x, training, eps)
    gamma = _per_channel(gamma, "gamma", x, 1.0)
    dims = _channel_dims(x)  # a channel's m values: every axis but the channels
    if training:
        mean, var, _ = _batch_statistics(x)
    else:
        mean, var = _running(running_mean, running_var, x)
    s = _shape((var + eps).sqrt(), x)
    x_hat = (x - _shape(mean, x)) / s
    d = _shape(gamma, x) * grad_out  # the gradient reaching x̂
    if training:  # μ and s depend on every x_i: remove the mean and the part along x̂
        d_mean = d.mean(dim=dims, keepdim=True)
        along = (d * x_hat).mean(dim=dims, keepdim=True)
        d = d - d_mean - x_hat * along
    return d / s, (grad_out * x_hat).sum(dim=dims), grad_out.sum(dim=dims)
