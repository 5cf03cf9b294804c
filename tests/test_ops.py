"""cnnnotes.conv.ops against torch.nn.functional (PyTorch is the oracle)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from conftest import int_or_pair, refusing

from cnnnotes.conv import ops
from cnnnotes.oracle import agree, cases
from cnnnotes.oracle.cases import Case, Draw

pytestmark = pytest.mark.usefixtures("one_thread")

TOL = 1e-12


def conv_case(draw: Draw) -> Case:
    """A :func:`~cnnnotes.oracle.cases.conv_tensors` convolution, a sixth of them on an empty
    batch, half without bias, stride/padding/dilation as ints or pairs."""
    c = cases.conv_tensors(draw)
    x = c["input"] if draw.int(0, 5) else c["input"][:0]
    s, p, d = (int_or_pair(draw, c[k]) for k in ("stride", "padding", "dilation"))
    bias = c["bias"] if draw.flag() else None
    return {
        "input": x,
        "weight": c["weight"],
        "bias": bias,
        "stride": s,
        "padding": p,
        "dilation": d,
    }


def in_float32(fn: Callable[..., torch.Tensor]) -> Callable[..., tuple[torch.Tensor, torch.dtype]]:
    """``fn`` on float32 copies of its tensor arguments; its result and the result's dtype."""

    def call(*args: object) -> tuple[torch.Tensor, torch.dtype]:
        y = fn(*(a.float() if isinstance(a, torch.Tensor) else a for a in args))
        return y, y.dtype

    return call


def test_conv2d_matches_float64():
    result = agree(ops.conv2d, F.conv2d, conv_case, n_cases=800, tol=TOL, claim="conv2d")
    assert result.ok, str(result)


def test_conv2d_matches_float32():
    result = agree(in_float32(ops.conv2d), in_float32(F.conv2d), conv_case, n_cases=800, seed=1,
                   claim="conv2d in float32")  # fmt: skip
    assert result.ok, str(result)


def test_conv2d_loops_matches():
    def small(draw: Draw) -> Case | None:
        case = conv_case(draw)
        return case if max(case["input"].shape[2:]) <= 6 else None

    result = agree(
        ops.conv2d_loops, F.conv2d, small, n_cases=200, seed=2, tol=TOL, claim="conv2d_loops"
    )
    assert result.ok, str(result)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "bias", "knobs"),
    [
        ((1, 1, 5, 5), (1, 1, 3, 3), False, {}),
        (
            (2, 3, 7, 6),
            (4, 3, 3, 2),
            True,
            {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 3)},
        ),
        ((3, 8, 9), (2, 3, 2, 4), True, {"stride": 3, "padding": 2, "dilation": 2}),
        ((2, 1, 4, 4), (1, 1, 4, 4), False, {"padding": 3}),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_conv2d_loops_against_f_conv2d(x_shape, w_shape, bias, knobs, dtype):
    """Without the oracle: a few fixed layers, batched and unbatched, against F.conv2d."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(x_shape, generator=g, dtype=dtype)
    w = torch.randn(w_shape, generator=g, dtype=dtype)
    b = torch.randn(w_shape[0], generator=g, dtype=dtype) if bias else None
    torch.testing.assert_close(ops.conv2d_loops(x, w, b, **knobs), F.conv2d(x, w, b, **knobs))


def test_conv2d_loops_reads_input_row_i_s_plus_a_d_minus_p():
    """A kernel that is 1 at one tap (a, b) of one channel copies input cell
    (i*S + a*d - P, j*S + b*d - P), or 0 where that cell lies in the padding."""
    x = torch.arange(2 * 2 * 7 * 6, dtype=torch.float64).reshape(2, 2, 7, 6) + 1
    (sh, sw), (ph, pw), (dh, dw) = (2, 3), (1, 2), (2, 1)
    for a in range(3):
        for b in range(2):
            weight = torch.zeros(1, 2, 3, 2, dtype=torch.float64)
            weight[0, 1, a, b] = 1.0
            y = ops.conv2d_loops(x, weight, None, (sh, sw), (ph, pw), (dh, dw))
            for i in range(y.shape[2]):
                for j in range(y.shape[3]):
                    r, c = i * sh + a * dh - ph, j * sw + b * dw - pw
                    inside = 0 <= r < 7 and 0 <= c < 6
                    expected = x[:, 1, r, c] if inside else torch.zeros(2, dtype=torch.float64)
                    assert torch.equal(y[:, 0, i, j], expected), (a, b, i, j)


def test_im2col_matches_unfold():
    def ours(x, w, b, s, p, d):
        return ops.im2col(x, tuple(w.shape[2:]), s, p, d)

    def unfold(x, w, b, s, p, d):
        return F.unfold(x, tuple(w.shape[2:]), d, p, s)

    result = agree(ours, unfold, conv_case, n_cases=200, seed=3, tol=0, claim="im2col")
    assert result.ok, str(result)


def test_unbatched_inputs_give_unbatched_outputs():
    g = torch.Generator().manual_seed(0)
    x, w, b = (
        torch.randn(2, 6, 5, generator=g),
        torch.randn(3, 2, 3, 2, generator=g),
        torch.randn(3),
    )
    torch.testing.assert_close(ops.conv2d(x, w, b, 2, 1), F.conv2d(x, w, b, 2, 1))
    torch.testing.assert_close(ops.conv2d_loops(x, w, b, 1, (0, 1)), F.conv2d(x, w, b, 1, (0, 1)))
    assert torch.equal(ops.im2col(x, 2, padding=1), F.unfold(x, 2, padding=1))
    assert torch.equal(ops.max_pool2d(x, 2, 1, 1), F.max_pool2d(x, 2, 1, 1))
    torch.testing.assert_close(
        ops.avg_pool2d(x, (3, 2), 2, (1, 0)), F.avg_pool2d(x, (3, 2), 2, (1, 0))
    )


# Oracle-free: plain torch.testing.assert_close against torch.nn.functional, so that a
# broken oracle (agree/matches/verdict, which the sweeps above go through) cannot hide a
# broken op. Inputs are negative in places (max pooling pads with -inf, not 0), batched
# (N > 1) and float64.
OPS_CASES = [
    # x shape, weight shape, stride, padding, dilation
    ((3, 2, 7, 6), (4, 2, 3, 2), 1, 0, 1),
    ((2, 3, 8, 9), (2, 3, 3, 3), (2, 1), (1, 2), (1, 2)),
    ((1, 1, 5, 5), (3, 1, 2, 2), 3, 1, 1),
]


@pytest.mark.parametrize(("xs", "ws", "s", "p", "d"), OPS_CASES)
def test_conv2d_and_loops_equal_functional_without_the_oracle(xs, ws, s, p, d):
    g = torch.Generator().manual_seed(sum(xs))
    x = torch.randn(xs, generator=g, dtype=torch.float64)
    w = torch.randn(ws, generator=g, dtype=torch.float64)
    b = torch.randn(ws[0], generator=g, dtype=torch.float64)
    want = F.conv2d(x, w, b, s, p, d)
    torch.testing.assert_close(ops.conv2d(x, w, b, s, p, d), want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ops.conv2d_loops(x, w, b, s, p, d), want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ops.conv2d(x, w, None, s, p, d), F.conv2d(x, w, None, s, p, d))


@pytest.mark.parametrize(
    ("k", "s", "p"), [(2, None, 0), (3, 1, 1), ((3, 2), (2, 1), (1, 0)), (2, 2, 1)]
)
def test_pooling_equals_functional_without_the_oracle(k, s, p):
    x = torch.randn(3, 2, 7, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    x = x - 5.0  # all negative: padding with 0 would win every border window
    torch.testing.assert_close(ops.max_pool2d(x, k, s, p), F.max_pool2d(x, k, s, p), rtol=0, atol=0)
    torch.testing.assert_close(ops.avg_pool2d(x, k, s, p), F.avg_pool2d(x, k, s, p))


def test_conv2d_gradients_match():
    g = torch.Generator().manual_seed(1)
    tensors = [
        torch.randn(s, generator=g, dtype=torch.float64) for s in ((2, 3, 7, 6), (4, 3, 3, 2), (4,))
    ]
    ours = [t.clone().requires_grad_() for t in tensors]
    theirs = [t.clone().requires_grad_() for t in tensors]
    (ops.conv2d(*ours, stride=(2, 1), padding=1, dilation=(1, 2)) ** 2).sum().backward()
    (F.conv2d(*theirs, stride=(2, 1), padding=1, dilation=(1, 2)) ** 2).sum().backward()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad)


def pool_case(draw: Draw) -> Case:
    """A float64 input (all negative half of the time) and a pooling that fits it:
    kernel 1-4, padding up to half of it, stride by default, as an int or as a pair."""
    kh, kw = draw.int(1, 4), draw.int(1, 4)
    ph, pw = draw.int(0, kh // 2), draw.int(0, kw // 2)
    h, w = draw.int(max(1, kh - 2 * ph), 10), draw.int(max(1, kw - 2 * pw), 10)
    stride = draw.pick((None, draw.int(1, 4), (draw.int(1, 4), draw.int(1, 4))))
    x = draw.tensor(draw.int(1, 2), draw.int(1, 3), h, w) - draw.pick((0.0, 10.0))
    return {"input": x, "kernel_size": int_or_pair(draw, (kh, kw)), "stride": stride,
            "padding": (ph, pw)}  # fmt: skip


def test_max_pool2d_matches():
    result = agree(ops.max_pool2d, F.max_pool2d, pool_case, n_cases=800, tol=0, claim="max_pool2d")
    assert result.ok, str(result)


def test_avg_pool2d_matches():
    result = agree(
        ops.avg_pool2d, F.avg_pool2d, pool_case, n_cases=800, tol=TOL, claim="avg_pool2d"
    )
    assert result.ok, str(result)
    result = agree(in_float32(ops.avg_pool2d), in_float32(F.avg_pool2d), pool_case, n_cases=800,
                   claim="avg_pool2d in float32")  # fmt: skip
    assert result.ok, str(result)


def test_pooling_propagates_nan_like_pytorch():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 0] = float("nan")
    assert torch.equal(ops.max_pool2d(x, 2).isnan(), F.max_pool2d(x, 2).isnan())


def test_empty_batch_like_pytorch():
    x, w = torch.zeros(0, 2, 5, 5), torch.zeros(3, 2, 3, 3)
    assert ops.conv2d(x, w).shape == F.conv2d(x, w).shape == (0, 3, 3, 3)
    assert ops.max_pool2d(x, 2).shape == F.max_pool2d(x, 2).shape


def test_ops_do_not_call_functional(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("cnnnotes.conv.ops must not call torch.nn.functional")

    for name in ("conv2d", "max_pool2d", "avg_pool2d", "unfold", "pad", "conv1d"):
        monkeypatch.setattr(F, name, forbidden)
    for name in ("conv2d", "max_pool2d", "conv1d", "constant_pad_nd"):
        monkeypatch.setattr(torch, name, forbidden)
    x, w = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)
    ops.conv2d(x, w, padding=1)
    ops.conv2d_loops(x, w, stride=2)
    ops.im2col(x, 2)
    ops.max_pool2d(x, 3, 1, 1)
    ops.avg_pool2d(x, 3, 1, 1)
    ops.convolve1d(torch.randn(5), torch.randn(3))
    ops.convolve2d(torch.randn(4, 4), torch.randn(2, 3))


def test_ops_run_no_library_convolution_or_pooling_kernel():
    """Below the Python names: record the ATen operators the ops really execute."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.seen: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.seen.add(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    x, w = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)
    with Recorder() as rec:
        ops.conv2d(x, w, torch.randn(3), stride=2, padding=1, dilation=2)
        ops.conv2d_loops(x, w, torch.randn(3), stride=2, padding=1, dilation=2)
        ops.im2col(x, 2)
        ops.max_pool2d(x, 3, 1, 1)
        ops.avg_pool2d(x, 3, 1, 1)
        ops.convolve1d(torch.randn(5), torch.randn(3))
        ops.convolve2d(torch.randn(4, 4), torch.randn(2, 3))
    library = {
        name
        for name in rec.seen
        if any(k in name for k in ("convolution", "conv", "pool", "im2col", "pad"))
    }
    assert not library, f"cnnnotes.conv.ops ran library kernels: {sorted(library)}"
    with Recorder() as rec:
        F.conv2d(x, w)
    assert any("convolution" in name for name in rec.seen), "the recorder sees library kernels"


# ---------------------------------------------------------------- 1-D and 2-D teaching helpers


def vectors(draw: Draw) -> Case:
    """Two integer-valued float64 vectors of length 1-8 (entries -5..5) and a mode."""
    a, b = draw.ints(draw.int(1, 8), -5, 5), draw.ints(draw.int(1, 8), -5, 5)
    return {"x": a, "k": b, "mode": draw.pick(["full", "valid"])}


def numpy_or_refused(fn: Callable[..., object]) -> Callable[..., object]:
    """A NumPy function on lists, as a list; None where ours must refuse (a 'valid'
    correlation with a kernel longer than x: NumPy swaps the two, we do not)."""

    def call(x: list[int], k: list[int], mode: str) -> list[float] | None:
        return None if mode == "valid" and len(k) > len(x) else fn(x, k, mode).tolist()

    return call


def on_tensors(fn: Callable[..., torch.Tensor]) -> Callable[..., list[float]]:
    def call(x: list[int], k: list[int], mode: str) -> list[float]:
        return fn(
            torch.tensor(x, dtype=torch.float64), torch.tensor(k, dtype=torch.float64), mode
        ).tolist()

    return call


def test_convolve1d_matches_numpy():
    np = pytest.importorskip("numpy")
    result = agree(on_tensors(ops.convolve1d), lambda x, k, mode: np.convolve(x, k, mode).tolist(),
                   vectors, n_cases=200, tol=0, claim="convolve1d")  # fmt: skip
    assert result.ok, str(result)


def test_cross_correlate1d_matches_numpy():
    np = pytest.importorskip("numpy")
    ours = refusing(on_tensors(ops.cross_correlate1d), ValueError, "no longer than x")
    result = agree(ours, numpy_or_refused(np.correlate), vectors, n_cases=200, tol=0,
                   claim="cross_correlate1d")  # fmt: skip
    assert result.ok, str(result)


def test_convolve2d_is_flipped_cross_correlation_and_commutes():
    def ours(x, k):
        valid = (
            ops.convolve2d(x, k, "valid")
            if k.shape[0] <= x.shape[0] and k.shape[1] <= x.shape[1]
            else None
        )
        return ops.convolve2d(x, k), ops.convolve2d(k, x), valid  # convolution commutes

    def pytorch(x, k):
        (kh, kw), flipped = k.shape, k.flip(0, 1)[None, None]
        full = F.conv2d(x[None, None], flipped, padding=(kh - 1, kw - 1))[0, 0]
        fits = kh <= x.shape[0] and kw <= x.shape[1]
        return full, full, F.conv2d(x[None, None], flipped)[0, 0] if fits else None

    def make(draw: Draw) -> Case:
        return {
            "x": draw.tensor(draw.int(1, 6), draw.int(1, 6)),
            "k": draw.tensor(draw.int(1, 4), draw.int(1, 4)),
        }

    result = agree(ours, pytorch, make, n_cases=200, claim="convolve2d")
    assert result.ok, str(result)


# ---------------------------------------------------------------- validation

X = torch.zeros(1, 3, 5, 5)
W = torch.zeros(2, 3, 3, 3)


@pytest.mark.parametrize(
    ("call", "exc", "fragment"),
    [
        (
            lambda: ops.conv2d(X, torch.zeros(2, 2, 3, 3)),
            ValueError,
            "x has C=3 channels but weight expects 2",
        ),
        (
            lambda: ops.conv2d(torch.zeros(5, 5), W),
            ValueError,
            "x must have shape (N, C, H, W) or (C, H, W), got 2 dims",
        ),
        (
            lambda: ops.conv2d(X, torch.zeros(2, 3, 3)),
            ValueError,
            "weight must have shape (out_channels, in_channels, kh, kw)",
        ),
        (lambda: ops.conv2d(X.long(), W), TypeError, "x must be a floating-point tensor"),
        (
            lambda: ops.conv2d(X, W.double()),
            TypeError,
            "weight dtype torch.float64 must match x dtype torch.float32",
        ),
        (lambda: ops.conv2d([[1.0]], W), TypeError, "x must be a torch.Tensor"),
        (
            lambda: ops.conv2d(X, W, torch.zeros(3)),
            ValueError,
            "bias must have shape (2,), one value per output channel, got shape (3,)",
        ),
        (
            lambda: ops.conv2d(X, W, torch.zeros(2, 1)),
            ValueError,
            "bias must have shape (2,) or None, got 2 dims",
        ),
        (
            lambda: ops.conv2d(X, W, torch.zeros(2).double()),
            TypeError,
            "bias dtype torch.float64 must match",
        ),
        (lambda: ops.conv2d(X, W, stride=0), ValueError, "stride must be an int >= 1, got 0"),
        (
            lambda: ops.conv2d(X, W, stride=(1, 0)),
            ValueError,
            "stride[1] must be an int >= 1, got 0",
        ),
        (
            lambda: ops.conv2d(X, W, stride=1.0),
            TypeError,
            "stride must be an int >= 1, got 1.0 (float)",
        ),
        (
            lambda: ops.conv2d(X, W, padding=True),
            TypeError,
            "padding must be an int >= 0, got True",
        ),
        (lambda: ops.conv2d(X, W, padding=-1), ValueError, "padding must be an int >= 0, got -1"),
        (lambda: ops.conv2d(X, W, dilation=0), ValueError, "dilation must be an int >= 1, got 0"),
        (lambda: ops.conv2d(X, W, stride=(1, 2, 3)), ValueError, "got 3 values"),
        (
            lambda: ops.conv2d(torch.zeros(1, 3, 3, 3), torch.zeros(2, 3, 5, 5)),
            ValueError,
            "kernel_size 5 (dilated 5) is larger than the padded input 3 "
            "(size 3 + 2*padding 0) (height)",
        ),
        (
            lambda: ops.conv2d_loops(X, W, dilation=(1, 3)),
            ValueError,
            "kernel_size 3 (dilated 7) is larger than the padded input 5 "
            "(size 5 + 2*padding 0) (width)",
        ),
        (lambda: ops.im2col(X, 6), ValueError, "kernel_size 6 (dilated 6) is larger"),
        (lambda: ops.im2col(X, 0), ValueError, "kernel_size must be an int >= 1, got 0"),
        (
            lambda: ops.max_pool2d(X, 3, padding=2),
            ValueError,
            "padding 2 is more than half of kernel_size 3 (height)",
        ),
        (
            lambda: ops.avg_pool2d(X, (3, 2), padding=(1, 2)),
            ValueError,
            "padding 2 is more than half of kernel_size 2 (width)",
        ),
        (
            lambda: ops.max_pool2d(X, 6),
            ValueError,
            "kernel_size 6 (dilated 6) is larger than the padded input 5",
        ),
        (lambda: ops.max_pool2d(X.int(), 2), TypeError, "x must be a floating-point tensor"),
        (lambda: ops.avg_pool2d(X, 2, stride=0), ValueError, "stride must be an int >= 1, got 0"),
        (
            lambda: ops.convolve1d(torch.zeros(3), torch.zeros(2), "same"),
            ValueError,
            "mode must be 'full' or 'valid'",
        ),
        (lambda: ops.convolve1d(torch.zeros(3), torch.zeros(0)), ValueError, "must be non-empty"),
        (
            lambda: ops.convolve1d(torch.zeros(3, 1), torch.zeros(2)),
            ValueError,
            "x must have shape (length,)",
        ),
        (
            lambda: ops.cross_correlate1d(torch.zeros(3), torch.arange(2)),
            TypeError,
            "k must be a floating-point tensor",
        ),
        (
            lambda: ops.convolve2d(torch.zeros(3), torch.zeros(2, 2)),
            ValueError,
            "x must have shape (H, W)",
        ),
        (
            lambda: ops.convolve2d(torch.zeros(2, 2), torch.zeros(3, 3), "valid"),
            ValueError,
            "is larger than the padded input 2",
        ),
        (
            lambda: ops.convolve2d(torch.zeros(2, 2), torch.zeros(1, 1), "same"),
            ValueError,
            "mode must be 'full' or 'valid'",
        ),
    ],
)
def test_bad_input_is_refused_with_a_helpful_message(call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)
