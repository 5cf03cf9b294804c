"""The learning-rate schedules :func:`~cnnnotes.training.loop.fit` can step, as PyTorch objects.

Their formulas, written out and checked against these objects, are in
:mod:`cnnnotes.modern.schedules`. ``"onecycle"`` passes ``cycle_momentum=False``: only the
learning rate cycles. ``"onecycle-momentum"`` keeps PyTorch's default, which also moves
Adam's β₁ between 0.95 and 0.85 against the learning rate, so that it changes two things.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from cnnnotes._validate import choice

SCHEDULES = ("constant", "onecycle", "onecycle-momentum", "cosine")


def scheduler_step(
    optimizer: torch.optim.Optimizer, schedule: str, lr: float, total: int
) -> Callable[[], object] | None:
    """The per-batch ``step`` of ``schedule`` over ``total`` optimiser steps (None: constant).

    >>> opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> step = scheduler_step(opt, "cosine", 1.0, 4)
    >>> lrs = []
    >>> for _ in range(4):
    ...     lrs.append(round(opt.param_groups[0]["lr"], 4))
    ...     opt.step()
    ...     _ = step()
    >>> lrs
    [1.0, 0.8536, 0.5, 0.1464]
    """
    choice(schedule, "schedule", SCHEDULES)
    sched = torch.optim.lr_scheduler
    if schedule == "constant":
        return None
    if schedule == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=total).step
    cycle = schedule == "onecycle-momentum"
    return sched.OneCycleLR(optimizer, lr, total_steps=total, cycle_momentum=cycle).step
