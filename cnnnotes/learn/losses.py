"""Softmax and the cross-entropy loss from scratch, with its gradient.

For logits ``z`` of shape ``(N, C)`` and integer labels ``y`` of shape ``(N,)``:

* ``log_softmax(z)[n, c] = z[n, c] − log Σ_k exp z[n, k]``, computed stably as
  ``z − m − log Σ_k exp(z − m)`` with ``m = max_k z[n, k]`` (no ``exp`` overflows);
* ``cross_entropy(z, y) = −(1/N) Σ_n log_softmax(z)[n, y_n]``, the mean over the
  batch, like ``F.cross_entropy``;
* ``∂ loss / ∂ z = (softmax(z) − onehot(y)) / N``: the predicted probabilities
  minus the target ones, divided by the batch size because the loss is a mean.

Only elementary tensor operations are used (``amax``, ``exp``, ``log``, sums and
indexing), never ``F.softmax``, ``F.log_softmax`` or ``F.cross_entropy``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnnotes._validate import positive_int, require, tensor

__all__ = ["cross_entropy", "cross_entropy_backward", "log_softmax", "one_hot", "softmax"]


def _logits(z: object) -> Tensor:
    """Check that ``z`` is a floating-point ``(N, C)`` tensor with ``N, C >= 1``."""
    tensor(z, "logits", shape="(N, C)", floating=True)
    require(
        z.ndim == 2 and 0 not in z.shape,
        f"logits must have shape (N, C) with N >= 1 examples and C >= 1 classes, "
        f"got shape {tuple(z.shape)}",
    )
    return z


def _labels(y: object, name: str, num_classes: int, n: int | None = None) -> Tensor:
    """Check that ``y`` holds integer class labels in ``0 .. num_classes − 1`` (``n`` of them)."""
    tensor(y, name, shape="(N,)", ndims=(1,), integers="class labels")
    require(
        n is None or len(y) == n,
        f"{name} must have shape ({n},), one label per row of logits, got shape {tuple(y.shape)}",
    )
    bad = ((y < 0) | (y >= num_classes)).nonzero()
    first = int(bad[0, 0]) if len(bad) else 0
    require(
        len(bad) == 0,
        f"{name}[{first}] = {int(y[first]) if len(y) else 0} is not a class label; with "
        f"{num_classes} classes labels must be in 0 .. {num_classes - 1}",
    )
    return y


def log_softmax(z: Tensor) -> Tensor:
    """``log softmax`` over the classes (dim 1) of ``(N, C)`` logits, by stable log-sum-exp.

    >>> log_softmax(torch.tensor([[0.0, 0.0], [100.0, 0.0]]))  # exp(100) would be huge
    tensor([[  -0.6931,   -0.6931],
            [   0.0000, -100.0000]])
    """
    z = _logits(z)
    m = z.amax(dim=1, keepdim=True)  # subtract the row maximum: every exp is <= 1
    return z - m - (z - m).exp().sum(dim=1, keepdim=True).log()


def softmax(z: Tensor) -> Tensor:
    """Probabilities over the classes (dim 1): ``exp z / Σ exp z``, computed stably.

    >>> softmax(torch.tensor([[0.0, 0.0], [1000.0, 0.0]]))
    tensor([[0.5000, 0.5000],
            [1.0000, 0.0000]])
    """
    return log_softmax(z).exp()


def one_hot(y: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Rows of the identity matrix picked by the labels: ``(N, num_classes)``.

    >>> one_hot(torch.tensor([2, 0]), 3)
    tensor([[0., 0., 1.],
            [1., 0., 0.]])
    """
    _labels(y, "y", positive_int(num_classes, "num_classes"))
    return (y[:, None] == torch.arange(num_classes, device=y.device)).to(dtype)


def cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy of ``(N, C)`` logits against ``(N,)`` labels, like ``F.cross_entropy``.

    >>> z = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> cross_entropy(z, torch.tensor([0, 2]))  # (−log 0.787 − log 1/3) / 2
    tensor(0.6691)
    """
    z = _logits(logits)
    y = _labels(target, "target", z.shape[1], len(z))
    picked = log_softmax(z)[torch.arange(len(y)), y]  # log-probability of the true class
    return -picked.mean()


def cross_entropy_backward(logits: Tensor, target: Tensor) -> Tensor:
    """Gradient of :func:`cross_entropy` for the logits: ``(softmax(z) − onehot(y)) / N``.

    Each row pushes the true class's logit up by ``1 − p`` and every other logit
    down by its probability; the ``/ N`` comes from the mean over the batch.

    >>> cross_entropy_backward(torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.tensor([0, 1]))
    tensor([[-0.2500,  0.2500],
            [ 0.2500, -0.2500]])
    """
    z = _logits(logits)
    y = _labels(target, "target", z.shape[1], len(z))
    n, c = z.shape
    return (softmax(z) - one_hot(y, c, z.dtype)) / n
