"""A distribution strategy changes where an update runs, not what it computes (chapter 8, section 2).

Two logical CPU devices stand in for two GPUs (tf.config.set_logical_device_configuration must run before
TensorFlow initialises its devices, so the check runs in a fresh process). On the same rollout, an update
under MirroredStrategy must leave the same parameters as the single-device update, to 1e-5 relative.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .chapter_runs import ROOT

SCRIPT = r"""
import json, sys
from tf_gae._tf import tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from chapters.ch8_outlook import strategy_equivalence  # the chapter's demonstration is the measurement
results = {algo: strategy_equivalence(algo) for algo in ("a2c", "ppo")}
from tf_gae.trainers import A2CConfig, A2CTrainer
try:
    A2CTrainer(A2CConfig(num_envs=3, n_steps=1, total_steps=3), strategy=tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    results["uneven_error"] = None
except ValueError as error:
    results["uneven_error"] = str(error)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def results():
    completed = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("algo", ["a2c", "ppo"])
def test_mirrored_update_equals_single_device_update(results, algo):
    result = results[algo]
    assert result["replicas"] == 2
    assert result["smallest_step"] > 0  # every variable changed, so equal parameters mean equal steps
    # Each variable's largest difference relative to its largest entry (the criterion) ...
    assert result["parameter_error"] < 1e-5, result
    # ... and relative to how far this one update moved it (much stricter). The single-device step is
    # XLA-compiled and sums in another order: float32 rounding, amplified where Adam divides tiny gradients
    # by their tiny running scale, leaves the steps equal to ~4e-5 of their size.
    assert result["step_error"] < 1e-3, result
    # The policy loss is a mean of terms of size ~1 that cancel to ~4e-3: compare on the terms' scale.
    assert result["policy_loss_single"] == pytest.approx(result["policy_loss_mirrored"], abs=1e-6)


def test_a_batch_that_does_not_split_evenly_is_refused_with_the_fix(results):
    message = results["uneven_error"]
    assert message is not None and "3 samples does not split evenly over 2 replicas" in message
    assert "num_envs × n_steps" in message
