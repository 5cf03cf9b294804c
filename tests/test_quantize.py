"""Eight-bit weights with one scale per row: the rounding bound, PyTorch's own quantiser, errors."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnnotes.training.quantize import LEVELS, dequantize_rows, quantize_rows


def _weight(shape: tuple[int, ...], seed: int, spread: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * spread


@settings(max_examples=80, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple),
    seed=st.integers(0, 2**31 - 1),
    spread=st.sampled_from([1e-4, 0.05, 1.0, 300.0]),
    zero_row=st.booleans(),
)
def test_each_weight_moves_by_at_most_half_a_step(shape, seed, spread, zero_row) -> None:
    w = _weight(shape, seed, spread)
    if zero_row:
        w[0] = 0
    q, scale = quantize_rows(w)
    assert q.dtype == torch.int8 and q.shape == w.shape and scale.shape == (shape[0],)
    assert int(q.abs().max()) <= LEVELS
    rows = q.reshape(shape[0], -1)
    peak = w.reshape(shape[0], -1).abs().amax(1)
    # every row but a zero row uses the whole range: its largest weight becomes +-127
    assert torch.equal(rows.abs().amax(1) == LEVELS, peak > 0)
    assert torch.equal(scale[peak == 0], torch.ones(int((peak == 0).sum())))
    step = scale.reshape((-1,) + (1,) * (len(shape) - 1))
    error = (dequantize_rows(q, scale) - w).abs()
    assert bool((error <= step / 2 * (1 + 1e-5)).all()), float((error / step).max())


def test_agrees_with_pytorchs_per_channel_quantiser_over_500_weights() -> None:
    """torch.quantize_per_channel, symmetric (zero point 0), axis 0: the same integers."""
    g = torch.Generator().manual_seed(0)
    for case in range(500):
        rows, cols = (
            int(torch.randint(1, 20, (1,), generator=g)),
            int(torch.randint(1, 300, (1,), generator=g)),
        )
        w = torch.randn(rows, cols, generator=g) * float(torch.rand(1, generator=g) * 3 + 1e-3)
        q, scale = quantize_rows(w)
        with warnings.catch_warnings():  # PyTorch marks its quantised tensors deprecated
            warnings.simplefilter("ignore")
            theirs = torch.quantize_per_channel(
                w, scale.double(), torch.zeros(rows, dtype=torch.long), 0, torch.qint8
            )
            theirs_float = theirs.dequantize()
        torch.testing.assert_close(q, theirs.int_repr(), rtol=0, atol=0, msg=f"case {case}")
        torch.testing.assert_close(dequantize_rows(q, scale), theirs_float, rtol=0, atol=0)


def test_the_largest_weight_of_a_row_survives_to_the_bit_of_its_scale() -> None:
    w = torch.tensor([[0.5, -1.27, 0.0], [3.0, 1.0, -2.0]])
    q, scale = quantize_rows(w)
    assert q[:, :1].tolist() == [[50], [127]] and q[0, 1] == -LEVELS
    assert dequantize_rows(q, scale)[1, 0] == scale[1] * 127


def test_bad_input_says_what_is_allowed() -> None:
    with pytest.raises(TypeError, match="weight must be a floating-point tensor"):
        quantize_rows(torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match=r"weight must be a torch\.Tensor"):
        quantize_rows([[1.0]])
    with pytest.raises(ValueError, match="at least one row"):
        quantize_rows(torch.tensor(1.0))
    with pytest.raises(ValueError, match="finite"):
        quantize_rows(torch.tensor([[1.0, float("nan")]]))
    q, scale = quantize_rows(torch.ones(3, 2))
    with pytest.raises(TypeError, match=r"torch\.int8"):
        dequantize_rows(q.long(), scale)
    with pytest.raises(ValueError, match="one value per row"):
        dequantize_rows(q, scale[:2])
    with pytest.raises(ValueError, match="positive and finite"):
        dequantize_rows(q, -scale)
    with pytest.raises(TypeError, match="scale must be a floating-point"):
        dequantize_rows(q, q[:, 0])
