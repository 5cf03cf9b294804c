"""cnnnotes.conv.sliding against real convolutions (PyTorch is the oracle), and its pictures."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from conftest import conv_height, conv_size_case, refusing
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnnotes.conv.shapes import conv_output_size
from cnnnotes.conv.sliding import (
    MODES,
    coverage,
    covered_rows,
    effective_kernel_size,
    padding_for,
    uncovered,
    window_starts,
)
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Case, Draw
from cnnnotes.viz import animate_sliding, animation_html, draw_coverage, draw_placements

SOME = settings(max_examples=150, deadline=None, database=None, derandomize=True)

pytestmark = pytest.mark.usefixtures("one_thread")


def ones_conv_grad(w: int, k: int, s: int, p: int, d: int) -> list[int]:
    """Gradient of the summed output of an all-ones convolution, per input row."""
    x = torch.zeros(1, 1, w, 1, dtype=torch.float64, requires_grad=True)
    weight = torch.ones(1, 1, k, 1, dtype=torch.float64)
    F.conv2d(x, weight, None, (s, 1), (p, 0), (d, 1)).sum().backward()
    return [int(g) for g in x.grad[0, 0, :, 0]]


def fitting(make: Callable[[Draw], Case]) -> Callable[[Draw], Case | None]:
    """The cases of ``make`` in which the dilated kernel fits; the others are drawn again."""

    def fits(draw: Draw) -> Case | None:
        case = make(draw)
        fits = effective_kernel_size(case["k"], case["d"]) <= case["w"] + 2 * case["p"]
        return case if fits else None

    return fits


def small_conv(draw: Draw) -> Case:
    """One dimension of a convolution: size 1-40, kernel 1-7, stride 1-6, padding 0-6,
    dilation 1-4."""
    w, k, s, p, d = draw.int(1, 40), draw.int(1, 7), draw.int(1, 6), draw.int(0, 6), draw.int(1, 4)
    return {"w": w, "k": k, "s": s, "p": p, "d": d}


# ---------------------------------------------------------------- placements


def test_placement_count_is_the_real_output_size():
    def ours(w, k, s, p, d):
        return len(window_starts(w, k, s, p, d))

    result = agree(refusing(ours, ValueError), conv_height, conv_size_case, n_cases=600,
                   claim="placements")  # fmt: skip
    assert result.ok, str(result)


@SOME
@given(w=st.integers(1, 80), k=st.integers(1, 11), s=st.integers(1, 6), p=st.integers(0, 6),
       d=st.integers(1, 4))  # fmt: skip
def test_placements_are_stride_apart_and_as_many_as_fit(w, k, s, p, d):
    try:
        starts = window_starts(w, k, s, p, d)
    except ValueError:
        assert effective_kernel_size(k, d) > w + 2 * p
        return
    assert len(starts) == conv_output_size(w, k, s, p, d)
    span = effective_kernel_size(k, d)
    assert starts == [i * s for i in range(len(starts))]
    assert starts[-1] + span <= w + 2 * p < starts[-1] + s + span  # the next one would not fit


def test_coverage_is_the_gradient_of_an_all_ones_conv():
    result = agree(coverage, ones_conv_grad, fitting(small_conv), n_cases=150, claim="coverage")
    assert result.ok, str(result)


def test_uncovered_rows_never_influence_any_output():
    """A row is uncovered iff its column of the Jacobian (random weights) is zero."""

    def ours(w, k, s, p, d, weight):
        return uncovered(w, k, s, p, d), covered_rows(w, k, s, p, d)

    def jacobian(w, k, s, p, d, weight):
        def conv(x: torch.Tensor) -> torch.Tensor:
            return F.conv2d(x.view(1, 1, w, 1), weight, None, (s, 1), (p, 0), (d, 1)).flatten()

        jac = torch.autograd.functional.jacobian(conv, torch.zeros(w, dtype=torch.float64))
        read = [bool(jac[:, i].any()) for i in range(w)]
        return [i for i in range(w) if not read[i]], [i for i in range(w) if read[i]]

    def make(draw: Draw) -> Case:
        c = {**small_conv(draw), "w": draw.int(1, 16), "p": draw.int(0, 3)}
        return {**c, "weight": draw.tensor(1, 1, c["k"], 1)}

    result = agree(ours, jacobian, fitting(make), n_cases=150, claim="uncovered rows")
    assert result.ok, str(result)


def test_coverage_in_two_dimensions_is_an_outer_product():
    def ours(w, k, s, p):
        c = torch.tensor(coverage(w, k, s, p), dtype=torch.float64)
        return torch.outer(c, c)

    def gradient(w, k, s, p):
        conv = nn.Conv2d(1, 1, k, s, p, bias=False).double()
        nn.init.ones_(conv.weight)
        x = torch.zeros(1, 1, w, w, dtype=torch.float64, requires_grad=True)
        conv(x).sum().backward()
        return x.grad[0, 0]

    def make(draw: Draw) -> Case | None:
        w, k, s, p = draw.int(1, 12), draw.int(1, 4), draw.int(1, 4), draw.int(0, 2)
        return {"w": w, "k": k, "s": s, "p": p} if k <= w + 2 * p else None

    result = agree(ours, gradient, make, n_cases=150, tol=0, claim="2-D coverage")
    assert result.ok, str(result)


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


def padding_case(draw: Draw) -> Case:
    """A ``w × 1`` float64 input, a kernel size 1-9 and a dilation 1-4."""
    w, k, d = draw.int(1, 50), draw.int(1, 9), draw.int(1, 4)
    return {"x": draw.tensor(1, 1, w, 1), "k": k, "d": d}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_same_padding_is_what_conv2d_same_does():
    """Same size AND same values: the odd extra zero goes after the input, as in PyTorch."""

    def ours(x, k, d):
        conv, (before, after) = layer(k, d, "same"), padding_for("same", k, d)
        y = F.conv2d(F.pad(x, (0, 0, before, after)), conv.weight, conv.bias, dilation=(d, 1))
        return y, len(window_starts(x.shape[2] + before + after, k, dilation=d))

    def pytorch(x, k, d):
        return layer(k, d, "same")(x), x.shape[2]

    result = agree(ours, pytorch, padding_case, n_cases=150, claim="'same' padding")
    assert result.ok, str(result)


def test_valid_and_full_padding_sizes():
    """'valid': no padding, the sizes PyTorch's 'valid' gives; 'full': every kernel tap
    reads every cell, and the output is the input plus the dilated kernel minus 1."""

    def ours(x, k, d):
        w, (before, after) = x.shape[2], padding_for("full", k, d)
        valid = conv_output_size(w, k, 1, 0, d) if d * (k - 1) < w else None
        full = (before, after, conv_height(w, k, 1, before, d), coverage(w, k, 1, before, d))
        return padding_for("valid", k, d), valid, full

    def pytorch(x, k, d):
        w, span = x.shape[2], d * (k - 1)
        valid = refusing(lambda: layer(k, d, "valid")(x).shape[2], RuntimeError)()
        return (0, 0), valid, (span, span, w + span, [k] * w)

    result = agree(ours, pytorch, padding_case, n_cases=150, claim="'valid' and 'full'")
    assert result.ok, str(result)


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


# ---------------------------------------------------------------- pictures (cnnnotes.viz)


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
