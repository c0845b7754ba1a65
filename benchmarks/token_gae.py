"""Token-level GAE (`tf_gae.llm.token_gae`) against the per-token Python loop of common RLHF code.

    python -m benchmarks.token_gae [--quick] [--repeats 7] [--out benchmarks/results/token_gae.md]

B = 64 right-padded responses of T tokens, lengths uniform in [1, T] (seeded), T ∈ {1024, 8192, 32768}
(`--quick`: T ∈ {256, 1024}; a quick run prints its table and writes a file only if `--out` is given, so
it never overwrites the recorded full table). Implementations, each timed as its users call it (median
of `--repeats` calls after a warm-up, `time.perf_counter`, all in one process):

- `token_gae` on float32 tensors already in TensorFlow (the library kernel, compiled with XLA);
- the reverse loop over tokens as TRL's `compute_advantages` writes it (`lastgaelam = 0; for t in
  reversed(range(T)): nextvalues = values[:, t + 1] if t < T − 1 else 0.0; delta = ...; lastgaelam =
  delta + γλ lastgaelam`, then a stack), with rewards and values zeroed on padding first, in NumPy;
- the same loop in PyTorch on CPU tensors, when `import torch` works (the bench extra).

`--threads all` (the default) leaves every framework at its own default, as its users run it (all cores
for TensorFlow's and PyTorch's thread pools); `--threads 1` gives each one thread (torch.set_num_threads(1);
TensorFlow 1 intra- and 1 inter-op thread, set before TensorFlow's first op). The per-token loops cannot
use a second core (each step is a handful of ops on B numbers); token_gae's matrix products and array passes
can. A timed call ends when the implementation's outputs exist as its framework's arrays: TensorFlow's eager
calls and PyTorch's CPU ops are synchronous, so nothing is converted (a `.numpy()` would copy TensorFlow's
2 MB outputs and none of PyTorch's). All three are checked to agree (max |Δ| ≤ 1e-4 at valid tokens,
advantages and returns) before anything is timed. torch is imported before TensorFlow: the other order
can segfault.
"""

from __future__ import annotations

try:
    import torch  # before TensorFlow (imported by tf_gae below): the other order can segfault
except ImportError:  # the bench extra is not installed: the PyTorch column is left empty
    torch = None

import argparse
import os
import platform
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tf_gae.measure import median_time
from tf_gae._tf import tf
from tf_gae.llm import token_gae
from tf_gae.parallel import one_thread_each

__all__ = ["make_batch", "numpy_loop", "torch_loop", "run", "markdown", "main"]

NUM_ROWS = 64
LENGTHS_FULL = (1024, 8192, 32768)
LENGTHS_QUICK = (256, 1024)
GAMMA, LAMBDA = 1.0, 0.95
AGREEMENT_TOLERANCE = 1e-4


THREAD_SETTINGS = ("all", "1")


def use_one_thread() -> None:
    """One thread for every framework, before TensorFlow runs its first op."""
    if torch is not None:
        torch.set_num_threads(1)
    try:
        one_thread_each()
    except RuntimeError as error:  # the eager context already exists
        raise SystemExit(f"benchmark: could not limit TensorFlow to one thread ({error})") from error


def make_batch(num_tokens: int, num_rows: int = NUM_ROWS, seed: int = 0):
    """(rewards, values, response_mask) `[B, T]`: float32, bool, right-padded, lengths uniform in [1, T].

    Rewards look like RLHF's: a small per-token KL penalty plus a score on the last valid token. Padding
    holds random numbers, as a value head run on pad tokens would: every implementation must ignore them.
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, num_tokens + 1, size=num_rows)  # uniform in [1, T]
    response_mask = np.arange(num_tokens)[None, :] < lengths[:, None]  # [B, T]
    rewards = (0.01 * rng.normal(size=(num_rows, num_tokens))).astype(np.float32)  # −β KL_t
    rewards[np.arange(num_rows), lengths - 1] += rng.normal(size=num_rows).astype(np.float32)  # + score
    values = rng.normal(size=(num_rows, num_tokens)).astype(np.float32)
    return rewards, values, response_mask


def numpy_loop(rewards, values, response_mask, gamma=GAMMA, lam=LAMBDA):
    """TRL's `compute_advantages` reverse loop over tokens, in NumPy, padding zeroed first."""
    rewards = np.where(response_mask, rewards, np.float32(0.0))
    values = np.where(response_mask, values, np.float32(0.0))
    gen_length = rewards.shape[1]
    lastgaelam = 0
    advantages_reversed = []
    for t in reversed(range(gen_length)):
        nextvalues = values[:, t + 1] if t < gen_length - 1 else 0.0
        delta = rewards[:, t] + gamma * nextvalues - values[:, t]
        lastgaelam = delta + gamma * lam * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = np.stack(advantages_reversed[::-1], axis=1)
    returns = advantages + values
    return advantages, returns


def torch_loop(rewards, values, padding_mask, gamma=GAMMA, lam=LAMBDA):
    """The same loop in PyTorch, as TRL writes it (`padding_mask` is True on padding)."""
    rewards = torch.masked_fill(rewards, padding_mask, 0)
    values = torch.masked_fill(values, padding_mask, 0)
    gen_length = rewards.shape[1]
    lastgaelam = 0
    advantages_reversed = []
    for t in reversed(range(gen_length)):
        nextvalues = values[:, t + 1] if t < gen_length - 1 else 0.0
        delta = rewards[:, t] + gamma * nextvalues - values[:, t]
        lastgaelam = delta + gamma * lam * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = torch.stack(advantages_reversed[::-1], axis=1)
    returns = advantages + values
    return advantages, returns


def _max_difference(got: Any, expected: tuple[np.ndarray, np.ndarray], mask: np.ndarray) -> float:
    """max |Δ| at valid tokens over advantages and returns."""
    return max(float(np.max(np.abs(np.asarray(g)[mask] - e[mask]))) for g, e in zip(got, expected))


def _discarding(function: Callable[[], Any]) -> Callable[[], None]:
    """The call, with its outputs left where they are (see the module docstring: the calls are synchronous)."""

    def call() -> None:
        function()

    return call


def run(lengths: tuple[int, ...], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for num_tokens in lengths:
        rewards, values, response_mask = make_batch(num_tokens)
        tensors = [tf.constant(x) for x in (rewards, values, response_mask)]
        kernel = lambda: token_gae(*tensors, gamma=GAMMA, lambda_=LAMBDA)  # noqa: E731
        loop = lambda: numpy_loop(rewards, values, response_mask)  # noqa: E731
        implementations = [("token_gae", kernel), ("numpy_loop", loop)]
        if torch is not None:
            torch_inputs = (torch.from_numpy(rewards), torch.from_numpy(values), torch.from_numpy(~response_mask))
            implementations.append(("torch_loop", lambda: torch_loop(*torch_inputs)))

        out = kernel()
        expected = (out.advantages.numpy(), out.returns.numpy())
        row: dict[str, Any] = dict(T=num_tokens, agreement={})
        for name, function in implementations[1:]:
            got = [x.numpy() if hasattr(x, "numpy") else x for x in function()]
            error = _max_difference(got, expected, response_mask)
            if not error <= AGREEMENT_TOLERANCE:
                raise SystemExit(f"benchmark: {name} disagrees with token_gae by {error:.3g} at T={num_tokens}")
            row["agreement"][name] = error
        agreement = ", ".join(f"{name} {error:.1e}" for name, error in row["agreement"].items())
        print(f"  T={num_tokens:>6}: agree with token_gae at valid tokens, max |Δ| {agreement}", file=sys.stderr)

        if not tf.config.experimental.get_synchronous_execution():
            raise SystemExit("benchmark: TensorFlow runs asynchronously here; timings would end before the work")
        for name, function in implementations:
            row[name] = median_time(_discarding(function), repeats)
        rows.append(row)
        timings = ", ".join(f"{name} {row[name] * 1e3:.2f} ms" for name, _ in implementations)
        print(f"  T={num_tokens:>6} B={NUM_ROWS}: {timings}", file=sys.stderr, flush=True)
    return rows


def _machine() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markdown(rows: list[dict[str, Any]], repeats: int, threads: str = "all") -> str:
    ms = lambda seconds: f"{seconds * 1e3:.2f}"  # noqa: E731
    torch_version = f"PyTorch {torch.__version__}" if torch is not None else "PyTorch not installed"
    worst = max((error for row in rows for error in row["agreement"].values()), default=0.0)
    lines = [
        f"B = {NUM_ROWS} right-padded responses, lengths uniform in [1, T] (seed 0); float32; "
        f"γ = {GAMMA}, λ = {LAMBDA}. "
        f"Median of {repeats} calls after a warm-up, milliseconds; one process, "
        f"{'one thread per framework' if threads == '1' else 'each framework with its default threads'} "
        f"({os.cpu_count()} cores). "
        f"{_machine()}, Python {platform.python_version()}, TensorFlow {tf.__version__}, NumPy {np.__version__}, "
        f"{torch_version}.",
        "",
        "| T | token_gae (ms) | NumPy loop (ms) | PyTorch loop (ms) "
        "| NumPy loop ÷ token_gae | PyTorch loop ÷ token_gae |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        torch_ms = ms(row["torch_loop"]) if "torch_loop" in row else "—"
        torch_ratio = f"{row['torch_loop'] / row['token_gae']:.1f}×" if "torch_loop" in row else "—"
        lines.append(
            f"| {row['T']} | {ms(row['token_gae'])} | {ms(row['numpy_loop'])} | {torch_ms} "
            f"| {row['numpy_loop'] / row['token_gae']:.1f}× | {torch_ratio} |"
        )
    lines += [
        "",
        f"Before timing, the loops were checked against token_gae: advantages and returns agree at every valid "
        f"token within max |Δ| = {worst:.1e} (tolerance {AGREEMENT_TOLERANCE:g}). The loops are TRL's "
        "`compute_advantages` reverse loop over tokens (rewards and values zeroed on padding first); token_gae "
        "runs on tensors already in TensorFlow. Every call is timed until its outputs exist in its own framework "
        "(no conversion to NumPy for any of them).",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T ∈ {256, 1024}; writes a file only with --out")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per implementation (≥ 5)")
    parser.add_argument(
        "--threads", choices=THREAD_SETTINGS, default="all", help="'all': every framework's default; '1': one each"
    )
    parser.add_argument(
        "--out", type=Path, default=None,
        help="default (full run): benchmarks/results/token_gae.md, or token_gae_1thread.md with --threads 1",
    )
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    default_out = Path("benchmarks/results/token_gae.md" if args.threads == "all" else "benchmarks/results/token_gae_1thread.md")
    out = args.out if args.out is not None or args.quick else default_out
    if args.threads == "1":
        use_one_thread()
    print("benchmark: token-level GAE against the per-token RLHF loop", file=sys.stderr)
    lengths = LENGTHS_QUICK if args.quick else LENGTHS_FULL
    table = markdown(run(lengths, args.repeats), args.repeats, args.threads)
    print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table + "\n")
        print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
