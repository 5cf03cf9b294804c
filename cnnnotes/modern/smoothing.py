"""Label smoothing: cross-entropy against a softened target, with its gradient.

Plain cross-entropy asks for probability 1 on the true class, which no finite logit
reaches: the logits keep growing and the model grows over-confident. Label
smoothing with ``ε`` (Szegedy et al., 2016) aims at a target that keeps ``ε`` of the
mass spread evenly over all ``C`` classes:

    q = (1 − ε)·onehot(y) + ε/C        (the true class gets 1 − ε + ε/C)

and the loss is the cross-entropy against it, averaged over the batch:

    loss = −(1/N) Σ_n Σ_c q[n, c]·log p[n, c],   p = softmax(z).

Since ``Σ_c q[n, c] = 1``, its gradient is the same "prediction minus target" as
plain cross-entropy, with the smoothed target: ``∂loss/∂z = (p − q)/N``. It is
zero when ``p = q``, so the optimum is a finite logit gap, ``log((1 − ε + ε/C)/(ε/C))``
between the true class and the others. ``ε = 0`` is plain cross-entropy. This is
``F.cross_entropy(z, y, label_smoothing=ε)``, which writes the same loss as
``(1 − ε)·nll + ε·mean_c(−log p_c)``.

Built from :mod:`cnnnotes.learn.losses` (``log_softmax``, ``softmax``, ``one_hot``),
never ``F.cross_entropy``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnnotes._validate import number, positive_int, require, tensor
from cnnnotes.learn.losses import log_softmax, one_hot, softmax

__all__ = ["smoothed_cross_entropy", "smoothed_cross_entropy_backward", "smoothed_targets"]


def _eps(value: object) -> float:
    eps = number(value, "eps", at_least=0)
    require(eps <= 1, f"eps must be a number in [0, 1], got {eps!r}")
    return eps


def _logits_and_labels(logits: object, target: object) -> tuple[Tensor, Tensor]:
    """``(N, C)`` float logits and ``(N,)`` labels in ``0 .. C − 1``."""
    tensor(logits, "logits", shape="(N, C)", ndims=(2,), floating=True)
    require(0 not in logits.shape, f"logits must have N, C >= 1, got {tuple(logits.shape)}")
    tensor(target, "target", shape="(N,)", ndims=(1,), integers="class labels")
    require(
        len(target) == len(logits),
        f"target must hold one label per row of logits ({len(logits)}), got {len(target)}",
    )
    return logits, target


def smoothed_targets(
    y: Tensor, num_classes: int, eps: float, dtype: torch.dtype = torch.float32
) -> Tensor:
    """``q = (1 − ε)·onehot(y) + ε/C``: the target rows label smoothing aims at, ``(N, C)``.

    >>> smoothed_targets(torch.tensor([0, 2]), 3, 0.3)  # 1 − 0.3 + 0.1 and 0.1
    tensor([[0.8000, 0.1000, 0.1000],
            [0.1000, 0.1000, 0.8000]])
    """
    c = positive_int(num_classes, "num_classes")
    eps = _eps(eps)
    return (1 - eps) * one_hot(y, c, dtype) + eps / c


def smoothed_cross_entropy(logits: Tensor, target: Tensor, eps: float = 0.1) -> Tensor:
    """Mean cross-entropy of ``(N, C)`` logits against :func:`smoothed_targets`.

    ``−(1/N) Σ_n Σ_c q[n, c]·log softmax(z)[n, c]``, like
    ``F.cross_entropy(logits, target, label_smoothing=eps)``.

    >>> z = torch.zeros(1, 4)  # uniform prediction: log 4 whatever the target
    >>> smoothed_cross_entropy(z, torch.tensor([1]), eps=0.2), torch.tensor(4.0).log()
    (tensor(1.3863), tensor(1.3863))
    """
    z, y = _logits_and_labels(logits, target)
    q = smoothed_targets(y, z.shape[1], eps, z.dtype)
    return -(q * log_softmax(z)).sum(dim=1).mean()


def smoothed_cross_entropy_backward(logits: Tensor, target: Tensor, eps: float = 0.1) -> Tensor:
    """Gradient of :func:`smoothed_cross_entropy` for the logits: ``(softmax(z) − q)/N``.

    >>> z = torch.zeros(2, 2)
    >>> smoothed_cross_entropy_backward(z, torch.tensor([0, 1]), eps=0.2)  # (0.5 − 0.9)/2
    tensor([[-0.2000,  0.2000],
            [ 0.2000, -0.2000]])
    """
    z, y = _logits_and_labels(logits, target)
    q = smoothed_targets(y, z.shape[1], eps, z.dtype)
    return (softmax(z) - q) / len(z)
