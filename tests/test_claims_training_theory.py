"""The claims of chapters 7 (loss and backprop) and 8 (optimisers), over many cases.

Each chapter states a claim once and checks it once, visibly; the repeated and
secondary checks of the same claims live here, each one call of
:func:`cnnnotes.oracle.agree` against PyTorch (or against the formula the chapter
derives).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import int_or_pair, refusing
from torch import nn

from cnnnotes.conv import backprop, ops
from cnnnotes.conv.dense import conv_as_matrix
from cnnnotes.conv.shapes import conv_transpose_output_size
from cnnnotes.learn import losses, optim
from cnnnotes.oracle import agree, cases
from cnnnotes.oracle.cases import Draw

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64


def _autograd(fn, inputs, grad_out) -> tuple[torch.Tensor, ...]:
    """Autograd's gradients of ``fn(*inputs)`` for the upstream gradient ``grad_out``."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    fn(*leaves).backward(grad_out)
    return tuple(t.grad for t in leaves)


# ---------------------------------------------------------------- chapter 7: the loss


def logits_case(draw: Draw) -> dict:
    """A batch of logits (sometimes of order 1,000) and labels."""
    n, c = draw.int(1, 16), draw.int(2, 10)
    scale = draw.pick([1, 10, 1000])
    return {"logits": scale * draw.tensor(n, c), "target": torch.tensor(draw.ints(n, 0, c - 1))}


def test_the_definition_is_f_cross_entropy_and_softmax_rows_sum_to_one():
    """(eq-lb-softmax), (eq-lb-ce), (eq-lb-batch-loss) written out, on moderate logits."""

    def definition(z, y):
        p = z.exp() / z.exp().sum(dim=1, keepdim=True)
        return -p[torch.arange(len(y)), y].log().mean(), p.sum(dim=1)

    def reference(z, y):
        return F.cross_entropy(z, y), torch.ones(len(y), dtype=F64)

    def moderate(draw: Draw) -> dict:
        case = logits_case(draw)
        return {**case, "logits": case["logits"].clamp(-30, 30)}

    result = agree(definition, reference, moderate, n_cases=300, claim="definition")
    assert result.ok, str(result)


def test_log_sum_exp_form_is_shift_invariant_and_finite():
    """thm-lb-lse: the stable loss does not change when every logit moves by m."""

    def shifted(z, y, m):
        return losses.cross_entropy(z + m, y)

    def unshifted(z, y, m):
        return F.cross_entropy(z, y)

    def case(draw: Draw) -> dict:
        return {**logits_case(draw), "m": draw.pick([-500.0, -3.0, 0.0, 7.0, 800.0])}

    result = agree(shifted, unshifted, case, n_cases=300, claim="shift")
    assert result.ok, str(result)


def test_cross_entropy_backward_is_the_formula_and_rows_sum_to_zero():
    """thm-lb-ce-grad: (softmax - one-hot) / N and losses.cross_entropy_backward are
    autograd's gradient, and each row of it sums to 0."""

    def ours(z, y):
        formula = (z.softmax(dim=1) - F.one_hot(y, z.shape[1])) / len(y)
        g = losses.cross_entropy_backward(z, y)
        return formula, g, g.sum(dim=1)

    def reference(z, y):
        g = _autograd(lambda z: F.cross_entropy(z, y), (z,), torch.tensor(1.0, dtype=F64))[0]
        return g, g, torch.zeros(len(y), dtype=F64)

    result = agree(ours, reference, logits_case, n_cases=300, claim="ce backward")
    assert result.ok, str(result)


# ---------------------------------------------------------------- chapter 7: layers


def dense_case(draw: Draw) -> dict:
    n, i, o = draw.int(1, 6), draw.int(1, 7), draw.int(1, 5)
    x, w, b = draw.tensor(n, i), draw.tensor(o, i), draw.tensor(o)
    return {"x": x, "weight": w, "bias": b, "grad": draw.tensor(n, o)}


def test_dense_relu_backward_formula_matches_autograd():
    """thm-lb-dense: GW, G^T X, sum_n G, through a ReLU."""

    def by_hand(x, w, b, g):
        g = g * (F.linear(x, w, b) > 0)
        return g @ w, g.T @ x, g.sum(dim=0)

    def autograd(x, w, b, g):
        return _autograd(lambda x, w, b: F.linear(x, w, b).relu(), (x, w, b), g)

    result = agree(by_hand, autograd, dense_case, n_cases=300, claim="dense")
    assert result.ok, str(result)


def test_flatten_backward_is_a_reshape():
    def by_hand(x, g):
        return g.reshape(x.shape)

    def autograd(x, g):
        return _autograd(lambda x: x.flatten(1), (x,), g)[0]

    def flat_case(draw: Draw) -> dict:
        x = draw.tensor(*draw.ints(4, 1, 5))
        return {"x": x, "grad": draw.tensor(x.shape[0], x[0].numel())}

    result = agree(by_hand, autograd, flat_case, n_cases=100, claim="flatten")
    assert result.ok, str(result)


def stride1_case(draw: Draw) -> dict:
    """A stride-1, dilation-1 convolution with padding below the kernel size."""
    n, c, o, k = draw.int(1, 2), draw.int(1, 3), draw.int(1, 3), draw.int(1, 4)
    p, h, w = draw.int(0, k - 1), draw.int(k, 9), draw.int(k, 9)
    x, wt = draw.tensor(n, c, h, w), draw.tensor(o, c, k, k)
    out = F.conv2d(x, wt, padding=p)
    return {"x": x, "weight": wt, "padding": p, "grad": draw.tensor(*out.shape)}


def test_the_two_readings_of_the_convolution_gradient():
    """thm-lb-conv-grad at stride 1: dL/dX is a full correlation of G with the flipped
    kernel (padding K - 1 - P); dL/dW correlates the input with G."""

    def readings(x, w, p, g):
        k = w.shape[-1]
        gx = F.conv2d(g, w.flip(2, 3).transpose(0, 1), padding=k - 1 - p)
        gw = F.conv2d(x.transpose(0, 1), g.transpose(0, 1), padding=p).transpose(0, 1)
        return gx, gw

    def autograd(x, w, p, g):
        return _autograd(lambda x, w: F.conv2d(x, w, padding=p), (x, w), g)

    result = agree(readings, autograd, stride1_case, n_cases=300, claim="readings")
    assert result.ok, str(result)


def matrix_case(draw: Draw) -> dict:
    """One example, square kernel, any stride and padding (conv_as_matrix's settings)."""
    c, o, k = draw.int(1, 3), draw.int(1, 3), draw.int(1, 4)
    s, p, h = draw.int(1, 3), draw.int(0, 2), draw.int(k, 9)
    x, w = draw.tensor(c, h, h), draw.tensor(o, c, k, k)
    out = F.conv2d(x, w, stride=s, padding=p)
    return {"x": x, "weight": w, "stride": s, "padding": p, "grad": draw.tensor(*out.shape)}


def test_the_input_gradient_is_m_transpose():
    """(eq-lb-mt): vec(dL/dX) = M^T vec(G), for the matrix M of chapter 3."""

    def via_matrix(x, w, s, p, g):
        m = conv_as_matrix(w, x.shape[-1], stride=s, padding=p)
        return (m.T @ g.flatten()).reshape(x.shape)

    def ours(x, w, s, p, g):
        return backprop.conv2d_backward(g[None], x[None], w, s, p)[0][0]

    result = agree(via_matrix, ours, matrix_case, n_cases=200, claim="M^T")
    assert result.ok, str(result)


def tconv_case(draw: Draw) -> dict:
    """A convolution's input, weight and settings, with the output padding that gives the
    input size back."""
    case = cases.conv_tensors(draw)
    x, w = case["input"], case["weight"]
    (s, p, d) = (int_or_pair(draw, case[k]) for k in ("stride", "padding", "dilation"))
    out = F.conv2d(x, w, None, s, p, d)
    pair = case["stride"], case["padding"], case["dilation"]
    k = w.shape[-2:]
    a = tuple(
        (x.shape[2 + i] + 2 * pair[1][i] - pair[2][i] * (k[i] - 1) - 1) % pair[0][i]
        for i in range(2)
    )
    return {"grad": draw.tensor(*out.shape), "x": x, "weight": w, "stride": s, "padding": p,
            "output_padding": a, "dilation": d}  # fmt: skip


def test_conv_transpose2d_is_the_input_gradient_and_matches_pytorch():
    """def-lb-tconv: the transposed convolution of G with the same weight is dL/dX,
    from scratch and in PyTorch."""

    def ours(g, x, w, s, p, a, d):
        return backprop.conv_transpose2d(g, w, None, s, p, a, d), F.conv_transpose2d(
            g, w, None, s, p, a, 1, d
        )

    def reference(g, x, w, s, p, a, d):
        gx = _autograd(lambda x: F.conv2d(x, w, None, s, p, d), (x,), g)[0]
        return gx, gx

    result = agree(ours, reference, tconv_case, n_cases=300, claim="tconv")
    assert result.ok, str(result)


def test_conv_transpose_output_size_refuses_as_pytorch_does():
    """thm-lb-tconv-size, with the exception types: ValueError ours, RuntimeError PyTorch."""

    def case(draw: Draw) -> dict:
        h, k, s = draw.int(1, 12), draw.int(1, 5), draw.int(1, 4)
        p, a, d = draw.int(0, 3), draw.int(0, 3), draw.int(1, 3)
        return {"size": h, "k": k, "s": s, "p": p, "a": a, "d": d}

    def real_size(h, k, s, p, a, d):
        layer = nn.ConvTranspose2d(1, 1, (k, 1), (s, 1), (p, 0), (a, 0), bias=False,
                                   dilation=(d, 1))  # fmt: skip
        return layer(torch.zeros(1, 1, h, 1)).shape[2]

    ours = refusing(conv_transpose_output_size, ValueError)
    result = agree(ours, refusing(real_size, RuntimeError), case, n_cases=1000, claim="size")
    assert result.ok, str(result)


# ---------------------------------------------------------------- chapter 7: pooling


def test_the_chapters_pooling_examples():
    """Ties go to the first maximum; a maximum shared by four windows collects four."""
    ties = torch.tensor(
        [[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 3.0, 2.0], [0.0, 0.0, 4.0, 4.0], [5.0, 0.0, 4.0, 4.0]],
        dtype=F64,
    )[None, None]
    nine = torch.zeros(1, 1, 4, 4, dtype=F64)
    nine[0, 0, 1, 2] = 9.0
    examples = [
        {"x": ties, "k": 2, "s": 2, "p": 0},
        {"x": nine, "k": 3, "s": 1, "p": 0},
        {"x": nine, "k": 3, "s": 1, "p": 1},
    ]

    def ours(x, k, s, p):
        g = torch.ones_like(F.max_pool2d(x, k, s, p))
        return (backprop.max_pool2d_backward(g, x, k, s, p),
                backprop.avg_pool2d_backward(g, x, k, s, p))  # fmt: skip

    def reference(x, k, s, p):
        g = torch.ones_like(F.max_pool2d(x, k, s, p))
        return (_autograd(lambda x: F.max_pool2d(x, k, s, p), (x,), g)[0],
                _autograd(lambda x: F.avg_pool2d(x, k, s, p), (x,), g)[0])  # fmt: skip

    result = agree(ours, reference, examples, claim="examples")
    assert result.ok, str(result)
    assert ours(nine, 3, 1, 0)[0][0, 0, 1, 2] == 4


class _Pool(torch.autograd.Function):
    """The book's pooling both ways (3x3, stride 2, padding 1), for gradcheck."""

    @staticmethod
    def forward(ctx, x, kind):
        ctx.save_for_backward(x)
        ctx.kind = kind
        return (ops.max_pool2d if kind == "max" else ops.avg_pool2d)(x, 3, 2, 1)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        back = backprop.max_pool2d_backward if ctx.kind == "max" else backprop.avg_pool2d_backward
        return back(grad_out, x, 3, 2, 1), None


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_gradcheck_of_the_books_pooling(kind):
    """Finite differences judge the book's pooling backward (random floats: no ties)."""
    g = torch.Generator().manual_seed(6)
    x = torch.randn(2, 3, 7, 6, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: _Pool.apply(x, kind), (x,))


# ---------------------------------------------------------------- chapter 8: optimisers


def optimiser_case(draw: Draw) -> dict:
    """A parameter, a run of gradients and hyperparameters."""
    shape = draw.ints(draw.int(1, 3), 1, 4)
    steps = draw.int(1, 12)
    return {
        "start": draw.tensor(*shape),
        "grads": [draw.tensor(*shape) for _ in range(steps)],
        "lr": draw.pick([1e-3, 0.01, 0.1, 0.5]),
        "betas": (draw.pick([0.0, 0.5, 0.9]), draw.pick([0.9, 0.99, 0.999])),
        "eps": draw.pick([1e-8, 1e-6, 1e-3]),
    }


def _torch_run(opt_class, start, grads, **kw) -> torch.Tensor:
    param = start.clone().requires_grad_()
    opt = opt_class([param], **kw)
    for grad in grads:
        param.grad = grad.clone()
        opt.step()
    return param.detach()


def test_adam_matches_torch_adam_over_random_hyperparameters():
    """def-opt-adam: optim.Adam step for step, beyond the chapter's defaults."""

    def ours(start, grads, lr, betas, eps):
        param = start.clone()
        opt = optim.Adam([param], lr=lr, betas=betas, eps=eps)
        for grad in grads:
            opt.step([grad])
        return param

    def reference(start, grads, lr, betas, eps):
        return _torch_run(torch.optim.Adam, start, grads, lr=lr, betas=betas, eps=eps)

    result = agree(ours, reference, optimiser_case, n_cases=100, claim="Adam")
    assert result.ok, str(result)


def test_sgd_with_momentum_matches_torch_and_the_unrolled_sum():
    """def-opt-momentum: sgd_step is torch.optim.SGD, and v_t = sum_k mu^(t-k) g_k."""

    def ours(start, grads, lr, betas, eps):
        mu, param, v = betas[0], start.clone(), None
        for grad in grads:
            v = optim.sgd_step([param], [grad], lr=lr, momentum=mu, velocity=v)
        return param, v[0]

    def reference(start, grads, lr, betas, eps):
        mu, t = betas[0], len(grads)
        v = sum(mu ** (t - k) * g for k, g in enumerate(grads, start=1))
        param = _torch_run(torch.optim.SGD, start, grads, lr=lr, momentum=mu)
        return param, v

    result = agree(ours, reference, optimiser_case, n_cases=200, claim="SGD")
    assert result.ok, str(result)


def test_bias_correction_makes_a_constant_gradient_exact():
    """thm-opt-bias: for a constant gradient g, m_hat_t = g and v_hat_t = g^2 at every t,
    while the raw m_t is (1 - beta1^t) g."""

    def case(draw: Draw) -> dict:
        return {"g": draw.tensor(3), "b1": draw.pick([0.5, 0.9, 0.99]),
                "b2": draw.pick([0.9, 0.999]), "t": draw.int(1, 30)}  # fmt: skip

    def ours(g, b1, b2, t):
        opt = optim.Adam([torch.zeros(3, dtype=F64)], betas=(b1, b2))
        for _ in range(t):
            opt.step([g])
        m, v = opt.m[0], opt.v[0]
        return m, m / (1 - b1**t), v / (1 - b2**t)

    def theorem(g, b1, b2, t):
        return (1 - b1**t) * g, g, g * g

    result = agree(ours, theorem, case, n_cases=200, claim="bias correction")
    assert result.ok, str(result)


def test_a_small_step_decreases_the_loss_and_the_bowl_limits_the_rate():
    """thm-opt-descent on random linear classifiers; on the bowl, gradient descent
    converges for eta < 2/25 and diverges above."""

    def case(draw: Draw) -> dict:
        n, i, c = draw.int(1, 8), draw.int(1, 6), draw.int(2, 5)
        return {"x": draw.tensor(n, i), "y": torch.tensor(draw.ints(n, 0, c - 1)),
                "w": draw.tensor(c, i)}  # fmt: skip

    def decreases(x, y, w):
        w = w.requires_grad_()
        loss = F.cross_entropy(x @ w.T, y)
        loss.backward()
        return bool(F.cross_entropy(x @ (w - 1e-4 * w.grad).T, y) < loss)

    result = agree(decreases, lambda x, y, w: True, case, n_cases=200, claim="descent")
    assert result.ok, str(result)

    def bowl_converges(eta):
        theta = torch.tensor([-9.0, 1.5], dtype=F64)
        for _ in range(2000):
            theta = theta - eta * torch.tensor([1.0, 25.0], dtype=F64) * theta
        return bool(theta.abs().max() < 1e-3)

    etas = [{"eta": e} for e in (0.01, 0.05, 0.07, 0.079, 0.081, 0.09, 0.2)]
    result = agree(bowl_converges, lambda eta: eta < 2 / 25, etas, claim="bowl")
    assert result.ok, str(result)


def test_backward_adds_to_grad_without_zero_grad():
    """k backward passes on the same batch leave k times one pass in .grad."""

    def case(draw: Draw) -> dict:
        return {"x": draw.tensor(4, 5), "y": torch.tensor(draw.ints(4, 0, 2)),
                "w": draw.tensor(3, 5), "b": draw.tensor(3), "k": draw.int(1, 5)}  # fmt: skip

    def accumulated(x, y, w, b, k):
        w, b = w.requires_grad_(), b.requires_grad_()
        for _ in range(k):  # no zero_grad
            F.cross_entropy(F.linear(x, w, b), y).backward()
        return w.grad, b.grad

    def k_times(x, y, w, b, k):
        one = _autograd(lambda w, b: F.cross_entropy(F.linear(x, w, b), y), (w, b), None)
        return k * one[0], k * one[1]

    result = agree(accumulated, k_times, case, n_cases=100, claim="accumulate")
    assert result.ok, str(result)
