"""The strict book build: zero warnings, every _toc.yml entry rendered, figures as images."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, Build


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_build_has_no_warnings(book_build: Build) -> None:
    if book_build.reused:
        pytest.skip("CNNNOTES_REUSE_BUILD=1 reused an existing build: its warnings are unknown")
    warnings = [line for line in book_build.log.splitlines() if "WARNING" in line]
    assert book_build.returncode == 0, book_build.log[-3000:]
    assert not warnings, "\n".join(warnings[:20])


def test_every_toc_entry_is_rendered(book_build: Build) -> None:
    assert (book_build.html / "index.html").is_file()
    for name in toc_files():
        page = book_build.html / f"{name}.html"
        assert page.is_file(), f"{name} from _toc.yml was not rendered"
        assert "<h1" in page.read_text(encoding="utf-8"), f"{page} has no title"


def test_chapter_figures_are_images(book_build: Build) -> None:
    for name in toc_files():
        html = (book_build.html / f"{name}.html").read_text(encoding="utf-8")
        assert "&lt;Figure size" not in html, f"{name}: a figure rendered as text (Agg backend?)"
        for src in re.findall(r'<img[^>]+src="([^"]+)"', html):
            if "://" in src or src.startswith("data:"):
                continue
            target = (book_build.html / name).parent / src
            assert target.resolve().is_file(), f"{name}: image {src} is missing"


def test_mathjax_is_served_locally(book_build: Build) -> None:
    html = (book_build.html / "book" / "conventions.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', html, re.I)
    assert srcs, "no MathJax script on a page with math"
    for src in srcs:
        assert "://" not in src, f"MathJax from outside the site: {src}"
        assert (book_build.html / "book" / src.split("?")[0]).resolve().is_file()


def test_glued_numbers_are_rendered(book_build: Build) -> None:
    html = (book_build.html / "book" / "01_images_as_tensors.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", html)
    assert "Every class has exactly 6,000 training and" in " ".join(text.split())


def test_ipynb_download_and_no_dead_buttons(book_build: Build) -> None:
    html = (book_build.html / "book" / "01_images_as_tensors.html").read_text(encoding="utf-8")
    assert "_sources/book/01_images_as_tensors.ipynb" in html, "no .ipynb download"
    assert "colab.research.google.com" not in html, "a Colab button with no repository behind it"
    assert Path(book_build.html / "_sources" / "book" / "01_images_as_tensors.ipynb").is_file()


PLACEHOLDER_REPOSITORIES = ("cnn-notes/cnn-notes", "example.com", "your-")


def test_buttons_and_claims_have_a_target() -> None:
    """A launch or repository button needs a real repository; the prose claims only what exists."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    buttons = config.get("launch_buttons") or {}
    launch = {key for key, value in buttons.items() if key.endswith("_url") and value}
    html = config.get("html") or {}
    repo = str((config.get("repository") or {}).get("url") or "")
    if launch or html.get("use_repository_button") or html.get("use_issues_button"):
        assert repo, "a launch, repository or issues button is configured without a repository"
        assert not any(p in repo for p in PLACEHOLDER_REPOSITORIES), f"placeholder URL {repo}"
    prose = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "book").glob("*.md"))
    if "colab_url" not in launch:
        assert "Colab" not in prose, "the prose offers Colab, but no Colab button is configured"
    if "binderhub_url" not in launch:
        assert "Binder" not in prose, "the prose offers Binder, but no Binder button is configured"


def test_citations_read_as_author_and_year(book_build: Build) -> None:
    """Citations and the reference list use one readable label, never `[PyTorchcontributors25]`."""
    refs = (book_build.html / "book" / "references.html").read_text(encoding="utf-8")
    labels = re.findall(r'<span class="label"><span class="fn-bracket">\[</span>([^<]*)<', refs)
    assert len(labels) >= 10, "the reference list is empty"
    odd = [label for label in labels if not re.fullmatch(r"[^\d]+, \d{4}[a-z]?", label)]
    assert not odd, f"labels that are not 'Author, year': {odd}"
    page = (book_build.html / "book" / "03_conv_layer.html").read_text(encoding="utf-8")
    assert "Hubel and Wiesel, 1962</a>" in page


def test_every_chapter_states_its_reading_time(book_build: Build) -> None:
    chapters = [f for f in toc_files() if re.search(r"/\d\d_", f)]
    assert len(chapters) >= 12
    for name in chapters:
        html = (book_build.html / f"{name}.html").read_text(encoding="utf-8")
        found = re.search(
            r"Reading time: about (\d+) minutes \(([\d,]+) words of prose, (\d+)", html
        )
        assert found, f"{name} has no reading-time line"
        minutes, words, cells = (int(g.replace(",", "")) for g in found.groups())
        assert words > 300 and cells > 3, f"{name}: counted {words} words, {cells} cells"
        assert minutes == max(1, -(-(words + 100 * cells) // 200)), name  # 200 wpm, 30 s a cell
    intro = (book_build.html / "book" / "intro.html").read_text(encoding="utf-8")
    assert "Reading time" not in intro, "only chapters get a reading time"
