"""The Python API: tf_gae.train / tf_gae.load / Agent.predict / Agent.evaluate, as a user's script calls them.

The environment is defined here, in the "user's" file, and never registered by hand: `train` takes the
class itself. Its answer is known (reward 1 for the action matching the sign of the observation), so the
trained agent's actions are checked against it, not against the library's own output.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from tf_gae._tf import tf

import tf_gae
from tf_gae.config import ConfigError
from tf_gae.runs import RunDirectoryError


class SignGuess(gym.Env):
    """Observation x = ±1 (with noise); action 1 pays 1 if x > 0, action 0 pays 1 if x < 0. Ten steps an
    episode, so a perfect policy returns 10 and a uniform one 5 on average."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._t = 0
        self._x = 1.0

    def _observe(self) -> np.ndarray:
        self._x = float(self.np_random.choice([-1.0, 1.0]))
        return np.array([self._x + 0.1 * self.np_random.normal()], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._observe(), {}

    def step(self, action):
        reward = 1.0 if (int(action) == 1) == (self._x > 0) else 0.0
        self._t += 1
        return self._observe(), reward, self._t >= 10, False, {}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("api") / "run"
    agent = tf_gae.train(SignGuess, algo="a2c", total_steps=6400, seed=1, run_dir=run_dir, learning_rate=3e-3,
                         log_every_steps=640, eval_episodes=5, progress=False)  # fmt: skip
    return agent, run_dir


def test_train_takes_the_users_env_class_and_writes_the_run_directory(trained):
    agent, run_dir = trained
    assert agent.env_id == "tf_gae_user/SignGuess-v0" and agent.env_steps == 6400 and agent.algo == "a2c"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env_id"] == "tf_gae_user/SignGuess-v0" and config["learning_rate"] == 3e-3
    assert (run_dir / "progress.csv").read_text().count("\n") == 11  # header + a row every 640 steps
    assert (run_dir / "learning_curve.png").stat().st_size > 5000 and any((run_dir / "tb").iterdir())
    assert json.loads((run_dir / "eval.json").read_text())["episodes"] == 5


def test_tensorboard_holds_every_progress_row_as_tensorboard_reads_it(trained):
    """tb/ read back by TensorBoard's own reader: one scalar per progress column and row, at the row's env_steps,
    equal to progress.csv's value rounded to float32 (what a TensorBoard scalar stores); steps/s from row 2 on."""
    import csv

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run_dir = trained
    rows = list(csv.DictReader((run_dir / "progress.csv").open()))
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"tensors": 0})
    events.Reload()
    tags = set(events.Tags()["tensors"])
    expected = {("rollout/" if name.startswith(("episode", "episodes")) else "train/") + name for name in list(rows[0])[3:]}
    assert tags == expected | {"time/steps_per_s"}, tags ^ (expected | {"time/steps_per_s"})
    for tag in expected:
        name = tag.split("/", 1)[1]
        written = [(event.step, float(tf.make_ndarray(event.tensor_proto))) for event in events.Tensors(tag)]
        wanted = [(int(row["env_steps"]), float(np.float32(float(row[name])))) for row in rows if row[name] != "nan"]
        assert written == wanted, tag
    rates = events.Tensors("time/steps_per_s")
    assert [event.step for event in rates] == [int(row["env_steps"]) for row in rows[1:]]
    assert all(float(tf.make_ndarray(event.tensor_proto)) > 0 for event in rates)


def test_predict_answers_one_observation_or_a_batch_with_the_right_actions(trained):
    agent, _ = trained
    assert agent.predict(np.array([1.0], np.float32)) == 1 and agent.predict([-1.0]) == 0
    batch = np.array([[0.9], [-1.1], [1.2], [-0.8]], np.float32)
    np.testing.assert_array_equal(agent.predict(batch), [1, 0, 1, 0])
    assert agent.predict(batch, deterministic=False).shape == (4,)
    with pytest.raises(ValueError, match=r"observations must have shape \[1\] or \[N, 1\]"):
        agent.predict(np.zeros((2, 3)))


def test_evaluate_and_load_give_the_same_agent(trained):
    agent, run_dir = trained
    result = agent.evaluate(episodes=10, seed=3)
    assert result["mean_return"] >= 9.0 and len(result["returns"]) == 10  # uniform policy: 5
    loaded = tf_gae.load(run_dir, env=SignGuess)
    assert loaded.env_steps == 6400 and loaded.run_dir == run_dir
    assert loaded.evaluate(episodes=10, seed=3)["returns"] == result["returns"]
    for weights, restored in zip(agent.model.get_weights(), loaded.model.get_weights()):
        np.testing.assert_array_equal(weights, restored)
    with pytest.raises(RunDirectoryError, match="is not the run's environment"):
        tf_gae.load(run_dir, env="CartPole-v1")


def test_train_in_memory_writes_nothing_and_bad_arguments_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    agent = tf_gae.train("CartPole-v1", total_steps=128, num_envs=2, n_steps=8, progress=False)
    assert agent.run_dir is None and agent.env_steps == 128 and list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="n_epochs applies to algo 'ppo' only, not 'a2c'"):
        tf_gae.train("CartPole-v1", algo="a2c", n_epochs=3)
    with pytest.raises(ConfigError, match="lamda is no hyperparameter of ppo"):  # ppo: the default
        tf_gae.train("CartPole-v1", lamda=0.9)
    with pytest.raises(TypeError, match="env must be a gymnasium id"):
        tf_gae.train(42)
    with pytest.raises(ConfigError, match="clip_range_vf is called clip_range_value now"):
        tf_gae.train("CartPole-v1", algo="ppo", clip_range_vf=0.2)
    assert list(tmp_path.iterdir()) == []


def test_a_config_json_with_older_field_names_reads_as_the_same_configuration():
    from tf_gae.config import PPOConfig

    old = dict(PPOConfig(minibatch_size=64, clip_range_value=0.1).to_dict())
    old["batch_size"], old["clip_range_vf"] = old.pop("minibatch_size"), old.pop("clip_range_value")
    config = PPOConfig.from_dict(old)
    assert (config.minibatch_size, config.clip_range_value) == (64, 0.1)


def test_box_actions_are_clipped_to_the_action_space():
    agent = tf_gae.train("Pendulum-v1", algo="ppo", total_steps=64, num_envs=2, n_steps=32, minibatch_size=32,
                         progress=False)  # fmt: skip
    agent.model.policy_head.bias.assign([50.0])  # a mean far outside [−2, 2]
    np.testing.assert_array_equal(agent.predict(np.zeros((3, 3), np.float32)), [[2.0], [2.0], [2.0]])


def relu_features(width: int):
    import keras

    return keras.Sequential([keras.layers.Dense(width, activation="relu"), keras.layers.Dense(width, activation="relu")])


def test_the_users_own_keras_network_trains_saves_and_loads_only_with_the_same_layers(tmp_path):
    run_dir = tmp_path / "run"
    agent = tf_gae.train(SignGuess, algo="ppo", total_steps=3200, seed=2, run_dir=run_dir, num_envs=4, n_steps=16,
                         minibatch_size=32, n_epochs=4, learning_rate=3e-3, progress=False,
                         network=(relu_features(16), relu_features(8)))  # fmt: skip
    # the user's layers are the trunks, under the two heads: policy 1→16→16, value 1→8→8, then
    # the policy head 16→2 (logits) and the value head 8→1
    policy, value, heads = (1 * 16 + 16) + (16 * 16 + 16), (1 * 8 + 8) + (8 * 8 + 8), (16 * 2 + 2) + (8 + 1)
    assert agent.model.count_params() == policy + value + heads
    assert agent.model.policy_network.count_params() == policy and agent.model.value_network.count_params() == value
    assert agent.evaluate(episodes=10, seed=3)["mean_return"] >= 9.0  # learned (a uniform policy scores 5)
    recorded = json.loads((run_dir / "config.json").read_text())["network"]
    assert recorded == {"layers": ["Sequential", "Sequential"], "parameters": agent.model.count_params()}
    with pytest.raises(RunDirectoryError, match="a Keras network of your own"):
        tf_gae.load(run_dir, env=SignGuess)
    with pytest.raises(RunDirectoryError, match="pass the same layers"):
        tf_gae.load(run_dir, env=SignGuess, network=(relu_features(32), relu_features(8)))
    loaded = tf_gae.load(run_dir, env=SignGuess, network=(relu_features(16), relu_features(8)))
    for weights, restored in zip(agent.model.get_weights(), loaded.model.get_weights()):
        np.testing.assert_array_equal(weights, restored)
