"""The experimental method: one change per row, validation chooses, the test set is read once.

Every "best" in the book goes through :func:`cnnnotes.training.study.select`, which reads
validation accuracy only; training (:func:`fit`, :func:`run`) never receives the test
split; and no code cell or script chooses with a test metric.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT
from torch.utils.flop_counter import FlopCounterMode

from cnnnotes.training import results, study
from cnnnotes.training.loop import fit
from cnnnotes.training.models import build_model, wide_cnn
from cnnnotes.training.recipes import (
    RECIPES,
    Recipe,
    Splits,
    binomial_se,
    report_on_test,
    run,
)
from cnnnotes.training.reference import load_reference, reference_path
from cnnnotes.training.study import BY_KEY, ROWS, changed_fields, select, summarise, verdict


class Untouchable(torch.Tensor):
    """A tensor that fails the moment any torch operation reads it."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.Tensor.__repr__, torch.Tensor.__format__):
            return "Untouchable"
        raise AssertionError(f"the test split was read ({getattr(func, '__name__', func)})")


def poisoned_splits(n: int = 64) -> Splits:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)
    test = (x[:16].as_subclass(Untouchable), y[:16].as_subclass(Untouchable))
    return Splits((x, y), (x[:16], y[:16]), test)


def test_the_untouchable_tensor_does_fail_when_read() -> None:
    """The control: without it, the next test could pass by never looking."""
    splits = poisoned_splits()
    with pytest.raises(AssertionError, match="the test split was read"):
        report_on_test(torch.nn.Flatten(), splits.test)


def test_run_never_reads_the_test_split() -> None:
    recipe = RECIPES["notes-corrected"].with_(model="lenet5", epochs=1, batch_size=32)
    _, history = run(recipe, seed=0, progress=False, data=poisoned_splits())
    assert len(history.val_acc) == 1 and not hasattr(history, "test_acc")


def test_fit_has_no_test_argument() -> None:
    import inspect

    assert "test" not in inspect.signature(fit).parameters
    assert list(inspect.signature(fit).parameters)[:3] == ["model", "train", "val"]


def fake_runs(seed: int) -> list[dict]:
    rnd = random.Random(seed)
    return [
        {"key": key, "seed": s, "val_acc": [rnd.random()], "test_acc": rnd.random()}
        for key in ("a", "b", "c", "d")
        for s in range(3)
    ]


@pytest.mark.parametrize("seed", range(20))
def test_selection_ignores_every_test_number(seed: int) -> None:
    """Rewrite every test accuracy (at random, or to favour another row): same choice."""
    runs = fake_runs(seed)
    chosen = select(runs, ["a", "b", "c", "d"])
    rnd = random.Random(seed + 100)
    for favourite in ("a", "b", "c", "d"):
        rewritten = [
            {**r, "test_acc": 1.0 if r["key"] == favourite else rnd.random()} for r in runs
        ]
        assert select(rewritten, ["a", "b", "c", "d"]) == chosen
    without_test = [{k: v for k, v in r.items() if not k.startswith("test")} for r in runs]
    assert select(without_test, ["a", "b", "c", "d"]) == chosen


def test_selection_follows_validation() -> None:
    runs = fake_runs(0)
    best = max("abcd", key=lambda k: sum(r["val_acc"][-1] for r in runs if r["key"] == k))
    assert select(runs, list("abcd")) == best


def test_every_row_changes_exactly_one_thing_against_a_known_parent() -> None:
    seen: set[str] = set()
    for row in ROWS:
        if row.parent:
            assert row.parent in seen, f"{row.key}: parent {row.parent} must come first"
            changed = changed_fields(row.recipe, BY_KEY[row.parent].recipe)
            assert len(changed) == 1, f"{row.key} changes {changed} against {row.parent}"
        seen.add(row.key)
    assert tuple(r.key for r in ROWS if not r.parent) == study.ROOTS


def test_summary_and_verdict() -> None:
    assert summarise([1.0, 3.0]) == (2.0, pytest.approx(2**0.5))
    with pytest.raises(ValueError, match="at least 2 seeds"):
        summarise([0.9])
    assert verdict([0.95, 0.951, 0.949], [0.90, 0.901, 0.899]) == "better (effect)"
    assert verdict([0.90, 0.901, 0.899], [0.95, 0.951, 0.949]) == "worse (effect)"
    noisy = [0.92, 0.93, 0.91]
    assert verdict(noisy, [x + 0.002 for x in noisy]) == "within seed noise"


def test_binomial_standard_error() -> None:
    assert 100 * binomial_se(0.925, 10_000) == pytest.approx(0.2634, abs=1e-4)
    assert binomial_se(1.0, 10) == 0.0
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="accuracy"):
            binomial_se(bad, 100)
    with pytest.raises(ValueError, match="n must be"):
        binomial_se(0.5, 0)


CHOOSERS = {"max", "min", "sorted", "select", "argmax", "argmin", "idxmax"}


def choices_reading_test(source: str) -> list[str]:
    """Calls of a choosing function whose arguments mention a test metric."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in CHOOSERS:
                text = ast.unparse(node)
                if "test_acc" in text or "test_loss" in text:
                    found.append(text)
    return found


def test_the_scan_catches_a_choice_made_on_test() -> None:
    assert choices_reading_test('best = max(rows, key=lambda r: r["test_acc"])')
    assert not choices_reading_test('best = max(rows, key=lambda r: r["val_acc"][-1])')


def code_sources() -> list[tuple[str, str]]:
    out = [("scripts/experiments.py", (ROOT / "scripts" / "experiments.py").read_text())]
    for path in sorted((ROOT / "cnnnotes").rglob("*.py")):
        out.append((str(path.relative_to(ROOT)), path.read_text()))
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        code = [
            "".join(c["source"])
            for c in cells
            if c["cell_type"] == "code" and not "".join(c["source"]).lstrip().startswith("%")
        ]
        out.append((nb.name, "\n".join(code)))
    return out


def test_no_code_chooses_with_a_test_metric() -> None:
    offenders = {
        name: found for name, src in code_sources() if (found := choices_reading_test(src))
    }
    assert not offenders, offenders


@pytest.fixture
def experiments():
    spec = importlib.util.spec_from_file_location(
        "experiments", ROOT / "scripts" / "experiments.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["experiments"] = module
    spec.loader.exec_module(module)
    return module


def test_merging_runs_keeps_other_rows_and_replaces_the_same_seed(
    experiments, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "DATA_DIR", tmp_path)
    for key, seed, acc in (("gap", 1, 0.5), ("original", 0, 0.6), ("gap", 1, 0.7)):
        experiments.merge_run({"key": key, "seed": seed, "test_acc": acc})
    runs = results.load("study")["runs"]
    assert [(r["key"], r["seed"], r["test_acc"]) for r in runs] == [
        ("original", 0, 0.6),
        ("gap", 1, 0.7),
    ]


def test_recorded_runs_match_the_rows_in_the_code() -> None:
    """Each recorded run was trained with its row's recipe as the code defines it now."""
    runs = results.load("study")["runs"]
    for r in runs:
        assert r["key"] in BY_KEY, r["key"]
        assert r["key"] not in study.stale_rows([r]), (
            f"row {r['key']} changed since it was run: re-run scripts/experiments.py study"
        )
        assert (
            "test_acc" not in r["history"] and len(r["history"]["val_acc"]) == r["recipe"]["epochs"]
        )
        assert r["test_se"] == pytest.approx(binomial_se(r["test_acc"], 10_000))


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"width": 0}, "width"), ({"dropout": 1.0}, "dropout")]
)
def test_wide_cnn_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wide_cnn(**kwargs)


def test_data_files_are_valid_json_with_provenance() -> None:
    paths = sorted(results.DATA_DIR.glob("*.json"))
    assert paths, "no recorded results"
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert set(results.PROVENANCE_KEYS) <= set(data["provenance"]), path.name


def test_readme_quotes_the_recorded_study(experiments) -> None:
    """The README's results table is what `scripts/experiments.py table` prints from the study:
    re-running an experiment without updating the README fails here."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = experiments.results_table(experiments.recorded_runs())
    assert table in readme, "update README.md with `python scripts/experiments.py table`"
    _, record = load_reference()
    sentence = (
        f"{100 * record['test_acc']:.2f} % test accuracy "
        f"(binomial standard error {100 * record['test_se']:.2f} points)"
    )
    trained = f"({100 * record['as_trained']['test_acc']:.2f} % as trained)"
    same = f"{100 * record['storage']['same_predictions']:.2f} % of the test images"
    size = f"the file is {reference_path().stat().st_size / 1e6:.1f} MB"
    for quote in (sentence, trained, same, size):
        assert quote in " ".join(readme.split()), (
            f"README.md must quote the reference model as: {quote!r}"
        )


def test_every_row_records_its_size_and_cost(experiments) -> None:
    """Each recorded run stores its network's parameters and MACs per image: the count works
    for every row (a residual net is no chain of layers) and agrees with PyTorch's own."""
    for row in ROWS:
        params, macs = experiments.size_and_cost(row.recipe.model)
        model = build_model(row.recipe.model).eval()
        assert params == sum(p.numel() for p in model.parameters()), row.key
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros(1, 1, 28, 28))
        assert 2 * macs == counter.get_total_flops(), row.key


def test_the_recorded_benchmark_is_consistent_and_quoted(experiments) -> None:
    """`scripts/experiments.py benchmark`'s file: every seed times the notes' loop, the fast
    recipe and the row the study chooses on validation, in one run; each ratio is that
    seed's time over the notes' loop of the same seed; the chosen row is what `select`
    chooses from the study as recorded now; the README quotes its summary."""
    bench = results.load("benchmark")
    runs = results.load("study")["runs"]
    eligible = [row.key for row in ROWS if sum(r["key"] == row.key for r in runs) >= 3]
    assert bench["selected_row"] == select(runs, eligible)
    entries = bench["entries"]
    assert len(bench["seeds"]) >= 3
    for seed in bench["seeds"]:
        mine = {e["name"]: e for e in entries if e["seed"] == seed}
        assert sorted(mine) == ["fast", "notes-loop", "selected"], seed
        for name in ("fast", "selected"):
            assert mine[name]["ratio"] == pytest.approx(
                mine[name]["seconds"] / mine["notes-loop"]["seconds"]
            )
        assert Recipe.from_dict(mine["fast"]["recipe"]) == RECIPES["fast"]
        assert Recipe.from_dict(mine["selected"]["recipe"]) == BY_KEY[bench["selected_row"]].recipe
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert experiments.benchmark_summary(entries) in readme, (
        "update README.md with the summary `scripts/experiments.py benchmark` printed"
    )
    met = experiments.targets_met(entries)
    prose = " ".join(readme.split())  # sentences, whatever the line breaks
    assert ("reaches the notes' 91.14 % within a tenth" in prose) == met["fast"]
    assert ("does not reach 95 % within twice" in prose) == (not met["selected"])


def test_a_re_run_is_compared_number_for_number_except_its_timings(experiments) -> None:
    old = {
        "history": {"val_acc": [0.9, 0.91], "train_loss": [0.5, 0.4], "seconds": [3.0, 3.0]},
        "test_acc": 0.9,
        "test_loss": 0.3,
    }
    same = {**old, "history": {**old["history"], "seconds": [9.0, 9.0]}}
    assert experiments.reproduced(old, same) == []
    last_bit = {**old, "history": {**old["history"], "val_acc": [0.9, 0.9100000000000001]}}
    assert experiments.reproduced(old, last_bit) == ["history.val_acc"]
    assert experiments.reproduced(old, {**same, "test_loss": 0.30000000000000004}) == ["test_loss"]
