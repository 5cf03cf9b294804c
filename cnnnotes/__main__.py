"""The command line: ``python -m cnnnotes COMMAND ...``, or ``cnnnotes COMMAND ...`` once installed.

Commands:

* ``train``: train a model, write ``metrics.json`` and a checkpoint (:mod:`~cnnnotes.training.cli`);
* ``predict``: the top classes of images under a checkpoint (:mod:`~cnnnotes.training.predict`);
* ``cache``: show or clear the cache of trained models (:mod:`cnnnotes.training.cache`).

``cnnnotes COMMAND --help`` lists a command's options. This is the package's only entry
point: no other module runs anything when executed, so nothing is imported twice.
"""

from __future__ import annotations

import importlib
import os
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("cnnnotes.training.cli", "train a model; write metrics.json and model.pt"),
    "predict": ("cnnnotes.training.predict", "print the top classes of images under a model"),
    "cache": ("cnnnotes.training.cache", "show or clear the cache of trained models"),
}

USAGE = "usage: cnnnotes {" + ",".join(COMMANDS) + "} [options]\n"


def usage() -> str:
    """The top-level help: one line per command.

    >>> print(usage().splitlines()[0])
    usage: cnnnotes {train,predict,cache} [options]
    """
    lines = [USAGE, "commands:"]
    lines += [f"  {name:<8} {text}" for name, (_, text) in COMMANDS.items()]
    lines.append("\n'cnnnotes COMMAND --help' lists a command's options.")
    return "\n".join(lines)


def run(argv: list[str]) -> int:
    """Dispatch ``argv`` (without the program name) to its command's ``main``."""
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in COMMANDS:
        print(
            f"{USAGE.rstrip()}\ncnnnotes: error: unknown command {argv[0]!r}; "
            f"choose one of {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return module.main(argv[1:], prog=f"cnnnotes {argv[0]}")


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit status 0 on success, 2 (one line, no traceback) on a bad call.

    Without a command, or with ``-h``/``--help``, it prints the commands and succeeds.
    Ctrl-C ends a command with status 130 and one line; a closed pipe (``| head``) quietly.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        code = run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except KeyboardInterrupt:
        print(f"cnnnotes {argv[0] if argv else ''}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away: stop writing, without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
