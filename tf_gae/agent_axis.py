"""Agents along an axis: A independent A2C or PPO runs trained by one program whose tensors carry the agents
first.

    trainers = [A2CTrainer(config) for config in configs]   # each holds its run's initial state
    axis = AgentAxis(trainers)                               # the runs, stacked: weights [A, in, out], ...
    axis.train(on_row=lambda k, row: ...)                    # every run's progress rows
    axis.unload()                                            # each run's state back in its own trainer

Why. A sweep's runs are small: one A2C update on 8 CartPoles × 5 steps is several hundred kernels of a
few microseconds each, and on two cores their launch costs more than their arithmetic. With the agents
along a leading axis the same kernels do every agent's work: one batched matmul per layer on weights
[A, in, out] and observations [A, N, in], one environment step for A·B copies of the task.

What stays each agent's own, so that agent k trains exactly as its solo run (tests/test_agent_axis.py):
- randomness: its collector's own `tf.random.Generator` stream gives its action and reset seeds, drawn for
  all agents at once by :class:`tf_gae.rng.StackedGenerators` (TensorFlow has no random op that takes a
  batch of seeds; one op per agent made XLA's compile grow with A), and its actions are its solo run's
  Gumbel-max draws from its rows of the logits with that seed (box actions: its own TFP sampler);
- its environments: rows k·B … (k+1)·B − 1 of the task's state, new episodes drawn from its own seed;
- γ and λ: per-column vectors in GAE's recursion; the learning rate and the step count of its optimizer;
- every mean (the losses, advantage normalisation, explained variance) over its own N = T·B samples;
- its gradient step, `Learner.step` with `agent_axis=True`: the loss summed over agents has, with respect to
  agent k's slice of the stacked weights, exactly agent k's gradient (the slices are disjoint); it is
  clipped by agent k's own global norm, and the step is skipped for agent k alone when its loss or norm is
  not finite; the optimizer is :class:`tf_gae.learner.StackedOptimizer`, each agent's RMSprop or Adam
  written out with its own learning rate and step count.
The only difference from the solo runs is rounding: XLA fuses the batched program otherwise and adds some
terms in another order. In float64 none of it reaches a progress row (tested: bit for bit); in float32 the
rows agree to rounding, which training can carry further the longer it runs (continuous actions most).

PPO's update is its own per agent too: its shuffles (the numbers its solo XLA program draws), its minibatch
epochs, its advantages normalised over its own minibatch, its annealed learning rate and its KL early stop;
an agent that stops keeps its weights, optimizer and shuffle stream while the others go on
(`Learner.minibatch_epochs` with the agent axis).

Which runs can share an axis (:func:`refusal`): A2C, or PPO whose minibatch size divides its rollout, with
the environment in the graph, the package's MLPs, and no running statistics (observation or reward
normalisation), differing only in seed, γ, λ and learning rate. `tf_gae.sweep` trains other sweeps one agent
after another through one program. (Whole episodes, REINFORCE's, were tried on an axis and were slower:
docs/design.md.)
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

from tf_gae._tf import tf  # first: TensorFlow imported once, without its start-up noise
import keras  # noqa: E402
from tf_gae.advantages import _gae_recursion, normalize_advantages
from tf_gae.config import SWEEPABLE
from tf_gae.envs.core import FunctionalEnv, as_seed
from tf_gae.learner import Learner, StackedOptimizer
from tf_gae.models import gumbel_max, policy_distribution
from tf_gae.rng import StackedGenerators, unit_uniform
from tf_gae.rollout import RolloutCollector, finished_episodes
from tf_gae.trainers.base import Trainer, TorchStyleRMSprop, TrainingDiverged, explained_variance

__all__ = ["AgentAxis", "AgentsEnv", "AgentsActorCritic", "refusal"]


def refusal(trainers: Sequence[Trainer]) -> str | None:
    """Why these runs cannot be trained along one agent axis, or None when they can."""
    first = trainers[0]
    config = first.config
    if first.algo not in ("a2c", "ppo"):
        return f"the agent axis is A2C's and PPO's, not {first.algo}'s"
    if first.algo == "ppo" and not first.compiles_whole_call:
        return "PPO on the agent axis needs minibatch_size to divide num_envs × n_steps"
    if config.backend != "tensorflow" or first.strategy is not None:
        return "the agent axis needs the environment in the graph and no distribution strategy"
    if first.model.network is not None:
        return "the agent axis stacks the package's MLPs, not a user's own network"
    if config.normalize_observations or config.normalize_rewards:
        return "running observation or reward statistics are not stacked along the agent axis"
    if not isinstance(first.optimizer, (TorchStyleRMSprop, keras.optimizers.Adam)):
        return f"the agent axis writes out RMSprop and Adam, not {type(first.optimizer).__name__}"
    shared = {name: value for name, value in config.to_dict().items() if name not in ("seed", *SWEEPABLE)}
    for trainer in trainers[1:]:
        other = {name: value for name, value in trainer.config.to_dict().items() if name not in ("seed", *SWEEPABLE)}
        if type(trainer) is not type(first) or other != shared:
            return "the agents differ in more than seed, γ, λ and learning rate"
    return None


class AgentsEnv(FunctionalEnv):
    """A task's environments for A agents side by side: rows k·B … (k+1)·B − 1 of every tensor are agent
    k's B copies, and agent k's new episodes are drawn from its own stateless seed, row k of `seed` [A, 2]."""

    def __init__(self, env: FunctionalEnv, num_agents: int, envs_per_agent: int) -> None:  # no gymnasium probe
        self.env, self.num_agents, self.envs_per_agent = env, num_agents, envs_per_agent
        for name in ("id", "max_episode_steps", "physics_size", "observation_space", "action_space", "observation_size"):
            setattr(self, name, getattr(env, name))

    def dynamics(self, physics: tf.Tensor, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return self.env.dynamics(physics, action)

    def observe(self, physics: tf.Tensor) -> tf.Tensor:
        return self.env.observe(physics)

    def fresh_physics(self, seed: object, num_envs: int | tf.Tensor) -> tf.Tensor:
        """[A·B, k]: agent k's B start states from row k of `seed` [A, 2] (one seed given: every agent's)."""
        seeds = as_seed(seed)
        if seeds.shape.rank == 1:
            seeds = tf.tile(seeds[None], [self.num_agents, 1])
        return self.env.initial_physics(seeds, self.envs_per_agent)  # drawn for all agents at once


class _AgentsPolicy:
    """π(· | s) of A agents on [A·B] rows (agent k's B rows together): log_prob and entropy batched; `sample`
    draws agent k's rows from row k of `seed` [A, 2] with the sampler of its solo run."""

    def __init__(self, action_spec: Any, outputs: tf.Tensor, log_std: tf.Variable | None) -> None:
        # outputs [A, B, n] logits or [A, B, d] means; log_std [A, d] or None
        self.per_agent = [  # each agent's own distribution object, for box actions' sampling
            policy_distribution(action_spec, outputs[k], None if log_std is None else log_std[k])
            for k in range(outputs.shape[0])
        ] if log_std is not None else []
        self.num_agents = outputs.shape[0]
        self.joint = AgentsActorCritic.distribution_of(action_spec, outputs, log_std)  # batch shape [A, B]
        self.action_shape = () if action_spec.is_discrete else (action_spec.size,)
        self.logits = outputs if action_spec.is_discrete else None  # [A, B, n]

    def sample(self, seed: tf.Tensor) -> tf.Tensor:
        """[A·B] actions, agent k's B from row k of `seed` [A, 2] as its own policy's `sample(seed=...)` draws
        them: Gumbel-max for all agents at once; box actions agent by agent (TFP's normal sampler)."""
        if self.logits is None:
            return tf.concat([policy.sample(seed=seed[k]) for k, policy in enumerate(self.per_agent)], 0)
        # the solo sampler draws u of shape [1, B, n] from its seed (sample shape first)
        uniform = unit_uniform([1, *self.logits.shape[1:]], seed, open_interval=True)  # [A, 1, B, n]
        return tf.reshape(tf.cast(gumbel_max(self.logits[:, None], uniform), tf.int32), [-1])

    def _agents_first(self, actions: tf.Tensor) -> tf.Tensor:  # [A·B, ...] -> [A, B, ...]
        return tf.reshape(actions, [self.num_agents, -1, *self.action_shape])

    def log_prob(self, actions: tf.Tensor) -> tf.Tensor:
        return tf.reshape(self.joint.log_prob(self._agents_first(actions)), [-1])  # [A·B]

    def entropy(self) -> tf.Tensor:
        return tf.reshape(self.joint.entropy(), [-1])  # [A·B]


class AgentsActorCritic:
    """A actor-critics of one architecture as one: each trainable weight of the template stacked along a
    leading agent axis (`weights[i]` is [A, *shape of the template's i-th]). `forward` takes observations
    [A, N, obs_dim]; `policy_and_value` and `value` take the collector's [A·B, obs_dim] (agent k's rows
    together). A Dense layer of agent k computes x_k W_k + b_k, its activation, as Keras's does."""

    observation_normalizer = None

    def __init__(self, models: Sequence[Any], num_envs: int) -> None:
        template = models[0]
        self.num_agents, self.num_envs = len(models), num_envs  # A, and B environments per agent
        self.action_spec = template.action_spec
        self.observation_size = template.observation_size
        self.compute_dtype = template.compute_dtype
        variables = template.trainable_variables
        self.weights = [
            tf.Variable(tf.zeros([self.num_agents, *v.shape], v.dtype), trainable=True, name=f"agents_{v.name}")
            for v in variables
        ]
        position = {id(v): i for i, v in enumerate(variables)}

        def stacked(layers: Sequence[Any]) -> tuple[tuple[tf.Variable, tf.Variable, Callable], ...]:
            return tuple((self.weights[position[id(layer.kernel)]], self.weights[position[id(layer.bias)]], layer.activation)
                         for layer in layers)  # fmt: skip

        self.trunk, self.policy_trunk, self.value_trunk = (
            stacked(template.trunk), stacked(template.policy_trunk), stacked(template.value_trunk)
        )
        (self.policy_head,), (self.value_head,) = stacked([template.policy_head]), stacked([template.value_head])
        self.log_std = None if template.log_std is None else self.weights[position[id(template.log_std)]]

    @staticmethod
    def distribution_of(action_spec: Any, outputs: tf.Tensor, log_std: Any) -> Any:
        """π(· | s) with batch shape [A, N] from the heads' outputs [A, N, ...] and log σ [A, d] (box actions)."""
        return policy_distribution(action_spec, outputs, None if log_std is None else log_std[:, None, :])

    def forward(self, observations: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(policy head outputs [A, N, n or d], V(s) [A, N]) for observations [A, N, obs_dim]."""

        def dense(layer: tuple[tf.Variable, tf.Variable, Callable], x: tf.Tensor) -> tf.Tensor:
            kernel, bias, activation = layer  # [A, in, out], [A, out]
            return activation(tf.matmul(x, kernel) + bias[:, None, :])  # [A, N, out]

        features = observations
        for layer in self.trunk:
            features = dense(layer, features)
        policy_features = value_features = features
        for layer in self.policy_trunk:
            policy_features = dense(layer, policy_features)
        for layer in self.value_trunk:
            value_features = dense(layer, value_features)
        return dense(self.policy_head, policy_features), tf.squeeze(dense(self.value_head, value_features), -1)

    def _agents_first(self, observations: tf.Tensor) -> tf.Tensor:
        """The collector's rows [..., A·B] (agent k's B rows together, repeated over any leading steps) as
        [A, N, obs_dim], each agent's rows in their order."""
        rows = tf.reshape(tf.cast(observations, self.compute_dtype), [-1, self.num_agents, self.num_envs, self.observation_size])  # [S, A, B, obs]
        return tf.reshape(tf.transpose(rows, [1, 0, 2, 3]), [self.num_agents, -1, self.observation_size])

    def _rows_back(self, values: tf.Tensor) -> tf.Tensor:  # [A, S·B] -> [S·A·B], the collector's row order
        return tf.reshape(tf.transpose(tf.reshape(values, [self.num_agents, -1, self.num_envs]), [1, 0, 2]), [-1])

    def policy_and_value(self, observations: tf.Tensor) -> tuple[_AgentsPolicy, tf.Tensor]:
        """For one step's observations [A·B, obs_dim]: π(· | s) and V(s) [A·B]."""
        outputs, values = self.forward(self._agents_first(observations))
        return _AgentsPolicy(self.action_spec, outputs, self.log_std), self._rows_back(values)

    def mode(self, observations: tf.Tensor) -> tf.Tensor:
        """Each agent's deterministic action for observations [A·E, obs_dim] (agent k's E rows together), as
        ActorCritic.mode: argmax of the logits [A·E], or the mean [A·E, act_dim]."""
        rows = tf.reshape(tf.cast(observations, self.compute_dtype), [self.num_agents, -1, self.observation_size])
        outputs = self.forward(rows)[0]  # [A, E, n or d]
        if self.action_spec.is_discrete:
            return tf.reshape(tf.argmax(outputs, axis=-1, output_type=tf.int32), [-1])
        return tf.reshape(outputs, [-1, outputs.shape[-1]])

    def value(self, observations: tf.Tensor) -> tf.Tensor:
        """V(s) of observations [S·A·B, obs_dim] (S steps of the collector's rows)."""
        return self._rows_back(self.forward(self._agents_first(observations))[1])


class AgentAxis(Trainer):
    """A2C or PPO runs stacked along an agent axis and trained by one compiled program (module docstring).

    It is a :class:`~tf_gae.trainers.base.Trainer` whose parts are the agents' stacked: the training call,
    its schedule of progress rows and its rollout are the Trainer's own; the update is written here per
    agent. `trainers` are the runs (each holding its state); :meth:`load` stacks them, :meth:`unload` puts
    each run's state back into its trainer (for checkpoints and for the Agent it becomes)."""

    def __init__(self, trainers: Sequence[Trainer]) -> None:  # not Trainer.__init__: its parts are the agents'
        reason = refusal(trainers)
        if reason is not None:
            raise ValueError(f"these runs cannot share an agent axis: {reason}")
        self.trainers = list(trainers)
        first = self.trainers[0]
        self.config, self.strategy, self.algo = first.config, None, first.algo
        self.num_agents = num_agents = len(self.trainers)
        self.rollout_steps = first.rollout_steps
        self.hyperparameters = {
            name: tf.Variable(tf.zeros([num_agents], tf.float64), trainable=False, name=f"agents_{name}")
            for name in SWEEPABLE
        }
        self.model = AgentsActorCritic([trainer.model for trainer in self.trainers], self.config.num_envs)
        self.optimizer = StackedOptimizer([trainer.optimizer for trainer in self.trainers], self.model.weights)
        self.learner = Learner(self.model.weights, self.optimizer, max_grad_norm=self.config.max_grad_norm, agent_axis=True)
        self.learner.generator = StackedGenerators([trainer.learner.generator for trainer in self.trainers])  # shuffles
        self.raw_metric_names = first.raw_metric_names
        self.env = AgentsEnv(first.env, num_agents, self.config.num_envs)
        self.collector = RolloutCollector(
            self.env, self.model, num_envs=num_agents * self.config.num_envs, num_steps=self.rollout_steps, seed=0
        )
        self.collector.generator = StackedGenerators([trainer.collector.generator for trainer in self.trainers])
        self.env_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="env_steps")
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="updates")
        self.metric_shape = (num_agents,)
        self._checkpoint = None
        self.load()

    # ------------------------------------------------------------------ the runs in and out

    def _pairs(self) -> list[tuple[tf.Variable, list[Any], int]]:
        """(stacked variable, each agent's variable, rows per agent) for everything load and unload move."""
        trainers, num_envs = self.trainers, self.config.num_envs
        pairs = [(w, [t.model.trainable_variables[i] for t in trainers], 0) for i, w in enumerate(self.model.weights)]
        per_optimizer = [self.optimizer.pairs(t.optimizer) for t in trainers]
        pairs += [(stacked, [p[j][1] for p in per_optimizer], 0) for j, (stacked, _) in enumerate(per_optimizer[0])]
        pairs += [(self.hyperparameters[name], [t.hyperparameters[name] for t in trainers], 0) for name in self.hyperparameters]
        mine = self.collector.state_variables()
        pairs += [(mine[name], [t.collector.state_variables()[name] for t in trainers], num_envs) for name in mine]
        return pairs

    def load(self) -> None:
        """Stack the runs' states (weights, optimizer, γ, λ, environments, counters) into this program."""
        self._move_in()
        self.collector.generator.load()
        self.learner.generator.load()
        self._unloaded_at = int(self.updates.numpy())

    def unload(self) -> None:
        """Each run's state back into its own trainer, which then holds its run as if it had trained alone
        (nothing to do when the program has not trained since the last load or unload)."""
        updates = int(self.updates.numpy())
        if updates == self._unloaded_at:
            return
        self._move_out()
        self.collector.generator.unload()
        self.learner.generator.unload()
        self._unloaded_at = updates

    @functools.cached_property
    def _move_in(self) -> Callable[[], None]:  # one graph call: a few thousand small assignments
        def move_in() -> None:
            for stacked, own, rows in self._pairs():
                values = [tf.convert_to_tensor(v) for v in own]
                stacked.assign(tf.concat(values, 0) if rows else tf.stack(values))
            self.env_steps.assign(self.trainers[0].env_steps)
            self.updates.assign(self.trainers[0].updates)

        return tf.function(move_in, autograph=False)

    @functools.cached_property
    def _move_out(self) -> Callable[[], None]:
        def move_out() -> None:
            for stacked, own, rows in self._pairs():
                for k, variable in enumerate(own):
                    variable.assign(stacked[k * rows : (k + 1) * rows] if rows else stacked[k])
            for trainer in self.trainers:
                trainer.env_steps.assign(self.env_steps)
                trainer.updates.assign(self.updates)

        return tf.function(move_out, autograph=False)

    # ------------------------------------------------------------------ the update, per agent

    def _agents_batch(self, rollout_tensors: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """GAE on the rollout [T, A·B, ...] with each agent's γ and λ, then every field as [A, N, ...] with
        N = T·B: agent k's samples in its solo run's order (its flat batch), floats in the model's type."""
        num_agents, num_envs, num_steps = self.num_agents, self.config.num_envs, self.rollout_steps

        def columns(name: str) -> tf.Tensor:  # [A] -> [A·B]: each agent's value for each of its columns
            return tf.repeat(tf.cast(self.hyperparameters[name], tf.float32), num_envs)

        r = rollout_tensors
        advantages, returns = _gae_recursion(
            r["rewards"], r["values"], r["next_values"], r["terminated"], r["truncated"], columns("gamma"), columns("lam")
        )  # [T, A·B] each

        def agents_first(x: tf.Tensor) -> tf.Tensor:  # [T, A·B, ...] -> [A, T·B, ...], each agent's solo order
            x = tf.reshape(x, [num_steps, num_agents, num_envs, *x.shape[2:]])
            x = tf.transpose(x, [1, 0, 2, *range(3, x.shape.rank)])
            return tf.reshape(x, [num_agents, num_steps * num_envs, *x.shape[3:]])

        dtype = tf.as_dtype(self.model.compute_dtype)  # the update computes in the model's float type
        floats = dict(log_probs=r["log_probs"], values=r["values"], advantages=advantages, returns=returns)
        return dict(
            observations=tf.cast(agents_first(r["observations"]), dtype),  # [A, N, obs_dim]
            actions=agents_first(r["actions"]),  # [A, N] or [A, N, act_dim]
            **{name: tf.cast(agents_first(x), dtype) for name, x in floats.items()},  # [A, N] each
        )

    def _forward_terms(self, observations: tf.Tensor, actions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(log π(a|s), H(π(·|s)), V(s)), each [A, N], for observations [A, N, obs_dim] and their actions."""
        outputs, values = self.model.forward(observations)  # [A, N, ...], [A, N]
        distribution = self.model.distribution_of(self.model.action_spec, outputs, self.model.log_std)
        return distribution.log_prob(actions), distribution.entropy(), values

    def _update_graph(self, rollout_tensors: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """One update of every agent on the rollout [T, A·B, ...]: GAE with its γ and λ, its losses as means
        over its own samples, its clipped gradient and its optimizer step (PPO: its own minibatch epochs).
        Returns each raw metric [A]."""
        batch = self._agents_batch(rollout_tensors)
        if self.algo == "ppo":
            return self._ppo_update_graph(batch)
        per_agent = self.trainers[0]  # its loss formula, taken along each agent's row
        if self.config.normalize_advantages:  # over each agent's own samples
            batch["advantages"] = normalize_advantages(batch["advantages"], axis=-1)

        def losses_of_agents(batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
            log_probs, entropies, values = self._forward_terms(batch["observations"], batch["actions"])
            return per_agent.loss_terms(log_probs, entropies, values, batch["advantages"], batch["returns"], axis=-1)

        loss, metrics, grad_norm, _ = self.learner.step(losses_of_agents, batch)  # [A] each: one step per agent
        explained = explained_variance(batch["values"], batch["returns"], axis=-1)  # [A]
        return dict(loss=loss, **metrics, explained_variance=explained, grad_norm=grad_norm)

    def _ppo_update_graph(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """PPO's update of every agent, as PPOTrainer's: its annealed learning rate, its shuffled minibatch
        epochs with advantages normalised over each minibatch, and its own KL early stop; an agent that
        stops takes no more steps while the others go on (Learner.minibatch_epochs with the agent axis)."""
        config, per_agent = self.config, self.trainers[0]
        learning_rate, clip_range, kl_limit = per_agent.schedule(self.updates, self.hyperparameters["learning_rate"])
        self.optimizer.learning_rate.assign(tf.cast(learning_rate, self.optimizer.learning_rate.dtype))  # [A]
        dtype = batch["advantages"].dtype
        clip_range, kl_limit = tf.cast(clip_range, dtype), tf.constant(kl_limit, dtype)

        def minibatch_step(minibatch: dict[str, tf.Tensor], going: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
            if config.normalize_advantages:  # over each agent's minibatch
                minibatch = dict(minibatch, advantages=normalize_advantages(minibatch["advantages"], axis=-1))

            def ppo_loss(minibatch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
                log_probs, entropies, values = self._forward_terms(minibatch["observations"], minibatch["actions"])
                return per_agent.ppo_loss_terms(log_probs, entropies, values, minibatch, clip_range, axis=-1)

            within_kl = lambda metrics: ~(metrics["approx_kl"] > kl_limit)  # noqa: E731  [A]: PPOTrainer's stop
            loss, metrics, grad_norm, _ = self.learner.step(ppo_loss, minibatch, apply=lambda m: within_kl(m) & going)
            return dict(loss=loss, grad_norm=grad_norm, **metrics), within_kl(metrics)

        epochs = self.learner.minibatch_epochs(
            minibatch_step, batch, n_epochs=config.n_epochs, minibatch_size=config.minibatch_size,
            metric_names=per_agent._METRICS,
        )  # fmt: skip
        explained = explained_variance(batch["values"], batch["returns"], axis=-1)  # [A]
        every_agent = tf.ones([self.num_agents], tf.float32)
        return per_agent.update_metrics(epochs, explained, learning_rate * every_agent, clip_range * tf.cast(every_agent, dtype))

    def state_is_finite_graph(self) -> tf.Tensor:
        """[A] bool: every float of agent k's weights and optimizer slots is finite."""
        floats = self.model.weights + [v for name in self.optimizer.slot_names for v in self.optimizer.slots[name]]
        return tf.reduce_all(tf.stack([
            tf.reduce_all(tf.math.is_finite(v), axis=list(range(1, v.shape.rank))) for v in floats
        ]), axis=0)  # fmt: skip

    def _results_of_runs(
        self, raw_sums: tf.Tensor, episode_returns: tf.Tensor, episode_lengths: tf.Tensor, state_finite: tf.Tensor
    ) -> list[tuple[list[float], list[float], list[int], bool]]:
        """Per agent: its raw metric sums (column k of [M, A]), its episodes (its B columns), its finiteness."""
        shape = [*episode_returns.shape[:2], self.num_agents, self.config.num_envs]  # [U, T, A, B]
        returns, lengths = tf.reshape(episode_returns, shape), tf.reshape(episode_lengths, shape)
        sums, finite = raw_sums.numpy(), state_finite.numpy()
        results = []
        for k in range(self.num_agents):
            agent_returns, agent_lengths = finished_episodes(returns[:, :, k], lengths[:, :, k])
            results.append((sums[:, k].tolist(), agent_returns.tolist(), agent_lengths.tolist(), bool(finite[k])))
        return results

    def train(
        self,
        on_row: Callable[[int, dict[str, float]], None] | None = None,
        on_update: Callable[[int, float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_diverged: Callable[[int, TrainingDiverged], None] | None = None,
    ) -> None:
        """Train every agent to total_steps; `on_row(k, row)` gets agent k's progress rows (its solo run's),
        `on_update(env_steps, return)` the mean over agents of their last 20 episodes' returns. The agents'
        trainers hold their runs' states at the end; before that only after :meth:`unload` (call it before
        saving an agent's checkpoint with a row: it costs a graph call, so it is not done for every row).

        An agent whose loss or state becomes NaN or infinite raises TrainingDiverged; with `on_diverged(k,
        error)` the others go on instead (the program never mixes agents: agent k's NaNs stay in its slices)
        and agent k gets no more rows. Its trainer's state is then not finite: its checkpoints are the ones
        saved with its earlier rows."""
        self._train_runs(self.trainers, on_row or (lambda index, row: None), on_update, should_stop, on_diverged)
        self.unload()

    def close(self) -> None:
        """The agents' trainers are the caller's to close."""

    def checkpoint(self) -> tf.train.Checkpoint:
        raise TypeError("an agent axis is not checkpointed itself: unload() and checkpoint each agent's trainer")

    def _make_checkpoint(self) -> tf.train.Checkpoint:
        raise TypeError("an agent axis is not checkpointed itself: unload() and checkpoint each agent's trainer")

