"""A distribution strategy changes where an update runs, not what it computes (chapter 8, section 2).

Two logical CPU devices stand in for two GPUs (tf.config.set_logical_device_configuration must run before
TensorFlow initialises its devices, so the check runs in a fresh process). On the same batch, an update
under MirroredStrategy must leave the same parameters as the single-device update, both computed in
float64, to 1e-9 relative (float64 rounding is ~1e-14; chapters.ch8_outlook.STRATEGY_TOLERANCE says why):
A2C, REINFORCE (means over the steps inside whole episodes, which the shards split unevenly), PPO, and one iteration of chapter 6's PPO for a language model (token-mean losses over shards with
different numbers of valid tokens), with a critic and the KL in the reward, and as GRPO with the KL in the loss.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chapters.ch8_outlook import STRATEGY_TOLERANCE

from .chapter_runs import ROOT

SCRIPT = r"""
import json, sys
from tf_gae._tf import tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from chapters.ch8_outlook import strategy_equivalence  # the chapter's demonstration is the measurement
from chapters.ch8_outlook import STRATEGY_ALGOS
results = {algo: strategy_equivalence(algo) for algo in STRATEGY_ALGOS}
# chapter 6's other recipe: GRPO's group-normalised score, no critic, the KL as a k3 loss term
results["lm_grpo"] = strategy_equivalence("lm_ppo", lm_settings=dict(
    advantage="group", prompts_per_iteration=4, samples_per_prompt=2, group_std=True, normalize_advantages=False,
    kl_in="loss", kl_estimator="k3", kl_beta=0.5))
import gymnasium as gym
from tf_gae.models import build_actor_critic
probe = gym.make("Pendulum-v1")  # Box actions: a float32 log σ meets the policy's output
results["dtype_after"] = build_actor_critic(probe.observation_space, probe.action_space).compute_dtype
from tf_gae.trainers import A2CConfig, A2CTrainer
from tf_gae.llm.lm import TinyCausalLM
from tf_gae.llm.ppo import LMPPOConfig, LMPPOTrainer
from tf_gae.llm.task import AdditionTask
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

def error_of(build):
    try:
        build()
    except ValueError as error:
        return str(error)
    return None

task = AdditionTask(seed=0)
tiny_lm = lambda: TinyCausalLM(task.vocab_size, task.sequence_length, d_model=16, num_heads=2, num_layers=1)
with strategy.scope():
    policy_in_scope = tiny_lm()
results["uneven_error"] = error_of(lambda: A2CTrainer(A2CConfig(num_envs=3, n_steps=1, total_steps=3), strategy=strategy))
results["lm_uneven_error"] = error_of(
    lambda: LMPPOTrainer(policy_in_scope, task, LMPPOConfig(prompts_per_iteration=8, minibatch_size=3), strategy))
results["lm_outside_scope_error"] = error_of(lambda: LMPPOTrainer(tiny_lm(), task, LMPPOConfig(), strategy))
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def results():
    completed = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("algo", ["a2c", "reinforce", "ppo", "lm_ppo", "lm_grpo"])
def test_mirrored_update_equals_single_device_update(results, algo):
    # Both updates compute in float64 (strategy_equivalence's default), so rounding leaves ~1e-14 of scale
    # and a wrong cross-replica reduction ~0.3: STRATEGY_TOLERANCE (1e-9) is orders of magnitude from both.
    result = results[algo]
    assert result["replicas"] == 2
    assert result["smallest_step"] > 0  # every variable changed, so equal parameters mean equal steps
    # Each variable's largest difference relative to its largest entry ...
    assert result["parameter_error"] < STRATEGY_TOLERANCE, result
    # ... and relative to how far this one update moved it (stricter: a step is ~1e-3 of a parameter).
    assert result["step_error"] < 1e-7, result
    # The policy loss is a mean of terms of size ~1: compare on the terms' scale.
    assert result["policy_loss_single"] == pytest.approx(result["policy_loss_mirrored"], abs=1e-12)


def test_a_batch_that_does_not_split_evenly_is_refused_with_the_fix(results):
    message = results["uneven_error"]
    assert message is not None and "3 samples does not split evenly over 2 replicas" in message
    assert "num_envs × n_steps" in message


def test_the_language_model_trainer_refuses_what_it_cannot_split_or_mirror(results):
    # 8 sequences in minibatches of 3: sizes 3 and 2, and 3 does not split over 2 replicas.
    assert "a batch of 3 samples does not split evenly over 2 replicas" in results["lm_uneven_error"]
    assert "minibatch_size" in results["lm_uneven_error"]
    # A policy built outside the strategy's scope has ordinary variables: the message says how to fix it.
    message = results["lm_outside_scope_error"]
    assert message is not None and "outside the strategy's scope" in message and "strategy.scope()" in message


def test_the_language_model_iteration_matches_in_absolute_terms_too(results):
    # Every variable, the attention key biases included (float noise only: their exact gradient is zero).
    assert results["lm_ppo"]["absolute_error"] < STRATEGY_TOLERANCE, results["lm_ppo"]


def test_models_built_after_the_float64_comparison_compute_in_float32_again(results):
    # The comparison switches Keras to float64 and must switch it back entirely: once a model built
    # afterwards computed in float64 beside its float32 log σ, and chapter 8's full run failed.
    assert results["dtype_after"] == "float32"
