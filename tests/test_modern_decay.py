"""cnnnotes.modern.decay: Adam + L2 and AdamW against torch.optim, step for step (float64)."""

from __future__ import annotations

import math

import pytest
import torch

from cnnnotes.learn.optim import Adam
from cnnnotes.modern.decay import AdamL2, AdamW, decoupled_shrink
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Case, Draw

F64 = torch.float64
TOL = 1e-12
"""How closely a few from-scratch steps follow PyTorch's in float64 (relative, absolute below 1)."""

pytestmark = pytest.mark.usefixtures("one_thread")


def run_case(draw: Draw) -> Case:
    """1-3 parameters of random shapes, 1-6 steps of random gradients (one all zero now and
    then), a learning rate per step (a schedule), betas, eps and weight decay."""
    shapes = [tuple(draw.int(1, 4) for _ in range(draw.int(1, 3))) for _ in range(draw.int(1, 3))]
    steps = draw.int(1, 6)
    grads = [[draw.tensor(*s) * (draw.int(0, 4) > 0) for s in shapes] for _ in range(steps)]
    return {
        "params": [draw.tensor(*s) for s in shapes],
        "grads": grads,
        "lrs": [draw.pick([1e-3, 1e-2, 0.1, 0.5]) * draw.int(1, 9) / 5 for _ in range(steps)],
        "betas": (draw.pick([0.0, 0.5, 0.9]), draw.pick([0.9, 0.99, 0.999])),
        "eps": draw.pick([1e-8, 1e-6, 1e-3]),
        "weight_decay": draw.pick([0.0, 1e-4, 5e-4, 1e-2, 0.1, 1.0]),
    }


def ours(kind: type) -> object:
    def run(params, grads, lrs, betas, eps, weight_decay):
        opt = kind(params, lr=lrs[0], betas=betas, eps=eps, weight_decay=weight_decay)
        for g, lr in zip(grads, lrs, strict=True):
            opt.lr = lr
            opt.step(g)
        return tuple(params)

    return run


def pytorch(kind: type) -> object:
    def run(params, grads, lrs, betas, eps, weight_decay):
        params = [p.requires_grad_() for p in params]
        opt = kind(params, lr=lrs[0], betas=betas, eps=eps, weight_decay=weight_decay)
        for g, lr in zip(grads, lrs, strict=True):
            opt.param_groups[0]["lr"] = lr
            for p, gi in zip(params, g, strict=True):
                p.grad = gi
            opt.step()
        return tuple(p.detach() for p in params)

    return run


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [(AdamL2, torch.optim.Adam), (AdamW, torch.optim.AdamW)],
    ids=["L2=Adam(weight_decay)", "decoupled=AdamW"],
)
def test_matches_torch_optim_step_for_step(mine, theirs):
    result = agree(ours(mine), pytorch(theirs), run_case, n_cases=500, tol=TOL,
                   claim=f"{mine.__name__} vs torch.optim.{theirs.__name__}")  # fmt: skip
    assert result.ok, str(result)


@pytest.mark.parametrize(
    ("mine", "theirs"), [(AdamL2, torch.optim.Adam), (AdamW, torch.optim.AdamW)]
)
def test_each_step_against_torch(mine, theirs):
    """Oracle-free: the parameters after every one of 8 steps, lr changing as a schedule would."""
    g = torch.Generator().manual_seed(7)
    start = [torch.randn(4, 3, generator=g, dtype=F64), torch.randn(5, generator=g, dtype=F64)]
    a = [p.clone() for p in start]
    b = [p.clone().requires_grad_() for p in start]
    opt_a = mine(a, lr=0.05, betas=(0.8, 0.99), weight_decay=0.05)
    opt_b = theirs(b, lr=0.05, betas=(0.8, 0.99), weight_decay=0.05)
    for t in range(8):
        grads = [torch.randn(p.shape, generator=g, dtype=F64) for p in start]
        opt_a.lr = opt_b.param_groups[0]["lr"] = 0.05 * (1 - t / 8)
        opt_a.step(grads)
        for p, grad in zip(b, grads, strict=True):
            p.grad = grad
        opt_b.step()
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y.detach(), rtol=TOL, atol=TOL)


def test_l2_and_decoupled_decay_differ_and_agree_without_decay():
    g = torch.Generator().manual_seed(8)
    start = torch.randn(6, generator=g, dtype=F64) * 3
    grads = [torch.randn(6, generator=g, dtype=F64) for _ in range(5)]
    results = {}
    for kind, wd in [(AdamL2, 0.1), (AdamW, 0.1), (AdamL2, 0.0), (AdamW, 0.0), (Adam, None)]:
        w = start.clone()
        opt = kind([w], lr=0.1) if wd is None else kind([w], lr=0.1, weight_decay=wd)
        for grad in grads:
            opt.step([grad])
        results[kind.__name__, wd] = w
    assert (results["AdamL2", 0.1] - results["AdamW", 0.1]).abs().min() > 1e-4
    assert torch.equal(results["AdamL2", 0.0], results["Adam", None])  # bit for bit
    assert torch.equal(results["AdamW", 0.0], results["Adam", None])


def test_l2_decays_a_weight_with_large_gradients_less():
    """L2's λθ is divided by √v̂ like the gradient: a weight whose gradients are large is
    hardly pulled to 0; AdamW shrinks both by the same factor (here their gradients cancel
    on average, so decay is what moves them)."""
    big, small = torch.tensor([1.0], dtype=F64), torch.tensor([1.0], dtype=F64)
    wb, ws = big.clone(), small.clone()
    l2 = AdamL2([big, small], lr=0.01, weight_decay=0.1)
    dw = AdamW([wb, ws], lr=0.01, weight_decay=0.1)
    for t in range(200):
        sign = 1.0 if t % 2 else -1.0
        grads = [torch.tensor([100.0 * sign], dtype=F64), torch.tensor([0.01 * sign], dtype=F64)]
        l2.step(grads)
        dw.step(grads)
    assert 1 - big.item() < 0.1 * (1 - small.item())
    assert math.isclose(1 - wb.item(), 1 - ws.item(), rel_tol=0.2)


def test_decoupled_shrink_is_what_adamw_does_with_zero_gradients():
    lrs = [0.1 * (1 + math.cos(math.pi * t / 50)) / 2 for t in range(50)]
    w = torch.tensor([2.0, -3.0], dtype=F64)
    opt = AdamW([w], weight_decay=0.3)
    for lr in lrs:
        opt.lr = lr
        opt.step([torch.zeros(2, dtype=F64)])
    expected = torch.tensor([2.0, -3.0], dtype=F64) * decoupled_shrink(lrs, 0.3)
    torch.testing.assert_close(w, expected, rtol=1e-12, atol=0)
    # small η·λ: Π(1 − η_t·λ) ≈ exp(−λ·Σ η_t), up to about Σ(η_t·λ)²/2
    assert math.isclose(decoupled_shrink(lrs, 0.01), math.exp(-0.01 * sum(lrs)), rel_tol=1e-4)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: AdamW([torch.zeros(2)], weight_decay=-1.0), ValueError, r"weight_decay"),
        (lambda: AdamL2([torch.zeros(2)], weight_decay="0.1"), TypeError, r"weight_decay"),
        (lambda: AdamW([torch.zeros(2)]).step([torch.zeros(3)]), ValueError, r"grads\[0\] has"),
        (lambda: AdamL2([torch.zeros(2)]).step(torch.zeros(2)), TypeError, r"list of tensors"),
        (lambda: AdamW([torch.zeros(2)]).step([]), ValueError, r"1 parameters but 0 grads"),
        (lambda: AdamW([torch.zeros(2)]).step([[0.0, 0.0]]), TypeError, r"grads\[0\]"),
        (lambda: decoupled_shrink(0.1, 0.1), TypeError, r"lrs must be a list"),
        (lambda: decoupled_shrink([0.1, -1.0], 0.1), ValueError, r"lrs\[1\]"),
    ],
)  # fmt: skip
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
