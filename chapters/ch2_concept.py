"""Chapter 2 — the core concepts of GAE, computed on MDPs with exact answers (the article's section 2).

Run it:  python -m chapters.ch2_concept [--quick] [--out DIR] [--seed S]

  (a) the four definitions — advantage A^π, TD residual δ, λ-return G^λ and GAE Â — in plain text,
      each printed beside the library call that computes it, on one episode of a random MDP;
  (b) the article's formula exactly as printed, A(s,a,t) = Σ_{k=0}^{T−1} γ^k V(s_{t+k}) − V(s_t), set
      beside GAE with the exact V^π: it does not read a reward, and its RMS error against the exact
      A^π(s_t, a_t) is far above GAE's. What it was probably meant to be: Σ_k γ^k r_{t+k} − V(s_t),
      the discounted return minus V, which is GAE with λ = 1;
  (c) bias², variance and MSE of Â_t against λ ∈ [0, 1] for two discounts, with a deliberately wrong
      value function V̂ = V^π + ε(s) (figure ch2_bias_variance.png): the trade-off of the GAE paper §3;
  (d) Sutton & Barto's Figure 12.3: the offline λ-return algorithm on the 19-state random walk, RMS
      error over the first 10 episodes against the step size α, one curve per λ, with the λ-returns
      from tf_gae.lambda_returns (figure ch2_random_walk.png).

References: Schulman, Moritz, Levine, Jordan, Abbeel, "High-Dimensional Continuous Control Using
Generalized Advantage Estimation", ICLR 2016, arXiv:1506.02438 (§3: bias and variance; γ-just
estimators); Sutton & Barto, "Reinforcement Learning: An Introduction", 2nd ed. 2018, §12.1 (λ-return,
offline λ-return algorithm, Figure 12.3) and Example 7.1 (the 19-state random walk).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import tf_gae
from chapters.ch4_math import article_formula
from tf_gae import mdp as tabular
from chapters._contract import parse_chapter_args
from tf_gae._tf import tf

__all__ = [
    "Problem",
    "make_problem",
    "definitions_table",
    "ArticleComparison",
    "article_comparison",
    "article_reward_invariance",
    "value_error",
    "BiasVarianceCurve",
    "bias_variance_curve",
    "interior_minimum",
    "plot_bias_variance",
    "RandomWalkResult",
    "random_walk_offline_lambda_return",
    "best_setting",
    "plot_random_walk",
    "main",
]

FIGURE_NAMES = ("ch2_bias_variance.png", "ch2_random_walk.png")
LAMBDA_GRID = tuple(np.round(np.linspace(0.0, 1.0, 11), 2).tolist())
GAMMAS = (0.9, 0.99)
RW_LAMBDAS = (0.0, 0.4, 0.8, 0.9, 0.95, 0.975, 0.99, 1.0)
RW_ALPHAS = tuple(np.round(np.linspace(0.05, 1.0, 20), 3).tolist())
_DPI = 120


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)  # no pyplot: no global backend, nothing left open
    return fig


# ==================================================================================================
# (a) The definitions, each beside the code that computes it.
# ==================================================================================================


@dataclass(frozen=True)
class Problem:
    """A random MDP, a fixed stochastic policy and its exact V^π `[S]`, Q^π and A^π `[S, A]`."""

    mdp: tabular.TabularMDP
    policy: np.ndarray
    values: np.ndarray
    q_values: np.ndarray
    advantages: np.ndarray


def make_problem(gamma: float, seed: int, terminal_probability: float = 0.05) -> Problem:
    """random_mdp(S=6, A=3) with discount γ (same transitions and rewards for every γ) and a random policy."""
    mdp = tabular.random_mdp(num_states=6, num_actions=3, gamma=gamma, seed=seed,
                             terminal_probability=terminal_probability)
    policy = tabular.random_policy(mdp, seed=seed + 1)
    return Problem(mdp, policy, tabular.policy_evaluation(mdp, policy), tabular.action_values(mdp, policy),
                   tabular.advantages(mdp, policy))


def _estimator_inputs(problem: Problem, episodes: tabular.Trajectories, values: np.ndarray):
    """(values[t], next_values[t]) `[T, N]` from a state-value table `[S]` (0 on the terminal state)."""
    return values[episodes.states], values[episodes.next_states]


def definitions_table(problem: Problem, seed: int, lambda_: float = 0.9, rows: int = 6) -> dict[str, np.ndarray]:
    """One episode of `problem` with the exact V^π: A^π(s_t,a_t), δ_t, G^λ_t and Â_t for its first steps.

    Also returns the largest |Â_t − (G^λ_t − V(s_t))| and |Σ_l (γλ)^l δ_{t+l} − Â_t| over the episode.
    """
    gamma = problem.mdp.gamma
    ep = tabular.sample_trajectories(problem.mdp, problem.policy, 1, max_steps=200, seed=seed)
    n = int(ep.lengths[0])
    s, a, r = ep.states[:n, 0], ep.actions[:n, 0], ep.rewards[:n, 0]
    term, trunc = ep.terminated[:n, 0], ep.truncated[:n, 0]
    v, nv = problem.values[s], problem.values[ep.next_states[:n, 0]]
    delta = tf_gae.td_residuals(r, v, nv, term, gamma=gamma).numpy()
    lam_ret = tf_gae.lambda_returns(r, v, nv, term, trunc, gamma=gamma, lambda_=lambda_).numpy()
    adv = tf_gae.gae(r, v, nv, term, trunc, gamma=gamma, lambda_=lambda_).advantages.numpy()
    weights = (gamma * lambda_) ** np.arange(n)
    explicit = np.array([np.dot(weights[: n - t], delta[t:]) for t in range(n)])
    k = min(rows, n)
    return dict(
        t=np.arange(k), state=s[:k], action=a[:k], reward=r[:k], value=v[:k],
        exact_advantage=problem.advantages[s, a][:k], delta=delta[:k], lambda_return=lam_ret[:k], gae=adv[:k],
        length=np.array(n), return_identity_error=np.array(np.max(np.abs(adv - (lam_ret - v)))),
        sum_identity_error=np.array(np.max(np.abs(adv - explicit))),
    )


# ==================================================================================================
# (b) The article's formula against GAE.
# ==================================================================================================


@dataclass(frozen=True)
class ArticleComparison:
    """RMS errors against the exact A^π(s_t, a_t) over every valid step of the same sampled episodes."""

    num_steps: int
    rms_exact_advantage: float
    """RMS of A^π(s_t, a_t) itself: the error of always answering 0."""
    rms_article: float
    rms_gae: dict[float, float]
    """λ → RMS error of GAE(γ, λ) with the exact V^π."""
    bias_article: float
    """√bias²: RMS over steps of (mean of the estimate in its (s_t, a_t) group − A^π(s_t, a_t))."""
    bias_gae: dict[float, float]
    mean_article: float
    mean_exact_advantage: float


def article_comparison(problem: Problem, num_episodes: int, seed: int, max_steps: int = 60,
                       lambdas: Sequence[float] = (0.0, 0.95, 1.0)) -> ArticleComparison:
    """The article's Σ γ^k V(s_{t+k}) − V(s_t) and GAE, both given the exact V^π, against A^π(s_t, a_t)."""
    gamma = problem.mdp.gamma
    ep = tabular.sample_trajectories(problem.mdp, problem.policy, num_episodes, max_steps, seed=seed)
    v, nv = _estimator_inputs(problem, ep, problem.values)
    exact = problem.advantages[ep.states, ep.actions]  # [T, N]
    valid = ep.valid

    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(x[valid] ** 2)))

    group = (ep.states * problem.mdp.num_actions + ep.actions)[valid]
    num_groups = problem.mdp.num_states * problem.mdp.num_actions

    def bias(x: np.ndarray) -> float:
        return float(np.sqrt(_grouped_stats(x[valid], exact[valid], group, num_groups)[0]))

    article = article_formula(ep.rewards, v, valid, gamma)
    rms_gae, bias_gae = {}, {}
    for lam in lambdas:
        adv = tf_gae.gae(ep.rewards, v, nv, ep.terminated, ep.truncated, gamma=gamma, lambda_=lam).advantages.numpy()
        rms_gae[float(lam)], bias_gae[float(lam)] = rms(adv - exact), bias(adv)
    return ArticleComparison(int(valid.sum()), rms(exact), rms(article - exact), rms_gae, bias(article), bias_gae,
                             float(article[valid].mean()), float(exact[valid].mean()))


def article_reward_invariance(problem: Problem, num_episodes: int, seed: int, scale: float = 10.0,
                              shift: float = 3.0) -> dict[str, float]:
    """Rewards × `scale` (and, separately, + `shift`), same episodes and same V: how far does each move?

    Returns max |Δ| of the article's formula for both changes, and for the exact advantage of the scaled
    MDP the max |A^π_scaled − scale · A^π| (0: the true advantage scales exactly) and max |A^π_scaled − A^π|.
    """
    mdp = problem.mdp
    ep = tabular.sample_trajectories(mdp, problem.policy, num_episodes, 60, seed=seed)
    v = problem.values[ep.states]
    base = article_formula(ep.rewards, v, ep.valid, mdp.gamma)
    scaled_article = article_formula(scale * ep.rewards, v, ep.valid, mdp.gamma)
    shifted_article = article_formula(ep.rewards + shift, v, ep.valid, mdp.gamma)
    scaled = tabular.TabularMDP(mdp.transitions, scale * mdp.rewards, mdp.terminal, mdp.initial, mdp.gamma)
    scaled_adv = tabular.advantages(scaled, problem.policy)
    return dict(
        article_scaled=float(np.max(np.abs(scaled_article - base))),
        article_shifted=float(np.max(np.abs(shifted_article - base))),
        advantage_scale_error=float(np.max(np.abs(scaled_adv - scale * problem.advantages))),
        advantage_change=float(np.max(np.abs(scaled_adv - problem.advantages))),
    )


# ==================================================================================================
# (c) Bias and variance against λ.
# ==================================================================================================


def value_error(mdp: tabular.TabularMDP, seed: int, offset: float = 1.0, scale: float = 0.5) -> np.ndarray:
    """A fixed per-state error ε(s) = offset + scale · z(s), z ~ N(0, 1) seeded; 0 on terminal states `[S]`."""
    eps = offset + scale * np.random.default_rng(seed).normal(size=mdp.num_states)
    return np.where(mdp.terminal, 0.0, eps)


@dataclass(frozen=True)
class BiasVarianceCurve:
    """Per λ: bias², variance and MSE of Â_t, pooled over (s_t, a_t) groups, mean and spread over batches.

    Target: A^π(s_t, a_t) − ε(s_t) = Q^π(s_t, a_t) − V̂(s_t), the advantage relative to the baseline V̂
    the estimator subtracts (GAE paper §3: λ = 1 is γ-just for any V̂). `raw_*` use A^π itself.
    """

    gamma: float
    lambdas: np.ndarray  # [L]
    bias2: np.ndarray  # [L]
    variance: np.ndarray  # [L]
    mse: np.ndarray  # [L]
    bias2_std: np.ndarray  # [L]: std over episode batches
    variance_std: np.ndarray  # [L]
    mse_std: np.ndarray  # [L]
    raw_bias2: np.ndarray  # [L]: against A^π(s_t, a_t)
    raw_mse: np.ndarray  # [L]
    mc_floor: np.ndarray  # [L]: Σ_g Var_g / N, the bias² that pure sampling noise produces
    num_samples: int


def _grouped_stats(est: np.ndarray, target: np.ndarray, group: np.ndarray, num_groups: int):
    """Pooled bias², variance and MSE of `est` against `target` over groups (1-D arrays of samples)."""
    count = np.bincount(group, minlength=num_groups).astype(float)
    total = np.bincount(group, est, minlength=num_groups)
    total_sq = np.bincount(group, est**2, minlength=num_groups)
    tgt = np.bincount(group, target, minlength=num_groups) / np.maximum(count, 1)
    seen = count > 0
    mean = total[seen] / count[seen]
    var = total_sq[seen] / count[seen] - mean**2
    n = count.sum()
    bias2 = float(np.sum(count[seen] * (mean - tgt[seen]) ** 2) / n)
    variance = float(np.sum(count[seen] * var) / n)
    return bias2, variance, bias2 + variance, float(np.sum(var) / n)


def bias_variance_curve(problem: Problem, error: np.ndarray, lambdas: Sequence[float], num_episodes: int,
                        seed: int, max_steps: int = 400, num_batches: int = 5) -> BiasVarianceCurve:
    """Bias², variance and MSE of GAE(γ, λ) with V̂ = V^π + `error`, grouped by (s_t, a_t), every valid step.

    One sample of `num_episodes` episodes, one tf_gae.gae call per λ; the spread is the std of the same
    statistics over `num_batches` disjoint batches of episodes.
    """
    mdp = problem.mdp
    ep = tabular.sample_trajectories(mdp, problem.policy, num_episodes, max_steps, seed=seed)
    v_hat = problem.values + error
    v, nv = _estimator_inputs(problem, ep, v_hat)
    valid = ep.valid
    exact = problem.advantages[ep.states, ep.actions]  # [T, N]
    target = exact - error[ep.states]  # Q^π − V̂
    group = ep.states * mdp.num_actions + ep.actions  # [T, N]
    num_groups = mdp.num_states * mdp.num_actions
    batch_of = np.broadcast_to(np.arange(num_episodes) % num_batches, valid.shape)
    rows = []
    for lam in lambdas:
        adv = tf_gae.gae(ep.rewards, v, nv, ep.terminated, ep.truncated, gamma=mdp.gamma, lambda_=lam).advantages.numpy()
        pooled = _grouped_stats(adv[valid], target[valid], group[valid], num_groups)
        raw = _grouped_stats(adv[valid], exact[valid], group[valid], num_groups)
        per_batch = np.array([
            _grouped_stats(adv[valid & (batch_of == b)], target[valid & (batch_of == b)],
                           group[valid & (batch_of == b)], num_groups)[:3]
            for b in range(num_batches)
        ])  # [K, 3]
        rows.append((*pooled, raw[0], raw[2], *per_batch.std(axis=0, ddof=1)))
    a = np.array(rows)  # [L, 9]
    return BiasVarianceCurve(mdp.gamma, np.asarray(lambdas, float), a[:, 0], a[:, 1], a[:, 2], a[:, 6], a[:, 7],
                             a[:, 8], a[:, 4], a[:, 5], a[:, 3], int(valid.sum()))


def interior_minimum(curve: BiasVarianceCurve) -> bool:
    """True if the MSE is smallest strictly inside (0, 1)."""
    return 0 < int(np.argmin(curve.mse)) < len(curve.lambdas) - 1


def plot_bias_variance(curves: Sequence[BiasVarianceCurve], out_dir: Path) -> Path:
    """Figure: bias², variance and MSE of Â_t against λ, one panel per γ, ± 1 std over episode batches."""
    fig = _figure(5.2 * len(curves), 4.6)
    axes = np.atleast_1d(fig.subplots(1, len(curves)))
    for ax, c in zip(axes, curves):
        for y, s, label, color in ((c.bias2, c.bias2_std, "bias²", "C0"), (c.variance, c.variance_std, "variance", "C1"),
                                   (c.mse, c.mse_std, "MSE = bias² + variance", "C3")):
            ax.plot(c.lambdas, y, marker="o", ms=3.5, color=color, label=label)
            ax.fill_between(c.lambdas, np.maximum(y - s, 0.05 * y), y + s, color=color, alpha=0.2)  # log axis
        best = int(np.argmin(c.mse))
        ax.axvline(c.lambdas[best], color="C3", ls=":", lw=1.0)
        ax.annotate(f"min MSE at λ={c.lambdas[best]:g}", (c.lambdas[best], c.mse[best]), textcoords="offset points",
                    xytext=(4, 8), fontsize=8, color="C3")
        ax.set_yscale("log")
        ax.set_xlabel("λ (GAE parameter, dimensionless)")
        ax.set_ylabel("squared error of Â_t (reward units²)")
        ax.set_title(f"γ = {c.gamma:g}: {c.num_samples:,} sampled steps")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("GAE bias/variance trade-off with V̂ = V^π + ε(s): target Q^π(s,a) − V̂(s); band ±1 std over 5 batches",
                 fontsize=10)
    fig.tight_layout()
    path = out_dir / FIGURE_NAMES[0]
    fig.savefig(path)
    return path


# ==================================================================================================
# (d) Sutton & Barto Figure 12.3: the offline λ-return algorithm on the 19-state random walk.
# ==================================================================================================


@dataclass(frozen=True)
class RandomWalkResult:
    lambdas: np.ndarray  # [L]
    alphas: np.ndarray  # [A]
    rms: np.ndarray  # [L, A]: RMS error over the 19 states, averaged over the first episodes and the runs
    rms_stderr: np.ndarray  # [L, A]: standard error of that mean over runs
    num_runs: int
    num_episodes: int


def random_walk_offline_lambda_return(lambdas: Sequence[float], alphas: Sequence[float], num_runs: int,
                                      seed: int, num_episodes: int = 10) -> RandomWalkResult:
    """S&B §12.1: V ← 0; after each episode, for t = 0..T−1 in order, V(s_t) ← V(s_t) + α (G^λ_t − V(s_t)).

    G^λ_t is computed by tf_gae.lambda_returns (γ = 1) with the V of the episode's start (offline). The
    in-order updates are applied in closed form: a state visited n times in the episode ends at
    (1 − α)^n V_old(s) + Σ_visits α (1 − α)^{m} G^λ_t, m = its visits after t. Runs × α are one batch.
    """
    mdp = tabular.random_walk_19()
    policy = tabular.uniform_policy(mdp)
    truth = tabular.policy_evaluation(mdp, policy)[1:-1]  # [19] = (s − 10)/10
    lam_arr, alpha = np.asarray(lambdas, float), np.asarray(alphas, float)
    num_l, num_a, num_s = len(lam_arr), len(alpha), mdp.num_states
    values = np.zeros((num_l, num_runs, num_a, num_s))  # V per λ, run and α
    errors = np.zeros((num_l, num_runs, num_a))
    for k in range(num_episodes):
        ep = tabular.sample_trajectories(mdp, policy, num_runs, max_steps=5000, seed=seed * 1000 + k, start_state=10)
        T = ep.num_steps
        onehot = (ep.states[..., None] == np.arange(num_s)) & ep.valid[..., None]  # [T, R, S]
        later = np.cumsum(onehot[::-1], axis=0)[::-1] - onehot  # visits to s after t
        m = np.take_along_axis(later, ep.states[..., None], axis=2)[..., 0]  # [T, R]
        visits = onehot.sum(axis=0)  # [R, S]
        coef = alpha * (1.0 - alpha) ** m[..., None] * ep.valid[..., None]  # [T, R, A]
        tile = lambda x: np.repeat(x[:, :, None], num_a, axis=2).reshape(T, -1)  # noqa: E731  [T, R·A]
        rewards, term, trunc = tile(ep.rewards), tile(ep.terminated), tile(ep.truncated)
        run_idx = np.arange(num_runs)[None, :, None]
        alpha_idx = np.arange(num_a)[None, None, :]
        for i, lam in enumerate(lam_arr):
            table = values[i]  # [R, A, S]
            v = table[run_idx, alpha_idx, ep.states[..., None]]  # [T, R, A]
            nv = table[run_idx, alpha_idx, ep.next_states[..., None]]
            g = tf_gae.lambda_returns(rewards, v.reshape(T, -1), nv.reshape(T, -1), term, trunc,
                                      gamma=1.0, lambda_=float(lam)).numpy().reshape(T, num_runs, num_a)
            added = np.einsum("trs,tra->ras", onehot.astype(float), coef * np.where(ep.valid[..., None], g, 0.0))
            values[i] = (1.0 - alpha[None, :, None]) ** visits[:, None, :] * table + added
            errors[i] += np.sqrt(np.mean((values[i][..., 1:-1] - truth) ** 2, axis=-1))
    per_run = errors / num_episodes  # [L, R, A]
    return RandomWalkResult(lam_arr, alpha, per_run.mean(axis=1),
                            per_run.std(axis=1, ddof=1) / np.sqrt(num_runs), num_runs, num_episodes)


def best_setting(result: RandomWalkResult) -> tuple[float, float, float]:
    """(λ, α, RMS) of the lowest averaged RMS error over the whole grid."""
    i, j = np.unravel_index(int(np.argmin(result.rms)), result.rms.shape)
    return float(result.lambdas[i]), float(result.alphas[j]), float(result.rms[i, j])


def plot_random_walk(result: RandomWalkResult, out_dir: Path) -> Path:
    """Figure: S&B Fig. 12.3 — RMS error against α, one curve per λ, band ±1 standard error over runs."""
    fig = _figure(7.5, 5.2)
    ax = fig.subplots()
    for i, lam in enumerate(result.lambdas):
        color = f"C{i % 10}"
        ax.plot(result.alphas, result.rms[i], color=color, lw=1.5, label=f"λ = {lam:g}")
        ax.fill_between(result.alphas, result.rms[i] - result.rms_stderr[i], result.rms[i] + result.rms_stderr[i],
                        color=color, alpha=0.2)
    lam, alpha, err = best_setting(result)
    ax.plot([alpha], [err], "k*", ms=10, label=f"best: λ={lam:g}, α={alpha:g}, RMS {err:.3f}")
    ax.set_ylim(0.2, 0.6)
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("step size α (dimensionless)")
    ax.set_ylabel(f"RMS error of V over 19 states, first {result.num_episodes} episodes (reward units)")
    ax.set_title(f"Offline λ-return algorithm, 19-state random walk ({result.num_runs} runs; S&B Fig. 12.3)\n"
                 "band: ±1 standard error over runs; curves leaving the top are clipped as in the book", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    fig.tight_layout()
    path = out_dir / FIGURE_NAMES[1]
    fig.savefig(path)
    return path


# ==================================================================================================
# The walk-through.
# ==================================================================================================


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_chapter_args(
        "chapters.ch2_concept",
        __doc__.splitlines()[0],
        "fewer episodes and runs (well under a minute)",
        argv,
    )
    start = time.perf_counter()
    np.random.seed(args.seed)
    tf.random.set_seed(args.seed)
    bv_episodes = 4000 if args.quick else 20_000
    article_episodes = 500 if args.quick else 2000
    rw_runs = 10 if args.quick else 100

    print("Chapter 2 — core concepts: advantage, TD residual, λ-return, GAE")
    print("=" * 78)
    problem = make_problem(0.9, args.seed)
    print(f"Problem: {problem.mdp!r}, policy π = softmax of N(0,1) logits; V^π, Q^π, A^π by linear solve.\n")

    print("(a) Definitions, each with the code that computes it")
    print("    advantage   A^π(s,a) = Q^π(s,a) − V^π(s): how much better a is than π's average in s")
    print("                → tf_gae.mdp.advantages(mdp, π)               (exact, linear solve)")
    print("    TD residual δ_t = r_t + γ V(s_{t+1}) − V(s_t)  (no V(s_{t+1}) term if s_{t+1} is terminal)")
    print("                → tf_gae.td_residuals(r, V, V_next, terminated, gamma)")
    print("    λ-return    G^λ_t = (1 − λ) Σ_n λ^{n−1} G^(n)_t, G^(n)_t = Σ_{k<n} γ^k r_{t+k} + γ^n V(s_{t+n})")
    print("                → tf_gae.lambda_returns(r, V, V_next, terminated, truncated, gamma, lambda_)")
    print("    GAE         Â_t = Σ_{l≥0} (γλ)^l δ_{t+l} = G^λ_t − V(s_t);  E[δ_t | s_t, a_t] = A^π(s_t,a_t) when V = V^π")
    print("                → tf_gae.gae(...).advantages")
    table = definitions_table(problem, args.seed, lambda_=0.9)
    print(f"    one episode ({int(table['length'])} steps), γ = 0.9, λ = 0.9, exact V^π:")
    print("      t   s  a   r_t      V(s_t)   A^π(s_t,a_t)   δ_t      G^λ_t    Â_t")
    for i in range(len(table["t"])):
        print(f"    {table['t'][i]:3d}  {table['state'][i]:2d} {table['action'][i]:2d} {table['reward'][i]:+7.3f}  "
              f"{table['value'][i]:+7.3f}   {table['exact_advantage'][i]:+7.3f}      {table['delta'][i]:+7.3f}  "
              f"{table['lambda_return'][i]:+7.3f}  {table['gae'][i]:+7.3f}")
    print(f"    checks over the episode: max |Â − (G^λ − V)| = {float(table['return_identity_error']):.1e}, "
          f"max |Â − Σ_l (γλ)^l δ_{{t+l}}| = {float(table['sum_identity_error']):.1e}")
    print("    δ_t and Â_t are noisy single-sample estimates of A^π(s_t,a_t); the next sections measure how noisy.\n")

    print("(b) The article's formula, exactly as printed:  A(s,a,t) = Σ_{k=0}^{T−1} γ^k V(s_{t+k}) − V(s_t)")
    comp = article_comparison(problem, article_episodes, args.seed + 10)
    inv = article_reward_invariance(problem, min(article_episodes, 300), args.seed + 11)
    print(f"    same {comp.num_steps:,} sampled steps, every estimator given the exact V^π; error against exact A^π(s_t,a_t):")
    print("      estimator                                      RMS error per step   √bias² (error of its mean per (s,a))")
    print(f"      0 (RMS of A^π itself)                            {comp.rms_exact_advantage:8.3f}        "
          f"{comp.rms_exact_advantage:8.3f}")
    print(f"      article's formula                                {comp.rms_article:8.3f}        {comp.bias_article:8.3f}")
    for lam, err in comp.rms_gae.items():
        note = {0.0: "= δ_t", 1.0: "= Σ_k γ^k r_{t+k} − V(s_t)"}.get(lam, "")
        print(f"      GAE λ = {lam:<4g} {note:33s}    {err:8.3f}        {comp.bias_gae[lam]:8.3f}")
    print(f"    the article's estimate averages {comp.mean_article:+.3f} where A^π averages {comp.mean_exact_advantage:+.3f}."
          " One GAE sample is noisy")
    print("    (its per-step RMS includes the reward noise), but GAE is unbiased: its error of the mean is sampling")
    print("    noise that shrinks with more episodes; the article's does not shrink — more data cannot fix it.")
    print(f"    it ignores rewards: rewards ×10 moves it by {inv['article_scaled']:.1e}, rewards +3 by "
          f"{inv['article_shifted']:.1e};")
    print(f"    the exact advantage moves by up to {inv['advantage_change']:.2f} under ×10 and becomes exactly 10·A^π "
          f"(error {inv['advantage_scale_error']:.1e}).")
    print("    It is a discounted sum of values, not an advantage: even averaged, it is further from A^π than answering 0.")
    print("    What it was probably meant to be: Σ_{k=0}^{T−t−1} γ^k r_{t+k} − V(s_t), the discounted return minus V —")
    print("    GAE with λ = 1 (unbiased, noisy), or in general Â_t = Σ_l (γλ)^l δ_{t+l} with δ's reward inside.\n")

    print("(c) Bias and variance against λ, with a deliberately wrong value function V̂ = V^π + ε(s)")
    curves = []
    for gamma in GAMMAS:
        prob = make_problem(gamma, args.seed, terminal_probability=0.02)
        eps = value_error(prob.mdp, args.seed + 20)
        curves.append(bias_variance_curve(prob, eps, LAMBDA_GRID, bv_episodes, args.seed + 30, max_steps=400))
    print(f"    ε(s) = 1 + 0.5·z(s), z ~ N(0,1) fixed per state: ε = {np.array2string(eps[:-1], precision=2)} (terminal 0)")
    print(f"    {bv_episodes:,} episodes per γ (episodes end w.p. 0.02 per step), statistics grouped by (s_t, a_t)")
    print("    target: Q^π(s_t,a_t) − V̂(s_t) = A^π(s_t,a_t) − ε(s_t), the advantage over the baseline GAE subtracts.")
    print("    (The −ε(s_t) part of the error is the same for every action in s_t, so it does not bias the policy")
    print("    gradient: GAE paper §3, λ = 1 is γ-just for any V̂. Measured against A^π itself — the 'raw' column —")
    print("    the picture reverses here: λ = 1 carries the whole −ε(s_t), while at λ = 0 the +γε(s_{t+1}) of δ_t")
    print("    nearly cancels it because ε is mostly a common offset. Which bias matters is the one the gradient sees.)")
    for c in curves:
        print(f"    γ = {c.gamma:g}:   λ     bias²    variance   MSE      (raw bias² vs A^π)")
        for i, lam in enumerate(c.lambdas):
            mark = "  ← min MSE" if i == int(np.argmin(c.mse)) else ""
            print(f"            {lam:4.2f}  {c.bias2[i]:8.4f}  {c.variance[i]:8.3f}  {c.mse[i]:8.3f}   "
                  f"({c.raw_bias2[i]:.3f}){mark}")
        where = "inside (0, 1)" if interior_minimum(c) else "AT AN END of [0, 1]"
        print(f"      min MSE at λ = {c.lambdas[int(np.argmin(c.mse))]:g}: {where}; bias² falls "
              f"{c.bias2[0]:.3f} → {c.bias2[-1]:.4f}, variance rises {c.variance[0]:.3f} → {c.variance[-1]:.3f}")
    exact_curve = bias_variance_curve(make_problem(0.99, args.seed, 0.02), np.zeros(6), (1.0,), bv_episodes // 2,
                                      args.seed + 40, max_steps=400)
    print(f"    control, exact V^π, γ = 0.99, λ = 1: bias² = {exact_curve.bias2[0]:.4f} against variance "
          f"{exact_curve.variance[0]:.2f}; sampling-noise floor Σ Var/N = {exact_curve.mc_floor[0]:.4f} → unbiased")
    bv_path = plot_bias_variance(curves, args.out)
    print(f"    figure: {bv_path}\n")

    print("(d) Sutton & Barto Fig. 12.3: offline λ-return algorithm, 19-state random walk (γ = 1, V₀ = 0)")
    print("    after each episode, in order: V(s_t) ← V(s_t) + α (G^λ_t − V(s_t)), G^λ_t = tf_gae.lambda_returns")
    rw = random_walk_offline_lambda_return(RW_LAMBDAS, RW_ALPHAS, rw_runs, args.seed)
    print(f"    RMS error over states 1..19, averaged over the first {rw.num_episodes} episodes and {rw.num_runs} runs:")
    print("       λ      best α   RMS at best α   RMS at α = 0.2 / 0.6 / 1.0")
    pick = [int(np.argmin(np.abs(rw.alphas - a))) for a in (0.2, 0.6, 1.0)]
    for i, lam in enumerate(rw.lambdas):
        j = int(np.argmin(rw.rms[i]))
        print(f"    {lam:6.3f}   {rw.alphas[j]:6.2f}   {rw.rms[i, j]:.3f} ± {rw.rms_stderr[i, j]:.3f}     "
              + " / ".join(f"{rw.rms[i, p]:.3f}" for p in pick))
    lam, alpha, err = best_setting(rw)
    print(f"    best over the grid: λ = {lam:g}, α = {alpha:g}, RMS {err:.3f} — intermediate λ wins, as in the book;")
    print("    λ = 0 (TD(0)) learns slowly at small α, λ = 1 (Monte Carlo) is noisy and blows up at large α.")
    rw_path = plot_random_walk(rw, args.out)
    print(f"    figure: {rw_path}\n")

    print("Summary")
    print(f"  (a) four definitions computed by tf_gae on one episode; identities to {float(table['sum_identity_error']):.0e}")
    print(f"  (b) article's formula: √bias² {comp.bias_article:.2f} vs GAE(λ=0.95) {comp.bias_gae[0.95]:.3f} with exact V "
          f"(|A^π| RMS {comp.rms_exact_advantage:.2f}); per-step RMS {comp.rms_article:.2f} vs "
          f"{comp.rms_gae[0.95]:.2f}; it reads no reward")
    print("  (c) bias²/variance/MSE over λ ∈ {0, 0.1, ..., 1} for γ ∈ {0.9, 0.99}: min MSE at λ = "
          + ", ".join(f"{c.lambdas[int(np.argmin(c.mse))]:g} (γ={c.gamma:g})" for c in curves))
    print(f"  (d) S&B Fig. 12.3 with {rw.num_runs} runs: best λ = {lam:g} at α = {alpha:g}, RMS {err:.3f}")
    print(f"  figures written to {args.out}/: " + ", ".join(p.name for p in (bv_path, rw_path)))
    print(f"  ({'quick' if args.quick else 'full'} run, seed {args.seed}, {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
