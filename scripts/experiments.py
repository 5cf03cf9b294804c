"""The long training runs behind the training chapters, written to cnnnotes/training/recorded/.

    python scripts/experiments.py study --save-reference   # every row, seeds 0 1 2 -> study.json
    python scripts/experiments.py study --rows gap smoothing --seeds 0 1 2 3   # rows, more seeds
    python scripts/experiments.py verify --rows cosine --seeds 0   # re-run; same numbers?
    python scripts/experiments.py benchmark   # the notes' loop vs the fast and the chosen recipe
    python scripts/experiments.py reference   # retrain only the reference model (two threads)
    python scripts/experiments.py table       # the README's results table, from study.json

The rows are :data:`cnnnotes.training.study.ROWS`: each changes one thing against its parent.
Every run trains on the 55,000 training images, is validated after every epoch, and is
tested once when finished (cnnnotes.training.recipes.report_on_test).

`study` trains many independent runs, each on ONE thread, `--jobs` at a time; each
run's time is its process CPU time, which hardly depends on the other jobs.
`benchmark` runs one thing at a time on `--threads` threads and compares wall-clock
times measured in the same run; run it on an otherwise idle machine. Each file
records its provenance (command, versions, machine, threads, date); the chapters
read them with cnnnotes.training.results.load.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch
from torch import nn

from cnnnotes.analysis.summary import layer_table
from cnnnotes.modern.report import block_table
from cnnnotes.training import reference, results
from cnnnotes.training.baseline import notes_loop
from cnnnotes.training.models import build_model
from cnnnotes.training.recipes import (
    RECIPES,
    load_data,
    load_data_with_stats,
    report_on_test,
    run,
)
from cnnnotes.training.study import (
    BY_KEY,
    ROWS,
    compare,
    final,
    select,
    stale_rows,
    summarise,
)

NOTES_ACCURACY = 0.9114  # the original notes' printed test accuracy after 5 epochs


def size_and_cost(model_name: str) -> tuple[int, int]:
    """Parameters and multiply-accumulates per 28×28 image, from the book's layer table
    (a chain of layers and residual blocks counts block by block: a block is no chain)."""
    model = build_model(model_name)
    table = block_table if isinstance(model, nn.Sequential) else layer_table
    rows = table(model, (1, 1, 28, 28))
    return sum(r.params for r in rows), sum(r.macs for r in rows)


def train_one(task: tuple[str, int, bool]) -> dict[str, object]:
    """One run of a study row on one thread (in a worker process), tested once at the end.

    With ``save_reference``, the run of row ``corrected`` with seed 0 is also written
    as the reference model the later chapters load.
    """
    key, seed, save_reference = task
    torch.set_num_threads(1)
    recipe = BY_KEY[key].recipe
    n_params, macs = size_and_cost(recipe.model)  # before training: fail fast
    data, stats = load_data_with_stats(recipe.normalize)
    model, history = run(recipe, seed=seed, progress=False, data=data)
    report = report_on_test(model, data.test)  # once, the run being finished
    if save_reference and (key, seed) == ("corrected", reference.SEED):
        reference.write_reference(model, history, stats, data.test)
    print(
        f"{key} seed {seed}: val {100 * history.val_acc[-1]:.2f}%, test "
        f"{100 * report['test_acc']:.2f}% in {sum(history.cpu_seconds):.0f} CPU s",
        flush=True,
    )
    return {
        "key": key,
        "seed": seed,
        "recipe": recipe.as_dict(),
        "history": history.as_dict(),
        **report,
        "params": n_params,
        "macs": macs,
        "provenance": results.provenance(),
    }


def recorded_runs() -> list[dict]:
    """The runs in study.json so far (none before the first)."""
    try:
        return results.load("study")["runs"]
    except FileNotFoundError:
        return []


def study(
    keys: list[str], seeds: list[int], jobs: int, save_reference: bool, missing_only: bool = False
) -> None:
    """Train rows ``keys`` over ``seeds``; each finished run is merged into study.json at once.

    Runs already recorded for other (row, seed) pairs keep their numbers and provenance,
    so the file can be filled in several sittings.
    """
    unknown = [k for k in keys if k not in BY_KEY]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {', '.join(BY_KEY)}")
    tasks = [(key, seed, save_reference) for key in keys for seed in seeds]
    if missing_only:  # keep what is recorded for the same recipe
        runs = recorded_runs()
        stale = set(stale_rows(runs))
        done = {(r["key"], r["seed"]) for r in runs if r["key"] not in stale}
        tasks = [t for t in tasks if t[:2] not in done]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        for future in as_completed([pool.submit(train_one, t) for t in tasks]):
            merge_run(future.result())


def merge_run(new: dict[str, object]) -> None:
    """Put one run into study.json, replacing an older run of the same row and seed."""
    runs = [r for r in recorded_runs() if r["key"] in BY_KEY]
    runs = [r for r in runs if (r["key"], r["seed"]) != (new["key"], new["seed"])] + [new]
    order = {key: i for i, key in enumerate(BY_KEY)}
    runs.sort(key=lambda r: (order.get(r["key"], len(order)), r["seed"]))
    results.save("study", {"threads_per_run": 1, "runs": runs})


TIMINGS = ("seconds", "cpu_seconds")
"""History fields that measure time, which no re-run reproduces."""


def reproduced(recorded: dict, new: dict) -> list[str]:
    """The fields in which a re-run ``new`` differs from its ``recorded`` run, timings
    excepted: an empty list when every number is identical, bit for bit.

    >>> old = {"history": {"val_acc": [0.9], "seconds": [3.0]}, "test_acc": 0.89}
    >>> reproduced(old, {"history": {"val_acc": [0.9], "seconds": [4.0]}, "test_acc": 0.89})
    []
    >>> reproduced(old, {"history": {"val_acc": [0.9001], "seconds": [3.0]}, "test_acc": 0.89})
    ['history.val_acc']
    """
    diffs = [
        f"history.{name}"
        for name, values in recorded["history"].items()
        if name not in TIMINGS and new["history"].get(name) != values
    ]
    return diffs + [
        name
        for name in ("test_loss", "test_acc", "test_se", "params", "macs")
        if recorded.get(name) != new.get(name)
    ]


def verify(keys: list[str], seeds: list[int], jobs: int) -> int:
    """Re-train recorded runs with the current code and compare every number with the record.

    Prints one line per run, with the processor that made the record and this one (a
    float result is reproducible on the same kind of processor and thread count only).
    Returns the number of runs recorded on this kind of processor that differ.
    """
    recorded = {(r["key"], r["seed"]): r for r in recorded_runs()}
    tasks = [(key, seed, False) for key in keys for seed in seeds if (key, seed) in recorded]
    here = results.provenance()["machine"]["cpu"]
    failures = 0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        for future in as_completed([pool.submit(train_one, t) for t in tasks]):
            new = future.result()
            old = recorded[(new["key"], new["seed"])]
            diffs = reproduced(old, new)
            made_on = old["provenance"]["machine"]["cpu"]
            status = "identical" if not diffs else "differs in " + ", ".join(diffs)
            run = f"{new['key']} seed {new['seed']}"
            print(f"{run} (recorded on {made_on}, re-run on {here}): {status}", flush=True)
            failures += bool(diffs) and made_on == here
    return failures


def benchmark(seeds: list[int]) -> None:
    """The notes' loop, the fast recipe and the study's choice, per seed, one after another.

    The third entry is the row :func:`~cnnnotes.training.study.select` chooses on
    *validation* among the study's rows with at least three recorded seeds: the best the
    book has measured, chosen without the test set. Every recipe trains on the 55,000
    training images and is tested once when finished; the notes' loop is timed as the
    notes wrote it (60,000 images, the test set after every epoch). The ratios compare
    wall-clock times measured in this one run.
    """
    runs = recorded_runs()
    eligible = [row.key for row in ROWS if sum(r["key"] == row.key for r in runs) >= 3]
    chosen = select(runs, eligible)
    contenders = {"fast": RECIPES["fast"], "selected": BY_KEY[chosen].recipe}
    print(f"the study's choice on validation: {chosen}", flush=True)
    entries: list[dict[str, object]] = []
    for seed in seeds:
        _, notes = notes_loop(epochs=5, seed=seed)
        notes_seconds = sum(notes.seconds)
        entries.append(
            {
                "name": "notes-loop",
                "seed": seed,
                "seconds": notes_seconds,
                "test_acc": notes.test_acc[-1],
            }
        )
        print(
            f"notes loop seed {seed}: {100 * notes.test_acc[-1]:.2f}% in {notes_seconds:.0f} s",
            flush=True,
        )
        for name, recipe in contenders.items():
            start = time.perf_counter()
            data = load_data(recipe.normalize)
            prep = time.perf_counter() - start
            model, history = run(recipe, seed=seed, data=data)
            report = report_on_test(model, data.test)
            seconds = prep + sum(history.seconds)
            entries.append(
                {
                    "name": name,
                    "seed": seed,
                    "seconds": seconds,
                    "ratio": seconds / notes_seconds,
                    "recipe": recipe.as_dict(),
                    "history": history.as_dict(),
                    **report,
                }
            )
            print(
                f"{name} seed {seed}: {100 * report['test_acc']:.2f}% in {seconds:.0f} s "
                f"({seconds / notes_seconds:.2f}x the notes' loop)",
                flush=True,
            )
    results.save(
        "benchmark",
        {
            "notes_accuracy": NOTES_ACCURACY,
            "seeds": seeds,
            "selected_row": chosen,
            "entries": entries,
        },
    )
    print(benchmark_summary(entries))


TARGETS = {"fast": (NOTES_ACCURACY, 0.10), "selected": (0.95, 2.0)}
"""Issue targets: (mean test accuracy at least, mean time ratio to the notes' loop at most)."""


def targets_met(entries: list[dict]) -> dict[str, bool]:
    """Whether each contender's mean test accuracy and mean time ratio over the seeds meet
    its :data:`TARGETS`.

    >>> targets_met([{"name": "fast", "test_acc": 0.92, "ratio": 0.08},
    ...              {"name": "selected", "test_acc": 0.93, "ratio": 0.8}])
    {'fast': True, 'selected': False}
    """
    met = {}
    for name, (accuracy, ratio) in TARGETS.items():
        mine = [e for e in entries if e["name"] == name]
        mean_acc = statistics.fmean(e["test_acc"] for e in mine)
        mean_ratio = statistics.fmean(e["ratio"] for e in mine)
        met[name] = mean_acc >= accuracy and mean_ratio <= ratio
    return met


def benchmark_summary(entries: list[dict]) -> str:
    """Mean ± sd of test accuracy and of the time ratio to the notes' loop, per entry name."""
    lines = []
    for name in dict.fromkeys(e["name"] for e in entries):
        mine = [e for e in entries if e["name"] == name]
        acc = _spread([100 * e["test_acc"] for e in mine])
        line = f"{name:<11} {len(mine)} seeds  test {acc} %"
        if name != "notes-loop":
            line += f"  time {_spread([e['ratio'] for e in mine])} x the notes' loop"
        lines.append(line)
    return "\n".join(lines)


def _spread(values: list[float]) -> str:
    """``mean ± sd`` over seeds, or the one value when there is only one."""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    mean, sd = summarise(values)
    return f"{mean:.2f} ± {sd:.2f}"


def results_table(runs: list[dict]) -> str:
    """The README's results table: every row recorded with at least two seeds."""
    lines = [
        "| row | change | against | seeds | validation % | test % | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in ROWS:
        seeds = [r for r in runs if r["key"] == row.key]
        if len(seeds) < 2:
            continue
        val = summarise(final(runs, row.key, "val_acc"))
        test = summarise(final(runs, row.key, "test_acc"))
        verdict = compare(runs, row.key).verdict if row.parent else "(root)"
        lines.append(
            f"| {row.key} | {row.change} | {row.parent or '—'} | {len(seeds)} | "
            f"{100 * val[0]:.2f} ± {100 * val[1]:.2f} | {100 * test[0]:.2f} ± {100 * test[1]:.2f} "
            f"| {verdict} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["study", "verify", "benchmark", "reference", "table"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="parallel one-thread runs (study)")
    parser.add_argument("--threads", type=int, default=2, help="threads (benchmark, reference)")
    parser.add_argument("--rows", nargs="+", default=list(BY_KEY), help="study: the rows to run")
    parser.add_argument(
        "--save-reference",
        action="store_true",
        help="study: row corrected, seed 0, also becomes the reference model",
    )
    parser.add_argument(
        "--missing-only",
        action="store_true",
        help="study: skip the runs already recorded with the same recipe",
    )
    args = parser.parse_args(argv)
    if args.what == "study":
        study(args.rows, args.seeds, args.jobs, args.save_reference, args.missing_only)
    if args.what == "verify":
        return min(verify(args.rows, args.seeds, args.jobs), 1)
    if args.what == "reference":
        torch.set_num_threads(args.threads)
        path = reference.make_reference()
        _, meta = reference.load_reference()
        print(f"reference model: {100 * meta['test_acc']:.2f}% test accuracy -> {path}")
    if args.what == "table":
        print(results_table(recorded_runs()))
    if args.what == "benchmark":
        torch.set_num_threads(args.threads)
        benchmark(args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
