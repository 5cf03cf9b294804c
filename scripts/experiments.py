"""The long training runs behind the training chapters, written to book/data/*.json.

    python scripts/experiments.py study       # seed band + ablation -> band.json, ablation.json
    python scripts/experiments.py benchmark   # notes' loop vs our recipes, side by side
    python scripts/experiments.py all

`study` trains many independent runs, each on ONE thread, `--jobs` at a time; each
run's time is its process CPU time, which hardly depends on the other jobs.
`benchmark` runs one thing at a time on `--threads` threads and compares wall-clock
times measured in the same run; run it on an otherwise idle machine. Each file
records its provenance (command, versions, machine, threads, date); the chapters
read them with cnnnotes.results.load.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import torch
from torch.utils.flop_counter import FlopCounterMode

from cnnnotes import results
from cnnnotes.baseline import notes_loop
from cnnnotes.models import build_model
from cnnnotes.recipes import RECIPES, Recipe, load_data, run
from cnnnotes.train import History

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
    ("best", "wide + augmentation + one-cycle + weight decay, 15 epochs", RECIPES["best"]),
]  # fmt: skip


def macs_per_example(model_name: str) -> int:
    """Multiply-accumulates of one forward pass (FlopCounterMode counts 2 FLOPs per MAC)."""
    model = build_model(model_name).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    return counter.get_total_flops() // 2


def params(model_name: str) -> int:
    return sum(p.numel() for p in build_model(model_name).parameters())


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
    _, history = run(recipe, seed=seed, data=load_data(recipe.normalize), progress=False)
    print(f"{key} seed {seed}: {100 * history.test_acc[-1]:.2f}% "
          f"in {sum(history.cpu_seconds):.0f} CPU s", flush=True)  # fmt: skip
    return {"key": key, "seed": seed, "recipe": recipe.as_dict(), **record(history)}


def study(seeds: list[int], jobs: int) -> None:
    """The seed band of the notes' and the corrected recipe, and the ablation rows."""
    tasks = [(name, RECIPES[name], seed) for name in ("notes-original", "notes-corrected")
             for seed in seeds]  # fmt: skip
    tasks += [(key, recipe, 0) for key, _, recipe in ABLATION
              if key not in ("original", "corrected")]  # fmt: skip
    tasks.sort(key=lambda t: -t[1].epochs)  # longest first: the pool finishes sooner
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        done = list(pool.map(train_one, tasks))
    by_task = {(d["key"], d["seed"]): d for d in done}
    band = [by_task[(name, seed)] for name in ("notes-original", "notes-corrected")
            for seed in seeds]  # fmt: skip
    results.save("band", {"seeds": seeds, "threads_per_run": 1, "runs": [
        {"name": d["key"], **{k: v for k, v in d.items() if k != "key"}} for d in band
    ]})  # fmt: skip
    alias = {"original": "notes-original", "corrected": "notes-corrected"}
    rows = []
    for key, label, recipe in ABLATION:
        d = by_task[(alias.get(key, key), 0)]
        rows.append({**d, "key": key, "label": label, "params": params(recipe.model),
                     "macs": macs_per_example(recipe.model)})  # fmt: skip
    results.save("ablation", {"seed": 0, "threads_per_run": 1, "rows": rows})


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
    entries = {}
    _, history = notes_loop(epochs=5, seed=0)
    entries["notes-loop"] = record(history)
    print(f"notes loop: {100 * history.test_acc[-1]:.2f}% in {sum(history.seconds):.0f} s")
    for name in ("fast",):
        recipe = RECIPES[name]
        start = time.perf_counter()
        data = load_data(recipe.normalize)
        prep = time.perf_counter() - start
        _, history = run(recipe, seed=0, data=data)
        entries[name] = {"prep_seconds": prep, **record(history)}
        print(f"{name}: {100 * history.test_acc[-1]:.2f}% in {prep + sum(history.seconds):.0f} s")
    notes_total = sum(entries["notes-loop"]["train_seconds"])
    fast = entries["fast"]
    reach = time_to(fast["train_seconds"], fast["test_acc"], NOTES_ACCURACY)
    fast_seconds = None if reach is None else fast["prep_seconds"] + reach
    ratios = {
        "fast_to_notes_accuracy": None if fast_seconds is None else fast_seconds / notes_total,
    }
    print("ratios:", {k: None if v is None else round(v, 3) for k, v in ratios.items()})
    results.save("benchmark", {"notes_accuracy": NOTES_ACCURACY, "entries": entries,
                               "ratios": ratios})  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["study", "benchmark", "all"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="parallel one-thread runs (study)")
    parser.add_argument("--threads", type=int, default=2, help="threads (benchmark)")
    args = parser.parse_args(argv)
    if args.what in ("study", "all"):
        study(args.seeds, args.jobs)
    if args.what in ("benchmark", "all"):
        torch.set_num_threads(args.threads)
        benchmark()
    return 0


if __name__ == "__main__":
    sys.exit(main())
