"""scripts/experiments.py and the data files it wrote: merging re-runs keeps provenance,
and the stored results still describe the recipes the code defines."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from cnnnotes.training import results
from cnnnotes.training.models import MODELS, wide_cnn
from cnnnotes.training.recipes import RECIPES, Recipe
from cnnnotes.training.reference import load_reference


@pytest.fixture(scope="module")
def experiments():
    spec = importlib.util.spec_from_file_location(
        "experiments", ROOT / "scripts" / "experiments.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["experiments"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of book/data that results.save/load use instead of the real one."""
    for name in ("band", "ablation"):
        shutil.copy(results.DATA_DIR / f"{name}.json", tmp_path / f"{name}.json")
    monkeypatch.setattr(results, "DATA_DIR", tmp_path)
    return tmp_path


def fake_run_all(tasks: list[tuple[str, Recipe, int]], jobs: int) -> dict:
    """Instead of training: a run whose accuracy marks it as new."""
    return {
        (key, seed): {"key": key, "seed": seed, "recipe": recipe.as_dict(), "test_acc": [0.123]}
        for key, recipe, seed in tasks
    }


def test_adding_seeds_keeps_old_runs_and_their_provenance(experiments, data_copy, monkeypatch):
    before = results.load("band")
    monkeypatch.setattr(experiments, "run_all", fake_run_all)
    experiments.add_seeds(["notes-corrected"], [0, 99], jobs=1)
    after = results.load("band")
    new = [r for r in after["runs"] if r["test_acc"] == [0.123]]
    assert {(r["name"], r["seed"]) for r in new} == {
        ("notes-corrected", 0),
        ("notes-corrected", 99),
    }
    assert all(r["provenance"]["date"] == after["provenance"]["date"] for r in new)
    kept = [r for r in after["runs"] if r["test_acc"] != [0.123]]
    assert len(kept) == len(before["runs"]) - 1  # seed 0 was replaced
    assert all("provenance" in r and "name" in r for r in kept)
    assert 99 in after["seeds"]


def test_rerunning_rows_replaces_only_those(experiments, data_copy, monkeypatch):
    before = {r["key"]: r for r in results.load("ablation")["rows"]}
    monkeypatch.setattr(experiments, "run_all", fake_run_all)
    experiments.update_rows(["dropout"], jobs=1)
    after = {r["key"]: r for r in results.load("ablation")["rows"]}
    assert list(after) == list(before)
    assert after["dropout"]["test_acc"] == [0.123]
    assert after["augment"]["test_acc"] == before["augment"]["test_acc"]
    assert all("provenance" in r for r in after.values())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.update_rows(["corrected"], jobs=1), "seed band"),
        (lambda e: e.update_rows(["nope"], jobs=1), "choose from"),
        (lambda e: e.add_seeds(["fast"], [0], jobs=1), "the band holds"),
    ],
)
def test_bad_rows_and_recipes_are_refused(experiments, data_copy, call, message):
    with pytest.raises(SystemExit, match=message):
        call(experiments)


def test_stored_results_match_the_recipes_in_the_code(experiments) -> None:
    """A recipe changed in the code without re-running the experiments fails here."""
    labels = {key: recipe for key, _, recipe in experiments.ABLATION}
    for row in results.load("ablation")["rows"]:
        assert row["recipe"] == labels[row["key"]].as_dict(), f"ablation row {row['key']} is stale"
        assert row["params"] == sum(
            p.numel() for p in MODELS[row["recipe"]["model"]]().parameters()
        )
    for run in results.load("band")["runs"]:
        assert run["recipe"] == RECIPES[run["name"]].as_dict(), f"band run {run['name']} is stale"
    bench = results.load("benchmark")
    for name in ("fast", "best"):
        assert bench["entries"][name]["recipe"] == RECIPES[name].as_dict(), f"benchmark {name}"


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"width": 0}, "width"), ({"dropout": 1.0}, "dropout")]
)
def test_wide_cnn_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wide_cnn(**kwargs)


def test_study_needs_seed_zero(experiments, data_copy, monkeypatch) -> None:
    monkeypatch.setattr(experiments, "run_all", fake_run_all)
    with pytest.raises(SystemExit, match="study needs seed 0"):
        experiments.study([1, 2], jobs=1)


def test_data_files_are_valid_json_with_provenance() -> None:
    paths = sorted(results.DATA_DIR.glob("*.json"))
    assert {p.stem for p in paths} >= {"ablation", "band", "benchmark"}
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert set(results.PROVENANCE_KEYS) <= set(data["provenance"]), path.name


def test_readme_reports_the_stored_results() -> None:
    """The README's results table quotes training/recorded; re-running an experiment without
    updating the README fails here."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    band = results.load("band")["runs"]
    final = {
        name: [r["test_acc"][-1] for r in band if r["name"] == name]
        for name in ("notes-original", "notes-corrected")
    }
    original, corrected = final["notes-original"], final["notes-corrected"]
    bench = results.load("benchmark")
    best_row = next(r for r in results.load("ablation")["rows"] if r["key"] == "best")
    ratio = bench["ratios"]["fast_to_notes_accuracy"]
    notes_seconds = sum(bench["entries"]["notes-loop"]["train_seconds"])
    expected = [
        f"{len(original)} seeds | {100 * min(original):.2f} – {100 * max(original):.2f} %",
        f"{len(corrected)} seeds | {100 * min(corrected):.2f} – {100 * max(corrected):.2f} %",
        f"mean {100 * sum(corrected) / len(corrected):.2f} %",
        f"{100 * ratio:.1f} % of its training time",
        f"{notes_seconds:.0f} s)",
        f"({ratio * notes_seconds:.0f} s vs",
        f"{100 * bench['entries']['best']['test_acc'][-1]:.2f} % in "
        f"{bench['best_minutes']:.1f} minutes (two threads)",
        f"{100 * best_row['test_acc'][-1]:.2f} % in "
        f"{sum(best_row['train_cpu_seconds']) / 60:.1f} CPU minutes (one thread)",
    ]
    _, record = load_reference()
    expected.append(
        f"the reference model that chapters 10 and 11 load | {100 * record['test_acc']:.2f} %"
    )
    missing = [text for text in expected if text not in readme]
    assert not missing, f"README.md does not quote the stored results: {missing}"
