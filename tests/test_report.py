"""cnnnotes.report: verdicts and rounded numbers that do not depend on the machine."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnnotes.report import approx, verdict


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
        (("0.5",), TypeError, "value must be a real number"),
        ((True,), TypeError, "value must be a real number"),
        ((torch.ones(2),), ValueError, "single number"),
        ((1.0, 0), ValueError, "sig must be an int >= 1"),
        ((1.0, 2.5), ValueError, "sig must be an int >= 1"),
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
