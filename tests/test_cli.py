"""The one entry point: ``python -m cnnnotes train|predict|cache`` and the ``cnnnotes`` script.

Each command runs as a real process here (the in-process refusals of each command are in
tests/test_bad_input.py): help works everywhere, a bad call is exit status 2 with one
``error:`` line, no module is executed twice, and the commands the README and the set-up
page print are accepted as printed.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from cnnnotes.__main__ import COMMANDS, main

PACKAGE = ROOT / "cnnnotes"


def cnnnotes(*args: str, python: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``python [python options] -m cnnnotes ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, *python, "-m", "cnnnotes", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip


def call(args: list[str], capsys) -> tuple[int, str, str]:
    """``main(args)`` in this process: exit status, stdout, stderr (argparse's exits included)."""
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "commands:\n  train "),
        (["--help"], "'cnnnotes COMMAND --help'"),
        (["train", "--help"], "--out OUT"),
        (["predict", "--help"], "--invert {auto,yes,no}"),
        (["cache", "--help"], "--clear"),
    ],
    ids=str,
)
def test_help_everywhere(args: list[str], expected: str, capsys) -> None:
    code, out, err = call(args, capsys)
    assert code == 0 and expected in out and err == "", err


@pytest.mark.parametrize("args", [[], ["--help"]], ids=str)
def test_help_as_a_real_command(args: list[str]) -> None:
    proc = cnnnotes(*args)
    assert proc.returncode == 0 and "  predict  print the top classes" in proc.stdout, proc.stderr


def test_python_m_cnnnotes_train_works() -> None:
    """With every warning an error: importing the training stack warns about nothing."""
    proc = cnnnotes("train", "--help", python=("-W", "error"))
    assert proc.returncode == 0 and "--out" in proc.stdout, proc.stderr


def test_cache_lists_an_empty_cache(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CNNNOTES_CACHE", str(tmp_path / "cache"))
    assert call(["cache"], capsys) == (0, f"0 cached model(s) in {tmp_path / 'cache'}\n", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fly"], "cnnnotes: error: unknown command 'fly'; choose one of train, predict, cache"),
        (["--verbose"], "cnnnotes: error: unknown command '--verbose'"),
        (["train", "--epochs", "0"], "argument --epochs: must be an int >= 1, got 0"),
        (["predict"], "the following arguments are required: checkpoint, images"),
        (["cache", "--all"], "unrecognized arguments: --all"),
    ],
    ids=str,
)
def test_a_bad_call_is_one_error_line(tmp_path: Path, capsys, args: list[str], message: str):
    out_folder = ["--out", str(tmp_path / "out")] if args[0] == "train" else []
    code, out, err = call([*args, *out_folder], capsys)
    lines = err.splitlines()
    assert code == 2 and out == "" and "Traceback" not in err
    assert lines[0].startswith("usage: cnnnotes") and message in lines[-1], err
    assert [line for line in lines if "error:" in line] == [lines[-1]]
    assert not (tmp_path / "out").exists()


def test_a_bad_call_as_a_real_command() -> None:
    proc = cnnnotes("fly")
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("cnnnotes: error: unknown command 'fly'")


def test_the_console_script() -> None:
    """``pip install -e .`` (or ``make``) puts ``cnnnotes`` beside the interpreter."""
    script = shutil.which("cnnnotes", path=Path(sys.executable).parent)
    if script is None:
        pytest.skip("no cnnnotes script beside this Python: reinstall with pip install -e .")
    proc = subprocess.run([script, "predict", "--help"], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.startswith("usage: cnnnotes predict"), proc.stderr
    proc = subprocess.run([script, "fly"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "unknown command 'fly'" in proc.stderr


EXECUTIONS = """
import collections, json, runpy, sys
runs = collections.Counter()
sys.addaudithook(lambda event, args: event == "exec" and runs.update([args[0].co_filename]))
{before}
for command in sys.argv[1:] or [""]:
    sys.argv = ["cnnnotes", *command.split()]
    try:
        runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
print(json.dumps(runs))
"""


def executions(module: str, *commands: str, before: str = "") -> dict[str, int]:
    """How often each file of the package was executed while ``python -m MODULE COMMAND`` ran,
    once for each command (a string of arguments), all in one process."""
    code = EXECUTIONS.format(module=module, before=before)
    proc = subprocess.run([sys.executable, "-c", code, *commands], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout.splitlines()[-1])
    return {name: n for name, n in runs.items() if Path(name).is_relative_to(PACKAGE)}


def test_nothing_is_executed_twice() -> None:
    """Three commands in one process: each module runs once; the entry point once a command."""
    runs = executions("cnnnotes", "cache", "train --help", "predict --help")
    assert runs.pop(str(PACKAGE / "__main__.py")) == 3
    for module, _ in COMMANDS.values():
        assert runs[str(ROOT / module.replace(".", "/")) + ".py"] == 1
    assert {name: n for name, n in runs.items() if n != 1} == {}


def test_a_module_executed_twice_is_seen() -> None:
    """The check above can fail: a module run as a script after being imported runs twice."""
    runs = executions("cnnnotes._io", before="import cnnnotes._io")
    assert runs[str(PACKAGE / "_io.py")] == 2


def test_only_the_entry_point_runs_as_a_script() -> None:
    """No module but ``cnnnotes/__main__.py`` has an ``if __name__ == "__main__"`` block."""
    scripts = [
        str(path.relative_to(ROOT))
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
    ]
    assert scripts == ["cnnnotes/__main__.py"]


def documented_commands() -> list[tuple[str, list[str]]]:
    """Every ``cnnnotes COMMAND ...`` the README, the set-up page and the Makefile print."""
    found = []
    for page in (ROOT / "README.md", ROOT / "book" / "setup.md", ROOT / "Makefile"):
        text = page.read_text(encoding="utf-8").replace("\\\n", " ")  # continued lines
        pattern = r"(?:-m cnnnotes|bin/cnnnotes|`cnnnotes) (train|predict|cache)([^`\n]*)"
        for match in re.finditer(pattern, text):
            found.append((f"{page.name}: {match.group(0)}", [match[1], *shlex.split(match[2])]))
    return found


def test_the_documented_commands_are_accepted() -> None:
    """Each printed command parses as printed (its options exist, its values are allowed)."""
    from cnnnotes.training import cli, predict

    commands = documented_commands()
    assert {args[0] for _, args in commands} >= {"train", "predict"}, commands
    assert any(where.startswith("Makefile: -m cnnnotes train --") for where, _ in commands)
    parsers = {"train": cli.parser, "predict": predict.parser}
    for where, (name, *args) in commands:
        if name == "cache":
            assert set(args) <= {"--clear"}, where
            continue
        if not args or "--help" in args or "..." in args:
            continue
        try:
            parsers[name]().parse_intermixed_args(args)
        except SystemExit:
            pytest.fail(f"{where} does not parse")
