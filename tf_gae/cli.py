"""The `tf-gae` command (also `python -m tf_gae`): train, evaluate, plot, demo.

Usage errors are one line on stderr naming the fix, exit status 2, and nothing is written into an
existing run directory. A run that diverges (non-finite loss, weights, statistics or observations)
stops with exit status 1 and keeps its last good checkpoint; Ctrl-C stops with status 130 and one line,
leaving a run that `--resume` continues. Nothing a run directory holds is executed: a config.json that
names a `module:Id` environment is refused unless the same `--env` (or `--trust-run-dir`) is given.
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
INTERRUPTED = 130  # the shell's status for a process ended by Ctrl-C (128 + SIGINT)


class UsageError(Exception):
    """A user error: printed as one line, exit status 2."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are a single line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"tf-gae: error: {message} (see `{self.prog} --help`)\n")


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
    from tf_gae.config import flag_name

    return flag_name(field_name)


def _config_fields():
    """Every configuration field of every algorithm, once (the first class's help text)."""
    from tf_gae.config import CONFIGS

    fields = {}
    for config_class in CONFIGS.values():
        for config_field in dataclasses.fields(config_class):
            fields.setdefault(config_field.name, config_field)
    return list(fields.values())


def _defaults_by_algo(name: str) -> str:
    from tf_gae.config import CONFIGS

    defaults = []
    for algo, config_class in CONFIGS.items():
        for config_field in dataclasses.fields(config_class):
            if config_field.name == name:
                value = config_field.default
                value = ",".join(map(str, value)) if isinstance(value, tuple) else value
                defaults.append(f"{algo}: {value}")
    return "; ".join(defaults)


_TRUST_HELP = "import the module:Id environment the run's config.json names (only for a run directory you trust)"


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
    train.add_argument("--trust-run-dir", action="store_true", help=_TRUST_HELP)

    evaluate = commands.add_parser("evaluate", help="evaluate a run's newest checkpoint; prints the result as one JSON line")
    evaluate.add_argument("run_dir", type=Path)
    evaluate.add_argument("--episodes", type=int, default=20)
    evaluate.add_argument("--seed", type=int, default=10_000, help="episode i uses seed + i (0 ≤ seed < 2^31)")
    evaluate.add_argument("--stochastic", action="store_true", help="sample actions instead of the mode")
    evaluate.add_argument("--write", action="store_true", help="also write the result to RUN_DIR/eval.json (replacing training's)")
    evaluate.add_argument("--env", dest="env_id", default=None, help="the run's module:Id environment, to allow importing its module")
    evaluate.add_argument("--trust-run-dir", action="store_true", help=_TRUST_HELP)

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


def _run_config(run, trusted_env: str | None = None, trust: bool = False) -> tuple[str, Any]:
    """(algorithm, configuration) of an existing run, from its config.json: plain JSON, every field checked,
    nothing imported. A `module:Id` environment is refused unless `trusted_env` is that same id (the user
    typed it) or `trust` is set: importing the module would run code the folder's author chose."""
    from tf_gae.rollout import split_env_id
    from tf_gae.trainers import ALGORITHMS, ConfigError

    where = run.path / "config.json"
    algo = run.config.get("algo")
    if not isinstance(algo, str) or algo not in ALGORITHMS:
        raise UsageError(f"{where} names no known algorithm ({algo!r}); it was not written by tf-gae train")
    config_class = ALGORITHMS[algo][0]
    saved = {f.name: run.config[f.name] for f in dataclasses.fields(config_class) if f.name in run.config}
    try:
        config = config_class.from_dict(saved)
        module, _ = split_env_id(config.env_id)
    except ValueError as error:  # ConfigError: a value of the wrong type or range
        raise UsageError(f"{where} holds an unusable value: {error}; repair it or start a new run") from None
    if module is not None and not trust and trusted_env != config.env_id:
        raise UsageError(
            f"{where} names the environment {config.env_id!r}, whose module {module!r} would be imported (it "
            f"runs code); if you trust it, pass --env {config.env_id} (or --trust-run-dir)"
        )
    return algo, config


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
        algo, config = _run_config(run, trusted_env=given.get("env_id"), trust=args.trust_run_dir)
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
    from tf_gae.runs import RunDirectory, RunDirectoryError, default_run_dir, evaluate_policy
    from tf_gae.trainers import ALGORITHMS, TrainingDiverged
    from tf_gae.trainers.base import check_environment

    if args.eval_episodes < 0:
        raise UsageError(f"--eval-episodes must be ≥ 0, got {args.eval_episodes}")
    run = None
    try:
        try:  # everything the user can get wrong is checked before anything is written
            algo, config, run = _resolve_config(args)
            check_environment(config.env_id)
            if run is None:
                run_dir = RunDirectory.check_new(args.run_dir or default_run_dir(config.env_id, algo, config.seed))
            else:
                run.lock()  # held until training ends: one writer at a time
                run.read_progress_rows()  # progress.csv must be readable before anything is restored or cut
        except ValueError as error:  # ConfigError, RunDirectoryError, unknown env or unsupported spaces
            raise UsageError(str(error)) from None
        tf.config.experimental.enable_op_determinism()  # same seed, same progress.csv
        trainer = ALGORITHMS[algo][1](config)
        try:
            if run is None:
                run = RunDirectory.create(run_dir, {"algo": algo, **config.to_dict()})
                checkpoints = run.checkpoints(trainer.checkpoint())
                checkpoints.save(0)  # from its creation on, a run has a checkpoint for every progress row
                resumed = ""
            else:
                checkpoints = run.checkpoints(trainer.checkpoint())
                resumed = _restore(run, checkpoints, trainer)
        except ValueError as error:  # RunDirectoryError: a lost race, an unusable checkpoint, rows with none
            trainer.close()
            raise UsageError(str(error)) from None
        print(
            f"tf-gae: training {algo} on {config.env_id} for {config.total_steps:,} env steps "
            f"(γ={config.gamma}, λ={config.lam}, {config.num_envs} envs × {config.n_steps} steps, seed {config.seed})"
            + resumed,
            file=sys.stderr,
        )
        print(f"tf-gae: run directory {run.path}", file=sys.stderr)
        writer = run.summary_writer()
        columns = trainer.progress_columns
        bar = ProgressBar(config.num_updates * config.steps_per_update, int(trainer.env_steps.numpy()))

        def on_row(row: dict[str, Any]) -> None:
            run.append_progress(row, columns)  # first the row, then the checkpoint: see runs.py
            with writer.as_default(step=row["env_steps"]):
                for name in columns[3:]:
                    if isinstance(row.get(name), (int, float)) and not math.isnan(row[name]):
                        tf.summary.scalar(name, row[name])
            writer.flush()
            checkpoints.save(row["updates"])

        def last_checkpoint() -> str:
            numbers = checkpoints.numbers()
            return f"last good checkpoint ckpt-{numbers[-1]}" if numbers else "no checkpoint"

        try:
            trainer.train(on_row=on_row, on_update=bar.update)
        except TrainingDiverged as error:
            bar.close()
            print(f"tf-gae: training stopped: {error} ({last_checkpoint()})", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            bar.close()
            print(
                f"tf-gae: interrupted at {int(trainer.env_steps.numpy()):,} env steps ({last_checkpoint()}); "
                f"continue with: tf-gae train --resume --run-dir {run.path}",
                file=sys.stderr,
            )
            return INTERRUPTED
        finally:
            trainer.close()
        bar.close()
        threshold = _reward_threshold(config.env_id)
        curve = plot_learning_curves([run.path], run.path / "learning_curve.png", threshold=threshold)
        print(f"tf-gae: wrote {run.progress_path}, {curve}, checkpoints/ and tb/", file=sys.stderr)
        if args.eval_episodes:
            mean, std, _ = evaluate_policy(trainer.model, config.env_id, args.eval_episodes, seed=10_000)
            result = _eval_record(config.env_id, args.eval_episodes, mean, std, True, int(trainer.env_steps.numpy()))
            try:
                path = run.write_eval(result)
            except RunDirectoryError as error:
                raise UsageError(f"{error}; the result was {json.dumps(result, sort_keys=True)}") from None
            solved = "" if threshold is None else (" — solved" if mean >= threshold else f" — below {threshold:g}")
            print(
                f"tf-gae: deterministic evaluation over {args.eval_episodes} episodes: "
                f"{mean:.1f} ± {std:.1f}{solved} (written to {path})",
                file=sys.stderr,
            )
        return 0
    finally:  # the lock is the process's until it ends; in-process callers get it back now
        if run is not None:
            run.unlock()


def _restore(run, checkpoints, trainer) -> str:
    """Restore the newest good checkpoint of `run` into `trainer` and cut progress.csv back to it; returns
    the text for the start-up line. RunDirectoryError where resuming would lose recorded progress."""
    from tf_gae.runs import RunDirectoryError

    rows = run.read_progress_rows()
    number, notes = checkpoints.restore_newest()
    if number is None:
        if rows:
            raise RunDirectoryError(
                f"{run.progress_path} has {len(rows)} rows but {checkpoints.folder} holds no checkpoint to "
                "continue them from; resuming would discard them: start a new run (or restore the checkpoints)"
            )
        checkpoints.save(0)  # created, then stopped before its first checkpoint: nothing to lose
    steps = int(trainer.env_steps.numpy())
    dropped = run.truncate_progress(steps)
    for note in notes:
        print(f"tf-gae: {note}; using an older checkpoint", file=sys.stderr)
    text = f", resumed at {steps:,} steps from ckpt-{number if number is not None else 0}"
    if dropped:
        text += f" (progress.csv cut back to it: {dropped} row{'s' if dropped > 1 else ''} after it dropped)"
    return text


def _reward_threshold(env_id: str) -> float | None:
    """The registry's reward threshold for `env_id`, if it is registered (looked up without importing)."""
    from tf_gae.rollout import registered_spec

    spec = registered_spec(env_id)
    return None if spec is None else spec.reward_threshold


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


def _load_model(run_dir: Path, trusted_env: str | None = None, trust: bool = False):
    """Rebuild the model from config.json and restore the newest good checkpoint's weights (no code is loaded)."""
    from tf_gae._tf import tf
    from tf_gae.runs import RunDirectory
    from tf_gae.trainers.base import build_model

    run = RunDirectory.open(run_dir)
    _, config = _run_config(run, trusted_env, trust)
    model = build_model(config)
    env_steps = tf.Variable(0, dtype=tf.int64)
    number, notes = run.checkpoints(tf.train.Checkpoint(model=model, env_steps=env_steps)).restore_newest(partial=True)
    if number is None:
        raise UsageError(f"{run_dir} has no checkpoint yet; train it first (tf-gae train --resume --run-dir {run_dir})")
    for note in notes:
        print(f"tf-gae: {note}; using an older checkpoint", file=sys.stderr)
    return run, config, model, int(env_steps.numpy())


def _evaluate(args: argparse.Namespace) -> int:
    from tf_gae.runs import RunDirectoryError, evaluate_policy

    if args.episodes < 1:
        raise UsageError(f"--episodes must be ≥ 1, got {args.episodes}")
    if not 0 <= args.seed < 2**31:
        raise UsageError(f"--seed must be a whole number in [0, 2^31), got {args.seed}")
    try:
        run, config, model, env_steps = _load_model(args.run_dir, args.env_id, args.trust_run_dir)
    except ValueError as error:
        raise UsageError(str(error)) from None
    mean, std, _ = evaluate_policy(model, config.env_id, args.episodes, args.seed, deterministic=not args.stochastic)
    result = _eval_record(config.env_id, args.episodes, mean, std, not args.stochastic, env_steps)
    print(json.dumps(result, sort_keys=True), flush=True)  # the result first: a failed write loses nothing
    if args.write:
        try:
            run.write_eval(result)
        except RunDirectoryError as error:
            raise UsageError(f"{error}; the result is printed above") from None
    return 0


def _plot(args: argparse.Namespace) -> int:
    from tf_gae.plotting import plot_learning_curves
    from tf_gae.runs import RunDirectory

    out = args.out
    if out is None:
        out = args.run_dirs[0] / "learning_curve.png" if len(args.run_dirs) == 1 else Path("learning_curves.png")
    try:
        env_ids = {RunDirectory.open(d).config.get("env_id") for d in args.run_dirs if (d / "config.json").is_file()}
        only = env_ids.pop() if len(env_ids) == 1 else None
        threshold = _reward_threshold(only) if isinstance(only, str) else None
        path = plot_learning_curves(list(args.run_dirs), out, threshold=threshold)
    except (ValueError, OSError) as error:
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
    except KeyboardInterrupt:
        print("tf-gae: interrupted", file=sys.stderr)
        return INTERRUPTED
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
