"""cnnnotes.check and cnnnotes.oracle.sweep: right answers pass, subtly wrong ones are caught."""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnnotes.check import (
    check_1x1_as_linear,
    check_answer,
    check_avg_pool2d,
    check_conv2d,
    check_corr2d,
    check_edge_kernel,
    check_normalize,
    check_output_size,
    check_param_count,
    check_pool2d,
    check_receptive_field,
    check_to_tensor,
    compare,
)
from cnnnotes.check.convolution import CORR2D_MISTAKES, ONE_BY_ONE_MISTAKES
from cnnnotes.check.optim import MOMENTUM_MISTAKES, check_momentum_steps
from cnnnotes.check.receptive import RF_MISTAKES
from cnnnotes.check.sizes import (
    CONV_SIZE_CASES,
    CONV_SIZE_MISTAKES,
    CONV_TRANSPOSE_SIZE_CASES,
    conv_height,
    conv_transpose_height,
)
from cnnnotes.check.tensors import (
    AVG_POOL_MISTAKES,
    CONV_MISTAKES,
    NORMALIZE_MISTAKES,
    POOL_MISTAKES,
    TO_TENSOR_MISTAKES,
)
from cnnnotes.check.training import (
    ACCUMULATE_MISTAKES,
    LOOP_MISTAKES,
    LOSS_MISTAKES,
    check_accumulate_step,
    check_train_loop,
)
from cnnnotes.conv import ops
from cnnnotes.conv.kernels import box_blur, laplacian, prewitt, sharpen, sobel
from cnnnotes.oracle import sweep
from cnnnotes.oracle.sweep import (
    empirical_receptive_field,
    sweep_conv2d,
    sweep_output_sizes,
    sweep_pool2d,
    sweep_pool_sizes,
    sweep_receptive_fields,
    torch_output_size,
)
from cnnnotes.training.loop import train_epoch

pytestmark = pytest.mark.usefixtures("one_thread")

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


def out_size(size, kernel_size, stride, padding, dilation):
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def test_check_output_size():
    assert check_output_size(out_size) == "All 8,268 cases match PyTorch."
    as_tensor = check_output_size(lambda w, k, s, p, d: torch.tensor(out_size(w, k, s, p, d)))
    assert as_tensor.startswith("All")
    no_floor = check_output_size(lambda w, k, s, p, d: (w + 2 * p - d * (k - 1) - 1) / s + 1)
    assert no_floor == (
        "Mismatch: fn(size=6, kernel_size=3, stride=2, padding=0, dilation=1) returned 2.5,"
        " PyTorch gives 2. That is what dividing without the floor gives."
    )
    no_padding = check_output_size(lambda w, k, s, p, d: (w - d * (k - 1) - 1) // s + 1)
    # no classic slip explains it, so none is named
    assert no_padding.endswith("padding=1, dilation=1) returned 3, PyTorch gives 5.")
    assert "returned None" in check_output_size(lambda w, k, s, p, d: None)


@pytest.mark.parametrize("slip", sorted(CONV_SIZE_MISTAKES))
def test_check_output_size_names_each_classic_slip(slip):
    message = check_output_size(CONV_SIZE_MISTAKES[slip])
    assert message.startswith("Mismatch"), message
    assert message.endswith(f"That is what {slip} gives."), message


def test_check_output_size_reports_an_exception_with_its_case():
    def picky(size, kernel_size, stride, padding, dilation):
        if padding > 2:
            raise ValueError("padding too big")
        return out_size(size, kernel_size, stride, padding, dilation)

    assert check_output_size(picky) == (
        "Your function raised ValueError: padding too big for "
        "picky(size=5, kernel_size=3, stride=1, padding=3, dilation=1); PyTorch gives 9."
    )


def test_conv_height_is_what_a_real_conv2d_layer_gives():
    """The checks' fast oracle (the functional op, cached) against whole ``nn.Conv2d``
    layers: every 7th case of the grid, and small cases where the kernel does not fit."""
    refused = [(w, k, s, p, d) for w in (1, 2, 3) for k in (2, 3, 5) for s in (1, 2)
               for p in (0, 1) for d in (1, 2)]  # fmt: skip
    cases = [*CONV_SIZE_CASES[::7], *refused]
    expected = [
        torch_output_size(nn.Conv2d(1, 1, (k, 1), (s, 1), (p, 0), (d, 1), bias=False), w)
        for w, k, s, p, d in cases
    ]
    assert [conv_height(*c) for c in cases] == expected
    assert expected.count(None) > 20, "no refused case was tried"
    assert len(set(expected)) > 20, "too few distinct sizes to tell arguments apart"


def test_conv_transpose_height_is_what_a_real_conv_transpose2d_layer_gives():
    """Likewise for ``nn.ConvTranspose2d``, with refusals: an empty output, and an
    ``output_padding`` not below ``max(stride, dilation)``."""
    refused = [(1, 1, 1, 1, 0, 1), (2, 2, 1, 2, 0, 1), (4, 3, 2, 0, 2, 1), (4, 3, 1, 0, 1, 1)]
    cases = [*CONV_TRANSPOSE_SIZE_CASES[::7], *refused]
    expected = []
    for n, k, s, p, a, d in cases:
        layer = nn.ConvTranspose2d(
            1, 1, (k, 1), (s, 1), (p, 0), (a, 0), bias=False, dilation=(d, 1)
        )
        expected.append(torch_output_size(layer, n))
    assert [conv_transpose_height(*c) for c in cases] == expected
    assert expected[-len(refused) :] == [None] * len(refused)
    assert len(set(expected)) > 20, "too few distinct sizes to tell arguments apart"


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


def rf(layers):
    r, j = 1, 1
    for k, s in layers:
        r, j = r + (k - 1) * j, j * s
    return r


def test_check_receptive_field():
    assert check_receptive_field(rf) == "All 117 cases match PyTorch."
    no_jump = check_receptive_field(lambda layers: 1 + sum(k - 1 for k, _ in layers))
    assert no_jump == (
        "Mismatch: fn(layers=[(3, 2), (3, 1)]) returned 5, the measured receptive field is 7."
        " That is what adding F − 1 per layer and ignoring the strides (no jump) gives."
    )


@pytest.mark.parametrize("slip", sorted(RF_MISTAKES))
def test_check_receptive_field_names_each_classic_slip(slip):
    message = check_receptive_field(RF_MISTAKES[slip])
    assert message.startswith("Mismatch"), message
    assert message.endswith(f"That is what {slip} gives."), message


def test_check_receptive_field_learner_cannot_spoil_the_cases():
    def destructive(layers):
        result = rf(layers)
        layers.clear()
        return result

    assert check_receptive_field(destructive).startswith("All 117")


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
    assert check_pool2d(ops.max_pool2d) == "All 10 cases match F.max_pool2d."
    assert check_pool2d(ops.avg_pool2d, "avg") == "All 10 cases match F.avg_pool2d."
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


@pytest.mark.parametrize(
    ("kind", "slip"),
    [(kind, slip) for kind in ("max", "avg") for slip in sorted(POOL_MISTAKES[kind])],
)
def test_check_pool2d_names_each_classic_slip(kind, slip):
    message = check_pool2d(POOL_MISTAKES[kind][slip], kind)
    assert message.startswith("Mismatch"), message
    assert message.endswith(f"That is what {slip} gives."), message


def _avg_by_hand(x, k, s, p, count_include_pad):
    """Average pooling from scratch: window sums over zero padding, divided by F² or by
    the real cells (the window sums of a tensor of ones)."""

    def sums(t):
        return F.pad(t, (p, p, p, p)).unfold(2, k, s).unfold(3, k, s).sum(dim=(-2, -1))

    return sums(x) / (k * k if count_include_pad else sums(torch.ones_like(x)))


def test_check_avg_pool2d():
    assert check_avg_pool2d(_avg_by_hand) == "All 20 cases match F.avg_pool2d."
    assert check_avg_pool2d(lambda x, k, s, p, c: _avg_by_hand(x, k, s, p, not c)).startswith(
        "Mismatch for x (2, 2, 7, 5), kernel_size=3, stride=2, padding=1, count_include_pad=True"
    )
    raising = check_avg_pool2d(lambda x, k, s, p, c: 1 / 0)
    assert raising.startswith("Your function raised ZeroDivisionError")


@pytest.mark.parametrize("slip", sorted(AVG_POOL_MISTAKES))
def test_check_avg_pool2d_names_each_classic_slip(slip):
    message = check_avg_pool2d(AVG_POOL_MISTAKES[slip])
    assert message.startswith("Mismatch"), message
    assert message.endswith(f"That is what {slip} gives."), message


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
    no_bias = check_conv2d(lambda x, w, b, s, p: F.conv2d(x, w, None, s, p))
    assert no_bias.endswith("That is what forgetting the bias gives.")
    plus_one = check_conv2d(lambda x, w, b, s, p: F.conv2d(x, w, b, s, p) + 1)
    assert "That is what" not in plus_one  # no named slip fits: none is named


# ---------------------------------------------------------------- chapter 8 self-checks


def _learner_loop(*, train="train", zero_grad="before", step=True, returns="mean"):
    """A learner's ``my_train_epoch``: right, or with one classic slip planted."""

    def my_train_epoch(model, batches, optimizer):
        if train == "train":
            model.train()
        elif train == "eval":
            model.eval()
        total, seen, means = 0.0, 0, []
        for xb, yb in batches:
            loss = F.cross_entropy(model(xb), yb)
            if zero_grad == "before":
                optimizer.zero_grad()
            loss.backward()
            if zero_grad == "between":
                optimizer.zero_grad()
            if step:
                optimizer.step()
            if zero_grad == "after":
                optimizer.zero_grad()
            total, seen = total + loss.item() * len(yb), seen + len(yb)
            means.append(loss.item())
        return {
            "mean": total / seen,
            "tensor": torch.tensor(total / seen),
            "mean of means": sum(means) / len(means),
            "sum": total,
            "last": means[-1],
            "tuple": (total / seen, 0.0),
        }[returns]

    return my_train_epoch


@pytest.mark.parametrize(
    "answer",
    [
        _learner_loop(),
        _learner_loop(zero_grad="after"),  # the notes' order: clear after the step
        _learner_loop(returns="tensor"),
        lambda model, batches, optimizer: train_epoch(model, batches, optimizer)[0],
    ],
)
def test_check_train_loop_passes_right_loops(answer):
    assert check_train_loop(answer) == (
        "Correct: the weights after the epoch and the mean loss match train_epoch in all 3 cases."
    )


NO_GRADIENT = (
    "They did not change at all, so no gradient reached step(): did zero_grad() run between "
    "backward() and step(), or was step() not called?"
)
EVAL_MODE = "It looks like you trained in evaluation mode: call model.train()"


LOOP_SLIPS = [
    (_learner_loop(zero_grad=None), "It looks like you forgot optimizer.zero_grad()"),
    (_learner_loop(zero_grad="between"), NO_GRADIENT),  # X4
    (_learner_loop(step=False), NO_GRADIENT),
    (_learner_loop(train=None), EVAL_MODE),  # X3: never switches training on
    (_learner_loop(train="eval"), EVAL_MODE),  # X3: switches it off
    (_learner_loop(returns="mean of means"), "It looks like you averaged the batch means"),
    (_learner_loop(returns="sum"), "It looks like you forgot to divide the summed loss"),
    (_learner_loop(returns="last"), "It looks like you returned the loss of the last batch"),
    (_learner_loop(returns="tuple"), "return the mean loss as one number, not tuple"),
    (lambda model, batches, optimizer: model(3), "Your function raised"),
]


@pytest.mark.parametrize(("answer", "named"), LOOP_SLIPS)
def test_check_train_loop_names_each_classic_mistake(answer, named):
    message = check_train_loop(answer)
    assert not message.startswith("Correct") and named in message, message


def test_check_train_loop_names_the_failing_case_and_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    message = check_train_loop(_learner_loop(train=None))
    assert torch.equal(torch.get_rng_state(), before), "the check's dropout drew from the caller"
    assert message.startswith(
        "Not yet: for an MLP with batch norm, batches of 5, 5, 5, 5, 3 and "
        "SGD(lr=0.1, momentum=0.9), the weights after the epoch differ from train_epoch's"
    ), message


def _learner_momentum(slip=None):
    """A learner's ``momentum_steps``: right, or with one classic slip planted."""

    def momentum_steps(theta, grads, lr, mu):
        b = torch.zeros_like(theta)
        for g in grads:
            previous = b
            if slip == "damped":
                b = mu * b + (1 - mu) * g
            elif slip == "lr twice":
                b = mu * b + lr * g
            else:
                b = mu * b + g
            if slip == "gradient":
                theta = theta - lr * g
            elif slip == "late":
                theta = theta - lr * previous
            elif slip == "nesterov":
                theta = theta - lr * (g + mu * b)
            elif slip == "plus":
                theta = theta + lr * b
            else:
                theta = theta - lr * b
        return theta

    return momentum_steps


def _momentum_in_place(theta, grads, lr, mu):
    b = torch.zeros_like(theta)
    for g in grads:
        b.mul_(mu).add_(g)
        theta -= lr * b  # changes the caller's tensor: allowed, the check passes copies
    return theta


def _momentum_lr_in_buffer(theta, grads, lr, mu):
    u = torch.zeros_like(theta)  # the other texts' form: u = -lr * b
    for g in grads:
        u = mu * u - lr * g
        theta = theta + u
    return theta


@pytest.mark.parametrize(
    "answer", [_learner_momentum(), _momentum_in_place, _momentum_lr_in_buffer]
)
def test_check_momentum_steps_passes_right_answers(answer):
    assert check_momentum_steps(answer) == "All 5 cases match torch.optim.SGD."


MOMENTUM_SLIPS = [
    ("damped", "It looks like you kept a damped average b ← ν·b + (1 − ν)·g"),
    ("gradient", "It looks like you stepped along the gradient instead of the buffer"),
    ("late", "It looks like you stepped with the previous buffer"),
    ("nesterov", "It looks like you took Nesterov's step"),
    ("lr twice", "It looks like you mixed the two forms of momentum"),
    ("plus", "It looks like you added the step (θ ← θ + η·b), which climbs the loss"),
]


@pytest.mark.parametrize(("slip", "named"), MOMENTUM_SLIPS)
def test_check_momentum_steps_names_each_classic_mistake(slip, named):
    message = check_momentum_steps(_learner_momentum(slip))
    assert message.startswith("Mismatch for theta of shape") and named in message, message


def _learner_accumulate(*, scale="share", zero="first", step_each=False, reduction="mean"):
    """A learner's ``accumulate_step``: right, or with one classic slip planted."""

    def accumulate_step(model, micro_batches, optimizer):
        total = sum(len(yb) for _, yb in micro_batches)
        if zero == "first":
            optimizer.zero_grad()
        for xb, yb in micro_batches:
            if zero == "each":
                optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb, reduction=reduction)
            if reduction == "sum":
                loss = loss / total
            elif scale == "share":
                loss = loss * len(yb) / total
            elif scale == "count":
                loss = loss / len(micro_batches)
            loss.backward()
            if step_each:
                optimizer.step()
        if not step_each:
            optimizer.step()
        if zero == "last":
            optimizer.zero_grad()

    return accumulate_step


@pytest.mark.parametrize(
    "answer",
    [_learner_accumulate(), _learner_accumulate(zero="last"), _learner_accumulate(reduction="sum")],
)
def test_check_accumulate_step_passes_right_answers(answer):
    assert check_accumulate_step(answer) == (
        "Correct: in all 4 cases two accumulated steps give the weights of two whole-batch steps."
    )


ACCUMULATE_SLIPS = [
    (_learner_accumulate(scale=None), "It looks like you did not scale the micro-batch"),
    (_learner_accumulate(scale="count"), "It looks like you divided each micro-batch's loss"),
    (_learner_accumulate(zero="each"), "It looks like you called zero_grad() before every"),
    (_learner_accumulate(step_each=True), "It looks like you called step() after every"),
    (_learner_accumulate(zero=None), "It looks like you never cleared .grad between two"),
    (lambda model, micro_batches, optimizer: model(3), "Your function raised"),
]


@pytest.mark.parametrize(("answer", "named"), ACCUMULATE_SLIPS)
def test_check_accumulate_step_names_each_classic_mistake(answer, named):
    message = check_accumulate_step(answer)
    assert not message.startswith("Correct") and named in message, message


@pytest.mark.parametrize(
    ("mistakes", "slips"),
    [
        ({**LOOP_MISTAKES, **LOSS_MISTAKES}, LOOP_SLIPS),
        (MOMENTUM_MISTAKES, MOMENTUM_SLIPS),
        (ACCUMULATE_MISTAKES, ACCUMULATE_SLIPS),
    ],
)
def test_every_named_mistake_of_chapter_8_is_planted_above(mistakes, slips):
    """A mistake a check can name but no test plants could be named wrongly unnoticed."""
    planted = [named.removeprefix("It looks like you ") for _, named in slips]
    for mistake in mistakes:
        assert any(mistake.startswith(p) for p in planted), f"no test plants: {mistake}"


# ---------------------------------------------------------------- chapters 1-3 self-checks


def _loop_conv2d(x, w, b, s, p, *, bias_per_channel=False, stride=None, flip=False):
    """A learner's conv2d with plain loops (float32 sums in their own order), right or with
    one classic slip planted."""
    stride = s if stride is None else stride
    w = w.flip(-2, -1) if flip else w
    n, _, fh, fw = w.shape
    padded = F.pad(x, (p, p, p, p))
    h_out = (padded.shape[2] - fh) // stride + 1
    w_out = (padded.shape[3] - fw) // stride + 1
    y = x.new_zeros(x.shape[0], n, h_out, w_out)
    for i in range(h_out):
        for j in range(w_out):
            patch = padded[:, :, i * stride : i * stride + fh, j * stride : j * stride + fw]
            y[:, :, i, j] = (patch[:, None] * w).sum(dim=(2, 3, 4))
    if b is None:
        return y
    return y + (x.shape[1] if bias_per_channel else 1) * b[:, None, None]


def _loop_corr2d(x, w, *, early=False):
    """A learner's valid cross-correlation with loops; ``early`` stops one window short."""
    (h, wd), (kh, kw) = x.shape, w.shape
    rows, cols = h - kh + (0 if early else 1), wd - kw + (0 if early else 1)
    out = torch.zeros(rows, cols)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = (x[i : i + kh, j : j + kw] * w).sum()
    return out


def test_chapter_1_to_3_checks_pass_right_answers():
    assert check_to_tensor(lambda im: im[None].to(torch.float32) / 255).startswith("All 12")
    assert check_normalize(lambda x, m, s: (x - m) / s).startswith("All 10")
    assert check_conv2d(_loop_conv2d) == "All 11 cases match F.conv2d."
    assert check_corr2d(_loop_corr2d) == "All 10 cases match F.conv2d."
    assert check_1x1_as_linear(lambda conv: conv.weight[:, :, 0, 0]).startswith("All 6")
    assert check_1x1_as_linear(lambda conv: conv.weight.flatten(1)).startswith("All 6")


@pytest.mark.parametrize(
    ("check", "mistakes"),
    [
        (check_to_tensor, TO_TENSOR_MISTAKES),
        (check_normalize, NORMALIZE_MISTAKES),
        (check_conv2d, CONV_MISTAKES),
        (check_corr2d, CORR2D_MISTAKES),
        (check_1x1_as_linear, ONE_BY_ONE_MISTAKES),
    ],
)
def test_chapter_1_to_3_checks_name_each_planted_mistake(check, mistakes):
    """Each classic slip, planted as the learner's answer, fails and is named (not another)."""
    for name, wrong in mistakes.items():
        message = check(wrong)
        assert message.startswith("Mismatch"), (name, message)
        assert message.endswith(f"That is what {name} gives."), (name, message)


@pytest.mark.parametrize(
    ("check", "answer", "named"),
    [
        (check_conv2d, functools.partial(_loop_conv2d, bias_per_channel=True), "once per input"),
        (check_conv2d, functools.partial(_loop_conv2d, stride=1), "ignoring the stride"),
        (check_conv2d, functools.partial(_loop_conv2d, flip=True), "flipping the kernel"),
        (check_corr2d, functools.partial(_loop_corr2d, early=True), "one window early"),
        (check_corr2d, lambda x, w: _loop_corr2d(x, w.flip(0, 1)), "flipping the kernel"),
        (check_to_tensor, lambda im: im.reshape(*im.shape, 1) / 255.0, "channel axis last"),
        (check_to_tensor, lambda im: torch.div(im[None], 255, rounding_mode="floor"), "// 255"),
        (check_normalize, lambda x, m, s: x.sub(x.mean()).div(x.std()), "batch's own mean"),
        (check_1x1_as_linear, lambda conv: conv.weight.squeeze(), "squeeze()"),
    ],
)
def test_chapter_1_to_3_checks_name_slips_written_the_learners_way(check, answer, named):
    """The learner's code computes differently from the planted formula (loops summing float32
    in their own order): the slip is still recognised and named."""
    message = check(answer)
    assert message.startswith("Mismatch"), message
    assert named in message.split("That is what")[-1], message


EDGE_RIGHT = [
    ("horizontal", sobel("y")),
    ("horizontal", prewitt("y")),
    ("horizontal", 0.5 * prewitt("y")),
    ("horizontal", torch.tensor([[0.0, 0, 0], [-1, -1, -1], [1, 1, 1]])),  # one-sided
    ("horizontal", torch.tensor([[-1.0], [0], [1]])),  # 3×1
    ("vertical", sobel("x")),
    ("vertical", prewitt("x").double()),
]


@pytest.mark.parametrize(("direction", "kernel"), EDGE_RIGHT)
def test_check_edge_kernel_passes_edge_detectors(direction, kernel):
    assert check_edge_kernel(kernel, direction) == (
        f"All 8 test images give the responses of a {direction}-edge detector."
    )


@pytest.mark.parametrize(
    ("direction", "kernel", "named"),
    [
        ("horizontal", sobel("x"), "It looks like your kernel detects vertical edges"),
        ("vertical", sobel("y"), "It looks like your kernel detects horizontal edges"),
        ("horizontal", -prewitt("y"), "It looks like the signs are reversed"),
        ("vertical", -sobel("x"), "It looks like the signs are reversed"),
        ("horizontal", box_blur(3), "Your weights sum to 1, so a flat region responds"),
        ("horizontal", sharpen(), "Your weights sum to 1, so a flat region responds"),
        ("horizontal", torch.zeros(3, 3), "your kernel gives 0 everywhere"),
        ("horizontal", laplacian(), "it must be positive or 0."),  # no classic slip named
    ],
)
def test_check_edge_kernel_names_the_classic_mistakes(direction, kernel, named):
    message = check_edge_kernel(kernel, direction)
    assert message.startswith("Mismatch for the image"), message
    assert named in message, message


def test_check_edge_kernel_messages_speak_of_the_right_axis():
    horizontal = check_edge_kernel(-prewitt("y"))
    assert "dark above, bright from row 4" in horizontal, horizontal
    vertical = check_edge_kernel(-prewitt("x"), "vertical")
    assert "dark left, bright from column 4" in vertical, vertical


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (([[-1.0, 0, 1]],), TypeError, "kernel must be a torch.Tensor"),
        ((torch.zeros(1, 3, 3),), ValueError, "kernel must have shape"),
        ((torch.zeros(7, 7),), ValueError, "at most 5×5"),
        ((sobel("y"), "diagonal"), ValueError, "direction must be 'horizontal' or 'vertical'"),
    ],
)
def test_check_edge_kernel_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        check_edge_kernel(*args)


@pytest.mark.parametrize("check", [check_train_loop, check_momentum_steps, check_accumulate_step])
def test_chapter_8_checks_refuse_bad_input(check):
    with pytest.raises(TypeError, match="fn must be your function fn"):
        check(5)
    with pytest.raises(ValueError, match="seed must be an int from 0"):
        check(lambda *args: None, seed=-1)
