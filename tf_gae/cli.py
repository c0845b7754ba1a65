"""The `tf-gae` command (also `python -m tf_gae`): train, sweep, evaluate, plot, demo.

Usage errors are one line on stderr naming the fix, exit status 2, and nothing is written into an
existing run directory. A run that diverges (non-finite loss, weights, statistics or observations)
stops with exit status 1 and keeps its last good checkpoint (a sweep goes on without such an agent, and
exits 1 only if every agent diverged); Ctrl-C stops with status 130 and one line, leaving a run that
`--resume` continues. Nothing a run directory holds is executed: a config.json that
names a `module:Id` environment is refused unless the same `--env` (or `--trust-run-dir`) is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from tf_gae.api import DEFAULT_ALGO, ProgressBar  # ProgressBar re-exported: `tf_gae.cli.ProgressBar`
from tf_gae.checks import require
from tf_gae.config import CONFIGS, RENAMED_FIELDS, SWEEPABLE, command_line_message, flag_name

__all__ = ["main", "build_parser", "ProgressBar"]


INTERRUPTED = 130  # the shell's status for a process ended by Ctrl-C (128 + SIGINT)


class UsageError(Exception):
    """A user error: printed as one line, exit status 2."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are a single line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        for old, new in RENAMED_FIELDS.items():  # a flag from an older release: name the one that replaced it
            if flag_name(old) in (word.split("=")[0] for word in message.split()):
                message = f"{flag_name(old)} is called {flag_name(new)} now"
        self.exit(2, f"tf-gae: error: {message} (see `{self.prog} --help`)\n")


def _unit_interval(name: str):
    def parse(text: str) -> float:  # in the words of the configuration's own check (tf_gae.config)
        try:
            value = float(text)
        except ValueError:
            value = math.nan  # not a number: refused by the range check below, in the same words
        require(0.0 <= value <= 1.0, name, "a number in [0, 1]", text, error=argparse.ArgumentTypeError)
        return value

    return parse


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer widths such as 64,64, got {text!r}") from None


def _config_fields():
    """Every configuration field of every algorithm, once (the first class's help text)."""
    fields = {}
    for config_class in CONFIGS.values():
        for config_field in dataclasses.fields(config_class):
            fields.setdefault(config_field.name, config_field)
    return list(fields.values())


def _help_by_algo(config_field: dataclasses.Field) -> str:
    """The field's help text, and each algorithm's own where it says something else (REINFORCE's --n-steps
    is the longest episode, not a rollout's length)."""
    seen, parts = {config_field.metadata["help"]}, [config_field.metadata["help"]]
    for algo, config_class in CONFIGS.items():
        text = next((f.metadata["help"] for f in dataclasses.fields(config_class) if f.name == config_field.name), None)
        if text is not None and text not in seen:
            seen.add(text)
            parts.append(f"{algo}: {text}")
    return "; ".join(parts)


def _defaults_by_algo(name: str) -> str:
    defaults = []
    for algo, config_class in CONFIGS.items():
        for config_field in dataclasses.fields(config_class):
            if config_field.name == name:
                value = config_field.default
                value = ",".join(map(str, value)) if isinstance(value, tuple) else value
                defaults.append(f"{algo}: {value}")
    return "; ".join(defaults)


def _seed_list(text: str) -> list[int]:
    """'0-19' (a range, both ends included) or '0,1,5', or a mix: '0-3,10'."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            seeds += list(range(int(first), int(last) + 1)) if last else [int(first)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes whole numbers like 0-19 or 0,1,5, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"--seeds names no seed: {text!r}; e.g. 0-19")
    return seeds


def _number_list(flag: str, unit_interval: bool):
    parse_one = _unit_interval(flag) if unit_interval else float

    def parse(text: str) -> list[float]:
        try:
            return [parse_one(part) for part in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes numbers separated by commas, got {text!r}") from None

    return parse


def _add_config_flags(parser: argparse.ArgumentParser, grid: bool = False) -> None:
    """--algo and a flag for every configuration field; with `grid`, the settings a sweep varies take
    comma-separated lists, and --seed is left to --seeds."""
    parser.add_argument("--algo", choices=["reinforce", "a2c", "ppo"], default=None, help=f"algorithm (default {DEFAULT_ALGO})")
    for config_field in _config_fields():
        if grid and config_field.name == "seed":
            continue
        flag = flag_name(config_field.name)
        help_text = f"{_help_by_algo(config_field)} (default {_defaults_by_algo(config_field.name)})".replace("%", "%%")
        common = dict(dest=config_field.name, default=None, help=help_text)
        if grid and config_field.name in SWEEPABLE:
            unit = config_field.name in ("gamma", "lam")
            parser.add_argument(flag, type=_number_list(flag, unit), **{**common, "help": help_text + "; a list is a grid axis"})
        elif config_field.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif config_field.name in ("gamma", "lam"):
            parser.add_argument(flag, type=_unit_interval(flag), **common)
        elif config_field.name == "hidden_sizes":
            parser.add_argument(flag, type=_int_tuple, **{**common, "help": help_text + " (comma-separated)"})
        else:
            kind = {"int": int, "float": float, "str": str}[str(config_field.type)]
            parser.add_argument(flag, type=kind, **common)


_TRUST_HELP = "import the module:Id environment the run's config.json names (only for a run directory you trust)"


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="tf-gae", description="Generalized Advantage Estimation in TensorFlow 2 / Keras, from theory to practice."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    train = commands.add_parser("train", help="train an agent and write a run directory")
    _add_config_flags(train)
    train.add_argument("--run-dir", type=Path, default=None, help="run directory (default runs/<env>__<algo>__s<seed>__<time>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    train.add_argument("--eval-episodes", type=int, default=20, help="deterministic evaluation episodes at the end (0 = none)")
    train.add_argument("--trust-run-dir", action="store_true", help=_TRUST_HELP)

    sweep = commands.add_parser(
        "sweep", help="train seeds × a grid of λ, γ, learning rates through one compiled program",
        description="Every combination of --seeds and the values of --lam, --gamma and --learning-rate (comma-"
        "separated: a list is a grid axis) trains as its own agent through one compiled program, with the "
        "environment in the graph; each writes a run directory into --out, beside summary.csv and sweep.png. "
        "A2C agents train side by side along an agent axis (one batched program), PPO's with --side-by-side; "
        "others one after another.",
    )  # fmt: skip
    _add_config_flags(sweep, grid=True)
    sweep.add_argument("--seeds", type=_seed_list, default=[0], help="seeds of every grid point: 0-19 or 0,1,5 (default 0)")
    sweep.add_argument("--out", type=Path, default=None, help="a new folder (default sweeps/<env>__<algo>__<time>)")
    sweep.add_argument("--eval-episodes", type=int, default=0, help="deterministic evaluation episodes per agent (0 = none)")
    how = sweep.add_mutually_exclusive_group()
    how.add_argument(  # both set agent_axis, tf_gae.sweep's argument (None, its default: the algorithm's way)
        "--one-by-one", dest="agent_axis", action="store_const", const=False,
        help="train A2C agents one after another, not side by side: each agent's rows are then its solo run's "
        "bit for bit (side by side they agree to float32 rounding)",
    )  # fmt: skip
    how.add_argument(
        "--side-by-side", dest="agent_axis", action="store_const", const=True,
        help="train PPO agents side by side too (their minibatch size must divide the rollout); on two cores "
        "they were slower side by side than one after another (README's benchmark)",
    )  # fmt: skip

    evaluate = commands.add_parser("evaluate", help="evaluate a run's newest checkpoint; prints the result as one JSON line")
    evaluate.add_argument("run_dir", type=Path)
    evaluate.add_argument("--episodes", type=int, default=20)
    evaluate.add_argument("--seed", type=int, default=10_000, help="episode i uses seed + i (0 ≤ seed < 2^31)")
    evaluate.add_argument("--stochastic", action="store_true", help="sample actions instead of the mode")
    evaluate.add_argument("--write", action="store_true", help="also write the result to RUN_DIR/eval.json (replacing training's)")
    evaluate.add_argument("--env", dest="env_id", default=None, help="the run's module:Id environment, to allow importing its module")
    evaluate.add_argument("--trust-run-dir", action="store_true", help=_TRUST_HELP)

    plot = commands.add_parser("plot", help="learning curve: median and interquartile range over runs of one configuration")
    plot.add_argument("run_dirs", type=Path, nargs="+")
    plot.add_argument("--out", type=Path, default=None, help="PNG path (default RUN_DIR/learning_curve.png for one run)")

    demo = commands.add_parser("demo", help="compute GAE on a sample rollout and print every quantity")
    demo.add_argument("--gamma", type=_unit_interval("--gamma"), default=0.99, help="discount γ (default 0.99)")
    demo.add_argument("--lam", type=_unit_interval("--lam"), default=0.95, help="GAE λ (default 0.95)")
    return parser


# ---------------------------------------------------------------------------------------------- train


def _train(args: argparse.Namespace) -> int:
    from tf_gae.api import TrainingInterrupted, train

    if args.eval_episodes < 0:
        raise UsageError(f"--eval-episodes must be ≥ 0, got {args.eval_episodes}")
    given = {f.name: getattr(args, f.name) for f in _config_fields() if getattr(args, f.name, None) is not None}
    env = given.pop("env_id", None)
    if not args.resume and args.run_dir is None:
        from tf_gae.api import default_run_dir

        env_id = env or _config_default("env_id")
        args.run_dir = default_run_dir(env_id, args.algo or DEFAULT_ALGO, given.get("seed", _config_default("seed")))
    try:
        train(
            env, args.algo, run_dir=args.run_dir, resume=args.resume, trust_run_dir=args.trust_run_dir,
            eval_episodes=args.eval_episodes, **given,
        )  # fmt: skip
    except ValueError as error:  # ConfigError, RunDirectoryError, unknown env or unsupported spaces
        raise UsageError(command_line_message(error)) from None
    except RuntimeError as error:  # TrainingDiverged (imported here: the module above needs no TensorFlow)
        from tf_gae.trainers import TrainingDiverged

        if not isinstance(error, TrainingDiverged):
            raise
        print(f"tf-gae: training stopped: {command_line_message(error)}", file=sys.stderr)
        return 1
    except TrainingInterrupted as error:
        print(f"tf-gae: {error}", file=sys.stderr)
        return INTERRUPTED
    return 0


def _sweep(args: argparse.Namespace) -> int:
    import time

    from tf_gae.sweeps import sweep

    if args.eval_episodes < 0:
        raise UsageError(f"--eval-episodes must be ≥ 0, got {args.eval_episodes}")
    given = {f.name: getattr(args, f.name) for f in _config_fields() if getattr(args, f.name, None) is not None}
    env = given.pop("env_id", None) or _config_default("env_id")
    grid = {name: given.pop(name) for name in SWEEPABLE if name in given and len(given[name]) > 1}
    given.update({name: given[name][0] for name in SWEEPABLE if name in given})  # one value: shared by all
    algo = args.algo or DEFAULT_ALGO
    out = args.out or Path("sweeps") / f"{env}__{algo}__{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        result = sweep(env, algo, seeds=args.seeds, grid=grid, out_dir=out, eval_episodes=args.eval_episodes,
                       agent_axis=args.agent_axis, **given)  # fmt: skip
    except ValueError as error:  # ConfigError, RunDirectoryError
        raise UsageError(command_line_message(error)) from None
    if all(agent.diverged for agent in result.agents):  # an agent that diverges is a result; all of them, a failure
        print("tf-gae: sweep: every agent diverged; lower --learning-rate or set --max-grad-norm", file=sys.stderr)
        return 1
    return 0


def _config_default(name: str) -> Any:
    from tf_gae.config import TrainerConfig

    return next(f.default for f in dataclasses.fields(TrainerConfig) if f.name == name)


def _evaluate(args: argparse.Namespace) -> int:
    from tf_gae.api import load
    from tf_gae.runs import RunDirectory, RunDirectoryError

    if args.episodes < 1:
        raise UsageError(f"--episodes must be ≥ 1, got {args.episodes}")
    if not 0 <= args.seed < 2**31:
        raise UsageError(f"--seed must be a whole number in [0, 2^31), got {args.seed}")
    try:
        agent = load(args.run_dir, env=args.env_id, trust_run_dir=args.trust_run_dir)
    except ValueError as error:
        raise UsageError(command_line_message(error)) from None
    result = agent.evaluate(episodes=args.episodes, seed=args.seed, deterministic=not args.stochastic)
    result.pop("returns")
    print(json.dumps(result, sort_keys=True), flush=True)  # the result first: a failed write loses nothing
    if args.write:
        try:
            RunDirectory.open(args.run_dir).write_eval(result)
        except RunDirectoryError as error:
            raise UsageError(f"{command_line_message(error)}; the result is printed above") from None
    return 0


def _plot(args: argparse.Namespace) -> int:
    from tf_gae.api import reward_threshold
    from tf_gae.plotting import plot_learning_curves
    from tf_gae.runs import RunDirectory

    out = args.out
    if out is None:
        out = args.run_dirs[0] / "learning_curve.png" if len(args.run_dirs) == 1 else Path("learning_curves.png")
    try:
        env_ids = {RunDirectory.open(d).config.get("env_id") for d in args.run_dirs if (d / "config.json").is_file()}
        only = env_ids.pop() if len(env_ids) == 1 else None
        threshold = reward_threshold(only) if isinstance(only, str) else None
        path = plot_learning_curves(list(args.run_dirs), out, threshold=threshold)
    except (ValueError, OSError) as error:
        raise UsageError(command_line_message(error)) from None
    print(f"tf-gae: wrote {path} ({len(args.run_dirs)} run{'s' if len(args.run_dirs) > 1 else ''})", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from tf_gae.demo import gae_table

            print(gae_table(gamma=args.gamma, lambda_=args.lam))
            return 0
        if args.command == "train":
            return _train(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "plot":
            return _plot(args)
    except (UsageError, FileNotFoundError) as error:
        print(f"tf-gae: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tf-gae: interrupted", file=sys.stderr)
        return INTERRUPTED
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
