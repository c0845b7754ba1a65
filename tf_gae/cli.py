"""The `tf-gae` command (also `python -m tf_gae`): train, evaluate, plot, demo.

Usage errors are one line on stderr naming the fix, exit status 2, and nothing is written into an
existing run directory. A run that diverges (non-finite loss) stops with exit status 1 and keeps its
last good checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

__all__ = ["main", "build_parser"]

DEFAULT_ALGO = "a2c"
_FLAG_NAMES = {"env_id": "env", "asynchronous_envs": "async-envs"}  # config field -> flag name, where they differ


class UsageError(Exception):
    """A user error: printed as one line, exit status 2."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are a single line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"tf-gae: error: {message} (see `tf-gae {self.prog.split()[-1]} --help`)\n")


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


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer widths such as 64,64, got {text!r}") from None


def _flag(field_name: str) -> str:
    return "--" + _FLAG_NAMES.get(field_name, field_name.replace("_", "-"))


def _config_fields():
    """Every configuration field of every algorithm, once (the first class's help text)."""
    from tf_gae.trainers import ALGORITHMS

    fields = {}
    for config_class, _ in ALGORITHMS.values():
        for config_field in dataclasses.fields(config_class):
            fields.setdefault(config_field.name, config_field)
    return list(fields.values())


def _defaults_by_algo(name: str) -> str:
    from tf_gae.trainers import ALGORITHMS

    defaults = []
    for algo, (config_class, _) in ALGORITHMS.items():
        for config_field in dataclasses.fields(config_class):
            if config_field.name == name:
                value = config_field.default
                value = ",".join(map(str, value)) if isinstance(value, tuple) else value
                defaults.append(f"{algo}: {value}")
    return "; ".join(defaults)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="tf-gae", description="Generalized Advantage Estimation in TensorFlow 2 / Keras, from theory to practice."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    train = commands.add_parser("train", help="train an agent and write a run directory")
    train.add_argument("--algo", choices=["reinforce", "a2c", "ppo"], default=None, help=f"algorithm (default {DEFAULT_ALGO})")
    for config_field in _config_fields():
        flag = _flag(config_field.name)
        help_text = f"{config_field.metadata['help']} (default {_defaults_by_algo(config_field.name)})".replace("%", "%%")
        common = dict(dest=config_field.name, default=None, help=help_text)
        if config_field.type in ("bool", bool):
            train.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif config_field.name in ("gamma", "lam"):
            train.add_argument(flag, type=_unit_interval(flag), **common)
        elif config_field.name == "hidden_sizes":
            train.add_argument(flag, type=_int_tuple, **{**common, "help": help_text + " (comma-separated)"})
        else:
            kind = {"int": int, "float": float, "str": str}[str(config_field.type)]
            train.add_argument(flag, type=kind, **common)
    train.add_argument("--run-dir", type=Path, default=None, help="run directory (default runs/<env>__<algo>__s<seed>__<time>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    train.add_argument("--eval-episodes", type=int, default=20, help="deterministic evaluation episodes at the end (0 = none)")

    evaluate = commands.add_parser("evaluate", help="evaluate a run's last checkpoint; prints eval.json as one line")
    evaluate.add_argument("run_dir", type=Path)
    evaluate.add_argument("--episodes", type=int, default=20)
    evaluate.add_argument("--seed", type=int, default=10_000, help="episode i uses seed + i")
    evaluate.add_argument("--stochastic", action="store_true", help="sample actions instead of the mode")

    plot = commands.add_parser("plot", help="learning curve: mean ± std over runs of one configuration")
    plot.add_argument("run_dirs", type=Path, nargs="+")
    plot.add_argument("--out", type=Path, default=None, help="PNG path (default RUN_DIR/learning_curve.png for one run)")

    demo = commands.add_parser("demo", help="compute GAE on a sample rollout and print every quantity")
    demo.add_argument("--gamma", type=_unit_interval("--gamma"), default=0.99, help="discount γ (default 0.99)")
    demo.add_argument("--lam", type=_unit_interval("--lam"), default=0.95, help="GAE λ (default 0.95)")
    return parser


# ---------------------------------------------------------------------------------------------- train


class ProgressBar:
    """One line on stderr: a bar on a terminal, a line every 10% elsewhere (CI logs)."""

    def __init__(self, total_steps: int, start_steps: int = 0, stream=None) -> None:
        self.total = total_steps
        self.start_steps = start_steps
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.last_draw = 0.0
        self.last_decile = start_steps * 10 // max(total_steps, 1)
        self.tty = self.stream.isatty()

    def update(self, env_steps: int, recent_return: float) -> None:
        now = time.perf_counter()
        fraction = min(env_steps / self.total, 1.0)
        rate = (env_steps - self.start_steps) / max(now - self.started, 1e-9)
        remaining = (self.total - env_steps) / rate if rate > 0 else math.nan
        shown = "—" if math.isnan(recent_return) else f"{recent_return:.1f}"
        text = (
            f"{env_steps:>9,}/{self.total:,} steps | return {shown:>6} (last 20 episodes) | "
            f"{rate:,.0f} steps/s | ETA {remaining:4.0f}s"
        )
        if self.tty:
            if now - self.last_draw > 0.2 or env_steps >= self.total:
                bar = "#" * int(24 * fraction) + "." * (24 - int(24 * fraction))
                self.stream.write(f"\r[{bar}] {100 * fraction:3.0f}% {text}")
                self.stream.flush()
                self.last_draw = now
        else:
            decile = env_steps * 10 // max(self.total, 1)
            if decile > self.last_decile:
                self.stream.write(f"  {100 * fraction:3.0f}% {text}\n")
                self.stream.flush()
                self.last_decile = decile

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _run_config(run) -> tuple[str, Any]:
    """(algorithm, configuration) of an existing run, from its config.json (plain JSON; nothing executed)."""
    from tf_gae.trainers import ALGORITHMS

    algo = run.config.get("algo")
    if algo not in ALGORITHMS:
        raise UsageError(f"{run.path}/config.json names no known algorithm ({algo!r})")
    config_class = ALGORITHMS[algo][0]
    saved = {f.name: run.config[f.name] for f in dataclasses.fields(config_class) if f.name in run.config}
    return algo, config_class.from_dict(saved)


def _resolve_config(args: argparse.Namespace):
    """(algo, config, run directory or None for a new run) from the flags, refusing contradictions."""
    from tf_gae.runs import RunDirectory
    from tf_gae.trainers import ALGORITHMS

    given = {
        f.name: getattr(args, f.name) for f in _config_fields() if getattr(args, f.name, None) is not None
    }
    if args.resume:
        if args.run_dir is None:
            raise UsageError("--resume needs --run-dir RUN_DIR, the folder of the run to continue")
        run = RunDirectory.open(args.run_dir)
        algo, config = _run_config(run)
        if args.algo is not None and args.algo != algo:
            raise UsageError(f"--algo {args.algo} contradicts the run's algorithm {algo}; drop --algo to resume it")
        for name, value in given.items():
            if getattr(config, name) != value:
                raise UsageError(
                    f"{_flag(name)} {value} contradicts the run's {name}={getattr(config, name)!r} in "
                    f"{args.run_dir}/config.json; drop the flag to resume (or start a new run)"
                )
        return algo, config, run
    algo = args.algo or DEFAULT_ALGO
    known = {f.name for f in dataclasses.fields(ALGORITHMS[algo][0])}
    for name in given:
        if name not in known:
            users = [a for a, (c, _) in ALGORITHMS.items() if name in {f.name for f in dataclasses.fields(c)}]
            raise UsageError(f"{_flag(name)} applies to --algo {' or '.join(users)} only, not {algo}")
    config = ALGORITHMS[algo][0](**given)
    return algo, config, None


def _train(args: argparse.Namespace) -> int:
    from tf_gae._tf import tf
    from tf_gae.plotting import plot_learning_curves
    from tf_gae.runs import RunDirectory, default_run_dir, evaluate_policy
    from tf_gae.trainers import ALGORITHMS, TrainingDiverged
    from tf_gae.trainers.base import check_environment

    if args.eval_episodes < 0:
        raise UsageError(f"--eval-episodes must be ≥ 0, got {args.eval_episodes}")
    try:  # everything the user can get wrong is checked before anything is written
        algo, config, run = _resolve_config(args)
        check_environment(config.env_id)
        if run is None:
            run_dir = RunDirectory.check_new(args.run_dir or default_run_dir(config.env_id, algo, config.seed))
    except ValueError as error:  # ConfigError, RunDirectoryError, unknown env or unsupported spaces
        raise UsageError(str(error)) from None
    tf.config.experimental.enable_op_determinism()  # same seed, same progress.csv
    trainer = ALGORITHMS[algo][1](config)
    if run is None:
        run = RunDirectory.create(run_dir, {"algo": algo, **config.to_dict()})
    checkpoint = trainer.checkpoint()
    manager = run.checkpoint_manager(checkpoint)
    resumed_from = 0
    if args.resume:
        if manager.latest_checkpoint:
            checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        resumed_from = int(trainer.env_steps.numpy())
        run.truncate_progress(resumed_from)
    print(
        f"tf-gae: training {algo} on {config.env_id} for {config.total_steps:,} env steps "
        f"(γ={config.gamma}, λ={config.lam}, {config.num_envs} envs × {config.n_steps} steps, seed {config.seed})"
        + (f", resumed at {resumed_from:,} steps" if args.resume else ""),
        file=sys.stderr,
    )
    print(f"tf-gae: run directory {run.path}", file=sys.stderr)
    writer = run.summary_writer()
    columns = trainer.progress_columns
    bar = ProgressBar(config.num_updates * config.steps_per_update, resumed_from)

    def on_row(row: dict[str, Any]) -> None:
        run.append_progress(row, columns)  # first the row, then the checkpoint: see runs.py
        with writer.as_default(step=row["env_steps"]):
            for name in columns[3:]:
                if isinstance(row.get(name), (int, float)) and not math.isnan(row[name]):
                    tf.summary.scalar(name, row[name])
        writer.flush()
        manager.save(checkpoint_number=row["updates"])

    try:
        trainer.train(on_row=on_row, on_update=bar.update)
    except TrainingDiverged as error:
        bar.close()
        print(f"tf-gae: training stopped: {error} ({manager.latest_checkpoint or 'no checkpoint yet'})", file=sys.stderr)
        return 1
    finally:
        trainer.close()
    bar.close()
    threshold = _reward_threshold(config.env_id)
    curve = plot_learning_curves([run.path], run.path / "learning_curve.png", threshold=threshold)
    print(f"tf-gae: wrote {run.progress_path}, {curve}, checkpoints/ and tb/", file=sys.stderr)
    if args.eval_episodes:
        mean, std, _ = evaluate_policy(trainer.model, config.env_id, args.eval_episodes, seed=10_000)
        result = _eval_record(config.env_id, args.eval_episodes, mean, std, True, int(trainer.env_steps.numpy()))
        path = run.write_eval(result)
        solved = "" if threshold is None else (" — solved" if mean >= threshold else f" — below {threshold:g}")
        print(
            f"tf-gae: deterministic evaluation over {args.eval_episodes} episodes: "
            f"{mean:.1f} ± {std:.1f}{solved} (written to {path})",
            file=sys.stderr,
        )
    return 0


def _reward_threshold(env_id: str) -> float | None:
    import gymnasium as gym

    return gym.spec(env_id).reward_threshold


def _eval_record(env_id, episodes, mean, std, deterministic, env_steps) -> dict[str, Any]:
    return dict(
        env=env_id,
        episodes=episodes,
        mean_return=mean,
        std_return=std,
        deterministic=deterministic,
        env_steps=env_steps,
    )


# ---------------------------------------------------------------------------------------------- evaluate, plot


def _load_model(run_dir: Path):
    """Rebuild the model from config.json and restore the newest checkpoint's weights (no code is loaded)."""
    from tf_gae._tf import tf
    from tf_gae.runs import RunDirectory
    from tf_gae.trainers.base import build_model

    run = RunDirectory.open(run_dir)
    _, config = _run_config(run)
    model = build_model(config)
    env_steps = tf.Variable(0, dtype=tf.int64)
    latest = tf.train.latest_checkpoint(str(run.path / "checkpoints"))
    if latest is None:
        raise UsageError(f"{run_dir} has no checkpoint yet; train it first (tf-gae train --run-dir {run_dir})")
    tf.train.Checkpoint(model=model, env_steps=env_steps).restore(latest).expect_partial()
    return run, config, model, int(env_steps.numpy())


def _evaluate(args: argparse.Namespace) -> int:
    from tf_gae.runs import evaluate_policy

    if args.episodes < 1:
        raise UsageError(f"--episodes must be ≥ 1, got {args.episodes}")
    try:
        run, config, model, env_steps = _load_model(args.run_dir)
    except ValueError as error:
        raise UsageError(str(error)) from None
    mean, std, _ = evaluate_policy(model, config.env_id, args.episodes, args.seed, deterministic=not args.stochastic)
    result = _eval_record(config.env_id, args.episodes, mean, std, not args.stochastic, env_steps)
    run.write_eval(result)
    print(json.dumps(result, sort_keys=True))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from tf_gae.plotting import plot_learning_curves

    out = args.out
    if out is None:
        out = args.run_dirs[0] / "learning_curve.png" if len(args.run_dirs) == 1 else Path("learning_curves.png")
    env_ids = set()
    for run_dir in args.run_dirs:
        config_path = run_dir / "config.json"
        if config_path.is_file():
            env_ids.add(json.loads(config_path.read_text()).get("env_id"))
    threshold = _reward_threshold(env_ids.pop()) if len(env_ids) == 1 and None not in env_ids else None
    try:
        path = plot_learning_curves(list(args.run_dirs), out, threshold=threshold)
    except ValueError as error:
        raise UsageError(str(error)) from None
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
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "plot":
            return _plot(args)
    except (UsageError, FileNotFoundError) as error:
        print(f"tf-gae: error: {error}", file=sys.stderr)
        return 2
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
