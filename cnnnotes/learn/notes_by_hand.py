"""The notes' network trained with nothing but the book's own functions.

:func:`notes_loss_and_grads` runs :class:`~cnnnotes.training.models.NotesCNN` forward and
backward by hand: our ``conv2d`` and ``max_pool2d``, ReLU, flatten, two dense
layers and our cross-entropy, then every gradient written out in reverse order
(the chain rule, one layer at a time). :func:`train_notes_scratch` repeats that
with our :class:`~cnnnotes.learn.optim.Adam`. No autograd and no library layer is
involved, yet the numbers follow PyTorch's to round-off (see the tests).

Parameters travel as a dict with ``NotesCNN``'s ``state_dict`` keys, so
``model.state_dict()`` goes in and ``model.load_state_dict(params)`` takes the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from torch import Tensor

from cnnnotes.conv.backprop import conv2d_backward, max_pool2d_backward
from cnnnotes.conv.ops import conv2d, max_pool2d
from cnnnotes.learn.losses import cross_entropy, cross_entropy_backward
from cnnnotes.learn.optim import Adam

__all__ = ["PARAM_NAMES", "notes_loss_and_grads", "train_notes_scratch"]

PARAM_NAMES = (
    "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
    "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
)  # fmt: skip
"""The parameters of ``NotesCNN`` (without batch norm), in ``state_dict`` order."""


def _params(params: object) -> dict[str, Tensor]:
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict like NotesCNN().state_dict(), got {params!r:.60}")
    missing = [k for k in PARAM_NAMES if k not in params]
    extra = [k for k in params if k not in PARAM_NAMES]
    if missing or extra:
        raise ValueError(
            f"params must have exactly NotesCNN's keys {', '.join(PARAM_NAMES)}; "
            f"missing {missing}, unexpected {extra}"
        )
    return dict(params)


def notes_loss_and_grads(
    params: Mapping[str, Tensor], x: Tensor, y: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    """Mean cross-entropy of ``NotesCNN`` on ``(x, y)`` and its gradient for every parameter.

    ``x`` is ``(N, 1, 28, 28)``, ``y`` holds ``N`` labels in ``0..9``. Each gradient
    has the shape of its parameter; ``dX`` below means ``∂loss/∂X``.

    >>> import torch
    >>> from cnnnotes.training.models import NotesCNN
    >>> _ = torch.manual_seed(0)
    >>> params = NotesCNN().state_dict()
    >>> loss, grads = notes_loss_and_grads(params, torch.rand(2, 1, 28, 28), torch.tensor([3, 7]))
    >>> round(loss.item(), 1), tuple(grads["conv2.weight"].shape)  # about log 10 at the start
    (2.3, (64, 32, 3, 3))
    """
    p = _params(params)
    # forward, keeping what the backward pass needs
    a1 = conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1)  # (N, 32, 28, 28)
    h1 = a1.clamp(min=0)  # ReLU
    a2 = conv2d(h1, p["conv2.weight"], p["conv2.bias"], padding=1)  # (N, 64, 28, 28)
    h2 = a2.clamp(min=0)
    pooled = max_pool2d(h2, 2)  # (N, 64, 14, 14)
    flat = pooled.reshape(len(x), -1)  # (N, 12544)
    z1 = flat @ p["fc1.weight"].T + p["fc1.bias"]  # (N, 128)
    h3 = z1.clamp(min=0)
    logits = h3 @ p["fc2.weight"].T + p["fc2.bias"]  # (N, 10)
    loss = cross_entropy(logits, y)

    # backward: the same layers in reverse, each turning dOutput into dInput
    g: dict[str, Tensor] = {}
    dlogits = cross_entropy_backward(logits, y)  # (softmax − onehot) / N
    g["fc2.weight"], g["fc2.bias"] = dlogits.T @ h3, dlogits.sum(0)
    dh3 = dlogits @ p["fc2.weight"]
    dz1 = dh3 * (z1 > 0)  # ReLU passes the gradient where its input was positive
    g["fc1.weight"], g["fc1.bias"] = dz1.T @ flat, dz1.sum(0)
    dflat = dz1 @ p["fc1.weight"]
    dpooled = dflat.reshape(pooled.shape)  # flatten only reshaped
    dh2 = max_pool2d_backward(dpooled, h2, 2)
    da2 = dh2 * (a2 > 0)
    dh1, g["conv2.weight"], g["conv2.bias"] = conv2d_backward(da2, h1, p["conv2.weight"], padding=1)
    da1 = dh1 * (a1 > 0)
    _, g["conv1.weight"], g["conv1.bias"] = conv2d_backward(da1, x, p["conv1.weight"], padding=1)
    return loss, {k: g[k] for k in PARAM_NAMES}


def train_notes_scratch(
    params: Mapping[str, Tensor],
    batches: Iterable[tuple[Tensor, Tensor]],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[list[float], dict[str, Tensor]]:
    """Train a copy of ``params`` with our gradients and our Adam, one step per batch.

    Returns the loss of every step (before its update) and the trained parameters;
    ``params`` itself is left unchanged.

    >>> import torch
    >>> from cnnnotes.training.models import NotesCNN
    >>> _ = torch.manual_seed(0)
    >>> x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    >>> losses, trained = train_notes_scratch(NotesCNN().state_dict(), [(x, y)] * 3)
    >>> losses[-1] < losses[0]
    True
    """
    current = {k: v.detach().clone() for k, v in _params(params).items()}
    optimizer = Adam([current[k] for k in PARAM_NAMES], lr=lr, betas=betas, eps=eps)
    losses = []
    for x, y in batches:
        loss, grads = notes_loss_and_grads(current, x, y)
        optimizer.step([grads[k] for k in PARAM_NAMES])
        losses.append(loss.item())
    return losses, current
