"""cnnnotes.ops against torch.nn.functional (PyTorch is the oracle)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnnotes import ops

MANY = settings(max_examples=800, deadline=None, database=None, derandomize=True)
SOME = settings(max_examples=200, deadline=None, database=None, derandomize=True)


@st.composite
def conv_case(draw, max_size=9):
    """A valid (x, weight, bias, stride, padding, dilation) in float64, PyTorch-accepted."""
    n, c, o = draw(st.integers(0, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    need = (-(-(dil[0] * (kh - 1) + 1 - h) // 2), -(-(dil[1] * (kw - 1) + 1 - w) // 2))
    pad = (max(draw(st.integers(0, 3)), need[0]), max(draw(st.integers(0, 3)), need[1]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    weight = torch.randn(o, c, kh, kw, generator=g, dtype=torch.float64)
    bias = torch.randn(o, generator=g, dtype=torch.float64) if draw(st.booleans()) else None

    # stride/padding/dilation as an int when both parts are equal, else as a pair
    def as_arg(pair):
        return pair[0] if pair[0] == pair[1] and draw(st.booleans()) else pair

    return x, weight, bias, as_arg(stride), as_arg(pad), as_arg(dil)


@MANY
@given(conv_case())
def test_conv2d_matches_float64(case):
    torch.testing.assert_close(ops.conv2d(*case), F.conv2d(*case), rtol=1e-12, atol=1e-12)


@MANY
@given(conv_case())
def test_conv2d_matches_float32(case):
    x, w, b, *rest = case
    b = None if b is None else b.float()
    torch.testing.assert_close(
        ops.conv2d(x.float(), w.float(), b, *rest), F.conv2d(x.float(), w.float(), b, *rest)
    )


@SOME
@given(conv_case(max_size=6))
def test_conv2d_loops_matches(case):
    torch.testing.assert_close(ops.conv2d_loops(*case), F.conv2d(*case), rtol=1e-12, atol=1e-12)


@SOME
@given(conv_case())
def test_im2col_matches_unfold(case):
    x, w, _, stride, pad, dil = case
    k = tuple(w.shape[2:])
    assert torch.equal(ops.im2col(x, k, stride, pad, dil), F.unfold(x, k, dil, pad, stride))


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


@st.composite
def pool_case(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h, w = draw(st.integers(max(1, kh - 2 * ph), 10)), draw(st.integers(max(1, kw - 2 * pw), 10))
    stride = draw(
        st.one_of(st.none(), st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4)))
    )
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    x = torch.randn(draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w, generator=g) - draw(
        st.sampled_from([0.0, 10.0])
    )
    kernel = kh if kh == kw and draw(st.booleans()) else (kh, kw)
    return x.double(), kernel, stride, (ph, pw)


@MANY
@given(pool_case())
def test_max_pool2d_matches(case):
    assert torch.equal(ops.max_pool2d(*case), F.max_pool2d(*case))


@MANY
@given(pool_case())
def test_avg_pool2d_matches(case):
    torch.testing.assert_close(ops.avg_pool2d(*case), F.avg_pool2d(*case), rtol=1e-12, atol=1e-12)
    x, *rest = case
    torch.testing.assert_close(ops.avg_pool2d(x.float(), *rest), F.avg_pool2d(x.float(), *rest))


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
        raise AssertionError("cnnnotes.ops must not call torch.nn.functional")

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
    assert not library, f"cnnnotes.ops ran library kernels: {sorted(library)}"
    with Recorder() as rec:
        F.conv2d(x, w)
    assert any("convolution" in name for name in rec.seen), "the recorder sees library kernels"


# ---------------------------------------------------------------- 1-D and 2-D teaching helpers

VEC = st.lists(st.integers(-5, 5), min_size=1, max_size=8)


@SOME
@given(VEC, VEC, st.sampled_from(["full", "valid"]))
def test_convolve1d_matches_numpy(a, b, mode):
    np = pytest.importorskip("numpy")
    got = ops.convolve1d(
        torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), mode
    )
    assert got.tolist() == np.convolve(a, b, mode).tolist()


@SOME
@given(VEC, VEC, st.sampled_from(["full", "valid"]))
def test_cross_correlate1d_matches_numpy(a, b, mode):
    np = pytest.importorskip("numpy")
    x, k = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    if mode == "valid" and len(b) > len(a):
        with pytest.raises(ValueError, match="no longer than x"):
            ops.cross_correlate1d(x, k, mode)
    else:
        assert ops.cross_correlate1d(x, k, mode).tolist() == np.correlate(a, b, mode).tolist()


@SOME
@given(
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(0, 2**31),
)
def test_convolve2d_is_flipped_cross_correlation_and_commutes(h, w, kh, kw, seed):
    g = torch.Generator().manual_seed(seed)
    x, k = (
        torch.randn(h, w, generator=g, dtype=torch.float64),
        torch.randn(kh, kw, generator=g, dtype=torch.float64),
    )
    full = F.conv2d(x[None, None], k.flip(0, 1)[None, None], padding=(kh - 1, kw - 1))[0, 0]
    torch.testing.assert_close(ops.convolve2d(x, k), full)
    torch.testing.assert_close(ops.convolve2d(k, x), full)  # convolution commutes
    if kh <= h and kw <= w:
        valid = F.conv2d(x[None, None], k.flip(0, 1)[None, None])[0, 0]
        torch.testing.assert_close(ops.convolve2d(x, k, "valid"), valid)


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
