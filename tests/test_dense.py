"""cnnnotes.conv.dense against F.conv2d and nn.Conv2d (PyTorch is the oracle)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import int_or_pair
from torch import nn

from cnnnotes.conv.dense import conv_as_linear, conv_as_matrix, locally_connected
from cnnnotes.oracle import agree, cases
from cnnnotes.oracle.cases import Case, Draw, draw_cases

pytestmark = pytest.mark.usefixtures("one_thread")

TOL = 1e-12


def conv_case(draw: Draw, max_size: int = 8) -> Case:
    """A float64 input ``(D, H, W)``, a weight, the input size (an int when square, half
    of the time), stride and padding, padded enough for the kernel to fit."""
    d, n, h, w = draw.int(1, 3), draw.int(1, 3), draw.int(1, max_size), draw.int(1, max_size)
    kh, kw, stride = draw.int(1, 4), draw.int(1, 4), (draw.int(1, 3), draw.int(1, 3))
    pad = (max(draw.int(0, 3), -(-(kh - h) // 2)), max(draw.int(0, 3), -(-(kw - w) // 2)))
    size = int_or_pair(draw, (h, w))
    return {"x": draw.tensor(d, h, w), "weight": draw.tensor(n, d, kh, kw), "size": size,
            "stride": int_or_pair(draw, stride), "padding": int_or_pair(draw, pad)}  # fmt: skip


def taps_inside(x_shape, weight, stride, padding) -> int:
    """How many (output, kernel tap) pairs land on the input, not on padding: conv of ones."""
    ones_x = torch.ones(1, *x_shape, dtype=torch.float64)
    ones_w = torch.ones(weight.shape[0], *weight.shape[1:], dtype=torch.float64)
    return int(F.conv2d(ones_x, ones_w, stride=stride, padding=padding).sum())


def matrix_times_input(x, weight, size, stride, pad):
    m = conv_as_matrix(weight, size, stride, pad)
    return m @ x.flatten(), m.shape, m.dtype


def conv2d_flat(x, weight, size, stride, pad):
    y = F.conv2d(x[None], weight, stride=stride, padding=pad)[0]
    return y.flatten(), (y.numel(), x.numel()), x.dtype


def test_matrix_times_input_is_the_convolution():
    result = agree(matrix_times_input, conv2d_flat, conv_case, n_cases=600, tol=TOL,
                   claim="conv_as_matrix")  # fmt: skip
    assert result.ok, str(result)


def test_float32_matches():
    def in_float32(fn):
        return lambda x, weight, *rest: fn(x.float(), weight.float(), *rest)

    result = agree(in_float32(matrix_times_input), in_float32(conv2d_flat), conv_case,
                   n_cases=600, seed=1, claim="conv_as_matrix in float32")  # fmt: skip
    assert result.ok, str(result)


def test_local_connectivity_nonzeros():
    """Non-zeros = (output, tap) pairs inside the input; at most D·F_h·F_w per row."""

    def ours(x, weight, size, stride, pad):
        m = conv_as_matrix(weight, size, stride, pad)
        return int(torch.count_nonzero(m)), int((m != 0).sum(dim=1).max()) <= weight[0].numel()

    def counted(x, weight, size, stride, pad):
        return taps_inside(x.shape, weight, stride, pad), True

    result = agree(ours, counted, conv_case, n_cases=600, seed=2, claim="non-zeros")
    assert result.ok, str(result)


def test_weight_sharing_distinct_values():
    """Every non-zero entry is a weight value; without padding each weight appears H'·W' times."""
    for case in draw_cases(conv_case, 600, seed=3):
        x, weight, size, stride, pad = case.values()
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


def test_conv_as_linear_equals_conv2d():
    def layer(weight, stride, pad, bias):
        n, d, kh, kw = weight.shape
        conv = nn.Conv2d(d, n, (kh, kw), stride, pad, bias=bias is not None)
        conv = conv.double().requires_grad_(False)
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
        return conv

    def ours(x, weight, size, stride, pad, bias):
        dense = conv_as_linear(layer(weight, stride, pad, bias), size)
        with torch.no_grad():
            y = dense(x.flatten())
        return y, (dense.in_features, dense.out_features), dense.bias is not None

    def pytorch(x, weight, size, stride, pad, bias):
        y = layer(weight, stride, pad, bias)(x[None]).flatten()
        return y, (x.numel(), y.numel()), bias is not None

    def make(draw: Draw) -> Case:
        case = conv_case(draw, max_size=6)
        return {**case, "bias": draw.tensor(case["weight"].shape[0]) if draw.flag() else None}

    result = agree(ours, pytorch, make, n_cases=150, claim="conv_as_linear")
    assert result.ok, str(result)


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


def per_position_conv(x, weight, bias, stride, padding):
    """Output (n, i, j) of F.conv2d run with position (i, j)'s own filter bank."""
    h_out, w_out = weight.shape[:2]
    out = x.new_zeros(x.shape[0], weight.shape[2], h_out, w_out)
    for i in range(h_out):
        for j in range(w_out):
            out[:, :, i, j] = F.conv2d(x, weight[i, j], None, stride, padding)[:, :, i, j]
    return out + bias


def test_locally_connected_is_conv2d_position_by_position():
    result = agree(locally_connected, per_position_conv, cases.local_tensors, n_cases=500,
                   claim="locally_connected vs F.conv2d per position")  # fmt: skip
    assert result.ok and result.cases == 500, str(result)


def test_locally_connected_with_one_shared_bank_is_conv2d():
    """Weight sharing is the only difference: the same bank everywhere gives F.conv2d."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 9, 7, generator=g, dtype=torch.float64)
    w, b = (
        torch.randn(4, 3, 3, 2, generator=g, dtype=torch.float64),
        torch.randn(4, dtype=torch.float64),
    )
    want = F.conv2d(x, w, b, stride=(2, 1), padding=(1, 0))
    h_out, w_out = want.shape[2:]
    shared = w.expand(h_out, w_out, *w.shape)
    bias = b[:, None, None].expand(4, h_out, w_out)
    got = locally_connected(x, shared, bias, stride=(2, 1), padding=(1, 0))
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(
        locally_connected(x, shared, stride=(2, 1), padding=(1, 0)), want - b[:, None, None]
    )


def test_locally_connected_parameters_and_refusals():
    """N·H'·W'·(F²D + 1) numbers, and clear errors for mismatched shapes."""
    d, n, f, side = 1, 32, 3, 28
    weight, bias = torch.zeros(side, side, n, d, f, f), torch.zeros(n, side, side)
    assert weight.numel() + bias.numel() == n * side * side * (f * f * d + 1) == 250_880
    x = torch.zeros(1, d, side, side)
    assert locally_connected(x, weight, bias, padding=1).shape == (1, n, side, side)
    with pytest.raises(ValueError, match="positions"):
        locally_connected(x, weight, bias)  # no padding: 26x26 positions
    with pytest.raises(ValueError, match="channels"):
        locally_connected(torch.zeros(1, 2, side, side), weight, bias, padding=1)
    with pytest.raises(ValueError, match="bias must have shape"):
        locally_connected(x, weight, bias[:, :-1], padding=1)
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        locally_connected(x.tolist(), weight)
