"""cnnnotes.backprop and conv_transpose_output_size against PyTorch's autograd (the oracle)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnnotes import backprop, ops
from cnnnotes.shapes import conv_transpose_output_size

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")


CLOSE = {"rtol": 1e-10, "atol": 1e-10}


def _randint(g: torch.Generator, lo: int, hi: int) -> int:
    """An int in ``lo .. hi`` (inclusive) from ``g``."""
    return int(torch.randint(lo, hi + 1, (), generator=g))


def _pair_arg(g: torch.Generator, pair: tuple[int, int]) -> int | tuple[int, int]:
    """The pair, or a plain int when both parts agree (half of the time)."""
    return pair[0] if pair[0] == pair[1] and _randint(g, 0, 1) else pair


def conv_configs(count: int, seed: int):
    """``count`` random valid ``(x, weight, stride, padding, dilation)`` in float64."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(count):
        n, c, o = _randint(g, 1, 3), _randint(g, 1, 3), _randint(g, 1, 3)
        h, w = _randint(g, 1, 9), _randint(g, 1, 9)
        kh, kw = _randint(g, 1, 4), _randint(g, 1, 4)
        stride = (_randint(g, 1, 3), _randint(g, 1, 3))
        dil = (_randint(g, 1, 3), _randint(g, 1, 3))
        need = (-(-(dil[0] * (kh - 1) + 1 - h) // 2), -(-(dil[1] * (kw - 1) + 1 - w) // 2))
        pad = (max(_randint(g, 0, 3), need[0]), max(_randint(g, 0, 3), need[1]))
        x = torch.randn(n, c, h, w, generator=g, dtype=F64)
        if _randint(g, 0, 5) == 0:
            x = x[0]  # unbatched
        weight = torch.randn(o, c, kh, kw, generator=g, dtype=F64)
        yield x, weight, _pair_arg(g, stride), _pair_arg(g, pad), _pair_arg(g, dil)


def pool_configs(count: int, seed: int, ties: bool = False):
    """``count`` random valid ``(x, kernel_size, stride, padding)``; integer x has ties."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(count):
        k = (_randint(g, 1, 4), _randint(g, 1, 4))
        s = None if _randint(g, 0, 3) == 0 else (_randint(g, 1, 3), _randint(g, 1, 3))
        p = (_randint(g, 0, k[0] // 2), _randint(g, 0, k[1] // 2))
        h, w = _randint(g, max(1, k[0] - 2 * p[0]), 9), _randint(g, max(1, k[1] - 2 * p[1]), 9)
        shape = (_randint(g, 1, 3), _randint(g, 1, 3), h, w)
        x = torch.randn(shape, generator=g, dtype=F64)
        if ties:
            x = torch.randint(-2, 2, shape, generator=g).to(F64)
        if _randint(g, 0, 5) == 0:
            x = x[0]
        yield x, _pair_arg(g, k), (s if s is None else _pair_arg(g, s)), _pair_arg(g, p)


def _autograd(fn, inputs, grad_out):
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    fn(*leaves).backward(grad_out)
    return [t.grad for t in leaves]


# ---------------------------------------------------------------- convolution backward


def test_conv2d_backward_matches_autograd_on_600_configs():
    g = torch.Generator().manual_seed(1)
    for x, w, s, p, d in conv_configs(600, seed=0):
        out = F.conv2d(x, w, None, s, p, d)
        grad_out = torch.randn(out.shape, generator=g, dtype=F64)
        bias = torch.zeros(w.shape[0], dtype=F64)
        want = _autograd(lambda x, w, b: F.conv2d(x, w, b, s, p, d), (x, w, bias), grad_out)  # noqa: B023
        got = backprop.conv2d_backward(grad_out, x, w, s, p, d)
        case = f"x {tuple(x.shape)}, w {tuple(w.shape)}, stride {s}, padding {p}, dilation {d}"
        for name, a, b in zip(("grad_x", "grad_weight", "grad_bias"), got, want, strict=True):
            torch.testing.assert_close(a, b, **CLOSE, msg=lambda m: f"{name} for {case}: {m}")  # noqa: B023


def test_conv_transpose2d_matches_pytorch_on_600_configs():
    g = torch.Generator().manual_seed(2)
    for x, w, s, p, d in conv_configs(600, seed=3):
        # the convolution's output becomes the transposed convolution's input
        y = F.conv2d(x, w, None, s, p, d)
        wt = torch.randn(w.shape, generator=g, dtype=F64)  # (C_in = O, C_out = C, kh, kw)
        bias = torch.randn(w.shape[1], generator=g, dtype=F64) if _randint(g, 0, 1) else None
        sp, dp = torch.nn.modules.utils._pair(s), torch.nn.modules.utils._pair(d)
        op = (_randint(g, 0, max(sp[0], dp[0]) - 1), _randint(g, 0, max(sp[1], dp[1]) - 1))
        try:
            want = F.conv_transpose2d(y, wt, bias, s, p, op, 1, d)
        except RuntimeError:
            with pytest.raises(ValueError, match="too small"):
                backprop.conv_transpose2d(y, wt, bias, s, p, op, d)
            continue
        got = backprop.conv_transpose2d(y, wt, bias, s, p, op, d)
        torch.testing.assert_close(got, want, **CLOSE, msg=f"stride {s} pad {p} op {op} dil {d}")


def test_conv_transpose2d_is_the_input_gradient_of_conv2d():
    for x, w, s, p, d in conv_configs(100, seed=4):
        grad_out = torch.randn_like(F.conv2d(x, w, None, s, p, d))
        grad_x = backprop.conv2d_backward(grad_out, x, w, s, p, d)[0]
        # conv_transpose2d's output size rounds like the convolution; pad the rest
        sp, pp, dp = (torch.nn.modules.utils._pair(v) for v in (s, p, d))
        ks = w.shape[2:]
        n_out = grad_out.shape[-2:]
        base = [(n_out[i] - 1) * sp[i] - 2 * pp[i] + dp[i] * (ks[i] - 1) + 1 for i in range(2)]
        op = [x.shape[-2 + i] - base[i] for i in range(2)]
        if any(v >= max(sp[i], dp[i]) for i, v in enumerate(op)):
            continue  # rows the convolution never read: PyTorch refuses this output_padding
        torch.testing.assert_close(
            backprop.conv_transpose2d(grad_out, w, None, s, p, tuple(op), d), grad_x, **CLOSE
        )


# ---------------------------------------------------------------- pooling backward


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_max_pool2d_backward_matches_autograd_on_600_configs(ties):
    g = torch.Generator().manual_seed(5)
    for x, k, s, p in pool_configs(600, seed=6 + ties, ties=ties):
        grad_out = torch.randn(F.max_pool2d(x, k, s, p).shape, generator=g, dtype=F64)
        (want,) = _autograd(lambda x: F.max_pool2d(x, k, s, p), (x,), grad_out)  # noqa: B023
        got = backprop.max_pool2d_backward(grad_out, x, k, s, p)
        torch.testing.assert_close(got, want, **CLOSE, msg=f"x {tuple(x.shape)} k {k} s {s} p {p}")


def test_avg_pool2d_backward_matches_autograd_on_600_configs():
    g = torch.Generator().manual_seed(8)
    for x, k, s, p in pool_configs(600, seed=9):
        grad_out = torch.randn(F.avg_pool2d(x, k, s, p).shape, generator=g, dtype=F64)
        (want,) = _autograd(lambda x: F.avg_pool2d(x, k, s, p), (x,), grad_out)  # noqa: B023
        got = backprop.avg_pool2d_backward(grad_out, x, k, s, p)
        torch.testing.assert_close(got, want, **CLOSE, msg=f"x {tuple(x.shape)} k {k} s {s} p {p}")


def test_max_pool_ties_go_to_the_first_maximum():
    x = torch.tensor([[[[2.0, 2.0], [2.0, 2.0]]]])
    got = backprop.max_pool2d_backward(torch.ones(1, 1, 1, 1), x, 2)
    assert got.tolist() == [[[[1.0, 0.0], [0.0, 0.0]]]]


# ---------------------------------------------------------------- gradcheck


class Conv(torch.autograd.Function):
    """ops.conv2d forward, backprop.conv2d_backward backward: gradcheck judges the latter."""

    @staticmethod
    def forward(ctx, x, w, b, s, p, d):
        ctx.save_for_backward(x, w)
        ctx.args = (s, p, d)
        return ops.conv2d(x, w, b, s, p, d)

    @staticmethod
    def backward(ctx, grad_out):
        x, w = ctx.saved_tensors
        return (*backprop.conv2d_backward(grad_out, x, w, *ctx.args), None, None, None)


class Pool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kind, k, s, p):
        ctx.save_for_backward(x)
        ctx.args = (kind, k, s, p)
        return (ops.max_pool2d if kind == "max" else ops.avg_pool2d)(x, k, s, p)

    @staticmethod
    def backward(ctx, grad_out):
        (x,), (kind, k, s, p) = ctx.saved_tensors, ctx.args
        back = backprop.max_pool2d_backward if kind == "max" else backprop.avg_pool2d_backward
        return back(grad_out, x, k, s, p), None, None, None, None


def test_gradcheck_conv2d_backward():
    for i, (x, w, s, p, d) in enumerate(conv_configs(15, seed=10)):
        b = torch.randn(w.shape[0], dtype=F64)
        args = [t.detach().requires_grad_() for t in (x, w, b)]
        assert torch.autograd.gradcheck(lambda *a: Conv.apply(*a, s, p, d), args), i  # noqa: B023


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_gradcheck_pool_backward(kind):
    for x, k, s, p in pool_configs(15, seed=11):
        xr = x.detach().requires_grad_()
        assert torch.autograd.gradcheck(lambda x: Pool.apply(x, kind, k, s, p), (xr,))  # noqa: B023


def test_gradcheck_conv_transpose2d():
    g = torch.Generator().manual_seed(12)
    for _ in range(6):
        x = torch.randn(2, 2, 3, 4, generator=g, dtype=F64, requires_grad=True)
        w = torch.randn(2, 3, 3, 2, generator=g, dtype=F64, requires_grad=True)
        b = torch.randn(3, generator=g, dtype=F64, requires_grad=True)
        s, p, op, d = _randint(g, 1, 3), _randint(g, 0, 1), 0, _randint(g, 1, 2)
        f = lambda x, w, b: backprop.conv_transpose2d(x, w, b, s, p, op, d)  # noqa: B023, E731
        assert torch.autograd.gradcheck(f, (x, w, b))


# ---------------------------------------------------------------- conv_transpose_output_size


def test_conv_transpose_output_size_matches_layers_including_refusals():
    g = torch.Generator().manual_seed(13)
    refused = accepted = 0
    for _ in range(3000):
        size, k, s = _randint(g, 1, 12), _randint(g, 1, 6), _randint(g, 1, 4)
        p, op, d = _randint(g, 0, 5), _randint(g, 0, 4), _randint(g, 1, 3)
        layer = nn.ConvTranspose2d(1, 1, (k, 1), (s, 1), (p, 0), (op, 0), dilation=(d, 1))
        try:
            want = layer(torch.zeros(1, 1, size, 1)).shape[2]
        except RuntimeError:
            refused += 1
            with pytest.raises(ValueError):
                conv_transpose_output_size(size, k, s, p, op, d)
            continue
        accepted += 1
        assert conv_transpose_output_size(size, k, s, p, op, d) == want, (size, k, s, p, op, d)
    assert refused > 500 and accepted > 1000


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((3, 3, 2, 0, 2), ValueError, r"output_padding 2 must be smaller than stride 2"),
        ((1, 1, 1, 1), ValueError, r"output size .* = -1 is too small"),
        ((0, 3), ValueError, r"size must be an int >= 1, got 0"),
        ((3.0, 3), TypeError, r"size must be an int >= 1, got 3.0 \(float\)"),
        ((3, 3, 1, -1), ValueError, r"padding must be an int >= 0"),
        ((3, 3, 1, 0, 0, 0), ValueError, r"dilation must be an int >= 1"),
    ],
)
def test_conv_transpose_output_size_refuses(args, error, match):
    with pytest.raises(error, match=match):
        conv_transpose_output_size(*args)


# ---------------------------------------------------------------- bad input


def test_bad_input_messages():
    x, w = torch.randn(2, 3, 5, 5), torch.randn(4, 3, 3, 3)
    with pytest.raises(ValueError, match=r"grad_out must have the forward output's shape"):
        backprop.conv2d_backward(torch.randn(2, 4, 5, 5), x, w)
    with pytest.raises(ValueError, match=r"x has C=3 channels but weight expects 2"):
        backprop.conv2d_backward(torch.randn(2, 4, 3, 3), x, torch.randn(4, 2, 3, 3))
    with pytest.raises(TypeError, match=r"grad_out dtype torch.float64 must match"):
        backprop.conv2d_backward(torch.randn(2, 4, 3, 3, dtype=F64), x, w)
    with pytest.raises(TypeError, match=r"grad_out must be a torch.Tensor"):
        backprop.conv2d_backward([1.0], x, w)
    with pytest.raises(ValueError, match=r"C=3 channels but weight expects 4 .*\(C_in, C_out"):
        backprop.conv_transpose2d(x, w)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        backprop.conv_transpose2d(x, torch.randn(3, 4, 2, 2), torch.randn(3))
    with pytest.raises(ValueError, match=r"output_padding 1 must be smaller"):
        backprop.conv_transpose2d(x, torch.randn(3, 4, 2, 2), output_padding=1)
    with pytest.raises(
        ValueError, match=r"grad_out must have the forward output's shape \(2, 3, 2, 2\)"
    ):
        backprop.max_pool2d_backward(torch.randn(2, 3, 3, 3), x, 2)
    with pytest.raises(ValueError, match=r"padding 2 is more than half of kernel_size 2"):
        backprop.avg_pool2d_backward(torch.randn(2, 3, 4, 4), x, 2, padding=2)
    with pytest.raises(
        ValueError, match=r"grad_out must have the forward output's shape \(3, 2, 2\)"
    ):
        backprop.max_pool2d_backward(torch.randn(1, 3, 2, 2), x[0], 2)


# ---------------------------------------------------------------- from scratch, really

FORBIDDEN = re.compile(
    r"\bF\.\w+|functional|torch\.(conv|max_pool|avg_pool|nn\.grad)\w*"
    r"|\bunfold\b|\bfold\b|\bautograd\b|\.backward\(|\bpad\(|torch\.func|\bvjp\b"
)
"""Library convolution/pooling kernels, their gradients, and autograd."""

OWN = ["backprop.py", "losses.py", "optim.py", "scratch.py"]


@pytest.mark.parametrize("name", OWN)
def test_modules_use_no_library_kernels_or_autograd(name):
    root = Path(backprop.__file__).parent
    code = [
        line.split("#")[0]
        for line in (root / name).read_text().splitlines()
        if not line.strip().startswith(">>>")
    ]
    # docstrings mention the library names; only code lines with calls count
    text = "\n".join(code)
    text = re.sub(r'"""(.|\n)*?"""', "", text)
    hits = [m.group(0) for m in FORBIDDEN.finditer(text)]
    assert hits == [], f"{name} uses {hits}"


@pytest.mark.parametrize(
    "line",
    [
        "y = F.conv2d(x, w)",
        "y = torch.nn.functional.max_pool2d(x, 2)",
        "y = torch.conv_transpose2d(x, w)",
        "g = torch.nn.grad.conv2d_input(s, w, g)",
        "loss.backward()",
        "g = torch.autograd.grad(y, x)",
        "cols = x.unfold(2, 3, 1)",
        "x = pad(x, (1, 1))",
    ],
)
def test_the_forbidden_pattern_catches_library_calls(line):
    assert FORBIDDEN.search(line)
