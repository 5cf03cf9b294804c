"""cnnnotes.learn.losses against F.cross_entropy and its autograd gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnnotes.learn import losses
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Case, Draw, draw_cases

F64 = torch.float64
TOL = 1e-12


pytestmark = pytest.mark.usefixtures("one_thread")


def logits_case(draw: Draw) -> Case:
    """``(logits, target)``: 1–16 examples, 1–12 classes, logits of scale 1, 10 or 1000
    (1000: a naive exp overflows)."""
    n, c = draw.int(1, 16), draw.int(1, 12)
    z = draw.pick((1.0, 10.0, 1000.0)) * draw.tensor(n, c)
    return {"logits": z, "target": torch.tensor(draw.ints(n, 0, c - 1))}


def test_cross_entropy_and_softmax_match_pytorch():
    def ours(z, y):
        return losses.cross_entropy(z, y), losses.log_softmax(z), losses.softmax(z)

    def pytorch(z, y):
        return F.cross_entropy(z, y), F.log_softmax(z, 1), F.softmax(z, 1)

    result = agree(ours, pytorch, logits_case, n_cases=600, tol=TOL, claim="cross-entropy")
    assert result.ok, str(result)


def test_cross_entropy_backward_matches_autograd():
    def autograd(z, y):
        z.requires_grad_()
        F.cross_entropy(z, y).backward()
        return z.grad

    result = agree(losses.cross_entropy_backward, autograd, logits_case, n_cases=600, seed=1,
                   tol=TOL, claim="cross_entropy_backward")  # fmt: skip
    assert result.ok, str(result)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_cross_entropy_and_backward_equal_pytorch_without_the_oracle(scale):
    """Plain assert_close against F.cross_entropy and autograd: a broken oracle
    (agree/matches/verdict) cannot hide a broken loss."""
    g = torch.Generator().manual_seed(4)
    z = scale * torch.randn(9, 5, generator=g, dtype=F64)
    y = torch.randint(0, 5, (9,), generator=g)
    zr = z.clone().requires_grad_()
    want = F.cross_entropy(zr, y)
    (grad,) = torch.autograd.grad(want, zr)
    torch.testing.assert_close(losses.cross_entropy(z, y), want.detach(), rtol=TOL, atol=TOL)
    torch.testing.assert_close(losses.cross_entropy_backward(z, y), grad, rtol=TOL, atol=TOL)
    torch.testing.assert_close(losses.log_softmax(z), F.log_softmax(z, 1), rtol=TOL, atol=TOL)
    torch.testing.assert_close(losses.softmax(z), F.softmax(z, 1), rtol=TOL, atol=TOL)


class CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, y):
        ctx.save_for_backward(z, y)
        return losses.cross_entropy(z, y)

    @staticmethod
    def backward(ctx, grad):
        z, y = ctx.saved_tensors
        return grad * losses.cross_entropy_backward(z, y), None


def test_gradcheck_cross_entropy_backward():
    for case in draw_cases(logits_case, 30, seed=2):
        z, y = case["logits"], case["target"]
        z = (z / z.abs().max().clamp(min=1) * 3).requires_grad_()  # keep finite differences sane
        assert torch.autograd.gradcheck(CrossEntropy.apply, (z, y))


def test_stable_for_huge_logits():
    z = torch.tensor([[1e4, 0.0, -1e4]], dtype=torch.float32)
    assert losses.cross_entropy(z, torch.tensor([2])).item() == pytest.approx(2e4)
    assert torch.isfinite(losses.cross_entropy_backward(z, torch.tensor([2]))).all()


@pytest.mark.parametrize(
    ("z", "y", "error", "match"),
    [
        (torch.zeros(2, 3), torch.tensor([0.0, 1.0]), TypeError, r"integer class labels.*float32"),
        (torch.zeros(2, 3), torch.tensor([True, False]), TypeError, r"integer class labels.*bool"),
        (torch.zeros(2, 3), torch.tensor([0, 3]), ValueError, r"target\[1\] = 3 .* 0 \.\. 2"),
        (torch.zeros(2, 3), torch.tensor([-1, 0]), ValueError, r"target\[0\] = -1 is not a class"),
        (torch.zeros(2, 3), torch.tensor([0, 1, 2]), ValueError, r"target must have shape \(2,\)"),
        (torch.zeros(2, 3), [0, 1], TypeError, r"target must be a torch.Tensor"),
        (torch.zeros(3), torch.tensor([0]), ValueError, r"logits must have shape \(N, C\)"),
        (torch.zeros(0, 3), torch.tensor([]), ValueError, r"N >= 1 examples"),
        (torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 1]), TypeError, r"floating-point"),
        ("logits", torch.tensor([0, 1]), TypeError, r"logits must be a torch.Tensor"),
    ],
)
@pytest.mark.parametrize("fn", [losses.cross_entropy, losses.cross_entropy_backward])
def test_bad_input(fn, z, y, error, match):
    with pytest.raises(error, match=match):
        fn(z, y)
