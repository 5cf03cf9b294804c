"""The long training runs behind the training chapters, written to cnnnotes/training/recorded/.

    python scripts/experiments.py study       # seed band + ablation -> band.json, ablation.json
    python scripts/experiments.py benchmark   # notes' loop vs our recipes, side by side
    python scripts/experiments.py reference   # the reference model chapters 10-12 load
    python scripts/experiments.py all
    python scripts/experiments.py study --rows wide best   # re-run some ablation rows only
    python scripts/experiments.py band --recipes notes-corrected --seeds 3 4 5  # add seeds

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
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from cnnnotes.analysis.summary import layer_table
from cnnnotes.training import reference, results
from cnnnotes.training.baseline import notes_loop
from cnnnotes.training.loop import History
from cnnnotes.training.models import build_model
from cnnnotes.training.recipes import RECIPES, Recipe, load_data, run

NOTES_ACCURACY = 0.9114  # the original notes' printed test accuracy after 5 epochs

CORRECTED = RECIPES["notes-corrected"]
ABLATION: list[tuple[str, str, Recipe]] = [
    ("original", "the notes: no shuffling, raw inputs", RECIPES["notes-original"]),
    ("shuffle", "+ shuffling", CORRECTED.with_(normalize=False)),
    ("corrected", "+ shuffling + normalisation", CORRECTED),
    ("batchnorm", "corrected + batch norm", CORRECTED.with_(model="notes-bn")),
    ("dropout", "corrected + dropout 0.5 before fc2", CORRECTED.with_(model="notes-dropout")),
    ("augment", "corrected + shifts and flips", CORRECTED.with_(augment=True)),
    ("onecycle", "corrected + one-cycle learning rate", CORRECTED.with_(schedule="onecycle")),
    ("pool-first", "pool before conv2 (+ batch norm)", CORRECTED.with_(model="pool-first")),
    ("wide", "wider, deeper VGG-style net", CORRECTED.with_(model="wide", batch_size=128)),
    ("best", "wide + augmentation + one-cycle + weight decay, 20 epochs", RECIPES["best"]),
]  # fmt: skip


def size_and_cost(model_name: str) -> tuple[int, int]:
    """Parameters and multiply-accumulates per 28×28 image, from the book's layer table."""
    rows = layer_table(build_model(model_name), (1, 1, 28, 28))
    return sum(r.params for r in rows), sum(r.macs for r in rows)


def record(history: History) -> dict[str, object]:
    return {
        "test_acc": history.test_acc,
        "test_loss": history.test_loss,
        "train_acc": history.train_acc,
        "train_loss": history.train_loss,
        "train_seconds": history.seconds,
        "train_cpu_seconds": history.cpu_seconds,
    }


def train_one(task: tuple[str, Recipe, int]) -> dict[str, object]:
    """One run on one thread (in a worker process)."""
    key, recipe, seed = task
    torch.set_num_threads(1)
    _, history = run(recipe, seed=seed, progress=False)
    print(f"{key} seed {seed}: {100 * history.test_acc[-1]:.2f}% "
          f"in {sum(history.cpu_seconds):.0f} CPU s", flush=True)  # fmt: skip
    return {"key": key, "seed": seed, "recipe": recipe.as_dict(), **record(history)}


def ablation_row(key: str, label: str, recipe: Recipe, run_: dict, prov: dict) -> dict:
    """One ablation row: a run's record, its model's size and cost, and its provenance."""
    n_params, macs = size_and_cost(recipe.model)
    return {**run_, "key": key, "label": label, "params": n_params, "macs": macs,
            "provenance": prov}  # fmt: skip


def band_run(run_: dict, prov: dict) -> dict:
    """One band entry: a run's record under its recipe's name, with its provenance."""
    return {"name": run_["key"], **{k: v for k, v in run_.items() if k != "key"},
            "provenance": prov}  # fmt: skip


def study(seeds: list[int], jobs: int) -> None:
    """The seed band of the notes' and the corrected recipe, and the ablation rows."""
    if 0 not in seeds:
        raise SystemExit(f"study needs seed 0 (the ablation rows use it), got seeds {seeds}")
    tasks = [(name, RECIPES[name], seed) for name in ("notes-original", "notes-corrected")
             for seed in seeds]  # fmt: skip
    tasks += [(key, recipe, 0) for key, _, recipe in ABLATION
              if key not in ("original", "corrected")]  # fmt: skip
    by_task = run_all(tasks, jobs)
    prov = results.provenance()
    band = [band_run(by_task[(name, seed)], prov) for name in ("notes-original", "notes-corrected")
            for seed in seeds]  # fmt: skip
    results.save("band", {"seeds": seeds, "threads_per_run": 1, "runs": band})
    alias = {"original": "notes-original", "corrected": "notes-corrected"}
    rows = [ablation_row(key, label, recipe, by_task[(alias.get(key, key), 0)], prov)
            for key, label, recipe in ABLATION]  # fmt: skip
    results.save("ablation", {"seed": 0, "threads_per_run": 1, "rows": rows})


def update_rows(keys: list[str], jobs: int) -> None:
    """Re-run some ablation rows (seed 0) and replace them in ablation.json.

    Rows not re-run keep their numbers and their own provenance, so every row still
    says which command, versions and date produced it.
    """
    known = {key: (label, recipe) for key, label, recipe in ABLATION}
    unknown = [k for k in keys if k not in known or k in ("original", "corrected")]
    if unknown:
        allowed = ", ".join(k for k in known if k not in ("original", "corrected"))
        raise SystemExit(
            f"cannot re-run rows {unknown}; choose from {allowed} "
            "(original and corrected come from the seed band: run `study`)"
        )
    old = results.load("ablation")
    by_task = run_all([(key, known[key][1], 0) for key in keys], jobs)
    fresh = results.provenance()
    rows = [ablation_row(row["key"], *known[row["key"]], by_task[(row["key"], 0)], fresh)
            if row["key"] in keys else row for row in old["rows"]]  # fmt: skip
    results.save("ablation", {"seed": 0, "threads_per_run": 1, "rows": rows})


def add_seeds(names: list[str], seeds: list[int], jobs: int) -> None:
    """Train more seeds of the band's recipes and add (or replace) them in band.json.

    Runs already in the file keep their numbers and the provenance of the command
    that made them; the new ones carry this command's provenance.
    """
    allowed = ("notes-original", "notes-corrected")
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise SystemExit(f"the band holds {', '.join(allowed)}; got {unknown}")
    old = results.load("band")
    by_task = run_all([(name, RECIPES[name], seed) for name in names for seed in seeds], jobs)
    fresh = results.provenance()
    runs = [r for r in old["runs"] if (r["name"], r["seed"]) not in by_task]
    runs += [band_run(d, fresh) for d in by_task.values()]
    order = {name: i for i, name in enumerate(allowed)}
    runs.sort(key=lambda r: (order[r["name"]], r["seed"]))
    all_seeds = sorted({r["seed"] for r in runs})
    results.save("band", {"seeds": all_seeds, "threads_per_run": 1, "runs": runs})


def run_all(tasks: list[tuple[str, Recipe, int]], jobs: int) -> dict[tuple[str, int], dict]:
    """Run one-thread training tasks ``jobs`` at a time; results by (key, seed)."""
    tasks = sorted(tasks, key=lambda t: -t[1].epochs)  # longest first: the pool ends sooner
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        done = list(pool.map(train_one, tasks))
    return {(d["key"], d["seed"]): d for d in done}


def time_to(seconds: list[float], accuracies: list[float], target: float) -> float | None:
    """Training seconds until the test accuracy first reached ``target`` (None if never).

    >>> time_to([10.0, 10.0, 10.0], [0.90, 0.92, 0.93], 0.915)
    20.0
    """
    elapsed = 0.0
    for seconds_, acc in zip(seconds, accuracies, strict=True):
        elapsed += seconds_
        if acc >= target:
            return elapsed
    return None


def benchmark() -> None:
    """The notes' loop, then the fast and the best recipe, one after another, timed."""
    entries = {}
    _, history = notes_loop(epochs=5, seed=0)
    entries["notes-loop"] = record(history)
    print(f"notes loop: {100 * history.test_acc[-1]:.2f}% in {sum(history.seconds):.0f} s")
    for name in ("fast", "best"):
        recipe = RECIPES[name]
        start = time.perf_counter()
        data = load_data(recipe.normalize)
        prep = time.perf_counter() - start
        _, history = run(recipe, seed=0, data=data)
        entries[name] = {"prep_seconds": prep, "recipe": recipe.as_dict(), **record(history)}
        print(f"{name}: {100 * history.test_acc[-1]:.2f}% in {prep + sum(history.seconds):.0f} s")
    notes_total = sum(entries["notes-loop"]["train_seconds"])
    fast, best = entries["fast"], entries["best"]
    reach = time_to(fast["train_seconds"], fast["test_acc"], NOTES_ACCURACY)
    fast_seconds = None if reach is None else fast["prep_seconds"] + reach
    best_seconds = best["prep_seconds"] + sum(best["train_seconds"])
    ratios = {
        "fast_to_notes_accuracy": None if fast_seconds is None else fast_seconds / notes_total,
        "best_to_notes_time": best_seconds / notes_total,
    }
    print("ratios:", {k: None if v is None else round(v, 3) for k, v in ratios.items()})
    print(f"best: {best_seconds / 60:.1f} minutes of training, data preparation included")
    results.save("benchmark", {"notes_accuracy": NOTES_ACCURACY, "entries": entries,
                               "ratios": ratios, "best_minutes": best_seconds / 60})  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["study", "band", "benchmark", "reference", "all"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="parallel one-thread runs (study)")
    parser.add_argument("--threads", type=int, default=2, help="threads (benchmark, reference)")
    parser.add_argument("--rows", nargs="+", help="study: re-run only these ablation rows")
    parser.add_argument("--recipes", nargs="+", default=["notes-original", "notes-corrected"],
                        help="band: the recipes to add --seeds to")  # fmt: skip
    args = parser.parse_args(argv)
    if args.what == "band":
        add_seeds(args.recipes, args.seeds, args.jobs)
    elif args.what == "study" and args.rows:
        update_rows(args.rows, args.jobs)
    elif args.what in ("study", "all"):
        study(args.seeds, args.jobs)
    if args.what in ("reference", "all"):
        torch.set_num_threads(args.threads)
        path = reference.make_reference()
        _, meta = reference.load_reference()
        print(f"reference model: {100 * meta['test_acc']:.2f}% test accuracy -> {path}")
    if args.what in ("benchmark", "all"):
        torch.set_num_threads(args.threads)
        benchmark()
    return 0


if __name__ == "__main__":
    sys.exit(main())
