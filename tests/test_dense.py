"""cnnnotes.dense against F.conv2d and nn.Conv2d (PyTorch is the oracle)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnnotes.dense import conv_as_linear, conv_as_matrix

MANY = settings(max_examples=600, deadline=None, database=None, derandomize=True)
SOME = settings(max_examples=150, deadline=None, database=None, derandomize=True)


@st.composite
def conv_case(draw, max_size=8):
    """A valid (x of shape (D, H, W), weight, stride, padding) in float64, PyTorch-accepted."""
    d, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    need = (max(0, -(-(kh - h) // 2)), max(0, -(-(kw - w) // 2)))
    pad = (max(draw(st.integers(0, 3)), need[0]), max(draw(st.integers(0, 3)), need[1]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    x = torch.randn(d, h, w, generator=g, dtype=torch.float64)
    weight = torch.randn(n, d, kh, kw, generator=g, dtype=torch.float64)

    def as_arg(pair):  # an int when both parts are equal (sometimes), else the pair
        return pair[0] if pair[0] == pair[1] and draw(st.booleans()) else pair

    size = h if h == w and draw(st.booleans()) else (h, w)
    return x, weight, size, as_arg(stride), as_arg(pad)


def taps_inside(x_shape, weight, stride, padding) -> int:
    """How many (output, kernel tap) pairs land on the input, not on padding: conv of ones."""
    ones_x = torch.ones(1, *x_shape, dtype=torch.float64)
    ones_w = torch.ones(weight.shape[0], *weight.shape[1:], dtype=torch.float64)
    return int(F.conv2d(ones_x, ones_w, stride=stride, padding=padding).sum())


@MANY
@given(conv_case())
def test_matrix_times_input_is_the_convolution(case):
    x, weight, size, stride, pad = case
    m = conv_as_matrix(weight, size, stride, pad)
    y = F.conv2d(x[None], weight, stride=stride, padding=pad)[0]
    assert m.shape == (y.numel(), x.numel())
    torch.testing.assert_close(m @ x.flatten(), y.flatten(), rtol=1e-12, atol=1e-12)


@MANY
@given(conv_case())
def test_float32_matches(case):
    x, weight, size, stride, pad = case
    m = conv_as_matrix(weight.float(), size, stride, pad)
    assert m.dtype == torch.float32
    y = F.conv2d(x[None].float(), weight.float(), stride=stride, padding=pad)[0]
    torch.testing.assert_close(m @ x.float().flatten(), y.flatten())


@MANY
@given(conv_case())
def test_local_connectivity_nonzeros(case):
    """Non-zeros = (output, tap) pairs inside the input; at most D·F_h·F_w per row."""
    x, weight, size, stride, pad = case
    m = conv_as_matrix(weight, size, stride, pad)
    assert int(torch.count_nonzero(m)) == taps_inside(x.shape, weight, stride, pad)
    assert int((m != 0).sum(dim=1).max()) <= weight[0].numel()


@MANY
@given(conv_case())
def test_weight_sharing_distinct_values(case):
    """Every non-zero entry is a weight value; without padding each weight appears H'·W' times."""
    x, weight, size, stride, pad = case
    m = conv_as_matrix(weight, size, stride, pad)
    nonzero = m[m != 0]
    assert set(nonzero.unique().tolist()) <= set(weight.unique().tolist())
    if pad in (0, (0, 0)):
        out = F.conv2d(x[None], weight, stride=stride)[0]
        positions = out.shape[1] * out.shape[2]
        values, counts = nonzero.unique(return_counts=True)
        assert torch.equal(values, weight.unique())  # randn values are distinct
        assert set(counts.tolist()) == {positions}


def test_fashion_mnist_first_layer_counts():
    weight = torch.randn(32, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    m = conv_as_matrix(weight, 28, padding=1)
    assert m.shape == (32 * 28 * 28, 28 * 28)
    assert int(torch.count_nonzero(m)) == 32 * (26 * 26 * 9 + 4 * 26 * 6 + 4 * 4)
    assert nonzero_distinct(m) == 32 * 9


def nonzero_distinct(m: torch.Tensor) -> int:
    return m[m != 0].unique().numel()


@SOME
@given(conv_case(max_size=6), st.booleans())
def test_conv_as_linear_equals_conv2d(case, bias):
    x, weight, size, stride, pad = case
    n, d, kh, kw = weight.shape
    conv = nn.Conv2d(d, n, (kh, kw), stride, pad, bias=bias).double()
    with torch.no_grad():
        conv.weight.copy_(weight)
    dense = conv_as_linear(conv, size)
    assert (dense.in_features, dense.out_features) == (x.numel(), conv(x[None]).numel())
    assert (dense.bias is not None) == bias
    with torch.no_grad():
        torch.testing.assert_close(dense(x.flatten()), conv(x[None]).flatten())


def test_gradient_flows_to_weight():
    weight = torch.randn(2, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    x = torch.randn(1, 3, 3, dtype=torch.float64)
    (conv_as_matrix(weight, 3) @ x.flatten()).sum().backward()
    expected = torch.autograd.grad(F.conv2d(x[None], weight).sum(), weight)[0]
    torch.testing.assert_close(weight.grad, expected)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (([[1.0]], 3), TypeError, "torch.Tensor"),
        ((torch.ones(1, 1, 3, 3, dtype=torch.long), 3), TypeError, "floating-point"),
        ((torch.ones(1, 3, 3), 3), ValueError, "shape"),
        ((torch.ones(0, 1, 3, 3), 3), ValueError, "empty"),
        ((torch.ones(1, 1, 3, 3), 2), ValueError, "larger than the padded input"),
        ((torch.ones(1, 1, 3, 3), 0), ValueError, "input_size"),
        ((torch.ones(1, 1, 3, 3), 3.0), TypeError, "input_size"),
        ((torch.ones(1, 1, 3, 3), (3, 3, 3)), ValueError, "pair"),
        ((torch.ones(1, 1, 3, 3), 3, 0), ValueError, "stride"),
        ((torch.ones(1, 1, 3, 3), 3, 1, -1), ValueError, "padding"),
    ],
)
def test_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        conv_as_matrix(*args)


def test_conv_as_linear_rejects_unsupported_layers():
    with pytest.raises(TypeError, match=r"nn\.Conv2d"):
        conv_as_linear(nn.Linear(2, 2), 3)
    with pytest.raises(ValueError, match="groups"):
        conv_as_linear(nn.Conv2d(2, 2, 3, groups=2), 5)
    with pytest.raises(ValueError, match="dilation"):
        conv_as_linear(nn.Conv2d(1, 1, 3, dilation=2), 7)
    with pytest.raises(ValueError, match="padding"):
        conv_as_linear(nn.Conv2d(1, 1, 3, padding="same"), 5)
