"""Learning-rate schedules as pure functions of the step: one-cycle, cosine, linear warm-up.

Each function gives the value at step ``step`` (0-based: the learning rate the
optimiser uses for its ``step``-th update) of a schedule that lasts ``total`` steps.
They are what ``torch.optim.lr_scheduler`` computes after ``step`` calls of
``scheduler.step()``, written as formulas:

* **one-cycle** (Smith & Topin, 2019; ``OneCycleLR``, cosine anneal): from
  ``max_lr/div_factor`` up to ``max_lr`` over the first ``pct_start`` of the run, then
  down to ``max_lr/(div_factor·final_div_factor)``. Its default
  ``cycle_momentum=True`` also moves the momentum the other way, down while the
  learning rate rises and back up after (:func:`one_cycle_momentum`); with Adam that
  momentum is ``β₁``. A row that says "one-cycle learning rate" with the default
  therefore changes two things;
* **cosine** (``CosineAnnealingLR``): from ``base_lr`` down to ``min_lr`` along half a
  cosine;
* **linear warm-up** (``LinearLR``): from ``start_factor·base_lr`` up to
  ``end_factor·base_lr`` in a straight line, then constant;
* **warm-up then cosine** (``SequentialLR`` of the two).

A cosine anneal from ``a`` to ``b`` as ``p`` goes from 0 to 1 is
``b + (a − b)·(1 + cos πp)/2``: flat at both ends, steepest in the middle.
"""

from __future__ import annotations

import math

from cnnnotes._validate import choice, integer, number, positive_int, require

__all__ = [
    "cosine_lr",
    "linear_warmup_lr",
    "one_cycle_lr",
    "one_cycle_momentum",
    "warmup_cosine_lr",
]


def _anneal(start: float, end: float, pct: float, anneal: str) -> float:
    """From ``start`` (``pct = 0``) to ``end`` (``pct = 1``): a cosine or a straight line."""
    if anneal == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def _one_cycle_phase(step: int, total: int, pct_start: float) -> tuple[int, float]:
    """``(phase, fraction of the phase done)``: phase 0 rises over steps ``0..pct_start·total − 1``,
    phase 1 falls over the rest, to step ``total − 1`` (``OneCycleLR``'s two phases)."""
    total = integer(total, "total", 2)
    step = integer(step, "step", 0, total - 1)
    pct_start = number(pct_start, "pct_start", above=0)
    require(
        pct_start <= 1 and pct_start * total > 1,
        f"pct_start must be in (0, 1] with pct_start·total > 1 (a warm-up of more than one "
        f"step), got pct_start={pct_start!r} with total={total}",
    )
    rise_end = float(pct_start * total) - 1
    if step <= rise_end:
        return 0, step / rise_end
    return 1, (step - rise_end) / (total - 1 - rise_end)


def one_cycle_lr(
    step: int,
    total: int,
    max_lr: float,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal: str = "cos",
) -> float:
    """The learning rate of ``OneCycleLR(max_lr, total_steps=total, ...)`` at ``step``.

    With ``η₀ = max_lr/div_factor`` and ``η_min = η₀/final_div_factor``, the rise goes
    from ``η₀`` to ``max_lr`` over steps ``0 .. r`` with ``r = pct_start·total − 1`` and
    the fall from ``max_lr`` to ``η_min`` over steps ``r .. total − 1``, each along the
    cosine anneal above (``anneal="cos"``, the default) or a straight line (``"linear"``).

    >>> [round(one_cycle_lr(t, 5, 1.0, pct_start=0.6, div_factor=4), 4) for t in range(5)]
    [0.25, 0.625, 1.0, 0.5, 0.0]
    """
    phase, pct = _one_cycle_phase(step, total, pct_start)
    max_lr = number(max_lr, "max_lr", above=0)
    initial = max_lr / number(div_factor, "div_factor", above=0)
    minimum = initial / number(final_div_factor, "final_div_factor", above=0)
    anneal = choice(anneal, "anneal", ("cos", "linear"))
    if phase == 0:
        return _anneal(initial, max_lr, pct, anneal)
    return _anneal(max_lr, minimum, pct, anneal)


def one_cycle_momentum(
    step: int,
    total: int,
    pct_start: float = 0.3,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    anneal: str = "cos",
) -> float:
    """The momentum (Adam's ``β₁``) that ``OneCycleLR(cycle_momentum=True)`` sets at ``step``.

    The mirror image of :func:`one_cycle_lr`: from ``max_momentum`` down to
    ``base_momentum`` while the learning rate rises, and back up while it falls.
    With Adam it overwrites ``betas[0]`` every step; ``cycle_momentum=False`` leaves
    ``β₁`` alone.

    >>> [round(one_cycle_momentum(t, 5, pct_start=0.6), 4) for t in range(5)]
    [0.95, 0.9, 0.85, 0.9, 0.95]
    """
    phase, pct = _one_cycle_phase(step, total, pct_start)
    low = number(base_momentum, "base_momentum", at_least=0, below=1)
    high = number(max_momentum, "max_momentum", at_least=0, below=1)
    anneal = choice(anneal, "anneal", ("cos", "linear"))
    return _anneal(high, low, pct, anneal) if phase == 0 else _anneal(low, high, pct, anneal)


def cosine_lr(step: int, total: int, base_lr: float, min_lr: float = 0.0) -> float:
    """``min_lr + (base_lr − min_lr)·(1 + cos(π·step/total))/2`` for ``step = 0 .. total``.

    ``CosineAnnealingLR(T_max=total, eta_min=min_lr)``: ``base_lr`` at step 0,
    ``min_lr`` at step ``total``. (Training for ``S`` steps with ``total = S`` never
    uses the last value; ``total = S − 1`` ends exactly at ``min_lr``.)

    >>> [cosine_lr(t, 4, 1.0) for t in range(5)]
    [1.0, 0.8535533905932737, 0.5, 0.14644660940672627, 0.0]
    """
    total = positive_int(total, "total")
    step = integer(step, "step", 0, total)
    base_lr = number(base_lr, "base_lr", above=0)
    min_lr = number(min_lr, "min_lr", at_least=0)
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * step / total)) / 2


def linear_warmup_lr(
    step: int,
    total: int,
    base_lr: float,
    start_factor: float = 1.0 / 3,
    end_factor: float = 1.0,
) -> float:
    """``base_lr·(s + (e − s)·min(step, total)/total)``: ``LinearLR(start_factor=s,
    end_factor=e, total_iters=total)``.

    A warm-up when ``s < e``: the learning rate climbs in a straight line for ``total``
    steps and stays at ``e·base_lr`` afterwards. PyTorch's rule: ``0 < s <= 1`` and
    ``0 <= e <= 1``.

    >>> [linear_warmup_lr(t, 4, 1.0, start_factor=0.2) for t in range(6)]
    [0.2, 0.4, 0.6000000000000001, 0.8, 1.0, 1.0]
    """
    total = positive_int(total, "total")
    step = integer(step, "step", 0)
    base_lr = number(base_lr, "base_lr", above=0)
    s = number(start_factor, "start_factor", above=0)
    e = number(end_factor, "end_factor", at_least=0)
    require(s <= 1, f"start_factor must be a number in (0, 1], got {s!r}")
    require(e <= 1, f"end_factor must be a number in [0, 1], got {e!r}")
    return base_lr * (s + (e - s) * min(total, step) / total)


def warmup_cosine_lr(
    step: int,
    total: int,
    warmup: int,
    base_lr: float,
    start_factor: float = 0.1,
    min_lr: float = 0.0,
) -> float:
    """Linear warm-up for ``warmup`` steps, then a cosine anneal over the remaining ones.

    Steps ``0 .. warmup − 1``: :func:`linear_warmup_lr` from ``start_factor·base_lr``
    towards ``base_lr``; steps ``warmup .. total``: :func:`cosine_lr` of ``step − warmup``
    over ``total − warmup`` steps, from ``base_lr`` to ``min_lr``. This is
    ``SequentialLR([LinearLR(start_factor, total_iters=warmup), CosineAnnealingLR(T_max=
    total − warmup, eta_min=min_lr)], milestones=[warmup])``.

    >>> [round(warmup_cosine_lr(t, 6, 2, 1.0, start_factor=0.5), 4) for t in range(7)]
    [0.5, 0.75, 1.0, 0.8536, 0.5, 0.1464, 0.0]
    """
    total = integer(total, "total", 2)
    warmup = integer(warmup, "warmup", 1, total - 1)
    step = integer(step, "step", 0, total)
    if step < warmup:
        return linear_warmup_lr(step, warmup, base_lr, start_factor)
    return cosine_lr(step - warmup, total - warmup, base_lr, min_lr)
