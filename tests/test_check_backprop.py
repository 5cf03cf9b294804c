"""The backprop self-checks: right answers pass, classic mistakes fail and are named."""

from __future__ import annotations

import math

import pytest
import torch.nn.functional as F

from cnnnotes.check import (
    check_conv2d_backward,
    check_conv_transpose_size,
    check_cross_entropy_grad,
    check_max_pool_backward,
    check_train_loop,
)
from cnnnotes.conv import backprop, ops
from cnnnotes.learn import losses
from cnnnotes.training.loop import train_epoch

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- cross-entropy


def _softmax_naive(z):
    return z.exp() / z.exp().sum(1, keepdim=True)


def test_cross_entropy_grad_right_answers_pass():
    assert check_cross_entropy_grad(losses.cross_entropy_backward).startswith("All 8 cases match")
    stable = lambda z, y: (z.softmax(1) - F.one_hot(y, z.shape[1])) / len(y)  # noqa: E731
    assert check_cross_entropy_grad(stable).startswith("All 8 cases match")


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (
            lambda z, y: z.softmax(1) - F.one_hot(y, z.shape[1]),
            "forgot to divide by the batch size N",
        ),
        (lambda z, y: (F.one_hot(y, z.shape[1]) - z.softmax(1)) / len(y), "flipped the sign"),
        (lambda z, y: z.softmax(1) / len(y), "forgot to subtract the one-hot target"),
        (lambda z, y: (z.softmax(0) - F.one_hot(y, z.shape[1])) / len(y), "took the softmax over"),
        (lambda z, y: (_softmax_naive(z) - F.one_hot(y, z.shape[1])) / len(y), "let exp overflow"),
    ],
)
def test_cross_entropy_grad_mistakes_are_named(answer, mistake):
    msg = check_cross_entropy_grad(answer)
    assert msg.startswith("Mismatch for logits (") and f"It looks like you {mistake}" in msg, msg


def test_a_raising_answer_is_reported_with_its_case():
    msg = check_cross_entropy_grad(lambda z, y: 1 / 0)
    assert msg.startswith(
        "Your function raised ZeroDivisionError: division by zero for logits (4, 10)"
    )


# ---------------------------------------------------------------- convolution backward


def _learner_conv_backward(flip: bool = True, divide_w: bool = False):
    """A stride-1 answer written the way the chapter derives it (full correlation)."""

    def backward(grad_out, x, w, stride=1):
        kh, kw = w.shape[2:]
        k = w.flip(2, 3) if flip else w
        grad_x = ops.conv2d(grad_out, k.transpose(0, 1), padding=(kh - 1, kw - 1))
        grad_w = ops.conv2d(x.transpose(0, 1), grad_out.transpose(0, 1)).transpose(0, 1)
        return grad_x, grad_w / (len(x) if divide_w else 1), grad_out.sum(dim=(0, 2, 3))

    return backward


def test_conv2d_backward_right_answers_pass():
    assert check_conv2d_backward(backprop.conv2d_backward, stride=None) == (
        "All 36 cases match autograd of F.conv2d."
    )
    assert check_conv2d_backward(backprop.conv2d_backward, stride=2).startswith("All 9 cases")
    assert check_conv2d_backward(_learner_conv_backward()) == (
        "All 21 cases match autograd of F.conv2d."
    )


@pytest.mark.parametrize(
    ("answer", "stride", "mistake"),
    [
        (_learner_conv_backward(flip=False), 1, "used the unflipped kernel"),
        (_learner_conv_backward(divide_w=True), 1, "divided grad_weight by the batch size N"),
        (_learner_conv_backward(), 2, "used the stride-1 formula"),
        (
            lambda o, x, w, s: (*backprop.conv2d_backward(o, x, w, s)[:2], o.mean(dim=(0, 2, 3))),
            None,
            "averaged grad_bias",
        ),
    ],
)
def test_conv2d_backward_mistakes_are_named(answer, stride, mistake):
    msg = check_conv2d_backward(answer, stride=stride)
    assert msg.startswith("Mismatch for grad_") and f"It looks like you {mistake}" in msg, msg


def test_conv2d_backward_wrong_return_and_stride():
    msg = check_conv2d_backward(lambda o, x, w, s: backprop.conv2d_backward(o, x, w, s)[0])
    assert "return a tuple ('grad_x', 'grad_weight', 'grad_bias'), not Tensor" in msg
    with pytest.raises(ValueError, match=r"stride must be 1, 2, 3 or None"):
        check_conv2d_backward(backprop.conv2d_backward, stride=4)


# ---------------------------------------------------------------- max pooling backward


def _last_max_backward(grad_out, x, k, s, p):
    """Ties to the *last* maximum: the same as flipping, taking the first, flipping back."""
    return backprop.max_pool2d_backward(grad_out.flip(2, 3), x.flip(2, 3), k, s, p).flip(2, 3)


def test_max_pool_backward_right_answer_passes():
    assert check_max_pool_backward(backprop.max_pool2d_backward) == (
        "All 8 cases match autograd of F.max_pool2d."
    )


def test_max_pool_backward_all_ties_gradient_is_named():
    from cnnnotes.check.backprop import _every_max_backward

    msg = check_max_pool_backward(_every_max_backward)
    assert msg.startswith("Mismatch for x (1, 1, 4, 4) (with ties)"), msg
    assert "It looks like you sent the gradient to every maximum" in msg


def test_max_pool_backward_other_mistakes_fail():
    msg = check_max_pool_backward(backprop.avg_pool2d_backward)
    assert msg.startswith("Mismatch for x (1, 1, 4, 4) (distinct values)")
    assert "spread the gradient evenly" in msg
    msg = check_max_pool_backward(_last_max_backward)
    assert msg.startswith("Mismatch for x ") and "(with ties)" in msg  # no name for this one


# ---------------------------------------------------------------- transposed convolution size


def test_conv_transpose_size_right_answer_passes():
    right = lambda n, k, s, p, op: (n - 1) * s - 2 * p + k + op  # noqa: E731
    assert check_conv_transpose_size(right) == "All 1,311 cases match PyTorch."


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (lambda n, k, s, p, op: (n - 1) * s - 2 * p + k, "forgot output_padding"),
        (lambda n, k, s, p, op: (n - 1) * s + 2 * p + k + op, "added 2·padding"),
        (lambda n, k, s, p, op: n * s - 2 * p + k + op, "used size·stride"),
        (lambda n, k, s, p, op: (n + 2 * p - k) // s + 1, "computed a Conv2d's output size"),
        (lambda n, k, s, p, op: math.ceil((n + 2 * p - k) / s) + 1, "used ceil instead of floor"),
    ],
)
def test_conv_transpose_size_mistakes_are_named(answer, mistake):
    msg = check_conv_transpose_size(answer)
    assert msg.startswith("Mismatch: fn(size=") and f"It looks like you {mistake}" in msg, msg


# ---------------------------------------------------------------- training loop


def _loop(zero_grad="before", step=True, average="examples"):
    def loop(model, batches, optimizer):
        total, seen, means = 0.0, 0, []
        for x, y in batches:
            loss = F.cross_entropy(model(x), y)
            if zero_grad == "before":
                optimizer.zero_grad()
            loss.backward()
            if zero_grad == "after":
                optimizer.zero_grad()
            if step:
                optimizer.step()
            total, seen = total + loss.item() * len(y), seen + len(y)
            means.append(loss.item())
        return {"examples": total / seen, "batches": sum(means) / len(means), "sum": total}[average]

    return loop


def test_train_loop_right_answers_pass():
    for answer in (_loop(), lambda m, b, o: train_epoch(m, b, o)[0]):
        assert check_train_loop(answer).startswith("Correct: the weights after the epoch")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (_loop(zero_grad=None), "It looks like you forgot optimizer.zero_grad()"),
        (_loop(step=False), "They did not change at all: call optimizer.step()"),
        (_loop(zero_grad="after"), "They did not change at all"),
        (_loop(average="batches"), "It looks like you averaged the batch means"),
        (_loop(average="sum"), "It looks like you forgot to divide the summed loss"),
        (lambda m, b, o: train_epoch(m, b, o), "return the mean loss as one number, not tuple"),
        (lambda m, b, o: m(3), "Your function raised AttributeError"),
    ],
)
def test_train_loop_mistakes_are_named(answer, message):
    msg = check_train_loop(answer)
    assert message in msg and not msg.startswith("Correct"), msg
