"""cnnnotes.training.cache: an entry saves time and never changes a result."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnnotes.training import cache
from cnnnotes.training.loop import History
from cnnnotes.training.models import build_model
from cnnnotes.training.recipes import Splits


def tiny_data(value: float = 0.0) -> Splits:
    x = torch.full((4, 1, 28, 28), value)
    y = torch.arange(4)
    return Splits((x, y), (x[:2], y[:2]), (x[2:], y[2:]))


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Train with a fake recipe runner that records its calls, in an empty cache."""
    monkeypatch.setenv("CNNNOTES_CACHE", str(tmp_path))
    made: list[int] = []

    def fake_run(recipe, seed, device, progress, data):
        made.append(seed)
        torch.manual_seed(seed)
        return build_model(recipe.model), History(val_acc=[0.5], seconds=[1.0])

    monkeypatch.setattr(cache, "run", fake_run)
    return made


def test_reuses_a_matching_entry_only(calls: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    model, first = cache.trained("fast", seed=4, data=tiny_data())
    again, second = cache.trained("fast", seed=4, data=tiny_data())
    assert calls == [4] and second.val_acc == first.val_acc == [0.5]
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    cache.trained("fast", seed=4, data=tiny_data(), retrain=True)
    assert calls == [4, 4]
    cache.trained("fast", seed=5, data=tiny_data())  # another seed
    cache.trained("notes-corrected", seed=4, data=tiny_data())  # another recipe
    cache.trained("fast", seed=4, data=tiny_data(1.0))  # other data
    assert calls == [4, 4, 5, 4, 4]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ONEDNN_MAX_CPU_ISA", "AVX2"), ("ATEN_CPU_CAPABILITY", "default"), ("MKL_CBWR", "AVX2")],
)
def test_kernel_settings_are_part_of_the_key(
    calls: list[int], monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.delenv(variable, raising=False)
    cache.trained("fast", data=tiny_data())
    monkeypatch.setenv(variable, value)
    cache.trained("fast", data=tiny_data())
    assert calls == [0, 0]


def test_any_kernels_reuses_across_kernel_settings_only(
    calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """make test's second notebook pass: other kernels and threads reuse the first pass's model."""
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    cache.trained("fast", data=tiny_data())
    monkeypatch.setenv(cache.ANY_KERNELS, "1")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "another ISA")
    cache.trained("fast", data=tiny_data())
    assert calls == [0], "other kernels, same machine: reused"
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    cache.trained("fast", data=tiny_data())
    assert calls == [0], "other threads: reused too"
    (x, y), val, test = tiny_data()
    cache.trained("fast", data=Splits((x + 1e-7, y), val, test))
    assert calls == [0], "inputs that differ in their last bits: reused"
    cache.trained("fast", data=Splits((x, y.flip(0)), val, test))
    assert calls == [0, 0], "other labels: never reused"
    monkeypatch.setattr(cache, "cpu_name", lambda: "another CPU")
    cache.trained("fast", data=tiny_data())
    assert calls == [0, 0, 0], "another machine: never reused"
    monkeypatch.setenv(cache.ANY_KERNELS, "0")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    cache.trained("fast", data=tiny_data())
    assert calls == [0, 0, 0, 0], "without the variable, kernel settings are part of the key"


def test_threads_cpu_versions_and_code_are_part_of_the_key(
    calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.trained("fast", data=tiny_data())
    monkeypatch.setattr(torch, "get_num_threads", lambda: 99)
    cache.trained("fast", data=tiny_data())
    monkeypatch.setattr(cache, "cpu_name", lambda: "another CPU")
    cache.trained("fast", data=tiny_data())
    monkeypatch.setattr(cache, "__version__", "9.9.9")
    cache.trained("fast", data=tiny_data())
    monkeypatch.setattr(cache, "code_digest", lambda: "edited code")
    cache.trained("fast", data=tiny_data())
    assert calls == [0, 0, 0, 0, 0]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_a_bad_entry_is_rebuilt(calls: list[int], damage: str) -> None:
    cache.trained("fast", data=tiny_data())
    (entry,) = cache.cache_dir().glob("*.pt")
    if damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:100])
    elif damage == "garbage":
        entry.write_bytes(b"not a checkpoint")
    else:  # a readable checkpoint whose record belongs to another run
        torch.save({"state_dict": {}, "meta": {"model": "fast"}}, entry)
    _, history = cache.trained("fast", data=tiny_data())
    assert calls == [0, 0] and history.val_acc == [0.5]
    assert cache._cached(entry, cache.fingerprint(cache.RECIPES["fast"], 0, tiny_data()))


def test_clear_cache(calls: list[int], capsys: pytest.CaptureFixture[str]) -> None:
    cache.trained("fast", data=tiny_data())
    cache.trained("fast", seed=1, data=tiny_data())
    assert cache.main([]) == 0 and "2 cached model(s)" in capsys.readouterr().out
    assert cache.clear_cache() == 2
    assert not list(cache.cache_dir().glob("*.pt"))
    assert cache.main(["--clear"]) == 0 and "removed 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"name": "nope"}, "name must be one of"), ({"name": "fast", "seed": -1}, "seed must be")],
)
def test_bad_arguments(calls: list[int], kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cache.trained(**kwargs, data=tiny_data())
    assert calls == []
