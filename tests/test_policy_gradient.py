"""REINFORCE with and without a baseline agree in expectation with the exact policy gradient.

A two-step problem with a tabular softmax policy: from s0 action a leads to s_{1+a}; there one more
action ends the episode. The exact gradient comes from automatic differentiation of J(θ), enumerated
over all four trajectories; the estimators use advantages from tf_gae, and the trainers' own loss
(tf_gae.losses.policy_gradient_loss) is shown to have the estimator's gradient. γ = 1 so that dropping the γ^t factor (as every implementation does) is exact.
"""

from __future__ import annotations

import numpy as np

import tf_gae
import tf_gae.losses
from tf_gae._tf import tf

REWARD_FIRST = np.array([1.0, 0.0])  # r(s0, a)
REWARD_SECOND = np.array([[0.0, 2.0], [3.0, -1.0]])  # r(s1, a), r(s2, a)
LOGITS = np.array([[0.3, -0.2], [0.5, 0.1], [-0.4, 0.6]])  # θ[s, a]


def exact_gradient() -> np.ndarray:
    theta = tf.Variable(LOGITS)
    with tf.GradientTape() as tape:
        policy = tf.nn.softmax(theta)  # [3, 2]
        objective = 0.0
        for a0 in range(2):
            for a1 in range(2):
                probability = policy[0, a0] * policy[1 + a0, a1]
                objective += probability * (REWARD_FIRST[a0] + REWARD_SECOND[a0, a1])
    return tape.gradient(objective, theta).numpy()


def sample_episodes(num_episodes: int, seed: int):
    rng = np.random.default_rng(seed)
    policy = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
    a0 = (rng.random(num_episodes) < policy[0, 1]).astype(int)
    s1 = 1 + a0
    a1 = (rng.random(num_episodes) < policy[s1, 1]).astype(int)
    states = np.stack([np.zeros(num_episodes, int), s1])  # [T=2, N]
    actions = np.stack([a0, a1])  # [T, N]
    rewards = np.stack([REWARD_FIRST[a0], REWARD_SECOND[a0, a1]])  # [T, N]
    return states, actions, rewards, policy


def per_episode_gradients(states, actions, advantages, policy) -> np.ndarray:
    """g_i = Σ_t ∇_θ log π(a_t|s_t) Â_t, with ∇_θ[s,·] log softmax = onehot(a) − π(s) at row s_t."""
    num_steps, num_episodes = states.shape
    gradients = np.zeros((num_episodes, 3, 2))
    for t in range(num_steps):
        score = np.eye(2)[actions[t]] - policy[states[t]]  # [N, 2]
        gradients[np.arange(num_episodes), states[t]] += score * advantages[t][:, None]
    return gradients


def test_reinforce_with_and_without_baseline_match_the_exact_gradient():
    expected = exact_gradient()
    states, actions, rewards, policy = sample_episodes(40_000, seed=0)
    terminated = np.zeros_like(rewards, bool)
    terminated[-1] = True
    returns = tf_gae.discounted_returns(rewards, terminated, gamma=1.0).numpy()  # G_t  [T, N]
    # Baseline: exact V^π(s) (any function of the state leaves the estimator unbiased).
    second_values = (policy[1:] * REWARD_SECOND).sum(axis=1)  # V(s1), V(s2)
    state_values = np.array([(policy[0] * (REWARD_FIRST + second_values)).sum(), *second_values])
    values = state_values[states]  # [T, N]
    next_values = np.stack([values[1], np.zeros_like(values[1])])
    with_baseline = tf_gae.gae(rewards, values, next_values, terminated, gamma=1.0, lambda_=1.0).advantages.numpy()
    np.testing.assert_allclose(with_baseline, returns - values, atol=1e-10)  # λ = 1: G − V

    spreads = {}
    for name, advantages in [("no baseline", returns), ("baseline", with_baseline)]:
        gradients = per_episode_gradients(states, actions, advantages, policy)
        estimate = gradients.mean(axis=0)
        standard_error = gradients.std(axis=0) / np.sqrt(len(gradients)) + 1e-12
        z_scores = np.abs(estimate - expected) / standard_error
        assert z_scores.max() < 4.5, f"{name}: estimate {estimate} vs exact {expected} (z = {z_scores.max():.1f})"
        spreads[name] = gradients.std(axis=0).sum()
        # The trainers' own loss, tf_gae.losses.policy_gradient_loss: −mean over the T·N samples of
        # log π(a_t|s_t) Â_t, so T times its negative gradient is the per-episode estimator's mean.
        theta = tf.Variable(LOGITS)
        with tf.GradientTape() as tape:
            log_policy = tf.nn.log_softmax(theta)
            log_probs = tf.gather_nd(log_policy, np.stack([states, actions], axis=-1))  # [T, N]
            loss = tf_gae.losses.policy_gradient_loss(log_probs, tf.constant(advantages))
        num_steps = states.shape[0]
        np.testing.assert_allclose(-num_steps * tape.gradient(loss, theta).numpy(), estimate, atol=1e-8)
    assert spreads["baseline"] < 0.9 * spreads["no baseline"], spreads  # measured: 3.33 vs 3.95
