"""The run directory: config.json, progress.csv, checkpoints/, tb/, eval.json, learning_curve.png.

What a run directory is trusted with (a folder may come from someone else):
- Nothing in it executes. config.json is plain JSON, checked field by field; checkpoints are
  `tf.train.Checkpoint` files (tensors only). A config.json naming a `module:Id` environment is not
  imported unless the caller says it trusts that module (the command: the same `--env`, or `--trust-run-dir`).
- Nothing outside it is touched. Checkpoints are found by listing `checkpoints/` for `ckpt-N.index`,
  never by following the paths in TensorFlow's `checkpoints/checkpoint` state file; a state file that
  names anything outside is refused. Old checkpoints are deleted by name inside `checkpoints/` only.
- No history is lost. Every write that replaces a file goes through a temporary file and `os.replace`,
  so a kill at any moment leaves either the old or the new file. The training loop writes a progress row
  first and then saves a checkpoint (`ckpt-0` is saved when the run is created); a resumed run restores
  the newest checkpoint that reads back whole, falling back to older ones, and cuts progress.csv back to
  it, so `env_steps` increases with no gap and no repeat. Progress rows with no checkpoint to resume them
  are refused, never silently dropped.
- One writer at a time: training holds an exclusive `flock` on `.lock` (the holder's PID inside); the
  kernel releases it when the process ends, however it ends.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import os
import platform
import re
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import gymnasium as gym
import numpy as np

from tf_gae.config import SettingsError  # TensorFlow-free

# TensorFlow is imported where checkpoints, summaries and policies need it, not here: the checks of a run
# directory (new, locked, its config.json) answer before TensorFlow loads, so a refused command is instant.
if TYPE_CHECKING:
    from tf_gae._tf import tf

__all__ = [
    "RunDirectory",
    "RunDirectoryError",
    "RunCheckpoints",
    "ScalarLog",
    "package_versions",
    "episode_returns",
    "mode_policy",
    "evaluate_policy",
]


class RunDirectoryError(SettingsError):
    """The run directory cannot be used as asked; the message says what to do instead."""


def package_versions() -> dict[str, str]:
    import keras
    import matplotlib
    import tensorflow_probability as tfp

    import tf_gae
    from tf_gae._tf import tf

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
        """A new run, locked by this process (:meth:`lock`). Refuses a folder that already holds files, so
        nothing is ever overwritten, and one another process is creating at the same moment."""
        path = cls.check_new(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunDirectoryError(
                f"cannot create run directory {path} ({error.strerror}); choose another run_dir", ("run_dir",)
            ) from None
        run = cls(path, dict(config))
        run.lock()
        if (path / "config.json").exists():  # another process created this run since check_new
            run.unlock()
            raise RunDirectoryError(
                f"run directory {path} already holds a run; continue it with resume, or choose another run_dir",
                ("resume", "run_dir"),
            )
        run.config["versions"] = package_versions()
        _atomic_write_text(path / "config.json", json.dumps(run.config, indent=2, sort_keys=True) + "\n")
        return run

    @staticmethod
    def check_new(path: str | Path) -> Path:
        """`path`, if a new run may be written there (absent, or a folder empty but for a lock file, whose
        nearest existing ancestor is a writable folder); else RunDirectoryError."""
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(p.name != ".lock" for p in path.iterdir())):
            what = "a run" if (path / "config.json").exists() else ("files" if path.is_dir() else "a file in its place")
            raise RunDirectoryError(
                f"run directory {path} already holds {what}; continue it with resume, or choose another run_dir",
                ("resume", "run_dir"),
            )
        ancestor = path.absolute()
        while not ancestor.exists():
            ancestor = ancestor.parent
        if ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK):
            return path
        problem = "is not writable" if ancestor.is_dir() else "is a file"
        raise RunDirectoryError(
            f"cannot create run directory {path}: {ancestor} {problem}; choose another run_dir", ("run_dir",)
        )

    @classmethod
    def open(cls, path: str | Path) -> "RunDirectory":
        """An existing run, read only: config.json must be a JSON object (its fields are checked by the caller)."""
        path = Path(path)
        config_path = path / "config.json"
        if not config_path.is_file():
            raise RunDirectoryError(f"{path} is not a run directory (no config.json); pass the folder `tf-gae train` wrote")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RunDirectoryError(f"{config_path} is not valid JSON ({error}); it was not written by tf-gae") from None
        if not isinstance(config, dict):
            raise RunDirectoryError(f"{config_path} holds a JSON {type(config).__name__}, not an object; it was not written by tf-gae")
        return cls(path, config)

    # ------------------------------------------------------------------ one writer

    def lock(self) -> None:
        """Hold `.lock` exclusively until :meth:`unlock` or the end of this process (the kernel then frees it,
        so a killed run leaves no stale lock). RunDirectoryError naming the holder's PID if another has it."""
        descriptor = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(descriptor, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(descriptor)
            raise RunDirectoryError(
                f"run directory {self.path} is in use by process {holder} (tf-gae train); wait for it to end or "
                "stop it, then pass --resume"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        self._lock_descriptor = descriptor

    def unlock(self) -> None:
        descriptor = getattr(self, "_lock_descriptor", None)
        if descriptor is not None:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)
            self._lock_descriptor = None

    # ------------------------------------------------------------------ progress.csv

    @property
    def progress_path(self) -> Path:
        return self.path / "progress.csv"

    def read_progress_rows(self) -> list[dict[str, str]]:
        """The complete rows of progress.csv as text (a partly written last line, from a kill, is dropped).

        The file is first checked by :func:`tf_gae.plotting.read_progress`, so the command that resumes a
        run and the one that plots it accept and refuse the same files (RunDirectoryError, one line).
        """
        from tf_gae.plotting import complete_lines, read_progress

        if not self.progress_path.exists() or not complete_lines(self.progress_path.read_text(encoding="utf-8")).strip():
            return []  # killed before its header was whole: no rows
        try:
            read_progress(self.progress_path)
        except ValueError as error:
            raise RunDirectoryError(f"{error}; or start a new run") from None
        reader = csv.DictReader(io.StringIO(complete_lines(self.progress_path.read_text(encoding="utf-8"))))
        return list(reader)

    def truncate_progress(self, max_env_steps: int) -> int:
        """Keep only rows with env_steps ≤ `max_env_steps` (what the restored checkpoint covers); returns
        how many complete rows were dropped."""
        every_row = self.read_progress_rows()
        rows = [row for row in every_row if float(row["env_steps"]) <= max_env_steps]
        if not rows:
            if self.progress_path.exists():
                self.progress_path.unlink()
            return len(every_row)
        columns = list(rows[0].keys())
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        _atomic_write_text(self.progress_path, buffer.getvalue())
        return len(every_row) - len(rows)

    def append_progress(self, row: dict[str, Any], columns: Iterable[str]) -> None:
        columns = list(columns)
        new_file = not self.progress_path.exists() or self.progress_path.stat().st_size == 0
        with open(self.progress_path, "a", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow({name: _format(row.get(name, math.nan)) for name in columns})
            handle.flush()
            os.fsync(handle.fileno())

    # ------------------------------------------------------------------ checkpoints and TensorBoard

    def checkpoints(self, checkpoint: tf.train.Checkpoint, max_to_keep: int = 3) -> "RunCheckpoints":
        return RunCheckpoints(self.path / "checkpoints", checkpoint, max_to_keep)

    def scalar_log(self) -> "ScalarLog":
        """tb/: the progress rows as TensorBoard scalars (close it when training ends)."""
        return ScalarLog(self.path / "tb")

    # ------------------------------------------------------------------ evaluation

    def write_eval(self, result: dict[str, Any]) -> Path:
        path = self.path / "eval.json"
        try:
            _atomic_write_text(path, json.dumps(result, sort_keys=True) + "\n")
        except OSError as error:
            raise RunDirectoryError(f"cannot write {path} ({error.strerror})") from None
        return path


class RunCheckpoints:
    """A run's `checkpoints/` folder, holding `ckpt-N.index` + `ckpt-N.data-*` for update counts N.

    The checkpoints are whatever `ckpt-N.index` files the folder holds: TensorFlow's `checkpoint` state file
    is written for its tools (relative names only) but never followed. Saving rotates out all but the
    newest `max_to_keep`, deleting their files by name inside the folder. Restoring tries the newest first
    and falls back to older ones when a checkpoint does not read back whole.
    """

    STATE_FILE = "checkpoint"
    _INDEX = re.compile(r"ckpt-(\d+)\.index")

    def __init__(self, folder: Path, checkpoint: tf.train.Checkpoint, max_to_keep: int = 3) -> None:
        self.folder = Path(folder)
        self.checkpoint = checkpoint
        self.max_to_keep = max_to_keep

    def numbers(self) -> list[int]:
        """The update counts of the checkpoints on disk, oldest first, found by listing the folder."""
        if not self.folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := self._INDEX.fullmatch(p.name)))

    def check_state_file(self) -> None:
        """RunDirectoryError if the folder is a link, or TensorFlow's state file names a checkpoint outside
        it. A state file that is missing or unreadable is no matter: checkpoints are found by listing."""
        if self.folder.is_symlink():
            raise RunDirectoryError(f"{self.folder} is a link to {os.readlink(self.folder)}; a run directory's checkpoints are its own")
        state = self.folder / self.STATE_FILE
        try:
            text = state.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return
        for quoted in re.findall(r'"((?:[^"\\]|\\.)*)"', text):
            if (self.folder / quoted).resolve().parent != self.folder.resolve():
                raise RunDirectoryError(
                    f"{state} names {quoted!r}, outside {self.folder}; a run directory's checkpoints are its own. "
                    f"Delete that file to use the checkpoints inside (tf-gae finds them without it)"
                )

    def prefix(self, number: int) -> Path:
        return self.folder / f"ckpt-{number}"

    def save(self, number: int) -> Path:
        """Write checkpoint `number` (the update count), then rotate out the oldest beyond max_to_keep."""
        self.folder.mkdir(exist_ok=True)
        prefix = self.prefix(number)
        _compiled_write(self.checkpoint)(str(prefix))
        kept = self.numbers()[-self.max_to_keep :]
        names = "".join(f'all_model_checkpoint_paths: "ckpt-{n}"\n' for n in kept)
        _atomic_write_text(self.folder / self.STATE_FILE, f'model_checkpoint_path: "ckpt-{kept[-1]}"\n{names}')
        for path in self.folder.iterdir():
            match = re.fullmatch(r"ckpt-(\d+)\.(index|data-\d{5}-of-\d{5})", path.name)
            if match and int(match.group(1)) not in kept and path.is_file():
                path.unlink()
        return prefix

    def restore_newest(self, *, partial: bool = False) -> tuple[int | None, list[str]]:
        """Restore the newest checkpoint that reads back whole: (its number or None if there is none,
        a note for each newer one that did not read). `partial`: the checkpoint may hold more objects than
        this one (evaluation restores the model only). RunDirectoryError if checkpoints exist but none reads,
        or one holds tensors of other shapes than this run's (its config.json and checkpoints disagree)."""
        self.check_state_file()  # a state file naming anything outside: someone crafted it
        notes: list[str] = []
        numbers = self.numbers()
        for number in reversed(numbers):
            try:
                status = self.checkpoint.read(str(self.prefix(number)))
                if partial:
                    status.expect_partial()
                else:
                    status.assert_existing_objects_matched()
            except (ValueError, AssertionError) as error:
                raise RunDirectoryError(
                    f"{self.prefix(number)} does not fit this run's model ({_first_line(error)}); "
                    "its config.json and checkpoints disagree: start a new run"
                ) from None
            except Exception as error:  # truncated, deleted or garbled files: try the one before
                notes.append(f"ckpt-{number} is unreadable ({type(error).__name__}: {_first_line(error)})")
                continue
            return number, notes
        if numbers:
            raise RunDirectoryError(
                f"no checkpoint in {self.folder} reads back ({'; '.join(notes)}); the run cannot be resumed: start a new run"
            )
        return None, notes


class ScalarLog:
    """A TensorBoard event file of scalars, one event per progress row, written by TensorBoard's own
    `EventFileWriter` (the writer behind tf.summary's files, also PyTorch's SummaryWriter). The records are
    what `tf.summary.scalar` writes (a float32 tensor value with the "scalars" plugin's metadata), without
    the eager TensorFlow op that tf.summary dispatches for every scalar, which made TensorBoard the costliest
    part of writing a progress row (benchmarks/agents.py's sweep writes 1,600 of them)."""

    def __init__(self, folder: Path) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._writer = EventFileWriter(str(folder))

    def write(self, step: int, scalars: dict[str, float]) -> None:
        """One event at `step` holding each `tag: value`, flushed to the file before returning."""
        import time

        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb

        values = [scalar_pb(tag, value).value[0] for tag, value in scalars.items()]
        self._writer.add_event(Event(wall_time=time.time(), step=step, summary=Summary(value=values)))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


_COMPILED_WRITES: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()  # checkpoint -> its traced write


def _compiled_write(checkpoint: Any) -> Callable[[str], Any]:
    """`checkpoint.write(prefix)`: eagerly for its first EAGER_SAVES saves, then as one graph call, traced
    then and kept while the checkpoint lives.

    Eager `write` gathers the objects and serialises their graph in Python on every save; traced once,
    a save runs only the save and merge ops, with the same files and the same atomic temp-then-merge
    (tests/test_run_directory_trust.py reads them back). The checkpoint's objects never change after it is
    made (the trainers build theirs once), so one trace serves every later save. Tracing costs more than
    one eager save, so a checkpoint saved only a few times (a sweep's agent: at its creation, every 10 s
    and at its end) is never traced."""
    from tf_gae._tf import tf

    saves = _EAGER_SAVES_DONE.get(checkpoint, 0)
    if saves < EAGER_SAVES:
        _EAGER_SAVES_DONE[checkpoint] = saves + 1
        return checkpoint.write
    write = _COMPILED_WRITES.get(checkpoint)
    if write is None:
        reference = weakref.ref(checkpoint)  # the traced function must not keep its key alive
        write = _COMPILED_WRITES[checkpoint] = tf.function(lambda prefix: reference().write(prefix), autograph=False)
    return lambda prefix: write(tf.constant(prefix))


EAGER_SAVES = 3
"""A checkpoint's first saves are eager (see _compiled_write)."""

_EAGER_SAVES_DONE: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()  # checkpoint -> eager saves


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


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

    from tf_gae._tf import tf

    policy = tf.function(act_deterministically if deterministic else act_stochastically, reduce_retracing=True, autograph=False)
    return lambda observations: policy(tf.constant(observations)).numpy()


def evaluate_policy(
    model: Any, env_id: str, episodes: int, seed: int, deterministic: bool = True
) -> tuple[float, float, list[float]]:
    """Mean and std of the return over `episodes` episodes of `env_id` (episode i seeded seed + i).

    Deterministic evaluation acts with the distribution's mode (argmax / mean); otherwise it samples.
    """
    returns = episode_returns(mode_policy(model, deterministic), env_id, episodes, seed)
    return float(np.mean(returns)), float(np.std(returns)), returns
