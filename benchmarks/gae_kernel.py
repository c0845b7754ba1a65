"""GAE kernel against its peers, side by side in one process.

    python -m benchmarks.gae_kernel [--repeats 11] [--out benchmarks/results/gae_kernel.md]

Implementations, each timed as its users call it (median of `--repeats` timed calls after a warm-up):
- tf_gae.gae, inputs already tensors (as in a TensorFlow training loop), and from numpy arrays;
- an SB3-style numpy reverse loop (RolloutBuffer.compute_returns_and_advantage's structure);
- a TF-Agents-style `tf.scan` in a `tf.function` without XLA (value_ops.generalized_advantage_estimation);
- `scipy.signal.lfilter` (discounted cumulative sum, as Spinning Up's `discount_cumsum`) on δ: it cannot
  handle episode boundaries, so it runs on a copy of the data without any and is not a target peer;
- the memory floor: numpy copying every input into a fresh array (`np.copy`), i.e. reading each byte the
  kernel must read and writing at least as many bytes as it must write, into newly allocated memory.
All peers are checked to agree with the kernel before they are timed. Writes a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

import tf_gae
from tf_gae._tf import tf
from tf_gae.measure import median_time, synthetic_rollout

SHAPES = [(128, 8), (2048, 64), (4096, 256), (65536, 1)]
GAMMA, LAMBDA = 0.99, 0.95


def sb3_style_loop(rewards, values, next_values, terminated, truncated, gamma=GAMMA, lambda_=LAMBDA):
    """Reverse loop over time with vector ops over environments, as Stable-Baselines3 does it."""
    advantages = np.zeros_like(rewards)
    not_terminal = 1.0 - terminated.astype(np.float32)
    not_cut = 1.0 - (terminated | truncated).astype(np.float32)
    last = np.zeros(rewards.shape[1], np.float32)
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * next_values[t] * not_terminal[t] - values[t]
        last = delta + gamma * lambda_ * not_cut[t] * last
        advantages[t] = last
    return advantages, advantages + values


@tf.function(jit_compile=False, reduce_retracing=True)
def tf_agents_style_scan(rewards, values, next_values, terminated, truncated, gamma, lambda_):
    """δ then a reversed `tf.scan`, in a plain (non-XLA) tf.function, as TF-Agents' value_ops does it."""
    not_terminal = 1.0 - tf.cast(terminated, rewards.dtype)
    not_cut = 1.0 - tf.cast(tf.logical_or(terminated, truncated), rewards.dtype)
    deltas = rewards + gamma * next_values * not_terminal - values
    weighted_discounts = gamma * lambda_ * not_cut
    advantages = tf.scan(
        lambda carry, x: x[0] + x[1] * carry,
        (deltas, weighted_discounts),
        initializer=tf.zeros_like(deltas[0]),
        reverse=True,
        back_prop=False,
    )
    return advantages, advantages + values


def lfilter_no_boundaries(rewards, values, next_values, gamma=GAMMA, lambda_=LAMBDA):
    """Spinning Up's discount_cumsum: Â = lfilter([1], [1, −γλ], δ[::-1])[::-1] (no episode ends)."""
    from scipy.signal import lfilter

    deltas = rewards + gamma * next_values - values
    advantages = lfilter([1.0], [1.0, -gamma * lambda_], deltas[::-1], axis=0)[::-1]
    return advantages, advantages + values


def memory_floor(rewards, values, next_values, terminated, truncated):
    return [np.copy(x) for x in (rewards, values, next_values, terminated, truncated)]


def check_agree(name: str, got, expected, atol: float) -> None:
    got = np.asarray(got)
    error = float(np.max(np.abs(got - expected)))
    if not error <= atol:
        raise SystemExit(f"benchmark: {name} disagrees with the kernel by {error:.3g} (> {atol:g})")


def run(repeats: int) -> list[dict[str, float]]:
    rows = []
    for num_steps, num_envs in SHAPES:
        rollout = synthetic_rollout(num_steps, num_envs)
        rewards, values, next_values, terminated, truncated = rollout
        tensors = [tf.constant(x) for x in rollout]
        no_flags = np.zeros_like(terminated)
        kernel = lambda: tf_gae.gae(*tensors, gamma=GAMMA, lambda_=LAMBDA)  # noqa: E731
        kernel_numpy = lambda: tf_gae.gae(*rollout, gamma=GAMMA, lambda_=LAMBDA)  # noqa: E731
        loop = lambda: sb3_style_loop(*rollout)  # noqa: E731
        gamma32, lambda32 = tf.constant(GAMMA, tf.float32), tf.constant(LAMBDA, tf.float32)
        scan = lambda: tf_agents_style_scan(*tensors, gamma32, lambda32)  # noqa: E731
        lfilter = lambda: lfilter_no_boundaries(rewards, values, next_values)  # noqa: E731
        floor = lambda: memory_floor(*rollout)  # noqa: E731

        reference = kernel().advantages.numpy()
        atol = 1e-3 * (1 + np.abs(reference).max())
        check_agree("kernel from numpy", kernel_numpy().advantages, reference, atol)
        check_agree("SB3-style loop", loop()[0], reference, atol)
        check_agree("TF-Agents-style scan", scan()[0], reference, atol)
        no_boundary_kernel = tf_gae.gae(rewards, values, next_values, no_flags, no_flags, gamma=GAMMA, lambda_=LAMBDA)
        check_agree("lfilter", lfilter()[0], no_boundary_kernel.advantages.numpy(), atol)

        row = dict(T=num_steps, B=num_envs)
        for name, function in [
            ("kernel", kernel),
            ("kernel_numpy", kernel_numpy),
            ("sb3_loop", loop),
            ("tf_agents_scan", scan),
            ("lfilter", lfilter),
            ("floor", floor),
        ]:
            row[name] = median_time(function, repeats)
        rows.append(row)
        print(
            f"  T={num_steps:>6} B={num_envs:>4}: kernel {row['kernel'] * 1e3:.3f} ms, "
            f"SB3 loop {row['sb3_loop'] * 1e3:.3f} ms, scan {row['tf_agents_scan'] * 1e3:.3f} ms, "
            f"floor {row['floor'] * 1e3:.3f} ms",
            file=sys.stderr,
            flush=True,
        )
    return rows


def markdown(rows: list[dict[str, float]], repeats: int) -> str:
    ms = lambda seconds: f"{seconds * 1e3:.3f}"  # noqa: E731
    lines = [
        f"Median of {repeats} calls after a warm-up, milliseconds; float32, bool flags; γ={GAMMA}, λ={LAMBDA}. "
        f"{platform.processor() or platform.machine()}, TensorFlow {tf.__version__}, NumPy {np.__version__}.",
        "",
        "| T × B | kernel (tensors) | kernel (numpy in) | SB3-style loop | TF-Agents-style scan | lfilter, no episode ends* "
        "| memory floor | loop ÷ kernel | scan ÷ kernel | kernel ÷ floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['T']} × {row['B']} | {ms(row['kernel'])} | {ms(row['kernel_numpy'])} | {ms(row['sb3_loop'])} "
            f"| {ms(row['tf_agents_scan'])} | {ms(row['lfilter'])} | {ms(row['floor'])} "
            f"| {row['sb3_loop'] / row['kernel']:.1f}× | {row['tf_agents_scan'] / row['kernel']:.1f}× "
            f"| {row['kernel'] / row['floor']:.1f}× |"
        )
    lines += [
        "",
        "*lfilter cannot stop at episode boundaries; it is timed on the same arrays without them and is not a peer "
        "for the target. Memory floor: `np.copy` of every input into fresh memory.",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11, help="timed calls per implementation (≥ 5)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gae_kernel.md"))
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    print("benchmark: GAE kernel against its peers", file=sys.stderr)
    table = markdown(run(args.repeats), args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n")
    print(table)
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
