"""cnnnotes.analysis.compare: reading study rows against their parents."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from cnnnotes.analysis.compare import (
    difference,
    effect,
    per_epoch,
    plot_comparisons,
    study_runs,
)
from cnnnotes.training.study import BY_KEY, compare, verdict


def fake(key: str, seed: int, vals: list[float], test: float) -> dict:
    history = {"val_acc": vals, "val_loss": [1 - v for v in vals], "train_loss": [0.5] * len(vals)}
    return {"key": key, "seed": seed, "history": history, "test_acc": test}


RUNS = [
    *(fake("corrected", s, [0.90, 0.92 + 0.001 * s], 0.915) for s in range(3)),
    *(fake("gap", s, [0.80, 0.85 + 0.002 * s], 0.84) for s in range(3)),
    *(fake("smoothing", s, [0.90, 0.921 + 0.002 * s], 0.916) for s in range(3)),
]


def test_study_runs_lifts_the_history_and_keeps_the_rest() -> None:
    runs = study_runs(RUNS)
    assert runs[0]["val_acc"] == RUNS[0]["history"]["val_acc"]
    assert runs[0]["history"] is RUNS[0]["history"] and runs[0]["test_acc"] == 0.915
    assert "val_acc" not in RUNS[0], "the input is not modified"
    with pytest.raises(TypeError, match="not a study run"):
        study_runs([{"key": "a", "val_acc": [0.5]}])


def test_compare_reads_the_lifted_runs() -> None:
    row = compare(study_runs(RUNS), "gap")
    assert row.parent == "corrected" and row.seeds == 3
    assert row.verdict == "worse (effect)"
    assert compare(study_runs(RUNS), "smoothing").verdict == "within seed noise"


def test_per_epoch_is_in_seed_order_and_checks_its_arguments() -> None:
    runs = study_runs(list(reversed(RUNS)))
    assert per_epoch(runs, "gap", "val_acc", 2) == [0.85, 0.852, 0.854]
    assert per_epoch(runs, "gap", "val_loss", 1) == pytest.approx([0.2] * 3)
    with pytest.raises(ValueError, match="fewer than 3 epochs"):
        per_epoch(runs, "gap", "val_acc", 3)
    with pytest.raises(ValueError, match="no runs"):
        per_epoch(runs, "cosine", "val_acc", 1)
    with pytest.raises(ValueError, match="metric"):
        per_epoch(runs, "gap", "test_acc", 1)


def test_difference_is_what_verdict_compares() -> None:
    for row, parent in (
        ([0.93, 0.931, 0.929], [0.92, 0.921, 0.919]),
        ([0.921, 0.925, 0.917], [0.920, 0.924, 0.916]),
        ([0.90, 0.901, 0.899], [0.95, 0.951, 0.949]),
    ):
        d, se = difference(row, parent)
        expected = "within seed noise" if abs(d) <= 2 * se else ("better" if d > 0 else "worse")
        assert verdict(row, parent).startswith(expected)


def test_effect_on_a_loss_calls_lower_better() -> None:
    low, high = [0.30, 0.31, 0.29], [0.40, 0.41, 0.39]
    assert effect(low, high, higher_is_better=False) == "better (effect)"
    assert effect(low, high) == "worse (effect)"
    assert effect(low, low, higher_is_better=False) == "within seed noise"


def test_plot_comparisons_draws_one_line_per_row() -> None:
    rows = [compare(study_runs(RUNS), k) for k in ("gap", "smoothing")]
    ax = Figure().subplots()
    plot_comparisons(ax, rows, labels=["GAP", "smoothing"])
    at = {t.get_position()[1]: t.get_text() for t in ax.get_yticklabels()}
    assert at == {1: "GAP", 0: "smoothing"}, "the first row is drawn at the top"
    _, names = ax.get_legend_handles_labels()
    assert set(names) == {
        "validation: worse (effect)",
        "validation: within seed noise",
        "test (report only)",
    }
    with pytest.raises(ValueError, match="labels"):
        plot_comparisons(ax, rows, labels=["one"])


def test_the_recorded_study_reads_through_compare() -> None:
    try:
        runs = study_runs()
    except FileNotFoundError:
        pytest.skip("no study recorded yet")
    recorded = {r["key"] for r in runs}
    for key in recorded:
        parent = BY_KEY[key].parent
        if parent in recorded:
            row = compare(runs, key)
            assert row.seeds == sum(r["key"] == key for r in runs)
