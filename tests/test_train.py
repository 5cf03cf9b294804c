"""Training helpers: batches, fit/evaluate, the notes' loop, models, checkpoints, cache, CLI."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from conftest import ROOT
from torch import nn

from cnnnotes.training import augment, checkpoint, results
from cnnnotes.training.baseline import notes_loop
from cnnnotes.training.cli import parser as cli_parser
from cnnnotes.training.cli import recipe_from
from cnnnotes.training.data import as_tensors, fashion_mnist
from cnnnotes.training.loop import TrainConfig, batches, evaluate, fit, predict
from cnnnotes.training.models import MODELS, NotesCNN, build_model
from cnnnotes.training.recipes import RECIPES, Recipe, load_data


@pytest.fixture(scope="module")
def small() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    (x, y), (xv, yv), _ = load_data(normalize=True)
    return (x[:640], y[:640]), (xv[:500], yv[:500])


def test_batches_cover_every_example_once_per_epoch() -> None:
    x = torch.arange(103)
    g = torch.Generator().manual_seed(3)
    seen = torch.cat([b for b, _ in batches(x, x, 10, g)])
    assert sorted(seen.tolist()) == list(range(103)) and seen.tolist() != list(range(103))
    again = torch.cat([b for b, _ in batches(x, x, 10, torch.Generator().manual_seed(3))])
    assert torch.equal(seen, again)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_batches_reject_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        list(batches(torch.zeros(3), torch.zeros(3), bad))  # type: ignore[arg-type]


def tiny(n: int = 96, seed: int = 0) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)
    return (x, y), (x[:32], y[:32])


TWO_EPOCHS = TrainConfig(epochs=2, batch_size=32)


def test_fit_is_reproducible_and_uses_no_global_randomness() -> None:
    """Issue 11: the old test re-seeded the global RNG before each run, so it could not see
    dropout drawing from it. Here the two runs start from one initialisation but from
    different global RNG states: with everything drawn from ``seed``, they must agree."""
    torch.manual_seed(0)
    start = build_model("notes-dropout")  # dropout 0.5 after fc1
    histories, weights = [], []
    for disturb in (1, 2):
        model = copy.deepcopy(start)
        torch.manual_seed(disturb)  # a different global state before each run
        before = torch.random.get_rng_state()
        histories.append(fit(model, *tiny(), TWO_EPOCHS, seed=1, progress=False))
        assert torch.equal(torch.random.get_rng_state(), before), "fit changed the global RNG"
        weights.append(model.state_dict())
    assert histories[0].train_loss == histories[1].train_loss
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name
    model = copy.deepcopy(start)
    other = fit(model, *tiny(), TWO_EPOCHS, seed=2, progress=False)
    assert other.train_loss != histories[0].train_loss, "the seed must matter"


def test_a_zero_batch_size_is_refused_before_dividing_by_it() -> None:
    """Issue 11: batch_size=0 raised ZeroDivisionError before the intended ValueError."""
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        TrainConfig(batch_size=0)


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_max_batches_is_checked(bad: object) -> None:
    """Issue 11: max_batches <= 0 was not checked (0 ran no batch, then failed)."""
    with pytest.raises(ValueError, match="max_batches must be an int >= 1"):
        TrainConfig(max_batches=bad)  # type: ignore[arg-type]


def test_one_cycle_anneals_over_the_batches_actually_run(monkeypatch) -> None:
    """Issue 11: with max_batches, OneCycleLR counted full epochs and never annealed."""
    made: list[torch.optim.lr_scheduler.OneCycleLR] = []
    real = torch.optim.lr_scheduler.OneCycleLR

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(torch.optim.lr_scheduler, "OneCycleLR", spy)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    config = TrainConfig(epochs=2, batch_size=8, max_batches=3, lr=0.01, schedule="onecycle")
    fit(model, *tiny(), config, progress=False)
    (sched,) = made
    # 2 epochs x 3 batches: the cycle is planned over 6 steps and all 6 are taken (the
    # old code planned 2 x 12 full-epoch steps and stopped a quarter of the way up).
    assert (sched.total_steps, sched.last_epoch) == (6, 6), "the cycle must run to its end"


class Broken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


@pytest.mark.parametrize("which", ["evaluate", "predict"])
def test_evaluate_and_predict_restore_the_mode_when_the_model_fails(which: str) -> None:
    """Issue 11: the mode was restored after the loop, not in ``finally``."""
    model = Broken().train()
    x, y = torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(RuntimeError, match="boom"):
        evaluate(model, x, y) if which == "evaluate" else predict(model, x)
    assert model.training, f"{which} left the model in eval mode"


@pytest.mark.parametrize(
    "options",
    [
        {"schedule": "onecycle"},
        {"augment": augment.shift_and_flip},
        {"channels_last": True},
        {"weight_decay": 1e-3},
        {"shuffle": False, "lr": 3e-3},
    ],
    ids=["onecycle", "augment", "channels_last", "weight_decay", "no_shuffle"],
)
def test_fit_options_train_and_are_reproducible(options: dict) -> None:
    options = dict(options)
    shift = options.pop("augment", None)  # fit's own argument; the rest are the config's
    config = TrainConfig(epochs=2, batch_size=32, max_batches=2, **options)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model("pool-first")
        history = fit(model, *tiny(), config, augment=shift, progress=False)
        runs.append((history, model.state_dict()))
    (h0, w0), (h1, w1) = runs
    assert len(h0.train_loss) == 2 and all(math.isfinite(v) for v in h0.train_loss)
    assert h0.train_loss == h1.train_loss and h0.val_acc == h1.val_acc
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert len(h0.seconds) == len(h0.cpu_seconds) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_on_cuda_is_reproducible_and_restores_the_settings() -> None:
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model("notes-dropout")
        history = fit(model, *tiny(256), TWO_EPOCHS, device="cuda", progress=False)
        runs.append((history.train_loss, {k: v.cpu() for k, v in model.state_dict().items()}))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be an int >= 1"),
        ({"epochs": 2.0}, TypeError, "epochs must be an int >= 1, got 2.0"),
        ({"lr": 0.0}, ValueError, "lr must be a number > 0"),
        ({"lr": "0.1"}, TypeError, "lr must be a number > 0"),
        ({"batch_size": True}, TypeError, "batch_size must be an int >= 1"),
        ({"schedule": "step"}, ValueError, "schedule must be one of 'constant', 'onecycle'"),
        ({"schedule": None}, TypeError, "schedule must be one of 'constant', 'onecycle'"),
        ({"label_smoothing": 1.0}, ValueError, r"label_smoothing must be a number in \[0, 1\)"),
        ({"label_smoothing": -0.1}, ValueError, r"label_smoothing must be a number in \[0, 1\)"),
        ({"weight_decay": -1e-4}, ValueError, "weight_decay must be a number >= 0"),
        ({"shuffle": 1}, TypeError, "shuffle must be True or False"),
        ({"channels_last": "yes"}, TypeError, "channels_last must be True or False"),
    ],
)
def test_train_config_refuses_bad_values(kwargs: dict, error: type, match: str) -> None:
    """A wrong type raises TypeError, a wrong value ValueError, when the config is made."""
    with pytest.raises(error, match=match) as info:
        TrainConfig(**kwargs)
    assert error is TypeError or not isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((), {"seed": -1}, ValueError, "seed must be an int from 0"),
        ((), {"seed": 1.0}, TypeError, "seed must be an int from 0"),
        ((), {"progress": 1}, TypeError, "progress must be True or False"),
        ((), {"augment": "flip"}, TypeError, "augment must be None or a function"),
        (({"epochs": 1},), {}, TypeError, "config must be a TrainConfig, got dict"),
    ],
)
def test_fit_checks_what_the_config_does_not(
    small, args: tuple, kwargs: dict, error: type, match: str
) -> None:
    model = nn.Linear(784, 10)
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(error, match=match):
        fit(model, *small, *args, **{"progress": False, **kwargs})
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_fit_refuses_a_model_that_is_not_a_module(small) -> None:
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module, got str"):
        fit("notes", *small, progress=False)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_a_recipe_trains_with_its_own_fields(name: str) -> None:
    recipe, config = RECIPES[name], RECIPES[name].train_config()
    for f in fields(TrainConfig):
        expected = None if f.name == "max_batches" else getattr(recipe, f.name)
        assert getattr(config, f.name) == expected, f.name
    with pytest.raises(TypeError, match="shuffle must be True or False"):
        recipe.with_(shuffle=1)  # checked by the recipe's TrainConfig


def test_evaluate_matches_a_direct_computation(small) -> None:
    torch.manual_seed(0)
    model = NotesCNN()
    model.train()
    x, y = small[1]
    loss, acc = evaluate(model, x, y, batch_size=128)
    assert model.training, "evaluate must restore the mode it found"
    with torch.no_grad():
        logits = model.eval()(x)
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == int((logits.argmax(1) == y).sum()) / len(y)


def test_notes_loop_and_tensor_loop_train_identically(threads: None) -> None:
    """The DataLoader loop of the notes and fit(shuffle=False) on raw tensors: same weights."""
    torch.set_num_threads(2)
    reference, _ = notes_loop(epochs=1, seed=0, progress=False, max_batches=5)
    train = as_tensors(fashion_mnist(train=True))  # all 60,000, as the notes' DataLoader
    torch.manual_seed(0)
    model = NotesCNN()
    config = TrainConfig(epochs=1, shuffle=False, max_batches=5)
    fit(model, train, (train[0][:10], train[1][:10]), config, progress=False)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_maps_images_to_ten_logits(name: str) -> None:
    model = build_model(name).eval()
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_unknown_model_and_bad_recipe() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet'; choose one of"):
        build_model("resnet")
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        Recipe(epochs=0)
    with pytest.raises(ValueError, match="unknown model"):
        RECIPES["fast"].with_(model="vgg")
    with pytest.raises(ValueError, match="weight_decay must be a number >= 0"):
        Recipe(weight_decay=-0.1)


def test_cli_recipe_keeps_its_model_unless_overridden() -> None:
    args = cli_parser().parse_args(["--recipe", "best", "--out", "x"])
    assert recipe_from(args) == RECIPES["best"]
    args = cli_parser().parse_args(["--recipe", "best", "--model", "notes", "--out", "x"])
    assert recipe_from(args) == RECIPES["best"].with_(model="notes")
    assert recipe_from(cli_parser().parse_args(["--out", "x"])) == Recipe()


def test_augmentation_keeps_shape_and_is_seeded() -> None:
    x = torch.rand(16, 1, 28, 28)
    a = augment.shift_and_flip(x, torch.Generator().manual_seed(0))
    b = augment.shift_and_flip(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    flipped = augment.shift_and_flip(x, torch.Generator().manual_seed(0), max_shift=0)
    assert all(
        torch.equal(f, i) or torch.equal(f, i.flip(-1)) for f, i in zip(flipped, x, strict=True)
    )
    with pytest.raises(ValueError, match="std must be a number > 0"):
        augment.normalize(x, 0.0, 0.0)


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("pool-first")
    path = checkpoint.save_checkpoint(tmp_path / "m.pt", model, {"model": "pool-first", "x": [1]})
    loaded, meta = checkpoint.load_checkpoint(path)
    assert meta == {"model": "pool-first", "x": [1]} and not loaded.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name])
    with pytest.raises(TypeError, match="metadata may hold"):
        checkpoint.save_checkpoint(tmp_path / "b.pt", model, {"model": "notes", "t": torch.ones(1)})
    with pytest.raises(ValueError, match="must name the model"):
        checkpoint.save_checkpoint(tmp_path / "c.pt", model, {})
    with pytest.raises(FileNotFoundError):
        checkpoint.load_checkpoint(tmp_path / "missing.pt")


def test_results_need_provenance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "DATA_DIR", tmp_path)
    results.save("demo", {"value": 3}, command=["x"])
    loaded = results.load("demo")
    assert loaded["value"] == 3 and loaded["provenance"]["command"] == "x"
    (tmp_path / "bare.json").write_text(json.dumps({"value": 1}))
    with pytest.raises(ValueError, match="lacks provenance"):
        results.load("bare")
    with pytest.raises(FileNotFoundError, match=r"scripts/experiments\.py study`"):
        results.load("study")
    with pytest.raises(FileNotFoundError, match=r"scripts/experiments\.py benchmark`"):
        results.load("benchmark")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnnnotes", "train", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet"], "invalid choice: 'resnet'"),
        (["--epochs", "0"], "--epochs: must be an int >= 1, got 0"),
        (["--lr", "-1"], "--lr: must be a number > 0"),
        (["--recipe", "nope"], "invalid choice: 'nope'"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    proc = cli(*args, "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_cli_rejects_an_unwritable_output_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = cli("--epochs", "1", "--out", str(blocker / "out"))
    assert proc.returncode == 2 and "cannot write to output folder" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_reports_missing_data(tmp_path: Path) -> None:
    env = {**os.environ, "CNNNOTES_DATA": str(tmp_path / "empty")}
    code = (
        "import sys; from cnnnotes.training import data; from torchvision import datasets;"
        f"data.DEBIAN_DIR = data.Path({str(tmp_path / 'none')!r});"
        "datasets.FashionMNIST.mirrors = ['http://127.0.0.1:9/'];"
        "from cnnnotes.training.cli import main; sys.exit(main(['--out', sys.argv[1]]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "apt-get install dataset-fashion-mnist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_trains_and_writes_metrics_and_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ("--model", "pool-first", "--epochs", "1", "--batch-size", "256", "--max-batches", "40")
    proc = cli(*args, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["recipe"]["model"] == "pool-first" and len(metrics["history"]["val_acc"]) == 1
    assert metrics["max_batches"] == 40
    assert 0.6 < metrics["test_acc"] <= 1.0  # 40 batches of 256 already learn something
    assert metrics["test_se"] == pytest.approx(
        (metrics["test_acc"] * (1 - metrics["test_acc"]) / 1e4) ** 0.5
    )
    assert "test_acc" not in metrics["history"], "tested once, after training"
    assert metrics["provenance"]["command"].startswith("cnnnotes train")
    model, meta = checkpoint.load_checkpoint(out / "model.pt")
    assert meta["test_acc"] == metrics["test_acc"] and isinstance(model, nn.Sequential)
    assert set(meta["normalization"]) == {"mean", "std"} and meta["classes"][0] == "T-shirt/top"
    classifier = checkpoint.load_model(out / "model.pt")
    assert classifier.mean == meta["normalization"]["mean"] and classifier.mean > 0.2


def test_one_change_variants_of_the_notes_net_change_only_what_they_say() -> None:
    """notes-kaiming redraws conv1, conv2, fc1 at std √(2/fan-in), biases 0, fc2 as the notes';
    notes-separable swaps conv2 for a factorised layer and keeps every other initial weight."""
    from cnnnotes.modern.blocks import DepthwiseSeparable
    from cnnnotes.modern.init import kaiming_std

    torch.manual_seed(3)
    notes = NotesCNN()
    torch.manual_seed(3)
    kaiming = build_model("notes-kaiming")
    torch.manual_seed(3)
    separable = build_model("notes-separable")
    for name, fan_in in (("conv1", 9), ("conv2", 288), ("fc1", 12544)):
        layer = getattr(kaiming, name)
        assert layer.weight.std().item() == pytest.approx(kaiming_std(fan_in), rel=0.15), name
        assert layer.weight.mean().abs() < 0.2 * kaiming_std(fan_in), name
        assert not layer.bias.any(), name
    assert kaiming.fc1.weight.std() > 2 * notes.fc1.weight.std()  # √6 ≈ 2.45 times
    # fc2 is the notes' own draw: the default draws come first, the redraws after
    assert torch.equal(kaiming.fc2.weight, notes.fc2.weight)
    assert torch.equal(kaiming.fc2.bias, notes.fc2.bias)
    assert isinstance(separable.conv2, DepthwiseSeparable)
    for name in ("conv1", "fc1", "fc2"):
        assert torch.equal(getattr(separable, name).weight, getattr(notes, name).weight), name
    x = torch.randn(2, 1, 28, 28)
    assert separable(x).shape == kaiming(x).shape == (2, 10)
