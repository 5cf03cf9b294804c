"""Claims of chapters 3 (the convolution layer) and 4 (padding, stride, dilation).

Each chapter states a claim once and checks it once, visibly; the repetitions and the
secondary checks live here, each one :func:`~cnnnotes.oracle.agree` call with PyTorch
as the reference. The case functions are the chapters' own, so a test failing here
means a sentence of a chapter is wrong.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnnotes.conv import sliding
from cnnnotes.conv.dense import conv_as_matrix
from cnnnotes.conv.shapes import conv_output_size, linear_param_count
from cnnnotes.oracle import agree, cases
from cnnnotes.oracle.cases import Draw
from cnnnotes.oracle.sweep import torch_output_size

pytestmark = pytest.mark.usefixtures("one_thread")


def count(layer: nn.Module) -> int:
    return sum(p.numel() for p in layer.parameters())


# ---------------------------------------------------------------- chapter 3


def test_weight_is_n_d_f_f_and_bias_is_one_per_filter() -> None:
    """Every layer of a grid: weight (N, D, F, F), bias (N,), so one bias per filter."""
    grid = [
        {"depth": d, "n": n, "f": f}
        for d in range(1, 9)
        for n in (1, 2, 3, 8, 16, 32, 64)
        for f in range(1, 8)
    ]

    def shapes(depth: int, n: int, f: int) -> tuple:
        layer = nn.Conv2d(depth, n, f, device="meta")
        return tuple(layer.weight.shape), tuple(layer.bias.shape)

    result = agree(lambda d, n, f: ((n, d, f, f), (n,)), shapes, grid, claim="shapes")
    assert result.ok and result.cases == 392, str(result)


def random_layer(draw: Draw) -> dict:
    """Chapter 3's random layers: D, N, F <= 4 (here <= 3), S <= 3, P <= 2, F <= H, W."""
    depth, n, f = draw.int(1, 3), draw.int(1, 3), draw.int(1, 4)
    h, w = draw.int(f, 9), draw.int(f, 9)
    return {
        "x": draw.tensor(depth, h, w),
        "w": draw.tensor(n, depth, f, f),
        "stride": draw.int(1, 3),
        "padding": draw.int(0, 2),
    }


def test_conv_matrix_is_local_and_shared() -> None:
    """At most D·F² non-zeros per row (local connectivity) and at most N·D·F² distinct
    values (weight sharing), exactly N·D·F² without padding, where every tap is used."""

    def structure(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> tuple:
        m = conv_as_matrix(w, tuple(x.shape[1:]), stride=stride, padding=padding)
        per_row = int((m != 0).sum(dim=1).max())
        distinct = m[m != 0].unique().numel()
        n, depth, f, _ = w.shape
        return (
            per_row <= depth * f * f,
            distinct <= n * depth * f * f,
            padding > 0 or distinct == n * depth * f * f,
        )

    result = agree(structure, lambda *_: (True, True, True), random_layer, n_cases=500)
    assert result.ok, str(result)


def test_conv_matrix_times_x_is_conv2d_on_other_cases() -> None:
    def dense(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
        m = conv_as_matrix(w, tuple(x.shape[1:]), stride=stride, padding=padding)
        return m @ x.flatten()

    def torch_flat(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
        return F.conv2d(x[None], w, None, stride, padding).flatten()

    result = agree(dense, torch_flat, random_layer, n_cases=300, seed=7)
    assert result.ok, str(result)


def one_by_one(draw: Draw) -> dict:
    depth, n = draw.int(1, 8), draw.int(1, 8)
    return {
        "x": draw.tensor(2, depth, draw.int(1, 8), draw.int(1, 8)),
        "weight": draw.tensor(n, depth, 1, 1),
        "bias": draw.tensor(n),
    }


def test_1x1_conv_is_a_linear_at_every_pixel() -> None:
    def per_pixel(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return F.linear(x.permute(0, 2, 3, 1), weight[:, :, 0, 0], bias).permute(0, 3, 1, 2)

    result = agree(per_pixel, F.conv2d, one_by_one, n_cases=500)
    assert result.ok, str(result)


def test_1x1_conv_matrix_is_a_kronecker_product() -> None:
    def kron(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        eye = torch.eye(x.shape[2] * x.shape[3], dtype=weight.dtype)
        return torch.kron(weight[:, :, 0, 0], eye)

    def matrix(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return conv_as_matrix(weight, tuple(x.shape[2:]))

    result = agree(kron, matrix, one_by_one, n_cases=300)
    assert result.ok, str(result)


def test_1x1_conv_has_the_parameters_of_a_linear() -> None:
    grid = [{"depth": d, "n": n} for d in range(1, 65, 3) for n in range(1, 65, 3)]

    def conv(depth: int, n: int) -> int:
        return count(nn.Conv2d(depth, n, 1, device="meta"))

    def formula(depth: int, n: int) -> tuple[int, int]:
        return n * (depth + 1), linear_param_count(depth, n)

    result = agree(formula, lambda d, n: (conv(d, n), conv(d, n)), grid)
    assert result.ok, str(result)


def test_notes_bias_count_is_right_only_for_one_channel() -> None:
    """The notes' N(F²D + D) counts D biases per filter: right exactly when D = 1."""
    grid = [
        {"depth": d, "n": n, "f": f}
        for d in range(1, 17)
        for n in (1, 8, 32, 64)
        for f in (1, 3, 5, 7)
    ]

    def notes(depth: int, n: int, f: int) -> int:
        return n * (f * f * depth + depth)

    def real(depth: int, n: int, f: int) -> int:
        return count(nn.Conv2d(depth, n, f, device="meta"))

    one = agree(notes, real, [c for c in grid if c["depth"] == 1])
    more = agree(notes, real, [c for c in grid if c["depth"] > 1])
    assert one.ok, str(one)
    assert more.mismatches == more.cases == 240, str(more)


def test_dense_over_conv_ratio_formula() -> None:
    """Equation (eq-conv-layer-ratio) against real layers on square, size-keeping inputs."""
    grid = [
        {"depth": d, "n": n, "f": f, "side": s}
        for d in (1, 3, 32)
        for n in (1, 16)
        for f in (1, 3, 5)
        for s in (4, 9, 28)
    ]

    def formula(depth: int, n: int, f: int, side: int) -> float:
        return side**2 * (depth * side**2 + 1) / (f * f * depth + 1)

    def real(depth: int, n: int, f: int, side: int) -> float:
        conv = nn.Conv2d(depth, n, f, padding=f // 2, device="meta")
        dense = nn.Linear(depth * side * side, n * side * side, device="meta")
        return count(dense) / count(conv)

    result = agree(formula, real, grid, tol=1e-12)
    assert result.ok, str(result)


# ---------------------------------------------------------------- chapter 4


def test_typed_formula_and_sliding_count_agree_with_pytorch() -> None:
    """The formula typed out as in the chapter, and the count of placements, on other seeds."""

    def ours(size: int, k: int, s: int, p: int, d: int) -> tuple[int, int]:
        typed = (size + 2 * p - d * (k - 1) - 1) // s + 1
        return typed, len(sliding.window_starts(size, k, s, p, d))

    def real(size: int, k: int, s: int, p: int, d: int) -> tuple[int, int]:
        out = torch_output_size(nn.Conv2d(1, 1, (k, 1), (s, 1), (p, 0), (d, 1), bias=False), size)
        return out, out

    result = agree(ours, real, cases.conv_config, n_cases=2000, seed=11)
    assert result.ok, str(result)


def test_coverage_is_the_gradient_of_a_kernel_of_ones() -> None:
    """'Why pad at all': with all weights 1, the gradient of the summed output counts taps."""

    def grad_counts(size: int, k: int, s: int, p: int, d: int) -> list[int]:
        x = torch.zeros(1, 1, size, 1, dtype=torch.float64, requires_grad=True)
        ones = torch.ones(1, 1, k, 1, dtype=torch.float64)
        F.conv2d(x, ones, None, (s, 1), (p, 0), (d, 1)).sum().backward()
        return x.grad[0, 0, :, 0].long().tolist()

    result = agree(sliding.coverage, grad_counts, cases.conv_config, n_cases=500, seed=12)
    assert result.ok, str(result)


def square_layer(draw: Draw) -> dict | None:
    """A square layer of any kind (strides wider than the kernel, dilations: holes)."""
    w, k, s, p, d = draw.int(1, 20), draw.int(1, 5), draw.int(1, 5), draw.int(0, 3), draw.int(1, 3)
    if d * (k - 1) + 1 > w + 2 * p:
        return None
    return {"size": w, "kernel_size": k, "stride": s, "padding": p, "dilation": d}


def test_uncovered_rows_and_columns_are_the_zero_gradient_pixels() -> None:
    """The pixels a real conv with positive weights ignores are exactly the rows and
    columns ``uncovered`` lists, on every kind of layer, holes included."""

    def predicted(size: int, k: int, s: int, p: int, d: int) -> torch.Tensor:
        lost = sliding.uncovered(size, k, s, p, d)
        mask = torch.zeros(size, size, dtype=torch.bool)
        mask[lost, :] = True
        mask[:, lost] = True
        return mask

    g = torch.Generator().manual_seed(3)

    def dead_pixels(size: int, k: int, s: int, p: int, d: int) -> torch.Tensor:
        x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
        weight = 0.5 + torch.rand(1, 1, k, k, generator=g, dtype=torch.float64)
        F.conv2d(x, weight, None, s, p, d).sum().backward()
        return x.grad[0, 0] == 0

    result = agree(predicted, dead_pixels, square_layer, n_cases=1000, seed=13)
    assert result.ok, str(result)


def test_uncovered_needs_no_theorem_when_the_stride_is_wider() -> None:
    """Where the chapter's theorem does not apply (S > F or d > 1), input rows in the
    middle can be lost; ``uncovered`` still names exactly the zero-gradient rows."""

    def beyond_theorem(draw: Draw) -> dict | None:
        case = square_layer(draw)
        if case is None or (case["dilation"] == 1 and case["stride"] <= case["kernel_size"]):
            return None
        return case

    def dead_rows(size: int, k: int, s: int, p: int, d: int) -> list[int]:
        x = torch.zeros(1, 1, size, 1, dtype=torch.float64, requires_grad=True)
        ones = torch.ones(1, 1, k, 1, dtype=torch.float64)
        F.conv2d(x, ones, None, (s, 1), (p, 0), (d, 1)).sum().backward()
        return (x.grad[0, 0, :, 0] == 0).nonzero().flatten().tolist()

    result = agree(sliding.uncovered, dead_rows, beyond_theorem, n_cases=1000, seed=14)
    assert result.ok, str(result)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_same_padding_split_in_two_dimensions() -> None:
    """``padding_for('same')`` on both axes at once equals ``padding='same'`` in 2-D."""

    def same2d(draw: Draw) -> dict:
        kh, kw, dh, dw = draw.int(1, 6), draw.int(1, 6), draw.int(1, 3), draw.int(1, 3)
        x = draw.tensor(1, draw.int(1, 3), draw.int(1, 12), draw.int(1, 12))
        return {"x": x, "weight": draw.tensor(2, x.shape[1], kh, kw), "dilation": (dh, dw)}

    def by_hand(x: torch.Tensor, weight: torch.Tensor, dilation: tuple[int, int]) -> torch.Tensor:
        top, bottom = sliding.padding_for("same", weight.shape[2], dilation[0])
        left, right = sliding.padding_for("same", weight.shape[3], dilation[1])
        return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, dilation=dilation)

    def pytorch(x: torch.Tensor, weight: torch.Tensor, dilation: tuple[int, int]) -> torch.Tensor:
        return F.conv2d(x, weight, padding="same", dilation=dilation)

    result = agree(by_hand, pytorch, same2d, n_cases=500, seed=15)
    assert result.ok, str(result)


def test_no_floor_is_wrong_exactly_when_the_stride_does_not_divide() -> None:
    """Without the floor the notes' formula is wrong on exactly the undilated layers
    where S does not divide W + 2P - F (and then it is not even an integer)."""
    layers = [c for c in cases.draw_cases(cases.conv_config, 3000, seed=16) if c["dilation"] == 1]
    for case in layers:
        del case["dilation"]

    def no_floor(size: int, k: int, s: int, p: int) -> float:
        return (size + 2 * p - k) / s + 1

    result = agree(no_floor, conv_output_size, layers)
    fractional = sum((c["size"] + 2 * c["padding"] - c["kernel_size"]) % c["stride"] != 0
                     for c in layers)  # fmt: skip
    assert result.mismatches == fractional > 0, str(result)
