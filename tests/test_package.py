"""The package's shape: no import cycle, small modules, figures, names that say what they mean."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT

PACKAGE = ROOT / "cnnnotes"
OVERSIZED: set[str] = set()  # every module stays under 250 lines


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
                found.add(sub if (ROOT / Path(*sub.split("."))).with_suffix(".py").exists()
                          else node.module)  # fmt: skip
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


@pytest.mark.parametrize("name", sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")))
def test_modules_stay_small(name: str) -> None:
    if name in OVERSIZED:
        pytest.skip(f"{name} is known to be too long")
    lines = len((PACKAGE / name).read_text(encoding="utf-8").splitlines())
    assert lines < 250, f"{name} has {lines} lines"


def test_python_m_cnnnotes_train_works() -> None:
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-m", "cnnnotes", "train", "--help"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0 and "--out" in proc.stdout, proc.stderr


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
