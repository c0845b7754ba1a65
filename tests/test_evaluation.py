"""The in-graph evaluation is gymnasium's evaluation of the policy's mode, episode for episode.

Reference: each episode replayed in gymnasium's own environment from the same start state (set on
`env.unwrapped.state`), acting with the policy's mode one observation at a time and summing gymnasium's
rewards in float64. CartPole's and Pendulum's in-graph physics equal gymnasium's to the last bit
(tests/test_envs*.py): CartPole's returns must be equal, Pendulum's equal to the float32 rounding of the
policy's actions.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tf_gae.evaluation import InGraphEvaluator
from tf_gae.models import build_actor_critic
from tf_gae.runs import mode_policy


def replayed_returns(model, env_id: str, start_physics: np.ndarray) -> np.ndarray:
    act = mode_policy(model)
    env = gym.make(env_id)
    returns = []
    for physics in start_physics:
        env.reset(seed=0)  # starts the time limit's count; the state is then set to the episode's own
        env.unwrapped.state = np.array(physics, np.float64)
        if env_id == "CartPole-v1":
            observation = np.array(env.unwrapped.state, np.float32)
        else:
            observation = env.unwrapped._get_obs()
        total, done = 0.0, False
        while not done:
            action = act(np.asarray(observation, np.float32)[None])[0]
            if isinstance(env.action_space, gym.spaces.Box):
                action = np.clip(action, env.action_space.low, env.action_space.high)
            observation, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return np.array(returns)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_every_episode_returns_what_gymnasium_returns_from_the_same_start(env_id):
    probe = gym.make(env_id)
    model = build_actor_critic(probe.observation_space, probe.action_space, hidden_sizes=(16,), seed=3)
    probe.close()
    evaluate = InGraphEvaluator(model, env_id, episodes=6, seed=10_000)
    for scale in (1.0, 4.0):  # the evaluator reads the weights at each call: larger ones, other episodes
        model.set_weights([w * scale for w in model.get_weights()])
        returns = evaluate()
        expected = replayed_returns(model, env_id, evaluate.start_physics())
        assert returns.shape == (6,) and returns.dtype == np.float64
        if env_id == "CartPole-v1":  # discrete actions: the same argmax, the same episode, the same count
            np.testing.assert_array_equal(returns, expected)
        else:  # the float32 actions can differ by an ulp (XLA's kernels and TensorFlow's), 6e-8 relative:
            np.testing.assert_allclose(returns, expected, rtol=1e-6)  # another episode differs by whole units
    if env_id == "CartPole-v1":
        assert len(set(returns.tolist())) > 1, "episodes of different lengths, or the test shows little"
    else:
        assert np.all(returns < 0)


def test_bad_arguments_are_refused_with_the_fix():
    probe = gym.make("CartPole-v1")
    model = build_actor_critic(probe.observation_space, probe.action_space, hidden_sizes=(4,))
    with pytest.raises(ValueError, match="episodes must be a whole number ≥ 1"):
        InGraphEvaluator(model, "CartPole-v1", episodes=0, seed=0)
    with pytest.raises(ValueError, match="'HalfCheetah-v5' has no in-graph version"):
        InGraphEvaluator(model, "HalfCheetah-v5", episodes=2, seed=0)
