"""Self-check for SGD with momentum written by hand, against ``torch.optim.SGD``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from cnnnotes._validate import function
from cnnnotes._validate import seed as a_seed
from cnnnotes.check.core import check_tensors

F64 = torch.float64

MOMENTUM_CASES: tuple[dict, ...] = (
    {"theta": (5,), "grads": 10, "lr": 0.2, "mu": 0.9},
    {"theta": (2, 3), "grads": 4, "lr": 0.3, "mu": 0.5},
    {"theta": (3,), "grads": 1, "lr": 0.1, "mu": 0.5},
    {"theta": (4,), "grads": 6, "lr": 0.01, "mu": 0.0},
    {"theta": (1,), "grads": 30, "lr": 0.05, "mu": 0.99},
)
"""Cases of :func:`check_momentum_steps`, keyed by the exercise's arguments: the shape of
``theta``, how many ``grads``, ``lr`` and ``mu``. No case has ``lr = 1 - mu``, where a
damped buffer and one that holds ``lr`` would give the same steps."""

Steps = Callable[[Tensor, list[Tensor], float, float], Tensor]
"""``fn(theta, grads, lr, mu)`` → the parameters after one step per gradient."""


def _momentum(buffer: Callable[..., Tensor], step: Callable[..., Tensor]) -> Steps:
    """SGD with momentum from a buffer rule ``buffer(b, g, lr, mu)`` → new ``b`` and a step
    rule ``step(old b, b, g, lr, mu)`` → what θ loses; right or one of the classic slips."""

    def steps(theta: Tensor, grads: list[Tensor], lr: float, mu: float) -> Tensor:
        theta, b = theta.clone(), torch.zeros_like(theta)
        for g in grads:
            old, b = b, buffer(b, g, lr, mu)
            theta = theta - step(old, b, g, lr, mu)
        return theta

    return steps


def _pytorch_buffer(b: Tensor, g: Tensor, lr: float, mu: float) -> Tensor:
    return mu * b + g


def _along_buffer(old: Tensor, b: Tensor, g: Tensor, lr: float, mu: float) -> Tensor:
    return lr * b


MOMENTUM_MISTAKES: Mapping[str, Steps] = {
    "kept a damped average b ← ν·b + (1 − ν)·g (like Adam's m); PyTorch's buffer is "
    "b ← ν·b + g": _momentum(lambda b, g, lr, mu: mu * b + (1 - mu) * g, _along_buffer),
    "stepped along the gradient instead of the buffer (θ ← θ − η·g): the momentum is never "
    "used": _momentum(_pytorch_buffer, lambda old, b, g, lr, mu: lr * g),
    "stepped with the previous buffer, before adding the new gradient (one step late)":
        _momentum(_pytorch_buffer, lambda old, b, g, lr, mu: lr * old),
    "took Nesterov's step θ ← θ − η·(g + ν·b), which is SGD(nesterov=True)":
        _momentum(_pytorch_buffer, lambda old, b, g, lr, mu: lr * (g + mu * b)),
    "mixed the two forms of momentum: with b ← ν·b + η·g the step is θ ← θ − b, without a "
    "second η": _momentum(lambda b, g, lr, mu: mu * b + lr * g, _along_buffer),
    "added the step (θ ← θ + η·b), which climbs the loss":
        _momentum(_pytorch_buffer, lambda old, b, g, lr, mu: -lr * b),
}  # fmt: skip
"""Classic wrong versions of SGD with momentum, by the words a message names them with."""


def _torch_momentum(theta: Tensor, grads: list[Tensor], lr: float, mu: float) -> Tensor:
    param = theta.clone().requires_grad_()
    sgd = torch.optim.SGD([param], lr=lr, momentum=mu)
    for grad in grads:
        param.grad = grad.clone()
        sgd.step()
    return param.detach()


def check_momentum_steps(fn: Callable, *, seed: int = 0) -> str:
    """Check ``fn(theta, grads, lr, mu)`` → θ after SGD with momentum, one step per gradient.

    Compared with ``torch.optim.SGD(momentum=mu)`` in float64 on every case of
    ``MOMENTUM_CASES``; a mismatch names the classic mistake that explains it.

    >>> check_momentum_steps(_momentum(_pytorch_buffer, _along_buffer))
    'All 5 cases match torch.optim.SGD.'
    >>> damped = _momentum(lambda b, g, lr, mu: mu * b + (1 - mu) * g, _along_buffer)
    >>> msg = check_momentum_steps(damped)
    >>> msg[:64]
    'Mismatch for theta of shape (5,), 10 gradients, lr=0.2, mu=0.9: '
    >>> msg.endswith("It looks like you kept a damped average b ← ν·b + (1 − ν)·g (like Adam's m); "
    ...              "PyTorch's buffer is b ← ν·b + g.")
    True
    """
    function(fn, "fn", "your function fn(theta, grads, lr, mu)")
    g = torch.Generator().manual_seed(a_seed(seed))

    def cases():
        for case in MOMENTUM_CASES:
            shape = case["theta"]
            theta = torch.randn(shape, generator=g, dtype=F64)
            grads = [torch.randn(shape, generator=g, dtype=F64) for _ in range(case["grads"])]
            args = (theta, grads, case["lr"], case["mu"])
            text = f"theta of shape {shape}, {case['grads']} gradients, lr={args[2]}, mu={args[3]}"
            hints = [(m, wrong(*args)) for m, wrong in MOMENTUM_MISTAKES.items()]
            yield text, args, _torch_momentum(*args), hints

    return check_tensors(fn, cases(), "torch.optim.SGD")
