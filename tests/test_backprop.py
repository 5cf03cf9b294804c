"""cnnnotes.conv.backprop and conv_transpose_output_size against PyTorch's autograd (the oracle)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import int_or_pair, refusing
from torch import nn

from cnnnotes.conv import backprop, ops
from cnnnotes.conv.shapes import conv_transpose_output_size
from cnnnotes.oracle import agree, cases
from cnnnotes.oracle.cases import Case, Draw, draw_cases
from cnnnotes.oracle.sweep import torch_output_size

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return v if isinstance(v, tuple) else (v, v)


def conv_case(draw: Draw) -> Case:
    """A :func:`~cnnnotes.oracle.cases.conv_tensors` convolution and a ``grad_out`` of its output's
    shape; a sixth unbatched, stride/padding/dilation as ints or pairs."""
    c = cases.conv_tensors(draw)
    x = c["input"] if draw.int(0, 5) else c["input"][0]
    s, p, d = (int_or_pair(draw, c[k]) for k in ("stride", "padding", "dilation"))
    grad_out = draw.tensor(*F.conv2d(x, c["weight"], None, s, p, d).shape)
    return {"grad_out": grad_out, "x": x, "weight": c["weight"], "bias": c["bias"],
            "stride": s, "padding": p, "dilation": d}  # fmt: skip


def pool_case(draw: Draw, ties: bool = False) -> Case:
    """A :func:`~cnnnotes.oracle.cases.pool_tensors` pooling (a quarter with the default stride,
    a sixth unbatched; with ``ties``, integer inputs) and a ``grad_out`` of its shape."""
    c = cases.pool_tensors(draw)
    x = draw.small_ints(*c["input"].shape, high=4) - 2 if ties else c["input"]
    x = x if draw.int(0, 5) else x[0]
    k, p = int_or_pair(draw, c["kernel_size"]), int_or_pair(draw, c["padding"])
    s = None if draw.int(0, 3) == 0 else int_or_pair(draw, c["stride"])
    grad_out = draw.tensor(*F.max_pool2d(x, k, s, p).shape)
    return {"grad_out": grad_out, "x": x, "kernel_size": k, "stride": s, "padding": p}


def _autograd(fn, inputs, grad_out) -> tuple[torch.Tensor, ...]:
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    fn(*leaves).backward(grad_out)
    return tuple(t.grad for t in leaves)


# ---------------------------------------------------------------- convolution backward


def test_conv2d_backward_matches_autograd():
    def ours(grad_out, x, w, b, s, p, d):
        return backprop.conv2d_backward(grad_out, x, w, s, p, d)

    def autograd(grad_out, x, w, b, s, p, d):
        return _autograd(lambda *t: F.conv2d(*t, s, p, d), (x, w, b), grad_out)

    result = agree(ours, autograd, conv_case, n_cases=600, claim="conv2d_backward")
    assert result.ok, str(result)


def conv_transpose_case(draw: Draw) -> Case:
    """The transposed convolution back from a :func:`conv_case`'s output: its own weight
    and bias (half the time), any ``output_padding`` PyTorch allows or, when it makes the
    output too small, refuses."""
    c = conv_case(draw)
    (sh, sw), (dh, dw) = _pair(c["stride"]), _pair(c["dilation"])
    op = (draw.int(0, max(sh, dh) - 1), draw.int(0, max(sw, dw) - 1))
    bias = draw.tensor(c["weight"].shape[1]) if draw.flag() else None
    return {"x": c["grad_out"], "weight": draw.tensor(*c["weight"].shape), "bias": bias,
            "stride": c["stride"], "padding": c["padding"], "output_padding": op,
            "dilation": c["dilation"]}  # fmt: skip


TRANSPOSED = {
    "conv_transpose2d": backprop.conv_transpose2d,  # stamps the kernel per input pixel
    "conv_transpose2d_as_conv": backprop.conv_transpose2d_as_conv,  # zero insertion + conv2d
}


@pytest.mark.parametrize(
    ("name", "seed"), [("conv_transpose2d", 3), ("conv_transpose2d_as_conv", 5)]
)
def test_conv_transpose2d_matches_pytorch_including_refusals(name, seed):
    """Both ways of computing it (the as-conv one pads d(F-1)-P, cropping where negative)."""

    def pytorch(x, w, b, s, p, op, d):
        return F.conv_transpose2d(x, w, b, s, p, op, 1, d)

    ours = refusing(TRANSPOSED[name], ValueError, "too small")
    result = agree(ours, refusing(pytorch, RuntimeError), conv_transpose_case, n_cases=600,
                   seed=seed, claim=name)  # fmt: skip
    assert result.ok, str(result)


def input_gradient_case(draw: Draw) -> Case | None:
    """A :func:`conv_case` and the ``output_padding`` that makes the transposed
    convolution's output the input's size (None where PyTorch would refuse it: rows the
    convolution never read)."""
    c = conv_case(draw)
    (s, p, d), ks = (_pair(c[k]) for k in ("stride", "padding", "dilation")), c["weight"].shape[2:]
    n_out, n_in = c["grad_out"].shape[-2:], c["x"].shape[-2:]
    op = tuple(
        n_in[i] - ((n_out[i] - 1) * s[i] - 2 * p[i] + d[i] * (ks[i] - 1) + 1) for i in (0, 1)
    )
    if any(v >= max(s[i], d[i]) for i, v in enumerate(op)):
        return None
    return {**c, "output_padding": op}


def test_conv_transpose2d_is_the_input_gradient_of_conv2d():
    def ours(grad_out, x, w, b, s, p, d, op):
        return backprop.conv_transpose2d(grad_out, w, None, s, p, op, d)

    def input_gradient(grad_out, x, w, b, s, p, d, op):
        return backprop.conv2d_backward(grad_out, x, w, s, p, d)[0]

    result = agree(ours, input_gradient, input_gradient_case, n_cases=100, seed=4,
                   claim="conv_transpose2d vs grad_x")  # fmt: skip
    assert result.ok, str(result)


# ---------------------------------------------------------------- pooling backward


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_max_pool2d_backward_matches_autograd(ties):
    def autograd(grad_out, x, k, s, p):
        return _autograd(lambda x: F.max_pool2d(x, k, s, p), (x,), grad_out)[0]

    result = agree(backprop.max_pool2d_backward, autograd, lambda d: pool_case(d, ties),
                   n_cases=600, seed=6 + ties, claim="max_pool2d_backward")  # fmt: skip
    assert result.ok, str(result)


def test_avg_pool2d_backward_matches_autograd():
    def autograd(grad_out, x, k, s, p):
        return _autograd(lambda x: F.avg_pool2d(x, k, s, p), (x,), grad_out)[0]

    result = agree(backprop.avg_pool2d_backward, autograd, pool_case, n_cases=600, seed=9,
                   claim="avg_pool2d_backward")  # fmt: skip
    assert result.ok, str(result)


def test_max_pool_ties_go_to_the_first_maximum():
    x = torch.tensor([[[[2.0, 2.0], [2.0, 2.0]]]])
    got = backprop.max_pool2d_backward(torch.ones(1, 1, 1, 1), x, 2)
    assert got.tolist() == [[[[1.0, 0.0], [0.0, 0.0]]]]


# ---------------------------------------------------------------- oracle-free checks
# Plain torch.testing.assert_close against autograd and torch.nn.functional, so that a
# broken oracle (agree/matches/verdict) cannot hide a broken backward pass. N > 1
# everywhere: a bias gradient summed over one example only must show.


@pytest.mark.parametrize(("s", "p", "d"), [(1, 0, 1), ((2, 1), 1, (1, 2)), (3, (0, 2), 2)])
def test_conv2d_backward_equals_autograd_without_the_oracle(s, p, d):
    g = torch.Generator().manual_seed(20)
    x, w = (
        torch.randn(3, 2, 8, 7, generator=g, dtype=F64),
        torch.randn(4, 2, 3, 2, generator=g, dtype=F64),
    )
    b = torch.randn(4, generator=g, dtype=F64)
    grad_out = torch.randn(F.conv2d(x, w, b, s, p, d).shape, generator=g, dtype=F64)
    want = _autograd(lambda *t: F.conv2d(*t, s, p, d), (x, w, b), grad_out)
    got = backprop.conv2d_backward(grad_out, x, w, s, p, d)
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("k", "s", "p"), [(2, None, 0), (3, 1, 1), ((3, 2), (2, 1), (1, 0))])
def test_pool_backward_equals_autograd_without_the_oracle(k, s, p):
    g = torch.Generator().manual_seed(21)
    x = torch.randint(-2, 2, (3, 2, 7, 6), generator=g).to(F64)  # many ties
    grad_out = torch.randn(F.max_pool2d(x, k, s, p).shape, generator=g, dtype=F64)
    want = _autograd(lambda t: F.max_pool2d(t, k, s, p), (x,), grad_out)[0]
    torch.testing.assert_close(backprop.max_pool2d_backward(grad_out, x, k, s, p), want)
    want = _autograd(lambda t: F.avg_pool2d(t, k, s, p), (x,), grad_out)[0]
    torch.testing.assert_close(backprop.avg_pool2d_backward(grad_out, x, k, s, p), want)


@pytest.mark.parametrize("name", sorted(TRANSPOSED))
@pytest.mark.parametrize(
    ("s", "p", "op", "d"),
    [
        (1, 0, 0, 1),
        (2, 1, 1, 1),
        ((2, 3), (1, 0), (0, 2), (2, 1)),
        (2, 0, 1, 1),
        (1, (3, 1), 0, 1),  # padding beyond d(F-1): the as-conv form crops
        ((3, 2), (4, 0), (2, 1), (1, 2)),
    ],
)
def test_conv_transpose2d_equals_functional_without_the_oracle(name, s, p, op, d):
    g = torch.Generator().manual_seed(22)
    x, w = (
        torch.randn(2, 3, 5, 4, generator=g, dtype=F64),
        torch.randn(3, 2, 3, 2, generator=g, dtype=F64),
    )
    b = torch.randn(2, generator=g, dtype=F64)
    want = F.conv_transpose2d(x, w, b, s, p, op, 1, d)
    torch.testing.assert_close(TRANSPOSED[name](x, w, b, s, p, op, d), want)
    torch.testing.assert_close(TRANSPOSED[name](x[0], w, b, s, p, op, d), want[0])


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
    for i, c in enumerate(draw_cases(conv_case, 15, seed=10)):
        args = [c[k].detach().requires_grad_() for k in ("x", "weight", "bias")]
        s, p, d = c["stride"], c["padding"], c["dilation"]
        assert torch.autograd.gradcheck(lambda *a: Conv.apply(*a, s, p, d), args), i  # noqa: B023


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_gradcheck_pool_backward(kind):
    for c in draw_cases(pool_case, 15, seed=11):
        k, s, p = c["kernel_size"], c["stride"], c["padding"]
        xr = c["x"].detach().requires_grad_()
        assert torch.autograd.gradcheck(lambda x: Pool.apply(x, kind, k, s, p), (xr,))  # noqa: B023


def test_gradcheck_conv_transpose2d():
    def make(draw: Draw) -> Case:
        return {"x": draw.tensor(2, 2, 3, 4), "w": draw.tensor(2, 3, 3, 2), "b": draw.tensor(3),
                "s": draw.int(1, 3), "p": draw.int(0, 1), "d": draw.int(1, 2)}  # fmt: skip

    for c in draw_cases(make, 6, seed=12):
        s, p, d = c["s"], c["p"], c["d"]
        f = lambda x, w, b: backprop.conv_transpose2d(x, w, b, s, p, 0, d)  # noqa: B023, E731
        assert torch.autograd.gradcheck(f, [c[k].requires_grad_() for k in "xwb"])


# ---------------------------------------------------------------- conv_transpose_output_size


def test_conv_transpose_output_size_matches_layers_including_refusals():
    def layer_size(size, k, s, p, op, d):
        layer = nn.ConvTranspose2d(1, 1, (k, 1), (s, 1), (p, 0), (op, 0), dilation=(d, 1))
        height = torch_output_size(layer, size)
        outcomes.append(height is None)
        return height

    def make(draw: Draw) -> Case:
        return {"size": draw.int(1, 12), "kernel_size": draw.int(1, 6), "stride": draw.int(1, 4),
                "padding": draw.int(0, 5), "output_padding": draw.int(0, 4),
                "dilation": draw.int(1, 3)}  # fmt: skip

    outcomes: list[bool] = []
    ours = refusing(conv_transpose_output_size, ValueError)
    result = agree(ours, layer_size, make, n_cases=3000, seed=13, claim="transpose sizes")
    assert result.ok, str(result)
    assert sum(outcomes) > 500 and outcomes.count(False) > 1000  # refused, accepted


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

OWN = ["conv/backprop.py", "learn/losses.py", "learn/optim.py", "learn/notes_by_hand.py"]


@pytest.mark.parametrize("name", OWN)
def test_modules_use_no_library_kernels_or_autograd(name):
    root = Path(backprop.__file__).parents[1]
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
