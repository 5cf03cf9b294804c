"""cnnnotes.sliding against real convolutions (PyTorch is the oracle)."""

from __future__ import annotations

import functools
import re

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnnotes.shapes import conv_output_size
from cnnnotes.sliding import (
    MODES,
    animate_sliding,
    animation_html,
    coverage,
    covered_rows,
    draw_coverage,
    draw_placements,
    effective_kernel_size,
    padding_for,
    uncovered,
    window_starts,
)

FAST = settings(max_examples=600, deadline=None, database=None, derandomize=True)
SOME = settings(max_examples=150, deadline=None, database=None, derandomize=True)

sizes = st.integers(1, 40)
kernels = st.integers(1, 7)
strides = st.integers(1, 6)
paddings = st.integers(0, 6)
dilations = st.integers(1, 4)


def conv_height(w: int, k: int, s: int, p: int, d: int) -> int | None:
    """Output height of a real convolution on a ``w × 1`` input, or None if PyTorch refuses."""
    x, weight = torch.zeros(1, 1, w, 1), torch.ones(1, 1, k, 1)
    try:
        return F.conv2d(x, weight, None, (s, 1), (p, 0), (d, 1)).shape[2]
    except RuntimeError:
        return None


def ones_conv_grad(w: int, k: int, s: int, p: int, d: int) -> list[int]:
    """Gradient of the summed output of an all-ones convolution, per input row."""
    x = torch.zeros(1, 1, w, 1, dtype=torch.float64, requires_grad=True)
    weight = torch.ones(1, 1, k, 1, dtype=torch.float64)
    F.conv2d(x, weight, None, (s, 1), (p, 0), (d, 1)).sum().backward()
    return [int(g) for g in x.grad[0, 0, :, 0]]


# ---------------------------------------------------------------- placements


@FAST
@given(w=st.integers(1, 80), k=st.integers(1, 11), s=strides, p=paddings, d=dilations)
def test_placement_count_is_the_real_output_size(w, k, s, p, d):
    real = conv_height(w, k, s, p, d)
    try:
        starts = window_starts(w, k, s, p, d)
    except ValueError:
        assert real is None
        return
    assert len(starts) == real == conv_output_size(w, k, s, p, d)
    span = effective_kernel_size(k, d)
    assert starts == [i * s for i in range(len(starts))]
    assert starts[-1] + span <= w + 2 * p < starts[-1] + s + span  # the next one would not fit


@SOME
@given(w=sizes, k=kernels, s=strides, p=paddings, d=dilations)
def test_coverage_is_the_gradient_of_an_all_ones_conv(w, k, s, p, d):
    if effective_kernel_size(k, d) > w + 2 * p:
        return
    assert coverage(w, k, s, p, d) == ones_conv_grad(w, k, s, p, d)


@SOME
@given(w=st.integers(1, 16), k=kernels, s=strides, p=st.integers(0, 3), d=dilations)
def test_uncovered_rows_never_influence_any_output(w, k, s, p, d):
    """A row is uncovered iff its column of the Jacobian (random weights) is zero."""
    if effective_kernel_size(k, d) > w + 2 * p:
        return
    g = torch.Generator().manual_seed(w * 1000 + k * 100 + s * 10 + p + d)
    weight = torch.randn(1, 1, k, 1, generator=g, dtype=torch.float64)

    def conv(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x.view(1, 1, w, 1), weight, None, (s, 1), (p, 0), (d, 1)).flatten()

    jac = torch.autograd.functional.jacobian(conv, torch.zeros(w, dtype=torch.float64))
    never = [i for i in range(w) if not jac[:, i].any()]
    assert uncovered(w, k, s, p, d) == never
    assert sorted(covered_rows(w, k, s, p, d) + never) == list(range(w))


@SOME
@given(w=st.integers(1, 12), k=st.integers(1, 4), s=st.integers(1, 4), p=st.integers(0, 2))
def test_coverage_in_two_dimensions_is_an_outer_product(w, k, s, p):
    if k > w + 2 * p:
        return
    conv = nn.Conv2d(1, 1, k, s, p, bias=False).double()
    nn.init.ones_(conv.weight)
    x = torch.zeros(1, 1, w, w, dtype=torch.float64, requires_grad=True)
    conv(x).sum().backward()
    c = torch.tensor(coverage(w, k, s, p), dtype=torch.float64)
    torch.testing.assert_close(x.grad[0, 0], torch.outer(c, c), rtol=0, atol=0)


def test_small_cases_by_hand():
    assert window_starts(8, 3, 2) == [0, 2, 4]
    assert uncovered(8, 3, 2) == [7]
    assert uncovered(7, 2, 3) == [2, 5, 6]  # a stride larger than the kernel leaves holes
    assert uncovered(5, 2, 2, 0, 2) == [1, 3]  # so does dilation
    assert covered_rows(4, 3, 1, 1) == [0, 1, 2, 3]


# ---------------------------------------------------------------- padding modes


@functools.cache
def layer(k: int, d: int, padding: str) -> nn.Conv2d:
    """A float64 ``nn.Conv2d`` with a ``(k, 1)`` kernel and a string padding, built once."""
    g = torch.Generator().manual_seed(k * 10 + d)
    conv = nn.Conv2d(1, 1, (k, 1), padding=padding, dilation=(d, 1)).double().requires_grad_(False)
    conv.weight.copy_(torch.randn(conv.weight.shape, generator=g, dtype=torch.float64))
    return conv


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@SOME
@given(w=st.integers(1, 50), k=st.integers(1, 9), d=dilations)
def test_same_padding_is_what_conv2d_same_does(w, k, d):
    """Same size AND same values: the odd extra zero goes after the input, as in PyTorch."""
    g = torch.Generator().manual_seed(w * 100 + k * 10 + d)
    conv = layer(k, d, "same")
    x = torch.randn(1, 1, w, 1, generator=g, dtype=torch.float64)
    before, after = padding_for("same", k, d)
    assert before + after == d * (k - 1) and after - before in (0, 1)
    ours = F.conv2d(F.pad(x, (0, 0, before, after)), conv.weight, conv.bias, dilation=(d, 1))
    real = conv(x)
    assert real.shape[2] == w == len(window_starts(w + before + after, k, dilation=d))
    torch.testing.assert_close(ours, real)


@SOME
@given(w=st.integers(1, 50), k=st.integers(1, 9), d=dilations)
def test_valid_and_full_padding_sizes(w, k, d):
    try:
        real_valid = layer(k, d, "valid")(torch.zeros(1, 1, w, 1, dtype=torch.float64)).shape[2]
    except RuntimeError:
        real_valid = None
    assert padding_for("valid", k, d) == (0, 0)
    ours = conv_output_size(w, k, 1, 0, d) if d * (k - 1) < w else None
    assert ours == real_valid
    before, after = padding_for("full", k, d)
    assert before == after == d * (k - 1)
    assert conv_height(w, k, 1, before, d) == w + d * (k - 1)
    assert coverage(w, k, 1, before, d) == [k] * w  # full padding: every tap reads every cell


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((0, 3), ValueError, "size must be an int >= 1"),
        ((5, 0), ValueError, "kernel_size must be an int >= 1"),
        ((5, 3, 0), ValueError, "stride must be an int >= 1"),
        ((5, 3, 1, -1), ValueError, "padding must be an int >= 0"),
        ((5, 3, 1, 0, 0), ValueError, "dilation must be an int >= 1"),
        ((5, 3.0), TypeError, "kernel_size must be an int"),
        ((True, 3), TypeError, "size must be an int"),
        ((3, 5), ValueError, "more than the padded input"),
        ((3, 3, 1, 0, 2), ValueError, "spans dilation"),
    ],
)
def test_bad_arguments_are_refused(args, error, match):
    for fn in (window_starts, coverage, covered_rows, uncovered):
        with pytest.raises(error, match=match):
            fn(*args)


def test_padding_for_refuses_unknown_modes():
    with pytest.raises(TypeError, match="mode must be a str"):
        padding_for(3, 3)
    with pytest.raises(ValueError, match=re.escape(str(MODES))):
        padding_for("half", 3)
    with pytest.raises(ValueError, match="kernel_size"):
        padding_for("same", 0)


# ---------------------------------------------------------------- pictures


def test_drawings_return_figures():
    fig = draw_placements(5, 3, 2, 1, placements=[(0, 0), (0, 1), (0, 2), (1, 0), (2, 2)])
    assert len(fig.axes) == 8 and fig.axes[4].get_title() == "output (2, 2)"
    plt.close(fig)
    fig = draw_placements(7, 3, dilation=2)
    assert len(fig.axes) == 3  # default: the first row of outputs, here 3 placements
    plt.close(fig)
    fig = draw_coverage(8, 3, 2)
    assert len(fig.axes[0].texts) == 64
    plt.close(fig)
    with pytest.raises(ValueError, match="outside the 3×3 outputs"):
        draw_placements(5, 3, 2, 1, placements=[(0, 3)])
    with pytest.raises(ValueError, match="at least one"):
        draw_placements(5, 3, placements=[])


def test_animation_has_one_frame_per_output_and_stays_offline():
    html = animation_html(animate_sliding(5, 3, 2, 1))
    assert html.count("data:image/png") == conv_output_size(5, 3, 2, 1) ** 2 == 9
    assert "http" not in html and "<link" not in html
    assert not re.search(r"[0-9a-f]{32}", html)  # matplotlib's random id is gone
    assert html == animation_html(animate_sliding(5, 3, 2, 1))  # a rerun gives the same text
    with pytest.raises(TypeError, match="FuncAnimation"):
        animation_html(html)
