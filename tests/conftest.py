"""Shared fixtures and helpers: one strict build of the book per test session; one offline
Chromium for the browser tests; torch thread counts; pieces of case functions for
:func:`cnnnotes.oracle.agree`; fake data files."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from cnnnotes.oracle.cases import Case, Draw
from cnnnotes.oracle.sweep import torch_output_size
from cnnnotes.training.data import IDX_FILES

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


def gen(seed: int) -> torch.Generator:
    """A fresh CPU generator seeded with ``seed``: each test draws its own stream."""
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class Build:
    returncode: int
    log: str
    html: Path
    reused: bool = False


@pytest.fixture(scope="session")
def book_build(testrun_uid: str) -> Build:
    """Build the whole book from scratch (``--all``: no cached page hides a warning).

    Once per test run: under pytest-xdist every worker that needs the site takes a file
    lock; the first builds and records the result for this run, the others reuse it.
    ``CNNNOTES_REUSE_BUILD=1`` serves an existing ``_build/html`` instead, for working on
    the browser tests; its log is empty, so the strict-build test skips then.
    """
    if os.environ.get("CNNNOTES_REUSE_BUILD") == "1" and (HTML / "index.html").is_file():
        return Build(0, "", HTML, reused=True)
    (ROOT / "_build").mkdir(exist_ok=True)
    with (ROOT / "_build" / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        record = ROOT / "_build" / f".build-{testrun_uid}.json"
        if record.is_file():
            done = json.loads(record.read_text(encoding="utf-8"))
            return Build(done["returncode"], done["log"], HTML)
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
        bindir = Path(sys.executable).parent
        vendor = [sys.executable, "scripts/vendor_assets.py"]
        subprocess.run(vendor, cwd=ROOT, check=True, env=env)
        proc = subprocess.run(
            [str(bindir / "jupyter-book"), "build", ".", "-W", "-n", "--keep-going", "--all"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        log = proc.stdout + proc.stderr
        record.write_text(json.dumps({"returncode": proc.returncode, "log": log}), encoding="utf-8")
        return Build(proc.returncode, log, HTML)


BOOK_FIXTURES = {"book_build": "site", "installed": "wheel"}
"""Fixtures that build the website or install a wheel and run a chapter (the slow part),
with the pytest-xdist group of the tests that use them."""


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Iterator[None]:
    """Mark every test that builds, browses or installs the book as ``site``.

    ``make check`` skips them. Under ``--dist loadgroup`` the tests of the built site form
    one group and those of the installed wheel another, so the two slow parts run on two
    workers at once, each starting its browser or building its wheel once, while the other
    worker runs the unit tests. Any worker may still run a site test: the ``book_build``
    fixture's lock builds the book once per run all the same.

    The marks are added before the other plugins' hooks (``-m`` and pytest-xdist read them);
    after them, :func:`group_node_ids` makes sure pytest-xdist sees the groups.
    """
    for item in items:
        used = [f for f in getattr(item, "fixturenames", ()) if f in BOOK_FIXTURES]
        if used:
            item.add_marker(pytest.mark.site)
            item.add_marker(pytest.mark.xdist_group(BOOK_FIXTURES[used[0]]))
    result = yield
    if getattr(config.option, "loadgroup", False):  # set on pytest-xdist's workers only
        group_node_ids(items)
    return result


def group_node_ids(items: list[pytest.Item]) -> None:
    """Append ``@group`` to the node id of each test with an ``xdist_group`` mark, unless
    pytest-xdist has already done so.

    pytest-xdist 3.8 groups tests by that suffix, but writes it where pytest 9.2 no longer
    reads node ids (pytest-dev/pytest-xdist#1386): without this, ``--dist loadgroup``
    spreads a group over every worker, and a worker that reaches a site test while the
    other builds the book waits for the whole build.
    """
    for item in items:
        groups = sorted({str(m.args[0]) for m in item.iter_markers("xdist_group") if m.args})
        if not groups or item.nodeid.endswith("@" + "_".join(groups)):
            continue
        nodeid = f"{item.nodeid}@{'_'.join(groups)}"
        if hasattr(item, "_id"):  # pytest >= 9.2: a structured node id
            item._id = type(item._id).parse(nodeid)
        else:  # older pytest, where pytest-xdist's own hook already did this
            item._nodeid = nodeid


# ---------------------------------------------------------------- the browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    # offline: no host name resolves, so nothing outside the loopback site can load
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium with a throw-away profile (Playwright's browser context)."""
    playwright = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "Chromium is missing: apt-get install chromium"
    with tempfile.TemporaryDirectory() as profile, playwright.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One Chromium for every browser test of the run (a launch takes seconds); each test
    opens and closes its own pages."""
    with chromium() as context:
        yield context


def outside_requests(page: object, site: str, allowed: tuple[str, ...] = ("data:",)) -> list[str]:
    """The list, growing as ``page`` runs, of the addresses it asks for outside ``site``.

    It listens and does not intercept (Playwright's interception turns the browser's cache
    off and routes every request through Python); the browser is offline
    (``--host-resolver-rules``), so such a request fails quickly as well as being listed.
    """
    found: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith((site, *allowed)) else found.append(r.url)
    )
    return found


@pytest.fixture
def threads() -> Iterator[None]:
    """Let a test set torch's thread count; restore the count it found afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """A module of many tiny tensor ops: one thread is deterministic and, on a busy
    machine, many times faster than two. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- oracle cases


def int_or_pair(draw: Draw, pair: tuple[int, int]) -> int | tuple[int, int]:
    """The pair, or (half of the time) a plain int when both parts agree: both spellings
    of a 2-D argument get tested."""
    return pair[0] if pair[0] == pair[1] and draw.flag() else pair


def refusing(fn: Callable[..., object], error: type[Exception], match: str = "") -> Callable:
    """``fn``, returning None where it raises ``error`` with ``match`` in its message.

    :func:`~cnnnotes.oracle.agree` counts any two refusals as agreeing; wrapping both
    sides (ours with ``ValueError``, PyTorch with ``RuntimeError``) checks that ours
    refuses with the right exception: any other error stays a refusal, which then
    disagrees with the reference's None.
    """

    def call(*args: object) -> object:
        try:
            return fn(*args)
        except error as exc:
            if match not in str(exc):
                raise
            return None

    return call


def conv_size_case(draw: Draw) -> Case:
    """One dimension of a convolution, refused ones included: size 1-80, kernel 1-11,
    stride 1-8, padding 0-8, dilation 1-5."""
    return {"size": draw.int(1, 80), "kernel_size": draw.int(1, 11), "stride": draw.int(1, 8),
            "padding": draw.int(0, 8), "dilation": draw.int(1, 5)}  # fmt: skip


def conv_height(size: int, k: int, s: int, p: int, d: int) -> int | None:
    """Output height of a real convolution on a ``size × 1`` input, or None if PyTorch refuses."""
    return torch_output_size(nn.Conv2d(1, 1, (k, 1), (s, 1), (p, 0), (d, 1), bias=False), size)


# ---------------------------------------------------------------- data files


def fake_sources(folder: Path, body_size: int | None = None) -> Path:
    """Four gzip files of all-zero IDX files (fast to make) in ``folder``: correctly
    sized, or with ``body_size`` bytes after the header (a truncated file)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, (magic, count, shape) in IDX_FILES.items():
        header = struct.pack(f">{2 + len(shape)}I", magic, count, *shape)
        size = count * max(1, math.prod(shape)) if body_size is None else body_size
        (folder / f"{stem}.gz").write_bytes(gzip.compress(header + bytes(size), compresslevel=1))
    return folder
