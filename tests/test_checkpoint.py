"""Checkpoints you can use as saved: load_model, the normalisation, the reference format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnnotes.training import checkpoint, cli
from cnnnotes.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from cnnnotes.training.data import CLASSES
from cnnnotes.training.loop import History
from cnnnotes.training.models import build_model
from cnnnotes.training.recipes import Splits

REFERENCE_META = {  # the record cnnnotes/training/reference.py writes, key for key
    "model": "notes",
    "recipe": {"name": "notes-corrected", "model": "notes", "epochs": 5},
    "seed": 0,
    "normalization": {"mean": 0.2860, "std": 0.3530},
    "history": History(val_acc=[0.9]).as_dict(),
    "test_acc": 0.9,
    "provenance": {"command": "x", "versions": {}, "machine": {}, "threads": 2, "date": "d"},
}


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "ref.pt", build_model("notes"), REFERENCE_META)


def test_reference_format_loads_both_ways(saved: Path) -> None:
    model, meta = load_checkpoint(saved)
    assert meta == REFERENCE_META and not model.training
    clf = load_model(saved)
    assert (clf.mean, clf.std) == (0.2860, 0.3530) and clf.classes == CLASSES


def test_predict_applies_the_saved_normalisation(saved: Path) -> None:
    """Issue 11: a checkpoint without its statistics gave wrong answers on raw images."""
    clf = load_model(saved)
    raw = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    expected = clf.model(((raw.float() / 255 - 0.2860) / 0.3530)[:, None]).softmax(1)
    torch.testing.assert_close(clf.predict(raw), expected)
    torch.testing.assert_close(clf.predict(raw.float() / 255), expected)
    torch.testing.assert_close(clf.predict(raw[0]), expected[:1])
    best = clf.top(raw, k=2)
    assert len(best) == 5 and all(len(row) == 2 and row[0][1] >= row[1][1] for row in best)
    assert best[0][0][0] in CLASSES


@pytest.mark.parametrize(
    ("images", "error", "match"),
    [
        ([[0]], TypeError, "must be a torch.Tensor"),
        (torch.zeros(2, 3, 28, 28), ValueError, r"\(N, 1, H, W\)"),
        (torch.zeros(28, 28, dtype=torch.int32), TypeError, "uint8"),
    ],
)
def test_predict_refuses_what_it_cannot_read(saved: Path, images, error, match) -> None:
    with pytest.raises(error, match=match):
        load_model(saved).predict(images)


def test_classes_and_bad_normalisation(tmp_path: Path) -> None:
    model = build_model("pool-first")
    names = [f"c{i}" for i in range(10)]
    path = save_checkpoint(tmp_path / "a.pt", model, {"model": "pool-first", "classes": names})
    clf = load_model(path)
    assert clf.classes == tuple(names) and (clf.mean, clf.std) == (0.0, 1.0)
    bad = {"model": "pool-first", "normalization": {"mean": 0.1}}
    with pytest.raises(CheckpointError, match="normalization"):
        load_model(save_checkpoint(tmp_path / "b.pt", model, bad))
    few = {"model": "pool-first", "classes": ["a", "b"]}
    with pytest.raises(CheckpointError, match="2 class names for a model with 10 outputs"):
        load_model(save_checkpoint(tmp_path / "c.pt", model, few))


def test_foreign_weights_are_a_checkpoint_error(tmp_path: Path) -> None:
    """Issue 11: a foreign file failed with a bare KeyError."""
    torch.save({"state_dict": {}, "meta": {"model": "notes"}}, tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(tmp_path / "empty.pt")
    torch.save({"net": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a cnnnotes checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint(tmp_path / "m.pt", build_model("pool-first"), {"model": "pool-first"})
    before = path.read_bytes()

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, build_model("notes"), {"model": "notes"})
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_cli_passes_seed_device_threads_and_saves_a_usable_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: None, capsys
) -> None:
    """The CLI's --seed/--device/--threads reach the run; the checkpoint has stats and names."""
    seen: dict[str, object] = {}
    x, y = torch.rand(8, 1, 28, 28), torch.arange(8) % 10

    def fake_data(normalize: bool):
        seen["normalize"] = normalize
        return Splits((x, y), (x, y), (x, y)), {"mean": 0.25, "std": 0.5}

    def fake_run(recipe, seed, device, progress, data, max_batches=None):
        seen.update(seed=seed, device=device, threads=torch.get_num_threads())
        torch.manual_seed(seed)
        return build_model(recipe.model), History(val_acc=[0.5], train_loss=[1.0])

    monkeypatch.setattr(cli, "load_data_with_stats", fake_data)
    monkeypatch.setattr(cli, "run", fake_run)
    out = tmp_path / "run"
    argv = ["--model", "pool-first", "--seed", "4294967295", "--device", "cpu", "--threads", "1"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    assert seen == {"normalize": True, "seed": 4294967295, "device": torch.device("cpu"),
                    "threads": 1}  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.pt"]
    clf = checkpoint.load_model(out / "model.pt")
    assert (clf.mean, clf.std, clf.classes) == (0.25, 0.5, CLASSES)
    assert clf.meta["provenance"]["command"].endswith("--out " + str(out))
    assert "wrote" in capsys.readouterr().out


REFERENCE = Path(checkpoint.__file__).parent / "recorded" / "notes-reference.pt"


@pytest.mark.skipif(not REFERENCE.is_file(), reason="the reference model is not built yet")
def test_predict_command_on_the_committed_reference(capsys) -> None:
    """The committed file, loaded as written by reference.py, names the first test images."""
    from cnnnotes.training import data, predict

    raw = data.raw_folder(data.prepare())
    assert (
        predict.main([str(REFERENCE), str(raw / "t10k-images-idx3-ubyte"), "--index", "0:4"]) == 0
    )
    lines = capsys.readouterr().out.splitlines()[::2]  # each image's second line: the steps
    labels = (raw / "t10k-labels-idx1-ubyte").read_bytes()[8:12]
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == [
        CLASSES[i].split(" ")[0] for i in labels
    ]


def test_int8_weights_load_as_the_rounded_float_model(tmp_path: Path) -> None:
    """Named weights are stored in 8 bits and rebuilt exactly as quantize_rows rounds them."""
    from cnnnotes.training.quantize import dequantize_rows, quantize_rows

    torch.manual_seed(0)
    model = build_model("notes")
    path = checkpoint.save_checkpoint(
        tmp_path / "m.pt", model, {"model": "notes"}, int8=["fc1.weight", "conv1.weight"]
    )
    blob = torch.load(path, weights_only=True)
    assert set(blob["int8"]) == {"fc1.weight", "conv1.weight"}
    assert "fc1.weight" not in blob["state_dict"]
    loaded, _ = checkpoint.load_checkpoint(path)
    for name, value in model.state_dict().items():
        expected = dequantize_rows(*quantize_rows(value)) if name in blob["int8"] else value
        assert torch.equal(loaded.state_dict()[name], expected), name
    full = checkpoint.save_checkpoint(tmp_path / "f.pt", model, {"model": "notes"})
    assert path.stat().st_size < 0.3 * full.stat().st_size  # fc1 is most of the model


def test_int8_names_must_be_float_weights_of_the_model(tmp_path: Path) -> None:
    model = build_model("notes")
    with pytest.raises(ValueError, match=r"not float weights of the model; it has conv1\.weight"):
        checkpoint.save_checkpoint(tmp_path / "m.pt", model, {"model": "notes"}, int8=["fc9"])
    with pytest.raises(TypeError, match="list of weight names"):
        checkpoint.save_checkpoint(tmp_path / "m.pt", model, {"model": "notes"}, int8="fc1")
    assert not (tmp_path / "m.pt").exists()


def test_unreadable_int8_weights_are_refused(tmp_path: Path) -> None:
    path = checkpoint.save_checkpoint(
        tmp_path / "m.pt", build_model("notes"), {"model": "notes"}, int8=["fc2.weight"]
    )
    blob = torch.load(path, weights_only=True)
    blob["int8"]["fc2.weight"]["q"] = blob["int8"]["fc2.weight"]["q"].long()
    torch.save(blob, path)
    with pytest.raises(checkpoint.CheckpointError, match="8-bit weights are not readable"):
        checkpoint.load_checkpoint(path)
