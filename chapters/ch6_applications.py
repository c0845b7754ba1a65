"""Chapter 6 — applications: GAE for language models (the article's section 6).

Run it:  python -m chapters.ch6_applications [--quick] [--out DIR] [--seed S] [--workers N] [--cache DIR]

The article is written for training large language models, yet never shows GAE on one. This chapter
does, at a size two CPU cores train in minutes, with the mechanics of the RLHF libraries (TRL, OpenRLHF,
verl): each generated token is an action, the state is the prompt plus the tokens so far, the reward is a
verifier's score on the last token plus a per-token KL penalty to a frozen reference, and the advantage
is token-level GAE on a critic's values (tf_gae.llm).

  1. A verifiable task generated in code: prompts "aa+bb=" (operands 0–49), reward 1 for exactly the sum
     followed by the end token. A tiny causal transformer (tf_gae.llm.lm.TinyCausalLM, 2 layers, d = 64)
     is warm-started by supervised next-token training and stopped while still imperfect (about 30 %
     of sampled answers right): that is the reference model π_ref.
  2. A walk-through of one PPO batch: tokens, mask, score, log π, log π_ref, KL, rewards, values,
     advantages and returns for a few sequences, so every number can be followed.
  3. Three runs from the same reference, the same number of sampled sequences (64) per iteration:
       PPO with a critic and token-level GAE, λ = 0.95 (RLHF's usual setting, γ = 1);
       PPO with a critic and λ = 1 (Monte-Carlo returns minus V);
       critic-free: REINFORCE-style advantages with a group-mean baseline over 4 samples per prompt
       (as GRPO), 16 prompts per iteration.
     Figure: the exact expected accuracy (mean over all 2,500 problems of π(answer | prompt), no
     sampling noise) and the KL to the reference, against PPO iterations: the mean over seeds with a
     band from the lowest to the highest seed, the statistic of the table.

References: Ziegler et al. 2019, arXiv:1909.08593 and Ouyang et al. 2022 (InstructGPT): PPO with a
per-token KL penalty; Schulman et al. 2016, arXiv:1506.02438 (GAE); Schulman et al. 2017,
arXiv:1707.06347 (PPO); Shao et al. 2024, arXiv:2402.03300 (GRPO, the group baseline).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from chapters._contract import parse_chapter_args, print_exercises
from tf_gae.parallel import run_cached

__all__ = ["VARIANTS", "Job", "run_job", "warm_started_model", "walk_through", "plot_training", "summary_rows", "EXERCISES", "main"]

FIGURE_NAME = "ch6_accuracy_kl.png"
TABLE_NAME = "ch6_results.md"
VARIANTS: dict[str, dict[str, Any]] = {
    "ppo_gae_0.95": dict(advantage="gae", lam=0.95),
    "ppo_gae_1": dict(advantage="gae", lam=1.0),
    "group_baseline": dict(advantage="group", prompts_per_iteration=16, samples_per_prompt=4),
}
LABELS = {
    "ppo_gae_0.95": "PPO, critic + token GAE (λ = 0.95)",
    "ppo_gae_1": "PPO, critic + token GAE (λ = 1)",
    "group_baseline": "critic-free, group-mean baseline (4 per prompt)",
}
COMMON: dict[str, Any] = dict(policy_learning_rate=3e-4, kl_beta=0.05)
"""Settings shared by the three runs (the rest are tf_gae.llm.ppo.LMPPOConfig's defaults)."""
EXERCISES = (
    "(compute) γ = 1, λ = 0.95, a score of 1 on the last of 40 response tokens and a critic that predicts 0:\n"
    "what advantage does the first token get? [exercise_1()]",
    "(derive) Token-level GAE with γ = λ = 1 over one response: write Â_t in terms of the rewards and V_t.\n"
    "[exercise_2(rewards, values)]",
    "(compute) The critic-free variant's advantage at the first token for a group with scores [1, 0, 0, 1];\n"
    "what would GRPO's division by the group's standard deviation change? [exercise_3(scores)]",
)
"""Printed at the end of the walk-through; answers in chapters/answers/ch6.py, checked by tests/test_exercises.py."""
_DPI = 90
LIBRARY_DEFAULTS = (
    ("TRL", "PPOConfig: gamma = 1, lam = 0.95 (trl/trainer/ppo_config.py, huggingface/trl@008c2a6)"),
    ("OpenRLHF", "--gamma 1, --lambd 1 (openrlhf/cli/train_ppo_ray.py, OpenRLHF/OpenRLHF@021d1b0)"),
    ("verl", "algorithm.gamma: 1.0, algorithm.lam: 1.0 (verl/trainer/config/ppo_trainer.yaml, volcengine/verl@008db45)"),
)
"""(library, its default γ and λ with the file and commit they were read from)."""


@dataclass(frozen=True)
class Job:
    variant: str
    seed: int
    iterations: int
    eval_every: int
    cache_dir: str  # where the seed's reference model is stored (not part of the key)

    @property
    def key(self) -> str:
        return f"{self.variant}_seed{self.seed}_it{self.iterations}_every{self.eval_every}"


def warm_started_model(seed: int, cache_dir: Path | None = None) -> tuple[Any, Any]:
    """The task and the supervised, imperfect reference model for `seed`.

    With `cache_dir`, the warm-started weights are saved there as a tf.train.Checkpoint (no pickle) the
    first time and restored afterwards, so the walk-through and every run of a seed share one reference.
    """
    import keras

    from tf_gae._tf import tf
    from tf_gae.llm.lm import TinyCausalLM, supervised_warm_start
    from tf_gae.llm.task import AdditionTask

    keras.utils.set_random_seed(seed)
    task = AdditionTask(seed=seed)
    model = TinyCausalLM(task.vocab_size, task.sequence_length)
    folder = None if cache_dir is None else Path(cache_dir) / f"reference_seed{seed}"
    if folder is not None and folder.exists():
        tf.train.Checkpoint(model=model).read(str(folder / "weights")).assert_consumed()
        return task, model
    supervised_warm_start(model, task, seed=seed)
    if folder is not None:
        temporary = folder.with_name(folder.name + f".tmp{os.getpid()}")
        tf.train.Checkpoint(model=model).write(str(temporary / "weights"))
        try:
            os.replace(temporary, folder)  # atomic: a reader sees the whole checkpoint or none
        except OSError:  # another process saved the same (deterministic) weights first
            shutil.rmtree(temporary, ignore_errors=True)
    return task, model


def run_job(job: Job) -> dict[str, Any]:
    """Warm-start, then `iterations` PPO iterations; exact accuracy every `eval_every`, metrics every one."""
    from tf_gae.llm.lm import expected_accuracy
    from tf_gae.llm.ppo import LMPPOConfig, LMPPOTrainer

    started = time.perf_counter()
    task, model = warm_started_model(job.seed, Path(job.cache_dir))
    reference_accuracy = expected_accuracy(model, task)
    trainer = LMPPOTrainer(model, task, LMPPOConfig(seed=job.seed, **COMMON, **VARIANTS[job.variant]))
    evaluations = [(0, reference_accuracy)]
    rows = []
    for iteration in range(1, job.iterations + 1):
        _, metrics = trainer.step()
        rows.append(metrics)
        if iteration % job.eval_every == 0 or iteration == job.iterations:
            evaluations.append((iteration, expected_accuracy(model, task)))
    return dict(
        key=job.key, variant=job.variant, seed=job.seed, reference_accuracy=reference_accuracy,
        evaluations=evaluations, rows=rows, seconds=time.perf_counter() - started,
    )  # fmt: skip


# ==================================================================================================
# The walk-through of one batch.
# ==================================================================================================


def walk_through(seed: int, cache_dir: Path | None = None, sequences: int = 3) -> dict[str, np.ndarray]:
    """Print one small PPO batch token by token, from the reference model of `seed`."""
    from tf_gae.llm.lm import expected_accuracy
    from tf_gae.llm.ppo import LMPPOConfig, LMPPOTrainer
    from tf_gae.llm.task import decode

    task, model = warm_started_model(seed, cache_dir)
    print(f"Task: {task.prompt_length}-token prompts 'aa+bb=' (operands 0–{task.max_operand}), responses of at "
          f"most {task.max_response_length} tokens; reward 1 for exactly the sum then <eos>.")
    print(f"Reference model after the supervised warm start: expected accuracy {expected_accuracy(model, task):.3f} "
          "(mean over all 2,500 problems of π(answer + <eos> | prompt) at temperature 1).\n")
    trainer = LMPPOTrainer(model, task, LMPPOConfig(seed=seed, prompts_per_iteration=8, **COMMON))
    batch = trainer.collect()
    config = trainer.config
    print(f"One PPO batch (γ = {config.gamma:g}, λ = {config.lam:g}, β = {config.kl_beta:g}, k1 KL), "
          f"{sequences} of its {len(batch.scores)} sequences:")
    print("    r_t = −β (log π − log π_ref)(y_t) + score·[t = last token];  Â = token_gae(r, V, mask);  R = Â + V")
    columns = dict(
        mask=batch.mask, logp=batch.log_probs, logp_ref=batch.reference_log_probs, kl=batch.kl,
        reward=batch.rewards, value=batch.values, advantage=batch.advantages, ret=batch.returns,
    )  # fmt: skip
    arrays = {name: np.asarray(value) for name, value in columns.items()}
    responses = np.asarray(batch.responses)
    for row in range(min(sequences, len(batch.scores))):
        prompt = decode(batch.prompts[row])
        response = decode(responses[row])
        print(f"  [{row}] {prompt}{response}   score {batch.scores[row]:.0f}")
        print("      t  token   mask   log π  log π_ref      KL   reward   V(s_t)      Â_t      R_t")
        for t in range(responses.shape[1]):
            token = decode(responses[row, t : t + 1])
            values = " ".join(f"{arrays[name][row, t]:+8.3f}" for name in ("logp", "logp_ref", "kl", "reward", "value", "advantage", "ret"))
            print(f"     {t:2d}  {token:>5s}  {arrays['mask'][row, t]:4.0f}  {values}")
    print("    Padding (mask 0) has reward, advantage and return exactly 0; the score sits on the last")
    print("    token (the <eos>), never on padding (TRL #3750), and V of padding never enters a bootstrap.\n")
    print("Which (γ, λ) the language-model libraries default to, read from their configuration files:")
    for library, setting in LIBRARY_DEFAULTS:
        print(f"  {library:9s} {setting}")
    share = 0.95 ** 39
    print(f"  With γ = 1 a sequence score reaches the first of 40 tokens with weight λ^39 through δ alone: {share:.3f}")
    print("  at λ = 0.95, 1 at λ = 1 — the rest must come from the critic's V (chapter 4's response function).\n")
    return arrays


# ==================================================================================================
# Results.
# ==================================================================================================


def _curves(results: Sequence[dict[str, Any]], variant: str, field: str) -> tuple[np.ndarray, np.ndarray]:
    runs = [r for r in results if r["variant"] == variant]
    if field == "accuracy":
        x = np.array([i for i, _ in runs[0]["evaluations"]])
        y = np.array([[a for _, a in r["evaluations"]] for r in runs])
    else:
        x = np.array([row["iteration"] for row in runs[0]["rows"]])
        y = np.array([[row[field] for row in r["rows"]] for r in runs])
    return x, y


def summary_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per variant: reference and final accuracy (mean, min, max over seeds), final and largest KL."""
    rows = []
    for variant in VARIANTS:
        runs = [r for r in results if r["variant"] == variant]
        if not runs:
            continue
        _, accuracy = _curves(results, variant, "accuracy")
        _, kl = _curves(results, variant, "kl_per_sequence")
        rows.append(
            dict(
                variant=variant,
                seeds=len(runs),
                reference=float(np.mean([r["reference_accuracy"] for r in runs])),
                final=accuracy[:, -1],
                kl_final=float(np.mean(kl[:, -5:])),
                kl_max=float(np.max(kl)),
                tokens=float(np.mean([sum(row["response_tokens"] for row in r["rows"]) for r in runs])),
                seconds=float(np.mean([r["seconds"] for r in runs])),
            )
        )
    return rows


def plot_training(results: Sequence[dict[str, Any]], out_dir: Path) -> Path:
    """Accuracy and KL per sequence against PPO iterations: mean over seeds, band from the lowest to the highest
    seed (the table's statistic), one line per variant."""
    fig = Figure(figsize=(11.5, 4.4), dpi=_DPI)
    FigureCanvasAgg(fig)
    accuracy_axis, kl_axis = fig.subplots(1, 2)
    for color, variant in enumerate(VARIANTS):
        if not any(r["variant"] == variant for r in results):
            continue
        for axis, field in ((accuracy_axis, "accuracy"), (kl_axis, "kl_per_sequence")):
            x, y = _curves(results, variant, field)
            if field == "kl_per_sequence":  # one sampled batch per point: a trailing mean over 10 iterations
                y = np.stack([np.convolve(row, np.ones(10) / 10, mode="valid") for row in y])
                x = x[len(x) - y.shape[1] :]
            axis.plot(x, y.mean(axis=0), color=f"C{color}", lw=1.8, label=LABELS[variant])
            axis.fill_between(x, y.min(axis=0), y.max(axis=0), color=f"C{color}", alpha=0.18)  # within the data
    reference = np.mean([r["reference_accuracy"] for r in results])
    accuracy_axis.axhline(reference, color="k", ls="--", lw=0.8, label=f"reference model ({reference:.2f})")
    accuracy_axis.set_ylabel("expected accuracy (exact, all 2,500 problems)")
    accuracy_axis.set_title("Reward: π(exact answer + <eos> | prompt)")
    kl_axis.set_ylabel("KL(π ‖ π_ref) per sequence (nats)")
    kl_axis.set_title(f"Distance from the reference (β = {COMMON['kl_beta']}; k1, 10-iteration mean)")
    for axis in (accuracy_axis, kl_axis):
        axis.set_xlabel("PPO iterations (64 sampled sequences each)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    seeds = len({r["seed"] for r in results})
    fig.suptitle(f"RL on a tiny causal LM: mean over {seeds} seeds, band from the lowest to the highest seed")
    fig.tight_layout()
    path = out_dir / FIGURE_NAME
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    return parse_chapter_args("chapters.ch6_applications", __doc__.splitlines()[0], "1 seed, 48 iterations per run (under a minute)", argv, study=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    started = time.perf_counter()
    seeds = [args.seed] if args.quick else [args.seed + i for i in range(3)]
    iterations, eval_every = (48, 12) if args.quick else (250, 10)

    print("Chapter 6 — GAE for language models")
    print("=" * 78)
    walk_through(args.seed, args.cache)
    for seed in seeds[1:]:  # every seed's reference once, before the workers need it
        warm_started_model(seed, args.cache)

    jobs = [Job(variant, seed, iterations, eval_every, str(args.cache)) for seed in seeds for variant in VARIANTS]
    print(f"Three runs × seeds {seeds}, {iterations} PPO iterations each, {args.workers} at a time; cache {args.cache}")

    def report(result: dict[str, Any]) -> None:
        final = result["evaluations"][-1][1]
        print(f"  {LABELS[result['variant']]}, seed {result['seed']}: accuracy {result['reference_accuracy']:.3f} → "
              f"{final:.3f}, KL/sequence at the end {result['rows'][-1]['kl_per_sequence']:.3f} "
              f"({result['seconds']:.0f} s)", flush=True)

    results = run_cached(run_job, jobs, [job.key for job in jobs], args.cache, args.workers, on_result=report)
    lines = [
        "| run | seeds | reference accuracy | final accuracy, mean [min, max] | × reference | KL/sequence, last 5 "
        "| largest KL | sampled tokens |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary_rows(results):
        final = row["final"]
        lines.append(
            f"| {LABELS[row['variant']]} | {row['seeds']} | {row['reference']:.3f} | {final.mean():.3f} "
            f"[{final.min():.3f}, {final.max():.3f}] | {final.mean() / row['reference']:.2f} | "
            f"{row['kl_final']:.3f} | {row['kl_max']:.3f} | {row['tokens']:,.0f} |"
        )
    table = "\n".join(lines)
    (args.out / TABLE_NAME).write_text(table + "\n")
    print("\n" + table)
    print()
    print_exercises("chapters.ch6_applications", EXERCISES)
    path = plot_training(results, args.out)
    print(f"\n{len(results)} runs in {time.perf_counter() - started:.0f} s. Wrote {path} and {args.out / TABLE_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
