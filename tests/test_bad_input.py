"""Bad input to the two commands and the data loader: a clear message, nothing left behind.

Each case asserts exit status 2 (commands) or the documented exception (data loader),
a message that names the problem, no traceback, and that the folder the case ran in
holds afterwards exactly what it held before. The commands run in-process (fast) with
data loading replaced by a tripwire, so every argument is proved to be checked before
any data are read; a few cases also run as real subprocesses.
"""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, fake_sources

from cnnnotes.training import cli, data, predict
from cnnnotes.training.checkpoint import save_checkpoint
from cnnnotes.training.data import DataCorruptError, DataNotFoundError, DataNotWritableError
from cnnnotes.training.models import build_model


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def no_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading data during an argument check is a bug: make it fail loudly."""

    def tripwire(*args: object, **kwargs: object) -> None:
        raise AssertionError("data were loaded before the arguments were checked")

    monkeypatch.setattr(cli, "load_data_with_stats", tripwire)


def run_main(main, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code), capsys.readouterr().err


def uncreatable(tmp_path: Path) -> Path:
    """A folder path that cannot be created, even by root: its parent is a regular file."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    return blocker / "out"


TRAIN_CASES = [
    (["--seed", "-1"], "--seed", "from 0 to 4294967295, got -1"),
    (["--seed", "99999999999999999999"], "--seed", "from 0 to 4294967295"),
    (["--seed", "one"], "--seed", "'one'"),
    (["--epochs", "0"], "--epochs", ">= 1"),
    (["--epochs", "-3"], "--epochs", ">= 1"),
    (["--epochs", "2.5"], "--epochs", "whole number"),
    (["--batch-size", "0"], "--batch-size", ">= 1"),
    (["--batch-size", "many"], "--batch-size", "whole number"),
    (["--lr", "0"], "--lr", "> 0"),
    (["--lr", "-1"], "--lr", "> 0"),
    (["--lr", "nan"], "--lr", "expected a finite number, got 'nan'"),
    (["--lr", "inf"], "--lr", "expected a finite number, got 'inf'"),
    (["--lr", "fast"], "--lr", "expected a finite number, got 'fast'"),
    (["--threads", "0"], "--threads", ">= 1"),
    (["--threads", "two"], "--threads", "whole number"),
    (["--model", "resnet"], "--model", "invalid choice: 'resnet'"),
    (["--recipe", "nope"], "--recipe", "invalid choice: 'nope'"),
    (["--schedule", "cosine"], "--schedule", "invalid choice: 'cosine'"),
    (["--device", "tpu"], "--device", "invalid choice: 'tpu'"),
    (["--frobnicate"], "unrecognized arguments", "--frobnicate"),
]


@pytest.mark.parametrize(("args", "names", "allowed"), TRAIN_CASES, ids=lambda v: str(v))
def test_train_rejects_bad_arguments_before_any_work(
    tmp_path: Path, capsys, no_data: None, args: list[str], names: str, allowed: str
) -> None:
    out = tmp_path / "run"
    code, err = run_main(cli.main, [*args, "--out", str(out)], capsys)
    assert code == 2 and names in err and allowed in err, err
    # one line, short enough to read: an unknown model lists every name it allows
    assert "Traceback" not in err and len(err.strip().splitlines()[-1]) < 400
    assert [line for line in err.splitlines() if "error:" in line] == [err.strip().splitlines()[-1]]
    assert snapshot(tmp_path) == set(), "a bad argument must not create anything"


def test_train_needs_an_output_folder(capsys, no_data: None) -> None:
    code, err = run_main(cli.main, ["--epochs", "1"], capsys)
    assert code == 2 and "--out" in err and "required" in err


def test_train_output_that_is_a_file(tmp_path: Path, capsys, no_data: None) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    code, err = run_main(cli.main, ["--out", str(target)], capsys)
    assert code == 2 and "--out" in err and "is a file" in err
    assert snapshot(tmp_path) == {"taken"} and target.read_text() == "x"


def test_train_output_folder_that_cannot_be_created(tmp_path: Path, capsys, no_data) -> None:
    code, err = run_main(cli.main, ["--out", str(uncreatable(tmp_path))], capsys)
    assert code == 2 and "--out" in err and "cannot write to output folder" in err
    assert snapshot(tmp_path) == {"blocker"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_train_asks_for_a_missing_cuda_device(tmp_path: Path, capsys, no_data: None) -> None:
    code, err = run_main(cli.main, ["--device", "cuda", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "cuda" in err and "no CUDA device" in err
    assert snapshot(tmp_path) == set()


def test_train_checks_the_folder_without_leaving_it(tmp_path: Path, monkeypatch, capsys) -> None:
    """A run that fails after the checks (here: no data) leaves no output folder either."""

    def missing(*args: object, **kwargs: object) -> None:
        raise DataNotFoundError("FashionMNIST not found (test)")

    monkeypatch.setattr(cli, "load_data_with_stats", missing)
    assert cli.main(["--out", str(tmp_path / "deep" / "run")]) == 1
    assert "FashionMNIST not found" in capsys.readouterr().err
    assert snapshot(tmp_path) == set()


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999"])
def test_seed_out_of_range_as_a_real_command(tmp_path: Path, seed: str) -> None:
    """Issue 11: these seeds ended in tracebacks after loading data and making --out."""
    proc = subprocess.run(
        [sys.executable, "-m", "cnnnotes", "train", "--seed", seed, "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and "--seed" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(tmp_path) == set()


# ----------------------------------------------------------------------------- predict


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A good checkpoint and good and bad image files, in their own folder."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("predict")
    torch.manual_seed(0)
    meta = {"model": "pool-first", "normalization": {"mean": 0.3, "std": 0.35}}
    good = save_checkpoint(folder / "good.pt", build_model("pool-first"), meta)
    blob = good.read_bytes()
    (folder / "cut.pt").write_bytes(blob[: len(blob) // 2])
    (folder / "text.pt").write_text("not a checkpoint\n")
    torch.save({"weights": [1, 2]}, folder / "nometa.pt")
    torch.save({"state_dict": {}, "meta": {"model": "resnet"}}, folder / "foreign.pt")
    Image.new("L", (28, 28)).save(folder / "ok.png")
    (folder / "notes.txt").write_text("hello")
    images = torch.arange(3 * 28 * 28).remainder(256).to(torch.uint8)
    idx = struct.pack(">IIII", 2051, 3, 28, 28) + images.numpy().tobytes()
    (folder / "three-idx3-ubyte").write_bytes(idx)
    (folder / "cut-idx3-ubyte").write_bytes(idx[:1000])
    (folder / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    zipped = gzip.compress(idx)
    (folder / "cut.gz").write_bytes(zipped[: len(zipped) // 2])
    return {p.name: p for p in folder.iterdir()}


def test_predict_works_on_the_good_files(files: dict[str, Path], capsys) -> None:
    argv = [str(files["good.pt"]), str(files["three-idx3-ubyte"]), "--index", "0:3"]
    assert predict.main([*argv, str(files["ok.png"]), "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()  # per image: top classes, then the steps
    assert len(lines) == 8 and lines[0].startswith("three-idx3-ubyte[0]: ")
    assert lines[6].startswith("ok.png: ") and lines[6].count("%") == 2
    assert lines[7] == "    (28×28 grey; background dark (border mean 0.00), not inverted)"


PREDICT_CASES = [
    (["missing.pt", "ok.png"], "no checkpoint at"),
    (["text.pt", "ok.png"], "not a readable cnnnotes checkpoint"),
    (["cut.pt", "ok.png"], "not a readable cnnnotes checkpoint"),
    (["nometa.pt", "ok.png"], "not a cnnnotes checkpoint"),
    (["foreign.pt", "ok.png"], "meta['model'] is 'resnet'"),
    (["good.pt", "missing.png"], "missing.png: no such file"),
    (["good.pt", "notes.txt"], "notes.txt: not an image Pillow can read nor IDX images"),
    (["good.pt", "cut.pt"], "cut.pt: not an image Pillow can read nor IDX images"),
    (["good.pt", "three-idx3-ubyte", "--index", "2:9"], "beyond"),
    (["good.pt", "three-idx3-ubyte", "--index", "5:2"], "--index"),
    (["good.pt", "three-idx3-ubyte", "--index", "-1"], "--index"),
    (["good.pt", "cut-idx3-ubyte"], "truncated"),
    (["good.pt", "ok.png", "--top", "0"], "--top must be an int from 1 to 10, got 0"),
    (["good.pt", "ok.png", "--top", "11"], "--top must be an int from 1 to 10, got 11"),
    (["good.pt", "ok.png", "--top", "two"], "argument --top: invalid int value: 'two'"),
    (["good.pt", "ok.png", "--invert", "maybe"], "argument --invert: invalid choice: 'maybe'"),
    (["good.pt", "ok.png", "--show", "nowhere/seen.png"], "--show: folder"),
    (["good.pt", "ok.png", "--show", "."], "is a folder"),
    (["good.pt", "broken.gz"], "gzip file is damaged"),
    (["good.pt", "cut.gz"], "gzip file is damaged"),
    (["good.pt"], "the following arguments are required: images"),
]


@pytest.mark.parametrize(("args", "message"), PREDICT_CASES, ids=lambda v: str(v))
def test_predict_rejects_bad_input(
    files: dict[str, Path], capsys, args: list[str], message: str
) -> None:
    folder = files["good.pt"].parent
    before = snapshot(folder)
    plain = ("--index", "--top", "--invert")  # options whose values are not file names
    argv = [
        a if a.startswith("-") or before in plain else str(folder / a)
        for before, a in zip(["", *args[:-1]], args, strict=True)
    ]
    code, err = run_main(predict.main, argv, capsys)
    assert code == 2 and message in err, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert "Traceback" not in err and errors == [err.strip().splitlines()[-1]], err
    assert snapshot(folder) == before


def test_predict_foreign_file_as_a_real_command(files: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cnnnotes", "predict", str(files["text.pt"]), str(files["ok.png"])],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and "not a readable cnnnotes checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


# ----------------------------------------------------------------------------- data loader


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fake_sources(tmp_path_factory.mktemp("debian"))


def damaged_copy(sources: Path, folder: Path, stem: str, change) -> Path:
    folder.mkdir()
    for src in sources.iterdir():
        (folder / src.name).write_bytes(src.read_bytes())
    target = folder / f"{stem}.gz"
    target.write_bytes(change(target.read_bytes()))
    return folder


def flip_middle(blob: bytes) -> bytes:
    b = bytearray(blob)
    for i in range(40, 60):
        b[i] ^= 0xFF
    return bytes(b)


def regzip(header: bytes, size: int):
    return lambda _: gzip.compress(header + bytes(size), compresslevel=1)


DATA_CASES = [
    ("t10k-images-idx3-ubyte", flip_middle, "gzip file is damaged"),
    ("t10k-labels-idx1-ubyte", lambda b: b[: len(b) // 2], "gzip file is damaged"),
    ("train-labels-idx1-ubyte", lambda b: b"\x1f\x8b\x08\x00garbage", "gzip file is damaged"),
    ("train-labels-idx1-ubyte", lambda b: b"plain text, not gzip", "gzip file is damaged"),
    ("t10k-labels-idx1-ubyte", regzip(struct.pack(">II", 2051, 10_000), 10_000), "magic number"),
    ("t10k-labels-idx1-ubyte", regzip(struct.pack(">II", 2049, 9_999), 9_999), "9999 items"),
    ("t10k-labels-idx1-ubyte", regzip(struct.pack(">II", 2049, 10_000), 50), "truncated"),
]


@pytest.mark.parametrize(
    ("stem", "change", "message"), DATA_CASES, ids=lambda v: getattr(v, "__name__", str(v))[:30]
)
def test_data_sources_that_are_damaged(
    sources: Path, tmp_path: Path, stem: str, change, message: str
) -> None:
    system = damaged_copy(sources, tmp_path / "debian", stem, change)
    root = tmp_path / "root"
    with pytest.raises(DataCorruptError, match=message) as info:
        data.prepare(root, system_dir=system, download=False)
    assert f"{stem}.gz" in str(info.value), "the message must name the bad file"
    assert not (data.raw_folder(root) / stem).exists()
    assert not [p for p in data.raw_folder(root).iterdir() if p.name.startswith(".")]


def test_data_cached_file_damaged_without_a_source(sources: Path, tmp_path: Path) -> None:
    root = data.prepare(tmp_path / "root", system_dir=sources, download=False)
    target = data.raw_folder(root) / "t10k-labels-idx1-ubyte"
    target.write_bytes(target.read_bytes()[:-1])
    with pytest.raises(DataCorruptError, match="truncated") as info:
        data.prepare(root, system_dir=tmp_path / "none", download=False)
    assert f"Delete {target}" in str(info.value)
    data.prepare(root, system_dir=sources, download=False)  # with a source: rebuilt
    assert target.stat().st_size == 10_008


def test_data_folder_that_cannot_be_created(sources: Path, tmp_path: Path) -> None:
    with pytest.raises(DataNotWritableError, match="cannot write") as info:
        data.prepare(uncreatable(tmp_path) / "root", system_dir=sources, download=False)
    assert str(sources) not in str(info.value), "a write failure is not a bad source"


def test_data_nowhere(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.prepare(tmp_path / "root", system_dir=tmp_path / "none", download=False)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: data.fashion_mnist(train="yes"), TypeError, "train must be True or False"),
        (lambda: data.check_idx_header(b"", "mnist.bin"), ValueError, "unknown FashionMNIST"),
        (
            lambda: data.check_idx_header(b"\x00", "t10k-labels-idx1-ubyte"),
            DataCorruptError,
            "too short",
        ),
    ],
)
def test_data_bad_arguments(call, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()
