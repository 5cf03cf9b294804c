"""The backprop self-checks: right answers pass, classic mistakes fail and are named."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cnnnotes.check import (
    check_conv2d_backward,
    check_conv_transpose_size,
    check_cross_entropy_grad,
    check_max_pool_backward,
)
from cnnnotes.check.backprop import CROSS_ENTROPY_CASES, POOL_BACKWARD_CASES
from cnnnotes.check.conv_backward import CONV_BACKWARD_CASES, cases_for
from cnnnotes.check.sizes import CONV_TRANSPOSE_SIZE_CASES
from cnnnotes.conv import backprop
from cnnnotes.conv.shapes import conv_transpose_output_size
from cnnnotes.learn import losses

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- cross-entropy


def _softmax_naive(z):
    return z.exp() / z.exp().sum(1, keepdim=True)


def test_cross_entropy_grad_right_answers_pass():
    everything = f"All {len(CROSS_ENTROPY_CASES)} cases match"
    assert check_cross_entropy_grad(losses.cross_entropy_backward).startswith(everything)
    stable = lambda z, y: (z.softmax(1) - F.one_hot(y, z.shape[1])) / len(y)  # noqa: E731
    assert check_cross_entropy_grad(stable).startswith(everything)


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (
            lambda z, y: z.softmax(1) - F.one_hot(y, z.shape[1]),
            "forgot to divide by the batch size N",
        ),
        (
            lambda z, y: (z.softmax(1) - F.one_hot(y, z.shape[1])) / z.shape[1],
            "divided by the number of classes K",
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
# Planted answers written the way a learner writes them: the stride-1 exercise with F.conv2d
# (full correlation), the general one with a loop over the taps or with F.conv2d for grad_w.


def _full_correlation(flip=True, swap_channels=True, transpose_back=True, divide_w=False):
    """A stride-1 answer as the chapter derives it, with one optional slip."""

    def backward(grad_out, x, w, stride=1):
        kh, kw = w.shape[2:]
        k = w.flip(2, 3) if flip else w
        k = k.transpose(0, 1) if swap_channels else k
        grad_x = F.conv2d(grad_out, k, padding=(kh - 1, kw - 1))
        grad_w = F.conv2d(x.transpose(0, 1), grad_out.transpose(0, 1))
        grad_w = grad_w.transpose(0, 1) if transpose_back else grad_w
        return grad_x, grad_w / (len(x) if divide_w else 1), grad_out.sum(dim=(0, 2, 3))

    return backward


def _tap_loop(crop="every border", dilate_x=True, dilate_w=True):
    """The general answer: a loop over the kernel's taps, with one optional slip."""

    def backward(grad_out, x, w, stride=1, padding=0, dilation=1):
        s, p = stride, padding
        kh, kw = w.shape[2:]
        oh, ow = grad_out.shape[2:]
        xp = F.pad(x, (p, p, p, p))
        grad_xp, grad_w = torch.zeros_like(xp), torch.zeros_like(w)
        for u in range(kh):
            for v in range(kw):
                d = dilation if dilate_w else 1
                rows = slice(u * d, u * d + s * (oh - 1) + 1, s)
                cols = slice(v * d, v * d + s * (ow - 1) + 1, s)
                grad_w[:, :, u, v] = torch.einsum("nohw,nchw->oc", grad_out, xp[:, :, rows, cols])
                d = dilation if dilate_x else 1
                rows = slice(u * d, u * d + s * (oh - 1) + 1, s)
                cols = slice(v * d, v * d + s * (ow - 1) + 1, s)
                grad_xp[:, :, rows, cols] += torch.einsum("nohw,oc->nchw", grad_out, w[:, :, u, v])
        h, wd = x.shape[2:]
        grad_x = {
            "every border": grad_xp[:, :, p : p + h, p : p + wd],
            "none": grad_xp,
            "bottom and right": grad_xp[:, :, :h, :wd],
        }[crop]
        return grad_x, grad_w, grad_out.sum(dim=(0, 2, 3))

    return backward


def _correlation_w(pad=True, roles="swapped"):
    """grad_weight with F.conv2d (input correlated with grad_out), the rest right."""

    def backward(grad_out, x, w, stride=1, padding=0, dilation=1):
        grad_x, _, grad_b = backprop.conv2d_backward(grad_out, x, w, stride, padding, dilation)
        s, d = (dilation, stride) if roles == "swapped" else (stride, dilation)
        xt, gt = x.transpose(0, 1), grad_out.transpose(0, 1)
        grad_w = F.conv2d(xt, gt, padding=padding if pad else 0, stride=s, dilation=d)
        return grad_x, grad_w[:, :, : w.shape[2], : w.shape[3]].transpose(0, 1), grad_b

    return backward


def _count(stride):
    return f"All {3 * len(cases_for(stride))} cases match autograd of F.conv2d."


def test_conv2d_backward_right_answers_pass():
    assert check_conv2d_backward(backprop.conv2d_backward, stride=None) == _count(None)
    assert check_conv2d_backward(backprop.conv2d_backward, stride=2) == _count(2)
    assert check_conv2d_backward(_full_correlation()) == _count(1)
    for general in (_tap_loop(), _correlation_w()):
        assert check_conv2d_backward(general, stride=None) == _count(None)


def test_conv2d_backward_grid_pads_dilates_and_strides():
    """X1: the grid has padded and dilated cases, alone and with strides, and the check
    passes them to the learner's function."""
    grid = CONV_BACKWARD_CASES
    assert {c.padding for c in grid} >= {0, 1, 2} and {c.dilation for c in grid} >= {1, 2, 3}
    assert any(c.padding and c.dilation > 1 and c.stride > 1 for c in grid)
    seen = []

    def spy(grad_out, x, w, stride=1, padding=0, dilation=1):
        seen.append((stride, padding, dilation))
        return backprop.conv2d_backward(grad_out, x, w, stride, padding, dilation)

    check_conv2d_backward(spy, stride=None)
    assert set(seen) == {(c.stride, c.padding, c.dilation) for c in grid}


@pytest.mark.parametrize(
    ("answer", "stride", "gradient", "mistake"),
    [
        (_full_correlation(flip=False), 1, "grad_x", "used the unflipped kernel"),
        (_full_correlation(swap_channels=False), 1, "grad_x", "kept the kernel's channel order"),
        (_full_correlation(), 2, "grad_x", "used the stride-1 formula"),
        (_tap_loop(crop="none"), None, "grad_x", "returned the gradient of the padded input"),
        (_tap_loop(crop="bottom and right"), None, "grad_x", "cut all the padding from the"),
        (_tap_loop(dilate_x=False), None, "grad_x", "ignored the dilation"),
        (_full_correlation(divide_w=True), 1, "grad_weight", "divided grad_weight by the batch"),
        (_full_correlation(transpose_back=False), 1, "grad_weight", "returned grad_weight as"),
        (_tap_loop(dilate_w=False), None, "grad_weight", "ignored the dilation"),
        (_correlation_w(pad=False), None, "grad_weight", "read the unpadded input"),
        (_correlation_w(roles="as in the layer"), None, "grad_weight", "correlated with the layer"),
        (
            lambda o, x, w, *a: (*backprop.conv2d_backward(o, x, w, *a)[:2], o.mean(dim=(0, 2, 3))),
            None,
            "grad_bias",
            "averaged grad_bias",
        ),
        (
            lambda o, x, w, *a: (*backprop.conv2d_backward(o, x, w, *a)[:2], o[0].sum(dim=(1, 2))),
            None,
            "grad_bias",
            "summed grad_bias over the positions of the first example only",
        ),
    ],
)
def test_conv2d_backward_mistakes_are_named(answer, stride, gradient, mistake):
    msg = check_conv2d_backward(answer, stride=stride)
    assert msg.startswith(f"Mismatch for {gradient} of x "), msg
    assert f"It looks like you {mistake}" in msg, msg


def test_conv2d_backward_wrong_return_and_stride():
    msg = check_conv2d_backward(lambda o, x, w, s: backprop.conv2d_backward(o, x, w, s)[0])
    assert "return a tuple ('grad_x', 'grad_weight', 'grad_bias'), not Tensor" in msg
    with pytest.raises(ValueError, match=r"stride must be 1, 2, 3 or None"):
        check_conv2d_backward(backprop.conv2d_backward, stride=4)


# ---------------------------------------------------------------- max pooling backward


def _window_loop(pick="first", pad_value=-math.inf):
    """Max pooling's backward pass as a loop over the windows, with one optional slip."""

    def backward(grad_out, x, k, s, p):
        n, c, h, w = x.shape
        xp = F.pad(x, (p, p, p, p), value=pad_value)
        grad = torch.zeros_like(xp)
        for i in range(grad_out.shape[2]):
            for j in range(grad_out.shape[3]):
                win = xp[:, :, i * s : i * s + k, j * s : j * s + k].reshape(n, c, k * k)
                top = win == win.amax(dim=2, keepdim=True)
                if pick == "first":
                    top = F.one_hot(win.argmax(dim=2), k * k).bool()
                elif pick == "last":
                    top = F.one_hot(k * k - 1 - win.flip(2).argmax(dim=2), k * k).bool()
                share = (top * grad_out[:, :, i, j, None]).reshape(n, c, k, k)
                grad[:, :, i * s : i * s + k, j * s : j * s + k] += share
        return grad[:, :, p : p + h, p : p + w]

    return backward


def test_max_pool_backward_right_answers_pass():
    everything = f"All {len(POOL_BACKWARD_CASES)} cases match autograd of F.max_pool2d."
    assert check_max_pool_backward(backprop.max_pool2d_backward) == everything
    assert check_max_pool_backward(_window_loop()) == everything


def test_max_pool_backward_grid_has_ties_padding_and_negative_values():
    grid = POOL_BACKWARD_CASES
    assert {c.values for c in grid} == {"distinct", "ties", "negative"}
    assert any(c.padding and c.values == "negative" for c in grid)
    assert any(c.stride < c.kernel_size and c.values == "ties" for c in grid)  # overlaps


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (_window_loop(pick="every"), "sent the gradient to every maximum"),
        (_window_loop(pick="last"), "sent the gradient to the last maximum of a tie"),
        (_window_loop(pad_value=0.0), "padded with zeros"),
        (backprop.avg_pool2d_backward, "spread the gradient evenly"),
    ],
)
def test_max_pool_backward_mistakes_are_named(answer, mistake):
    msg = check_max_pool_backward(answer)
    assert msg.startswith("Mismatch for x (") and f"It looks like you {mistake}" in msg, msg


# ---------------------------------------------------------------- transposed convolution size


def _tconv_size(n, k, s, p, a, d):
    return (n - 1) * s - 2 * p + d * (k - 1) + a + 1


def test_conv_transpose_size_right_answer_passes():
    everything = f"All {len(CONV_TRANSPOSE_SIZE_CASES):,} cases match PyTorch."
    assert check_conv_transpose_size(_tconv_size) == everything
    assert check_conv_transpose_size(conv_transpose_output_size) == everything


def test_conv_transpose_size_grid_varies_dilation_as_pytorch_allows():
    """X2: dilations 1 to 3, and every output_padding below max(stride, dilation)."""
    grid = CONV_TRANSPOSE_SIZE_CASES
    assert {c.dilation for c in grid} == {1, 2, 3}
    assert any(c.output_padding >= c.stride for c in grid)  # allowed by the dilation
    assert all(c.output_padding < max(c.stride, c.dilation) for c in grid)


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (lambda n, k, s, p, a, d: (n - 1) * s - 2 * p + d * (k - 1) + 1, "forgot output_padding"),
        (lambda n, k, s, p, a, d: (n - 1) * s - 2 * p + (k - 1) + a + 1, "forgot the dilation"),
        (lambda n, k, s, p, a, d: (n - 1) * s - 2 * p + d * k + a, "took d·F for the dilated"),
        (lambda n, k, s, p, a, d: (n - 1) * s + 2 * p + d * (k - 1) + a + 1, "added 2·padding"),
        (lambda n, k, s, p, a, d: n * s - 2 * p + d * (k - 1) + a + 1, "used size·stride"),
        (
            lambda n, k, s, p, a, d: (n + 2 * p - d * (k - 1) - 1) // s + 1,
            "computed a Conv2d's output size",
        ),
        (
            lambda n, k, s, p, a, d: math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1,
            "used ceil instead of floor",
        ),
    ],
)
def test_conv_transpose_size_mistakes_are_named(answer, mistake):
    msg = check_conv_transpose_size(answer)
    assert msg.startswith("Mismatch: fn(size=") and f"It looks like you {mistake}" in msg, msg


def test_conv_transpose_size_without_dilation_argument_is_refused_with_its_case():
    msg = check_conv_transpose_size(lambda n, k, s, p, a: (n - 1) * s - 2 * p + k + a)
    assert msg.startswith("Your function raised TypeError") and "dilation=1" in msg, msg
