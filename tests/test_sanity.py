"""analysis.sanity: ranks and Spearman against direct formulas; the randomisation and deletion
tests pass a map that depends on the model and fail one that does not."""

from __future__ import annotations

import pytest
import torch
from conftest import gen
from torch import Tensor, nn

from cnnnotes.analysis.saliency import grad_cam, saliency
from cnnnotes.analysis.sanity import (
    cascading_randomisation,
    deletion_curve,
    deletion_test,
    ranks,
    reinitialise,
    spearman,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def direct_ranks(v: Tensor) -> Tensor:
    """Average rank by its definition: 1 + #smaller + (#equal − 1) / 2, for one row."""
    smaller = (v[None, :] < v[:, None]).sum(dim=1)
    equal = (v[None, :] == v[:, None]).sum(dim=1)
    return (1 + smaller + (equal - 1) / 2).to(torch.float64)


@pytest.mark.parametrize("seed", range(20))
def test_ranks_and_spearman_match_the_direct_formulas(seed: int) -> None:
    g = gen(seed)
    n, m = int(torch.randint(1, 5, (1,), generator=g)), int(torch.randint(2, 40, (1,), generator=g))
    a = torch.randn(n, m, generator=g, dtype=torch.float64)
    b = torch.randn(n, m, generator=g, dtype=torch.float64)
    ties = torch.randint(0, 4, (n, m), generator=g).to(torch.float64)  # many ties
    for row in range(n):
        assert torch.equal(ranks(ties[row]), direct_ranks(ties[row]))
        assert torch.equal(ranks(a)[row], direct_ranks(a[row]))
    d = ranks(a) - ranks(b)
    expected = 1 - 6 * (d * d).sum(dim=1) / (m * (m * m - 1))  # no ties in continuous draws
    torch.testing.assert_close(spearman(a, b), expected, rtol=0, atol=1e-12)


def test_spearman_reads_only_the_order() -> None:
    a = torch.randn(4, 3, 5, generator=gen(0), dtype=torch.float64)
    ones = torch.ones(4, dtype=torch.float64)
    torch.testing.assert_close(spearman(a, a.exp() * 7 - 3), ones, rtol=0, atol=1e-12)
    torch.testing.assert_close(spearman(a, -a), -ones, rtol=0, atol=1e-12)
    assert spearman(a, torch.zeros_like(a)).isnan().all()  # a flat map has no ranking


# ---------------------------------------------------------------- randomisation


def tiny_cnn(seed: int = 0) -> nn.Sequential:
    g = gen(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 6 * 6, 3),
    ).double()  # fmt: skip
    for name in ("0", "2", "5"):
        reinitialise(net.get_submodule(name), g)
    return net


X = torch.randn(4, 1, 6, 6, generator=gen(1), dtype=torch.float64)


def edge_map(model: nn.Module, x: Tensor, target: int | Tensor) -> Tensor:
    """A "saliency" that ignores the model: the image's gradient magnitude (an edge detector)."""
    gy = x.diff(dim=2, prepend=x[:, :, :1])
    gx = x.diff(dim=3, prepend=x[:, :, :, :1])
    return (gx * gx + gy * gy).sum(dim=1)


def randomisation_passes(explain) -> bool:
    """The check: after every layer is random, the maps no longer rank pixels as before."""
    rho = cascading_randomisation(tiny_cnn(), explain, X, 0, gen(2))
    assert list(rho) == ["5", "2", "0"]  # top layer first
    return bool((rho["0"].abs() < 0.9).all())


@pytest.mark.parametrize(
    ("explain", "passes"),
    [(lambda m, x, t: saliency(m, x, t), True), (edge_map, False)],
    ids=["saliency", "edge-detector"],
)
def test_randomisation_catches_a_map_that_ignores_the_model(explain, passes) -> None:
    assert randomisation_passes(explain) is passes


def test_randomisation_leaves_the_model_alone_and_repeats_with_its_seed() -> None:
    net = tiny_cnn()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    explain = lambda m, x, t: grad_cam(m, "3", x, t)  # noqa: E731
    first = cascading_randomisation(net, explain, X, 1, gen(5), layers=["5", "2"])
    again = cascading_randomisation(net, explain, X, 1, gen(5), layers=["5", "2"])
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert list(first) == ["5", "2"]
    assert all(torch.equal(first[k].nan_to_num(9), again[k].nan_to_num(9)) for k in first)


def test_reinitialise_uses_the_default_bound_and_the_generator() -> None:
    conv = nn.Conv2d(3, 2, (2, 5))
    reinitialise(conv, gen(0))
    bound = 1 / (3 * 2 * 5) ** 0.5
    assert conv.weight.abs().max() <= bound and conv.bias.abs().max() <= bound
    assert conv.weight.abs().max() > bound / 2  # drawn over the whole range
    other = nn.Conv2d(3, 2, (2, 5))
    reinitialise(other, gen(0))
    assert torch.equal(conv.weight, other.weight)
    with pytest.raises(ValueError, match="Linear, Conv"):
        reinitialise(nn.BatchNorm2d(3), gen(0))
    with pytest.raises(TypeError, match=r"torch\.Generator"):
        reinitialise(conv, 0)


# ---------------------------------------------------------------- deletion


def linear_net() -> nn.Module:
    net = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 2, bias=False)).double()
    with torch.no_grad():
        net[1].weight.copy_(torch.rand(2, 18, generator=gen(3), dtype=torch.float64) + 0.1)
    return net


def test_deletion_curve_deletes_in_the_given_order_in_every_channel() -> None:
    net, x = linear_net(), torch.rand(2, 2, 3, 3, generator=gen(4), dtype=torch.float64)
    order = torch.stack([torch.randperm(9, generator=gen(i)) for i in range(2)])
    curve = deletion_curve(net, x, 1, order, 3, -0.5)
    w = net[1].weight[1].reshape(2, 3, 3)
    for n in range(2):
        for s, count in enumerate((0, 3, 6, 9)):
            kept = x[n].clone().reshape(2, 9)
            kept[:, order[n, :count]] = -0.5
            expected = (w * kept.reshape(2, 3, 3)).sum()
            torch.testing.assert_close(curve[n, s], expected, rtol=0, atol=1e-12)


def deletion_passes(maps: Tensor, net: nn.Module, x: Tensor) -> bool:
    """The check: deleting what the map ranks first lowers the logit faster than random."""
    out = deletion_test(net, x, 0, maps, steps=9, fill=0.0, generator=gen(6), repeats=3)
    return bool((out["area_between"] > 0).all())


@pytest.mark.parametrize(("sign", "passes"), [(1.0, True), (-1.0, False)], ids=["map", "reversed"])
def test_deletion_test_fails_a_map_that_ranks_backwards(sign: float, passes: bool) -> None:
    net, x = linear_net(), torch.rand(3, 2, 3, 3, generator=gen(5), dtype=torch.float64)
    contribution = (net[1].weight[0].reshape(2, 3, 3) * x).sum(dim=1).detach()  # exact, > 0
    assert deletion_passes(sign * contribution, net, x) is passes


def test_deletion_test_curves_share_their_ends_and_repeat_with_the_seed() -> None:
    net, x = linear_net(), torch.rand(3, 2, 3, 3, generator=gen(5), dtype=torch.float64)
    maps = torch.zeros(3, 3, 3, dtype=torch.float64)  # all tied: ordered at random
    out = deletion_test(net, x, 1, maps, steps=4, fill=0.0, generator=gen(7))
    again = deletion_test(net, x, 1, maps, steps=4, fill=0.0, generator=gen(7))
    assert all(torch.equal(out[k], again[k]) for k in out)
    torch.testing.assert_close(
        out["fractions"], torch.tensor([0, 2, 4, 7, 9.0], dtype=torch.float64) / 9
    )
    torch.testing.assert_close(out["map_curve"][[0, -1]], out["random_curve"][[0, -1]])
    assert out["area_between"].shape == (3,)


BAD = [
    (lambda: deletion_curve(linear_net(), torch.rand(1, 2, 3, 3, dtype=torch.float64), 0,
                            torch.zeros(1, 9, dtype=torch.int64), 3, 0.0), ValueError, "once"),
    (lambda: deletion_test(linear_net(), torch.rand(1, 2, 3, 3, dtype=torch.float64), 0,
                           torch.rand(1, 3, 4), steps=3, fill=0.0, generator=gen(0)),
     ValueError, "maps must have shape"),
    (lambda: spearman(torch.rand(2, 3), torch.rand(2, 4)), ValueError, "same shape"),
    (lambda: ranks(torch.tensor([1.0, float("nan")])), ValueError, "finite"),
    (lambda: cascading_randomisation(tiny_cnn(), "saliency", X, 0, gen(0)), TypeError, "explain"),
    (lambda: cascading_randomisation(tiny_cnn(), edge_map, X, 0, gen(0), layers=["fc"]),
     ValueError, "unknown layer 'fc'"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "match"), BAD)
def test_bad_input_is_refused_with_what_is_allowed(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
