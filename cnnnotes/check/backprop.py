"""Self-checks for the backpropagation exercises: the gradients of a loss, a convolution, a pool.

The expected values come from PyTorch's autograd. When an answer fails, the
message shows the first failing case and, if the wrong output is exactly what a
classic mistake gives (forgot ``/ N``, unflipped kernel, gradient to every tied
maximum, …), names that mistake.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnnotes.check.core import check_tensors
from cnnnotes.conv.backprop import avg_pool2d_backward, conv_transpose2d

Hint = tuple[str, Tensor]
"""A classic mistake, and the output it gives on the current case."""


def _grad(f: Callable[..., Tensor], inputs: tuple[Tensor, ...], grad_out: Tensor) -> list[Tensor]:
    """Autograd's gradients of ``f(*inputs)`` for the upstream gradient ``grad_out``."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    f(*leaves).backward(grad_out)
    return [t.grad for t in leaves]


CROSS_ENTROPY_CASES = (
    (4, 10, 1), (8, 3, 1), (1, 5, 1), (16, 10, 3),
    (2, 2, 1), (5, 7, 10), (3, 10, 100), (6, 4, 200),
)  # fmt: skip
"""``(batch size, classes, logit scale)`` cases of :func:`check_cross_entropy_grad`."""


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
        for n, c, scale in CROSS_ENTROPY_CASES:
            z = scale * torch.randn(n, c, generator=g)
            y = torch.randint(0, c, (n,), generator=g)
            want = _grad(lambda z: F.cross_entropy(z, y), (z,), torch.tensor(1.0))[0]  # noqa: B023
            onehot = F.one_hot(y, c).float()
            hints: list[Hint] = [
                (
                    "forgot to divide by the batch size N (the loss is a mean over the batch)",
                    want * n,
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
            yield f"logits ({n}, {c}) × {scale}, target {y.tolist()}", (z, y), want, hints

    return check_tensors(fn, cases(), "autograd of F.cross_entropy")


CONV_BACKWARD_CASES = (
    ((2, 1, 5, 5), (1, 1, 3, 3), 1), ((1, 1, 5, 5), (1, 1, 3, 3), 1),
    ((2, 3, 6, 6), (4, 3, 3, 3), 1), ((1, 2, 7, 5), (3, 2, 3, 2), 1),
    ((2, 2, 4, 4), (2, 2, 4, 4), 1), ((3, 1, 6, 7), (2, 1, 2, 2), 1),
    ((1, 3, 5, 5), (2, 3, 1, 1), 1),
    ((2, 1, 7, 7), (1, 1, 3, 3), 2), ((2, 2, 8, 8), (3, 2, 3, 3), 2),
    ((1, 3, 9, 7), (2, 3, 2, 3), 3), ((2, 1, 6, 6), (1, 1, 2, 2), 2),
    ((1, 2, 10, 9), (2, 2, 4, 3), 3),
)  # fmt: skip
"""``(x shape, weight shape, stride)`` cases of :func:`check_conv2d_backward` (no padding)."""


def check_conv2d_backward(fn: Callable, *, stride: int | None = 1, seed: int = 0) -> str:
    """Check ``fn(grad_out, x, weight, stride)`` → ``(grad_x, grad_weight, grad_bias)``.

    The gradients of ``F.conv2d(x, weight, bias, stride)`` (no padding) for the
    upstream gradient ``grad_out``. ``stride=1`` checks stride-1 cases only (``fn``
    may ignore its ``stride``), ``stride=2`` or ``3`` only that stride, and
    ``stride=None`` every case (strides 1, 2 and 3). Each case counts three times,
    once per gradient.

    >>> from cnnnotes.conv.backprop import conv2d_backward
    >>> check_conv2d_backward(conv2d_backward, stride=None)
    'All 36 cases match autograd of F.conv2d.'
    """
    if stride is not None and stride not in (1, 2, 3):
        raise ValueError(f"stride must be 1, 2, 3 or None (all of them), got {stride!r}")
    g = torch.Generator().manual_seed(seed)
    names = ("grad_x", "grad_weight", "grad_bias")

    def part(i: int, *args: object) -> object:
        out = fn(*args)
        if not (isinstance(out, tuple | list) and len(out) == 3):
            raise TypeError(f"return a tuple {names}, not {type(out).__name__}")
        return out[i]

    def cases():
        for xs, ws, s in CONV_BACKWARD_CASES:
            if stride is not None and s != stride:
                continue
            x, w, b = (torch.randn(shape, generator=g) for shape in (xs, ws, ws[:1]))
            grad_out = torch.randn(F.conv2d(x, w, b, s).shape, generator=g)
            want = _grad(lambda x, w, b: F.conv2d(x, w, b, s), (x, w, b), grad_out)  # noqa: B023
            op = (xs[2] - ws[2]) % s, (xs[3] - ws[3]) % s  # rows the convolution never read
            unflipped = conv_transpose2d(grad_out, w.flip(2, 3), None, s, 0, op)
            hints: list[list[Hint]] = [
                [
                    (
                        "used the unflipped kernel: grad_x needs the kernel flipped (rotated 180°)",
                        unflipped,
                    ),
                    (
                        "used the stride-1 formula: for stride s, spread grad_out with s−1 zeros "
                        "between its entries (a transposed convolution)",
                        conv_transpose2d(grad_out, w),
                    ),
                ],
                [
                    (
                        "divided grad_weight by the batch size N: grad_out already holds the 1/N",
                        want[1] / xs[0],
                    )
                ],
                [
                    (
                        "averaged grad_bias instead of summing over the batch and all positions",
                        grad_out.mean(dim=(0, 2, 3)),
                    ),
                    (
                        "summed grad_bias over the positions of the first example only",
                        grad_out[0].sum(dim=(1, 2)),
                    ),
                ],
            ]
            case = f"x {xs}, weight {ws}, stride={s}"
            for i in range(3):
                yield f"{names[i]} of {case}", (i, grad_out, x, w, s), want[i], hints[i]

    return check_tensors(part, cases(), "autograd of F.conv2d")


def _every_max_backward(grad_out: Tensor, x: Tensor, k: int, s: int, p: int) -> Tensor:
    """The classic mistake: send each window's gradient to *all* its tied maxima."""
    out = F.max_pool2d(x, k, s, p)
    n, c, h, w = x.shape
    xp = x.new_zeros(n, c, h + 2 * p, w + 2 * p)
    big = x.new_full((n, c, h + 2 * p, w + 2 * p), -torch.inf)
    big[:, :, p : p + h, p : p + w] = x
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            win = big[:, :, i * s : i * s + k, j * s : j * s + k]
            hit = win == out[:, :, i, j, None, None]
            xp[:, :, i * s : i * s + k, j * s : j * s + k] += hit * grad_out[:, :, i, j, None, None]
    return xp[:, :, p : p + h, p : p + w]


POOL_BACKWARD_CASES = (
    ((1, 1, 4, 4), 2, 2, 0, False), ((2, 3, 6, 6), 2, 2, 0, False),
    ((1, 2, 7, 7), 3, 2, 0, False), ((2, 1, 5, 6), 3, 1, 1, False),
    ((1, 1, 4, 4), 2, 2, 0, True), ((2, 2, 6, 6), 2, 2, 0, True),
    ((1, 2, 7, 5), 3, 2, 1, True), ((1, 1, 6, 6), 3, 1, 0, True),
)  # fmt: skip
"""``(x shape, kernel_size, stride, padding, ties)`` cases of :func:`check_max_pool_backward`."""


def check_max_pool_backward(fn: Callable, *, seed: int = 0) -> str:
    """Check ``fn(grad_out, x, kernel_size, stride, padding)`` → ``∂ / ∂ x`` of ``F.max_pool2d``.

    Later cases have ties (integer-valued ``x``): PyTorch gives the whole gradient to
    the first maximum in the window's scan order (row by row), none to the others.

    >>> from cnnnotes.conv.backprop import max_pool2d_backward
    >>> check_max_pool_backward(max_pool2d_backward)
    'All 8 cases match autograd of F.max_pool2d.'
    """
    g = torch.Generator().manual_seed(seed)

    def cases():
        for xs, k, s, p, ties in POOL_BACKWARD_CASES:
            x = torch.randn(xs, generator=g)
            if ties:
                x = torch.randint(0, 3, xs, generator=g).float()
            grad_out = torch.randn(F.max_pool2d(x, k, s, p).shape, generator=g)
            want = _grad(lambda x: F.max_pool2d(x, k, s, p), (x,), grad_out)[0]  # noqa: B023
            hints: list[Hint] = [
                (
                    "sent the gradient to every maximum of a window; with ties only the first "
                    "one (in scan order) gets it",
                    _every_max_backward(grad_out, x, k, s, p),
                ),
                (
                    "spread the gradient evenly over the window (that is average pooling)",
                    avg_pool2d_backward(grad_out, x, k, s, p),
                ),
            ]
            kind = "with ties" if ties else "distinct values"
            case = f"x {xs} ({kind}), kernel_size={k}, stride={s}, padding={p}"
            yield case, (grad_out, x, k, s, p), want, hints

    return check_tensors(fn, cases(), "autograd of F.max_pool2d")
