"""The command-line conventions of every ``python -m`` entry point of the project.

Every argument is validated before any work starts, and every user error
(a bad flag, a missing or corrupt file, a refused resume) ends the process
with one line ``error: <message>`` on stderr and exit status 2, never with a
traceback. `ArgumentParser` gives the flag checks; `run_main` turns the
library's ``ValueError`` and ``OSError`` into that one line (set
``RC_TRACEBACK=1`` to see the traceback instead).
"""
import argparse
import os
import sys


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one line: ``error: ...`` (exit 2)."""

    def error(self, message):
        self.exit(2, f"error: {message}\n")


def positive_int(text):
    """An argparse type: an integer >= 1."""
    return _number(text, int, lambda v: v >= 1, "an integer >= 1")


def non_negative_int(text):
    """An argparse type: an integer >= 0."""
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def positive_float(text):
    """An argparse type: a finite float > 0."""
    return _number(text, float, lambda v: 0 < v < float("inf"), "a finite number > 0")


def non_negative_float(text):
    """An argparse type: a finite float >= 0."""
    return _number(text, float, lambda v: 0 <= v < float("inf"), "a finite number >= 0")


def _number(text, kind, ok, expected):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def check_writable_dir(path, flag="--out"):
    """Create ``path`` if needed and fail now, not after the computing, if it is not writable."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{flag} {path}: cannot create the directory ({e.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: the directory is not writable")
    return path


def run_main(main, argv=None):
    """Call ``main(argv)``; a user error becomes ``error: <message>`` on stderr, exit 2."""
    try:
        return main(argv)
    except (ValueError, OSError) as e:
        if os.environ.get("RC_TRACEBACK"):
            raise
        print(f"error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
