"""Chapter 2 — the core concepts of GAE, computed on MDPs with exact answers (the article's section 2).

Run it:  python -m chapters.ch2_concept [--quick] [--out DIR] [--seed S]

  (a) the four definitions — advantage A^π, TD residual δ, λ-return G^λ and GAE Â — in plain text,
      each printed beside the library call that computes it, on one episode of a random MDP;
  (b) the article's formula exactly as printed, A(s,a,t) = Σ_{k=0}^{T−1} γ^k V(s_{t+k}) − V(s_t), set
      beside GAE with the exact V^π: it does not read a reward, and it is biased — the error of its mean
      per (s, a) (√bias² 1.04 in the full run) is twice the size of A^π itself (RMS 0.45), while GAE's is
      sampling noise (0.01–0.03, shrinking with more episodes). One GAE sample is not closer: per step its
      RMS error is 0.76–1.75 against the article's 1.33, because a single sample carries the randomness of
      the actions and next states.
      What it was probably meant to be: Σ_k γ^k r_{t+k} − V(s_t), the discounted return minus V, which
      is GAE with λ = 1;
  (c) bias and variance where the policy gradient sees them: the estimate ĝ = Σ_t ∇_θ log π(a_t|s_t) Â_t,
      its exact mean and covariance over all 46,656 episodes of a 6-step MDP (figure
      ch2_gradient_bias_variance.png). γ-justness and the paper's Proposition 1 are stated first. Against λ
      at γ = 1 with three value functions: the exact V^π and V^π + 1 (a pure offset) give zero bias at every
      λ — the offset changes Â_t only through the episode's last δ, by −λ^{N−1} with N the steps left, and
      N is fixed by the state when time is part of it, so the change cancels in Σ_a π ∇log π — and the
      offset costs only variance (on an MDP where the actions change how long an episode lasts, the same offset does
      bias λ < 1, printed as a contrast); V^π + 1 + 0.5 z(s) biases every λ < 1 (by 31% of ‖∇J‖ at λ = 0) and λ = 1 not at all. The
      error of an N-episode mean, bias² + tr Cov / N, is smallest at λ = 0.3 for N = 1 and 0.7 for N = 1,000.
      Against the estimator's γ with its exact V^{π,γ}: γ < 1 biases the gradient of the undiscounted return
      whatever V̂ is (0.073 at γ = 0.5, 0.0014 at 0.99) and shrinks its spread. The per-(s, a) error of
      Â against A^π — this chapter's first edition measured it — is shown only as a contrast: 66× larger than
      its action-centred part, the only part the gradient sees;
  (d) Sutton & Barto's Figure 12.3: the offline λ-return algorithm on the 19-state random walk, RMS
      error over the first 10 episodes against the step size α, one curve per λ, with the λ-returns
      from tf_gae.lambda_returns (figure ch2_random_walk.png).

References: Schulman, Moritz, Levine, Jordan, Abbeel, "High-Dimensional Continuous Control Using
Generalized Advantage Estimation", ICLR 2016, arXiv:1506.02438 (§2–3: the discounted policy gradient g^γ,
γ-just estimators, Proposition 1); Sutton, McAllester, Singh, Mansour, "Policy Gradient Methods for
Reinforcement Learning with Function Approximation", NeurIPS 2000 (the policy gradient theorem);
Sutton & Barto, "Reinforcement Learning: An Introduction", 2nd ed. 2018, §12.1 (λ-return, offline λ-return
algorithm, Figure 12.3) and Example 7.1 (the 19-state random walk).
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
from chapters._contract import parse_chapter_args, print_exercises
from tf_gae._tf import tf

__all__ = [
    "Problem",
    "make_problem",
    "definitions_table",
    "ArticleComparison",
    "article_comparison",
    "article_reward_invariance",
    "GradientProblem",
    "gradient_problem",
    "value_estimates",
    "gradient_moments",
    "LambdaStudy",
    "lambda_study",
    "GammaStudy",
    "gamma_study",
    "offset_bias_random_ends",
    "per_pair_view",
    "plot_gradient_bias_variance",
    "RandomWalkResult",
    "random_walk_offline_lambda_return",
    "best_setting",
    "plot_random_walk",
    "EXERCISES",
    "main",
]

FIGURE_NAMES = ("ch2_gradient_bias_variance.png", "ch2_random_walk.png")
LAMBDA_GRID = tuple(np.round(np.linspace(0.0, 1.0, 11), 2).tolist())
GRADIENT_HORIZON = 6  # steps of every episode of (c)'s MDP: (2·3)^5·2·3 = 46,656 episodes to enumerate
ESTIMATOR_GAMMAS = (0.5, 0.8, 0.9, 0.95, 0.99, 1.0)
BATCH_SIZES = (1, 10, 100, 1000)
OFFSET_CONTRAST_LAMBDAS = (0.0, 0.5, 1.0)
RW_LAMBDAS = (0.0, 0.4, 0.8, 0.9, 0.95, 0.975, 0.99, 1.0)
RW_ALPHAS = tuple(np.round(np.linspace(0.05, 1.0, 20), 3).tolist())
EXERCISES = (
    "(derive) With γ = 1 and V̂ = V^π + c on every non-terminal state, what is Â_t(V̂) − Â_t(V^π) at a step with\n"
    "N steps left in its episode? Why does it not bias the policy gradient here? [exercise_1(c, λ, N)]",
    "(compute) Without listing any episode, compute ‖E[ĝ] − ∇J‖ of (c) at λ = 0.5 for V̂ = V^π + 1 + 0.5·z(s),\n"
    "from tf_gae.mdp.expected_gae, state_visits, gradient_from_advantages and policy_gradient. [exercise_2()]",
    "(modify and predict) Which λ on the grid 0, 0.1, …, 1 minimises the error of the mean of N = 10,000\n"
    "episodes' ĝ, for the same V̂? Predict from the table, then check with LambdaStudy.batch_mse. [exercise_3()]",
)
"""Printed at the end of the walk-through; answers in chapters/answers/ch2.py, checked by tests/test_exercises.py."""
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
# (c) Bias and variance of the policy-gradient estimate, exactly.
# ==================================================================================================


@dataclass(frozen=True)
class GradientProblem:
    """A time-indexed MDP (every episode 6 steps), a random policy, and every episode listed with its probability.

    The objective is the undiscounted return J(θ) = E[Σ_t r_t] (the MDP's γ is 1); the estimators below may
    discount with their own γ. The policy is the tabular softmax π(·|s) = softmax(θ[s]).
    """

    mdp: tabular.TabularMDP
    policy: np.ndarray  # [S, A]
    values: np.ndarray  # [S]: V^π of the undiscounted objective
    gradient: np.ndarray  # [S, A]: ∇_θ J, policy gradient theorem (linear solves)
    probabilities: np.ndarray  # [M]: p(τ) of every episode
    episodes: tabular.Trajectories  # [T, M]: every episode


def gradient_problem(seed: int, horizon: int = GRADIENT_HORIZON) -> GradientProblem:
    """time_indexed_mdp(S=3, A=2, H=`horizon`) with γ = 1, a random policy, and its (2·3)^(H−1)·2·3 episodes."""
    mdp = tabular.time_indexed_mdp(num_states=3, num_actions=2, horizon=horizon, gamma=1.0, seed=seed)
    policy = tabular.random_policy(mdp, seed=seed + 1)
    probabilities, episodes = tabular.enumerate_episodes(mdp, policy, max_steps=horizon)
    return GradientProblem(mdp, policy, tabular.policy_evaluation(mdp, policy), tabular.policy_gradient(mdp, policy),
                           probabilities, episodes)


def value_estimates(problem: GradientProblem, seed: int) -> dict[str, np.ndarray]:
    """Three V̂ `[S]`: exact V^π; V^π + 1 (a pure offset); V^π + 1 + 0.5 z(s), z ~ N(0, 1) per state. 0 when terminal."""
    live = (~problem.mdp.terminal).astype(float)
    z = np.random.default_rng(seed).normal(size=problem.mdp.num_states)
    return {
        "exact V^π": problem.values.copy(),
        "V^π + 1 (offset)": problem.values + live,
        "V^π + 1 + 0.5·z(s)": problem.values + live * (1.0 + 0.5 * z),
    }


def gradient_moments(problem: GradientProblem, values: np.ndarray, gamma: float,
                     lambda_: float) -> tuple[np.ndarray, float]:
    """(E[ĝ] `[S, A]`, tr Cov[ĝ]) of one episode's ĝ = Σ_t ∇_θ log π(a_t|s_t) Â_t, Â = GAE(γ, λ) with V̂ = `values`.

    Exact: Â is tf_gae.gae on every episode, and the moments are sums weighted by p(τ).
    """
    episodes = problem.episodes
    advantages = tf_gae.gae(episodes.rewards, values[episodes.states], values[episodes.next_states], episodes.terminated,
                            episodes.truncated, gamma=gamma, lambda_=lambda_).advantages.numpy()  # [T, M]
    estimates = tabular.score_function_gradients(episodes, problem.policy, advantages)  # [M, S, A]
    mean = np.einsum("m,msa->sa", problem.probabilities, estimates)  # E[ĝ]
    second_moment = float(np.einsum("m,msa->", problem.probabilities, estimates**2))  # E[‖ĝ‖²]
    return mean, second_moment - float(np.sum(mean**2))  # tr Cov = E‖ĝ‖² − ‖Eĝ‖²


def offset_bias_random_ends(seed: int, offset: float = 1.0, end_probabilities: tuple[float, float] = (0.1, 0.5)) -> dict:
    """‖E[ĝ] − ∇J‖ for V̂ = V^π + `offset` at each λ of OFFSET_CONTRAST_LAMBDAS, from linear solves
    (tf_gae.mdp.expected_gae), on random_mdp(4 states, 2 actions, γ = 1) changed so that action a ends the
    episode with probability end_probabilities[a]: no time in the state, and how long an episode lasts
    depends on the actions taken."""
    base_end = 0.3  # random_mdp's probability of ending, the same for every action
    base = tabular.random_mdp(num_states=4, num_actions=2, gamma=1.0, seed=seed, terminal_probability=base_end)
    transitions = np.array(base.transitions)  # [S, A, S]
    end = base.num_states - 1
    for action, p_end in enumerate(end_probabilities):
        transitions[:end, action, :end] *= (1.0 - p_end) / (1.0 - base_end)  # the rest of the row keeps its proportions
        transitions[:end, action, end] = p_end
    mdp = tabular.TabularMDP(transitions, base.rewards, base.terminal, base.initial, 1.0,
                             name=f"random_mdp(S=4, A=2, seed={seed}) with action-dependent ends {end_probabilities}")
    policy = tabular.random_policy(mdp, seed=seed + 1)
    values = tabular.policy_evaluation(mdp, policy) + offset * (~mdp.terminal)
    gradient = tabular.policy_gradient(mdp, policy)
    visits = tabular.state_visits(mdp, policy, gamma=1.0)
    result: dict = dict(name=mdp.name, gradient_norm=float(np.linalg.norm(gradient)))
    for lam in OFFSET_CONTRAST_LAMBDAS:
        mean = tabular.gradient_from_advantages(visits, policy, tabular.expected_gae(mdp, policy, values, 1.0, lam))
        result[lam] = float(np.linalg.norm(mean - gradient))
    return result


@dataclass(frozen=True)
class LambdaStudy:
    """Against λ at γ = 1, for each V̂: the gradient's bias ‖E[ĝ] − ∇J‖ and variance tr Cov[ĝ] (one episode)."""

    lambdas: np.ndarray  # [L]
    labels: tuple[str, ...]  # [K]: the V̂ of each row
    bias: np.ndarray  # [K, L]
    variance: np.ndarray  # [K, L]
    gradient_norm: float  # ‖∇J‖, the scale of the bias
    num_episodes: int  # M, every episode with p(τ) > 0
    linear_solve_error: float
    """max |E[ĝ] by enumeration − E[ĝ] from tf_gae.mdp.expected_gae (a linear solve)| over V̂ and λ."""

    def batch_mse(self, row: int, batch_size: int) -> np.ndarray:
        """E‖ḡ_N − ∇J‖² of the mean of `batch_size` independent episodes: bias² + tr Cov / N, `[L]`."""
        return self.bias[row] ** 2 + self.variance[row] / batch_size


def lambda_study(problem: GradientProblem, estimates: dict[str, np.ndarray],
                 lambdas: Sequence[float] = LAMBDA_GRID) -> LambdaStudy:
    visits = tabular.state_visits(problem.mdp, problem.policy)
    bias, variance, check = [], [], 0.0
    for values in estimates.values():
        row_bias, row_variance = [], []
        for lam in lambdas:
            mean, trace = gradient_moments(problem, values, 1.0, lam)
            linear = tabular.gradient_from_advantages(
                visits, problem.policy, tabular.expected_gae(problem.mdp, problem.policy, values, 1.0, lam))
            check = max(check, float(np.max(np.abs(mean - linear))))
            row_bias.append(float(np.linalg.norm(mean - problem.gradient)))
            row_variance.append(trace)
        bias.append(row_bias)
        variance.append(row_variance)
    return LambdaStudy(np.asarray(lambdas, float), tuple(estimates), np.array(bias), np.array(variance),
                       float(np.linalg.norm(problem.gradient)), int(problem.probabilities.size), check)


@dataclass(frozen=True)
class GammaStudy:
    """Against the estimator's γ, with its exact V̂ = V^{π,γ}: what discounting does to the gradient of J."""

    gammas: np.ndarray  # [G]
    lambda_: float
    bias: np.ndarray  # [G]: ‖E[ĝ] − ∇J‖, J undiscounted
    variance: np.ndarray  # [G]: tr Cov[ĝ]
    just_error: np.ndarray
    """[G]: max |E[ĝ] − g^γ|, g^γ = Σ_s d(s) Σ_a π ∇log π A^{π,γ} (γ-justness: 0 up to rounding)."""
    gradient_norm: float


def gamma_study(problem: GradientProblem, gammas: Sequence[float] = ESTIMATOR_GAMMAS, lambda_: float = 1.0) -> GammaStudy:
    visits = tabular.state_visits(problem.mdp, problem.policy)  # undiscounted: the objective's γ = 1
    bias, variance, just = [], [], []
    for gamma in gammas:
        discounted = tabular.TabularMDP(problem.mdp.transitions, problem.mdp.rewards, problem.mdp.terminal,
                                        problem.mdp.initial, gamma)
        mean, trace = gradient_moments(problem, tabular.policy_evaluation(discounted, problem.policy), gamma, lambda_)
        target = tabular.gradient_from_advantages(visits, problem.policy, tabular.advantages(discounted, problem.policy))
        bias.append(float(np.linalg.norm(mean - problem.gradient)))
        variance.append(trace)
        just.append(float(np.max(np.abs(mean - target))))
    return GammaStudy(np.asarray(gammas, float), float(lambda_), np.array(bias), np.array(variance), np.array(just),
                      float(np.linalg.norm(problem.gradient)))


def per_pair_view(problem: GradientProblem, values: np.ndarray, lambda_: float) -> tuple[float, float]:
    """The per-(s, a) view, as a contrast: (bias² of E[Â|s,a] against A^π, its action-centred part), both
    averaged over visited pairs with weight d(s)π(a|s). Only the action-centred part reaches the gradient."""
    visits = tabular.state_visits(problem.mdp, problem.policy)
    weight = visits[:, None] * problem.policy / visits.sum()  # [S, A]
    error = tabular.expected_gae(problem.mdp, problem.policy, values, 1.0, lambda_) - tabular.advantages(
        problem.mdp, problem.policy)  # [S, A]
    centred = error - np.sum(problem.policy * error, axis=1, keepdims=True)
    return float(np.sum(weight * error**2)), float(np.sum(weight * centred**2))


def plot_gradient_bias_variance(lambdas: LambdaStudy, gammas: GammaStudy, out_dir: Path) -> Path:
    """Figure (2 × 2): bias and spread of ĝ against λ for three V̂, the MSE of an N-episode mean, and against γ."""
    fig = _figure(11.5, 8.2)
    (ax_bias, ax_spread), (ax_mse, ax_gamma) = fig.subplots(2, 2)
    markers = (dict(marker="o", ms=8, mfc="none", lw=2.5), dict(marker="s", ms=3.5, lw=1.2), dict(marker="^", ms=4, lw=1.5))
    for k, label in enumerate(lambdas.labels):
        ax_bias.plot(lambdas.lambdas, lambdas.bias[k], color=f"C{k}", label=label, **markers[k])
        ax_spread.plot(lambdas.lambdas, np.sqrt(lambdas.variance[k]), color=f"C{k}", label=label, **markers[k])
    ax_bias.set_title("bias of one episode's ĝ at γ = 1: ‖E[ĝ] − ∇J‖\n"
                      "exact V^π (hollow circles) and the offset V̂ (squares) are 0 at every λ", fontsize=9)
    ax_bias.set_ylabel("‖E[ĝ] − ∇J‖ (return units)")
    ax_spread.set_title("spread of one episode's ĝ at γ = 1: √tr Cov[ĝ]", fontsize=9)
    ax_spread.set_ylabel("√tr Cov[ĝ] (return units)")
    row = len(lambdas.labels) - 1
    for j, batch_size in enumerate(BATCH_SIZES):
        mse = lambdas.batch_mse(row, batch_size)
        best = int(np.argmin(mse))
        ax_mse.plot(lambdas.lambdas, mse, color=f"C{j + 3}", marker="o", ms=3.5,
                    label=f"N = {batch_size:,}: best λ = {lambdas.lambdas[best]:g}")
        ax_mse.plot([lambdas.lambdas[best]], [mse[best]], "k*", ms=9)
    ax_mse.set_yscale("log")  # the batch sizes span three decades of MSE
    ax_mse.set_ylim(top=30 * float(np.max(lambdas.batch_mse(row, BATCH_SIZES[0]))))  # room for the legend above
    ax_mse.set_ylabel("bias² + tr Cov / N (return units²)")
    ax_mse.set_title(f"error of the mean of N episodes' ĝ, V̂ = {lambdas.labels[row]}\n"
                     "★ = the best λ for that batch size", fontsize=9)
    for ax in (ax_bias, ax_spread, ax_mse):
        ax.set_xlabel("λ (GAE parameter, dimensionless)")
    ax_bias.legend(fontsize=7.5)
    ax_spread.legend(fontsize=7.5)
    ax_mse.legend(fontsize=7.5, ncol=2, loc="upper center")
    ax_gamma.plot(gammas.gammas, gammas.bias, "C0-o", ms=4, label="bias ‖E[ĝ] − ∇J‖ (left axis)")
    ax_gamma.set_ylabel("‖E[ĝ] − ∇J‖, J undiscounted (return units)", color="C0")
    ax_gamma.tick_params(axis="y", colors="C0")
    twin = ax_gamma.twinx()  # the spread is ten times the bias: its own axis, coloured to match
    twin.plot(gammas.gammas, np.sqrt(gammas.variance), "C1--s", ms=4, label="spread √tr Cov[ĝ] (right axis)")
    twin.set_ylabel("√tr Cov[ĝ] (return units)", color="C1")
    twin.tick_params(axis="y", colors="C1")
    ax_gamma.set_xlabel("the estimator's discount γ (dimensionless)")
    ax_gamma.set_title(f"against γ with the exact V̂ = V^{{π,γ}} (λ = {gammas.lambda_:g}):\n"
                       "γ < 1 buys less spread with a bias no value function removes", fontsize=9)
    handles = ax_gamma.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax_gamma.legend(handles, [h.get_label() for h in handles], fontsize=7.5, loc="center left")
    for ax in (ax_bias, ax_spread, ax_mse, ax_gamma):
        ax.grid(alpha=0.3, which="both")
    fig.suptitle("Exact bias and variance of the policy-gradient estimate ĝ = Σ_t ∇log π(a_t|s_t) Â_t\n"
                 f"{lambdas.num_episodes:,} episodes of a 6-step MDP, every one enumerated with its probability",
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
    print("    (its per-step RMS carries the randomness of the actions and next states), but GAE is unbiased: its error")
    print("    of the mean is sampling noise that shrinks with more episodes; the article's does not shrink — more data")
    print("    cannot fix it.")
    print(f"    it ignores rewards: rewards ×10 moves it by {inv['article_scaled']:.1e}, rewards +3 by "
          f"{inv['article_shifted']:.1e};")
    print(f"    the exact advantage moves by up to {inv['advantage_change']:.2f} under ×10 and becomes exactly 10·A^π "
          f"(error {inv['advantage_scale_error']:.1e}).")
    print("    It is a discounted sum of values, not an advantage: even averaged, it is further from A^π than answering 0.")
    print("    What it was probably meant to be: Σ_{k=0}^{T−t−1} γ^k r_{t+k} − V(s_t), the discounted return minus V —")
    print("    GAE with λ = 1 (unbiased, noisy), or in general Â_t = Σ_l (γλ)^l δ_{t+l} with δ's reward inside.\n")

    print("(c) Bias and variance where the policy gradient sees them: the estimate ĝ = Σ_t ∇_θ log π(a_t|s_t) Â_t")
    print("    Definitions (GAE paper §2–3). The gradient of the discounted objective that GAE targets is")
    print("      g^γ = E[Σ_t A^{π,γ}(s_t, a_t) ∇_θ log π(a_t|s_t)],  A^{π,γ} the advantage under discount γ.")
    print("    An estimator Â_t is γ-just if E[Â_t ∇_θ log π(a_t|s_t)] = E[A^{π,γ}(s_t, a_t) ∇_θ log π(a_t|s_t)] for every t")
    print("      (Definition 1): used in place of A^{π,γ} in g^γ it adds no bias.")
    print("    Proposition 1: Â_t is γ-just if Â_t = Q_t − b_t, where Q_t depends only on s_t, a_t and what follows,")
    print("      b_t only on s_0..s_t, a_0..a_{t−1} (a baseline), and E[Q_t | s_t, a_t] = Q^{π,γ}(s_t, a_t). So GAE(γ, 1) =")
    print("      Σ_l γ^l r_{t+l} − V̂(s_t) is γ-just for ANY V̂; GAE(γ, λ < 1) is γ-just when V̂ = V^{π,γ}, and otherwise")
    print("      biased by whatever part of V̂'s error makes E[Â_t | s_t, a_t] depend on a_t beyond A^{π,γ}.")
    print("    Two different biases follow: γ < 1 biases g^γ away from ∇J of the undiscounted return, whatever V̂ is;")
    print("    λ < 1 biases only where V̂ is wrong — and only through the part of its error that depends on the action.")
    gp = gradient_problem(args.seed)
    estimates = value_estimates(gp, args.seed + 20)
    study = lambda_study(gp, estimates)
    print(f"    Problem: {gp.mdp.name}; J = E[Σ_t r_t] (undiscounted), every one of its {gp.probabilities.size:,} episodes")
    print("    listed with its probability, so E[ĝ] and tr Cov[ĝ] are exact sums (no sampling). ∇J by the policy")
    print(f"    gradient theorem (linear solves); ‖∇J‖ = {study.gradient_norm:.3f}. Â = tf_gae.gae on all episodes at once.")
    print(f"    check: E[ĝ] from the enumeration = E[ĝ] from tf_gae.mdp.expected_gae (a linear solve) to "
          f"{study.linear_solve_error:.1e}")
    print("    Against λ at γ = 1, one episode's ĝ: bias ‖E[ĝ] − ∇J‖ / spread √tr Cov[ĝ]")
    print("       λ    " + "".join(f"{label:>24s}" for label in study.labels))
    for i, lam in enumerate(study.lambdas):
        print(f"    {lam:5.2f}   " + "".join(f"{study.bias[k, i]:10.2e} / {np.sqrt(study.variance[k, i]):6.3f}   "
                                       for k in range(len(study.labels))))
    offset_bias = float(np.max(study.bias[:2]))
    print(f"    exact V^π and the pure offset V^π + 1: bias ≤ {offset_bias:.1e} at every λ — zero up to rounding. The")
    print("    offset cancels in every δ but the episode's last (no V after the end), so it moves Â_t by −λ^{N−1},")
    print("    N = steps left; here the state holds the time step, so N depends on s_t alone, and an amount that")
    print("    is the same for every action cancels in Σ_a π ∇log π (tf_gae.mdp.gradient_from_advantages centres it")
    print(f"    away). It still costs variance: at λ = 1 the spread is {np.sqrt(study.variance[1, -1]):.3f} against "
          f"{np.sqrt(study.variance[0, -1]):.3f}.")
    contrast = offset_bias_random_ends(args.seed)
    print(f"    Contrast: on {contrast['name']}, N depends on the actions, and the")
    print("    same offset biases λ < 1: ‖E[ĝ] − ∇J‖ = " + ", ".join(
        f"{contrast[lam]:.3f} at λ = {lam:g}" for lam in OFFSET_CONTRAST_LAMBDAS)
          + f" (‖∇J‖ = {contrast['gradient_norm']:.3f}; linear solves, no sampling).")
    print("    V^π + 1 + 0.5·z(s): its error varies between next states, so E[γ ε(s_{t+1}) | s_t, a_t] depends on a_t —")
    print(f"    bias {study.bias[2, 0]:.3f} at λ = 0 ({study.bias[2, 0] / study.gradient_norm:.0%} of ‖∇J‖), falling to "
          f"{study.bias[2, -1]:.1e} at λ = 1 (γ-just), while the spread grows {np.sqrt(study.variance[2, 0]):.3f} → "
          f"{np.sqrt(study.variance[2, -1]):.3f}.")
    print("    Averaging N episodes divides the variance by N and leaves the bias, so the best λ depends on the batch:")
    for batch_size in BATCH_SIZES:
        mse = study.batch_mse(2, batch_size)
        best = int(np.argmin(mse))
        print(f"      N = {batch_size:5,}: E‖ḡ_N − ∇J‖² is smallest at λ = {study.lambdas[best]:g} ({mse[best]:.2e}; "
              f"λ = 0: {mse[0]:.2e}, λ = 1: {mse[-1]:.2e})")
    per_pair, centred = per_pair_view(gp, estimates["V^π + 1 + 0.5·z(s)"], 0.0)
    print("    Contrast — the per-(s, a) view (this chapter's first edition): the bias² of E[Â_t | s, a] against A^π at")
    print(f"    λ = 0 is {per_pair:.4f} averaged over visited pairs, but its action-centred part, the only part the gradient")
    print(f"    sees, is {centred:.4f} ({per_pair / max(centred, 1e-300):.0f}× smaller): a per-(s, a) error mostly measures V̂'s offset.")
    gammas = gamma_study(gp)
    print("    Against the estimator's γ, each with its own exact V̂ = V^{π,γ} (λ = 1; with the exact V̂ every λ has this mean):")
    print("       γ      bias ‖E[ĝ] − ∇J‖   spread √tr Cov[ĝ]   max |E[ĝ] − g^γ| (γ-just)")
    for i, gamma in enumerate(gammas.gammas):
        print(f"    {gamma:5.2f}       {gammas.bias[i]:9.3e}          {np.sqrt(gammas.variance[i]):7.3f}          "
              f"{gammas.just_error[i]:.1e}")
    print(f"    γ < 1 is a bias no value function removes (V̂ is exact here): {gammas.bias[0]:.3f} at γ = "
          f"{gammas.gammas[0]:g}, {gammas.bias[-2]:.4f} at γ = {gammas.gammas[-2]:g}; in exchange the spread shrinks "
          f"{np.sqrt(gammas.variance[-1]):.3f} → {np.sqrt(gammas.variance[0]):.3f}.")
    bv_path = plot_gradient_bias_variance(study, gammas, args.out)
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

    print_exercises("chapters.ch2_concept", EXERCISES)
    print("Summary")
    print(f"  (a) four definitions computed by tf_gae on one episode; identities to {float(table['sum_identity_error']):.0e}")
    print(f"  (b) article's formula: √bias² {comp.bias_article:.2f} vs GAE(λ=0.95) {comp.bias_gae[0.95]:.3f} with exact V "
          f"(|A^π| RMS {comp.rms_exact_advantage:.2f}); per-step RMS {comp.rms_article:.2f} vs "
          f"{comp.rms_gae[0.95]:.2f}; it reads no reward")
    print(f"  (c) exact gradient bias at λ = 0 / 1: {study.bias[2, 0]:.3f} / {study.bias[2, -1]:.0e} with V̂ = V^π + 1 + 0.5z, "
          f"≤ {offset_bias:.0e} with a pure offset; γ = {gammas.gammas[0]:g} biases by {gammas.bias[0]:.3f} with the exact V̂; "
          "best λ for N = " + ", ".join(f"{n:,}: {study.lambdas[int(np.argmin(study.batch_mse(2, n)))]:g}" for n in BATCH_SIZES))
    print(f"  (d) S&B Fig. 12.3 with {rw.num_runs} runs: best λ = {lam:g} at α = {alpha:g}, RMS {err:.3f}")
    print(f"  figures written to {args.out}/: " + ", ".join(p.name for p in (bv_path, rw_path)))
    print(f"  ({'quick' if args.quick else 'full'} run, seed {args.seed}, {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
