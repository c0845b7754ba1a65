"""The chapter contract's command line, shared by every chapter (../shared/DESIGN.md).

    python -m chapters.chN_name [--quick] [--out DIR] [--seed S]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

__all__ = ["default_out", "parse_chapter_args"]


def default_out(module: str) -> Path:
    """runs/chapters/<chN_name> for the module `chapters.chN_name`."""
    return Path("runs/chapters") / module.rsplit(".", 1)[-1]


def parse_chapter_args(
    module: str, description: str, quick_help: str, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """Parse --quick, --out and --seed, and create the --out folder."""
    out = default_out(module)
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", type=Path, default=out, help=f"folder for the figures (default {out})")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random quantity (default 0)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return args
