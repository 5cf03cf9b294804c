"""cnnnotes.check and cnnnotes.oracle.sweep: right answers pass, subtly wrong ones are caught."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cnnnotes.check import (
    check_answer,
    check_conv2d,
    check_output_size,
    check_param_count,
    check_pool2d,
    check_pool_size,
    check_receptive_field,
    compare,
)
from cnnnotes.conv import ops
from cnnnotes.oracle import sweep
from cnnnotes.oracle.sweep import (
    empirical_receptive_field,
    sweep_conv2d,
    sweep_output_sizes,
    sweep_pool2d,
    sweep_pool_sizes,
    sweep_receptive_fields,
)

# ---------------------------------------------------------------- compare


@pytest.mark.parametrize(
    ("actual", "expected", "summary"),
    [
        ([1, 2], [1, 2], "exact"),
        (
            [1.0, 2.0],
            [1.0, 2.0],
            "agree to 1e-10",
        ),  # floats never claim exact; Python's are doubles
        ([1.0, math.nan, math.inf], [1.0, math.nan, math.inf], "agree to 1e-10"),
        ([1 / 3], [0.3333334], "DIFFERENT: max |Δ| = 6.7e-08 at (0,)"),  # not rounded to float32
        (torch.tensor([1.0]), torch.tensor([1.0 + 3e-7]), "agree to 1e-05"),
        (torch.tensor([1e6]), torch.tensor([1e6 + 2.0]), "agree to 1e-05"),  # relative above 1
        (
            torch.tensor([1.0], dtype=torch.float64),
            torch.tensor([1.0 + 3e-11], dtype=torch.float64),
            "agree to 1e-10",
        ),
        (
            torch.tensor([1.0], dtype=torch.float64),
            torch.tensor([1.0 + 3e-9], dtype=torch.float64),
            "DIFFERENT: max |Δ| = 3e-09 at (0,)",
        ),
        ([1.0, 2.0], [1.0, 2.3], "DIFFERENT: max |Δ| = 0.3 at (1,)"),
        ([1, 2], [1, 3], "DIFFERENT: max |Δ| = 1 at (1,)"),
        ([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.5, 4.0]], "DIFFERENT: max |Δ| = 0.5 at (1, 0)"),
        ([1.0, math.inf], [1.0, 3.0], "DIFFERENT: max |Δ| = inf at (1,)"),
        ([1.0, math.nan], [1.0, 3.0], "DIFFERENT: max |Δ| = inf at (1,)"),
        ([1.0, 2.0], [1.0, 2.0, 3.0], "DIFFERENT: shape (2,) vs (3,)"),
    ],
)
def test_compare(actual, expected, summary):
    assert compare(actual, expected) == summary


def test_compare_tolerance_is_explicit_and_validated():
    a = torch.tensor([0.0], dtype=torch.float64)
    assert compare(a, a + 1e-8, tol=1e-6) == "agree to 1e-06"
    assert compare(a, a + 1e-8, tol=0) == "DIFFERENT: max |Δ| = 1e-08 at (0,)"
    assert compare(a, a, tol=0) == "exact"
    for bad in (-1, math.nan, "1e-3", True):
        with pytest.raises(ValueError, match="tol must be a number >= 0"):
            compare(a, a, tol=bad)
    with pytest.raises(TypeError, match="actual must be a tensor"):
        compare(object(), a)


def test_check_answer():
    assert check_answer(13, 13, "width") == "Correct: width = 13."
    assert check_answer(torch.tensor(13), 13, "width") == "Correct: width = 13."
    assert check_answer(12, 13, "width") == "Not yet: width = 12, expected 13."
    assert check_answer("13", 13, "width") == "Not yet: width = '13', expected 13."
    assert check_answer(True, 1) == "Not yet: answer = True, expected 1."
    assert check_answer(0.333, 1 / 3, "p", tol=1e-3).startswith("Correct")


# ---------------------------------------------------------------- scalar checks


def out_size(size, kernel_size, stride, padding):
    return (size + 2 * padding - kernel_size) // stride + 1


def test_check_output_size():
    assert check_output_size(out_size) == "All 2,972 cases match PyTorch."
    assert check_output_size(lambda w, k, s, p: torch.tensor(out_size(w, k, s, p))).startswith(
        "All"
    )
    no_floor = check_output_size(lambda w, k, s, p: (w + 2 * p - k) / s + 1)
    assert no_floor == (
        "Mismatch: fn(size=6, kernel_size=3, stride=2, padding=0) returned 2.5, PyTorch gives 2."
        " That is what dividing without the floor gives."
    )
    no_padding = check_output_size(lambda w, k, s, p: (w - k) // s + 1)
    assert no_padding.endswith("padding=1) returned 3, PyTorch gives 5.")  # no named slip fits
    one_side = check_output_size(lambda w, k, s, p: (w + p - k) // s + 1)
    assert one_side.endswith("That is what padding on one side only (P instead of 2P) gives.")
    no_plus_one = check_output_size(lambda w, k, s, p: (w + 2 * p - k) // s)
    assert no_plus_one.endswith("That is what forgetting the +1 gives.")
    assert "returned None" in check_output_size(lambda w, k, s, p: None)


def test_check_output_size_reports_an_exception_with_its_case():
    def picky(size, kernel_size, stride, padding):
        if padding > 2:
            raise ValueError("padding too big")
        return out_size(size, kernel_size, stride, padding)

    assert check_output_size(picky) == (
        "Your function raised ValueError: padding too big for "
        "picky(size=5, kernel_size=3, stride=1, padding=3); PyTorch gives 9."
    )


def test_check_param_count():
    assert check_param_count(lambda d, n, k: n * (k * k * d + 1)) == "All 80 cases match PyTorch."
    d_biases = check_param_count(lambda d, n, k: n * (k * k * d + d))
    assert d_biases == (
        "Mismatch: fn(in_channels=3, out_channels=1, kernel_size=3) returned 30, PyTorch gives 28."
        " That is what one bias per input channel, N(F²D + D) (the notes' slip) gives."
    )
    no_bias = check_param_count(lambda d, n, k: n * k * k * d)
    assert (
        "kernel_size=3) returned 9, PyTorch gives 10. That is what forgetting the bias" in no_bias
    )


def test_check_pool_size():
    assert check_pool_size(out_size) == "All 1,017 cases match PyTorch."
    ceil = check_pool_size(lambda w, k, s, p: math.ceil((w + 2 * p - k) / s) + 1)
    assert ceil == (
        "Mismatch: fn(size=5, kernel_size=2, stride=2, padding=0) returned 3, PyTorch gives 2."
        " That is what ceil instead of floor gives."
    )


def rf(layers):
    r, j = 1, 1
    for k, s in layers:
        r, j = r + (k - 1) * j, j * s
    return r


def test_check_receptive_field():
    assert check_receptive_field(rf) == "All 99 cases match PyTorch."
    no_jump = check_receptive_field(lambda layers: 1 + sum(k - 1 for k, _ in layers))
    assert no_jump == (
        "Mismatch: fn(layers=[(3, 2), (3, 1)]) returned 5, the measured receptive field is 7."
    )


def test_check_receptive_field_learner_cannot_spoil_the_cases():
    def destructive(layers):
        result = rf(layers)
        layers.clear()
        return result

    assert check_receptive_field(destructive).startswith("All 99")


# ---------------------------------------------------------------- tensor checks


def test_check_conv2d_accepts_correct_versions():
    assert check_conv2d(ops.conv2d) == "All 11 cases match F.conv2d."
    assert check_conv2d(ops.conv2d_loops) == "All 11 cases match F.conv2d."
    assert check_conv2d(ops.conv2d, bias_none=True) == "All 11 cases match F.conv2d."


@pytest.mark.parametrize(
    ("wrong", "fragment"),
    [
        (
            lambda x, w, b, s, p: ops.conv2d(x, w.flip(-1, -2), b, s, p),
            "Mismatch for x (1, 1, 5, 5), weight (1, 1, 3, 3), bias (1,), stride=1, padding=0: "
            "at index (0, 0, ",
        ),
        (
            lambda x, w, b, s, p: ops.conv2d(x, w, None, s, p),
            "your output is",
        ),
        (
            lambda x, w, b, s, p: ops.conv2d(x, w, b, 1, p),
            "stride=2, padding=0: your output has shape (1, 3, 5, 3), F.conv2d gives (1, 3, 3, 2).",
        ),
        (
            lambda x, w, b, s, p: ops.conv2d(x.double(), w.double(), b.double(), s, p),
            "your output has dtype torch.float64, F.conv2d gives torch.float32.",
        ),
        (
            lambda x, w, b, s, p: ops.conv2d(x, w, b, s, p).tolist(),
            "your function returned list, expected a torch.Tensor.",
        ),
        (
            lambda x, w, b, s, p: ops.conv2d(x, w[:, :1], b, s, p),
            "Your function raised ValueError: x has C=3 channels but weight expects 1",
        ),
    ],
)
def test_check_conv2d_catches_mistakes(wrong, fragment):
    assert fragment in check_conv2d(wrong)


def test_check_conv2d_shows_the_values_at_one_index():
    message = check_conv2d(lambda x, w, b, s, p: ops.conv2d(x, w, b, s, p) + 0.5)
    assert message.startswith("Mismatch for x (1, 1, 5, 5)")
    assert "your output is" in message
    assert "F.conv2d gives" in message


def test_check_pool2d():
    assert check_pool2d(ops.max_pool2d) == "All 8 cases match F.max_pool2d."
    assert check_pool2d(ops.avg_pool2d, "avg") == "All 8 cases match F.avg_pool2d."
    assert "F.max_pool2d gives" in check_pool2d(ops.avg_pool2d)

    def zero_padded_max(x, k, s, p):
        padded = torch.zeros(*x.shape[:2], x.shape[2] + 2 * p, x.shape[3] + 2 * p)
        padded[..., p : p + x.shape[2], p : p + x.shape[3]] = x
        return ops.max_pool2d(padded, k, s, 0)

    message = check_pool2d(zero_padded_max)
    assert message.startswith("Mismatch for x (2, 2, 7, 5), kernel_size=3, stride=2, padding=1")
    with pytest.raises(ValueError, match="kind must be 'max' or 'avg'"):
        check_pool2d(ops.max_pool2d, "min")


def test_checks_are_deterministic():
    """Same seed, same verdict, whatever the global RNG did in between; the seed matters.

    (Comparing two calls in a row could not fail: nothing changed between them.)
    """

    def wrong(x, w, b, s, p):
        return ops.conv2d(x, w, b, s, p) * 1.01

    torch.manual_seed(1)
    first = check_conv2d(wrong)
    torch.manual_seed(2)
    torch.rand(1000)  # a different global state: a check drawing from it would now differ
    assert check_conv2d(wrong) == first
    assert check_conv2d(wrong, seed=1) != first, "the seed must choose the cases"
    assert check_pool2d(ops.avg_pool2d) == check_pool2d(ops.avg_pool2d)


# ---------------------------------------------------------------- sweeps


def test_sweeps_find_no_mismatches():
    for result in (
        sweep_output_sizes(2000, seed=1),
        sweep_pool_sizes(2000, seed=1),
        sweep_receptive_fields(60, seed=1),
        sweep_conv2d(100, seed=1),
        sweep_pool2d(100, seed=1, kind="max"),
        sweep_pool2d(100, seed=1, kind="avg"),
    ):
        assert result.ok and result.cases in (2000, 60, 100), str(result)


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ([(3, 1)], 3),
        ([(3, 1), (3, 1)], 5),
        ([(3, 2), (3, 1)], 7),
        ([(1, 2), (2, 1)], 3),  # stride > kernel: holes, but the span is 3
        ([(3, 1, 2)], 5),  # dilation 2
    ],
)
def test_empirical_receptive_field(layers, expected):
    assert empirical_receptive_field(layers) == expected


@pytest.mark.parametrize(
    ("target", "wrong", "call"),
    [
        ("conv_output_size", lambda *a: -1, lambda: sweep_output_sizes(50, seed=1)),
        ("pool_output_size", lambda *a: -1, lambda: sweep_pool_sizes(50, seed=1)),
        ("receptive_field", lambda layers: 0, lambda: sweep_receptive_fields(10, seed=1)),
    ],
)
def test_sweeps_catch_a_wrong_formula(monkeypatch, target, wrong, call):
    """A sweep that always reported 0 mismatches would prove nothing: plant a bug."""
    monkeypatch.setattr(sweep, target, wrong)
    result = call()
    assert result.mismatches == result.cases, str(result)


@pytest.mark.parametrize(("kind", "name"), [("max", "max_pool2d"), ("avg", "avg_pool2d")])
def test_sweeps_catch_a_wrong_op(monkeypatch, kind, name):
    real_conv, real_pool = ops.conv2d, getattr(ops, name)
    monkeypatch.setattr(ops, "conv2d", lambda *a: real_conv(*a) * 1.01)
    monkeypatch.setattr(ops, name, lambda *a: real_pool(*a) + 0.01)
    assert sweep_conv2d(20, seed=1).mismatches == 20
    assert sweep_pool2d(20, seed=1, kind=kind).mismatches == 20


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "10"])
def test_sweeps_reject_bad_case_counts(bad):
    for fn in (sweep_output_sizes, sweep_pool_sizes, sweep_receptive_fields, sweep_conv2d):
        with pytest.raises(ValueError, match="n_cases must be an int >= 1"):
            fn(bad)


@pytest.mark.parametrize("tol", [-1, float("nan"), "0.1"])
def test_check_answer_rejects_a_bad_tolerance(tol):
    with pytest.raises(ValueError, match="tol must be a number >= 0"):
        check_answer(13, 13, "width", tol=tol)


@pytest.mark.parametrize(
    "answer",
    [(6, 28, 28), [6, 28, 28], torch.Size([6, 28, 28]), torch.tensor([6, 28, 28]), (6.0, 28, 28)],
)
def test_check_answer_accepts_every_form_of_a_shape(answer):
    assert check_answer(answer, (6, 28, 28), "shape").startswith("Correct: shape = (6")


@pytest.mark.parametrize("answer", [(6, 28), (6, 28, 29), 6, "6, 28, 28", (True, 28, 28)])
def test_check_answer_rejects_wrong_shapes(answer):
    assert check_answer(answer, torch.Size([6, 28, 28]), "shape").startswith("Not yet")


def test_conv_and_pool_checks_name_their_classic_mistakes():
    flipped = check_conv2d(lambda x, w, b, s, p: F.conv2d(x, w.flip(-2, -1), b, s, p))
    assert flipped.endswith(
        "That is what flipping the kernel (true convolution; F.conv2d cross-correlates) gives."
    )

    def zero_padded(x, k, s, p):
        return F.max_pool2d(F.pad(x, (p, p, p, p)), k, s)

    assert check_pool2d(zero_padded).endswith("padding with zeros instead of -inf gives.")
    assert "That is what" not in check_conv2d(lambda x, w, b, s, p: F.conv2d(x, w, None, s, p))
