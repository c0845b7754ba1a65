"""Chapter 8 — outlook: scaling past one process, and GAE for cooperating agents (the article's section 8).

Run it:  python -m chapters.ch8_outlook [--quick] [--out DIR] [--seed S] [--workers N] [--cache DIR]

The article closes with two open challenges — efficient optimisation on large data, and cooperation among
several agents — and leaves them as words. This chapter answers each with working code and numbers:

  1. The kernel's cost as the workload grows: tf_gae.gae timed at T·B from 2^10 to 2^22 elements with
     tf_gae.measure's harness (log–log figure). GAE is linear in T·B; a fixed call cost
     dominates small batches.
  2. Several devices: an A2C update, a PPO update and one iteration of chapter 6's PPO for a language
     model under tf.distribute.MirroredStrategy over two logical CPU devices (stand-ins for two GPUs)
     against the single-device update on the same batch, both in float64: the parameters agree to float64
     rounding (README:
     several GPUs, MultiWorkerMirroredStrategy, TF_CONFIG).
  3. Parallel environments: gymnasium's SyncVectorEnv against AsyncVectorEnv (subprocesses), raw
     steps per second for a cheap task and a MuJoCo one (tf_gae.measure, as benchmarks/envs.py).
  4. Cooperating agents: a button-rendezvous task (tf_gae.multiagent) where the team is paid only when
     every agent presses its button at once and each agent sees only its own track; PPO with GAE on the
     team reward, a centralized critic V(joint observation) (MAPPO) against independent critics V_i(o_i)
     (IPPO), team return against env steps over seeds.

References: Schulman et al. 2016, arXiv:1506.02438 (GAE); Yu et al., "The Surprising Effectiveness of PPO
in Cooperative Multi-Agent Games", 2022, arXiv:2103.01955 (MAPPO); de Witt et al. 2020, arXiv:2011.09533
(IPPO); TensorFlow's distributed training guide (tf.distribute).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from chapters._contract import parse_chapter_args
from tf_gae.parallel import run_cached

__all__ = ["kernel_cost", "STRATEGY_ALGOS", "STRATEGY_TOLERANCE", "strategy_equivalence", "environment_table", "MultiAgentJob", "run_multiagent", "main"]

FIGURE_NAMES = ("ch8_kernel_cost.png", "ch8_multiagent.png")
TABLE_NAME = "ch8_results.md"
_DPI = 90


# ==================================================================================================
# 1. The kernel's cost.
# ==================================================================================================


def kernel_cost(sizes: Sequence[tuple[int, int]], repeats: int) -> list[dict[str, float]]:
    """Median milliseconds of tf_gae.gae (float32 tensors, time-major) at each (T, B)."""
    from tf_gae.measure import median_time, synthetic_rollout
    from tf_gae import gae
    from tf_gae._tf import tf

    rows = []
    for num_steps, num_envs in sizes:
        inputs = [tf.constant(x) for x in synthetic_rollout(num_steps, num_envs)]
        gae(*inputs)  # trace / compile once for the shape
        seconds = median_time(lambda: gae(*inputs)[0].numpy(), repeats)
        elements = num_steps * num_envs
        rows.append(dict(T=num_steps, B=num_envs, elements=elements, ms=seconds * 1e3, ns_per_element=seconds * 1e9 / elements))
    return rows


def plot_kernel_cost(rows: Sequence[dict[str, float]], out_dir: Path) -> Path:
    fig = Figure(figsize=(6.4, 4.6), dpi=_DPI)
    FigureCanvasAgg(fig)
    axis = fig.subplots()
    for num_envs, marker in ((1, "s"), (64, "o"), (256, "^")):
        points = [r for r in rows if r["B"] == num_envs]
        if points:
            axis.loglog([r["elements"] for r in points], [r["ms"] for r in points], marker=marker, label=f"B = {num_envs} environments")
    elements = np.array([r["elements"] for r in rows], float)
    slope_one = elements / elements.max() * max(r["ms"] for r in rows)
    axis.loglog(np.sort(elements), np.sort(slope_one), "k:", lw=0.8, label="slope 1 (time ∝ T·B)")
    axis.set_xlabel("T · B (elements of each input)")
    axis.set_ylabel("tf_gae.gae, median time per call (ms)")
    axis.set_title("The kernel's cost as the workload grows")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize="small")
    fig.tight_layout()
    path = out_dir / FIGURE_NAMES[0]
    fig.savefig(path, format="png", dpi=_DPI)
    return path


# ==================================================================================================
# 2. A distribution strategy.
# ==================================================================================================


STRATEGY_ALGOS = ("a2c", "reinforce", "ppo", "lm_ppo")
"""The trainers the strategy demonstration runs: A2C, REINFORCE (whole episodes: masked means over shards
holding different numbers of steps), PPO, and chapter 6's PPO for a language model."""


def _parameter_errors(pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, float]:
    """(single-device, mirrored, before) weights → the largest differences, relative to scale and to step."""
    return dict(
        parameter_error=max(float(np.max(np.abs(a - b)) / np.max(np.abs(a))) for a, b, _ in pairs),
        step_error=max(float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a - w))), 1e-12)) for a, b, w in pairs),
        smallest_step=min(float(np.max(np.abs(a - w))) for a, _, w in pairs),
    )


def _lm_strategy_equivalence(strategy, lm_settings: dict[str, Any] | None = None) -> dict[str, float]:
    """One LM PPO iteration (chapter 6) on a tiny model, single device vs `strategy`, same samples;
    `lm_settings` override the iteration's LMPPOConfig (e.g. GRPO's group advantage with the KL in the loss)."""
    import keras

    from tf_gae.llm.lm import TinyCausalLM
    from tf_gae.llm.ppo import LMPPOConfig, LMPPOTrainer, copy_model
    from tf_gae.llm.task import AdditionTask

    keras.utils.set_random_seed(5)
    task = AdditionTask(seed=5)
    model = TinyCausalLM(task.vocab_size, task.sequence_length, d_model=32, num_heads=2, num_layers=1)
    config = LMPPOConfig(**{**dict(prompts_per_iteration=8, minibatch_size=4, n_epochs=2, policy_learning_rate=3e-3, seed=5),
                            **(lm_settings or {})})  # fmt: skip
    single = LMPPOTrainer(copy_model(model, "policy"), task, config)
    with strategy.scope():
        mirrored_policy = copy_model(model, "policy")
    mirrored = LMPPOTrainer(mirrored_policy, task, config, strategy=strategy)
    if config.kl_in == "loss":
        # An untrained model scores 0 on every prompt, and with π = π_ref the KL term's gradient is exactly 0:
        # nothing would move. Both trainers get the same other reference (another initialisation), so the
        # KL term pulls from the first step.
        keras.utils.set_random_seed(6)
        other = TinyCausalLM(task.vocab_size, task.sequence_length, d_model=32, num_heads=2, num_layers=1)
        for trainer in (single, mirrored):
            trainer.reference.set_weights(other.get_weights())
    variables = lambda trainer: trainer.policy.variables + (trainer.critic.variables if trainer.critic else [])  # noqa: E731
    before = [v.numpy() for v in variables(single)]
    _, single_metrics = single.step()  # the same prompts, samples and shuffles: one seed for both
    _, mirrored_metrics = mirrored.step()
    everything = [(a.numpy(), b.numpy(), w) for a, b, w in zip(variables(single), variables(mirrored), before)]
    # Compared relative to scale: the variables the iteration trains. Not the heads it leaves alone (the
    # policy's value head, the critic's LM head), nor the attention key biases: their gradient is zero in
    # exact arithmetic (softmax ignores a shift shared by all keys), so float noise alone moves them, by
    # ~1e-6 from 0. For those the absolute difference, reported over every variable, is the measure.
    zero_gradient = ["attention/key/bias" in v.path for v in variables(single)]
    moved = [pair for pair, noise in zip(everything, zero_gradient) if not noise and np.any(pair[0] != pair[2])]
    return dict(
        replicas=strategy.num_replicas_in_sync,
        **_parameter_errors(moved),
        absolute_error=max(float(np.max(np.abs(a - b))) for a, b, _ in everything),
        policy_loss_single=single_metrics["policy_loss"],
        policy_loss_mirrored=mirrored_metrics["policy_loss"],
    )


STRATEGY_TOLERANCE = 1e-9
"""Largest parameter difference (relative to the parameter's scale) that counts as "the same update" when
both updates compute in float64. After the few Adam steps of one update, float64 rounding leaves ~1e-14 of
scale (unit roundoff 1.1e-16, summed over at most a few hundred terms per gradient entry, amplified where
Adam divides a tiny gradient by its tiny running scale); a wrong cross-replica reduction moves parameters by
~0.3 of their scale. 1e-9 sits orders of magnitude from both, on any CPU. In float32 the rounding itself is
~1e-6 to 1e-5 and varies between CPUs, so no tolerance could separate it from a real difference with margin."""


def strategy_equivalence(algo: str, dtype: str = "float64", lm_settings: dict[str, Any] | None = None) -> dict[str, float]:
    """One update on the same batch, single device vs MirroredStrategy over the logical devices.

    `algo`: one of STRATEGY_ALGOS. `dtype`: the float type the models compute in (Keras's floatx while
    they are built); float64 by default, so rounding is far below the comparison. Needs two logical CPU
    devices configured before TensorFlow's first op (`main` does it). Returns the largest parameter
    difference relative to the parameter's scale and relative to the step's size. `lm_settings` (lm_ppo only):
    LMPPOConfig fields that replace the demonstration's.
    """
    from tf_gae.models import models_computing_in

    if algo not in STRATEGY_ALGOS:
        raise ValueError(f"algo must be one of {STRATEGY_ALGOS}, got {algo!r}")
    with models_computing_in(dtype):  # Keras's floatx and dtype policy, both put back after
        return _strategy_equivalence(algo, lm_settings)


def _strategy_equivalence(algo: str, lm_settings: dict[str, Any] | None = None) -> dict[str, float]:
    from tf_gae._tf import tf
    from tf_gae.trainers import A2CConfig, A2CTrainer, PPOConfig, PPOTrainer, ReinforceConfig, ReinforceTrainer

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    if algo == "lm_ppo":
        return _lm_strategy_equivalence(strategy, lm_settings)
    if algo == "a2c":
        config, trainer_class = A2CConfig(num_envs=4, n_steps=8, learning_rate=3e-3, normalize_advantages=True, seed=5), A2CTrainer
    elif algo == "reinforce":  # 4 episodes in a [500, 4] rollout: the second replica's shard is mostly masked
        config, trainer_class = ReinforceConfig(num_envs=4, learning_rate=3e-3, seed=5), ReinforceTrainer
    else:
        config = PPOConfig(num_envs=4, n_steps=16, minibatch_size=32, n_epochs=3, learning_rate=3e-3, clip_range_value=0.2, seed=5)
        trainer_class = PPOTrainer
    single = trainer_class(config)
    mirrored = trainer_class(config, strategy=strategy)
    try:
        mirrored.model.set_weights(single.model.get_weights())
        rollout = single.collector.collect()
        mirrored.learner.generator.reset(single.learner.generator.state)  # the same minibatch shuffles
        before = single.model.get_weights()
        single_metrics, mirrored_metrics = single.update(rollout), mirrored.update(rollout)
        return dict(
            replicas=strategy.num_replicas_in_sync,
            **_parameter_errors(list(zip(single.model.get_weights(), mirrored.model.get_weights(), before))),
            policy_loss_single=single_metrics["policy_loss"],
            policy_loss_mirrored=mirrored_metrics["policy_loss"],
        )
    finally:
        single.close()
        mirrored.close()


# ==================================================================================================
# 3. Parallel environments.
# ==================================================================================================


def environment_table(env_ids: Sequence[str], num_envs: Sequence[int], raw_steps: int, repeats: int) -> list[dict]:
    """Raw env steps per second, sync and async vector envs (tf_gae.measure, as benchmarks/envs.py)."""
    from tf_gae.measure import vector_env_rates

    return vector_env_rates(env_ids, repeats, num_envs, raw_steps, rollout_steps=16)


# ==================================================================================================
# 4. Cooperating agents.
# ==================================================================================================


@dataclass(frozen=True)
class MultiAgentJob:
    critic: str
    seed: int
    total_steps: int
    num_agents: int

    @property
    def key(self) -> str:
        return f"{self.critic}_agents{self.num_agents}_seed{self.seed}_steps{self.total_steps}"


def run_multiagent(job: MultiAgentJob) -> dict[str, Any]:
    from tf_gae.multiagent import train_cooperative

    curve = train_cooperative(job.critic, job.total_steps, job.seed, env_options=dict(num_agents=job.num_agents))
    return dict(
        key=job.key, critic=job.critic, seed=job.seed, num_agents=job.num_agents,
        env_steps=curve.env_steps.tolist(), team_return=curve.team_return.tolist(), seconds=curve.wall_seconds,
    )  # fmt: skip


def plot_multiagent(results: Sequence[dict[str, Any]], out_dir: Path) -> Path:
    fig = Figure(figsize=(6.8, 4.6), dpi=_DPI)
    FigureCanvasAgg(fig)
    axis = fig.subplots()
    labels = {"centralized": "centralized critic V(o_1, …, o_N) (MAPPO)", "independent": "independent critics V_i(o_i) (IPPO)"}
    for color, critic in enumerate(("centralized", "independent")):
        runs = [r for r in results if r["critic"] == critic]
        steps = np.array(runs[0]["env_steps"])
        returns = np.array([r["team_return"] for r in runs])  # [S, K]
        axis.plot(steps, np.median(returns, axis=0), color=f"C{color}", lw=1.8, label=f"{labels[critic]}, median")
        axis.fill_between(steps, returns.min(axis=0), returns.max(axis=0), color=f"C{color}", alpha=0.18)
    agents, seeds = results[0]["num_agents"], len({r["seed"] for r in results})
    axis.set_xlabel("environment steps (joint steps of the team)")
    axis.set_ylabel("team return (success rate, stochastic policies)")
    axis.set_title(f"Button rendezvous, {agents} agents: median and min–max over {seeds} seeds")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    path = out_dir / FIGURE_NAMES[1]
    fig.savefig(path, format="png", dpi=_DPI)
    return path


# ==================================================================================================
# The chapter.
# ==================================================================================================


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    return parse_chapter_args(
        "chapters.ch8_outlook", __doc__.splitlines()[0], "small sizes, 2 agents, 2 seeds (under a minute)", argv, study=True
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    # Two logical CPU devices stand in for two GPUs; this must precede TensorFlow's first op.
    from tf_gae._tf import tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    started = time.perf_counter()
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    print("Chapter 8 — outlook: larger workloads, several devices, cooperating agents")
    print("=" * 78)
    if args.quick:
        sizes = [(2**k, 64) for k in (4, 8, 12)] + [(2**k, 1) for k in (10, 14)]
        repeats, env_ids, env_counts, raw_steps = 3, ("CartPole-v1",), (2,), 50
        seeds, total_steps, agents = [args.seed, args.seed + 1], 20_480, 2
        strategy_algos = ("a2c",)  # tests/test_distribute.py checks every trainer
    else:
        sizes = [(2**k, 64) for k in range(4, 17, 2)] + [(2**k, 1) for k in range(10, 23, 3)] + [(2**k, 256) for k in (8, 12, 14)]
        repeats, env_ids, env_counts, raw_steps = 11, ("CartPole-v1", "HalfCheetah-v5"), (2, 4, 8), 200
        seeds, total_steps, agents = [args.seed + i for i in range(5)], 300_032, 3
        strategy_algos = STRATEGY_ALGOS

    say("## 1. The kernel's cost as T·B grows (float32, time-major; median ms per call)\n")
    say("| T | B | T·B | ms | ns per element |")
    say("|---:|---:|---:|---:|---:|")
    costs = kernel_cost(sizes, repeats)
    for r in costs:
        say(f"| {r['T']:,} | {r['B']} | {r['elements']:,} | {r['ms']:.3f} | {r['ns_per_element']:.2f} |")
    say("\nLinear in T·B once the call's fixed cost (~0.2 ms) is amortised; a few ns per element beyond.\n")

    say("## 2. One update under MirroredStrategy (2 logical CPU devices) vs a single device, in float64\n")
    say("| algorithm | replicas | max parameter difference ÷ parameter scale | ÷ step size | policy loss (single, mirrored) |")
    say("|---|---:|---:|---:|---|")
    worst = 0.0
    for algo in strategy_algos:
        r = strategy_equivalence(algo)
        worst = max(worst, r["parameter_error"])
        say(f"| {algo} | {r['replicas']} | {r['parameter_error']:.1e} | {r['step_error']:.1e} | "
            f"{r['policy_loss_single']:.6f}, {r['policy_loss_mirrored']:.6f} |")
    same = "the same step" if worst < STRATEGY_TOLERANCE else f"NOT the same step (above {STRATEGY_TOLERANCE:g})"
    say(f"\nOne device or two: {same}. Both compute in float64, so what differs is float64 rounding of sums "
        "taken in another order (the A2C and PPO single-device steps are XLA-compiled; the replicas sum "
        "their shares separately); in float32 the same comparison differs by ~1e-6 to 1e-5 of scale.\n")

    say("## 3. Sync vs async vector environments (raw env steps per second; this machine's cores)\n")
    say("| environment | envs | sync | async | async ÷ sync |")
    say("|---|---:|---:|---:|---:|")
    env_rows = environment_table(env_ids, env_counts, raw_steps, max(3, repeats // 2))
    for r in env_rows:
        say(f"| {r['env']} | {r['n']} | {r['raw_sync']:,.0f} | {r['raw_async']:,.0f} | {r['raw_async'] / r['raw_sync']:.2f}× |")
    async_wins = sum(r["raw_async"] > r["raw_sync"] for r in env_rows)
    say(f"\nAsync was faster in {async_wins} of {len(env_rows)} rows: on this machine's cores the subprocess round "
        "trip per step costs more than it wins back by stepping the copies in parallel unless a step is expensive.\n")

    say(f"## 4. Cooperating agents: {agents} agents, {len(seeds)} seeds, {total_steps:,} env steps\n")
    jobs = [MultiAgentJob(critic, seed, total_steps, agents) for seed in seeds for critic in ("centralized", "independent")]
    results = run_cached(run_multiagent, jobs, [j.key for j in jobs], args.cache, args.workers,
                         on_result=lambda r: print(f"  {r['critic']} seed {r['seed']}: team return "
                                                    f"{r['team_return'][-1]:.2f} ({r['seconds']:.0f} s)", flush=True))
    say("| critic | final team return, median [min, max] | seeds ahead of the other critic |")
    say("|---|---:|---:|")
    finals = {c: {r["seed"]: r["team_return"][-1] for r in results if r["critic"] == c} for c in ("centralized", "independent")}
    for critic, other in (("centralized", "independent"), ("independent", "centralized")):
        values = np.array(list(finals[critic].values()))
        ahead = sum(finals[critic][s] > finals[other][s] for s in seeds)
        say(f"| {critic} | {np.median(values):.2f} [{values.min():.2f}, {values.max():.2f}] | {ahead} of {len(seeds)} |")
    central, independent = np.median(list(finals["centralized"].values())), np.median(list(finals["independent"].values()))
    verdict = "higher" if central > independent else "NOT higher"
    say(f"\nAt the median of seeds the centralized critic's team return is {verdict} than the independent "
        f"critics' ({central:.2f} vs {independent:.2f}) at equal env steps. Read the spread before the median: "
        "with few seeds and rare early successes, single runs decide a lot.")
    figures = [plot_kernel_cost(costs, args.out), plot_multiagent(results, args.out)]
    (args.out / TABLE_NAME).write_text("\n".join(lines) + "\n")
    print(f"\nDone in {time.perf_counter() - started:.0f} s. Wrote {', '.join(map(str, figures))} and {args.out / TABLE_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
