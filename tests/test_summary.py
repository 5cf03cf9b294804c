"""analysis.summary against real models: forward hooks, parameter counts, FlopCounterMode."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnnotes.analysis.summary import (
    LayerRow,
    check_layer_table,
    format_table,
    forward_order,
    layer_table,
)
from cnnnotes.conv.shapes import receptive_field_steps
from cnnnotes.training.models import NotesCNN, pool_first_cnn, wide_cnn

NOTES_ORDER = [
    *["conv1", "relu", "conv2", "relu", "pool"],
    "flatten",
    "fc1",
    "relu",
    "fc2",
]


def hooked(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple, tuple]]:
    """(name, input shape, output shape) of every leaf call, recorded independently."""
    names = {m: n for n, m in model.named_modules() if not any(m.children())}
    calls: list[tuple[str, tuple, tuple]] = []
    hooks = [
        m.register_forward_hook(
            lambda m, a, y: calls.append((names[m], tuple(a[0].shape), tuple(y.shape)))
        )
        for m in names
    ]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return calls


def flops(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(x)
    return counter.get_total_flops()


# ---------------------------------------------------------------- the notes' model


def test_notes_cnn_table_matches_the_real_model():
    model, x = NotesCNN(), torch.zeros(1, 1, 28, 28)
    rows = layer_table(model)
    assert [r.name for r in rows] == NOTES_ORDER == [n for n, _ in forward_order(model, x.shape)]
    assert [(r.name, r.in_shape, r.out_shape) for r in rows] == hooked(model, x)
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters()) == 1_625_866
    assert 2 * sum(r.macs for r in rows) == flops(model, x) == 2 * 16_283_392
    by_name = {r.name: r for r in rows}
    assert by_name["conv1"].params == 32 * (3 * 3 * 1 + 1)
    assert by_name["conv2"].params == 64 * (3 * 3 * 32 + 1)
    assert by_name["fc1"].params == 128 * (12544 + 1)
    assert by_name["conv2"].macs == 64 * 28 * 28 * 3 * 3 * 32
    assert by_name["fc1"].macs == 12544 * 128
    assert by_name["conv2"].activation_bytes == 64 * 28 * 28 * 4
    assert [r.receptive_field for r in rows[:6]] == [3, 3, 5, 5, 6, None]
    assert check_layer_table(model, rows) == []


def test_receptive_field_column_equals_receptive_field_steps():
    net = nn.Sequential(
        nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(4, 4, 3, dilation=2)
    )
    rows = layer_table(net, (1, 1, 64, 64))
    assert [r.receptive_field for r in rows] == [r for r, _ in receptive_field_steps(net)]


def test_receptive_field_column_runs_the_recurrence_once_along_the_chain(monkeypatch):
    """60 layers: the recurrence sees each layer once (linear), not every prefix (quadratic)."""
    from cnnnotes.conv import shapes

    seen: list[nn.Module] = []

    def counting(layers):
        layers = list(layers)
        seen.extend(layers)
        return receptive_field_steps(layers)

    monkeypatch.setattr(shapes, "receptive_field_steps", counting)
    pairs = [(nn.Conv2d(1, 1, 3, padding=1, stride=1 + i % 2), nn.ReLU()) for i in range(29)]
    spatial = [layer for pair in pairs for layer in pair]
    net = nn.Sequential(*spatial, nn.Flatten(), nn.Linear(4, 2))  # 14 halvings: 2×2 left
    rows = layer_table(net, (1, 1, 2**15, 2**15))
    assert len(rows) == 60
    assert seen == [*spatial, net[58]]  # each layer once, none after the first it refuses
    want = [r for r, _ in receptive_field_steps(spatial)]
    assert [r.receptive_field for r in rows] == [*want, None, None]


def test_batch_scales_macs_and_bytes_but_not_parameters():
    model = NotesCNN()
    one, many = layer_table(model, (1, 1, 28, 28)), layer_table(model, (64, 1, 28, 28))
    for a, b in zip(one, many, strict=True):
        assert (b.macs, b.activation_bytes, b.params) == (
            64 * a.macs,
            64 * a.activation_bytes,
            a.params,
        )
    assert check_layer_table(model, many, (64, 1, 28, 28)) == []


# ---------------------------------------------------------------- many other models


class Shared(nn.Module):
    """One convolution called twice (weight sharing), a pool between, and a reused ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 5 * 5, 4), nn.BatchNorm1d(4))

    def forward(self, x):
        x = self.pool(self.act(self.conv(x)))
        return self.head(self.act(self.conv(x)))


MODELS = {
    "notes-bn-dropout": (lambda: NotesCNN(batch_norm=True, dropout=0.5), (2, 1, 28, 28)),
    "pool-first": (pool_first_cnn, (3, 1, 28, 28)),
    "wide": (lambda: wide_cnn(4), (2, 1, 28, 28)),
    "shared": (Shared, (2, 3, 10, 10)),
    "strided": (
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=2, padding=2),
            nn.BatchNorm2d(8),
            nn.PReLU(8),
            nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
            nn.Sequential(nn.Conv2d(8, 8, (3, 1), stride=(2, 1), dilation=(1, 2)), nn.GELU()),
            nn.AvgPool2d((2, 3), stride=1),
            nn.Dropout2d(0.1),
            nn.Flatten(),
            nn.Linear(8 * 3 * 9, 3),
        ),
        (2, 3, 37, 41),
    ),
    "groups-same-valid": (
        lambda: nn.Sequential(
            nn.Conv2d(4, 8, 3, padding="same", groups=2, bias=False),
            nn.SiLU(),
            nn.Conv2d(8, 8, 3, padding="valid", groups=8),
            nn.AdaptiveMaxPool2d((2, None)),
            nn.Flatten(1, 2),
            nn.Identity(),
        ),
        (1, 4, 9, 7),
    ),
    "float64": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh()).double(), (1, 1, 6, 6)),
}


@pytest.mark.parametrize("key", MODELS)
def test_table_matches_hooks_parameters_and_flops(key):
    make, shape = MODELS[key]
    torch.manual_seed(0)
    model = make()
    nbytes = 8 if key == "float64" else 4
    rows = layer_table(model, shape, bytes_per_element=nbytes)
    x = torch.zeros(shape, dtype=next(model.parameters()).dtype)
    assert [(r.name, r.in_shape, r.out_shape) for r in rows] == hooked(model, x)
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters())
    assert 2 * sum(r.macs for r in rows) == flops(model, x)
    assert check_layer_table(model, rows, shape) == []


def test_shared_module_counts_its_parameters_once():
    rows = layer_table(Shared(), (1, 3, 10, 10))
    convs = [r for r in rows if r.name == "conv"]
    assert [r.params for r in convs] == [84, 0] and convs[0].macs == 4 * convs[1].macs
    assert [r.name for r in rows].count("act") == 2


CONV = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2))


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(
    convs=st.lists(CONV, min_size=1, max_size=3),
    pool=st.sampled_from([None, "max", "avg"]),
    size=st.integers(8, 20),
    batch=st.integers(1, 3),
)
def test_random_stacks_match_the_real_model(convs, pool, size, batch):
    layers, c = [], 2
    for k, s, p, d in convs:
        layers += [nn.Conv2d(c, c + 1, k, s, p, d), nn.ReLU()]
        c += 1
    layers += [] if pool is None else [nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)]
    model, shape = nn.Sequential(*layers, nn.Flatten()), (batch, 2, size, size)
    try:
        model(torch.zeros(shape))
    except RuntimeError:  # PyTorch refuses: so must we, with a ValueError
        with pytest.raises(ValueError):
            layer_table(model, shape)
        return
    rows = layer_table(model, shape)
    assert check_layer_table(model, rows, shape) == []
    assert [r.out_shape for r in rows] == [out for _, _, out in hooked(model, torch.zeros(shape))]
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters())
    conv_flops = sum(2 * r.macs for r in rows)
    assert conv_flops == flops(model, torch.zeros(shape))


# ---------------------------------------------------------------- the checker and the text


def test_check_layer_table_reports_wrong_rows():
    model = NotesCNN()
    rows = layer_table(model)
    bad = [dataclasses.replace(rows[0], params=rows[0].params + 32), *rows[1:]]
    problems = check_layer_table(model, bad)
    assert len(problems) == 2 and problems[0].startswith("row 0:")
    assert "parameters" in problems[1]
    bad = [*rows[:3], dataclasses.replace(rows[3], macs=1), *rows[4:]]
    assert check_layer_table(model, bad) == [f"2 x {sum(r.macs for r in bad):,} MACs != "
                                             "32,566,784 FLOPs counted"]  # fmt: skip
    assert check_layer_table(model, rows[:-1])[0] == "8 rows, 9 calls"


def test_model_is_left_untouched():
    model = NotesCNN(batch_norm=True).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = layer_table(model, (4, 1, 28, 28))
    assert check_layer_table(model, rows, (4, 1, 28, 28)) == []
    assert model.training and all(p.device.type == "cpu" for p in model.parameters())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_format_table_is_aligned_with_totals():
    text = format_table(layer_table(NotesCNN()))
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "kind", "output", "shape", "params", "MACs", "bytes", "RF"]
    assert lines[1].split() == ["input", "(1,", "1,", "28,", "28)", "1"]
    assert lines[4].split() == ["conv2", "Conv2d", "(1,", "64,", "28,", "28)", "18,496",
                                "14,450,688", "200,704", "5"]  # fmt: skip
    # conv1 relu, conv2 relu, pool flatten, fc1 relu, fc2
    nbytes = 4 * (2 * 32 * 28 * 28 + 2 * 64 * 28 * 28 + 2 * 64 * 14 * 14 + 2 * 128 + 10)
    assert lines[-1].split() == ["total", "1,625,866", "16,283,392", f"{nbytes:,}"]
    assert len(lines) == 9 + 3
    assert len({line.index(")") for line in lines[1:-1]}) == 1  # shapes end in one column
    rows = layer_table(NotesCNN())
    ends = {len(lines[i + 2]) for i, r in enumerate(rows) if r.receptive_field is not None}
    assert ends == {len(lines[0])}  # so do the receptive fields, under "RF"


def test_format_table_columns_grow_with_their_entries():
    lines = format_table(layer_table(NotesCNN(), (64, 1, 28, 28))).splitlines()
    assert lines[-1].split() == ["total", "1,625,866", "1,042,137,088", f"{64 * 703_528:,}"]
    assert len({len(line) for line in lines[:2]}) == 1  # header and input end at RF


@pytest.mark.parametrize(
    ("call", "exc", "fragment"),
    [
        (lambda: layer_table(NotesCNN(), [1, 1, 28]), ValueError, "cannot run on input_shape"),
        (lambda: layer_table(NotesCNN(), (1, 1, 20, 20)), ValueError, "cannot run on input_shape"),
        (lambda: layer_table(NotesCNN(), "1x28x28"), TypeError, "input_shape must be a tuple"),
        (lambda: layer_table(NotesCNN(), (1,)), ValueError, "2 or more ints"),
        (lambda: layer_table(NotesCNN(), (1, 1, 28.0, 28)), ValueError, "2 or more ints"),
        (lambda: layer_table(NotesCNN(), (0, 1, 28, 28)), ValueError, "must be >= 1"),
        (lambda: layer_table(NotesCNN(), bytes_per_element=0), ValueError, "bytes_per_element"),
        (lambda: layer_table(NotesCNN(), bytes_per_element=4.0), TypeError, "bytes_per_element"),
        (lambda: layer_table([nn.ReLU()]), TypeError, "model must be an nn.Module, got list"),
        (
            lambda: layer_table(nn.Sequential(nn.Conv1d(1, 1, 3)), (1, 1, 8)),
            TypeError,
            "cannot handle layer 0 '0' (Conv1d); allowed: Conv2d",
        ),
        (lambda: check_layer_table("model", []), TypeError, "model must be an nn.Module"),
        (lambda: format_table([]), ValueError, "rows is empty"),
        (lambda: format_table(["conv1"]), TypeError, "rows must be a list of LayerRow"),
    ],
)
def test_bad_input_is_refused_with_a_helpful_message(call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)


class FlattensByHand(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(x), 1))


def test_a_forward_that_is_not_a_chain_is_explained():
    with pytest.raises(
        ValueError, match=r"'fc' \(Linear\) expects 32 features, got \(1, 2, 4, 4\)"
    ):
        layer_table(FlattensByHand(), (1, 1, 6, 6))
    m = FlattensByHand()
    chain = nn.Sequential(m.conv, nn.Flatten(), m.fc)  # the fix the message suggests
    assert check_layer_table(chain, layer_table(chain, (1, 1, 6, 6)), (1, 1, 6, 6)) == []
    assert isinstance(layer_table(chain, (1, 1, 6, 6))[0], LayerRow)
