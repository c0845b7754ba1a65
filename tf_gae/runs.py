"""The run directory: config.json, progress.csv, checkpoints/, tb/, eval.json, learning_curve.png.

Every write that replaces a file goes through a temporary file and `os.replace`, so a kill at any
moment leaves either the old or the new file, never half of one. The training loop writes a progress
row first and then saves a checkpoint; a resumed run restores the newest checkpoint and drops the
progress rows written after it, so `env_steps` in progress.csv increases with no gap and no repeat.
Checkpoints are `tf.train.Checkpoint` files (tensors only: loading executes nothing from the file).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import gymnasium as gym
import numpy as np

from tf_gae._tf import tf

__all__ = [
    "RunDirectory",
    "RunDirectoryError",
    "default_run_dir",
    "package_versions",
    "episode_returns",
    "mode_policy",
    "evaluate_policy",
]


class RunDirectoryError(ValueError):
    """The run directory cannot be used as asked; the message says what to do instead."""


def default_run_dir(env_id: str, algo: str, seed: int, root: str | Path = "runs") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{env_id}__{algo}__s{seed}__{stamp}"


def package_versions() -> dict[str, str]:
    import keras
    import matplotlib
    import tensorflow_probability as tfp

    import tf_gae

    return dict(
        tf_gae=tf_gae.__version__,
        python=platform.python_version(),
        tensorflow=tf.__version__,
        tensorflow_probability=tfp.__version__,
        keras=keras.__version__,
        gymnasium=gym.__version__,
        numpy=np.__version__,
        matplotlib=matplotlib.__version__,
    )


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class RunDirectory:
    """One training run's folder. Use :meth:`create` for a new run and :meth:`open` to resume or evaluate."""

    def __init__(self, path: str | Path, config: dict[str, Any]) -> None:
        self.path = Path(path)
        self.config = config
        self._columns: list[str] | None = None

    # ------------------------------------------------------------------ creating and opening

    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any]) -> "RunDirectory":
        """A new run. Refuses a folder that already holds files, so nothing is ever overwritten."""
        path = cls.check_new(path)
        path.mkdir(parents=True, exist_ok=True)
        record = dict(config)
        record["versions"] = package_versions()
        _atomic_write_text(path / "config.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
        return cls(path, record)

    @staticmethod
    def check_new(path: str | Path) -> Path:
        """`path`, if a new run may be written there (absent or an empty folder); else RunDirectoryError."""
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            what = "a run" if (path / "config.json").exists() else "files"
            raise RunDirectoryError(
                f"run directory {path} already holds {what}; pass --resume to continue it, or choose another --run-dir"
            )
        return path

    @classmethod
    def open(cls, path: str | Path) -> "RunDirectory":
        path = Path(path)
        config_path = path / "config.json"
        if not config_path.is_file():
            raise RunDirectoryError(f"{path} is not a run directory (no config.json); pass the folder `tf-gae train` wrote")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise RunDirectoryError(f"{config_path} is not valid JSON ({error}); it was not written by tf-gae") from None
        return cls(path, config)

    # ------------------------------------------------------------------ progress.csv

    @property
    def progress_path(self) -> Path:
        return self.path / "progress.csv"

    def read_progress_rows(self) -> list[dict[str, str]]:
        """The complete rows of progress.csv (a partly written last line, from a kill, is dropped)."""
        if not self.progress_path.exists():
            return []
        text = self.progress_path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines = lines[:-1]
        if not lines:
            return []
        reader = csv.DictReader(io.StringIO("".join(lines)))
        header = reader.fieldnames or []
        return [row for row in reader if len(row) == len(header) and None not in row.values()]

    def truncate_progress(self, max_env_steps: int) -> None:
        """Keep only rows with env_steps ≤ `max_env_steps` (what the restored checkpoint covers)."""
        rows = [row for row in self.read_progress_rows() if int(float(row["env_steps"])) <= max_env_steps]
        if not rows:
            if self.progress_path.exists():
                self.progress_path.unlink()
            return
        columns = list(rows[0].keys())
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        _atomic_write_text(self.progress_path, buffer.getvalue())

    def append_progress(self, row: dict[str, Any], columns: Iterable[str]) -> None:
        columns = list(columns)
        new_file = not self.progress_path.exists()
        with open(self.progress_path, "a", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow({name: _format(row.get(name, math.nan)) for name in columns})
            handle.flush()
            os.fsync(handle.fileno())

    # ------------------------------------------------------------------ checkpoints and TensorBoard

    def checkpoint_manager(self, checkpoint: tf.train.Checkpoint) -> tf.train.CheckpointManager:
        return tf.train.CheckpointManager(checkpoint, str(self.path / "checkpoints"), max_to_keep=3)

    def summary_writer(self) -> Any:
        return tf.summary.create_file_writer(str(self.path / "tb"))

    # ------------------------------------------------------------------ evaluation

    def write_eval(self, result: dict[str, Any]) -> Path:
        path = self.path / "eval.json"
        _atomic_write_text(path, json.dumps(result, sort_keys=True) + "\n")
        return path


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)


def episode_returns(
    act: Callable[[np.ndarray], np.ndarray], env_id: str, episodes: int, seed: int
) -> list[float]:
    """Undiscounted return of each of `episodes` episodes of `env_id`, episode i seeded seed + i.

    The episodes run side by side in one vector env, so `act` maps a batch of observations
    [episodes, obs_dim] to a batch of actions (one policy call per step for all of them); Box actions are
    clipped to the space before stepping. Each environment's first episode counts; one that has finished
    keeps stepping, ignored, until every episode has ended. Any policy can be scored this way (the agents
    benchmark scores Stable-Baselines3's with it too).
    """
    if not (isinstance(episodes, int) and episodes >= 1):
        raise ValueError(f"episodes must be a whole number ≥ 1, got {episodes!r}")
    env = gym.vector.SyncVectorEnv([lambda: gym.make(env_id) for _ in range(episodes)])
    box = isinstance(env.single_action_space, gym.spaces.Box)
    try:
        observations, _ = env.reset(seed=seed)  # environment i is seeded seed + i
        returns = np.zeros(episodes)  # [E]
        running = np.ones(episodes, bool)  # [E] still in its first episode
        while running.any():
            actions = np.asarray(act(np.asarray(observations, np.float32)))
            if box:
                actions = np.clip(actions, env.single_action_space.low, env.single_action_space.high)
            observations, rewards, terminated, truncated, _ = env.step(actions)
            returns += np.where(running, rewards, 0.0)
            running &= ~(np.asarray(terminated) | np.asarray(truncated))
    finally:
        env.close()
    return returns.tolist()


def mode_policy(model: Any, deterministic: bool = True) -> Callable[[np.ndarray], np.ndarray]:
    """A batched policy for :func:`episode_returns`: [E, obs_dim] observations to [E] or [E, act_dim] actions.

    Deterministic: the distribution's mode (argmax / mean); otherwise a sample. One compiled function,
    so build it once per model and reuse it across evaluations.
    """

    def act_deterministically(observations):
        return model.mode(observations)

    def act_stochastically(observations):
        return model.distribution(observations).sample()

    policy = tf.function(act_deterministically if deterministic else act_stochastically, reduce_retracing=True)
    return lambda observations: policy(tf.constant(observations)).numpy()


def evaluate_policy(
    model: Any, env_id: str, episodes: int, seed: int, deterministic: bool = True
) -> tuple[float, float, list[float]]:
    """Mean and std of the return over `episodes` episodes of `env_id` (episode i seeded seed + i).

    Deterministic evaluation acts with the distribution's mode (argmax / mean); otherwise it samples.
    """
    returns = episode_returns(mode_policy(model, deterministic), env_id, episodes, seed)
    return float(np.mean(returns)), float(np.std(returns)), returns
