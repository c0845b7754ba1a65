"""Chapter 6 — applications: GAE for language models (the article's section 6).

Run it:  python -m chapters.ch6_applications [--quick] [--out DIR] [--seed S] [--workers N] [--cache DIR]

The article is written for training large language models, yet never shows GAE on one. This chapter
does, at a size two CPU cores train in minutes, with the mechanics of the RLHF libraries (TRL, OpenRLHF,
verl): each generated token is an action, the state is the prompt plus the tokens so far, the reward is a
verifier's score on the last token, a KL term keeps the policy near a frozen reference, and the advantage
is token-level GAE on a critic's values (tf_gae.llm).

  1. A verifiable task generated in code: prompts "aa+bb=" (operands 0–49), reward 1 for exactly the sum
     followed by the end token. A tiny causal transformer (tf_gae.llm.lm.TinyCausalLM, 2 layers, d = 64)
     is warm-started by supervised next-token training and stopped while still imperfect (about 30 %
     of sampled answers right): that is the reference model π_ref.
  2. A walk-through of one PPO batch in InstructGPT's form (KL in the reward): tokens, mask, score, log π,
     log π_ref, KL, rewards, values, advantages and returns for a few sequences, so every number can be
     followed; and which (γ, λ) TRL, OpenRLHF and verl default to, read from their configuration files.
  3. A fair comparison of three advantage recipes. Everything but the recipe is shared: 16 distinct
     prompts × 4 samples = 64 sequences per iteration, the KL to the reference as a loss term (k3, β = 0.05,
     as GRPO and verl's use_kl_loss; the rewards are the score alone), Adam at 1e-4, 4 epochs of 2 minibatches:
       PPO with a critic and token-level GAE, λ = 0.95 (TRL's default, γ = 1), advantages whitened;
       PPO with a critic and λ = 1 (OpenRLHF's and verl's default: Monte-Carlo return minus V);
       GRPO: no critic, (score − group mean) / group standard deviation, no batch whitening.
     Exact expected accuracy (mean over all 2,500 problems of π(answer | prompt), no sampling noise) with
     95 % Student-t intervals over seeds, and verdicts computed from them: side by side, and paired by seed
     (runs of one seed share the reference model and the prompts); "cannot tell" where an interval allows it.
  4. The early dip. The first edition's critic-free curve fell below the reference for ~100 iterations.
     The same 16 × 4 batches with Adam at 3e-4 (that edition's setting) against 1e-4, paired by seed: how
     far each falls below its reference, and how much each update gains on its own 16 prompts against the
     accuracy over all problems (a step that fits the iteration's few prompts and loses on the rest).
  5. Long responses. The answer followed by 30 filler tokens, then the end token, all required for the
     score: the tokens that decide the score stand 31+ tokens before it. The exact share of a terminal
     score that reaches a token k steps earlier through the δ's is (γλ)^k (token_gae, checked in float64),
     so at TRL's λ = 0.95 the decisive tokens get 0.95^31 ≈ 0.20 of it directly and the critic's V supplies
     the rest. PPO at λ = 0.95 and λ = 1 on this task: accuracy, and how closely the first token's advantage
     follows the score (at λ = 1 it is the score minus V(s_0); at λ < 1 it leans on V further along).

References: Ziegler et al. 2019, arXiv:1909.08593 and Ouyang et al. 2022 (InstructGPT): PPO with a
per-token KL penalty; Schulman et al. 2016, arXiv:1506.02438 (GAE); Schulman et al. 2017,
arXiv:1707.06347 (PPO); Shao et al. 2024, arXiv:2402.03300 (GRPO: the group baseline and the KL loss).
"""

from __future__ import annotations

import argparse
import math
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

__all__ = [
    "VARIANTS", "STUDIES", "COMMON", "DIP_LEARNING_RATE", "LONG_FILLER", "Job", "run_job", "warm_started_model",
    "walk_through", "credit_shares", "print_credit_shares", "first_token_credit", "summary_rows", "dip_rows",
    "long_rows", "plot_training", "plot_long_responses", "EXERCISES", "main",
]  # fmt: skip

FIGURE_NAME = "ch6_accuracy_kl.png"
LONG_FIGURE_NAME = "ch6_long_responses.png"
TABLE_NAME = "ch6_results.md"
VARIANTS: dict[str, dict[str, Any]] = {
    "ppo_gae_0.95": dict(advantage="gae", lam=0.95),
    "ppo_gae_1": dict(advantage="gae", lam=1.0),
    "grpo": dict(advantage="group", group_std=True, normalize_advantages=False),
}
"""What differs between the compared runs: the advantage recipe — the estimator, and for GRPO no batch whitening
(the critic runs also train a critic, with its own Adam)."""
LABELS = {
    "ppo_gae_0.95": "PPO, critic + token GAE (λ = 0.95)",
    "ppo_gae_1": "PPO, critic + token GAE (λ = 1)",
    "grpo": "GRPO, no critic (group-normalised score)",
}
_SHORT = {"ppo_gae_0.95": "GAE λ=0.95", "ppo_gae_1": "GAE λ=1", "grpo": "GRPO"}
COMMON: dict[str, Any] = dict(
    prompts_per_iteration=16, samples_per_prompt=4, kl_beta=0.05, kl_in="loss", kl_estimator="k3", policy_learning_rate=1e-4
)
"""Shared by every run (the rest are tf_gae.llm.ppo.LMPPOConfig's defaults: 4 epochs of 2 minibatches, clip 0.2)."""
DIP_LEARNING_RATE = 3e-4
"""The first edition's policy step size, at which every estimator dipped below the reference."""
EARLY_WINDOW = 30
"""Iterations whose updates' own-prompt gain a run measures (two exact evaluations per update, ~20 % of an
iteration's time): the dip study's length, and more than section 5's LONG_EARLY. Later rows hold NaN."""
LONG_FILLER = 30
"""Fillers after the answer in section 5's long responses (responses of up to 33 tokens: 2 digits, 30, <eos>)."""
STUDIES: dict[str, tuple[int, dict[str, Any], tuple[str, ...]]] = {
    "main": (0, {}, tuple(VARIANTS)),
    "dip": (0, dict(policy_learning_rate=DIP_LEARNING_RATE), tuple(VARIANTS)),
    "long": (LONG_FILLER, {}, ("ppo_gae_0.95", "ppo_gae_1")),
}
"""study → (fillers of its task, its settings beyond COMMON and the variant's, its variants)."""
EXERCISES = (
    "(compute) γ = 1, λ = 0.95, a score of 1 on the last of 40 response tokens and a critic that predicts 0:\n"
    "what advantage does the first token get? [exercise_1()]",
    "(derive) Token-level GAE with γ = λ = 1 over one response: write Â_t in terms of the rewards and V_t.\n"
    "[exercise_2(rewards, values)]",
    "(compute) GRPO's advantage at the first token for a group with scores [1, 0, 0, 1] (the KL in the loss;\n"
    "the sample standard deviation, as verl and TRL); and without the division? [exercise_3(scores)]",
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
    study: str  # a key of STUDIES
    variant: str
    seed: int
    iterations: int
    eval_every: int
    cache_dir: str  # where the seed's reference model is stored (not part of the key)

    @property
    def key(self) -> str:
        return f"{self.study}_{self.variant}_seed{self.seed}_it{self.iterations}_every{self.eval_every}"


def warm_started_model(seed: int, cache_dir: Path | None = None, filler_length: int = 0) -> tuple[Any, Any]:
    """The task (with `filler_length` fillers after the answer) and its supervised, imperfect reference model.

    With `cache_dir`, the warm-started weights are saved there as a tf.train.Checkpoint (no pickle) the
    first time and restored afterwards, so the walk-through and every run of a seed share one reference.
    """
    import keras

    from tf_gae._tf import tf
    from tf_gae.llm.lm import TinyCausalLM, supervised_warm_start
    from tf_gae.llm.task import AdditionTask

    keras.utils.set_random_seed(seed)
    task = AdditionTask(seed=seed, filler_length=filler_length)
    model = TinyCausalLM(task.vocab_size, task.sequence_length)
    name = f"reference_seed{seed}" if filler_length == 0 else f"reference_filler{filler_length}_seed{seed}"
    folder = None if cache_dir is None else Path(cache_dir) / name
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


def first_token_credit(first_advantages: np.ndarray, scores: np.ndarray) -> float:
    """Pearson correlation over a batch's sequences between the first response token's advantage (before
    whitening) and the sequence's score: how strongly the credit of the token that starts the answer follows
    the outcome. NaN when either is constant over the batch."""
    first_advantages, scores = (np.asarray(x, np.float64) for x in (first_advantages, scores))
    if np.ptp(first_advantages) == 0 or np.ptp(scores) == 0:
        return float("nan")
    return float(np.corrcoef(first_advantages, scores)[0, 1])


def run_job(job: Job) -> dict[str, Any]:
    """Warm-start, then `iterations` PPO iterations; exact accuracy every `eval_every`, metrics every one.

    Each iteration also records the first token's credit (:func:`first_token_credit`) and, within the first
    EARLY_WINDOW iterations, how the update changed the exact accuracy on its own prompts (`own_prompts_gain`)."""
    from tf_gae.llm.lm import expected_accuracy
    from tf_gae.llm.ppo import LMPPOConfig, LMPPOTrainer

    started = time.perf_counter()
    filler_length, settings, _ = STUDIES[job.study]
    task, model = warm_started_model(job.seed, Path(job.cache_dir), filler_length)
    reference_accuracy = expected_accuracy(model, task)
    config = LMPPOConfig(seed=job.seed, **{**COMMON, **VARIANTS[job.variant], **settings})  # the study's settings win
    trainer = LMPPOTrainer(model, task, config)
    evaluations = [(0, reference_accuracy)]
    rows = []
    for iteration in range(1, job.iterations + 1):
        batch = trainer.collect()
        early = iteration <= EARLY_WINDOW
        problems = np.unique(batch.operands, axis=0)  # the iteration's distinct prompts
        before = expected_accuracy(model, task, problems) if early else math.nan
        metrics = trainer.update(batch)
        metrics["own_prompts_gain"] = expected_accuracy(model, task, problems) - before if early else math.nan
        metrics["first_token_credit"] = first_token_credit(batch.advantages.numpy()[:, 0], batch.scores)
        rows.append(metrics)
        if iteration % job.eval_every == 0 or iteration == job.iterations:
            evaluations.append((iteration, expected_accuracy(model, task)))
    return dict(
        key=job.key, study=job.study, variant=job.variant, seed=job.seed, reference_accuracy=reference_accuracy,
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
    # InstructGPT's form: the KL in the reward (k1), one sample per prompt
    trainer = LMPPOTrainer(model, task, LMPPOConfig(seed=seed, prompts_per_iteration=8, kl_beta=COMMON["kl_beta"]))
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
    print("    The comparison below moves the KL out of the reward into the loss for every run (GRPO's form,")
    print("    verl's use_kl_loss), so that the rewards — the score alone — are the same data for all three estimators.\n")
    print("Which (γ, λ) the language-model libraries default to, read from their configuration files:")
    for library, setting in LIBRARY_DEFAULTS:
        print(f"  {library:9s} {setting}")
    print()
    return arrays


# ==================================================================================================
# Long responses: how far a terminal score's credit travels.
# ==================================================================================================

CREDIT_LAMBDAS = (0.9, 0.95, 0.99, 1.0)
CREDIT_DISTANCES = (0, 3, 10, 31, 100, 300)


def credit_shares(distances: Sequence[int] = CREDIT_DISTANCES, lambdas: Sequence[float] = CREDIT_LAMBDAS,
                  gamma: float = 1.0) -> tuple[np.ndarray, float]:  # fmt: skip
    """The share of a terminal score that token_gae gives a token k steps before the last, with V ≡ 0.

    One response of max(distances) + 1 tokens, reward 1 on its last token, values 0: Â_t is the δ-carried
    credit alone. Returns (shares [len(lambdas), len(distances)], largest difference from (γλ)^k), float64.
    """
    from tf_gae._tf import tf
    from tf_gae.llm.advantages import token_gae

    length = max(distances) + 1
    rewards = np.zeros((len(lambdas), length))
    rewards[:, -1] = 1.0
    shares = np.zeros((len(lambdas), len(distances)))
    for row, lam in enumerate(lambdas):
        advantages, _ = token_gae(
            tf.constant(rewards[row : row + 1]), tf.zeros([1, length], tf.float64), tf.ones([1, length]),
            gamma=gamma, lambda_=lam,
        )  # fmt: skip
        shares[row] = advantages.numpy()[0, [length - 1 - k for k in distances]]
    exact = (gamma * np.asarray(lambdas))[:, None] ** np.asarray(distances)[None, :]  # (γλ)^k
    return shares, float(np.max(np.abs(shares - exact)))


def print_credit_shares() -> float:
    shares, error = credit_shares()
    print("How much of a terminal score reaches a token k steps before the last, carried by the δ's alone")
    print("(token_gae with V ≡ 0, γ = 1; the critic's V must carry the rest):")
    print("    k  " + "".join(f"{f'λ = {lam:g}':>11s}" for lam in CREDIT_LAMBDAS))
    for column, distance in enumerate(CREDIT_DISTANCES):
        print(f"  {distance:3d}  " + "".join(f"{shares[row, column]:11.3g}" for row in range(len(CREDIT_LAMBDAS))))
    print(f"  = (γλ)^k to {error:.1e} (float64). Section 5's decisive tokens sit k ≥ {LONG_FILLER + 1} from the score;")
    print("  responses of hundreds of tokens (reasoning traces) put them at k in the hundreds.\n")
    return error


# ==================================================================================================
# Results.
# ==================================================================================================


def _runs(results: Sequence[dict[str, Any]], study: str, variant: str) -> list[dict[str, Any]]:
    return sorted((r for r in results if r["study"] == study and r["variant"] == variant), key=lambda r: r["seed"])


def _accuracy(runs: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(iterations [E], exact accuracy [seeds, E]) of runs that share an evaluation schedule."""
    x = np.array([i for i, _ in runs[0]["evaluations"]])
    return x, np.array([[a for _, a in r["evaluations"]] for r in runs])


def _metric(runs: Sequence[dict[str, Any]], field: str) -> tuple[np.ndarray, np.ndarray]:
    """(iterations [I], the per-iteration metric `field` [seeds, I])."""
    x = np.array([row["iteration"] for row in runs[0]["rows"]])
    return x, np.array([[row[field] for row in r["rows"]] for r in runs], np.float64)


def _interval(values: np.ndarray) -> tuple[float, float] | None:
    """The 95 % Student-t interval of the mean over seeds (3–5 seeds: a bootstrap's would be too narrow);
    None with one seed."""
    from tf_gae.stats import t_interval

    return t_interval(values) if len(values) >= 2 else None


def _with_interval(values: np.ndarray, digits: int = 3) -> str:
    interval = _interval(values)
    text = f"{np.mean(values):.{digits}f}"
    return text if interval is None else f"{text} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def _verdict(name_a: str, values_a: np.ndarray, name_b: str, values_b: np.ndarray) -> str:
    """The intervals side by side (tf_gae.stats.compare), then the per-seed differences (compare_paired): runs
    of one seed share the reference model and the prompts, so the paired verdict is the sharper one."""
    from tf_gae.stats import compare, compare_paired

    interval_a, interval_b = _interval(values_a), _interval(values_b)
    if interval_a is None or interval_b is None:
        return f"cannot tell ({name_a} ~ {name_b}): one seed, no interval"
    return f"{compare(name_a, interval_a, name_b, interval_b)} side by side; {compare_paired(name_a, values_a, name_b, values_b)}"


def _pairwise_verdicts(rows: Sequence[dict[str, Any]], measure: str) -> list[str]:
    """Every pair of `rows` (in their order) compared on their per-seed `measure` by :func:`_verdict`, as
    Markdown list items."""
    return [
        f"  - {_verdict(_SHORT[a['variant']], a[measure], _SHORT[b['variant']], b[measure])}"
        for i, a in enumerate(rows) for b in rows[i + 1 :]
    ]  # fmt: skip


def summary_rows(results: Sequence[dict[str, Any]], study: str = "main") -> list[dict[str, Any]]:
    """Per variant of `study`: reference accuracy, final accuracy and the mean accuracy over the run (both per
    seed), KL per sequence over the last 5 iterations and its largest value, sampled tokens, seconds."""
    rows = []
    for variant in STUDIES[study][2]:
        runs = _runs(results, study, variant)
        if not runs:
            continue
        _, accuracy = _accuracy(runs)
        _, kl = _metric(runs, "kl_per_sequence")
        rows.append(
            dict(
                variant=variant,
                seeds=len(runs),
                reference=float(np.mean([r["reference_accuracy"] for r in runs])),
                final=accuracy[:, -1],
                area=accuracy.mean(axis=1),  # mean exact accuracy over the evaluations: learning speed
                kl_final=float(np.mean(kl[:, -5:])),
                kl_max=float(np.max(kl)),
                tokens=float(np.mean([sum(row["response_tokens"] for row in r["rows"]) for r in runs])),
                seconds=float(np.mean([r["seconds"] for r in runs])),
            )
        )
    return rows


def _dip_pairs(results: Sequence[dict[str, Any]], variant: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(main runs, dip runs) of `variant` on the seeds the dip study ran, seed by seed; empty if either is missing."""
    dips = _runs(results, "dip", variant)
    seeds = {r["seed"] for r in dips}
    runs = [r for r in _runs(results, "main", variant) if r["seed"] in seeds]
    return (runs, dips) if dips and len(runs) == len(dips) else ([], [])


def dip_rows(results: Sequence[dict[str, Any]], iterations: int) -> list[dict[str, Any]]:
    """Per variant, on the seeds the dip study ran: the exact accuracy's change from the reference after
    `iterations` iterations at each step size (COMMON's and DIP_LEARNING_RATE) per seed, and per seed the mean
    gain of an update on its own prompts over those iterations."""
    rows = []
    for variant in VARIANTS:
        runs, dips = _dip_pairs(results, variant)
        if not dips:
            continue
        row = dict(variant=variant, seeds=len(dips))
        for name, members in (("main", runs), ("dip", dips)):
            iteration, change, own_gain = _early(members, iterations)
            row[name] = dict(iteration=iteration, change=change, own_gain=own_gain)
        rows.append(row)
    return rows


def _early(runs: Sequence[dict[str, Any]], iterations: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The early window of `runs`: (the first evaluation's iteration at or after `iterations`; per seed the exact
    accuracy's change from the reference there; per seed the mean own-prompt gain of the first `iterations` updates)."""
    x, accuracy = _accuracy(runs)
    column = int(np.searchsorted(x, iterations))
    own_gain = _metric(runs, "own_prompts_gain")[1][:, :iterations].mean(axis=1)
    return int(x[column]), accuracy[:, column] - accuracy[:, 0], own_gain


LONG_EARLY = 20
"""Section 5's early window (iterations): the accuracy's change from the reference, and the own-prompt gain."""


def long_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per λ of the long-response study, per seed: final and mean accuracy, the mean first-token credit, and
    over the first LONG_EARLY iterations the accuracy's change from the reference and an update's own-prompt gain."""
    rows = []
    for row in summary_rows(results, "long"):
        runs = _runs(results, "long", row["variant"])
        _, credit = _metric(runs, "first_token_credit")
        row["credit"] = np.nanmean(credit, axis=1)  # per seed, over the iterations where it is defined
        _, row["early_change"], row["early_own_gain"] = _early(runs, LONG_EARLY)
        rows.append(row)
    return rows


def _step(learning_rate: float) -> str:
    """3e-4, not 0.0003."""
    return f"{learning_rate:.0e}".replace("e-0", "e-")


def _band(axis: Any, x: np.ndarray, y: np.ndarray, color: str, label: str, **style: Any) -> None:
    """The mean over seeds, and a band from the lowest to the highest seed (within the data)."""
    axis.plot(x, y.mean(axis=0), color=color, lw=1.8, label=label, **style)
    if len(y) > 1:
        axis.fill_between(x, y.min(axis=0), y.max(axis=0), color=color, alpha=0.15)


def _trailing_mean(x: np.ndarray, y: np.ndarray, window: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A trailing mean over `window` iterations of each seed's per-iteration metric (NaN iterations skipped)."""
    window = min(window, y.shape[1])
    kernel = np.ones(window)
    finite = np.isfinite(y)
    sums = np.stack([np.convolve(np.where(f, row, 0.0), kernel, mode="valid") for row, f in zip(y, finite)])
    counts = np.stack([np.convolve(f.astype(float), kernel, mode="valid") for f in finite])
    with np.errstate(invalid="ignore", divide="ignore"):
        return x[window - 1 :], sums / counts


def plot_training(results: Sequence[dict[str, Any]], out_dir: Path) -> Path:
    """Section 3 (accuracy, KL per sequence) and section 4 (the dip: the first iterations at two step sizes),
    mean over seeds with a band from the lowest to the highest seed, one colour per estimator."""
    fig = Figure(figsize=(15.5, 4.6), dpi=_DPI)
    FigureCanvasAgg(fig)
    accuracy_axis, kl_axis, dip_axis = fig.subplots(1, 3)
    for color, variant in enumerate(VARIANTS):
        runs = _runs(results, "main", variant)
        if runs:
            _band(accuracy_axis, *_accuracy(runs), f"C{color}", LABELS[variant])
            _band(kl_axis, *_trailing_mean(*_metric(runs, "kl_per_sequence")), f"C{color}", LABELS[variant])
        paired, dips = _dip_pairs(results, variant)
        if dips:  # each seed's change from its own reference, on the table's seeds
            x, y = _accuracy(dips)
            _band(dip_axis, x, y - y[:, :1], f"C{color}", f"{_SHORT[variant]}, Adam {_step(DIP_LEARNING_RATE)}", ls="--")
            main_x, main_y = _accuracy(paired)
            keep = main_x <= x[-1]
            _band(dip_axis, main_x[keep], (main_y - main_y[:, :1])[:, keep], f"C{color}",
                  f"{_SHORT[variant]}, Adam {_step(COMMON['policy_learning_rate'])}")
    reference = np.mean([r["reference_accuracy"] for r in results if r["study"] == "main"])
    accuracy_axis.axhline(reference, color="k", ls=":", lw=0.9, label=f"reference model ({reference:.2f})")
    accuracy_axis.set_ylabel("expected accuracy (exact, all 2,500 problems)")
    dip_axis.axhline(0.0, color="k", ls=":", lw=0.9, label="the seed's reference model")
    dip_axis.set_ylabel("change in expected accuracy from the reference")
    accuracy_axis.set_title("Three advantage recipes, all else shared (16 prompts × 4)")
    kl_axis.set_ylabel("KL(π ‖ π_ref) per sequence (nats, k3)")
    kl_axis.set_title(f"KL to the reference (β = {COMMON['kl_beta']}; 10-iteration mean)")
    dip_axis.set_title("The early dip comes with the step size (seeds of the dip study)")
    for axis in (accuracy_axis, kl_axis, dip_axis):
        axis.set_xlabel("PPO iterations (64 sampled sequences each)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="x-small")
    seeds = len({r["seed"] for r in results if r["study"] == "main"})
    fig.suptitle(f"RL on a tiny causal LM: mean over {seeds} seed{'s' if seeds > 1 else ''}, band from the lowest to the highest seed")
    fig.tight_layout()
    path = out_dir / FIGURE_NAME
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def plot_long_responses(results: Sequence[dict[str, Any]], out_dir: Path) -> Path:
    """Section 5: the exact δ-carried share (γλ)^k, and PPO at λ = 0.95 and 1 on the long-response task."""
    fig = Figure(figsize=(15.5, 4.6), dpi=_DPI)
    FigureCanvasAgg(fig)
    share_axis, accuracy_axis, credit_axis = fig.subplots(1, 3)
    distances = np.arange(0, 301)
    for color, lam in enumerate(CREDIT_LAMBDAS):
        share_axis.plot(distances, lam**distances, color=f"C{color + 3}", lw=1.8, label=f"λ = {lam:g}")
    share_axis.axvline(LONG_FILLER + 1, color="k", ls=":", lw=0.9, label=f"k = {LONG_FILLER + 1}: this task's answer")
    share_axis.set_yscale("log")
    share_axis.set_ylim(1e-6, 2)
    share_axis.set_xlabel("k: tokens between a token and the score")
    share_axis.set_ylabel("share of the score in Â_t with V ≡ 0: (γλ)^k")
    share_axis.set_title("A terminal score's credit through the δ's (γ = 1)")
    for color, variant in enumerate(STUDIES["long"][2]):
        runs = _runs(results, "long", variant)
        if not runs:
            continue
        _band(accuracy_axis, *_accuracy(runs), f"C{color}", LABELS[variant])
        _band(credit_axis, *_trailing_mean(*_metric(runs, "first_token_credit")), f"C{color}", LABELS[variant])
    long_runs = [r for r in results if r["study"] == "long"]
    if long_runs:
        reference = np.mean([r["reference_accuracy"] for r in long_runs])
        accuracy_axis.axhline(reference, color="k", ls=":", lw=0.9, label=f"reference model ({reference:.2f})")
    accuracy_axis.set_ylabel("expected accuracy (exact, all 2,500 problems)")
    accuracy_axis.set_title(f"Answer, {LONG_FILLER} fillers, <eos>: all must be right")
    credit_axis.set_ylabel("corr(first token's Â, score) over a batch")
    credit_axis.set_title("How closely the answer's first token follows the score")
    for axis in (accuracy_axis, credit_axis):
        axis.set_xlabel("PPO iterations (64 sampled sequences each)")
    for axis in (share_axis, accuracy_axis, credit_axis):
        axis.grid(alpha=0.3)
        axis.legend(fontsize="x-small")
    seeds = len({r["seed"] for r in long_runs})
    fig.suptitle(f"Long responses: mean over {seeds} seed{'s' if seeds != 1 else ''}, band from the lowest to the highest seed")
    fig.tight_layout()
    path = out_dir / LONG_FIGURE_NAME
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    return parse_chapter_args(
        "chapters.ch6_applications", __doc__.splitlines()[0],
        "1 seed: 48 iterations per estimator, the dip's first 12, no long-response training (about a minute)",
        argv, study=True,
    )  # fmt: skip


def _tables(results: Sequence[dict[str, Any]], dip_iterations: int) -> str:
    """Markdown of sections 3–5 and their verdicts, from the numbers in `results`."""
    lines = [
        "Section 3 — three advantage recipes, everything else shared (16 prompts × 4 samples, KL as a k3 loss term, "
        f"Adam {_step(COMMON['policy_learning_rate'])}). Mean over seeds [95% t interval].",
        "",
        "| run | seeds | reference accuracy | final accuracy | mean accuracy over the run | KL/sequence, last 5 "
        "| largest KL | sampled tokens |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    main_rows = {row["variant"]: row for row in summary_rows(results)}
    for row in main_rows.values():
        lines.append(
            f"| {LABELS[row['variant']]} | {row['seeds']} | {row['reference']:.3f} | {_with_interval(row['final'])} | "
            f"{_with_interval(row['area'])} | {row['kl_final']:.3f} | {row['kl_max']:.3f} | {row['tokens']:,.0f} |"
        )
    lines.append("")
    for measure, title in (("final", "final accuracy"), ("area", "mean accuracy over the run")):
        lines += [f"- {title}:"] + _pairwise_verdicts(list(main_rows.values()), measure)
    small, large = _step(COMMON["policy_learning_rate"]), _step(DIP_LEARNING_RATE)
    lines += [
        "",
        f"Section 4 — the early dip: the first {dip_iterations} iterations at two Adam step sizes, the same batches "
        "otherwise, on the dip study's seeds. Per seed: the exact accuracy's change from its reference, and the mean "
        "gain of an update on its own 16 prompts.",
        "",
        f"| estimator | seeds | change at {small} | change at {large} | own prompts' gain per update, {small} | at {large} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    dip_verdicts = []
    for row in dip_rows(results, dip_iterations):
        main, dip = row["main"], row["dip"]
        lines.append(
            f"| {LABELS[row['variant']]} | {row['seeds']} | {_with_interval(main['change'])} | {_with_interval(dip['change'])} | "
            f"{_with_interval(main['own_gain'], 4)} | {_with_interval(dip['own_gain'], 4)} |"
        )
        short = _SHORT[row["variant"]]
        dip_verdicts.append(f"  - {short}, change after {dip['iteration']} iterations: "
                            + _verdict(large, dip["change"], small, main["change"]))  # fmt: skip
        dip_verdicts.append(f"  - {short}, gain on its own prompts: "
                            + _verdict(large, dip["own_gain"], small, main["own_gain"]))  # fmt: skip
    lines += [""] + dip_verdicts
    long = long_rows(results)
    if long:
        lines += [
            "",
            f"Section 5 — long responses (answer, {LONG_FILLER} fillers, <eos>; the same settings as section 3).",
            "",
            "| run | seeds | reference accuracy | final accuracy | mean accuracy over the run | corr(first token's Â, score) "
            f"| change after {LONG_EARLY} iterations, per seed | own prompts' gain per update, first {LONG_EARLY} |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in long:
            lines.append(
                f"| {LABELS[row['variant']]} | {row['seeds']} | {row['reference']:.3f} | {_with_interval(row['final'])} | "
                f"{_with_interval(row['area'])} | {_with_interval(row['credit'])} | "
                f"{', '.join(f'{c:+.3f}' for c in row['early_change'])} | {', '.join(f'{g:+.3f}' for g in row['early_own_gain'])} |"
            )
        lines.append("")
        for measure, title in (("final", "final accuracy"), ("area", "mean accuracy over the run"), ("credit", "first-token credit")):
            lines += [f"- {title}:"] + _pairwise_verdicts(long, measure)
    return "\n".join(lines)



def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    started = time.perf_counter()
    seeds = [args.seed] if args.quick else [args.seed + i for i in range(5)]
    iterations, eval_every = (48, 12) if args.quick else (250, 10)
    dip_iterations, dip_every = (12, 6) if args.quick else (EARLY_WINDOW, 10)
    long_seeds = [] if args.quick else seeds[:3]

    print("Chapter 6 — GAE for language models")
    print("=" * 78)
    walk_through(args.seed, args.cache)
    print_credit_shares()
    for seed in seeds[1:]:  # every seed's reference once, before the workers need it
        warm_started_model(seed, args.cache)
    for seed in long_seeds:
        warm_started_model(seed, args.cache, LONG_FILLER)

    jobs = [Job("main", variant, seed, iterations, eval_every, str(args.cache)) for seed in seeds for variant in VARIANTS]
    jobs += [Job("dip", variant, seed, dip_iterations, dip_every, str(args.cache)) for seed in seeds[:3] for variant in VARIANTS]
    jobs += [Job("long", variant, seed, 100, 10, str(args.cache)) for seed in long_seeds for variant in STUDIES["long"][2]]
    print(f"{len(jobs)} runs: 3 estimators × seeds {seeds} × {iterations} iterations; the dip's first {dip_iterations} at "
          f"Adam {_step(DIP_LEARNING_RATE)}" + (f"; long responses, λ = 0.95 and 1 × seeds {long_seeds} × 100" if long_seeds else "")
          + f". {args.workers} at a time; cache {args.cache}")  # fmt: skip

    def report(result: dict[str, Any]) -> None:
        final = result["evaluations"][-1][1]
        print(f"  [{result['study']}] {LABELS[result['variant']]}, seed {result['seed']}: accuracy "
              f"{result['reference_accuracy']:.3f} → {final:.3f} ({result['seconds']:.0f} s)", flush=True)

    results = run_cached(run_job, jobs, [job.key for job in jobs], args.cache, args.workers, on_result=report)
    table = _tables(results, dip_iterations)
    (args.out / TABLE_NAME).write_text(table + "\n")
    print("\n" + table + "\n")
    print_exercises("chapters.ch6_applications", EXERCISES)
    paths = [plot_training(results, args.out)]
    if long_seeds:
        paths.append(plot_long_responses(results, args.out))
    print(f"\n{len(results)} runs in {time.perf_counter() - started:.0f} s. Wrote {', '.join(map(str, paths))} and "
          f"{args.out / TABLE_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
