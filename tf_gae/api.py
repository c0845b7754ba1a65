"""The Python API: `tf_gae.train`, `tf_gae.load` and the `Agent` they return. Introduced in chapter 5.

    agent = tf_gae.train("CartPole-v1", algo="a2c", total_steps=100_000, seed=0, run_dir="runs/demo", lam=0.95)
    agent = tf_gae.train(MyEnv, network=keras.Sequential([...]))   # your env class, your Keras network
    agent = tf_gae.load("runs/demo")
    action = agent.predict(observation)            # one observation [obs_dim] -> one action
    actions = agent.predict(observations)          # a batch [N, obs_dim] -> [N] or [N, act_dim]
    agent.evaluate(episodes=20)                    # {"mean_return": ..., "std_return": ..., ...}

`train` with a `run_dir` writes the same run directory as `tf-gae train` (the command is a thin layer
over this module): config.json, progress.csv, checkpoints/, tb/, learning_curve.png and, with
`eval_episodes`, eval.json; with progress on stderr (a bar on a terminal, a line every tenth elsewhere).
Without a `run_dir` it trains in memory and writes nothing. `load` rebuilds the model from config.json
and restores the newest good checkpoint: nothing in the folder executes (runs.py says what is trusted).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from tf_gae.config import CONFIGS, RENAMED_FIELDS, ConfigError, flag_name, split_env_id

if TYPE_CHECKING:  # the trainers import TensorFlow: loaded where training starts
    from tf_gae.trainers import TrainingDiverged

__all__ = [
    "Agent",
    "train",
    "load",
    "resolve_env",
    "run_config",
    "make_config",
    "default_run_dir",
    "reward_threshold",
    "ProgressBar",
    "TrainingInterrupted",
    "DEFAULT_ALGO",
    "USER_ENV_NAMESPACE",
]

DEFAULT_ALGO = "ppo"
USER_ENV_NAMESPACE = "tf_gae_user"
"""Environments given to `train` as callables are registered with gymnasium as `tf_gae_user/<Name>-v0`."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `train`: the run directory is left resumable; the message says how to continue."""


@contextlib.contextmanager
def _interrupt_between_chunks() -> Iterator[Callable[[], bool]]:
    """Ctrl-C while training becomes a request the loop honours between two graph calls, after the
    progress row and checkpoint in hand are written whole: a KeyboardInterrupt raised inside TensorFlow's
    own Python code (a checkpoint write, a device scope) can leave it half done or turn into another error.
    A second Ctrl-C interrupts at once. Outside the main thread (no signals there) nothing changes."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested.is_set
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


# ------------------------------------------------------------------------------------------- environments


def resolve_env(env: str | Callable[[], Any]) -> str:
    """The gymnasium id for `env`: a registered id or `module:Id` string as it is, or a callable that returns
    a `gymnasium.Env` (an Env subclass, a factory function), registered as `tf_gae_user/<its name>-v0`
    so that every part of the library (vector envs, evaluation, config.json) can name it. A callable
    imports nothing when a run is loaded again: pass it to `load(run_dir, env=...)`."""
    if isinstance(env, str):
        return env
    if not callable(env):
        raise TypeError(
            f"env must be a gymnasium id such as 'CartPole-v1', a 'module:Id' string or a callable returning "
            f"a gymnasium.Env, got {type(env).__name__}"
        )
    import gymnasium as gym

    name = re.sub(r"[^A-Za-z0-9_]", "_", getattr(env, "__name__", type(env).__name__)) or "Env"
    env_id = f"{USER_ENV_NAMESPACE}/{name}-v0"
    registered = gym.registry.get(env_id)
    if registered is None or registered.entry_point is not env:
        if registered is not None:
            del gym.registry[env_id]  # the same name, another callable: the newest definition wins
        gym.register(env_id, entry_point=env)
    return env_id


# ------------------------------------------------------------------------------------------- configuration


def default_run_dir(env_id: str, algo: str, seed: int, root: str | Path = "runs") -> Path:
    """runs/<env>__<algo>__s<seed>__<date-time>, the command's run directory when none is given."""
    import time

    return Path(root) / f"{env_id}__{algo}__s{seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def run_config(run: Any, trusted_env: str | None = None, trust: bool = False) -> tuple[str, Any]:
    """(algorithm, configuration) of an existing run, from its config.json: plain JSON, every field checked,
    nothing imported. A `module:Id` environment is refused unless `trusted_env` is that same id (the user
    named it) or `trust` is set: importing the module would run code the folder's author chose."""
    from tf_gae.runs import RunDirectoryError

    where = run.path / "config.json"
    algo = run.config.get("algo")
    if not isinstance(algo, str) or algo not in CONFIGS:
        raise RunDirectoryError(f"{where} names no known algorithm ({algo!r}); it was not written by tf-gae train")
    config_class = CONFIGS[algo]
    names = {f.name for f in dataclasses.fields(config_class)}
    saved = {key: value for key, value in run.config.items() if RENAMED_FIELDS.get(key, key) in names}
    try:
        config = config_class.from_dict(saved)
        module, _ = split_env_id(config.env_id)
    except ValueError as error:  # ConfigError: a value of the wrong type or range
        raise RunDirectoryError(f"{where} holds an unusable value: {error}; repair it or start a new run") from None
    if module is not None and not trust and trusted_env != config.env_id:
        raise RunDirectoryError(
            f"{where} names the environment {config.env_id!r}, whose module {module!r} would be imported (it "
            f"runs code); if you trust it, pass --env {config.env_id} (or --trust-run-dir)"
        )
    return algo, config


def make_config(algo: str, hyperparameters: dict[str, Any]) -> Any:
    """The configuration of `algo` with `hyperparameters` (field names, e.g. lam=0.9); ConfigError naming a
    hyperparameter that `algo` does not have (and which algorithms do)."""
    if algo not in CONFIGS:
        raise ConfigError(f"algo must be one of {sorted(CONFIGS)}, got {algo!r}")
    known = {f.name for f in dataclasses.fields(CONFIGS[algo])}
    for name in hyperparameters:
        if name in RENAMED_FIELDS:
            raise ConfigError(f"{name} is called {RENAMED_FIELDS[name]} now (one name in every trainer); pass "
                              f"{RENAMED_FIELDS[name]}= (the flag {flag_name(RENAMED_FIELDS[name])})")
        if name not in known:
            users = [a for a, c in CONFIGS.items() if name in {f.name for f in dataclasses.fields(c)}]
            if not users:
                raise ConfigError(f"{name} is no hyperparameter of {algo}; its hyperparameters are the fields of "
                                  f"tf_gae.config.{CONFIGS[algo].__name__}")  # fmt: skip
            users_text = " or ".join(repr(user) for user in users)
            raise ConfigError(f"{name} applies to algo {users_text} only, not {algo!r}", (name, "algo"))
    return CONFIGS[algo](**hyperparameters)


def _resume_config(run: Any, algo: str | None, given: dict[str, Any], trust: bool) -> tuple[str, Any]:
    from tf_gae.runs import RunDirectoryError

    run_algo, config = run_config(run, trusted_env=given.get("env_id"), trust=trust)
    if algo is not None and algo != run_algo:
        raise RunDirectoryError(
            f"algo {algo!r} contradicts the run's algorithm {run_algo!r}; leave algo out to resume it", ("algo",)
        )
    for name, value in given.items():
        if getattr(config, name) != (tuple(value) if isinstance(value, list) else value):
            raise RunDirectoryError(
                f"{name} {value!r} contradicts the run's {getattr(config, name)!r} in {run.path}/config.json; "
                f"leave {name} out to resume (or start a new run)",
                (name,),
            )
    return run_algo, config


# ------------------------------------------------------------------------------------------- the agent


class Agent:
    """A trained actor-critic: act with :meth:`predict`, score with :meth:`evaluate`.

    `model` is the Keras :class:`tf_gae.models.ActorCritic` (π and V), `config` the run's configuration,
    `env_steps` how many environment steps trained it, `run_dir` where it lives (None if in memory).
    """

    def __init__(self, model: Any, config: Any, algo: str, env_steps: int = 0, run_dir: Path | None = None) -> None:
        self.model = model
        self.config = config
        self.algo = algo
        self.env_steps = env_steps
        self.run_dir = run_dir
        self._policies: dict[bool, Any] = {}

    @property
    def env_id(self) -> str:
        return self.config.env_id

    def predict(self, observations: Any, deterministic: bool = True) -> np.ndarray:
        """The action for one observation `[obs_dim]` (an int, or `[act_dim]` floats), or actions for a batch
        `[N, obs_dim]` (`[N]` or `[N, act_dim]`). Deterministic: the mode of π(·|s) (argmax or mean);
        otherwise a sample. Box actions are clipped to the action space, as the environment needs them."""
        from tf_gae.runs import mode_policy

        observations = np.asarray(observations, np.float32)
        size = self.model.observation_size
        single = observations.shape == (size,)
        if not (single or (observations.ndim == 2 and observations.shape[1] == size)):
            raise ValueError(
                f"observations must have shape [{size}] or [N, {size}] for {self.env_id}, got {observations.shape}"
            )
        if deterministic not in self._policies:
            self._policies[deterministic] = mode_policy(self.model, deterministic)
        actions = self._policies[deterministic](observations[None] if single else observations)
        spec = self.model.action_spec
        if not spec.is_discrete:
            actions = np.clip(actions, np.asarray(spec.low, np.float32), np.asarray(spec.high, np.float32))
        return actions[0] if single else actions

    def evaluate(self, episodes: int = 20, seed: int = 10_000, deterministic: bool = True) -> dict[str, Any]:
        """Returns of `episodes` episodes of the agent's environment, episode i seeded seed + i:
        {"env", "episodes", "mean_return", "std_return", "returns", "deterministic", "env_steps"}."""
        from tf_gae.runs import evaluate_policy

        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
            raise ValueError(f"seed must be a whole number in [0, 2^31), got {seed!r}")
        mean, std, returns = evaluate_policy(self.model, self.env_id, episodes, seed, deterministic=deterministic)
        return dict(env=self.env_id, episodes=episodes, mean_return=mean, std_return=std, returns=returns,
                    deterministic=deterministic, env_steps=self.env_steps)  # fmt: skip


def load(
    run_dir: str | Path,
    *,
    env: str | Callable[[], Any] | None = None,
    network: Any = None,
    trust_run_dir: bool = False,
) -> Agent:
    """The agent of a run directory: the model rebuilt from config.json, the newest good checkpoint's weights.

    Nothing in the folder executes. A run of a `module:Id` environment needs that id again as `env` (or
    `trust_run_dir=True`); a run of an environment given to `train` as a callable needs the callable as `env`;
    a run trained on your own Keras network needs a fresh copy of that network (the same layers) as `network`.
    """
    from tf_gae._tf import tf
    from tf_gae.runs import RunDirectory, RunDirectoryError
    from tf_gae.trainers.base import build_model

    trusted = None if env is None else resolve_env(env)
    run = RunDirectory.open(run_dir)
    algo, config = run_config(run, trusted_env=trusted, trust=trust_run_dir)
    if trusted is not None and trusted != config.env_id:
        raise RunDirectoryError(f"env {trusted!r} is not the run's environment {config.env_id!r} ({run.path}/config.json)")
    model = build_model(config, network)
    _check_network(run, model, network)
    env_steps = tf.Variable(0, dtype=tf.int64)
    number, notes = run.checkpoints(tf.train.Checkpoint(model=model, env_steps=env_steps)).restore_newest(partial=True)
    if number is None:
        raise RunDirectoryError(f"{run_dir} has no checkpoint yet; train it first (tf-gae train --resume --run-dir {run_dir})")
    for note in notes:
        print(f"tf-gae: {note}; using an older checkpoint", file=sys.stderr)
    return Agent(model, config, algo, int(env_steps.numpy()), run.path)


# ------------------------------------------------------------------------------------------- training


def train(
    env: str | Callable[[], Any] | None = None,
    algo: str | None = None,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    trust_run_dir: bool = False,
    eval_episodes: int = 0,
    progress: bool = True,
    network: Any = None,
    **hyperparameters: Any,
) -> Agent:
    """Train an agent with GAE and return it.

    Args:
      env: a gymnasium id ("CartPole-v1"), a "module:Id" string (the module registers the id), or a callable
        returning a gymnasium.Env. Default CartPole-v1; with `resume`, the run's own.
      algo: "ppo" (default), "a2c" or "reinforce"; with `resume`, the run's own.
      run_dir: write a run directory there (it must be new or empty, or `resume`); None trains in memory.
      resume: continue the run in `run_dir` from its newest checkpoint (hyperparameters given must agree).
      trust_run_dir: with `resume`, import the `module:Id` environment the run's config.json names.
      eval_episodes: deterministic evaluation episodes at the end, written to eval.json (0 = none).
      progress: report on stderr (start-up line, progress, summary).
      network: your own Keras layer or model mapping observations [N, obs_dim] to features [N, F], in place of
        the MLPs of `hidden_sizes` (both heads on it), or a pair (policy_network, value_network), one per head.
        The policy head, its TFP distribution and the value head go on top (`tf_gae.models.ActorCritic`).
        A folder holds no code: `load` and `resume` of such a run need a fresh copy of the same layers.
      **hyperparameters: any field of the algorithm's configuration (`tf_gae.config`), e.g. total_steps,
        seed, lam, gamma, num_envs, n_steps, learning_rate.

    Raises:
      ValueError (ConfigError, RunDirectoryError): a bad hyperparameter, environment or run directory, before
        anything is written. TrainingDiverged: a non-finite loss, weight, statistic or observation (the last
        good checkpoint is kept). TrainingInterrupted: Ctrl-C (the run directory is resumable).
    """
    if isinstance(eval_episodes, bool) or not isinstance(eval_episodes, int) or eval_episodes < 0:
        raise ValueError(f"eval_episodes must be a whole number ≥ 0, got {eval_episodes!r}")
    if resume and run_dir is None:
        raise ConfigError("resume needs run_dir, the folder of the run to continue", ("resume", "run_dir"))
    given = dict(hyperparameters)
    if env is not None:
        given["env_id"] = resolve_env(env)
    if not resume:
        algo = algo or DEFAULT_ALGO
        config = make_config(algo, given)  # before TensorFlow is imported: a bad value is refused at once
    from tf_gae.runs import RunDirectory  # no TensorFlow: a refused run directory is refused at once

    run = None
    try:
        if resume:
            run = RunDirectory.open(run_dir)
            algo, config = _resume_config(run, algo, given, trust_run_dir)
            run.lock()  # held until training ends: one writer at a time
            run.read_progress_rows()  # progress.csv must be readable before anything is restored or cut
        elif run_dir is not None:
            run_dir = RunDirectory.check_new(run_dir)
        from tf_gae.trainers.base import check_environment  # imports TensorFlow

        check_environment(config.env_id)
        return _train(algo, config, run, run_dir, eval_episodes, progress, network)
    finally:
        if run is not None:
            run.unlock()


def _train(
    algo: str, config: Any, run: Any, new_run_dir: Path | None, eval_episodes: int, progress: bool, network: Any,
    trainer: Any = None, rows: list[dict[str, Any]] | None = None, checkpoint_every_s: float = 0.0,
) -> Agent:
    """Build the trainer (or use `trainer`, holding the run's initial state, which is left open), create or
    restore the run directory, train, plot, evaluate. Every progress row is also appended to `rows`.
    `checkpoint_every_s`: save a checkpoint with a row only when this long has passed since the last one
    (0: with every row); the last row's is always saved."""
    from tf_gae._tf import tf
    from tf_gae.trainers import ALGORITHMS, TrainingDiverged

    say = (lambda text: print(f"tf-gae: {text}", file=sys.stderr)) if progress else (lambda text: None)
    tf.config.experimental.enable_op_determinism()  # same seed, same progress.csv
    own_trainer = trainer is None
    if own_trainer:
        trainer = ALGORITHMS[algo][1](config, network=network)
    created = None
    try:
        resumed, checkpoints = "", None
        if run is not None:
            _check_network(run, trainer.model, network)
            checkpoints = run.checkpoints(trainer.checkpoint())
            resumed = _restore(run, checkpoints, trainer, say)
        elif new_run_dir is not None:
            run, checkpoints = _create_run(algo, config, trainer, new_run_dir, network)
            created = run
        say(
            f"training {algo} on {config.env_id} for {trainer.planned_steps:,} env steps (γ={config.gamma}, "
            f"λ={config.lam}, {trainer.describe_rollout()} per update, seed {config.seed}){resumed}"
        )
        if run is not None:
            say(f"run directory {run.path}")
        rows = [] if rows is None else rows
        stopped_resumable = False  # diverged or interrupted: its directory holds whole rows and checkpoints
        recording = _Recording(run, checkpoints, trainer.progress_columns, checkpoint_every_s, rows)
        bar = ProgressBar(trainer.planned_steps, int(trainer.env_steps.numpy())) if progress else None
        try:
            with _interrupt_between_chunks() as interrupted:
                trainer.train(on_row=recording.on_row, on_update=None if bar is None else bar.update, should_stop=interrupted)
            recording.end()
        except TrainingDiverged as error:
            stopped_resumable = True
            raise recording.diverged(error) from None
        except KeyboardInterrupt:
            stopped_resumable = True
            where = f"; continue with: tf-gae train --resume --run-dir {run.path}" if run is not None else ""
            raise TrainingInterrupted(
                f"interrupted at {int(trainer.env_steps.numpy()):,} env steps (last checkpoint "
                f"{recording.last_checkpoint() or 'none'}){where}"
            ) from None
        finally:
            if bar is not None:
                bar.close()
            recording.close()
            if stopped_resumable and created is not None:  # free for a resume, from another process or this one
                created.unlock()
    finally:
        if own_trainer:
            trainer.close()
    agent = Agent(trainer.model, config, algo, int(trainer.env_steps.numpy()), None if run is None else run.path)
    _finish_run(agent, run, eval_episodes, say)
    if created is not None:
        created.unlock()  # the run is whole (an error before here leaves the lock to the process's end)
    return agent


def _create_run(algo: str, config: Any, trainer: Any, new_run_dir: Path, network: Any = None) -> tuple[Any, Any]:
    """A new run directory for `trainer`'s run: config.json (with the user's network's record), and ckpt-0,
    so that from its creation on a run has a checkpoint for every progress row. Returns the RunDirectory
    and its checkpoints of `trainer`."""
    from tf_gae.runs import RunDirectory

    record = {"algo": algo, **config.to_dict()}
    if network is not None:
        record["network"] = _network_record(trainer.model)
    run = RunDirectory.create(new_run_dir, record)
    checkpoints = run.checkpoints(trainer.checkpoint())
    checkpoints.save(0)
    return run, checkpoints


class _Recording:
    """What a run leaves while it trains: every progress row appended to `rows` and, with a run directory,
    written to progress.csv and TensorBoard and checkpointed (at most every `checkpoint_every_s`; 0 = every
    row); :meth:`end` saves the last row's checkpoint if its row did not."""

    def __init__(
        self, run: Any, checkpoints: Any, columns: list[str], checkpoint_every_s: float, rows: list[dict[str, Any]],
        before_save: Callable[[], None] | None = None,
    ) -> None:
        self.checkpoints, self.rows, self.before_save = checkpoints, rows, before_save
        self.scalars = None if run is None else run.scalar_log()
        self.write = (lambda row: None) if run is None else _row_writer(
            run, checkpoints, columns, self.scalars, checkpoint_every_s, before_save
        )

    def on_row(self, row: dict[str, Any]) -> None:
        self.write(row)
        self.rows.append(row)

    def end(self) -> None:
        if self.checkpoints is not None and self.rows and self.checkpoints.numbers()[-1:] != [self.rows[-1]["updates"]]:
            if self.before_save is not None:
                self.before_save()
            self.checkpoints.save(self.rows[-1]["updates"])  # the last row's checkpoint, if its row did not save one

    def last_checkpoint(self) -> str | None:
        """The newest checkpoint's name (ckpt-N), None without a run directory."""
        numbers = self.checkpoints.numbers() if self.checkpoints is not None else []
        return f"ckpt-{numbers[-1]}" if numbers else None

    def diverged(self, error: "TrainingDiverged") -> "TrainingDiverged":
        """`error`, saying which checkpoint the run directory keeps (training stopped before writing another)."""
        kept = self.last_checkpoint()
        return type(error)(f"{error}; the last good checkpoint, {kept}, is kept" if kept else str(error), error.fields)

    def close(self) -> None:
        if self.scalars is not None:
            self.scalars.close()


def _finish_run(agent: "Agent", run: Any, eval_episodes: int, say: Callable[[str], None]) -> None:
    """A trained run's learning curve (with a run directory) and its deterministic evaluation (eval.json)."""
    from tf_gae.plotting import plot_learning_curves
    from tf_gae.runs import RunDirectoryError

    threshold = reward_threshold(agent.config.env_id)
    if run is not None:
        curve = plot_learning_curves([run.path], run.path / "learning_curve.png", threshold=threshold)
        say(f"wrote {run.progress_path}, {curve}, checkpoints/ and tb/")
    if eval_episodes:
        result = agent.evaluate(episodes=eval_episodes)
        mean, std = result["mean_return"], result["std_return"]
        record = {k: v for k, v in result.items() if k != "returns"}
        written = ""
        if run is not None:
            try:
                written = f" (written to {run.write_eval(record)})"
            except RunDirectoryError as error:
                raise RunDirectoryError(f"{error}; the result was {json.dumps(record, sort_keys=True)}") from None
        solved = "" if threshold is None else (" — solved" if mean >= threshold else f" — below {threshold:g}")
        say(f"deterministic evaluation over {eval_episodes} episodes: {mean:.1f} ± {std:.1f}{solved}{written}")


def _network_record(model: Any) -> dict[str, Any]:
    """What config.json says of a user's own network: the layers' class names and the model's parameter
    count. A description only: a run directory never holds code, so it cannot rebuild the network itself."""
    return {"layers": [type(layer).__name__ for layer in model.network], "parameters": int(model.count_params())}


def _check_network(run: Any, model: Any, network: Any) -> None:
    """RunDirectoryError unless `network` (None for the built-in MLPs) is what `run` was trained with."""
    from tf_gae.runs import RunDirectoryError

    recorded = run.config.get("network")
    if recorded is None and network is not None:
        raise RunDirectoryError(f"{run.path} was trained on the built-in MLPs (hidden_sizes in config.json); drop network=")
    if recorded is None:
        return
    layers = " + ".join(map(str, recorded.get("layers", []))) if isinstance(recorded, dict) else "?"
    if network is None:
        raise RunDirectoryError(
            f"{run.path} was trained on a Keras network of your own ({layers}), which a run directory holds no code "
            "for; from Python, pass a fresh copy of it: tf_gae.load(run_dir, network=...) or tf_gae.train(..., "
            "resume=True, network=...)"
        )
    if _network_record(model) != recorded:
        raise RunDirectoryError(
            f"network= gives {_network_record(model)}, but {run.path} was trained on {recorded}; pass the same layers"
        )


def _restore(run: Any, checkpoints: Any, trainer: Any, say: Callable[[str], None]) -> str:
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
        say(f"{note}; using an older checkpoint")
    text = f", resumed at {steps:,} steps from ckpt-{number if number is not None else 0}"
    if dropped:
        text += f" (progress.csv cut back to it: {dropped} row{'s' if dropped > 1 else ''} after it dropped)"
    return text


def _row_writer(
    run: Any, checkpoints: Any, columns: list[str], scalars: Any, checkpoint_every_s: float = 0.0,
    before_save: Callable[[], None] | None = None,
) -> Callable[[dict[str, Any]], None]:
    """Write a progress row to progress.csv and TensorBoard (`scalars`, a :class:`tf_gae.runs.ScalarLog`),
    then save the checkpoint — in that order; with `checkpoint_every_s` > 0, only once that long has passed
    since the last save (a resumed run cuts progress.csv back to its newest checkpoint). `before_save` is
    called before each save (a sweep's agent axis puts the run's state into its trainer then)."""
    import time

    previous = {"env_steps": None, "wall_time_s": 0.0}  # the last row, for the rate between two rows
    last_save = [time.monotonic()]

    def on_row(row: dict[str, Any]) -> None:
        run.append_progress(row, columns)  # first the row, then the checkpoint: see runs.py
        tagged = {
            _TENSORBOARD_GROUPS.get(name, "train/") + name: row[name]
            for name in columns[3:]
            if isinstance(row.get(name), (int, float)) and not math.isnan(row[name])
        }
        seconds = row["wall_time_s"] - previous["wall_time_s"]
        if previous["env_steps"] is not None and seconds > 0:
            tagged["time/steps_per_s"] = (row["env_steps"] - previous["env_steps"]) / seconds
        scalars.write(row["env_steps"], tagged)
        previous.update(env_steps=row["env_steps"], wall_time_s=row["wall_time_s"])
        if time.monotonic() - last_save[0] >= checkpoint_every_s:
            if before_save is not None:
                before_save()
            checkpoints.save(row["updates"])
            last_save[0] = time.monotonic()

    return on_row


_TENSORBOARD_GROUPS = {name: "rollout/" for name in ("episode_return_mean", "episode_return_std", "episode_length_mean", "episodes")}
"""TensorBoard tag prefixes: episode statistics under rollout/, what the update reports under train/, and
time/steps_per_s, the environment steps per second between two rows."""


def reward_threshold(env_id: str) -> float | None:
    """The registry's reward threshold for `env_id`, if it is registered (looked up without importing)."""
    from tf_gae.rollout import registered_spec

    spec = registered_spec(env_id)
    return None if spec is None else spec.reward_threshold


class ProgressBar:
    """One line on stderr: a bar on a terminal, a line every 10% elsewhere (CI logs)."""

    def __init__(self, total_steps: int, start_steps: int = 0, stream: Any = None) -> None:
        import time

        self._clock = time.perf_counter
        self.total = total_steps
        self.start_steps = start_steps
        self.stream = stream or sys.stderr
        self.started = self._clock()
        self.last_draw = 0.0
        self.last_decile = start_steps * 10 // max(total_steps, 1)
        self.tty = self.stream.isatty()

    def update(self, env_steps: int, recent_return: float) -> None:
        now = self._clock()
        fraction = min(env_steps / self.total, 1.0)
        rate = (env_steps - self.start_steps) / max(now - self.started, 1e-9)
        remaining = max(self.total - env_steps, 0) / rate if rate > 0 else math.nan  # whole episodes pass total
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
