"""Chapter 4 — the maths of GAE, proved with numbers (the article's section 4).

Run it:  python -m chapters.ch4_math [--quick] [--out DIR] [--seed S]

Every claim of the section is checked numerically in float64 and printed with its error:

  1. the backward recursion (tf_gae.gae) equals the explicit sum Â_t = Σ_l (γλ)^l δ_{t+l}
     (GAE paper eq. 16), on random rollouts with terminations and time-limit truncations;
     Written out: the k-step estimators Â^(k)_t = Σ_{l<k} γ^l δ_{t+l} telescope to
     −V(s_t) + Σ_{l<k} γ^l r_{t+l} + γ^k V(s_{t+k}) (paper eqs. 11–15), and their exponential average
     (1 − λ) Σ_k λ^{k−1} Â^(k) collects to Σ_l (γλ)^l δ_{t+l} (eq. 16); both steps checked in float64;
  2. λ = 1 telescopes: Â_t = G_t − V(s_t), the bootstrapped discounted return minus V (eq. 18);
  3. λ = 0 gives the one-step TD residual: Â_t = δ_t (eq. 17);
  4. returns = Â + V is the λ-return (1 − λ) Σ_n λ^{n−1} G^{(n)}_t with the tail weight
     (Sutton & Barto eq. 12.3, and 12.9 for a stretch cut by a time limit);
  5. γλ sets an effective horizon 1/(1 − γλ): the weight on δ_{t+l} is (γλ)^l (figure, table);
  6. a state-dependent baseline b(s) leaves the policy gradient unbiased and changes its variance:
     exact gradient by enumerating every trajectory of a two-step MDP (autodiff of exact J(θ)),
     exact mean and variance of the estimator by the same enumeration, and sampled estimates with
     no baseline, a constant one, the exact V^π and V^π plus noise of growing scale (two figures);
  7. GAE as reward shaping (paper §4, eqs. 20–26): with the potential Φ = V the shaped reward
     r + γV(s') − V(s) is δ, so Â_t is the γλ-discounted return of shaped rewards; shaping leaves A^π
     unchanged (a linear solve on the shaped tabular MDP); the response function
     χ(l; s, a) = E[r_{t+l} | s, a] − E[r_{t+l} | s] sums to A^π with weights γ^l. On an MDP whose reward
     arrives 20 steps after the action, GAE(λ = 0.95) keeps 0.95^20 = 36% of the advantage with raw rewards
     and all of it with Φ = V^π, where every bit of χ̃ sits at l = 0 (figure ch4_response_function.png).

It ends with what the article gets wrong in this section: its formula
A(s,a,t) = Σ_{k=0}^{T−1} γ^k V(s_{t+k}) − V(s_t) reads no reward and has no λ, and GAE is not "solved by
gradient descent" — it is a fixed linear map of rewards and values.

The chapter imports tf_gae for every fast computation. The only re-implementations here are the slow,
explicit float64 sums written from the papers' equations, which are the things being proved equal.

References: Schulman, Moritz, Levine, Jordan, Abbeel, "High-Dimensional Continuous Control Using
Generalized Advantage Estimation", ICLR 2016, arXiv:1506.02438 (the GAE paper); Sutton & Barto,
"Reinforcement Learning: An Introduction", 2nd ed. 2018, §12.1 (λ-return) and §13.4 (baselines);
Sutton, McAllester, Singh, Mansour, "Policy Gradient Methods for RL with Function Approximation",
NeurIPS 2000 (the policy gradient theorem); Ng, Harada, Russell, "Policy Invariance under Reward
Transformations: Theory and Application to Reward Shaping", ICML 1999.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

import tf_gae
from tf_gae import mdp as tabular
from chapters._contract import parse_chapter_args, print_exercises
from tf_gae._tf import tf

__all__ = [
    "Rollout",
    "random_rollout",
    "explicit_gae_sum",
    "recursion_vs_explicit_sum_error",
    "lambda_one_error",
    "lambda_zero_error",
    "explicit_lambda_return",
    "lambda_return_error",
    "effective_horizon",
    "kernel_weights",
    "HorizonRow",
    "horizon_table",
    "plot_horizon_weights",
    "k_step_advantages",
    "exponential_average",
    "k_step_errors",
    "shaping_error",
    "shaped_mdp",
    "response_function",
    "ShapingResult",
    "delayed_reward_mdp",
    "shaping_experiment",
    "credit_captured",
    "plot_response_function",
    "two_step_mdp",
    "random_logits",
    "exact_objective",
    "exact_policy_gradient",
    "baseline_term_expectation",
    "per_episode_gradients",
    "BaselineEstimate",
    "BaselineExperiment",
    "baseline_experiment",
    "find_estimate",
    "variance_against_noise",
    "plot_baseline_variance",
    "plot_baseline_gradient",
    "article_formula",
    "article_reward_scaling",
    "gae_linearity_error",
    "EXERCISES",
    "main",
]

GAMMA_LAMBDA_GRID = [(g, lam) for g in (0.0, 0.9, 0.99, 1.0) for lam in (0.0, 0.5, 0.95, 1.0)]
SHAPING_LAMBDAS = (0.9, 0.95, 0.99, 1.0)
HORIZON_PAIRS = [(0.99, 0.0), (0.99, 0.5), (0.9, 0.95), (0.99, 0.9), (0.99, 0.95), (0.995, 0.97), (0.99, 1.0)]
NOISE_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
FIGURE_NAMES = ("ch4_horizon_weights.png", "ch4_baseline_variance.png", "ch4_baseline_gradient.png",
                "ch4_response_function.png")
EXERCISES = (
    "(derive) In eq. 16's average on a segment with N steps left, what weight does Â^(N) carry, and why do all\n"
    "the weights still sum to 1? [exercise_1(λ, N)]",
    "(compute) On delayed_reward_mdp(delay = D), what share of A^π(0, 0) does GAE(γ, λ) keep with raw rewards?\n"
    "What is the smallest λ that keeps 90% of a reward 20 steps away? [exercise_2(λ, D), exercise_2_smallest_lambda]",
    "(modify and predict) Shape with Φ = 2·V^π instead of V^π. Is χ̃(l ≥ 1) still 0? Does GAE(γ, 0.95) under- or\n"
    "over-credit action 0 of state 0, and by how much? [exercise_3()]",
)
"""Printed at the end of the walk-through; answers in chapters/answers/ch4.py, checked by tests/test_exercises.py."""
_DPI = 120


# ==================================================================================================
# 1-3. The recursion, the explicit sum and the two ends of λ.
# ==================================================================================================


@dataclass(frozen=True)
class Rollout:
    """A time-major `[T, B]` float64 rollout in the kernel's conventions (docs/design.md, "The kernel").

    Values are consistent inside an episode, `next_values[t] == values[t + 1]`, as they are when one
    value function is evaluated on consecutive observations; where an episode is truncated (or the
    rollout ends) `next_values[t]` is the value of the final observation, and where it terminates it is
    NaN: the kernel promises never to read it.
    """

    rewards: np.ndarray  # [T, B]
    values: np.ndarray  # [T, B]   V(s_t)
    next_values: np.ndarray  # [T, B]   V(s_{t+1}); NaN where terminated
    terminated: np.ndarray  # [T, B] bool
    truncated: np.ndarray  # [T, B] bool


def random_rollout(
    num_steps: int, num_envs: int, seed: int, p_terminated: float = 0.06, p_truncated: float = 0.04
) -> Rollout:
    """A seeded random rollout with episode boundaries of both kinds."""
    rng = np.random.default_rng(seed)
    shape = (num_steps, num_envs)
    rewards = rng.normal(size=shape)  # [T, B]
    values = rng.normal(size=shape)  # [T, B]
    terminated = rng.random(shape) < p_terminated  # [T, B]
    truncated = (rng.random(shape) < p_truncated) & ~terminated  # [T, B]
    # V(s_{t+1}) is V of the next row unless the episode ends (or the rollout stops) after step t.
    next_values = np.concatenate([values[1:], rng.normal(size=(1, num_envs))])  # [T, B]
    cut = truncated.copy()
    cut[-1] = True
    next_values = np.where(cut, rng.normal(size=shape), next_values)  # value of the final observation
    next_values = np.where(terminated, np.nan, next_values)  # never read behind a terminal step
    return Rollout(rewards, values, next_values, terminated, truncated)


def _deltas(rollout: Rollout, gamma: float) -> np.ndarray:
    """δ_t = r_t + γ (1 − term_t) V(s_{t+1}) − V(s_t), float64 `[T, B]` (the NaN behind a terminal step never read)."""
    bootstrap = np.where(rollout.terminated, 0.0, np.nan_to_num(rollout.next_values))
    return rollout.rewards + gamma * bootstrap - rollout.values


def explicit_gae_sum(rollout: Rollout, gamma: float, lambda_: float) -> np.ndarray:
    """The slow, explicit float64 sum of the GAE paper's eq. 16, with the episode's end made explicit.

        δ_k = r_k + γ (1 − terminated_k) V(s_{k+1}) − V(s_k)                    (eq. 10)
        Â_t = Σ_{l=0}^{L_t} (γλ)^l δ_{t+l},   L_t = steps from t to the end of t's episode   (eq. 16)

    Written from the paper, not from the recursion: a double loop over t and l, vectorised over B.
    """
    ends = rollout.terminated | rollout.truncated  # [T, B]: the episode stops after this step
    num_steps, num_envs = rollout.rewards.shape
    delta = _deltas(rollout, gamma)  # [T, B]
    advantages = np.zeros((num_steps, num_envs))  # [T, B]
    for t in range(num_steps):
        inside = np.ones(num_envs, bool)  # [B]: step t + l still belongs to step t's episode
        for l in range(num_steps - t):
            advantages[t] += np.where(inside, (gamma * lambda_) ** l * delta[t + l], 0.0)
            inside &= ~ends[t + l]
    return advantages


def _gae(rollout: Rollout, gamma: float, lambda_: float) -> tf_gae.GAEOutput:
    return tf_gae.gae(
        rollout.rewards, rollout.values, rollout.next_values, rollout.terminated, rollout.truncated,
        gamma=gamma, lambda_=lambda_,
    )


def recursion_vs_explicit_sum_error(
    rollout: Rollout, pairs: Sequence[tuple[float, float]] = GAMMA_LAMBDA_GRID
) -> float:
    """max over (γ, λ) and all (t, b) of |tf_gae.gae(...).advantages − explicit eq. 16 sum|."""
    return max(
        float(np.max(np.abs(_gae(rollout, g, lam).advantages.numpy() - explicit_gae_sum(rollout, g, lam))))
        for g, lam in pairs
    )


def lambda_one_error(rollout: Rollout, gammas: Sequence[float] = (0.0, 0.9, 0.99, 1.0)) -> float:
    """max |GAE(γ, λ=1) − (G_t − V(s_t))|, G_t from tf_gae.discounted_returns bootstrapped where cut.

    Telescoping: Σ_l γ^l δ_{t+l} = Σ_l γ^l r_{t+l} + γ^n V(s_{t+n}) − V(s_t), because every
    γ^{l+1} V(s_{t+l+1}) of δ_{t+l} cancels the −γ^{l+1} V(s_{t+l+1}) of δ_{t+l+1}.
    """
    errors = []
    for g in gammas:
        returns = tf_gae.discounted_returns(
            rollout.rewards, rollout.terminated, rollout.truncated, rollout.next_values, gamma=g
        ).numpy()  # [T, B]
        errors.append(np.max(np.abs(_gae(rollout, g, 1.0).advantages.numpy() - (returns - rollout.values))))
    return float(max(errors))


def lambda_zero_error(rollout: Rollout, gammas: Sequence[float] = (0.0, 0.9, 0.99, 1.0)) -> float:
    """max |GAE(γ, λ=0) − δ_t|, δ from tf_gae.td_residuals: with λ = 0 only the l = 0 term survives."""
    errors = []
    for g in gammas:
        delta = tf_gae.td_residuals(
            rollout.rewards, rollout.values, rollout.next_values, rollout.terminated, gamma=g
        ).numpy()  # [T, B]
        errors.append(np.max(np.abs(_gae(rollout, g, 0.0).advantages.numpy() - delta)))
    return float(max(errors))


# ==================================================================================================
# 4. returns = Â + V is the λ-return.
# ==================================================================================================


def explicit_lambda_return(
    rewards: np.ndarray, next_values: np.ndarray, terminal_end: bool, gamma: float, lambda_: float
) -> np.ndarray:
    """The λ-return of every step of one unbroken stretch `[T]`, as a weighted sum of n-step returns.

        G^{(n)}_t = Σ_{k=0}^{n−1} γ^k r_{t+k} + γ^n V(s_{t+n})      (n-step return; V(s_{t+n}) = next_values[t+n−1])
        G^λ_t     = (1 − λ) Σ_{n=1}^{N−1} λ^{n−1} G^{(n)}_t + λ^{N−1} G^{(N)}_t,   N = T − t

    With a terminal end (S&B eq. 12.3) G^{(N)}_t is the Monte-Carlo return and has no V term; with a
    cut end (time limit or end of rollout; S&B eq. 12.9, the truncated λ-return) it bootstraps from
    next_values[T−1]. The tail weight λ^{N−1} is what the weights of all n ≥ N add up to.
    """
    num_steps = len(rewards)
    out = np.zeros(num_steps)
    for t in range(num_steps):
        horizon = num_steps - t
        n_step = np.zeros(horizon + 1)  # n_step[n] = G^{(n)}_t, n = 1..N
        for n in range(1, horizon + 1):
            discounted_rewards = sum(gamma**k * rewards[t + k] for k in range(n))
            last = t + n - 1 == num_steps - 1
            bootstrap = 0.0 if (last and terminal_end) else gamma**n * next_values[t + n - 1]
            n_step[n] = discounted_rewards + bootstrap
        weights = [(1.0 - lambda_) * lambda_ ** (n - 1) for n in range(1, horizon)] + [lambda_ ** (horizon - 1)]
        out[t] = sum(w * n_step[n] for n, w in zip(range(1, horizon + 1), weights))
    return out


def lambda_return_error(
    num_steps: int, seed: int, pairs: Sequence[tuple[float, float]] = GAMMA_LAMBDA_GRID
) -> float:
    """max |tf_gae.lambda_returns − explicit λ-return| over (γ, λ), on a stretch that is cut and one that terminates."""
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=num_steps)  # [T]
    values = rng.normal(size=num_steps)  # [T]
    errors = []
    for terminal_end in (False, True):
        terminated = np.zeros(num_steps, bool)
        terminated[-1] = terminal_end
        last_value = np.nan if terminal_end else rng.normal()  # NaN: never read behind a terminal step
        next_values = np.append(values[1:], last_value)  # [T]
        for g, lam in pairs:
            fast = tf_gae.lambda_returns(rewards, values, next_values, terminated, gamma=g, lambda_=lam).numpy()
            slow = explicit_lambda_return(rewards, next_values, terminal_end, g, lam)
            errors.append(np.max(np.abs(fast - slow)))
    return float(max(errors))


# ==================================================================================================
# 5. The effective horizon 1/(1 − γλ).
# ==================================================================================================


def effective_horizon(gamma: float, lambda_: float) -> float:
    """H = Σ_{l≥0} (γλ)^l = 1 / (1 − γλ), the total weight GAE puts on δ_t, δ_{t+1}, ... (inf if γλ = 1)."""
    decay = gamma * lambda_
    return math.inf if decay >= 1.0 else 1.0 / (1.0 - decay)


def kernel_weights(gamma: float, lambda_: float, length: int) -> np.ndarray:
    """The weight w_l of δ_{t+l} in Â_t, l = 0..length−1, read off tf_gae.gae's impulse response.

    One episode of `length` steps with V ≡ 0 and a single reward 1 at the last step has δ = that
    impulse, so Â_t = (γλ)^{length−1−t}: reversed, the kernel's own weights (γλ)^l.
    """
    rewards = np.zeros(length)
    rewards[-1] = 1.0
    zeros = np.zeros(length)
    advantages = tf_gae.gae(rewards, zeros, zeros, np.zeros(length, bool), gamma=gamma, lambda_=lambda_).advantages
    return advantages.numpy()[::-1]


@dataclass(frozen=True)
class HorizonRow:
    gamma: float
    lambda_: float
    horizon: float
    """1 / (1 − γλ)."""
    kernel_sum: float
    """Σ_l w_l of the kernel's impulse response over `length` steps."""
    half_life: float
    """Steps until the weight halves: ln 2 / −ln(γλ) (0 if γλ = 0)."""
    share_within_horizon: float
    """Σ_{l < ⌈H⌉} w_l / H: the fraction of the total weight on the first ⌈H⌉ residuals."""


def horizon_table(pairs: Sequence[tuple[float, float]] = HORIZON_PAIRS, length: int = 4000) -> list[HorizonRow]:
    """One row per (γ, λ): horizon, the kernel's weight sum, half-life and weight share inside the horizon."""
    rows = []
    for g, lam in pairs:
        weights = kernel_weights(g, lam, length)
        horizon = effective_horizon(g, lam)
        decay = g * lam
        half_life = 0.0 if decay == 0.0 else math.log(2.0) / -math.log(decay)
        share = float(weights[: math.ceil(horizon)].sum() / horizon)
        rows.append(HorizonRow(g, lam, horizon, float(weights.sum()), half_life, share))
    return rows


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)  # no pyplot: no global backend, nothing left open
    return fig


def plot_horizon_weights(pairs: Sequence[tuple[float, float]], out_dir: Path) -> Path:
    """Figure: w_l = (γλ)^l against l for each (γ, λ), linear and log scale, horizon 1/(1 − γλ) dashed."""
    fig = _figure(11.0, 5.2)
    linear, logarithmic = fig.subplots(1, 2)
    for i, (g, lam) in enumerate(pairs):
        color = f"C{i % 10}"
        weights = kernel_weights(g, lam, 400)
        horizon = effective_horizon(g, lam)
        label = f"γ={g:g}, λ={lam:g}: 1/(1−γλ) = {horizon:.1f}"
        steps = np.arange(len(weights))
        linear.plot(steps[:61], weights[:61], color=color, lw=1.6, marker="." if horizon < 3 else None, label=label)
        logarithmic.plot(steps, np.where(weights > 0, weights, np.nan), color=color, lw=1.6, label=label)
        for ax in (linear, logarithmic):
            ax.axvline(horizon, color=color, ls="--", lw=1.0, alpha=0.8)
    linear.set_xlim(-1, 60)
    linear.set_title("Weight of δ_{t+l} in Â_t (dashed: horizon 1/(1−γλ))")
    logarithmic.set_yscale("log")
    logarithmic.set_ylim(1e-6, 1.5)
    logarithmic.set_xlim(-2, 400)
    logarithmic.set_title("Same weights, log scale: straight lines of slope ln(γλ)")
    for ax in (linear, logarithmic):
        ax.set_xlabel("look-ahead l (environment steps)")
        ax.set_ylabel("weight (γλ)^l (dimensionless)")
        ax.grid(True, alpha=0.3)
    handles, labels = linear.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize="small", frameon=False)
    fig.suptitle("GAE weights the TD residual l steps ahead by (γλ)^l; they sum to the effective horizon 1/(1−γλ)")
    fig.tight_layout(rect=(0.0, 0.1, 1.0, 1.0))
    path = out_dir / FIGURE_NAMES[0]
    fig.savefig(path, format="png", dpi=_DPI)
    return path


# ==================================================================================================
# 1b. From k-step estimators to eq. 16, and GAE as shaped rewards (GAE paper §3–4).
# ==================================================================================================


def _segment_ends(rollout: Rollout) -> np.ndarray:
    """end[t, b]: the last step of the episode segment step t belongs to (terminated, truncated or T − 1)."""
    num_steps = rollout.rewards.shape[0]
    cut = rollout.terminated | rollout.truncated
    cut[-1] = True
    ends = np.zeros(cut.shape, np.int64)
    following = np.full(cut.shape[1], num_steps - 1)
    for t in range(num_steps - 1, -1, -1):
        following = np.where(cut[t], t, following)
        ends[t] = following
    return ends


def k_step_advantages(rollout: Rollout, gamma: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Â^(k)_t two ways, `[T, B]` each: the sum of k residuals and its telescoped form (paper eqs. 11–15).

        Â^(k)_t = Σ_{l=0}^{k−1} γ^l δ_{t+l}
                = −V(s_t) + r_t + γ r_{t+1} + ... + γ^{k−1} r_{t+k−1} + γ^k V(s_{t+k})

    since each +γ^{l+1} V(s_{t+l+1}) of δ_{t+l} cancels the −γ^{l+1} V(s_{t+l+1}) of δ_{t+l+1}. Both stop at
    the segment's end: there V(s_{t+k}) is the final observation's value, or 0 after a termination.
    """
    deltas = _deltas(rollout, gamma)
    ends = _segment_ends(rollout)
    residual_sum = np.zeros_like(deltas)
    telescoped = np.zeros_like(deltas)
    for t, b in np.ndindex(*deltas.shape):
        last = min(t + k - 1, ends[t, b])  # the last step inside both the k steps and the segment
        steps = np.arange(t, last + 1)
        discount = gamma ** (steps - t)
        residual_sum[t, b] = np.sum(discount * deltas[steps, b])
        bootstrap = 0.0 if rollout.terminated[last, b] else rollout.next_values[last, b]
        telescoped[t, b] = (np.sum(discount * rollout.rewards[steps, b]) + gamma ** (last + 1 - t) * bootstrap
                            - rollout.values[t, b])
    return residual_sum, telescoped


def exponential_average(rollout: Rollout, gamma: float, lambda_: float,
                        estimators: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """eq. 16 from its definition: (1 − λ)(Â^(1) + λ Â^(2) + λ² Â^(3) + ...), written for a finite segment.

    Where the segment leaves N steps (t included), Â^(k) = Â^(N) for every k ≥ N, so the weights
    (1 − λ) λ^{k−1} of those k sum to λ^{N−1}: (1 − λ) Σ_{k<N} λ^{k−1} Â^(k) + λ^{N−1} Â^(N).
    `estimators`: Â^(1), Â^(2), ... up to the longest segment, if already computed for this γ.
    """
    ends = _segment_ends(rollout)
    left = ends - np.arange(ends.shape[0])[:, None] + 1  # N, [T, B]
    if estimators is None:
        estimators = [k_step_advantages(rollout, gamma, k)[0] for k in range(1, int(np.max(left)) + 1)]
    average = np.zeros_like(estimators[0])
    for k, estimate in enumerate(estimators, start=1):
        weight = np.where(k < left, (1 - lambda_) * lambda_ ** (k - 1), np.where(k == left, lambda_ ** (left - 1), 0.0))
        average += weight * estimate
    return average


def k_step_errors(rollout: Rollout, gammas: Sequence[float] = (0.0, 0.9, 0.99, 1.0),
                  lambdas: Sequence[float] = (0.0, 0.5, 0.95, 1.0)) -> tuple[float, float]:
    """(max |sum of residuals − telescoped form| (eqs. 11–15) over γ and every k, max |eq. 16 average − tf_gae.gae| over γ, λ)."""
    ends = _segment_ends(rollout)
    longest = int(np.max(ends - np.arange(ends.shape[0])[:, None])) + 1
    telescoping, average = 0.0, 0.0
    for gamma in gammas:
        pairs = [k_step_advantages(rollout, gamma, k) for k in range(1, longest + 1)]
        telescoping = max(telescoping, max(float(np.max(np.abs(a - b))) for a, b in pairs))
        estimators = [residual_sum for residual_sum, _ in pairs]
        for lam in lambdas:
            error = exponential_average(rollout, gamma, lam, estimators) - _gae(rollout, gamma, lam).advantages.numpy()
            average = max(average, float(np.max(np.abs(error))))
    return telescoping, average


def shaping_error(rollout: Rollout, gammas: Sequence[float] = (0.9, 0.99, 1.0),
                  lambdas: Sequence[float] = (0.0, 0.5, 0.95, 1.0)) -> float:
    """max |tf_gae.gae − the (γλ)-discounted return of the shaped rewards r̃_t = r_t + γ V(s_{t+1}) − V(s_t)| (eqs. 20–25).

    r̃ is potential-based shaping (Ng, Harada, Russell 1999) with the potential Φ = V, and r̃_t = δ_t, so
    Σ_l (γλ)^l r̃_{t+l} is eq. 16 read as a discounted return: tf_gae.discounted_returns with discount γλ,
    nothing bootstrapped where the segment is cut (the bootstrap is already inside r̃ = δ).
    """
    worst = 0.0
    for gamma in gammas:
        shaped = _deltas(rollout, gamma)  # r̃_t = r_t + γ Φ(s_{t+1}) − Φ(s_t), Φ = V
        for lam in lambdas:
            returns = tf_gae.discounted_returns(shaped, rollout.terminated, rollout.truncated, gamma=gamma * lam).numpy()
            worst = max(worst, float(np.max(np.abs(returns - _gae(rollout, gamma, lam).advantages.numpy()))))
    return worst


def shaped_mdp(mdp: tabular.TabularMDP, potential: np.ndarray) -> tabular.TabularMDP:
    """The same MDP with rewards R̃(s, a, s') = R(s, a, s') + γ Φ(s') − Φ(s), Φ = 0 on terminal states (paper §4)."""
    potential = np.where(mdp.terminal, 0.0, potential)
    rewards = mdp.rewards + mdp.gamma * potential[None, None, :] - potential[:, None, None]
    rewards[mdp.terminal] = 0.0  # nothing happens after the end
    return tabular.TabularMDP(mdp.transitions, rewards, mdp.terminal, mdp.initial, mdp.gamma, name=f"shaped {mdp.name}")


def response_function(mdp: tabular.TabularMDP, policy: np.ndarray, max_lag: int) -> np.ndarray:
    """χ(l; s, a) = E[r_{t+l} | s_t = s, a_t = a] − E[r_{t+l} | s_t = s] for l = 0..max_lag−1, `[L, S, A]` (eq. 26).

        E[r_t | s, a] = r̄(s, a) = Σ_s' P(s'|s,a) R(s,a,s')
        E[r_{t+l} | s, a] = Σ_s' P(s'|s,a) (P_π^{l−1} r̄_π)(s'),  l ≥ 1,   r̄_π(s) = Σ_a π(a|s) r̄(s, a)
        E[r_{t+l} | s] = Σ_a π(a|s) E[r_{t+l} | s, a]

    χ(l; s, a) is how much taking a in s changes the reward l steps later; Σ_l γ^l χ(l; s, a) = A^{π,γ}(s, a)
    (stated with eq. 26), so χ says how far into the future an action's credit lies.
    """
    mean_reward = np.einsum("sat,sat->sa", mdp.transitions, mdp.rewards)  # r̄(s, a), [S, A]
    policy_transitions = np.einsum("sa,sat->st", policy, mdp.transitions)  # P_π, [S, S]
    ahead = np.einsum("sa,sa->s", policy, mean_reward)  # P_π^{l−1} r̄_π, starting at l = 1, [S]
    response = np.zeros((max_lag, mdp.num_states, mdp.num_actions))
    for lag in range(max_lag):
        given_action = mean_reward if lag == 0 else np.einsum("sat,t->sa", mdp.transitions, ahead)  # [S, A]
        response[lag] = given_action - np.sum(policy * given_action, axis=1, keepdims=True)
        if lag > 0:
            ahead = policy_transitions @ ahead
    return response


@dataclass(frozen=True)
class ShapingResult:
    """The response function of one MDP with its own rewards and with rewards shaped by two potentials."""

    mdp: tabular.TabularMDP
    policy: np.ndarray  # [S, A]
    lags: np.ndarray  # [L]
    raw: np.ndarray  # [L, S, A]: χ of the rewards as they are
    shaped_exact: np.ndarray  # [L, S, A]: χ̃ with Φ = V^π
    shaped_noisy: np.ndarray  # [L, S, A]: χ̃ with Φ = V^π + noise
    advantages: np.ndarray  # [S, A]: A^{π,γ} by linear solve
    sum_error: float
    """max |Σ_l γ^l χ(l) − A^{π,γ}| over the three reward functions (§4, with eq. 26; and shaping's invariance)."""
    invariance_error: float
    """max |A of each shaped MDP − A of the original| (tf_gae.mdp.advantages): shaping keeps advantages."""
    exact_tail: float
    """max over l ≥ 1 of |χ̃(l)| with Φ = V^π: 0 — all credit lands at l = 0."""


def delayed_reward_mdp(delay: int = 20, gamma: float = 0.99) -> tabular.TabularMDP:
    """An action whose consequence arrives `delay` steps later: the shape of a language model's final score.

    State 0 starts; its action 0 enters chain A, action 1 chain B, each `delay` states long and walked
    with either action. Leaving the last state of chain A pays 1, everything else pays 0. Under a policy
    π, A^π(0, a) = ±γ^delay π(other action | 0), and all of it arrives `delay` steps after the choice.
    """
    num_states = 2 * delay + 2
    start, end = 0, num_states - 1
    transitions = np.zeros((num_states, 2, num_states))  # [S, A, S]
    rewards = np.zeros((num_states, 2, num_states))  # [S, A, S]
    transitions[start, 0, 1] = transitions[start, 1, delay + 1] = 1.0
    for first in (1, delay + 1):
        for s in range(first, first + delay):
            transitions[s, :, s + 1 if s < first + delay - 1 else end] = 1.0
    rewards[delay, :, end] = 1.0  # leaving the last state of chain A
    transitions[end, :, end] = 1.0
    initial = np.zeros(num_states)
    initial[start] = 1.0
    return tabular.TabularMDP(transitions, rewards, np.arange(num_states) == end, initial, gamma,
                              name=f"delayed_reward(delay={delay})")


def shaping_experiment(seed: int, mdp: tabular.TabularMDP | None = None, max_lag: int = 3000,
                       noise: float = 0.05) -> ShapingResult:
    """χ under a random policy for the rewards as they are, and shaped by Φ = V^π and by Φ = V^π + noise·z(s).

    `mdp` defaults to :func:`delayed_reward_mdp`; `max_lag` must cover the episodes (γ^l χ summed to it).
    """
    mdp = delayed_reward_mdp() if mdp is None else mdp
    policy = tabular.random_policy(mdp, seed=seed + 1)
    values = tabular.policy_evaluation(mdp, policy)
    noisy = values + noise * np.random.default_rng(seed + 2).normal(size=mdp.num_states)
    advantages = tabular.advantages(mdp, policy)
    discount = mdp.gamma ** np.arange(max_lag)[:, None, None]
    responses, sum_errors, invariance = [], [], []
    for potential in (np.zeros(mdp.num_states), values, noisy):
        shaped = shaped_mdp(mdp, potential)
        chi = response_function(shaped, policy, max_lag)
        responses.append(chi)
        sum_errors.append(float(np.max(np.abs(np.sum(discount * chi, axis=0) - advantages))))
        invariance.append(float(np.max(np.abs(tabular.advantages(shaped, policy) - advantages))))
    return ShapingResult(mdp, policy, np.arange(max_lag), responses[0], responses[1], responses[2], advantages,
                         max(sum_errors), max(invariance), float(np.max(np.abs(responses[1][1:]))))


def credit_captured(result: ShapingResult, lambda_: float) -> dict[str, float]:
    """Σ_l (γλ)^l χ(l; s_0, a_0) / A^π(s_0, a_0) at the start state's first action, for each reward function:
    the share of the advantage GAE(γ, λ) sees in expectation (with Φ the V it subtracts)."""
    weights = (result.mdp.gamma * lambda_) ** result.lags
    target = result.advantages[0, 0]
    return {name: float(weights @ chi[:, 0, 0]) / target
            for name, chi in (("raw", result.raw), ("noisy", result.shaped_noisy), ("exact", result.shaped_exact))}


def plot_response_function(result: ShapingResult, lambda_: float, out_dir: Path, lags: int = 60) -> Path:
    """Figure: χ(l; s_0, a_0) against l, raw and shaped, and the credit Σ_{l≤L} w_l χ(l) with w = γ^l and (γλ)^l."""
    s, a = 0, 0  # the start state's first action (chain A in delayed_reward_mdp)
    gamma = result.mdp.gamma
    fig = _figure(12.0, 4.6)
    ax_chi, ax_credit = fig.subplots(1, 2)
    series = (("rewards as they are (Φ = 0)", result.raw, "C0", "o"),
              ("shaped with Φ = V^π + noise", result.shaped_noisy, "C1", "s"),
              ("shaped with Φ = V^π (exact)", result.shaped_exact, "C2", "^"))
    for label, chi, color, marker in series:
        ax_chi.plot(result.lags[:lags], chi[:lags, s, a], color=color, marker=marker, ms=3, lw=1.2, label=label)
        for discount, style, name in ((gamma, "-", "γ"), (gamma * lambda_, "--", "γλ")):
            credit = np.cumsum(discount ** result.lags[:lags] * chi[:lags, s, a])
            ax_credit.plot(result.lags[:lags], credit, color=color, ls=style, lw=1.4,
                           label=f"{label}, weights {name}^l")
    ax_credit.axhline(result.advantages[s, a], color="k", lw=0.8, ls=":", label=f"A^π(s, a) = {result.advantages[s, a]:+.3f}")
    ax_chi.axhline(0.0, color="k", lw=0.6)
    ax_chi.set_xlabel("lag l (steps after the action)")
    ax_chi.set_ylabel("χ(l; s, a) (reward units)")
    ax_chi.set_title(f"response function of state {s}, action {a}: E[r_(t+l) | s, a] − E[r_(t+l) | s]", fontsize=9)
    ax_chi.legend(fontsize=7.5)
    ax_credit.set_xlabel("lags summed, L")
    ax_credit.set_ylabel("Σ_(l ≤ L) w_l χ(l; s, a) (reward units)")
    ax_credit.set_title(f"credit gathered up to lag L, weights γ^l (solid) and (γλ)^l (dashed), γ = {gamma:g}, "
                        f"λ = {lambda_:g}\ndotted: the whole advantage (both green lines lie on it from L = 0)", fontsize=9)
    ax_credit.legend(fontsize=6.5, loc="center left")
    for ax in (ax_chi, ax_credit):
        ax.grid(alpha=0.3)
    fig.suptitle(f"Reward shaping with the potential V (GAE paper §4): {result.mdp.name}, one (s, a), first {lags} lags",
                 fontsize=10)
    fig.tight_layout()
    path = out_dir / FIGURE_NAMES[3]
    fig.savefig(path)
    return path


# ==================================================================================================
# 6. Baselines: unbiased, and what they do to the variance.
# ==================================================================================================


def two_step_mdp(seed: int = 0, gamma: float = 0.9) -> tabular.TabularMDP:
    """A hand-built episodic MDP in which every episode lasts exactly two steps, so every trajectory can be listed.

    States 0, 1 start (uniformly); each of 3 actions moves to one of the middle states 2, 3, 4 with
    seeded Dirichlet probabilities and pays 1 + N(0, 1); from a middle state each action ends the
    episode (state 5, terminal) and pays m(s) + N(0, 1) with m = 2, 5, 8 for states 2, 3, 4. The
    returns share a large common part (which any baseline removes) and differ by state (which only
    a state-dependent baseline removes).
    """
    rng = np.random.default_rng(seed)
    num_states, num_actions, terminal_state = 6, 3, 5
    starts, middles = [0, 1], [2, 3, 4]
    transitions = np.zeros((num_states, num_actions, num_states))  # [S, A, S]
    rewards = np.zeros((num_states, num_actions, num_states))  # [S, A, S]
    for s in starts:
        transitions[s][:, middles] = rng.dirichlet(np.ones(len(middles)), size=num_actions)
        rewards[s][:, middles] = 1.0 + rng.normal(size=(num_actions, len(middles)))
    for s, mean in zip(middles, (2.0, 5.0, 8.0)):
        transitions[s, :, terminal_state] = 1.0
        rewards[s, :, terminal_state] = mean + rng.normal(size=num_actions)
    transitions[terminal_state, :, terminal_state] = 1.0
    terminal = np.arange(num_states) == terminal_state
    initial = np.where(np.isin(np.arange(num_states), starts), 0.5, 0.0)
    return tabular.TabularMDP(transitions, rewards, terminal, initial, gamma, name=f"two_step(seed={seed})")


def random_logits(mdp: tabular.TabularMDP, seed: int) -> np.ndarray:
    """θ[s, a] ~ N(0, 1), seeded: the parameters of the tabular softmax policy π(a|s) = softmax(θ[s])_a."""
    return np.random.default_rng(seed).normal(size=(mdp.num_states, mdp.num_actions))


def _check_two_steps(mdp: tabular.TabularMDP) -> None:
    reach = mdp.initial > 0  # [S]
    for _ in range(2):
        reach = np.any(mdp.transitions[reach] > 0, axis=(0, 1))  # states reachable one step later
    if not np.all(mdp.terminal[reach]):
        raise ValueError(f"{mdp!r}: some episodes last more than two steps; enumeration needs them to end by then")


def exact_objective(theta: tf.Tensor, mdp: tabular.TabularMDP) -> tf.Tensor:
    """J(θ) = E[r_0 + γ r_1], summed over every trajectory τ = (s_0, a_0, s_1, a_1, s_2) of a two-step MDP.

        p(τ) = ρ(s_0) π(a_0|s_0) P(s_1|s_0,a_0) π(a_1|s_1) P(s_2|s_1,a_1)
        J(θ) = Σ_τ p(τ) [R(s_0,a_0,s_1) + γ R(s_1,a_1,s_2)]

    A [S, A, S, A, S] tensor holds every p(τ); differentiable in θ (float64).
    """
    _check_two_steps(mdp)
    policy = tf.nn.softmax(theta, axis=-1)  # [S, A]
    initial = tf.constant(mdp.initial)  # [S]
    transitions = tf.constant(mdp.transitions)  # [S, A, S]
    rewards = tf.constant(mdp.rewards)  # [S, A, S]
    probability = tf.einsum("i,ia,iaj,jb,jbk->iajbk", initial, policy, transitions, policy, transitions)
    discounted_return = rewards[:, :, :, None, None] + mdp.gamma * rewards[None, None, :, :, :]  # [S, A, S, A, S]
    return tf.reduce_sum(probability * discounted_return)


def exact_policy_gradient(mdp: tabular.TabularMDP, logits: np.ndarray) -> tuple[float, np.ndarray]:
    """(J(θ), ∇_θ J(θ)) by automatic differentiation (tf.GradientTape) of the enumerated J, float64 `[S, A]`."""
    theta = tf.Variable(np.asarray(logits, np.float64))
    with tf.GradientTape() as tape:
        objective = exact_objective(theta, mdp)
    return float(objective.numpy()), tape.gradient(objective, theta).numpy()


def baseline_term_expectation(mdp: tabular.TabularMDP, policy: np.ndarray, baseline: np.ndarray) -> float:
    """max |Σ_a π(a|s) ∇_θ log π(a|s) b(s)| over s and θ: why a baseline adds no bias, to float64 precision.

    For softmax, ∇_{θ[s,·]} log π(a|s) = onehot(a) − π(·|s), and Σ_a π(a|s)(onehot(a) − π(·|s)) = π − π = 0:
    E_a[∇ log π(a|s)] b(s) = b(s) ∇ Σ_a π(a|s) = b(s) ∇ 1 = 0, whatever b(s) is.
    """
    eye = np.eye(mdp.num_actions)
    term = np.einsum("sa,sab->sb", policy, eye[None, :, :] - policy[:, None, :]) * baseline[:, None]  # [S, A]
    return float(np.max(np.abs(term)))


def per_episode_gradients(
    episodes: tabular.Trajectories, returns: np.ndarray, policy: np.ndarray, gamma: float, baseline: np.ndarray
) -> np.ndarray:
    """The score-function estimate of one episode each, `[N, S, A]`:

        g = Σ_t γ^t ∇_θ log π(a_t|s_t) (G_t − b(s_t)),   ∇_{θ[s,·]} log π(a|s) = onehot(a) − π(·|s) at row s

    (most implementations drop γ^t; it is kept here so that E[g] = ∇J exactly for discounted J).
    `returns` G_t is time-major `[T, N]` like `episodes`; `baseline` is b(s), `[S]`.
    """
    discount = gamma ** np.arange(episodes.num_steps)[:, None]  # [T, 1]
    weights = discount * (returns - baseline[episodes.states])  # [T, N]
    return tabular.score_function_gradients(episodes, policy, weights)


@dataclass(frozen=True)
class BaselineEstimate:
    """One baseline b(s): the estimator's exact moments (enumeration) and its Monte-Carlo estimate."""

    label: str
    kind: str
    """"none", "constant", "exact" (b = V^π) or "noisy" (b = V^π + σ ε(s))."""
    noise_scale: float
    """σ for "noisy", 0 for "exact", NaN otherwise."""
    draw: int
    """Index of the noise draw ε (0 unless "noisy")."""
    exact_mean_error: float
    """max |E[g] − ∇J| over θ, E by enumeration of every trajectory."""
    exact_variance: float
    """Σ_θ Var[g_θ] of one episode's estimate, by enumeration."""
    mean: np.ndarray
    """The Monte-Carlo mean of g over the sampled episodes, `[S, A]`."""
    standard_error: np.ndarray
    """Its standard error std(g) / √N, `[S, A]`."""
    max_z: float
    """max over the non-terminal θ[s, a] of |mean − ∇J| / standard_error."""
    sampled_variance: float
    """Σ_θ of the sample variance of g over the episodes."""


@dataclass(frozen=True)
class BaselineExperiment:
    objective: float
    """J(θ) by enumeration."""
    objective_error: float
    """|J(θ) − ρᵀ V^π| with V^π from tf_gae.mdp.policy_evaluation (a linear solve)."""
    exact_gradient: np.ndarray
    """∇_θ J by autodiff of the enumerated J, `[S, A]`."""
    theorem_error: float
    """max |∇J − d^π π A^π| (policy gradient theorem)."""
    baseline_term_error: float
    """max over all baselines of |Σ_a π ∇log π b(s)|: exactly 0 in real arithmetic."""
    values: np.ndarray
    """V^π, `[S]`."""
    live: np.ndarray
    """bool `[S]`: the non-terminal states, whose rows of θ have a gradient."""
    num_trajectories: int
    """How many trajectories have p(τ) > 0 (all enumerated)."""
    num_episodes: int
    noise_scales: tuple[float, ...]
    noise_draws: int
    estimates: list[BaselineEstimate]


def _baselines(
    values: np.ndarray, objective: float, noise_scales: Sequence[float], noise_draws: int, seed: int
) -> list[tuple[str, str, float, int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(noise_draws, values.size))  # ε_k(s) ~ N(0, 1), fixed per state and draw
    out = [
        ("no baseline", "none", math.nan, 0, np.zeros_like(values)),
        ("constant b = J(θ)", "constant", math.nan, 0, np.full_like(values, objective)),
        ("b = V^π (exact)", "exact", 0.0, 0, values.copy()),
    ]
    for sigma in noise_scales:
        for k in range(noise_draws):
            out.append((f"b = V^π + {sigma:g}·ε_{k}", "noisy", float(sigma), k, values + sigma * noise[k]))
    return out


def baseline_experiment(
    num_episodes: int,
    seed: int,
    noise_scales: Sequence[float] = NOISE_SCALES,
    noise_draws: int = 5,
    mdp: tabular.TabularMDP | None = None,
) -> BaselineExperiment:
    """Exact ∇J, then each baseline's exact mean/variance (enumeration) and Monte-Carlo estimate.

    The same `num_episodes` sampled episodes (tf_gae.mdp.sample_trajectories, returns from
    tf_gae.discounted_returns) serve every baseline, so differences between baselines are not noise
    of different samples.
    """
    mdp = two_step_mdp(seed) if mdp is None else mdp
    logits = random_logits(mdp, seed + 1)
    policy = tf.nn.softmax(logits, axis=-1).numpy()  # [S, A]
    objective, gradient = exact_policy_gradient(mdp, logits)
    values = tabular.policy_evaluation(mdp, policy)  # [S]
    objective_error = abs(objective - float(mdp.initial @ values))
    theorem_error = float(np.max(np.abs(gradient - tabular.policy_gradient(mdp, policy))))
    live = ~mdp.terminal  # [S]: the rows of θ that can have a gradient

    probabilities, every_episode = tabular.enumerate_episodes(mdp, policy, max_steps=2)  # all of them, exactly
    episodes = tabular.sample_trajectories(mdp, policy, num_episodes, max_steps=3, seed=seed + 2)
    if episodes.truncated.any():
        raise RuntimeError("a two-step episode was truncated; the sampler or the MDP is wrong")

    def returns(batch: tabular.Trajectories) -> np.ndarray:  # G_t = r_t + γ G_{t+1}, no bootstrap at the end
        return tf_gae.discounted_returns(batch.rewards, batch.terminated, batch.truncated, gamma=mdp.gamma).numpy()

    every_return, sampled_returns = returns(every_episode), returns(episodes)  # [T, M], [T, N]

    estimates = []
    term_errors = []
    for label, kind, sigma, draw, baseline in _baselines(values, objective, noise_scales, noise_draws, seed + 3):
        term_errors.append(baseline_term_expectation(mdp, policy, baseline))
        exact_g = per_episode_gradients(every_episode, every_return, policy, mdp.gamma, baseline)  # [M, S, A]
        exact_mean = np.einsum("m,msa->sa", probabilities, exact_g)
        exact_variance = float(np.sum(np.einsum("m,msa->sa", probabilities, exact_g**2) - exact_mean**2))
        sampled_g = per_episode_gradients(episodes, sampled_returns, policy, mdp.gamma, baseline)  # [N, S, A]
        mean = sampled_g.mean(axis=0)
        standard_error = sampled_g.std(axis=0, ddof=1) / math.sqrt(num_episodes)
        z = np.abs(mean - gradient)[live] / standard_error[live]
        estimates.append(BaselineEstimate(
            label=label, kind=kind, noise_scale=sigma, draw=draw,
            exact_mean_error=float(np.max(np.abs(exact_mean - gradient))),
            exact_variance=exact_variance,
            mean=mean, standard_error=standard_error, max_z=float(np.max(z)),
            sampled_variance=float(np.sum(sampled_g.var(axis=0, ddof=1))),
        ))
    return BaselineExperiment(
        objective=objective, objective_error=objective_error, exact_gradient=gradient, theorem_error=theorem_error,
        baseline_term_error=float(max(term_errors)), values=values, live=live,
        num_trajectories=int(probabilities.size), num_episodes=num_episodes,
        noise_scales=tuple(float(s) for s in noise_scales), noise_draws=noise_draws, estimates=estimates,
    )


def find_estimate(experiment: BaselineExperiment, kind: str) -> BaselineEstimate:
    """The first estimate of `kind` ("none", "constant", "exact" or "noisy")."""
    return next(e for e in experiment.estimates if e.kind == kind)


def variance_against_noise(experiment: BaselineExperiment) -> dict[str, np.ndarray]:
    """Per noise scale σ (0 = exact V^π first): mean and std over the noise draws of the exact and sampled variances."""
    scales = [0.0, *experiment.noise_scales]
    exact_mean, exact_std, sampled_mean, sampled_std = [], [], [], []
    for sigma in scales:
        group = [find_estimate(experiment, "exact")] if sigma == 0.0 else [
            e for e in experiment.estimates if e.kind == "noisy" and e.noise_scale == sigma
        ]
        exact = np.array([e.exact_variance for e in group])
        sampled = np.array([e.sampled_variance for e in group])
        exact_mean.append(exact.mean())
        exact_std.append(exact.std(ddof=1) if exact.size > 1 else 0.0)
        sampled_mean.append(sampled.mean())
        sampled_std.append(sampled.std(ddof=1) if sampled.size > 1 else 0.0)
    return dict(
        noise_scale=np.array(scales), exact_mean=np.array(exact_mean), exact_std=np.array(exact_std),
        sampled_mean=np.array(sampled_mean), sampled_std=np.array(sampled_std),
    )


def plot_baseline_variance(experiment: BaselineExperiment, out_dir: Path) -> Path:
    """Figure: total variance of the one-episode gradient estimate against the baseline's noise scale σ."""
    curve = variance_against_noise(experiment)
    x = curve["noise_scale"]
    fig = _figure(8.5, 5.6)
    ax = fig.add_subplot()
    ax.plot(x, curve["exact_mean"], color="C0", lw=1.8, marker="o",
            label=f"b = V^π + σ·ε(s): exact (enumeration), mean over {experiment.noise_draws} draws of ε")
    ax.fill_between(x, curve["exact_mean"] - curve["exact_std"], curve["exact_mean"] + curve["exact_std"],
                    color="C0", alpha=0.2, lw=0, label="± 1 std over draws of ε")
    ax.errorbar(x, curve["sampled_mean"], yerr=curve["sampled_std"], color="C1", ls="none", marker="x", capsize=3,
                label=f"sampled ({experiment.num_episodes:,} episodes), mean ± std over draws")
    none, constant = find_estimate(experiment, "none"), find_estimate(experiment, "constant")
    ax.axhline(none.exact_variance, color="0.2", ls="--", lw=1.3, label=f"no baseline: {none.exact_variance:.1f}")
    ax.axhline(constant.exact_variance, color="C2", ls=":", lw=1.6,
               label=f"constant baseline b = J(θ): {constant.exact_variance:.1f}")
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ticks = [m * 10.0**e for e in range(-3, 6) for m in (1, 2, 3, 5) if low <= m * 10.0**e <= high]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("baseline noise scale σ of b(s) − V^π(s) (reward units; 0 = exact V^π)")
    ax.set_ylabel("total variance Σ_θ Var[g_θ] of one episode (reward²)")
    ax.set_title("A state-dependent baseline: the closer b is to V^π, the lower the variance")
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize="small", frameon=False)
    fig.tight_layout(rect=(0.0, 0.16, 1.0, 1.0))
    path = out_dir / FIGURE_NAMES[1]
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def plot_baseline_gradient(experiment: BaselineExperiment, out_dir: Path) -> Path:
    """Figure: each non-terminal ∂J/∂θ[s, a], exact and estimated (± 2 standard errors) with four baselines."""
    live = np.flatnonzero(experiment.live)
    num_actions = experiment.exact_gradient.shape[1]
    index = [(s, a) for s in live for a in range(num_actions)]
    positions = np.arange(len(index))
    largest = max(experiment.noise_scales)
    shown = [
        find_estimate(experiment, "none"), find_estimate(experiment, "constant"), find_estimate(experiment, "exact"),
        next(e for e in experiment.estimates if e.kind == "noisy" and e.noise_scale == largest and e.draw == 0),
    ]
    fig = _figure(10.0, 4.8)
    ax = fig.add_subplot()
    exact = np.array([experiment.exact_gradient[s, a] for s, a in index])
    ax.scatter(positions, exact, marker="_", s=400, color="black", lw=2.0, zorder=3,
               label="exact ∇J (autodiff of enumerated J)")
    for i, estimate in enumerate(shown):
        mean = np.array([estimate.mean[s, a] for s, a in index])
        error = np.array([2.0 * estimate.standard_error[s, a] for s, a in index])
        ax.errorbar(positions + (i - 1.5) * 0.17, mean, yerr=error, ls="none", marker="o", ms=3.5, capsize=2,
                    color=f"C{i}", label=f"{estimate.label}: mean ± 2 SE (max |z| = {estimate.max_z:.2f})")
    ax.set_xticks(positions, [f"θ[{s},{a}]" for s, a in index], rotation=60, fontsize="small")
    ax.set_xlabel("policy parameter θ[state, action]")
    ax.set_ylabel("∂J/∂θ (reward per unit logit)")
    ax.set_title(f"Every baseline estimates the same gradient ({experiment.num_episodes:,} episodes, same samples)")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize="x-small")
    fig.tight_layout()
    path = out_dir / FIGURE_NAMES[2]
    fig.savefig(path, format="png", dpi=_DPI)
    return path


# ==================================================================================================
# Where the article is wrong.
# ==================================================================================================


def article_formula(rewards: np.ndarray, values: np.ndarray, valid: np.ndarray, gamma: float) -> np.ndarray:
    """The article's formula exactly as printed: A(s,a,t) = Σ_{k=0}^{T−1} γ^k V(s_{t+k}) − V(s_t), `[T, N]`.

    `rewards` is accepted and, as in the printed formula, never used. V(s_{t+k}) past the episode's end
    is 0 (the terminal state's value).
    """
    del rewards  # the printed formula has no r in it
    num_steps = values.shape[0]
    masked = np.where(valid, values, 0.0)  # [T, N]
    out = np.zeros_like(masked)
    for t in range(num_steps):
        out[t] = sum(gamma**k * masked[t + k] for k in range(num_steps - t)) - masked[t]
    return np.where(valid, out, 0.0)


def article_reward_scaling(seed: int, num_episodes: int = 1000, scale: float = 10.0) -> dict[str, float]:
    """Multiply every reward by `scale` and keep V fixed: how much does each estimate move? (max |Δ|)

    The article's formula does not move at all; GAE does; the true advantage A^π of the scaled MDP is
    `scale` times the old one.
    """
    mdp = two_step_mdp(seed)
    policy = tf.nn.softmax(random_logits(mdp, seed + 1), axis=-1).numpy()
    scaled = tabular.TabularMDP(mdp.transitions, scale * mdp.rewards, mdp.terminal, mdp.initial, mdp.gamma)
    episodes = tabular.sample_trajectories(mdp, policy, num_episodes, max_steps=3, seed=seed + 4)
    values = tabular.policy_evaluation(mdp, policy)  # the V the estimators are given, [S]
    v, nv = values[episodes.states], values[episodes.next_states]  # [T, N]

    def gae(rewards: np.ndarray) -> np.ndarray:
        out = tf_gae.gae(rewards, v, nv, episodes.terminated, episodes.truncated, gamma=mdp.gamma, lambda_=0.95)
        return out.advantages.numpy()

    taken = (episodes.states, episodes.actions)
    old_advantages, new_advantages = tabular.advantages(mdp, policy), tabular.advantages(scaled, policy)  # [S, A]
    return dict(
        article=float(np.max(np.abs(
            article_formula(scale * episodes.rewards, v, episodes.valid, mdp.gamma)
            - article_formula(episodes.rewards, v, episodes.valid, mdp.gamma)
        ))),
        gae=float(np.max(np.abs(gae(scale * episodes.rewards) - gae(episodes.rewards))[episodes.valid])),
        true_advantage=float(np.max(np.abs(new_advantages[taken] - old_advantages[taken])[episodes.valid])),
        true_advantage_ratio=float(np.max(np.abs(new_advantages - scale * old_advantages))),
    )


def gae_linearity_error(rollout: Rollout, seed: int, gamma: float = 0.99, lambda_: float = 0.95) -> float:
    """max |Â(a·r₁ + b·r₂, a·V₁ + b·V₂) − (a·Â(r₁, V₁) + b·Â(r₂, V₂))|: GAE is a fixed linear map, nothing to fit.

    (r₁, V₁) is `rollout`; (r₂, V₂) is a second seeded draw on the same episode boundaries, with its
    next values NaN behind the same terminal steps (never read); a, b are seeded random numbers.
    """
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=2)
    rewards2, values2, next_values2 = rng.normal(size=(3, *rollout.rewards.shape))  # each [T, B]
    next_values2[rollout.terminated] = np.nan
    flags = (rollout.terminated, rollout.truncated)  # the same episode boundaries for both

    def advantages(r, v, nv):
        return tf_gae.gae(r, v, nv, *flags, gamma=gamma, lambda_=lambda_).advantages.numpy()

    r1, v1, nv1 = rollout.rewards, rollout.values, rollout.next_values
    combined = advantages(a * r1 + b * rewards2, a * v1 + b * values2, a * nv1 + b * next_values2)
    separate = a * advantages(r1, v1, nv1) + b * advantages(rewards2, values2, next_values2)
    return float(np.max(np.abs(combined - separate)))


# ==================================================================================================
# The walk-through.
# ==================================================================================================


def _verdict(error: float, tolerance: float = 1e-10) -> str:
    return "holds" if error < tolerance else "FAILS"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_chapter_args(
        "chapters.ch4_math",
        __doc__.splitlines()[0],
        "smaller rollouts and fewer sampled episodes (under a minute)",
        argv,
    )
    start = time.perf_counter()
    num_steps, num_envs = (64, 8) if args.quick else (256, 16)
    stretch = 40 if args.quick else 120
    num_episodes = 20_000 if args.quick else 200_000
    noise_draws = 5 if args.quick else 20

    print("Chapter 4 — the maths of GAE, proved in float64")
    print("=" * 78)
    rollout = random_rollout(num_steps, num_envs, args.seed)
    identity_rollout = random_rollout(64, 8, args.seed)  # the explicit k-step sums are slow Python loops
    ends = int(rollout.terminated.sum()), int(rollout.truncated.sum())
    print(f"Random rollout: T = {num_steps} steps × B = {num_envs} envs, "
          f"{ends[0]} terminations, {ends[1]} truncations;")
    print("V(s_{t+1}) = V of the next row inside an episode; NaN behind terminal steps (never read).\n")

    print("(1) Recursion = explicit sum (GAE paper eq. 16)")
    print("    δ_t = r_t + γ (1 − term_t) V(s_{t+1}) − V(s_t)")
    print("    recursion:    Â_t = δ_t + γλ (1 − term_t)(1 − trunc_t) Â_{t+1}        (tf_gae.gae)")
    print("    explicit sum: Â_t = Σ_{l=0}^{L_t} (γλ)^l δ_{t+l}, L_t = steps to t's episode end")
    e1 = recursion_vs_explicit_sum_error(rollout)
    print(f"    γ ∈ {{0, 0.9, 0.99, 1}} × λ ∈ {{0, 0.5, 0.95, 1}}: "
          f"max |recursion − sum| = {e1:.2e}  → {_verdict(e1)}\n")

    print("    Where eq. 16 comes from (paper eqs. 11–16). The k-step advantage estimators sum k residuals, and the")
    print("    sum telescopes — each +γ^{l+1} V(s_{t+l+1}) of δ_{t+l} cancels the −γ^{l+1} V(s_{t+l+1}) of δ_{t+l+1}:")
    print("      Â^(1)_t = δ_t                       = −V(s_t) + r_t + γ V(s_{t+1})")
    print("      Â^(2)_t = δ_t + γ δ_{t+1}           = −V(s_t) + r_t + γ r_{t+1} + γ² V(s_{t+2})")
    print("      Â^(k)_t = Σ_{l<k} γ^l δ_{t+l}        = −V(s_t) + Σ_{l<k} γ^l r_{t+l} + γ^k V(s_{t+k})")
    print("    Few terms: little variance, bias from V; many: the reverse. GAE averages all of them with weights")
    print("    (1 − λ) λ^{k−1}, which sum to 1; collecting the coefficient of each δ_{t+l}:")
    print("      (1 − λ)(Â^(1) + λ Â^(2) + λ² Â^(3) + ...)")
    print("        = (1 − λ)(δ_t (1 + λ + λ² + ...) + γ δ_{t+1} (λ + λ² + ...) + γ² δ_{t+2} (λ² + ...) + ...)")
    print("        = (1 − λ)(δ_t / (1 − λ) + γ δ_{t+1} λ / (1 − λ) + γ² δ_{t+2} λ² / (1 − λ) + ...) = Σ_l (γλ)^l δ_{t+l}")
    print("    On a segment that ends N steps after t, Â^(k) = Â^(N) for all k ≥ N, so their weights add up to λ^{N−1}.")
    telescoping, average = k_step_errors(identity_rollout)
    print(f"    checked on a {identity_rollout.rewards.shape[0]} × {identity_rollout.rewards.shape[1]} rollout, every k up to "
          f"the longest segment: max |Σ_{{l<k}} γ^l δ − telescoped form| = {telescoping:.1e}  → {_verdict(telescoping)};")
    print(f"    max |(1 − λ) Σ_k λ^{{k−1}} Â^(k) (tail λ^{{N−1}}) − tf_gae.gae| = {average:.1e}  → {_verdict(average)}\n")

    print("(2) λ = 1 telescopes to the discounted return minus V")
    print("    Σ_l γ^l δ_{t+l} = Σ_l γ^l r_{t+l} + γ^n V(s_{t+n}) − V(s_t) = G_t − V(s_t)")
    print("    (each +γ^{l+1} V(s_{t+l+1}) in δ_{t+l} cancels the −γ^{l+1} V(s_{t+l+1}) in δ_{t+l+1})")
    print("    (eq. 18: GAE(γ, 1) = Σ_l γ^l r_{t+l} − V(s_t), which is Â^(∞), the last of eqs. 11–15; V is only a baseline,")
    print("    so it is γ-just for any V, and carries the variance of the whole return)")
    e2 = lambda_one_error(rollout)
    print(f"    max |GAE(γ, 1) − (tf_gae.discounted_returns(bootstrap=V) − V)| = {e2:.2e}  → {_verdict(e2)}\n")

    print("(3) λ = 0 is the TD residual: Â_t = δ_t (only the l = 0 term has weight (γ·0)^0 = 1)")
    print("    (eq. 17: GAE(γ, 0) = δ_t = r_t + γ V(s_{t+1}) − V(s_t), which is Â^(1): γ-just only if V = V^{π,γ}, low variance)")
    e3 = lambda_zero_error(rollout)
    print(f"    max |GAE(γ, 0) − tf_gae.td_residuals| = {e3:.2e}  → {_verdict(e3)}\n")

    print("(4) returns = Â + V is the λ-return (Sutton & Barto eq. 12.3; eq. 12.9 when cut by a time limit)")
    print("    G^(n)_t = Σ_{k<n} γ^k r_{t+k} + γ^n V(s_{t+n});   N = T − t steps left")
    print("    G^λ_t  = (1 − λ) Σ_{n=1}^{N−1} λ^{n−1} G^(n)_t + λ^{N−1} G^(N)_t     (the tail weight λ^{N−1})")
    e4 = lambda_return_error(stretch, args.seed)
    print(f"    unbroken stretch of {stretch} steps, ending cut and ending terminal, same 16 (γ, λ):")
    print(f"    max |tf_gae.lambda_returns − G^λ| = {e4:.2e}  → {_verdict(e4)}\n")

    print("(5) γλ sets an effective horizon: the weight on δ_{t+l} is (γλ)^l, and Σ_l (γλ)^l = 1/(1 − γλ)")
    rows = horizon_table()
    print("        γ       λ      γλ   1/(1−γλ)   Σ kernel weights   half-life   share of weight in first ⌈H⌉ steps")
    for row in rows:
        print(f"    {row.gamma:6.3f}  {row.lambda_:6.3f}  {row.gamma * row.lambda_:6.4f}  {row.horizon:9.2f}"
              f"   {row.kernel_sum:16.10f}   {row.half_life:9.2f}   {row.share_within_horizon:.3f}")
    horizon_error = max(abs(r.kernel_sum - r.horizon) for r in rows)
    print(f"    the kernel's impulse response sums to 1/(1−γλ): max error {horizon_error:.2e}; about 1 − 1/e ≈ 0.63 of")
    print("    the weight lies within the horizon once it is long. SB3's and CleanRL's PPO default (0.99, 0.95) looks ~17 steps ahead.")
    horizon_path = plot_horizon_weights(HORIZON_PAIRS, args.out)
    print(f"    figure: {horizon_path}\n")

    print("(6) A state-dependent baseline b(s) leaves the policy gradient unbiased and changes its variance")
    print("    ∇J = E[Σ_t γ^t ∇log π(a_t|s_t) (G_t − b(s_t))] for any b(s), because")
    print("    E_a[∇log π(a|s)] b(s) = b(s) ∇ Σ_a π(a|s) = b(s) ∇1 = 0.")
    experiment = baseline_experiment(num_episodes, args.seed, NOISE_SCALES, noise_draws)
    print(f"    Problem: {two_step_mdp(args.seed)!r},")
    print(f"    every episode two steps; tabular softmax policy θ[s,a] ~ N(0,1), "
          f"{experiment.exact_gradient[experiment.live].size} live parameters.")
    print(f"    J(θ) by enumerating all {experiment.num_trajectories} trajectories = {experiment.objective:.6f}; "
          f"|J − ρᵀV^π (linear solve)| = {experiment.objective_error:.2e}")
    print(f"    exact ∇J by tf.GradientTape; |∇J − d^π(s) π(a|s) A^π(s,a)| (policy gradient theorem) = "
          f"{experiment.theorem_error:.2e}  → {_verdict(experiment.theorem_error)}")
    print(f"    V^π = {np.array2string(experiment.values[:-1], precision=3)} (states 0-4; 5 is terminal)")
    print(f"    max |Σ_a π(a|s) ∇log π(a|s) b(s)| over every baseline = {experiment.baseline_term_error:.2e}")
    print("    Exact mean and variance of one episode's g by enumeration; sampled: "
          f"{num_episodes:,} episodes (the same for every b);")
    print(f"    noisy baselines b = V^π + σ·ε(s), ε(s) ~ N(0,1) fixed per state, {noise_draws} draws of ε per σ.")
    print("    baseline                    max|E[g] − ∇J|   Var (exact)   Var (sampled)   max |z| of the sampled mean")
    for e in experiment.estimates:
        if e.kind == "noisy" and e.draw > 0:
            continue
        print(f"    {e.label:27s} {e.exact_mean_error:13.2e}   {e.exact_variance:11.3f}   "
              f"{e.sampled_variance:13.3f}   {e.max_z:6.2f}")
    curve = variance_against_noise(experiment)
    print(f"    exact variance against the noise scale σ (mean ± std over {noise_draws} draws of ε; σ = 0 is V^π):")
    for sigma, mean, std in zip(curve["noise_scale"], curve["exact_mean"], curve["exact_std"]):
        print(f"      σ = {sigma:4g}: {mean:7.2f} ± {std:.2f}")
    worst_z = max(e.max_z for e in experiment.estimates)
    worst_bias = max(e.exact_mean_error for e in experiment.estimates)
    none, exact = find_estimate(experiment, "none"), find_estimate(experiment, "exact")
    print(f"    over all {len(experiment.estimates)} baselines: max |E[g] − ∇J| = {worst_bias:.2e}, "
          f"largest sampled |z| = {worst_z:.2f} (< 4: within Monte-Carlo error)")
    constant = find_estimate(experiment, "constant")
    print(f"    variance: no baseline {none.exact_variance:.2f} → constant {constant.exact_variance:.2f} → exact V^π "
          f"{exact.exact_variance:.2f} ({none.exact_variance / exact.exact_variance:.1f}× lower than none);")
    print(f"    a poor baseline (σ = {max(NOISE_SCALES):g}) brings it back up to "
          f"{curve['exact_mean'][-1]:.2f} on average.")
    best_noisy = min(e.exact_variance for e in experiment.estimates if e.kind == "noisy")
    print("    V^π is not exactly the variance-minimising baseline (that one also depends on ‖∇log π‖²): the lowest")
    print(f"    variance among the noisy baselines is {best_noisy:.3f} against V^π's {exact.exact_variance:.3f}; "
          "small errors cost little, large ones a lot.")
    variance_path = plot_baseline_variance(experiment, args.out)
    gradient_path = plot_baseline_gradient(experiment, args.out)
    print(f"    figures: {variance_path}\n             {gradient_path}\n")

    print("(7) GAE as a discounted sum of shaped rewards, and the response function (GAE paper §4)")
    print("    Reward shaping (Ng, Harada, Russell 1999) adds a potential's difference to every reward:")
    print("      r̃(s, a, s') = r(s, a, s') + γ Φ(s') − Φ(s)        (Φ = 0 at a terminal state)")
    print("    Along an episode the added terms telescope, Σ_l γ^l r̃_{t+l} = Σ_l γ^l r_{t+l} − Φ(s_t), so the shaped")
    print("    Q and V are the old ones minus Φ(s): A^{π,γ} is unchanged and so is the policy gradient.")
    print("    With Φ = V, r̃_t = r_t + γ V(s_{t+1}) − V(s_t) = δ_t, and eq. 16 reads as a discounted return with the")
    print("    steeper discount γλ (the paper's eqs. 20–25):   Â_t = Σ_l (γλ)^l r̃_{t+l}.")
    shaping = shaping_error(rollout)
    print(f"    max |tf_gae.discounted_returns(r̃, discount γλ) − tf_gae.gae| = {shaping:.1e}  → {_verdict(shaping)}")
    print("    What the steeper discount costs depends on when an action's consequences arrive. The response function")
    print("      χ(l; s, a) = E[r_{t+l} | s_t = s, a_t = a] − E[r_{t+l} | s_t = s]      (eq. 26)")
    print("    is the change in the reward l steps later caused by taking a, and A^{π,γ}(s, a) = Σ_l γ^l χ(l; s, a)")
    print("    (stated with eq. 26). E[Â_t | s, a] − E[Â_t | s] = Σ_l (γλ)^l χ̃(l; s, a) for the rewards shaped by the V:")
    print("    where χ̃ has died out, (γλ)^l and γ^l give the same sum.")
    result = shaping_experiment(args.seed)
    print(f"    On {result.mdp.name}: state 0's action 0 (chain A) pays 1 twenty steps later; random policy, γ = "
          f"{result.mdp.gamma}, A^π(0, 0) = {result.advantages[0, 0]:+.4f}.")
    print(f"    float64 checks: max |Σ_l γ^l χ(l) − A^π| = {result.sum_error:.1e} for the raw and both shaped rewards; "
          f"shaping changes A^π by {result.invariance_error:.1e};")
    print(f"    with Φ = V^π, max |χ̃(l ≥ 1)| = {result.exact_tail:.1e}: all of the credit sits at l = 0.")
    print("    the share of A^π(0, 0) that Σ_l (γλ)^l χ(l) keeps (GAE's expectation, as a fraction of the advantage):")
    print("        λ      raw rewards (V = 0)   shaped, Φ = V^π + 0.05·z   shaped, Φ = V^π")
    for lam in SHAPING_LAMBDAS:
        shares = credit_captured(result, lam)
        print(f"      {lam:5.2f}          {shares['raw']:6.3f}                 {shares['noisy']:6.3f}                "
              f"{shares['exact']:6.3f}")
    print(f"    raw rewards keep λ^20 of a reward twenty steps away (0.95^20 = {0.95 ** 20:.3f}); a good V moves the credit")
    print("    to the moment of the action, where the steeper discount cannot cut it. This is why λ < 1 is safe with a")
    print("    good critic, and costly with a poor one on delayed rewards (chapter 6's language-model score).")
    response_path = plot_response_function(result, 0.95, args.out, lags=30)
    print(f"    figure: {response_path}\n")

    print("Where the article is wrong in this section")
    scaling = article_reward_scaling(args.seed)
    print("  - Its A(s,a,t) = Σ_{k=0}^{T−1} γ^k V(s_{t+k}) − V(s_t) has no reward and no λ. Rewards × 10, V kept:")
    print(f"    article's estimate moves by {scaling['article']:.1f}, GAE's by {scaling['gae']:.2f}, the true A^π by "
          f"{scaling['true_advantage']:.2f} (it becomes exactly 10 A^π: error {scaling['true_advantage_ratio']:.1e}).")
    linearity = gae_linearity_error(rollout, args.seed)
    print("  - GAE is not \"solved by gradient descent\": for given γ, λ and episode ends, Â is a fixed linear")
    print(f"    map of (r, V): Â(a·r₁+b·r₂, a·V₁+b·V₂) = a·Â(r₁,V₁) + b·Â(r₂,V₂) to {linearity:.1e}; it has no")
    print("    parameters to descend on. Gradient descent fits V (regression on the λ-returns of (4)) and")
    print("    improves π (the gradient of (6)); GAE combines the rewards with that V.")
    print("  - Its \"difference equation\" is the one fair reading: Â_t = δ_t + γλ(1 − done_t) Â_{t+1} is a first-order")
    print("    linear difference equation run backwards from the rollout's end, and its closed-form solution is the")
    print(f"    sum of (1): the two agree to {e1:.1e}. One backward pass computes it; nothing is iterated to convergence.")
    print()

    figures = [horizon_path, variance_path, gradient_path, response_path]
    identity_errors = [e1, telescoping, average, e2, e3, e4, experiment.theorem_error, worst_bias, shaping,
                       result.sum_error, result.invariance_error, result.exact_tail]
    print_exercises("chapters.ch4_math", EXERCISES)
    print("Summary")
    print(f"  float64 identities (1)-(4) with eqs. 11–16, the policy gradient theorem, E[g] = ∇J for every baseline, "
          "shaping (7): "
          f"largest error {max(identity_errors):.1e}")
    print(f"  effective horizons 1/(1−γλ) for {len(rows)} (γ, λ) pairs; baseline variance for "
          f"{len(experiment.estimates)} baselines on {num_episodes:,} sampled episodes")
    print(f"  figures written to {args.out}/: " + ", ".join(p.name for p in figures))
    print(f"  ({'quick' if args.quick else 'full'} run, seed {args.seed}, {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
