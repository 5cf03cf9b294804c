"""cnnnotes.modern.schedules against torch.optim.lr_scheduler, step by step."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.optim import lr_scheduler

from cnnnotes.modern.schedules import (
    cosine_lr,
    linear_warmup_lr,
    one_cycle_lr,
    one_cycle_momentum,
    warmup_cosine_lr,
)
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Case, Draw


def F64(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


TOL = 1e-12
"""PyTorch computes some schedules recursively (each value from the last): round-off only."""


def _run(make, steps: int, adam: bool = False, lr: float = 0.5) -> torch.Tensor:
    """``(lr, momentum or β₁)`` that ``make(optimizer)``'s scheduler sets for each step, as a
    float64 tensor ``(steps, 2)`` (one tensor compares much faster than many floats)."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([p], lr=lr) if adam else torch.optim.SGD([p], lr=lr, momentum=0.9)
    scheduler = make(opt)
    out = []
    for _ in range(steps):
        group = opt.param_groups[0]
        out.append((group["lr"], group["betas"][0] if adam else group["momentum"]))
        if not out[1:]:
            opt.step()  # once, so that the scheduler may step (no gradient: nothing moves)
        if len(out) < steps:
            scheduler.step()
    return torch.tensor(out, dtype=torch.float64)


def one_cycle_case(draw: Draw) -> Case | None:
    total = draw.int(2, 60)
    pct = draw.pick([0.1, 0.25, 0.3, 0.5, 0.75, 0.9, 1.0]) * draw.int(5, 10) / 10
    if not pct * total > 1:
        return None
    return {"total": total, "max_lr": draw.int(1, 100) / 20, "pct_start": pct,
            "div_factor": draw.pick([25.0, 10.0, 2.0]), "final_div": draw.pick([1e4, 100.0, 1.0]),
            "anneal": draw.pick(["cos", "linear"]), "cycle": draw.flag(), "adam": draw.flag(),
            "base_m": draw.pick([0.85, 0.8]), "max_m": draw.pick([0.95, 0.99])}  # fmt: skip


def _ours_one_cycle(total, max_lr, pct, div, final, anneal, cycle, adam, base_m, max_m):
    def momentum(t: int) -> float:
        if not cycle:  # the optimiser's own momentum (SGD) or β₁ (Adam) is left alone
            return 0.9
        return one_cycle_momentum(t, total, pct, base_m, max_m, anneal)

    return F64([(one_cycle_lr(t, total, max_lr, pct, div, final, anneal), momentum(t))
                for t in range(total)])  # fmt: skip


def _torch_one_cycle(total, max_lr, pct, div, final, anneal, cycle, adam, base_m, max_m):
    def make(opt):
        return lr_scheduler.OneCycleLR(opt, max_lr, total_steps=total, pct_start=pct,
                                       anneal_strategy=anneal, cycle_momentum=cycle,
                                       base_momentum=base_m, max_momentum=max_m,
                                       div_factor=div, final_div_factor=final)  # fmt: skip

    return _run(make, total, adam)


def test_one_cycle_matches_one_cycle_lr_and_its_momentum_cycling():
    result = agree(_ours_one_cycle, _torch_one_cycle, one_cycle_case, n_cases=500, tol=TOL,
                   claim="one-cycle lr and beta1/momentum")  # fmt: skip
    assert result.ok, str(result)


def test_one_cycle_with_adam_cycles_beta1_unless_told_not_to():
    """Oracle-free: the default OneCycleLR moves Adam's β₁ between 0.95 and 0.85."""

    def make(cycle):
        return lambda opt: lr_scheduler.OneCycleLR(opt, 1.0, total_steps=20, cycle_momentum=cycle)

    cycled = _run(make(True), 20, adam=True)[:, 1].tolist()
    fixed = _run(make(False), 20, adam=True)[:, 1].tolist()
    ours = [one_cycle_momentum(t, 20) for t in range(20)]
    torch.testing.assert_close(cycled, ours, rtol=TOL, atol=TOL)
    assert min(cycled) == pytest.approx(0.85) and cycled[0] == cycled[-1] == 0.95
    assert fixed == [0.9] * 20  # Adam's default β₁, untouched


def test_cosine_matches_cosine_annealing_lr():
    def make(draw: Draw) -> Case:
        return {"total": draw.int(1, 60), "base_lr": draw.int(1, 100) / 20,
                "min_lr": draw.pick([0.0, 0.0, 1e-4, 0.01])}  # fmt: skip

    def ours(total, base_lr, min_lr):
        return F64([cosine_lr(t, total, base_lr, min_lr) for t in range(total + 1)])

    def pytorch(total, base_lr, min_lr):
        make = lambda opt: lr_scheduler.CosineAnnealingLR(opt, total, min_lr)  # noqa: E731
        return _run(make, total + 1, lr=base_lr)[:, 0]

    result = agree(ours, pytorch, make, n_cases=300, seed=1, tol=TOL, claim="cosine")
    assert result.ok, str(result)


def test_linear_warmup_matches_linear_lr():
    def make(draw: Draw) -> Case:
        return {"total": draw.int(1, 30), "base_lr": draw.int(1, 100) / 20,
                "start": draw.int(1, 10) / 10, "end": draw.int(0, 10) / 10}  # fmt: skip

    def ours(total, base_lr, start, end):
        return F64([linear_warmup_lr(t, total, base_lr, start, end) for t in range(total + 5)])

    def pytorch(total, base_lr, start, end):
        make = lambda opt: lr_scheduler.LinearLR(opt, start, end, total)  # noqa: E731
        return _run(make, total + 5, lr=base_lr)[:, 0]

    result = agree(ours, pytorch, make, n_cases=300, seed=2, tol=TOL, claim="linear warm-up")
    assert result.ok, str(result)


def test_warmup_cosine_matches_sequential_lr():
    def make(draw: Draw) -> Case:
        total = draw.int(2, 50)
        return {"total": total, "warmup": draw.int(1, total - 1), "base_lr": draw.int(1, 40) / 20,
                "start": draw.int(1, 10) / 10, "min_lr": draw.pick([0.0, 1e-3])}  # fmt: skip

    def ours(total, warmup, base_lr, start, min_lr):
        return F64([warmup_cosine_lr(t, total, warmup, base_lr, start, min_lr)
                    for t in range(total + 1)])  # fmt: skip

    def pytorch(total, warmup, base_lr, start, min_lr):
        def scheduler(opt):
            first = lr_scheduler.LinearLR(opt, start, 1.0, warmup)
            second = lr_scheduler.CosineAnnealingLR(opt, total - warmup, min_lr)
            return lr_scheduler.SequentialLR(opt, [first, second], milestones=[warmup])

        return _run(scheduler, total + 1, lr=base_lr)[:, 0]

    result = agree(ours, pytorch, make, n_cases=300, seed=3, tol=TOL, claim="warm-up + cosine")
    assert result.ok, str(result)


def test_schedule_shapes():
    """The landmarks: start, peak and end of one-cycle; the cosine's midpoint; warm-up's end."""
    lrs = [one_cycle_lr(t, 100, 2.0) for t in range(100)]
    assert lrs[0] == pytest.approx(2.0 / 25) and max(lrs) == lrs[29] == 2.0
    assert lrs[-1] == pytest.approx(2.0 / 25 / 1e4)
    assert all(a < b for a, b in itertools.pairwise(lrs[:30]))
    assert all(a > b for a, b in itertools.pairwise(lrs[29:]))
    assert cosine_lr(50, 100, 1.0) == pytest.approx(0.5) and cosine_lr(100, 100, 1.0) == 0.0
    assert linear_warmup_lr(10, 10, 1.0, 0.1) == linear_warmup_lr(99, 10, 1.0, 0.1) == 1.0
    assert math.isclose(warmup_cosine_lr(10, 110, 10, 1.0), 1.0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: one_cycle_lr(10, 10, 1.0), ValueError, r"step must be an int from 0 to 9"),
        (lambda: one_cycle_lr(0, 1, 1.0), ValueError, r"total must be an int >= 2"),
        (lambda: one_cycle_lr(0, 3, 1.0, pct_start=0.3), ValueError, r"pct_start·total > 1"),
        (lambda: one_cycle_lr(0, 10, 1.0, pct_start=1.5), ValueError, r"pct_start must be in"),
        (lambda: one_cycle_lr(0, 10, -1.0), ValueError, r"max_lr must be a number > 0"),
        (lambda: one_cycle_lr(0, 10, 1.0, anneal="exp"), ValueError, r"anneal must be"),
        (lambda: one_cycle_lr(0.0, 10, 1.0), TypeError, r"step must be an int"),
        (lambda: one_cycle_momentum(0, 10, max_momentum=1.0), ValueError, r"max_momentum"),
        (lambda: cosine_lr(11, 10, 1.0), ValueError, r"step must be an int from 0 to 10"),
        (lambda: cosine_lr(0, 10, 1.0, min_lr=-1.0), ValueError, r"min_lr"),
        (lambda: linear_warmup_lr(0, 10, 1.0, start_factor=0.0), ValueError, r"start_factor"),
        (lambda: linear_warmup_lr(0, 10, 1.0, end_factor=1.5), ValueError, r"end_factor"),
        (lambda: linear_warmup_lr(-1, 10, 1.0), ValueError, r"step must be an int >= 0"),
        (lambda: warmup_cosine_lr(0, 10, 10, 1.0), ValueError, r"warmup must be an int from 1"),
    ],
)  # fmt: skip
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
