"""FashionMNIST, found offline first.

The data sets are torchvision's ``FashionMNIST`` objects (the ecosystem's
convention). The files are looked for in this order:

1. an explicit ``root`` argument, else the ``CNNNOTES_DATA`` environment
   variable, else ``~/.cache/cnnnotes``: torchvision's layout
   ``<root>/FashionMNIST/raw/*-ubyte``;
2. Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``),
   decompressed into that layout;
3. torchvision's normal download.

Every file is checked (IDX magic number, item count, 28×28 images, exact
size) before torchvision reads it, and files are written atomically, so a
truncated or interrupted file is reported instead of half-loaded.
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
import struct
import tempfile
from pathlib import Path

import torch
from torchvision import datasets

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package puts the four ``.gz`` files."""

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049

# file stem -> (magic number, item count, item shape)
IDX_FILES: dict[str, tuple[int, int, tuple[int, ...]]] = {
    "train-images-idx3-ubyte": (IMAGE_MAGIC, 60_000, (28, 28)),
    "train-labels-idx1-ubyte": (LABEL_MAGIC, 60_000, ()),
    "t10k-images-idx3-ubyte": (IMAGE_MAGIC, 10_000, (28, 28)),
    "t10k-labels-idx1-ubyte": (LABEL_MAGIC, 10_000, ()),
}

CLASSES: tuple[str, ...] = tuple(datasets.FashionMNIST.classes)
"""The ten class names, in label order (0 = T-shirt/top … 9 = Ankle boot)."""

FIXES = (
    "Fix it in one of these ways:\n"
    "  * install Debian's package: sudo apt-get install dataset-fashion-mnist\n"
    "  * or connect to the internet once, so torchvision can download the files\n"
    "  * or set CNNNOTES_DATA (or pass root=...) to a folder that already holds\n"
    "    FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte"
)


class DataNotFoundError(FileNotFoundError):
    """FashionMNIST is in none of the places looked at and cannot be downloaded."""


class DataCorruptError(ValueError):
    """A FashionMNIST file exists but is not a valid IDX file of the expected size."""


def default_root() -> Path:
    """The data folder: ``$CNNNOTES_DATA`` if set, else ``~/.cache/cnnnotes``."""
    env = os.environ.get("CNNNOTES_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cnnnotes"


def raw_folder(root: str | os.PathLike[str]) -> Path:
    """torchvision's folder for the raw IDX files under ``root``."""
    return Path(root) / "FashionMNIST" / "raw"


def check_idx_header(header: bytes, stem: str, actual_size: int | None = None) -> None:
    """Check an IDX header (and the file size, if given) against what ``stem`` must hold.

    >>> check_idx_header(struct.pack(">IIII", 2051, 10000, 28, 28), "t10k-images-idx3-ubyte")
    >>> check_idx_header(struct.pack(">II", 2051, 5), "t10k-labels-idx1-ubyte")
    Traceback (most recent call last):
    ...
    cnnnotes.data.DataCorruptError: t10k-labels-idx1-ubyte: magic number 2051, expected 2049 ...
    """
    if stem not in IDX_FILES:
        raise ValueError(f"unknown FashionMNIST file {stem!r}; expected one of {sorted(IDX_FILES)}")
    magic, count, shape = IDX_FILES[stem]
    need = 4 * (2 + len(shape))
    if len(header) < need:
        raise DataCorruptError(f"{stem}: file is {len(header)} bytes, too short for an IDX header")
    got_magic, got_count, *got_shape = struct.unpack(f">{2 + len(shape)}I", header[:need])
    if got_magic != magic:
        raise DataCorruptError(
            f"{stem}: magic number {got_magic}, expected {magic} (not an IDX file of this kind)"
        )
    if got_count != count or tuple(got_shape) != shape:
        raise DataCorruptError(
            f"{stem}: holds {got_count} items of shape {tuple(got_shape)}, "
            f"expected {count} items of shape {shape}"
        )
    expected_size = need + count * max(1, math.prod(shape))
    if actual_size is not None and actual_size != expected_size:
        raise DataCorruptError(
            f"{stem}: file is {actual_size} bytes, expected {expected_size} (truncated or padded)"
        )


def check_idx_file(path: str | os.PathLike[str]) -> None:
    """Check one decompressed IDX file: its name must be one of :data:`IDX_FILES`."""
    path = Path(path)
    with path.open("rb") as fh:
        header = fh.read(16)
    check_idx_header(header, path.name, path.stat().st_size)


def _decompress_atomically(src: Path, dest: Path) -> None:
    """Decompress ``src`` into ``dest`` via a temporary file, checked before the rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
        with tmp.open("rb") as fh:
            check_idx_header(fh.read(16), dest.name, tmp.stat().st_size)
        tmp.chmod(0o644)  # mkstemp creates 0600; the data are not secret
        os.replace(tmp, dest)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataCorruptError(f"{src}: cannot be decompressed ({exc})") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _complete(raw: Path) -> bool:
    return all((raw / stem).is_file() for stem in IDX_FILES)


def prepare(
    root: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    system_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Make sure the four IDX files are in ``root`` (see the module docstring); return root.

    ``system_dir`` defaults to :data:`DEBIAN_DIR`.

    Raises :class:`DataNotFoundError` naming the fixes when no source works, and
    :class:`DataCorruptError` when a file is present but wrong.
    """
    root = Path(root) if root is not None else default_root()
    raw = raw_folder(root)
    system_dir = Path(system_dir) if system_dir is not None else DEBIAN_DIR
    if not _complete(raw):
        sources = [system_dir / f"{stem}.gz" for stem in IDX_FILES]
        if all(src.is_file() for src in sources):
            for src in sources:
                dest = raw / src.stem
                if not dest.is_file():
                    _decompress_atomically(src, dest)
        elif download:
            _download(root, system_dir)
        if not _complete(raw):
            missing = [stem for stem in IDX_FILES if not (raw / stem).is_file()]
            raise DataNotFoundError(
                f"FashionMNIST not found: {raw} lacks {missing}, {system_dir} does not hold "
                f"the Debian files{'' if download else ', and downloading was turned off'}.\n"
                + FIXES
            )
    for stem in IDX_FILES:
        check_idx_file(raw / stem)
    return root


def _download(root: Path, system_dir: Path) -> None:
    """torchvision's download; any failure becomes one :class:`DataNotFoundError`."""
    try:
        datasets.FashionMNIST(str(root), train=True, download=True)
        datasets.FashionMNIST(str(root), train=False, download=True)
    except Exception as exc:  # torchvision raises RuntimeError, URLError, OSError...
        raise DataNotFoundError(
            f"FashionMNIST is not in {raw_folder(root)} nor in {system_dir}, and torchvision's "
            f"download failed ({type(exc).__name__}: {exc}).\n" + FIXES
        ) from exc


def fashion_mnist(
    train: bool = True,
    root: str | os.PathLike[str] | None = None,
    *,
    transform=None,
    download: bool = True,
    system_dir: str | os.PathLike[str] | None = None,
) -> datasets.FashionMNIST:
    """The FashionMNIST training (``train=True``) or test set as a torchvision dataset.

    ``transform`` is passed to torchvision (e.g. ``transforms.ToTensor()``).
    """
    if not isinstance(train, bool):
        raise TypeError(f"train must be True or False, got {train!r}")
    root = prepare(root, download=download, system_dir=system_dir)
    return datasets.FashionMNIST(str(root), train=train, transform=transform, download=False)


def as_tensors(dataset: datasets.FashionMNIST) -> tuple[torch.Tensor, torch.Tensor]:
    """All images as float32 ``(N, 1, 28, 28)`` in [0, 1] and labels as int64 ``(N,)``.

    This is exactly what ``transforms.ToTensor()`` gives item by item, done once
    for the whole set.
    """
    images = dataset.data.unsqueeze(1).to(torch.float32).div_(255.0)
    return images, dataset.targets.to(torch.int64).clone()
