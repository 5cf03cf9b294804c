"""Optimisers from scratch: SGD with momentum and Adam, on plain lists of tensors.

Each function takes the parameters and their gradients as two equally long lists
and updates the parameters *in place*, as ``torch.optim`` does; the optimiser's
memory (velocities, moment estimates, step count) is explicit state that the
caller keeps. With the same hyper-parameters they follow ``torch.optim.SGD`` and
``torch.optim.Adam`` step for step (``dampening=0``, ``nesterov=False``,
``weight_decay=0``, ``amsgrad=False``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["Adam", "sgd_step"]


def _check(params: Sequence[Tensor], grads: Sequence[Tensor | None]) -> None:
    """Raise unless ``params`` and ``grads`` pair up tensor for tensor, shape for shape."""
    params, grads = list(params), list(grads)
    if len(params) != len(grads):
        raise ValueError(f"got {len(params)} parameters but {len(grads)} gradients; pass one each")
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if not isinstance(p, Tensor) or not isinstance(g, Tensor):
            what = type(g).__name__ if isinstance(p, Tensor) else type(p).__name__
            raise TypeError(f"parameter {i} and its gradient must be tensors, got {what}")
        if p.shape != g.shape:
            raise ValueError(
                f"gradient {i} has shape {tuple(g.shape)} but its parameter has {tuple(p.shape)}"
            )


def _positive(value: object, name: str, upper: float | None = None) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    if not ok or (upper is not None and value >= upper):
        allowed = f"a number in [0, {upper:g})" if upper is not None else "a number >= 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


@torch.no_grad()
def sgd_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    lr: float,
    momentum: float = 0.0,
    velocity: list[Tensor] | None = None,
) -> list[Tensor]:
    """One step of SGD with momentum; returns the velocities for the next step.

    ``v ← μ·v + g`` and ``θ ← θ − η·v`` (``velocity=None`` starts from ``v = 0``, so
    the first step is plain ``θ ← θ − η·g``, exactly as ``torch.optim.SGD``).

    >>> w = torch.tensor([1.0])
    >>> v = sgd_step([w], [torch.tensor([2.0])], lr=0.1, momentum=0.9)
    >>> w, v
    (tensor([0.8000]), [tensor([2.])])
    >>> v = sgd_step([w], [torch.tensor([2.0])], lr=0.1, momentum=0.9, velocity=v)
    >>> w, v  # v = 0.9·2 + 2
    (tensor([0.4200]), [tensor([3.8000])])
    """
    _check(params, grads)
    lr, momentum = _positive(lr, "lr"), _positive(momentum, "momentum", 1.0)
    if velocity is None:
        velocity = [torch.zeros_like(p) for p in params]
    if len(velocity) != len(params):
        raise ValueError(f"velocity has {len(velocity)} tensors but there are {len(params)} params")
    new_velocity = []
    for p, g, v in zip(params, grads, velocity, strict=True):
        v = momentum * v + g
        p -= lr * v  # in place: the caller's tensor changes
        new_velocity.append(v)
    return new_velocity


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction, like ``torch.optim.Adam``.

    For each parameter ``θ`` with gradient ``g``, at step ``t = 1, 2, …``::

        m ← β₁·m + (1 − β₁)·g          first moment: a running mean of g
        v ← β₂·v + (1 − β₂)·g²         second moment: a running mean of g²
        m̂ = m / (1 − β₁ᵗ)              bias correction: m and v start at 0
        v̂ = v / (1 − β₂ᵗ)
        θ ← θ − η · m̂ / (√v̂ + ε)

    So each weight moves by about ``η`` per step whatever the scale of its gradient.

    >>> w = torch.tensor([1.0, -1.0])
    >>> opt = Adam([w], lr=0.1)
    >>> opt.step([torch.tensor([0.5, -20.0])])  # the first step moves every weight by ~lr
    >>> w
    tensor([ 0.9000, -0.9000])
    """

    def __init__(
        self,
        params: Sequence[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = list(params)
        _check(self.params, self.params)
        self.lr, self.eps = _positive(lr, "lr"), _positive(eps, "eps")
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_positive(betas[0], "beta1", 1.0), _positive(betas[1], "beta2", 1.0))
        self.t = 0  # steps taken
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor]) -> None:
        """Update every parameter in place from its gradient (same order as ``params``)."""
        _check(self.params, grads)
        (b1, b2), self.t = self.betas, self.t + 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m.mul_(b1).add_((1 - b1) * g)
            v.mul_(b2).add_((1 - b2) * g * g)
            m_hat = m / (1 - b1**self.t)
            v_hat = v / (1 - b2**self.t)
            p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)
