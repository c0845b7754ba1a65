"""A worked GAE example on one short rollout, printed as a table (`tf-gae demo`). Chapter 3 walks through it.

Two environments side by side for eight steps: the first episode of env 0 ends in a terminal state, the
first of env 1 is cut by a time limit and bootstraps from V(final observation). The table shows every
quantity of the recursion, so each number can be checked by hand.
"""

from __future__ import annotations

import numpy as np

from tf_gae.advantages import gae, td_residuals

__all__ = ["sample_rollout", "gae_table"]


def sample_rollout() -> dict[str, np.ndarray]:
    """A small time-major `[T=8, B=2]` rollout with one termination and one truncation."""
    rewards = np.array(
        [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [10.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
        np.float32,
    )  # [T, B]
    values = np.array(
        [[4.0, 0.5], [3.5, 0.6], [2.0, 0.7], [6.0, 0.8], [2.5, 0.3], [2.0, 0.4], [1.5, 0.5], [1.0, 0.6]],
        np.float32,
    )  # V(s_t), [T, B]
    next_values = np.array(
        [[3.5, 0.6], [2.0, 0.7], [6.0, 0.8], [0.0, 0.9], [2.0, 0.4], [1.5, 0.5], [1.0, 0.6], [0.8, 0.7]],
        np.float32,
    )  # V(s_{t+1}); env 0 step 3 is terminal (its 0.0 is never read); env 1 step 3 is V(final obs) = 0.9
    terminated = np.zeros((8, 2), bool)
    terminated[3, 0] = True
    truncated = np.zeros((8, 2), bool)
    truncated[3, 1] = True
    return dict(rewards=rewards, values=values, next_values=next_values, terminated=terminated, truncated=truncated)


def gae_table(gamma: float = 0.99, lambda_: float = 0.95) -> str:
    """The sample rollout's δ_t, Â_t and R^λ_t as an aligned text table."""
    rollout = sample_rollout()
    output = gae(**rollout, gamma=gamma, lambda_=lambda_)
    deltas = td_residuals(
        rollout["rewards"], rollout["values"], rollout["next_values"], rollout["terminated"], gamma=gamma
    ).numpy()
    advantages, returns = output.advantages.numpy(), output.returns.numpy()
    header = f"{'env':>3} {'t':>2} {'r_t':>6} {'V(s_t)':>7} {'V(s_t+1)':>8} {'end':>5} {'δ_t':>8} {'Â_t':>8} {'R^λ_t':>8}"
    lines = [
        f"GAE(γ={gamma}, λ={lambda_}) on a sample rollout of T=8 steps in B=2 environments",
        "  δ_t = r_t + γ (1 − terminated_t) V(s_t+1) − V(s_t)",
        "  Â_t = δ_t + γλ (1 − terminated_t)(1 − truncated_t) Â_t+1      R^λ_t = Â_t + V(s_t)",
        "",
        header,
        "-" * len(header),
    ]
    for env in range(rollout["rewards"].shape[1]):
        for t in range(rollout["rewards"].shape[0]):
            end = "term" if rollout["terminated"][t, env] else ("trunc" if rollout["truncated"][t, env] else "")
            next_value = "—" if rollout["terminated"][t, env] else f"{rollout['next_values'][t, env]:.2f}"
            lines.append(
                f"{env:>3} {t:>2} {rollout['rewards'][t, env]:>6.2f} {rollout['values'][t, env]:>7.2f} "
                f"{next_value:>8} {end:>5} {deltas[t, env]:>8.3f} {advantages[t, env]:>8.3f} {returns[t, env]:>8.3f}"
            )
        lines.append("")
    lines.append(
        "end: 'term' = terminal state, no bootstrap; 'trunc' = time limit, bootstraps from V(final observation); "
        "no advantage flows back across either."
    )
    return "\n".join(lines)
