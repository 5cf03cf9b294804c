"""The reference model: shipped with the package, matching the recipe, usable as loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnnotes.training import reference, results
from cnnnotes.training.checkpoint import save_checkpoint
from cnnnotes.training.loop import evaluate
from cnnnotes.training.models import NotesCNN
from cnnnotes.training.recipes import RECIPES, Recipe, Splits


def test_record_matches_the_recipe_in_the_code() -> None:
    model, record = reference.load_reference()
    assert isinstance(model, NotesCNN) and not model.training
    recorded = dict(record["recipe"])
    assert recorded.pop("name") == reference.RECIPE
    assert Recipe.from_dict(recorded) == RECIPES[reference.RECIPE], (
        "the recipe changed since the reference was trained: "
        "run `python scripts/experiments.py reference`"
    )
    assert record["seed"] == reference.SEED
    assert set(record["history"]) >= {"val_acc", "val_loss"}, "validated after every epoch"
    assert not any(k.startswith("test") for k in record["history"]), "tested once, not per epoch"
    assert record["test_se"] == pytest.approx(
        (record["test_acc"] * (1 - record["test_acc"]) / 1e4) ** 0.5
    )
    assert set(results.PROVENANCE_KEYS) <= set(record["provenance"])
    assert record["normalization"]["std"] > 0


def test_weights_stay_small() -> None:
    assert reference.reference_path().stat().st_size <= 2_000_000


def test_stored_weights_are_what_the_record_says() -> None:
    """fc1's rows are whole multiples of one scale each; the record bounds what that cost."""
    model, record = reference.load_reference()
    assert record["storage"]["int8"] == list(reference.INT8) == ["fc1.weight"]
    w = model.fc1.weight.detach()
    scale = w.abs().amax(1, keepdim=True) / 127
    steps = w / scale
    assert (steps - steps.round()).abs().max() < 1e-3 and steps.abs().max() <= 127 + 1e-3
    assert len(torch.unique(model.conv2.weight)) > 10_000, "conv2 is float32 as trained"
    same = record["storage"]["same_predictions"]
    assert 0.99 <= same <= 1
    # the accuracy can move by at most the share of predictions that changed
    assert abs(record["test_acc"] - record["as_trained"]["test_acc"]) <= 1 - same + 1e-12


def test_loaded_model_reproduces_its_recorded_accuracy() -> None:
    model, record = reference.load_reference()
    x_test, y_test = reference.reference_data(record).test
    _, accuracy = evaluate(model, x_test, y_test)
    assert abs(accuracy - record["test_acc"]) <= 2e-4  # a tie may flip on another CPU


def test_missing_or_foreign_files_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "DATA_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"experiments\.py reference"):
        reference.load_reference()
    save_checkpoint(tmp_path / reference.FILENAME, NotesCNN(), {"model": "notes"})
    with pytest.raises(ValueError, match="not a reference model"):
        reference.load_reference()


def test_make_reference_records_what_it_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_trained(name, seed, retrain, data):
        from cnnnotes.training.loop import History

        assert (name, seed, retrain) == (reference.RECIPE, reference.SEED, True)
        assert data.train[0].mean().abs() < 1e-6  # trained on normalised inputs
        made.append(NotesCNN().eval())
        return made[0], History(val_acc=[0.5], seconds=[1.0])

    made: list[NotesCNN] = []

    monkeypatch.setattr(reference, "trained", fake_trained)
    monkeypatch.setattr(results, "DATA_DIR", tmp_path)
    x = torch.rand(8, 1, 28, 28)
    y = torch.arange(8)
    path = reference.make_reference(data=Splits((x, y), (x + 1, y), (x[:4], y[:4])))
    assert path == tmp_path / reference.FILENAME
    loaded, record = reference.load_reference()
    # what the record describes is what loads: the trained net with fc1 rounded as stored
    stored = reference.as_stored(made[0]).state_dict()
    assert all(torch.equal(v, stored[k]) for k, v in loaded.state_dict().items())
    assert not torch.equal(loaded.fc1.weight, made[0].fc1.weight)
    # the untrained net's accuracy on the 4 test images: tested once, after training
    assert record["test_acc"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert record["as_trained"]["test_acc"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert record["storage"]["same_predictions"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert torch.load(path, weights_only=True)["int8"]["fc1.weight"]["q"].dtype == torch.int8
    assert record["history"]["val_acc"] == [0.5]
    assert record["normalization"]["mean"] == pytest.approx(x.mean().item())
