"""cnnnotes.training.data: the real FashionMNIST, found offline, checked, written atomically."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import pytest
import torch
from conftest import fake_sources
from torchvision import datasets, transforms

from cnnnotes.training import data
from cnnnotes.training.data import (
    DEBIAN_DIR,
    IDX_FILES,
    DataCorruptError,
    DataNotFoundError,
    as_tensors,
    check_idx_header,
    fashion_mnist,
    prepare,
    raw_folder,
)

needs_debian = pytest.mark.skipif(
    not (DEBIAN_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)",
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point torchvision's mirrors at a closed loopback port: downloads fail at once."""
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", ["http://127.0.0.1:9/"])


@pytest.fixture(scope="module")
def train_set() -> datasets.FashionMNIST:
    return fashion_mnist(train=True)


@needs_debian
def test_real_data_shapes_and_counts(train_set: datasets.FashionMNIST) -> None:
    test_set = fashion_mnist(train=False)
    assert len(train_set) == 60_000 and len(test_set) == 10_000
    assert train_set.data.shape == (60_000, 28, 28) and train_set.data.dtype == torch.uint8
    assert torch.bincount(train_set.targets).tolist() == [6000] * 10
    assert len(data.CLASSES) == 10 and data.CLASSES[0] == "T-shirt/top"


@needs_debian
def test_as_tensors_equals_to_tensor(train_set: datasets.FashionMNIST) -> None:
    x, y = as_tensors(train_set)
    assert x.shape == (60_000, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    to_tensor = transforms.ToTensor()
    for i in (0, 1, 59_999, 31_337):
        image, label = train_set[i]
        assert torch.equal(to_tensor(image), x[i]) and label == int(y[i])


@needs_debian
def test_debian_files_fill_an_empty_root(tmp_path: Path, no_network: None) -> None:
    root = prepare(tmp_path)
    for stem in IDX_FILES:
        produced = raw_folder(root) / stem
        with gzip.open(DEBIAN_DIR / f"{stem}.gz", "rb") as fh:
            assert produced.read_bytes() == fh.read(), f"{stem} differs from Debian's content"
    assert not [p for p in raw_folder(root).iterdir() if p.name.startswith(".")], "temp left"


@needs_debian
def test_env_variable_chooses_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNNOTES_DATA", str(tmp_path / "here"))
    assert data.default_root() == tmp_path / "here"
    ds = fashion_mnist(train=False)
    assert Path(ds.root) == tmp_path / "here" and len(ds) == 10_000


def test_nothing_anywhere_gives_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("CNNNOTES_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataNotFoundError) as info:
        fashion_mnist(train=True, system_dir=tmp_path / "no-debian")
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "internet" in message and "CNNNOTES_DATA" in message
    assert "download failed" in message


def test_download_can_be_turned_off(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="downloading was turned off"):
        prepare(tmp_path, download=False, system_dir=tmp_path / "none")


def write_idx(path: Path, magic: int, dims: tuple[int, ...], body: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(f">{1 + len(dims)}I", magic, *dims)
    path.write_bytes(header + bytes(body))


def fake_root(tmp_path: Path) -> Path:
    """A root with all four files linked from a complete prepared copy."""
    root = tmp_path / "root"
    raw = raw_folder(root)
    raw.mkdir(parents=True)
    for stem in IDX_FILES:
        os.symlink(raw_folder(data.default_root()) / stem, raw / stem)
    return root


@needs_debian
def test_truncated_file_is_reported(tmp_path: Path, train_set: datasets.FashionMNIST) -> None:
    root = fake_root(tmp_path)
    target = raw_folder(root) / "t10k-images-idx3-ubyte"
    target.unlink()
    write_idx(target, 2051, (10_000, 28, 28), 1000)  # header right, pixels missing
    with pytest.raises(DataCorruptError, match="truncated") as info:
        fashion_mnist(train=False, root=root, system_dir=tmp_path / "none", download=False)
    assert f"Delete {target}" in str(info.value), "the error must say which file to delete"


@needs_debian
def test_wrong_magic_is_reported(tmp_path: Path, train_set: datasets.FashionMNIST) -> None:
    root = fake_root(tmp_path)
    target = raw_folder(root) / "train-labels-idx1-ubyte"
    target.unlink()
    write_idx(target, 2051, (60_000,), 60_000)
    with pytest.raises(DataCorruptError, match="magic number 2051, expected 2049"):
        fashion_mnist(train=True, root=root, system_dir=tmp_path / "none", download=False)


@needs_debian
def test_a_corrupt_cached_file_is_rebuilt_from_debian(
    tmp_path: Path, train_set: datasets.FashionMNIST
) -> None:
    """Issue 11: a damaged file in the data folder used to be reported forever, never repaired."""
    root = fake_root(tmp_path)
    target = raw_folder(root) / "t10k-labels-idx1-ubyte"
    target.unlink()
    write_idx(target, 2049, (10_000,), 17)  # truncated
    ds = fashion_mnist(train=False, root=root)
    assert len(ds) == 10_000 and not target.is_symlink()
    with gzip.open(DEBIAN_DIR / "t10k-labels-idx1-ubyte.gz", "rb") as fh:
        assert target.read_bytes() == fh.read()


def test_broken_gzip_leaves_nothing_behind(tmp_path: Path) -> None:
    system = tmp_path / "debian"
    system.mkdir()
    for stem in IDX_FILES:
        (system / f"{stem}.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    root = tmp_path / "root"
    with pytest.raises(DataCorruptError, match="cannot be decompressed"):
        prepare(root, system_dir=system, download=False)
    assert not any(raw_folder(root).iterdir()), "a half-written file was left behind"


def test_truncated_gzip_content_is_rejected(tmp_path: Path) -> None:
    system = fake_sources(tmp_path / "debian", body_size=100)  # valid gzip, incomplete IDX
    root = tmp_path / "root"
    with pytest.raises(DataCorruptError, match="truncated"):
        prepare(root, system_dir=system, download=False)
    assert not any(raw_folder(root).iterdir())


def test_a_corrupt_gzip_stream_is_a_data_error_not_a_zlib_error(tmp_path: Path) -> None:
    """Issue 11: a damaged deflate stream raised a raw zlib.error from data.py."""
    system = fake_sources(tmp_path / "debian")
    src = system / "t10k-images-idx3-ubyte.gz"
    blob = bytearray(src.read_bytes())
    for i in range(40, 60):
        blob[i] ^= 0xFF  # inside the deflate stream: zlib's "invalid code"
    src.write_bytes(bytes(blob))
    root = tmp_path / "root"
    with pytest.raises(DataCorruptError, match="gzip file is damaged") as info:
        prepare(root, system_dir=system, download=False)
    assert str(src) in str(info.value)
    assert not (raw_folder(root) / "t10k-images-idx3-ubyte").exists()
    assert not [p for p in raw_folder(root).iterdir() if p.name.startswith(".")], "temp left"


def test_a_failed_write_is_not_reported_as_a_bad_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11: a full disk was reported as a corrupt Debian file."""
    import errno

    from cnnnotes import _io

    system = fake_sources(tmp_path / "debian")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_io.os, "fsync", full)
    root = tmp_path / "root"
    with pytest.raises(data.DataNotWritableError, match="No space left on device") as info:
        prepare(root, system_dir=system, download=False)
    assert "debian" not in str(info.value), "the source is fine: do not blame it"
    assert not list(raw_folder(root).iterdir()), "a temporary file was left behind"


def test_an_uncreatable_data_folder_is_a_write_error(tmp_path: Path) -> None:
    system = fake_sources(tmp_path / "debian")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the data folder should go")
    with pytest.raises(data.DataNotWritableError, match="cannot write"):
        prepare(blocker / "root", system_dir=system, download=False)


@pytest.mark.parametrize(
    ("header", "stem", "size", "match"),
    [
        (struct.pack(">IIII", 2051, 10_000, 28, 28), "t10k-images-idx3-ubyte", 7_840_016, None),
        (struct.pack(">II", 2049, 10_000), "t10k-labels-idx1-ubyte", 10_008, None),
        (struct.pack(">IIII", 2051, 10_000, 28, 28), "t10k-images-idx3-ubyte", 7_840_015, "bytes"),
        (struct.pack(">IIII", 2051, 9_999, 28, 28), "t10k-images-idx3-ubyte", None, "9999 items"),
        (struct.pack(">IIII", 2051, 10_000, 32, 32), "t10k-images-idx3-ubyte", None, "shape"),
        (b"\x00\x00", "t10k-labels-idx1-ubyte", None, "too short"),
    ],
)
def test_check_idx_header(header: bytes, stem: str, size: int | None, match: str | None) -> None:
    if match is None:
        check_idx_header(header, stem, size)
    else:
        with pytest.raises(DataCorruptError, match=match):
            check_idx_header(header, stem, size)


def test_unknown_file_name_and_bad_train_flag() -> None:
    with pytest.raises(ValueError, match="unknown FashionMNIST file"):
        check_idx_header(b"", "mnist.bin")
    with pytest.raises(TypeError, match="train must be True or False"):
        fashion_mnist(train="yes")  # type: ignore[arg-type]
