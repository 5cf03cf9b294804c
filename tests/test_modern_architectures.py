"""cnnnotes.modern.architectures: shapes, parameter and MAC counts from the formulas (layer
tables, the ResNet's cost) against the real models and FlopCounterMode, seeded construction."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnnotes.analysis.summary import check_layer_table, layer_table
from cnnnotes.conv.shapes import linear_param_count
from cnnnotes.modern import architectures as arch
from cnnnotes.training.models import NotesCNN

BUILDERS = {
    "lenet5": arch.lenet5,
    "vgg_small": arch.vgg_small,
    "nin_gap": arch.nin_gap,
    "resnet_small": arch.resnet_small,
    "resnet_plain": lambda **kw: arch.resnet_small(residual=False, **kw),
}
CHAINS = ["lenet5", "vgg_small", "nin_gap"]
"""The builders whose models are plain chains of standard layers: layer_table reads them."""

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize(("classes", "width"), [(10, 1.0), (7, 0.5)])
def test_maps_images_to_logits(name, classes, width):
    model = BUILDERS[name](num_classes=classes, width=width).eval()
    with torch.no_grad():
        assert model(torch.zeros(3, 1, 28, 28)).shape == (3, classes)


def test_notes_gap_maps_images_to_logits():
    assert arch.notes_gap().eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("name", CHAINS)
@pytest.mark.parametrize("width", [1.0, 0.5, 1.5])
def test_layer_table_counts_parameters_and_macs(name, width):
    model = BUILDERS[name](width=width)
    rows = layer_table(model, (2, 1, 28, 28))
    assert sum(r.params for r in rows) == arch.parameter_count(model)
    assert check_layer_table(model, rows, (2, 1, 28, 28)) == []  # MACs vs FlopCounterMode too


def test_notes_gap_layer_table():
    model = arch.notes_gap()
    rows = layer_table(model)
    assert check_layer_table(model, rows) == []
    assert [r.name for r in rows if r.params] == ["conv1", "conv2", "fc1", "fc2"]


@pytest.mark.parametrize(
    ("width", "blocks", "residual"),
    [(1.0, 2, True), (1.0, 2, False), (0.5, 1, True), (2.0, 3, True)],
)
def test_resnet_cost_formula_matches_the_model_and_flop_counter(width, blocks, residual):
    model = arch.resnet_small(width=width, blocks=blocks, residual=residual).eval()
    params, macs = arch.resnet_small_cost(width=width, blocks=blocks, residual=residual)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(2, 1, 28, 28))
    assert params == arch.parameter_count(model)
    assert 2 * 2 * macs == counter.get_total_flops()  # batch of 2, 2 FLOPs per MAC


def test_resnet_depth_and_its_plain_twin():
    def weight_layers(model: nn.Module) -> int:
        return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())

    residual, plain = arch.resnet_small(blocks=3), arch.resnet_small(blocks=3, residual=False)
    projections = 2 * 1  # stages 2 and 3 open with a 1×1 projection each
    assert weight_layers(residual) == 1 + 6 * 3 + 1 + projections
    assert weight_layers(plain) == 1 + 6 * 3 + 1
    assert arch.parameter_count(residual) > arch.parameter_count(plain)


@pytest.mark.parametrize("name", [*BUILDERS, "notes_gap"])
def test_seeded_construction_is_deterministic(name):
    build = arch.notes_gap if name == "notes_gap" else BUILDERS[name]

    def weights(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        return list(build().state_dict().values())

    a, b, c = weights(0), weights(0), weights(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_lenet5_is_the_published_layout():
    kinds = [type(m).__name__ for m in arch.lenet5()]
    assert kinds == ["Conv2d", "Tanh", "AvgPool2d", "Conv2d", "Tanh", "AvgPool2d", "Flatten",
                     "Linear", "Tanh", "Linear", "Tanh", "Linear"]  # fmt: skip
    sizes = [(m.in_channels, m.out_channels) for m in arch.lenet5() if isinstance(m, nn.Conv2d)]
    fcs = [(m.in_features, m.out_features) for m in arch.lenet5() if isinstance(m, nn.Linear)]
    assert sizes == [(1, 6), (6, 16)] and fcs == [(400, 120), (120, 84), (84, 10)]


def test_gap_removes_almost_all_of_the_notes_parameters():
    notes, gap = NotesCNN(), arch.notes_gap()
    fc1_notes = linear_param_count(64 * 14 * 14, 128)
    fc1_gap = linear_param_count(64, 128)
    assert arch.parameter_count(notes) - arch.parameter_count(gap) == fc1_notes - fc1_gap
    share = arch.parameter_share(notes, "fc1")
    assert share == fc1_notes / arch.parameter_count(notes) and round(100 * share, 1) == 98.8
    # every layer but fc1 is the notes' own: the same names and shapes
    same = {k: v.shape for k, v in notes.state_dict().items() if not k.startswith("fc1")}
    assert same == {k: v.shape for k, v in gap.state_dict().items() if not k.startswith("fc1")}


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: arch.lenet5(num_classes=0), ValueError, r"num_classes"),
        (lambda: arch.vgg_small(width=0), ValueError, r"width must be a number > 0"),
        (lambda: arch.nin_gap(width="wide"), TypeError, r"width"),
        (lambda: arch.resnet_small(blocks=0), ValueError, r"blocks"),
        (lambda: arch.resnet_small(residual=1), TypeError, r"residual"),
        (lambda: arch.resnet_small_cost(size=0), ValueError, r"size"),
        (lambda: arch.parameter_share(NotesCNN(), "fc3"), ValueError, r"no submodule 'fc3'"),
        (lambda: arch.parameter_share(NotesCNN(), 1), TypeError, r"name"),
        (lambda: arch.parameter_count("model"), TypeError, r"torch.nn.Module"),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
