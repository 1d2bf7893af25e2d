"""Where the worker's time goes: py-spy samples (collapsed stacks) summed per function."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy() -> str | None:
    """The py-spy executable beside the bench's Python, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.is_file() else shutil.which("py-spy")


def record(pid: int, out: Path, seconds: int) -> subprocess.Popen[bytes] | None:
    """Sample ``pid`` for ``seconds`` into ``out`` (collapsed stacks); None without py-spy."""
    binary = py_spy()
    if binary is None:
        return None
    argv = [binary, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
    argv += ["--duration", str(seconds), "--rate", "100", "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def summarize(
    collapsed: str, top: int = 15
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Share of samples per function: (self time, inclusive time), biggest first.

    A line of collapsed stacks is ``frame;frame;...;frame count``, outermost first.

    >>> text = "main (a.py:1);f (a.py:5) 3\\nmain (a.py:1);g (b.py:2) 1\\n"
    >>> own, total = summarize(text)
    >>> own
    [('f (a.py)', 75.0), ('g (b.py)', 25.0)]
    >>> total[0]
    ('main (a.py)', 100.0)
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_function(frame) for frame in stack.split(";")]
        samples += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    share = 100 / samples if samples else 0.0
    return (
        [(name, n * share) for name, n in own.most_common(top)],
        [(name, n * share) for name, n in inclusive.most_common(top)],
    )


def _function(frame: str) -> str:
    """``name (path/file.py:line)`` → ``name (file.py)``, so a function's lines add up."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    return f"{name} ({Path(path).name})" if where else name
