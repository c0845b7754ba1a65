"""The chapter contract's command line, shared by every chapter (docs/design.md, "The chapters").

    python -m chapters.chN_name [--quick] [--out DIR] [--seed S]

Chapters that run a study of many training runs also take [--workers N] [--cache DIR].
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

__all__ = ["default_out", "parse_chapter_args", "print_exercises"]


def default_out(module: str) -> Path:
    """runs/chapters/<chN_name> for the module `chapters.chN_name`."""
    return Path("runs/chapters") / module.rsplit(".", 1)[-1]


def parse_chapter_args(
    module: str, description: str, quick_help: str, argv: Sequence[str] | None = None, study: bool = False
) -> argparse.Namespace:
    """Parse --quick, --out and --seed, and create the --out folder.

    With `study`, also --workers (runs at once, default up to 2) and --cache (one JSON per finished run,
    default runs/chapters/<chN_name>_cache; created), for chapters that train many runs (tf_gae.parallel).
    """
    out = default_out(module)
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", type=Path, default=out, help=f"folder for the figures (default {out})")
    seed_help = "first seed; the study uses seed, seed+1, …" if study else "seed of every random quantity"
    parser.add_argument("--seed", type=int, default=0, help=f"{seed_help} (default 0)")
    if study:
        cache = out.with_name(out.name + "_cache")
        parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="runs at once (default: up to 2)")
        parser.add_argument("--cache", type=Path, default=cache, help=f"folder of per-run results (default {cache})")
    args = parser.parse_args(argv)
    if study and args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    args.out.mkdir(parents=True, exist_ok=True)
    if study:
        args.cache.mkdir(parents=True, exist_ok=True)
    return args


def print_exercises(module: str, exercises: Sequence[str]) -> None:
    """The chapter's closing exercises, with where their answers live and how to check an attempt."""
    name = module.rsplit(".", 1)[-1].split("_")[0]  # "ch2"
    print(f"Exercises (answers in chapters/answers/{name}.py; check yours with: pytest tests/test_exercises.py -k {name})")
    for number, text in enumerate(exercises, start=1):
        lines = text.split("\n")
        print(f"  {number}. {lines[0]}")
        for line in lines[1:]:
            print(f"     {line}")
    print()
