"""cnnnotes.report: verdicts and rounded numbers that do not depend on the machine."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnnotes.report import DEFAULT_TOL, approx, verdict


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=20),
    st.integers(0, 2**31),
)
def test_round_off_never_changes_a_verdict(values: list[float], seed: int) -> None:
    """Perturbing the last bits (what another CPU does) leaves the verdict as it was."""
    x = torch.tensor(values, dtype=torch.float32)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    y = x * (1 + 4 * torch.finfo(torch.float32).eps * noise)
    assert verdict(x, y) == verdict(x, x) == "agree to 1e-05"


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.floats(-1e9, 1e9, allow_nan=False).filter(lambda v: abs(v) > 1e-9), st.integers(1, 6))
def test_approx_keeps_sig_digits(value: float, sig: int) -> None:
    text = approx(value, sig)
    assert "e" not in text
    assert float(text.replace(",", "")) == float(f"{value:.{sig}g}")  # correctly rounded


def test_approx_edges() -> None:
    assert approx(0.0) == "0"
    assert approx(0.99996, 3) == "1.00"
    assert approx(torch.tensor(0.25), 1) == "0.2"  # round half to even
    assert approx(math.inf) == "inf"


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("0.5",), TypeError, "value must be a number"),
        ((True,), TypeError, "value must be a number"),
        ((torch.ones(2),), ValueError, "single number"),
        ((1.0, 0), ValueError, "sig must be an int >= 1"),
        ((1.0, 2.5), TypeError, "sig must be an int >= 1"),
    ],
)
def test_approx_refuses_bad_input(args: tuple, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        approx(*args)


def test_verdict_on_other_devices_and_dtypes() -> None:
    half = torch.tensor([1.0, 2.0], dtype=torch.float16)
    assert verdict(half, half.float()) == "agree to 1e-02"  # the coarser dtype decides
    assert verdict(torch.tensor([True]), torch.tensor([True])) == "exact"
    assert verdict(torch.zeros(0), torch.zeros(0)) == "agree to 1e-05"


# ---------------------------------------------------------------- verdict's own rules
# The docstring: floats agree when |actual - expected| <= tol * max(1, |expected|) for
# every element, tol = DEFAULT_TOL of the coarser dtype; NaNs agree with NaNs. The
# thresholds below are derived from that rule, so each test sits on both sides of it.


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nan_agrees_with_nan_and_with_nothing_else(dtype: torch.dtype) -> None:
    nan, inf = math.nan, math.inf
    agree = f"agree to {DEFAULT_TOL[dtype]:.0e}"

    def v(a: list[float], b: list[float]) -> str:
        return verdict(torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype))

    assert v([nan], [nan]) == agree
    assert v([1.0, nan, inf], [1.0, nan, inf]) == agree
    for a, b in [([nan], [1.0]), ([1.0], [nan]), ([nan], [inf]), ([inf], [-inf]), ([inf], [1e30])]:
        assert v(a, b).startswith("DIFFERENT"), (a, b)
    assert v([0.0, nan], [0.0, 0.0]) == "DIFFERENT: max |Δ| = inf at (1,)"


def test_python_floats_compare_as_float64_and_nan_agrees() -> None:
    assert verdict([math.nan], [math.nan]) == f"agree to {DEFAULT_TOL[torch.float64]:.0e}"
    assert verdict([math.nan], [0.0]).startswith("DIFFERENT")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tolerance_is_absolute_near_zero_and_relative_for_large_values(dtype) -> None:
    tol = DEFAULT_TOL[dtype]
    agree = f"agree to {tol:.0e}"

    def v(actual: float, expected: float) -> str:
        return verdict(torch.tensor([actual], dtype=dtype), torch.tensor([expected], dtype=dtype))

    # |expected| <= 1: the limit is tol itself (absolute), also for expected = 0
    for expected in (0.0, 0.5, -1.0):
        assert v(expected + 0.5 * tol, expected) == agree, expected
        assert v(expected + 2.0 * tol, expected).startswith("DIFFERENT"), expected
    # |expected| = 1e6: the limit is tol * 1e6 (relative)
    big = 1e6
    assert v(big + 0.5 * tol * big, big) == agree
    assert v(big + 5.0 * tol * big, big).startswith("DIFFERENT")
    assert v(-big, -big - 0.5 * tol * big) == agree


def test_the_review_examples_at_float32() -> None:
    """The examples of the code review (Part B, 2.3), in float32 where tol = 1e-05.

    With Python floats (float64, tol 1e-10) 1e-9 vs 0 is DIFFERENT: the rule is
    absolute below 1, and 1e-9 > 1e-10.
    """
    f32 = torch.float32
    assert verdict(torch.tensor([1e-9], dtype=f32), torch.tensor([0.0])) == "agree to 1e-05"
    assert verdict(torch.tensor([1e6]), torch.tensor([1e6 + 5])) == "agree to 1e-05"
    assert verdict(torch.tensor([1e6]), torch.tensor([1e6 + 50])).startswith("DIFFERENT")
    assert verdict([1e-9], [0.0]).startswith("DIFFERENT")
    assert verdict([1e-11], [0.0]) == "agree to 1e-10"
