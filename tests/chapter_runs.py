"""Running a chapter the way a reader does, for the chapters' tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_quick(module: str, out: Path, timeout: float = 600) -> str:
    """`python -m <module> --quick --out <out> --cache <out>/cache` from the repository root; its stdout.

    Fails the test with the end of stderr if the chapter does not exit 0.
    """
    completed = subprocess.run(
        [sys.executable, "-m", module, "--quick", "--out", str(out), "--cache", str(out / "cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout
