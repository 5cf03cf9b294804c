"""cnnnotes.modern.report: sources without docstrings, block tables against the real models
(parameters, FlopCounterMode, receptive fields measured by autograd), signals through blocks,
recorded runs summarised, and the Pareto front against a brute-force search."""

from __future__ import annotations

import random

import matplotlib
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnnotes.modern import report
from cnnnotes.modern.architectures import resnet_small, resnet_small_cost
from cnnnotes.modern.blocks import ResidualBlock
from cnnnotes.modern.decay import AdamW
from cnnnotes.training.study import summarise

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- source


def test_source_drops_the_docstring_and_keeps_the_rest():
    text = report.source(report.pareto_front)
    assert text.startswith("def pareto_front(") and '"""' not in text
    assert "Pass *validation* accuracy" not in text and "return [key for key" in text


def test_source_of_a_decorated_method_keeps_its_decorator():
    text = report.source(AdamW.step)
    assert text.splitlines()[0] == "@torch.no_grad()"
    assert "p.mul_(1 - self.lr * self.weight_decay)" in text and "Shrink every" not in text


def test_source_of_a_function_without_a_docstring():
    def plain(x):
        return x + 1

    assert report.source(plain) == "def plain(x):\n    return x + 1"


def test_source_refuses_what_is_not_a_function():
    with pytest.raises(TypeError, match="fn must be a function"):
        report.source(3)


# ---------------------------------------------------------------- block tables


def flops(model: nn.Module, shape: tuple[int, ...]) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(shape, device="meta"))
    return counter.get_total_flops()


CONFIGS = [(1.0, 2, True), (1.0, 2, False), (0.5, 1, True), (1.0, 4, True), (1.0, 4, False)]


@pytest.mark.parametrize(("width", "blocks", "residual"), CONFIGS)
def test_block_table_counts_like_the_model_and_flop_counter(width, blocks, residual):
    model = resnet_small(width=width, blocks=blocks, residual=residual)
    rows = report.block_table(model, (2, 1, 28, 28))
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters())
    assert 2 * sum(r.macs for r in rows) == flops(model.to("meta"), (2, 1, 28, 28))
    params, macs = resnet_small_cost(width=width, blocks=blocks, residual=residual)
    assert (sum(r.params for r in rows), sum(r.macs for r in rows)) == (params, 2 * macs)
    assert sum(r.kind == "ResidualBlock" for r in rows) == 3 * blocks
    assert rows[-1].out_shape == (2, 10)


def test_block_rows_follow_the_real_shapes():
    model = resnet_small().eval()
    rows = report.block_table(model, (1, 1, 28, 28))
    x = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        for row, child in zip(rows, model, strict=True):
            assert row.in_shape == tuple(x.shape)
            x = child(x)
            assert row.out_shape == tuple(x.shape)
            assert row.activation_bytes == x.numel() * 4


def measured_field(model: nn.Sequential, upto: int) -> int:
    """Rows of the input that reach the centre pixel of child ``upto``'s output, with every
    weight positive (no cancellations) and batch norm in eval mode (an affine map)."""
    net = nn.Sequential(*list(model)[: upto + 1]).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand_like(p) + 0.1)
    x = torch.zeros(1, 1, 28, 28, dtype=torch.float64, requires_grad=True)
    out = net(x + 1.0)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero().flatten()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("residual", [True, False])
def test_block_receptive_fields_match_autograd_inside_the_image(residual):
    model = resnet_small(residual=residual)
    rows = report.block_table(model)
    for i, row in enumerate(rows[:6]):  # fields that still fit inside 28 rows
        assert row.receptive_field == measured_field(model, i), (i, row)


def test_block_table_refuses_a_model_that_is_not_a_chain():
    with pytest.raises(TypeError, match=r"nn\.Sequential"):
        report.block_table(ResidualBlock(2, 2))


# ---------------------------------------------------------------- signals through blocks


def test_without_batch_norm_copies_and_leaves_the_model_alone():
    model = resnet_small(blocks=1)
    stripped = report.without_batch_norm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in stripped.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 1 + 3 * 2 + 2


def test_block_signals_match_a_hand_written_pass():
    torch.manual_seed(0)
    model = resnet_small(blocks=1).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 1, 28, 28, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (8,), generator=g)
    stds, grads = report.block_signals(model, x, y)
    h, outs = x, []
    for child in model:
        h = child(h)
        if isinstance(child, ResidualBlock):
            outs.append(h)
    loss = nn.functional.cross_entropy(h, y)
    want = torch.autograd.grad(loss, outs)
    f64 = torch.float64
    want_stds = torch.stack([o.std() for o in outs]).detach()
    torch.testing.assert_close(torch.tensor(stds, dtype=f64), want_stds)
    torch.testing.assert_close(
        torch.tensor(grads, dtype=f64), torch.stack([w.norm() for w in want])
    )
    assert all(not m._forward_hooks for m in model.modules()), "hooks must be removed"


def test_block_signals_needs_blocks():
    with pytest.raises(ValueError, match="no ResidualBlock"):
        report.block_signals(nn.Flatten(), torch.zeros(2, 1, 2, 2), torch.zeros(2).long())


# ---------------------------------------------------------------- recorded runs


def fake_run(key: str, seed: int, val: float, test: float) -> dict:
    history = {"val_acc": [0.5, val], "cpu_seconds": [10.0 + seed, 20.0]}
    return {"key": key, "seed": seed, "params": 7, "macs": 9, "test_acc": test, "history": history}


def test_row_summary_reads_the_last_epoch_and_the_test_once():
    runs = [fake_run("a", s, 0.90 + s / 100, 0.80 + s / 100) for s in range(3)]
    runs.append(fake_run("b", 0, 0.1, 0.1))
    s = report.row_summary(runs, "a")
    assert (s.seeds, s.params, s.macs, s.cpu_seconds) == (3, 7, 9, 31.0)
    assert s.val == summarise([0.90, 0.91, 0.92]) and s.test == summarise([0.80, 0.81, 0.82])


def test_row_summary_needs_two_seeds_of_one_model():
    with pytest.raises(ValueError, match="at least 2"):
        report.row_summary([fake_run("a", 0, 0.9, 0.9)], "a")
    runs = [fake_run("a", 0, 0.9, 0.9), {**fake_run("a", 1, 0.9, 0.9), "params": 8}]
    with pytest.raises(ValueError, match="disagree"):
        report.row_summary(runs, "a")


@pytest.mark.parametrize("seed", range(20))
def test_pareto_front_against_brute_force(seed):
    rnd = random.Random(seed)
    points = {f"k{i}": (rnd.randint(1, 5), rnd.randint(1, 5) / 10) for i in range(8)}
    want = []
    for key, (c, a) in points.items():
        others = [v for k, v in points.items() if k != key]
        better = [(c2, a2) for c2, a2 in others if c2 <= c and a2 >= a and (c2, a2) != (c, a)]
        if not better:
            want.append(key)
    assert report.pareto_front(points) == want


def test_pareto_figure_draws_both_panels():
    runs = [fake_run(k, s, v + s / 100, v) for k, v in (("a", 0.9), ("b", 0.8)) for s in range(2)]
    rows = [report.row_summary(runs, k) for k in ("a", "b")]
    fig = report.pareto_figure(rows, {"a": "model a"})
    assert len(fig.axes) == 2
    assert "model a" in [t.get_text() for t in fig.axes[0].texts]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["validation", "test"]
    matplotlib.pyplot.close(fig)


def test_percent_rounds_to_two_decimals():
    assert report.percent((0.9, 0.001)) == "90.00 ± 0.10 %"
    assert report.percent(summarise([0.91, 0.93])) == "92.00 ± 1.41 %"
