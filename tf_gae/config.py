"""The trainers' configurations: frozen dataclasses whose fields are the hyperparameters. Chapter 5.

Every field carries its help text (the command's `--help` shows it) and is checked when the object is
made: first its type, exactly (config.json is JSON, so `"false"` is not false and `64` is not a list of
layer widths), then its range. This module imports neither TensorFlow nor gymnasium, so the command can
answer `--help` and refuse a bad flag at once.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

from tf_gae.checks import require

__all__ = [
    "TrainerConfig",
    "A2CConfig",
    "ReinforceConfig",
    "PPOConfig",
    "CONFIGS",
    "NamesSettings",
    "SettingsError",
    "ConfigError",
    "RENAMED_FIELDS",
    "flag_name",
    "command_line_message",
    "split_env_id",
]


class NamesSettings(Exception):
    """An error whose message names settings in the words of the Python API (`lam`, `env_id`); `fields` lists
    them, so that the command can say them as its flags instead (:func:`command_line_message`)."""

    def __init__(self, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.fields = tuple(fields)


class SettingsError(NamesSettings, ValueError):
    """Bad input (a value, a run directory) whose message names settings."""


class ConfigError(SettingsError):
    """An invalid configuration value; the message names the setting and the fix."""


def _naming(*fields: str) -> Callable[[str], ConfigError]:
    """For :func:`tf_gae.checks.require`: a ConfigError naming `fields`."""
    return functools.partial(ConfigError, fields=fields)


SWEEPABLE = ("gamma", "lam", "learning_rate")
"""The settings one compiled training program takes as variables: a sweep varies them (with the seed)."""
ENV_BACKENDS = ("auto", "tensorflow", "gymnasium")
"""Who steps the environments: tf_gae.envs in the graph, gymnasium's vector envs (through tf.numpy_function), or
'auto' (the first where the task has an in-graph version; TrainerConfig.backend resolves it)."""

RENAMED_FIELDS = {"batch_size": "minibatch_size", "clip_range_vf": "clip_range_value"}
"""Older names of fields (as earlier config.json files hold them) -> the one name every trainer family uses."""


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


_FLAG_NAMES = {"env_id": "env", "asynchronous_envs": "async-envs"}  # config field -> flag, where they differ


def flag_name(field_name: str) -> str:
    """The command-line flag of a configuration field: `lam` -> `--lam`, `env_id` -> `--env`."""
    return "--" + _FLAG_NAMES.get(field_name, field_name.replace("_", "-"))


def command_line_message(error: Exception) -> str:
    """`error`'s message with the settings it names (its `fields`, if it has them) said as `tf-gae`'s flags:
    each name standing as a word of its own (not inside a path, a quoted value or a longer name)."""
    text = str(error)
    for name in getattr(error, "fields", ()):
        text = re.sub(rf"(?<![\w./'\"-]){re.escape(name)}(?![\w/'\"-])", flag_name(name), text)
    return text


def split_env_id(env_id: str) -> tuple[str | None, str]:
    """('module', 'EnvId') for gymnasium's `module:EnvId` form (the module registers the id when imported),
    (None, env_id) otherwise. Imports nothing."""
    if ":" not in env_id:
        return None, env_id
    module, _, name = env_id.partition(":")
    if not module or not name:
        raise ValueError(
            f"environment {env_id!r} has an empty {'module' if not module else 'id'} around ':'; "
            "pass module:EnvId (e.g. my_package.envs:MyEnv-v0) or a registered id such as CartPole-v1"
        )
    return module, name


def _has_type(value: Any, annotation: str) -> bool:
    """Whether `value` (from Python or from config.json) is of a field's declared type, exactly: a bool is
    not a number, a string is not a bool, a number is not a tuple of layer widths."""
    whole = lambda x: isinstance(x, int) and not isinstance(x, bool)  # noqa: E731
    if annotation == "bool":
        return isinstance(value, bool)
    if annotation == "int":
        return whole(value)
    if annotation == "float":
        return whole(value) or isinstance(value, float)
    if annotation == "str":
        return isinstance(value, str)
    if annotation == "tuple[int, ...]":
        return isinstance(value, (tuple, list)) and all(whole(x) for x in value)
    raise TypeError(f"no type check for a configuration field annotated {annotation!r}")


_TYPE_WORDS = {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "a string",
               "tuple[int, ...]": "a list of whole numbers"}  # fmt: skip


_LAMBDA_HELP = (
    "GAE λ in [0, 1]: 0 = the one-step TD error δ_t; 1 = the discounted rewards up to where the rollout or a time "
    "limit cuts them plus γ^k V there, minus V(s_t) — the Monte-Carlo return only where the episode terminates "
    "inside the rollout"
)


@dataclass(frozen=True)
class TrainerConfig:
    """Settings shared by every trainer; each field's `help` is its docstring (and its CLI help)."""

    episodic: ClassVar[bool] = False
    """Whether an update waits for whole episodes (REINFORCE) instead of taking n_steps-step segments."""

    env_id: str = _help("gymnasium environment id (1-D Box observations; Discrete or 1-D Box actions)", default="CartPole-v1")
    total_steps: int = _help(
        "environment steps to train for, summed over all environments (whole rollouts only: never more)",
        default=100_000,
    )
    seed: int = _help("seed for the environments, the network initialisation and action sampling", default=0)
    num_envs: int = _help("environments stepped in parallel (B)", default=8)
    n_steps: int = _help("steps per environment in one rollout (T); one update per rollout", default=5)
    gamma: float = _help("discount γ in [0, 1]", default=0.99)
    lam: float = _help(_LAMBDA_HELP, default=0.95)
    learning_rate: float = _help("optimizer step size", default=7e-4)
    optimizer: str = _help("'rmsprop' (as A2C's paper and SB3) or 'adam'", default="rmsprop")
    value_coef: float = _help("weight c_v of the value loss", default=0.5)
    entropy_coef: float = _help("weight c_e of the entropy bonus", default=0.0)
    max_grad_norm: float = _help("clip the global gradient norm to this (0 = no clipping)", default=0.5)
    normalize_advantages: bool = _help("standardise advantages over each batch before the policy loss", default=False)
    hidden_sizes: tuple[int, ...] = _help("hidden layer widths of each MLP", default=(64, 64))
    shared_trunk: bool = _help("one MLP feeding both heads instead of separate policy and value MLPs", default=False)
    normalize_observations: bool = _help("normalise observations by running mean and std (saved with the model)", default=False)
    normalize_rewards: bool = _help("scale rewards by the running std of the discounted return (SB3 VecNormalize)", default=False)
    asynchronous_envs: bool = _help("step environments in subprocesses (gymnasium AsyncVectorEnv)", default=False)
    env_backend: str = _help(
        "'tensorflow' (tf_gae.envs: the task in TensorFlow ops, the whole training call one XLA program; for the "
        "ids tf_gae.envs has), 'gymnasium' (vector envs stepped in Python), or 'auto': tensorflow where the "
        "task has it, else gymnasium (config.json records the choice)",
        default="auto",
    )
    log_every_steps: int = _help("write a progress row and a checkpoint about every this many env steps", default=2_000)

    def __post_init__(self) -> None:
        if isinstance(self.hidden_sizes, list):  # a list from JSON or a caller: the frozen config keeps a tuple
            object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        self.validate()

    def validate(self) -> None:
        def need(condition: bool, name: str, wanted: str, *others: str) -> None:
            require(condition, name, wanted, getattr(self, name), error=_naming(name, *others))

        for config_field in dataclasses.fields(self):  # types first: the checks below compare values
            annotation = str(config_field.type)
            need(_has_type(getattr(self, config_field.name), annotation), config_field.name, _TYPE_WORDS[annotation])

        for name in ("total_steps", "num_envs", "n_steps", "log_every_steps"):
            value = getattr(self, name)
            if name == "n_steps" and self.episodic:  # 0: the environment's time limit
                need(value >= 0, name, "a whole number ≥ 0 (0 = the environment's time limit)")
            else:
                need(value >= 1, name, "a whole number ≥ 1")
        need(isinstance(self.seed, int) and 0 <= self.seed < 2**31, "seed", "a whole number in [0, 2^31)")
        for name in ("gamma", "lam"):
            value = getattr(self, name)
            need(isinstance(value, (int, float)) and 0.0 <= value <= 1.0, name, "a number in [0, 1]")
        need(self.learning_rate > 0 and math.isfinite(self.learning_rate), "learning_rate", "a positive number")
        need(self.optimizer in ("rmsprop", "adam"), "optimizer", "'rmsprop' or 'adam'")
        for name in ("value_coef", "entropy_coef", "max_grad_norm"):
            value = getattr(self, name)
            need(value >= 0 and math.isfinite(value), name, "a non-negative number")
        need(
            len(self.hidden_sizes) >= 1 and all(isinstance(h, int) and h >= 1 for h in self.hidden_sizes),
            "hidden_sizes",
            "one or more positive layer widths, e.g. 64,64",
        )
        need(isinstance(self.env_id, str) and bool(self.env_id), "env_id", "a gymnasium environment id")
        need(self.env_backend in ENV_BACKENDS, "env_backend", "'auto', 'tensorflow' or 'gymnasium'")
        if self.env_backend == "tensorflow":
            from tf_gae.envs import registered  # no TensorFlow import

            need(self.env_id in registered(), "env_backend",
                 f"'gymnasium' for {self.env_id} (tf_gae.envs has {', '.join(registered())})")  # fmt: skip
            need(not self.asynchronous_envs, "asynchronous_envs", "off with env_backend 'tensorflow' (no subprocesses)",
                 "env_backend")  # fmt: skip
        if not self.episodic:
            need(
                self.total_steps >= self.num_envs * self.n_steps,
                "total_steps",
                f"at least one rollout, num_envs × n_steps = {self.num_envs * self.n_steps}",
                "num_envs", "n_steps",
            )  # fmt: skip

    @property
    def backend(self) -> str:
        """The environments the run steps: `env_backend` with 'auto' resolved ('tensorflow' where tf_gae.envs
        has the task and no subprocesses are asked for, else 'gymnasium')."""
        if self.env_backend != "auto":
            return self.env_backend
        from tf_gae.envs import registered  # no TensorFlow import

        return "tensorflow" if self.env_id in registered() and not self.asynchronous_envs else "gymnasium"

    @property
    def steps_per_update(self) -> int:
        """Env steps in one rollout, num_envs × n_steps (for an episodic configuration: the most one holds)."""
        return self.num_envs * self.n_steps

    @property
    def num_updates(self) -> int:
        """Whole rollouts that fit in the budget: training never runs past `total_steps`. An episodic
        configuration has no fixed number: its updates take as many steps as their episodes last."""
        if self.episodic:
            raise AttributeError("an episodic configuration has no fixed number of updates")
        return self.total_steps // self.steps_per_update

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["hidden_sizes"] = list(self.hidden_sizes)
        values["env_backend"] = self.backend  # what ran, so that a resume runs the same
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainerConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        values = {RENAMED_FIELDS.get(name, name): value for name, value in values.items()}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"unknown configuration keys {unknown} for {cls.__name__}")
        values.setdefault("env_backend", "gymnasium")  # a config.json older than the field ran on gymnasium
        if isinstance(values.get("hidden_sizes"), list):  # JSON has no tuples
            values["hidden_sizes"] = tuple(values["hidden_sizes"])
        return cls(**values)


@dataclass(frozen=True)
class A2CConfig(TrainerConfig):
    """A2C with GAE. With these defaults CartPole-v1 ends at ≥ 475 on 6 of 10 seeds after 100k steps: A2C's
    policy still swings there (README)."""

    n_steps: int = _help("steps per environment in one rollout (T); one update per rollout", default=8)
    lam: float = _help(_LAMBDA_HELP, default=0.95)
    learning_rate: float = _help("optimizer step size", default=1e-3)
    optimizer: str = _help("'rmsprop' (as A2C's paper and SB3) or 'adam'", default="adam")
    entropy_coef: float = _help("weight c_e of the entropy bonus", default=0.0)


@dataclass(frozen=True)
class ReinforceConfig(TrainerConfig):
    """REINFORCE-with-baseline: every update is num_envs whole episodes, λ = 1 (the Monte-Carlo return minus
    V), Adam, normalised advantages."""

    episodic: ClassVar[bool] = True

    total_steps: int = _help(
        "environment steps to train for, counted over the episodes trained on (whole episodes: the last update "
        "ends past it by less than one batch of episodes)",
        default=100_000,
    )
    num_envs: int = _help("whole episodes per update, run side by side (B)", default=8)
    n_steps: int = _help(
        "the longest episode an update waits for (T), 0 = the environment's time limit; an episode cut here "
        "ends here, as at a time limit",
        default=0,
    )
    lam: float = _help(
        "GAE λ within each episode; 1 (default): the Monte-Carlo return minus the baseline, with no V after the "
        "episode's end",
        default=1.0,
    )
    learning_rate: float = _help("optimizer step size", default=1e-2)
    optimizer: str = _help("'rmsprop' (as A2C's paper and SB3) or 'adam'", default="adam")
    normalize_advantages: bool = _help("standardise advantages over each batch before the policy loss", default=True)
    max_grad_norm: float = _help("clip the global gradient norm to this (0 = no clipping)", default=1.0)


@dataclass(frozen=True)
class PPOConfig(TrainerConfig):
    """PPO with GAE. Defaults are RL Zoo's tuned CartPole-v1 settings."""

    n_steps: int = _help("steps per environment in one rollout (T)", default=32)
    gamma: float = _help("discount γ in [0, 1]", default=0.98)
    lam: float = _help(_LAMBDA_HELP, default=0.8)
    learning_rate: float = _help("optimizer step size (the start value when annealed)", default=1e-3)
    optimizer: str = _help("'adam' (as PPO's paper) or 'rmsprop'", default="adam")
    normalize_advantages: bool = _help("standardise advantages per minibatch", default=True)
    n_epochs: int = _help("passes over each rollout", default=20)
    minibatch_size: int = _help("samples per minibatch (the rollout has num_envs × n_steps)", default=256)
    clip_range: float = _help("ε of the clipped surrogate (the start value when annealed)", default=0.2)
    clip_range_value: float = _help("ε_V of value-function clipping (0 = no value clipping)", default=0.0)
    target_kl: float = _help("stop a rollout's epochs once approx_kl > 1.5 × this (0 = never)", default=0.0)
    anneal_lr: bool = _help("decay the learning rate linearly to 0 over training", default=True)
    anneal_clip: bool = _help("decay clip_range linearly to 0 over training", default=True)

    def validate(self) -> None:
        super().validate()
        for name in ("n_epochs", "minibatch_size"):
            require(getattr(self, name) >= 1, name, "a whole number ≥ 1", getattr(self, name), error=_naming(name))
        require(0.0 < self.clip_range < 1.0, "clip_range", "in (0, 1) (PPO uses 0.1–0.3)", self.clip_range,
                error=_naming("clip_range"))  # fmt: skip
        for name in ("clip_range_value", "target_kl"):
            require(getattr(self, name) >= 0, name, "≥ 0 (0 turns it off)", getattr(self, name), error=_naming(name))


CONFIGS: dict[str, type[TrainerConfig]] = {"a2c": A2CConfig, "reinforce": ReinforceConfig, "ppo": PPOConfig}
"""The configuration class of each algorithm, by the name `--algo` takes."""
