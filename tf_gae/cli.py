"""The `tf-gae` command (also `python -m tf_gae`).

Errors are one line on stderr naming the fix, with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["main", "build_parser"]


def _unit_interval(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number in [0, 1], got {text!r}") from None
        if not 0.0 <= value <= 1.0:
            raise argparse.ArgumentTypeError(f"{name} must lie in [0, 1], got {value}")
        return value

    return parse


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are a single line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"tf-gae: error: {message} (see `tf-gae --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="tf-gae", description="Generalized Advantage Estimation in TensorFlow 2 / Keras, from theory to practice."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    demo = commands.add_parser("demo", help="compute GAE on a sample rollout and print every quantity")
    demo.add_argument("--gamma", type=_unit_interval("--gamma"), default=0.99, help="discount γ (default 0.99)")
    demo.add_argument("--lam", type=_unit_interval("--lam"), default=0.95, help="GAE λ (default 0.95)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from tf_gae.demo import gae_table

        print(gae_table(gamma=args.gamma, lambda_=args.lam))
        return 0
    raise AssertionError(f"unhandled command {args.command}")  # argparse refuses unknown commands


if __name__ == "__main__":
    sys.exit(main())
