"""Optimisers from scratch: SGD with momentum and Adam, on plain lists of tensors.

Each function takes the parameters and their gradients as two equally long lists
and updates the parameters *in place*, as ``torch.optim`` does; the optimiser's
memory (velocities, moment estimates, step count) is explicit state that the
caller keeps. With the same hyper-parameters they follow ``torch.optim.SGD`` and
``torch.optim.Adam`` step for step (``dampening=0``, ``nesterov=False``,
``weight_decay=0``, ``amsgrad=False``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from cnnnotes._validate import instance, number, require, require_type, tensor

__all__ = ["Adam", "sgd_step"]


def _tensors(value: object, name: str) -> list[Tensor]:
    """``value`` (a list, tuple or other iterable of tensors, not one tensor) as a list."""
    require_type(
        isinstance(value, Iterable) and not isinstance(value, Tensor),
        f"{name} must be a list of tensors, got {type(value).__name__}",
    )
    items = list(value)
    for i, t in enumerate(items):
        tensor(t, f"{name}[{i}]")
    return items


def _matched(params: list[Tensor], tensors: Iterable[Tensor], name: str) -> list[Tensor]:
    """``tensors`` (gradients, velocities) as a list, one per parameter, shape for shape."""
    items = _tensors(tensors, name)
    require(
        len(params) == len(items),
        f"got {len(params)} parameters but {len(items)} {name}; pass one each",
    )
    for i, (p, t) in enumerate(zip(params, items, strict=True)):
        require(
            p.shape == t.shape,
            f"{name}[{i}] has shape {tuple(t.shape)} but its parameter has {tuple(p.shape)}",
        )
    return items


@torch.no_grad()
def sgd_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    lr: float,
    momentum: float = 0.0,
    velocity: list[Tensor] | None = None,
) -> list[Tensor]:
    """One step of SGD with momentum; returns the velocities for the next step.

    ``v ← ν·v + g`` (ν is ``momentum``) and ``θ ← θ − η·v`` (``velocity=None`` starts
    from ``v = 0``, so the first step is plain ``θ ← θ − η·g``, exactly as
    ``torch.optim.SGD``).

    >>> w = torch.tensor([1.0])
    >>> v = sgd_step([w], [torch.tensor([2.0])], lr=0.1, momentum=0.9)
    >>> w, v
    (tensor([0.8000]), [tensor([2.])])
    >>> v = sgd_step([w], [torch.tensor([2.0])], lr=0.1, momentum=0.9, velocity=v)
    >>> w, v  # v = 0.9·2 + 2
    (tensor([0.4200]), [tensor([3.8000])])
    """
    params = _tensors(params, "params")
    grads = _matched(params, grads, "grads")
    lr, momentum = number(lr, "lr", above=0), number(momentum, "momentum", at_least=0, below=1)
    if velocity is None:
        velocity = [torch.zeros_like(p) for p in params]
    velocity = _matched(params, velocity, "velocity")
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
        self.params = _tensors(params, "params")
        self.lr, self.eps = number(lr, "lr", above=0), number(eps, "eps", above=0)
        instance(betas, "betas", (tuple, list), "a pair (beta1, beta2)")
        require(len(betas) == 2, f"betas must be a pair (beta1, beta2), got {betas!r}")
        b1 = number(betas[0], "beta1", at_least=0, below=1)
        self.betas = (b1, number(betas[1], "beta2", at_least=0, below=1))
        self.t = 0  # steps taken
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor]) -> None:
        """Update every parameter in place from its gradient (same order as ``params``)."""
        grads = _matched(self.params, grads, "grads")
        (b1, b2), self.t = self.betas, self.t + 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m.mul_(b1).add_((1 - b1) * g)
            v.mul_(b2).add_((1 - b2) * g * g)
            m_hat = m / (1 - b1**self.t)
            v_hat = v / (1 - b2**self.t)
            p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)
