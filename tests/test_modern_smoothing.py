"""cnnnotes.modern.smoothing against F.cross_entropy(label_smoothing=ε) and autograd."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cnnnotes.learn.losses import cross_entropy
from cnnnotes.modern.smoothing import (
    smoothed_cross_entropy,
    smoothed_cross_entropy_backward,
    smoothed_targets,
)
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Case, Draw

F64 = torch.float64

pytestmark = pytest.mark.usefixtures("one_thread")


def logits_case(draw: Draw) -> Case:
    """1-16 rows of 1-12 classes, logits of scale up to 50 (large ones test stability), and
    an ε from 0 to 1."""
    n, c = draw.int(1, 16), draw.int(1, 12)
    return {
        "logits": draw.tensor(n, c) * draw.pick([0.1, 1.0, 5.0, 50.0]),
        "target": torch.tensor(draw.ints(n, 0, c - 1)),
        "eps": draw.pick([0.0, 0.05, 0.1, 0.2, 0.5, 1.0, draw.int(0, 100) / 100]),
    }


def test_loss_matches_f_cross_entropy_with_label_smoothing():
    def pytorch(z, y, eps):
        return F.cross_entropy(z, y, label_smoothing=eps)

    result = agree(smoothed_cross_entropy, pytorch, logits_case, n_cases=600,
                   claim="label-smoothed cross-entropy")  # fmt: skip
    assert result.ok, str(result)


def test_gradient_matches_autograd():
    def autograd(z, y, eps):
        z = z.requires_grad_()
        F.cross_entropy(z, y, label_smoothing=eps).backward()
        return z.grad

    result = agree(smoothed_cross_entropy_backward, autograd, logits_case, n_cases=600, seed=1,
                   claim="label-smoothed gradient")  # fmt: skip
    assert result.ok, str(result)


def test_one_batch_against_pytorch():
    """Oracle-free: one batch, loss and gradient."""
    g = torch.Generator().manual_seed(2)
    z = torch.randn(8, 10, generator=g, dtype=F64, requires_grad=True)
    y = torch.randint(0, 10, (8,), generator=g)
    loss = F.cross_entropy(z, y, label_smoothing=0.1)
    loss.backward()
    torch.testing.assert_close(smoothed_cross_entropy(z.detach(), y, 0.1), loss.detach())
    torch.testing.assert_close(smoothed_cross_entropy_backward(z.detach(), y, 0.1), z.grad)


def test_no_smoothing_is_plain_cross_entropy_and_targets_sum_to_one():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(5, 4, generator=g, dtype=F64)
    y = torch.randint(0, 4, (5,), generator=g)
    torch.testing.assert_close(smoothed_cross_entropy(z, y, 0.0), cross_entropy(z, y))
    q = smoothed_targets(y, 4, 0.3, F64)
    torch.testing.assert_close(q.sum(dim=1), torch.ones(5, dtype=F64))
    assert torch.equal(q.argmax(dim=1), y) and q.min() == pytest.approx(0.3 / 4)


def test_the_optimum_is_a_finite_logit_gap():
    """The gradient vanishes at the logit gap log((1 − ε + ε/C)/(ε/C)), not at infinity."""
    eps, c = 0.1, 10
    gap = math.log((1 - eps + eps / c) / (eps / c))
    z = torch.zeros(1, c, dtype=F64)
    z[0, 3] = gap
    grad = smoothed_cross_entropy_backward(z, torch.tensor([3]), eps)
    torch.testing.assert_close(grad, torch.zeros_like(grad), rtol=0, atol=1e-15)
    z[0, 3] = gap + 1.0  # more confident than the target: pushed back
    assert smoothed_cross_entropy_backward(z, torch.tensor([3]), eps)[0, 3] > 0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: smoothed_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3])),
            ValueError,
            r"not a class label",
        ),
        (
            lambda: smoothed_cross_entropy(torch.zeros(2, 3), torch.tensor([0])),
            ValueError,
            r"one label per row",
        ),
        (
            lambda: smoothed_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), 1.5),
            ValueError,
            r"eps must be",
        ),
        (
            lambda: smoothed_cross_entropy(torch.zeros(2, 3), torch.tensor([0.0, 1.0])),
            TypeError,
            r"integer",
        ),
        (
            lambda: smoothed_cross_entropy(torch.zeros(3), torch.tensor([0])),
            ValueError,
            r"shape \(N, C\)",
        ),
        (lambda: smoothed_cross_entropy_backward([[0.0]], torch.tensor([0])), TypeError, r"logits"),
        (lambda: smoothed_targets(torch.tensor([0]), 0, 0.1), ValueError, r"num_classes"),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
