"""``cnnnotes predict`` on real pictures: any size and colour, light or dark background.

The refusals (exit status 2, one line, nothing written) are in tests/test_bad_input.py.
"""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT
from PIL import Image, ImageDraw, ImageOps

from cnnnotes.training import predict
from cnnnotes.training.checkpoint import load_model, save_checkpoint
from cnnnotes.training.data import DEBIAN_DIR, read_idx_images
from cnnnotes.training.images import (
    background_is_light,
    load_picture,
    pad_to_square,
    prepare_image,
    to_grey,
)
from cnnnotes.training.models import build_model

SHIRT = [(70, 20), (130, 20), (170, 50), (155, 75), (140, 65), (140, 135), (60, 135), (60, 65),
         (45, 75), (30, 50)]  # fmt: skip
"""A T-shirt outline inside a 200×150 picture (x, y)."""


def prepared(path: Path, invert: str = "auto") -> tuple[torch.Tensor, list[str]]:
    return prepare_image(load_picture(path)[0], invert)


def bounding_box(image: torch.Tensor, level: int = 128) -> tuple[int, int]:
    """Width and height of the pixels at or above ``level``."""
    rows, cols = (image >= level).nonzero(as_tuple=True)
    return int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained checkpoint and a few pictures (no training: the pictures are the subject)."""
    folder = tmp_path_factory.mktemp("pictures")
    torch.manual_seed(0)
    meta = {"model": "notes", "normalization": {"mean": 0.2860, "std": 0.3530}}
    save_checkpoint(folder / "model.pt", build_model("notes"), meta)
    photo = Image.new("RGB", (200, 150), "white")  # a navy shirt on white paper
    ImageDraw.Draw(photo).polygon(SHIRT, fill=(20, 30, 110))
    photo.save(folder / "photo.png")
    ImageOps.invert(photo).save(folder / "twin.png")  # the same shirt, light on black
    cutout = Image.new("RGBA", (200, 150), (0, 0, 0, 0))  # transparent, black underneath
    ImageDraw.Draw(cutout).polygon(SHIRT, fill=(20, 30, 110, 255))
    cutout.save(folder / "cutout.png")
    bar = Image.new("L", (200, 100), 0)
    ImageDraw.Draw(bar).rectangle([20, 10, 179, 89], fill=255)  # 160×80, light on black
    bar.save(folder / "bar.png")
    images = torch.randint(
        0, 256, (3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    idx = struct.pack(">IIII", 2051, 3, 28, 28) + images.numpy().tobytes()
    (folder / "three-idx3-ubyte").write_bytes(idx)
    (folder / "three.bin").write_bytes(gzip.compress(idx))  # gzip, told by its bytes, not name
    return folder


def run(folder: Path, capsys, *args: str) -> list[str]:
    assert predict.main([str(folder / "model.pt"), *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_light_and_dark_background_give_the_same_input(folder: Path) -> None:
    light, light_notes = prepared(folder / "photo.png")
    dark, dark_notes = prepared(folder / "twin.png")
    torch.testing.assert_close(light, dark)
    assert int(light.max()) > 150 and light[0].max() == 0, "a light shirt on black"
    assert "background light (border mean 1.00), inverted" in light_notes
    assert "background dark (border mean 0.00), not inverted" in dark_notes


def test_transparent_parts_are_made_white(folder: Path) -> None:
    image, described = load_picture(folder / "cutout.png")
    assert described == "200×150 RGBA (transparent parts made white)"
    torch.testing.assert_close(prepare_image(image)[0], prepared(folder / "photo.png")[0])


def test_invert_by_hand(folder: Path) -> None:
    auto, _ = prepared(folder / "photo.png")
    kept, notes = prepared(folder / "photo.png", "no")
    assert notes[1] == "not inverted (--invert no)"
    torch.testing.assert_close(kept.int(), 255 - auto.int(), atol=1, rtol=0)
    assert prepared(folder / "twin.png", "yes")[1][1] == "inverted (--invert yes)"


def test_colour_is_reported_as_converted(folder: Path, capsys) -> None:
    lines = run(folder, capsys, str(folder / "photo.png"), str(folder / "bar.png"))
    assert lines[1] == (
        "    (200×150 RGB; converted to grey; background light (border mean 1.00), inverted; "
        "padded to 200×200; resized to 28×28)"
    )
    assert lines[3].startswith("    (200×100 grey; background dark") and "converted" not in lines[3]


def test_to_grey_is_pillows_luma() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (3, 17, 23), dtype=np.uint8)
    ours = to_grey(torch.from_numpy(rgb).float() / 255) * 255
    pillow = np.array(Image.fromarray(rgb.transpose(1, 2, 0), "RGB").convert("L"))
    torch.testing.assert_close(ours, torch.from_numpy(pillow).float(), atol=1, rtol=0)


def test_aspect_ratio_is_kept(folder: Path) -> None:
    image, notes = prepared(folder / "bar.png")
    width, height = bounding_box(image)
    assert notes[1:] == ["padded to 200×200", "resized to 28×28"]
    assert (width, height) in [(22, 11), (23, 11), (22, 12)], (width, height)  # 160×80 × 0.14
    rows = (image >= 128).any(1).nonzero().flatten()
    assert rows.min() + rows.max() in (26, 27, 28), "the bar is centred vertically"


def test_pad_to_square_and_border() -> None:
    square = pad_to_square(torch.ones(2, 5), fill=0.25)
    assert square.shape == (5, 5) and square[1:3].eq(1).all() and square[0].eq(0.25).all()
    assert not background_is_light(torch.full((4, 4), 0.5)), "the threshold itself is not light"


def test_show_writes_what_was_classified(folder: Path, capsys, tmp_path: Path) -> None:
    shown = tmp_path / "seen.png"
    lines = run(folder, capsys, str(folder / "photo.png"), "--show", str(shown), "--top", "2")
    with Image.open(shown) as im:
        assert (im.size, im.mode) == ((28, 28), "L")
        seen = torch.from_numpy(np.array(im))
    torch.testing.assert_close(seen, prepared(folder / "photo.png")[0])
    best = load_model(folder / "model.pt").top(seen, 2)[0]
    assert lines[0] == "photo.png: " + ", ".join(f"{c} {100 * p:.1f}%" for c, p in best)


def test_show_puts_several_images_side_by_side(folder: Path, capsys, tmp_path: Path) -> None:
    shown = tmp_path / "strip.png"
    args = ["--index", "0:3", "--invert", "no", "--show", str(shown)]
    run(folder, capsys, str(folder / "three-idx3-ubyte"), *args)
    with Image.open(shown) as im:
        strip = torch.from_numpy(np.array(im))
    images = read_idx_images(folder / "three-idx3-ubyte")
    torch.testing.assert_close(strip, torch.cat(list(images), dim=1))


def test_gzip_idx_reads_like_the_plain_file(folder: Path, capsys) -> None:
    plain = run(folder, capsys, str(folder / "three-idx3-ubyte"), "--index", "0:3")
    zipped = run(folder, capsys, str(folder / "three.bin"), "--index", "0:3")
    assert len(plain) == 6 and zipped == [
        line.replace("three-idx3-ubyte", "three.bin") for line in plain
    ]


@pytest.mark.skipif(not (DEBIAN_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")  # fmt: skip
def test_fashion_mnist_images_pass_unchanged() -> None:
    """No FashionMNIST test image is inverted or changed by the preparation for photos."""
    images = read_idx_images(DEBIAN_DIR / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10_000, 28, 28)
    for image in images[::10]:
        out, notes = prepare_image(image)
        assert torch.equal(out, image) and notes[0].endswith("not inverted"), notes


@pytest.mark.skipif(not (DEBIAN_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")  # fmt: skip
def test_photos_of_test_images_keep_their_predictions() -> None:
    """FashionMNIST test images made into photos (7× larger, dark on white, tinted) are
    prepared back into inputs on which the reference model mostly says what it said before."""
    from cnnnotes.training.reference import reference_path

    model = load_model(reference_path())
    images = read_idx_images(DEBIAN_DIR / "t10k-images-idx3-ubyte.gz")[:100]
    tint = torch.tensor([1.0, 0.9, 0.7])[:, None, None]
    photos = [
        (1 - im.repeat_interleave(7, 0).repeat_interleave(7, 1) / 255) * tint for im in images
    ]
    back = torch.stack([prepare_image(photo)[0] for photo in photos])
    same = (model.predict(back).argmax(1) == model.predict(images).argmax(1)).sum()
    assert same >= 90, f"{same} of 100 predictions kept"


def test_broken_gzip_as_a_real_command(folder: Path, tmp_path: Path) -> None:
    broken = tmp_path / "images.gz"
    broken.write_bytes(gzip.compress(b"\0" * 100)[:20])
    proc = subprocess.run(
        [sys.executable, "-m", "cnnnotes", "predict", str(folder / "model.pt"), str(broken)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("cnnnotes predict: error: image: ")
    assert "gzip file is damaged" in proc.stderr


def test_sixteen_bit_grey_reads_like_eight_bit(folder: Path, tmp_path: Path) -> None:
    with Image.open(folder / "bar.png") as im:
        deep = np.array(im, dtype=np.uint16) * 257  # 255 → 65535
    Image.fromarray(deep).save(tmp_path / "bar16.png")
    image, described = load_picture(tmp_path / "bar16.png")
    assert described == "200×100 I;16 (16-bit)"
    torch.testing.assert_close(prepare_image(image)[0], prepared(folder / "bar.png")[0])
