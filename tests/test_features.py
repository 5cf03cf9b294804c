"""analysis.features: hooks against a hand-written forward pass, statistics against PyTorch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnnotes.analysis.features import (
    class_means,
    dc_share,
    feature_maps,
    mean_activations,
    nearest_mean_accuracy,
    scatter_ratio,
    top_activating,
)
from cnnnotes.conv.kernels import box_blur, laplacian, prewitt, sobel
from cnnnotes.training.models import NotesCNN


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def net() -> NotesCNN:
    torch.manual_seed(0)
    return NotesCNN().eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(5, 1, 28, 28, generator=_gen(1))


# ---------------------------------------------------------------- feature_maps


def test_feature_maps_equal_a_hand_written_forward(net, images):
    names = ["conv1", "conv2", "pool", "fc1", "fc2"]
    maps = feature_maps(net, images, names)
    assert list(maps) == names
    with torch.no_grad():
        c1 = F.conv2d(images, net.conv1.weight, net.conv1.bias, padding=1)
        c2 = F.conv2d(F.relu(c1), net.conv2.weight, net.conv2.bias, padding=1)
        pooled = F.max_pool2d(F.relu(c2), 2)
        f1 = F.linear(pooled.flatten(1), net.fc1.weight, net.fc1.bias)
        f2 = F.linear(F.relu(f1), net.fc2.weight, net.fc2.bias)
    for name, expected in zip(names, (c1, c2, pooled, f1, f2), strict=True):
        torch.testing.assert_close(maps[name], expected, rtol=0, atol=0)
    assert [tuple(maps[n].shape) for n in names] == [
        (5, 32, 28, 28),
        (5, 64, 28, 28),
        (5, 64, 14, 14),
        (5, 128),
        (5, 10),
    ]


def test_feature_maps_leave_the_model_untouched(net, images):
    state = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    try:
        maps = feature_maps(net, images, ["conv1"])
        assert net.training, "the mode must not change"
    finally:
        net.eval()
    assert all(not m._forward_hooks for m in net.modules()), "hooks must be removed"
    assert not maps["conv1"].requires_grad
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_no_graph_even_when_the_input_wants_gradients(net, images):
    x = images.clone().requires_grad_(True)
    assert not feature_maps(net, x, ["fc2"])["fc2"].requires_grad


def test_hooks_are_removed_when_the_forward_pass_fails(net):
    with pytest.raises(RuntimeError):
        feature_maps(net, torch.zeros(1, 1, 20, 20), ["conv1"])  # fc1 gets the wrong size
    assert all(not m._forward_hooks for m in net.modules())


def test_nested_names_and_sequential_indices():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.ReLU(), nn.Conv2d(2, 1, 1)))
    x = torch.randn(2, 1, 6, 6, generator=_gen(2))
    maps = feature_maps(model, x, ["1.1", "0"])
    with torch.no_grad():
        torch.testing.assert_close(maps["0"], model[0](x))
        torch.testing.assert_close(maps["1.1"], model(x))


def test_unknown_name_lists_the_available_ones(net, images):
    with pytest.raises(ValueError, match=r"unknown layer name 'conv3'.*'conv1', 'conv2'"):
        feature_maps(net, images, ["conv3"])
    with pytest.raises(ValueError, match="unknown layer name ''"):
        feature_maps(net, images, [""])


def test_a_reused_module_is_refused(net, images):
    with pytest.raises(ValueError, match=r"'relu' ran 3 times"):
        feature_maps(net, images, ["relu"])
    assert all(not m._forward_hooks for m in net.modules())


@pytest.mark.parametrize(
    ("model", "x", "names", "error"),
    [
        ("not a model", torch.zeros(1, 1, 28, 28), ["conv1"], TypeError),
        (None, torch.zeros(1, 1, 28, 28, dtype=torch.int64), ["conv1"], TypeError),
        (None, [[0.0]], ["conv1"], TypeError),
        (None, torch.zeros(1, 1, 28, 28), "conv1", TypeError),
        (None, torch.zeros(1, 1, 28, 28), [], ValueError),
        (None, torch.zeros(1, 1, 28, 28), ["conv1", "conv1"], ValueError),
        (None, torch.zeros(1, 1, 28, 28), [1], ValueError),
    ],
)
def test_feature_maps_bad_arguments(net, model, x, names, error):
    with pytest.raises(error):
        feature_maps(net if model is None else model, x, names)


# ---------------------------------------------------------------- top_activating


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize(("layer", "channel"), [("conv2", 0), ("conv2", 63), ("conv1", 7)])
def test_top_activating_against_brute_force(net, layer, channel, relu):
    x = torch.randn(23, 1, 28, 28, generator=_gen(3))
    idx, scores = top_activating(net, x, layer, channel, k=6, relu=relu, batch_size=5)
    out = feature_maps(net, x, [layer])[layer][:, channel]
    expected = (out.clamp(min=0) if relu else out).mean(dim=(1, 2))
    torch.testing.assert_close(scores, expected[idx])
    assert torch.equal(idx, torch.argsort(expected, descending=True)[:6])
    assert bool((scores[:-1] >= scores[1:]).all())


def test_top_activating_many_channels_at_once(net):
    x = torch.randn(17, 1, 28, 28, generator=_gen(8))
    idx, scores = top_activating(net, x, "conv2", [3, 0, 3], k=4, relu=True)
    assert idx.shape == scores.shape == (3, 4)
    for row, c in enumerate([3, 0, 3]):
        one = top_activating(net, x, "conv2", c, k=4, relu=True)
        assert torch.equal(idx[row], one[0]) and torch.equal(scores[row], one[1])


def test_mean_activations_against_feature_maps(net):
    x = torch.randn(7, 1, 28, 28, generator=_gen(9))
    maps = feature_maps(net, x, ["conv2", "fc1"])
    scores = mean_activations(net, x, "conv2", relu=True, batch_size=3)
    torch.testing.assert_close(scores, maps["conv2"].clamp(min=0).mean(dim=(2, 3)))
    assert torch.equal(mean_activations(net, x, "fc1"), maps["fc1"])  # no positions to average
    with pytest.raises(ValueError, match="no channel axis"):
        mean_activations(nn.Sequential(nn.Flatten(0)), x, "0")


@pytest.mark.parametrize("n", [4, 64, 300])
def test_top_activating_on_a_linear_layer_and_ties(net, n):
    """Identical images tie; ties come back in the order of ``x``. torch's default
    (unstable) sort keeps that order for a handful of values but not from about 50 on,
    so the larger sizes are what pin the documented stable sort."""
    x = torch.zeros(n, 1, 28, 28)  # identical images: every score ties
    idx, scores = top_activating(net, x, "fc1", channel=5, k=n)
    assert idx.tolist() == list(range(n))
    assert bool((scores == scores[0]).all())
    idx, _ = top_activating(net, x, "fc1", channel=[5, 0], k=n // 2)
    assert idx.tolist() == [list(range(n // 2))] * 2


def test_ties_keep_the_order_of_x_among_other_scores():
    """Dead channels all score 0 (chapter 11): the zeros keep their order after the rest."""
    net = nn.Sequential(nn.Identity())
    values = torch.tensor([0.0, 3.0, 0.0, 1.0] * 20)  # 80 images, 40 of them tied at 0
    x = values[:, None, None]
    idx, scores = top_activating(net, x, "0", channel=0, k=80)
    expected = [i for i in range(80) if values[i] == 3] + [i for i in range(80) if values[i] == 1]
    expected += [i for i in range(80) if values[i] == 0]
    assert idx.tolist() == expected
    assert scores.tolist() == sorted(values.tolist(), reverse=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channel": 64, "k": 1}, "channel must be < 64"),
        ({"channel": -1, "k": 1}, "channel must be an int >= 0"),
        ({"channel": 0, "k": 0}, "k must be an int >= 1"),
        ({"channel": 0, "k": 9}, "k <= 3 images, got k = 9"),
        ({"channel": [], "k": 1}, "need at least one channel"),
        ({"channel": [0, 64], "k": 1}, "channel must be < 64"),
        ({"channel": 0, "k": 1, "batch_size": 0}, "batch_size must be an int >= 1"),
    ],
)
def test_top_activating_bad_arguments(net, kwargs, match):
    with pytest.raises(ValueError, match=match):
        top_activating(net, torch.zeros(3, 1, 28, 28), "conv2", **kwargs)


# ---------------------------------------------------------------- dc_share


def test_dc_share_of_classic_kernels():
    kernels = torch.stack([sobel("x"), sobel("y"), laplacian(), prewitt("x"), box_blur(3)])
    assert dc_share(kernels).tolist() == [0.0, 0.0, 0.0, 0.0, pytest.approx(1.0)]


def test_dc_share_is_the_energy_of_the_projection_on_the_constant():
    w = torch.randn(500, 3, 3, 3, generator=_gen(4), dtype=torch.float64)
    flat = w.reshape(500, -1)
    ones = torch.ones(flat.shape[1], dtype=torch.float64) / flat.shape[1] ** 0.5
    projection = (flat @ ones)[:, None] * ones  # mean(w)·1
    expected = projection.pow(2).sum(1) / flat.pow(2).sum(1)
    torch.testing.assert_close(dc_share(w), expected)
    rest = flat - projection  # Pythagoras: the rest is zero-sum and orthogonal
    torch.testing.assert_close(rest.sum(1), torch.zeros(500, dtype=torch.float64))
    torch.testing.assert_close(1 - dc_share(w), rest.pow(2).sum(1) / flat.pow(2).sum(1))
    assert bool(((dc_share(w) >= 0) & (dc_share(w) <= 1)).all())


def test_dc_share_scale_invariance_zero_filter_and_errors():
    w = torch.randn(8, 1, 3, 3, generator=_gen(5))
    torch.testing.assert_close(dc_share(3.5 * w), dc_share(w))
    assert dc_share(torch.zeros(2, 9)).tolist() == [0.0, 0.0]
    for bad in (torch.zeros(2, 3, dtype=torch.int64), [[1.0]]):
        with pytest.raises(TypeError, match="filters must be"):
            dc_share(bad)
    with pytest.raises(ValueError, match=r"filters must have shape \(out, ...\)"):
        dc_share(torch.zeros(9))  # one filter of 9 weights needs shape (1, 9)


# ---------------------------------------------------------------- class statistics


def _clusters(n: int = 300, d: int = 7, classes: int = 4, seed: int = 6):
    g = _gen(seed)
    y = torch.arange(n) % classes
    centres = 3 * torch.randn(classes, d, generator=g, dtype=torch.float64)
    return centres[y] + torch.randn(n, d, generator=g, dtype=torch.float64), y


def test_class_means_against_boolean_masks():
    f, y = _clusters()
    expected = torch.stack([f[y == c].mean(0) for c in range(4)])
    torch.testing.assert_close(class_means(f, y), expected)


def test_scatter_ratio_decomposes_the_total_variance():
    f, y = _clusters()
    means = class_means(f, y)
    within = ((f - means[y]) ** 2).sum(1).mean()
    total = f.var(dim=0, unbiased=False).sum()  # torch.var as the oracle for B + W
    between = total - within
    assert scatter_ratio(f, y) == pytest.approx(float(between / within), rel=1e-9)
    assert scatter_ratio(10 * f, y) == pytest.approx(scatter_ratio(f, y), rel=1e-9)


def test_nearest_mean_accuracy_against_brute_force():
    f, y = _clusters(seed=7)
    means = class_means(f[:150], y[:150])
    brute = [
        int(min(range(4), key=lambda c: float(((f[i] - means[c]) ** 2).sum())) == y[i])
        for i in range(150, 300)
    ]
    assert nearest_mean_accuracy(f[150:], y[150:], means) == pytest.approx(sum(brute) / 150)
    assert nearest_mean_accuracy(means, torch.arange(4), means) == 1.0
    with pytest.raises(TypeError, match="means must be a floating-point tensor"):
        nearest_mean_accuracy(f, y, means.round().long())  # would truncate the features


def test_class_statistics_errors():
    f, y = _clusters()
    with pytest.raises(ValueError, match=r"features must have shape \(samples, features\)"):
        scatter_ratio(f[:, 0], y)
    with pytest.raises(TypeError, match=r"labels must be torch\.int64"):
        scatter_ratio(f, y.to(torch.int32))
    with pytest.raises(TypeError, match="labels must hold integer class labels"):
        scatter_ratio(f, y.double())
    with pytest.raises(ValueError, match="300 feature rows but 299 labels"):
        scatter_ratio(f, y[:-1])
    with pytest.raises(ValueError, match=r"classes \[1\] have no samples"):
        class_means(f[:2], torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="single point"):
        scatter_ratio(torch.tensor([[0.0], [1.0]]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"means must have shape \(classes, 7\)"):
        nearest_mean_accuracy(f, y, torch.zeros(4, 6))
    with pytest.raises(ValueError, match="labels go up to 3 but there are 2 means"):
        nearest_mean_accuracy(f, y, torch.zeros(2, 7))
