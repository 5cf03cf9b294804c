"""Self-checks for the backpropagation exercises: the gradients of the loss and of max pooling.

The expected values come from PyTorch's autograd, on a fixed grid of cases (one
``NamedTuple`` per case, its fields the arguments the exercise asks for). When an
answer fails, the message shows the first failing case and, if the wrong output is
exactly what a classic mistake gives (forgot ``/ N``, gradient to every tied maximum,
…), names that mistake. The convolution's check is
:func:`cnnnotes.check.conv_backward.check_conv2d_backward`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnnotes.check.core import check_tensors
from cnnnotes.conv.backprop import avg_pool2d_backward

Hint = tuple[str, Tensor]
"""A classic mistake, and the output it gives on the current case."""


def autograd_grads(
    f: Callable[..., Tensor], inputs: tuple[Tensor, ...], grad_out: Tensor
) -> list[Tensor]:
    """Autograd's gradients of ``f(*inputs)`` for the upstream gradient ``grad_out``.

    >>> two, three = torch.tensor(2.0), torch.tensor(3.0)
    >>> autograd_grads(lambda a, b: a * b, (two, three), torch.tensor(1.0))
    [tensor(3.), tensor(2.)]
    """
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    f(*leaves).backward(grad_out)
    return [t.grad for t in leaves]


class CrossEntropyCase(NamedTuple):
    """A case of :func:`check_cross_entropy_grad`: ``logits`` of shape ``(N, K)``, times
    ``scale``; the target labels are drawn at random."""

    logits: tuple[int, int]
    scale: float
    drawn = ("target",)


_E = CrossEntropyCase
CROSS_ENTROPY_CASES = (
    _E((4, 10), 1), _E((8, 3), 1), _E((1, 5), 1), _E((16, 10), 3),
    _E((2, 2), 1), _E((5, 7), 10), _E((3, 10), 100), _E((6, 4), 200),
)  # fmt: skip
"""The cases of :func:`check_cross_entropy_grad`; scales 100 and 200 overflow a naive softmax."""


def check_cross_entropy_grad(fn: Callable[[Tensor, Tensor], Tensor], *, seed: int = 0) -> str:
    """Check ``fn(logits, target)`` → ``∂ F.cross_entropy / ∂ logits`` (mean over the batch).

    >>> from cnnnotes.learn.losses import cross_entropy_backward
    >>> check_cross_entropy_grad(cross_entropy_backward)
    'All 8 cases match autograd of F.cross_entropy.'
    >>> msg = check_cross_entropy_grad(lambda z, y: z.softmax(1) - F.one_hot(y, z.shape[1]))
    >>> msg.split(" It looks")[1]
    ' like you forgot to divide by the batch size N (the loss is a mean over the batch).'
    """
    g = torch.Generator().manual_seed(seed)

    def cases():
        for (n, k), scale in CROSS_ENTROPY_CASES:
            z = scale * torch.randn(n, k, generator=g)
            y = torch.randint(0, k, (n,), generator=g)
            want = autograd_grads(lambda z: F.cross_entropy(z, y), (z,), torch.tensor(1.0))[0]  # noqa: B023
            onehot = F.one_hot(y, k).float()
            hints: list[Hint] = [
                (
                    "forgot to divide by the batch size N (the loss is a mean over the batch)",
                    want * n,
                ),
                (
                    "divided by the number of classes K instead of the batch size N",
                    want * n / k,
                ),
                ("flipped the sign: the gradient is softmax − onehot, not onehot − softmax", -want),
                ("forgot to subtract the one-hot target", z.softmax(1) / n),
                (
                    "took the softmax over the batch (dim 0) instead of the classes (dim 1)",
                    (z.softmax(0) - onehot) / n,
                ),
                (
                    "let exp overflow: subtract each row's maximum before exp (log-sum-exp)",
                    (z.exp() / z.exp().sum(1, keepdim=True) - onehot) / n,
                ),
            ]
            yield f"logits ({n}, {k}) × {scale}, target {y.tolist()}", (z, y), want, hints

    return check_tensors(fn, cases(), "autograd of F.cross_entropy")


def _slip_max_backward(grad_out: Tensor, x: Tensor, k: int, s: int, p: int, slip: str) -> Tensor:
    """Max pooling's backward pass with one classic slip: ``"every"`` tied maximum gets the
    gradient, the ``"last"`` one gets it, or the input is padded with ``"zeros"``."""
    n, c, h, w = x.shape
    big = x.new_full((n, c, h + 2 * p, w + 2 * p), 0.0 if slip == "zeros" else -torch.inf)
    big[:, :, p : p + h, p : p + w] = x
    grad = torch.zeros_like(big)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            rows, cols = slice(i * s, i * s + k), slice(j * s, j * s + k)
            win = big[:, :, rows, cols].reshape(n, c, k * k)
            top = win == win.amax(dim=2, keepdim=True)
            if slip == "last":
                top = F.one_hot(k * k - 1 - top.flip(2).int().argmax(2), k * k).bool()
            elif slip == "zeros":
                top = F.one_hot(top.int().argmax(2), k * k).bool()
            share = top * grad_out[:, :, i, j, None]
            grad[:, :, rows, cols] += share.reshape(n, c, k, k)
    return grad[:, :, p : p + h, p : p + w]


class PoolBackwardCase(NamedTuple):
    """A case of :func:`check_max_pool_backward`; ``values`` says how ``x`` is drawn
    (``"distinct"``, ``"ties"``: small integers, ``"negative"``: all below 0) and
    ``grad_out`` is drawn at random."""

    x: tuple[int, int, int, int]
    kernel_size: int
    stride: int
    padding: int
    values: str
    drawn = ("grad_out",)


_P = PoolBackwardCase
POOL_BACKWARD_CASES = (
    _P((1, 1, 4, 4), 2, 2, 0, "distinct"), _P((2, 3, 6, 6), 2, 2, 0, "distinct"),
    _P((1, 2, 7, 7), 3, 2, 0, "distinct"), _P((2, 1, 5, 6), 3, 1, 1, "distinct"),
    _P((1, 1, 4, 4), 2, 2, 0, "ties"), _P((2, 2, 6, 6), 2, 2, 0, "ties"),
    _P((1, 2, 7, 5), 3, 2, 1, "ties"), _P((1, 1, 6, 6), 3, 1, 0, "ties"),
    _P((2, 2, 5, 5), 3, 2, 1, "negative"),
)  # fmt: skip
"""The cases of :func:`check_max_pool_backward`."""

_VALUES = {"distinct": "distinct values", "ties": "with ties", "negative": "all negative"}


def check_max_pool_backward(fn: Callable, *, seed: int = 0) -> str:
    """Check ``fn(grad_out, x, kernel_size, stride, padding)`` → ``∂ / ∂ x`` of ``F.max_pool2d``.

    Some cases have ties (integer-valued ``x``): PyTorch's current kernels give the
    whole gradient to the first maximum in the window's scan order (row by row), none
    to the others. One padded case is all negative, so a zero padding would win.

    >>> from cnnnotes.conv.backprop import max_pool2d_backward
    >>> check_max_pool_backward(max_pool2d_backward)
    'All 9 cases match autograd of F.max_pool2d.'
    """
    g = torch.Generator().manual_seed(seed)

    def cases():
        for xs, k, s, p, values in POOL_BACKWARD_CASES:
            x = torch.randn(xs, generator=g)
            if values == "ties":
                x = torch.randint(0, 3, xs, generator=g).float()
            elif values == "negative":
                x = -0.1 - x.abs()
            grad_out = torch.randn(F.max_pool2d(x, k, s, p).shape, generator=g)
            want = autograd_grads(lambda x: F.max_pool2d(x, k, s, p), (x,), grad_out)[0]  # noqa: B023
            hints: list[Hint] = [
                (
                    "sent the gradient to every maximum of a window; with ties only the first "
                    "one (in scan order) gets it",
                    _slip_max_backward(grad_out, x, k, s, p, "every"),
                ),
                (
                    "sent the gradient to the last maximum of a tie; PyTorch gives it to the "
                    "first one in scan order",
                    _slip_max_backward(grad_out, x, k, s, p, "last"),
                ),
                (
                    "padded with zeros: pad with −∞, so that a padding cell is never the maximum",
                    _slip_max_backward(grad_out, x, k, s, p, "zeros"),
                ),
                (
                    "spread the gradient evenly over the window (that is average pooling)",
                    avg_pool2d_backward(grad_out, x, k, s, p),
                ),
            ]
            case = f"x {xs} ({_VALUES[values]}), kernel_size={k}, stride={s}, padding={p}"
            yield case, (grad_out, x, k, s, p), want, hints

    return check_tensors(fn, cases(), "autograd of F.max_pool2d")
