"""Training helpers: batches, fit/evaluate, the notes' loop, models, checkpoints, cache, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT
from torch import nn

from cnnnotes import augment, cache, checkpoint, results
from cnnnotes.baseline import notes_loop
from cnnnotes.cli import parser as cli_parser
from cnnnotes.cli import recipe_from
from cnnnotes.models import MODELS, NotesCNN, build_model
from cnnnotes.recipes import RECIPES, Recipe, load_data
from cnnnotes.train import History, batches, evaluate, fit


@pytest.fixture(scope="module")
def small() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    (x, y), (xt, yt) = load_data(normalize=True)
    return (x[:640], y[:640]), (xt[:500], yt[:500])


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


def test_fit_is_reproducible_and_restores_nothing_random(small) -> None:
    histories, weights = [], []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model("pool-first")
        histories.append(fit(model, *small, epochs=2, batch_size=64, seed=1, progress=False))
        weights.append(model.state_dict())
    assert histories[0].test_acc == histories[1].test_acc
    assert histories[0].train_loss == histories[1].train_loss
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "epochs must be an int >= 1"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"schedule": "cosine"}, "schedule must be 'constant' or 'onecycle'"),
        ({"weight_decay": -1e-4}, "weight_decay must be >= 0"),
    ],
)
def test_fit_rejects_bad_arguments(small, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit(nn.Linear(784, 10), *small, progress=False, **kwargs)


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


def test_notes_loop_and_tensor_loop_train_identically() -> None:
    """The DataLoader loop of the notes and fit(shuffle=False) on raw tensors: same weights."""
    torch.set_num_threads(2)
    reference, _ = notes_loop(epochs=1, seed=0, progress=False, max_batches=5)
    train, test = load_data(normalize=False)
    torch.manual_seed(0)
    model = NotesCNN()
    fit(model, train, test, epochs=1, shuffle=False, progress=False, max_batches=5)
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
    with pytest.raises(ValueError, match="std must be > 0"):
        augment.standardize(x, 0.0, 0.0)


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


def test_cache_reuses_a_matching_run_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNNOTES_CACHE", str(tmp_path))
    calls = []

    def fake_run(recipe, seed, device, progress, data):
        calls.append(seed)
        torch.manual_seed(seed)
        return build_model(recipe.model), History(test_acc=[0.5], seconds=[1.0])

    monkeypatch.setattr(cache, "run", fake_run)
    _, first = cache.trained("fast", seed=4)
    _, second = cache.trained("fast", seed=4)
    assert calls == [4] and second.test_acc == first.test_acc == [0.5]
    cache.trained("fast", seed=4, retrain=True)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 99)  # another thread count
    cache.trained("fast", seed=4)
    assert calls == [4, 4, 4]
    with pytest.raises(ValueError, match="unknown recipe"):
        cache.trained("nope")


def test_results_need_provenance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "DATA_DIR", tmp_path)
    results.save("demo", {"value": 3}, command=["x"])
    loaded = results.load("demo")
    assert loaded["value"] == 3 and loaded["provenance"]["command"] == "x"
    (tmp_path / "bare.json").write_text(json.dumps({"value": 1}))
    with pytest.raises(ValueError, match="lacks provenance"):
        results.load("bare")
    with pytest.raises(FileNotFoundError, match=r"scripts/experiments\.py study`"):
        results.load("ablation")
    with pytest.raises(FileNotFoundError, match=r"scripts/experiments\.py benchmark`"):
        results.load("benchmark")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnnnotes.train", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet"], "invalid choice: 'resnet'"),
        (["--epochs", "0"], "expected a whole number >= 1, got '0'"),
        (["--lr", "-1"], "expected a number > 0"),
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
        "import sys; from cnnnotes import data; from torchvision import datasets;"
        f"data.DEBIAN_DIR = data.Path({str(tmp_path / 'none')!r});"
        "datasets.FashionMNIST.mirrors = ['http://127.0.0.1:9/'];"
        "from cnnnotes.cli import main; sys.exit(main(['--out', sys.argv[1]]))"
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
    proc = cli("--model", "pool-first", "--epochs", "1", "--batch-size", "512", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["recipe"]["model"] == "pool-first" and len(metrics["history"]["test_acc"]) == 1
    assert 0.6 < metrics["test_acc"] <= 1.0
    assert metrics["command"].startswith("python -m cnnnotes.train")
    model, meta = checkpoint.load_checkpoint(out / "model.pt")
    assert meta["test_acc"] == metrics["test_acc"] and isinstance(model, nn.Sequential)
