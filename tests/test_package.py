"""The package's shape: no import cycle, small modules, figures, names that say what they mean."""

from __future__ import annotations

import ast
import functools
import io
import re
import subprocess
import sys
import tempfile
import tokenize
from pathlib import Path

import pytest
import torch
from conftest import ROOT

PACKAGE = ROOT / "cnnnotes"
MODULES = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """cnnnotes modules ``path`` imports, anywhere except an ``if __name__ == "__main__"`` block."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cnnnotes"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (ROOT / Path(*sub.split("."))).with_suffix(".py").exists()
                found.add(sub if is_module else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("cnnnotes"))
    found.discard("cnnnotes")
    return found


def test_the_import_graph_has_no_cycle() -> None:
    graph = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError("import cycle: " + " -> ".join([*path, node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        state[node] = 2

    for name in sorted(graph):
        visit(name, [])
    assert "cnnnotes.training.cli" not in graph["cnnnotes.training.loop"], (
        "the training loop must not import its CLI"
    )
    assert not [m for m, deps in graph.items() if "cnnnotes.__main__" in deps], (
        "only python -m runs cnnnotes.__main__: no module imports it"
    )
    assert (
        "cnnnotes.training.loop"
        not in graph["cnnnotes.training.models"] | graph["cnnnotes.training.data"]
    )


FLOWS = (
    ("training.data", "training.models", "training.loop", "analysis.metrics", "viz"),
    ("conv.shapes", "conv.ops", "oracle", "oracle.sweep", "check.core", "check.sizes"),
    ("oracle.cases", "oracle", "check.core"),
    ("training.loop", "training.recipes", "training.checkpoint", "training.cli"),
)
"""The ways the import graph flows (CONTRIBUTING.md): no module reaches one later in its line."""


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_import_graph_flows_one_way() -> None:
    graph = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}
    for flow in FLOWS:
        names = [f"cnnnotes.{m}" for m in flow]
        assert all(n in graph for n in names), f"unknown module in {flow}"
        for i, earlier in enumerate(names):
            backwards = reachable(graph, earlier) & set(names[i + 1 :])
            assert not backwards, f"{earlier} imports {sorted(backwards)}, later in {flow}"


PARTS_BELOW = {
    "conv": ("learn", "training", "analysis", "modern", "check"),
    "learn": ("training", "analysis", "modern", "check"),
    "oracle": ("training", "analysis", "modern", "check"),
}
"""What a part of the course never imports: the hand-made arithmetic comes before training."""


@pytest.mark.parametrize("part", sorted(PARTS_BELOW))
def test_earlier_parts_never_import_later_ones(part: str) -> None:
    graph = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}
    later = tuple(f"cnnnotes.{name}" for name in PARTS_BELOW[part])
    for name in sorted(n for n in graph if n.startswith(f"cnnnotes.{part}")):
        found = sorted(m for m in reachable(graph, name) if m.startswith(later))
        assert not found, f"{name} imports {found}"


# Where one module may use another's private names: only the package's private helper
# modules (validation, atomic writes, the windows shared by ops and backprop).
ALLOWED_PRIVATE = {"cnnnotes._validate", "cnnnotes._io", "cnnnotes.conv._windows"}
ALLOWED_PAIRS: set[tuple[str, str]] = set()


def test_no_module_imports_another_modules_private_names() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        name = str(path.relative_to(PACKAGE).with_suffix(""))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cnnnotes")
            ):
                continue
            if node.module in ALLOWED_PRIVATE or (name, node.module) in ALLOWED_PAIRS:
                continue
            private = [a.name for a in node.names if a.name.startswith("_") and a.name[-2:] != "__"]
            assert not private, f"{name}.py imports {private} from {node.module}"


# ----------------------------------------------------------------------------- natural sizes
# A module is sized by its idea, measured as `ruff format` lays it out with every `# fmt: skip`
# removed, so packing lines never buys room (STYLE.md). `# fmt: skip` is for tables only.

MAX_LINES = 300
FMT_SKIP = re.compile(r"#\s*fmt:\s*skip\b")


@functools.cache
def formatted_lines() -> dict[str, int]:
    """Lines of every package module once ``ruff format`` has laid out its ``# fmt: skip`` lines."""
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODULES:
            text = (PACKAGE / name).read_text(encoding="utf-8")
            copy = Path(tmp, name)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(re.sub(r"[ \t]*#\s*fmt:\s*skip[ \t]*$", "", text, flags=re.M))
        config = str(ROOT / "pyproject.toml")
        ruff = [sys.executable, "-m", "ruff", "format", "--no-cache", "--config", config, tmp]
        proc = subprocess.run(ruff, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        copies = {name: Path(tmp, name).read_text(encoding="utf-8") for name in MODULES}
    return {name: len(text.splitlines()) for name, text in copies.items()}


@pytest.mark.parametrize("name", MODULES)
def test_modules_are_sized_by_their_idea_not_by_packing(name: str) -> None:
    lines = formatted_lines()[name]
    assert lines <= MAX_LINES, f"{name} has {lines} lines as ruff format lays it out; split it"


def statement_at(tree: ast.Module, line: int) -> ast.AST | None:
    """The innermost statement a trailing comment on ``line`` belongs to (a compound statement
    by its header: ``for ... :``, ``def ... :``, ``except ... :``)."""
    found = None
    for node in ast.walk(tree):
        if not isinstance(node, (ast.stmt, ast.excepthandler)):
            continue
        body = getattr(node, "body", None)
        last = body[0].lineno - 1 if isinstance(body, list) and body else node.end_lineno
        if node.lineno <= line <= last and (found is None or node.lineno > found.lineno):
            found = node
    return found


def skips_off_tables(source: str) -> list[tuple[int, str]]:
    """``(line, statement kind)`` of each ``# fmt: skip`` that is not on a table: a module-level
    name bound to a tuple, list, dict or set literal (test cases, mistakes, ``__all__``)."""
    tree = ast.parse(source)
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    lines = [t.start[0] for t in tokens if t.type == tokenize.COMMENT and FMT_SKIP.search(t.string)]
    found = []
    for line in lines:
        node = statement_at(tree, line)
        table = (
            node in tree.body
            and isinstance(node, (ast.Assign, ast.AnnAssign))
            and isinstance(node.value, (ast.Tuple, ast.List, ast.Dict, ast.Set))
        )
        if not table:
            found.append((line, type(node).__name__))
    return found


def test_fmt_skip_holds_tables_only() -> None:
    """Tables keep their rows under ``# fmt: skip``; code is laid out by the formatter."""
    source = (
        "T = (\n    (1, 2), (3, 4),\n)  # fmt: skip\n"
        "def f():\n    x = [1,  2]  # fmt: skip\n    return g(1,\n             2)  # fmt: skip\n"
        "for a in [1,  2]:  # fmt: skip\n    pass\n"
    )
    assert skips_off_tables(source) == [(5, "Assign"), (7, "Return"), (8, "For")]
    misused = [
        f"cnnnotes/{name}:{line} ({kind})"
        for name in MODULES
        for line, kind in skips_off_tables((PACKAGE / name).read_text(encoding="utf-8"))
    ]
    assert not misused, "# fmt: skip outside a module-level literal table: " + ", ".join(misused)


def packed_assignments(source: str) -> list[int]:
    """Lines binding 3 or more names to a tuple of different expressions (``a, b, c = x, [], 1``);
    unpacking one value (``a, b, c = f()``) is not packing."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Tuple):
            continue
        names = [len(t.elts) for t in node.targets if isinstance(t, (ast.Tuple, ast.List))]
        different = len({ast.dump(value) for value in node.value.elts}) > 1
        if max(names, default=0) >= 3 and different:
            found.append(node.lineno)
    return found


def test_no_line_packs_unrelated_assignments() -> None:
    assert packed_assignments("a, b, c = x, [], 1\nd, e, f = g()\nh, i = 1, 2\n") == [1]
    packed = [
        f"cnnnotes/{name}:{line}"
        for name in MODULES
        for line in packed_assignments((PACKAGE / name).read_text(encoding="utf-8"))
    ]
    assert not packed, "one assignment per line, please: " + ", ".join(packed)


def test_recall_is_the_per_class_accuracy() -> None:
    """One name for one idea: the per-class accuracy is the recall, called recall."""
    import cnnnotes.analysis.metrics as metrics
    from cnnnotes.analysis.metrics import precision_recall, recall

    cm = torch.tensor([[3, 1, 0], [0, 4, 0], [2, 0, 0]])
    assert not hasattr(metrics, "per_class_accuracy")
    torch.testing.assert_close(recall(cm), precision_recall(cm)[1])
    assert recall(cm).tolist() == [0.75, 1.0, 0.0]


# ----------------------------------------------------------------------------- viz


@pytest.fixture
def figures():
    """Figures drawn off-screen, all closed afterwards (the backend is set for this test only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_viz_draws_and_returns_figures(figures) -> None:
    from matplotlib.figure import Figure

    from cnnnotes import viz

    viz.use_book_style()
    assert figures.rcParams["image.cmap"] == "gray"
    grid = viz.image_grid(torch.rand(5, 1, 8, 8), titles=list("abcde"), ncols=3)
    assert isinstance(grid, Figure) and len(grid.axes) == 6
    assert [ax.get_title() for ax in grid.axes[:5]] == list("abcde")
    single = viz.image_grid([torch.rand(4, 4)], symmetric=True, cmap="RdBu")
    assert isinstance(single, Figure) and len(single.axes) == 1
    m = viz.matrix_figure(torch.tensor([[1, 2], [3, 4]]), "counts")
    texts = [t.get_text() for t in m.axes[0].texts]
    assert isinstance(m, Figure) and texts == ["1", "2", "3", "4"]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda v: v.image_grid([]), ValueError, "at least one image"),
        (lambda v: v.image_grid(torch.rand(2, 4, 4), titles=["a"]), ValueError, "titles"),
        (lambda v: v.image_grid(torch.rand(2, 4, 4), ncols=0), ValueError, "ncols"),
        (lambda v: v.image_grid([[1.0]]), TypeError, "torch.Tensor"),
        (lambda v: v.matrix_figure(torch.rand(2, 2, 2)), ValueError, "shape"),
    ],
)
def test_viz_refuses_bad_input(figures, call, error, match: str) -> None:
    from cnnnotes import viz

    with pytest.raises(error, match=match):
        call(viz)
