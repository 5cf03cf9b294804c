"""The receptive-field self-check: a learner's recurrence against gradients of real stacks.

The expected field of each stack is measured, not computed: the input pixels whose gradient
reaches one output (:func:`~cnnnotes.oracle.sweep.empirical_receptive_field`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from cnnnotes.check.core import check_scalars
from cnnnotes.check.sizes import name_slip, one_thread
from cnnnotes.oracle.sweep import empirical_receptive_field


def _rf_no_jump(layers: list[tuple[int, int]]) -> int:
    return 1 + sum(k - 1 for k, _ in layers)


def _rf_own_stride(layers: list[tuple[int, int]]) -> int:
    r = 1
    for k, s in layers:
        r += (k - 1) * s
    return r


def _rf_jump_first(layers: list[tuple[int, int]]) -> int:
    r, j = 1, 1
    for k, s in layers:
        j *= s
        r += (k - 1) * j
    return r


def _rf_from_zero(layers: list[tuple[int, int]]) -> int:
    r, j = 0, 1
    for k, s in layers:
        r, j = r + (k - 1) * j, j * s
    return r


RF_MISTAKES = {
    "adding F − 1 per layer and ignoring the strides (no jump)": _rf_no_jump,
    "growing by (F − 1)·S, the layer's own stride, in place of (F − 1)·J, the jump so far":
        _rf_own_stride,
    "updating the jump before the receptive field (J_l in place of J_{l−1})": _rf_jump_first,
    "starting from R_0 = 0 in place of 1 (a pixel sees itself)": _rf_from_zero,
}  # fmt: skip
"""The classic slips in the recurrence R_l = R_{l−1} + (F_l − 1)·J_{l−1}, J_l = J_{l−1}·S_l."""

_RF_ONE = ((3, 1), (3, 2), (2, 2), (5, 1), (1, 1), (5, 2), (2, 1), (3, 3), (4, 2))
_RF_FEW = ((3, 1), (3, 2), (2, 2))
RF_STACKS = (
    *([a] for a in _RF_ONE),
    *([a, b] for a in _RF_ONE for b in _RF_ONE),
    *([a, b, c] for a in _RF_FEW for b in _RF_FEW for c in _RF_FEW),
)
"""The ``[(kernel, stride), ...]`` stacks of :func:`check_receptive_field`: one to three
layers, kernels 1 to 5, strides 1 to 3."""


@functools.cache
def _measured_rf(stack: tuple[tuple[int, int], ...]) -> int:
    """:func:`~cnnnotes.oracle.sweep.empirical_receptive_field` of ``stack``, on one
    thread, remembered across checks."""
    with one_thread():
        return empirical_receptive_field(list(stack))


def check_receptive_field(fn: Callable[[list[tuple[int, int]]], int]) -> str:
    """Check ``fn([(kernel, stride), ...])`` against gradients of real ``Conv2d`` stacks.

    The expected value is measured by :func:`~cnnnotes.oracle.sweep.empirical_receptive_field`
    on every stack of :data:`RF_STACKS`; a classic slip (:data:`RF_MISTAKES`) is named.

    >>> message = check_receptive_field(lambda layers: 1 + sum(k - 1 for k, s in layers))
    >>> message[:62]
    'Mismatch: fn(layers=[(3, 2), (3, 1)]) returned 5, the measured'
    >>> message.endswith("adding F − 1 per layer and ignoring the strides (no jump) gives.")
    True
    """

    def oracle(layers: list[tuple[int, int]]) -> int:
        return _measured_rf(tuple(layers))

    cases = tuple((list(stack),) for stack in RF_STACKS)
    msg = check_scalars(fn, ("layers",), (tuple(list(a) for a in c) for c in cases), oracle)
    if msg.startswith("Mismatch"):
        msg += name_slip(fn, cases, oracle, RF_MISTAKES)
    return msg.replace("PyTorch gives", "the measured receptive field is")
