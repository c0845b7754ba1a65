"""A2C training throughput on CartPole-v1: tf_gae's A2CTrainer beside Stable-Baselines3's A2C, in one process.

    python -m benchmarks.a2c_throughput [--steps 20000] [--warmup-steps 2000] [--seeds 0,1,2]
                                        [--out benchmarks/results/a2c_throughput.md]

What it measures: environment steps per second of a whole A2C training run — rollout collection (policy
forward pass, sampling, `env.step` on 8 synchronous CartPole-v1 copies), advantage computation and one
gradient step per rollout — for the same algorithm and settings in both libraries. RL Zoo's A2C settings
for CartPole-v1: 8 environments, n_steps 5 (40 env steps per update), γ 0.99, GAE λ 1.0, RMSprop with
learning rate 7e-4 (ρ/α 0.99, ε 1e-5), value coefficient 0.5, no entropy bonus, gradient-norm clip 0.5,
separate 64-64 tanh MLPs for policy and value.

How:
- ours: `A2CTrainer(A2CConfig(total_steps=N, num_envs=8, n_steps=5, gamma=0.99, lam=1.0,
  optimizer="rmsprop", learning_rate=7e-4, seed=s))`; the timed region is `trainer.train()` with no
  callbacks (construction and `close()` are outside it). Op determinism is not enabled.
- SB3: `A2C("MlpPolicy", make_vec_env("CartPole-v1", n_envs=8, seed=s), n_steps=5, gamma=0.99,
  gae_lambda=1.0, learning_rate=7e-4, seed=s, device="cpu", verbose=0)` (RMSprop is SB3's A2C default);
  the timed region is `model.learn(N)`, with `torch.set_num_threads(2)` (the two cores of the machine this
  project is built on, and torch's own default there; TensorFlow uses its defaults). On that machine (a
  2-vCPU KVM guest) SB3 with two torch threads is erratic — most runs are 10-60× slower than with one
  thread, a few are not — so SB3 is also timed with `torch.set_num_threads(1)`, its fastest and steadiest
  setting there, and both ratios are reported.
- Each library is warmed up once with a short run (`--warmup-steps`) so that process-wide one-off costs
  (imports, XLA compilation of the GAE kernel, torch's first-call overheads) are excluded; then N steps
  are timed per run, alternating ours / SB3, once per seed. steps/s = env steps actually taken / wall
  time (perf_counter). The table reports the median over seeds and the ratio ours ÷ SB3.
- Our trainer holds its act / value / update steps as `tf.function`s created per trainer instance; any of
  them not yet traced when `train()` starts is traced inside it, even after the process warm-up. That
  cost is part of every real training run and is included in the headline number; a second measurement
  of ours ("pre-traced") traces them with `get_concrete_function` before starting the clock, to show the
  steady-state rate and how much of the run the tracing takes.
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# torch's compiler stack (torch._dynamo, which imports triton's native library) must be loaded BEFORE
# TensorFlow: loaded after it, importing triton segfaults (seen with TF 2.21 + torch 2.14). SB3's optimizer
# step imports torch._dynamo lazily, so it is imported here, up front.
import torch  # noqa: E402,I001
import torch._dynamo  # noqa: E402,F401

from tf_gae._tf import tf  # noqa: E402

NUM_ENVS, N_STEPS, GAMMA, LAMBDA, LEARNING_RATE = 8, 5, 0.99, 1.0, 7e-4
TORCH_THREADS = 2  # the setting asked for (torch's default on a 2-core machine)
TORCH_THREADS_ALT = 1  # SB3's steady setting for a tiny MLP


def _our_trainer(total_steps: int, seed: int):
    from tf_gae.trainers import A2CConfig, A2CTrainer

    config = A2CConfig(
        total_steps=total_steps,
        num_envs=NUM_ENVS,
        n_steps=N_STEPS,
        gamma=GAMMA,
        lam=LAMBDA,
        optimizer="rmsprop",
        learning_rate=LEARNING_RATE,
        seed=seed,
    )
    return A2CTrainer(config)


def _pretrace(trainer) -> None:
    """Trace the trainer's tf.functions for the shapes `train()` will call them with, without running them.

    Functions the library already holds as concrete functions (traced at construction) are left alone."""
    collector = trainer.collector
    obs_dim = trainer.env.single_observation_space.shape[0]
    obs = tf.TensorSpec([NUM_ENVS, obs_dim], tf.float32)
    if hasattr(collector._act, "get_concrete_function"):
        takes_seed = len(inspect.signature(collector._act_graph).parameters) == 2  # (observations, seed)
        collector._act.get_concrete_function(obs, *([tf.TensorSpec([2], tf.int32)] if takes_seed else []))
    if hasattr(collector._value, "get_concrete_function"):
        collector._value.get_concrete_function(obs)
    if not hasattr(trainer._update, "get_concrete_function"):
        return
    series = tf.TensorSpec([N_STEPS, NUM_ENVS], tf.float32)
    flags = tf.TensorSpec([N_STEPS, NUM_ENVS], tf.bool)
    trainer._update.get_concrete_function(
        dict(
            observations=tf.TensorSpec([N_STEPS, NUM_ENVS, obs_dim], tf.float32),
            actions=tf.TensorSpec([N_STEPS, NUM_ENVS], tf.int32),  # Categorical samples are int32
            rewards=series,
            values=series,
            next_values=series,
            terminated=flags,
            truncated=flags,
            log_probs=series,
        )
    )


def time_ours(total_steps: int, seed: int, pretrace: bool = False) -> tuple[int, float]:
    """(env steps taken, seconds) of `trainer.train()`."""
    trainer = _our_trainer(total_steps, seed)
    try:
        if pretrace:
            _pretrace(trainer)
        start = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - start
        return int(trainer.env_steps.numpy()), elapsed
    finally:
        trainer.close()


def time_sb3(total_steps: int, seed: int, threads: int = TORCH_THREADS) -> tuple[int, float]:
    """(env steps taken, seconds) of SB3's `A2C.learn` with `threads` torch intra-op threads."""
    torch.set_num_threads(threads)
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=NUM_ENVS, seed=seed)
    model = A2C(
        "MlpPolicy",
        env,
        n_steps=N_STEPS,
        gamma=GAMMA,
        gae_lambda=LAMBDA,
        learning_rate=LEARNING_RATE,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    try:
        start = time.perf_counter()
        model.learn(total_steps)
        elapsed = time.perf_counter() - start
        return int(model.num_timesteps), elapsed
    finally:
        env.close()


def run(steps: int, warmup_steps: int, seeds: list[int]) -> dict[str, list[float]]:
    print(f"benchmark: warm-up ({warmup_steps:,} steps each)", file=sys.stderr, flush=True)
    time_ours(warmup_steps, 1000, pretrace=True)
    time_ours(warmup_steps, 1000)
    time_sb3(warmup_steps, 1000)
    time_sb3(warmup_steps, 1000, threads=TORCH_THREADS_ALT)
    rates: dict[str, list[float]] = {"ours": [], "ours_pretraced": [], "sb3": [], "sb3_alt": []}
    for seed in seeds:
        for name, function in [
            ("ours", lambda: time_ours(steps, seed)),
            ("sb3", lambda: time_sb3(steps, seed)),
            ("ours_pretraced", lambda: time_ours(steps, seed, pretrace=True)),
            ("sb3_alt", lambda: time_sb3(steps, seed, threads=TORCH_THREADS_ALT)),
        ]:
            taken, seconds = function()
            rates[name].append(taken / seconds)
            print(
                f"  seed {seed} {name:>14}: {taken:,} steps in {seconds:.2f} s = {taken / seconds:,.0f} steps/s",
                file=sys.stderr,
                flush=True,
            )
    return rates


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markdown(rates: dict[str, list[float]], steps: int, warmup_steps: int, seeds: list[int]) -> str:
    import gymnasium
    import stable_baselines3

    median = {name: statistics.median(values) for name, values in rates.items()}
    sb3, alt = median["sb3"], median["sb3_alt"]
    per_seed = lambda name: ", ".join(f"{rate:,.0f}" for rate in rates[name])  # noqa: E731

    def row(label: str, name: str) -> str:
        rate = median[name]
        return f"| {label} | {rate:,.0f} | {per_seed(name)} | {rate / sb3:.2f}× | {rate / alt:.2f}× |"

    lines = [
        f"A2C on CartPole-v1, environment steps per second of a {steps:,}-step training run; median over seeds "
        f"{', '.join(map(str, seeds))} (one run each, alternating libraries, after a {warmup_steps:,}-step warm-up "
        "run of each). "
        f"{NUM_ENVS} synchronous envs, n_steps {N_STEPS}, γ {GAMMA}, λ {LAMBDA}, RMSprop lr {LEARNING_RATE:g} "
        "(RL Zoo's A2C CartPole settings); both: value coef 0.5, entropy coef 0, grad-norm clip 0.5, separate "
        "64-64 tanh MLPs. "
        f"{platform.machine()}, {_cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__} (default threading), torch {torch.__version__}, "
        f"Stable-Baselines3 {stable_baselines3.__version__}, gymnasium {gymnasium.__version__}, NumPy {np.__version__}.",
        "",
        f"| implementation | steps/s (median) | per seed | ÷ SB3, {TORCH_THREADS} torch threads "
        f"| ÷ SB3, {TORCH_THREADS_ALT} torch thread |",
        "|---|---:|---:|---:|---:|",
        row("tf_gae A2CTrainer.train()", "ours"),
        row("tf_gae, functions pre-traced*", "ours_pretraced"),
        row(f"Stable-Baselines3 A2C.learn(), torch.set_num_threads({TORCH_THREADS})", "sb3"),
        row(f"Stable-Baselines3 A2C.learn(), torch.set_num_threads({TORCH_THREADS_ALT})", "sb3_alt"),
        "",
        "*An A2CTrainer traces those of its own tf.functions (act, value, update) not traced at construction on "
        "their first calls inside train(); the first row includes that, as every training run pays it. The second row traces them with "
        "`get_concrete_function` before the clock starts. Timed: `trainer.train()` without callbacks and "
        "`model.learn(N)`; construction excluded for both. "
        f"SB3 with {TORCH_THREADS} torch threads (torch's default here) is erratic on this 2-vCPU machine: most runs "
        f"are many times slower than with {TORCH_THREADS_ALT}, a few are not, so its median depends on luck; "
        f"the {TORCH_THREADS_ALT}-thread column is the fair comparison.",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per timed run")
    parser.add_argument("--warmup-steps", type=int, default=2_000, help="env steps of the warm-up run of each")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, one timed run each")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/a2c_throughput.md"))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not seeds or args.steps < NUM_ENVS * N_STEPS or args.warmup_steps < NUM_ENVS * N_STEPS:
        parser.error(f"need at least one seed and step budgets of at least {NUM_ENVS * N_STEPS}")
    print("benchmark: A2C throughput, tf_gae against Stable-Baselines3", file=sys.stderr)
    rates = run(args.steps, args.warmup_steps, seeds)
    table = markdown(rates, args.steps, args.warmup_steps, seeds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n")
    print(table)
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
