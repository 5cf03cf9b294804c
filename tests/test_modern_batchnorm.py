"""cnnnotes.modern.batchnorm against F.batch_norm (forward, running statistics) and autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import refusing

from cnnnotes.modern.batchnorm import batch_norm, batch_norm_backward
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Case, Draw, draw_cases

F64 = torch.float64

pytestmark = pytest.mark.usefixtures("one_thread")


def bn_case(draw: Draw) -> Case:
    """An (N, C), (N, C, L) or (N, C, H, W) input (N·H·W may be 1: train mode refuses it),
    positive running variances, affine or not, train or eval, and random eps and momentum."""
    n, c = draw.int(1, 4), draw.int(1, 4)
    spatial = [draw.int(1, 4) for _ in range(draw.int(0, 2))]
    x = draw.tensor(n, c, *spatial) * draw.int(1, 5) + draw.int(-3, 3)
    affine = draw.flag()
    return {
        "x": x,
        "running_mean": draw.tensor(c),
        "running_var": draw.tensor(c).abs() + 0.1,
        "gamma": draw.tensor(c) if affine else None,
        "beta": draw.tensor(c) if affine else None,
        "training": draw.int(0, 3) > 0,
        "momentum": draw.pick([0.0, 0.1, 0.5, 1.0, draw.int(1, 99) / 100]),
        "eps": draw.pick([1e-5, 1e-3, 0.1, 1e-12]) if draw.flag() else 1e-5,
        "grad_out": draw.tensor(n, c, *spatial),
    }


def _ours_forward(x, rm, rv, gamma, beta, training, momentum, eps, grad_out):
    return batch_norm(x, rm, rv, gamma, beta, training, momentum, eps)


def _torch_forward(x, rm, rv, gamma, beta, training, momentum, eps, grad_out):
    y = F.batch_norm(x, rm, rv, gamma, beta, training, momentum, eps)  # updates rm, rv in place
    return y, rm, rv


def test_forward_and_running_statistics_match_f_batch_norm():
    result = agree(refusing(_ours_forward, ValueError, "more than 1 value"),
                   refusing(_torch_forward, ValueError, "more than 1 value"),
                   bn_case, n_cases=600, claim="batch_norm forward")  # fmt: skip
    assert result.ok, str(result)
    one_value = [
        c["training"] and c["x"].numel() == c["x"].shape[1] for c in draw_cases(bn_case, 600)
    ]
    assert 0 < sum(one_value) < 100  # a few of the cases were refused by both, as they should


def _ours_backward(x, rm, rv, gamma, beta, training, momentum, eps, grad_out):
    return batch_norm_backward(grad_out, x, gamma, rm, rv, training, eps)


def _autograd_backward(x, rm, rv, gamma, beta, training, momentum, eps, grad_out):
    c = x.shape[1]
    g = (torch.ones(c, dtype=F64) if gamma is None else gamma).requires_grad_()
    b = (torch.zeros(c, dtype=F64) if beta is None else beta).requires_grad_()
    x = x.requires_grad_()
    F.batch_norm(x, rm, rv, g, b, training, momentum, eps).backward(grad_out)
    return x.grad, g.grad, b.grad


def test_backward_matches_autograd():
    result = agree(refusing(_ours_backward, ValueError, "more than 1 value"),
                   refusing(_autograd_backward, ValueError, "more than 1 value"),
                   bn_case, n_cases=600, seed=1, claim="batch_norm backward")  # fmt: skip
    assert result.ok, str(result)


class BatchNorm(torch.autograd.Function):
    """Our forward with our backward (train mode): gradcheck judges the backward."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        ctx.save_for_backward(x, gamma)
        ctx.eps = eps
        return batch_norm(x, gamma=gamma, beta=beta, eps=eps)[0]

    @staticmethod
    def backward(ctx, grad_out):
        x, gamma = ctx.saved_tensors
        return (*batch_norm_backward(grad_out, x, gamma, eps=ctx.eps), None)


def test_gradcheck_of_the_backward_pass():
    def make(draw: Draw) -> Case:
        c = draw.int(1, 3)
        return {"x": draw.tensor(draw.int(2, 3), c, 2, draw.int(1, 3)), "g": draw.tensor(c),
                "b": draw.tensor(c)}  # fmt: skip

    for case in draw_cases(make, 10, seed=2):
        args = [case[k].requires_grad_() for k in ("x", "g", "b")]
        assert torch.autograd.gradcheck(lambda x, g, b: BatchNorm.apply(x, g, b, 1e-3), args)


def test_one_layer_against_nn_batchnorm2d_over_steps():
    """Oracle-free: three training batches then eval, against nn.BatchNorm2d's own state."""
    g = torch.Generator().manual_seed(3)
    layer = torch.nn.BatchNorm2d(3, momentum=0.2, dtype=F64)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(3, generator=g, dtype=F64))
        layer.bias.copy_(torch.randn(3, generator=g, dtype=F64))
    rm, rv = torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64)
    for _ in range(3):
        x = torch.randn(4, 3, 5, 5, generator=g, dtype=F64) * 2 + 1
        ours, rm, rv = batch_norm(x, rm, rv, layer.weight.detach(), layer.bias.detach(),
                                  momentum=0.2)  # fmt: skip
        torch.testing.assert_close(ours, layer.train()(x).detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rm, layer.running_mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rv, layer.running_var, rtol=1e-12, atol=1e-12)
    x = torch.randn(2, 3, 5, 5, generator=g, dtype=F64)
    ours = batch_norm(x, rm, rv, layer.weight.detach(), layer.bias.detach(), training=False)[0]
    torch.testing.assert_close(ours, layer.eval()(x).detach(), rtol=1e-12, atol=1e-12)


def test_a_bias_before_batch_norm_is_cancelled_in_train_mode():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(4, 3, 2, 2, generator=g, dtype=F64)
    bias = torch.randn(1, 3, 1, 1, generator=g, dtype=F64)
    torch.testing.assert_close(batch_norm(x + bias)[0], batch_norm(x)[0], rtol=1e-12, atol=1e-12)
    rm, rv = torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64)
    moved = (
        batch_norm(x + bias, rm, rv, training=False)[0] - batch_norm(x, rm, rv, training=False)[0]
    )
    assert moved.abs().min() > 0  # in eval mode the bias is not cancelled


def test_train_mode_output_has_zero_mean_and_unit_variance_per_channel():
    x = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(5), dtype=F64) * 5 + 2
    y = batch_norm(x, eps=1e-12)[0]
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(4, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(4, dtype=F64))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: batch_norm([1.0]), TypeError, r"x must be a torch.Tensor"),
        (lambda: batch_norm(torch.zeros(3)), ValueError, r"shape \(N, C, \*\)"),
        (lambda: batch_norm(torch.zeros(2, 3, dtype=torch.long)), TypeError, r"floating-point"),
        (lambda: batch_norm(torch.zeros(1, 3)), ValueError, r"more than 1 value per channel"),
        (lambda: batch_norm(torch.zeros(2, 3), training=False), ValueError, r"running_mean"),
        (
            lambda: batch_norm(torch.zeros(2, 3), gamma=torch.ones(2)),
            ValueError,
            r"gamma must have shape \(3,\)",
        ),
        (
            lambda: batch_norm(torch.zeros(2, 3), gamma=torch.ones(3, dtype=F64)),
            TypeError,
            r"gamma dtype",
        ),
        (
            lambda: batch_norm(torch.zeros(2, 3), momentum=1.5),
            ValueError,
            r"momentum must be a number in \[0, 1\]",
        ),
        (lambda: batch_norm(torch.zeros(2, 3), eps=-1.0), ValueError, r"eps must be a number > 0"),
        (
            lambda: batch_norm(torch.zeros(2, 3), training=1),
            TypeError,
            r"training must be True or False",
        ),
        (
            lambda: batch_norm_backward(torch.zeros(2, 2), torch.zeros(2, 3)),
            ValueError,
            r"grad_out must have x's shape",
        ),
        (
            lambda: batch_norm_backward(torch.zeros(2, 3, dtype=F64), torch.zeros(2, 3)),
            TypeError,
            r"grad_out dtype",
        ),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
